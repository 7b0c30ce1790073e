import { promises as fs, createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { ConfigurationError, jsonPath } from '../errors.js';

/** Reads a file the user named; a missing or unreadable file is their mistake (exit 2). */
export async function readText(file: string, what = 'file'): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ConfigurationError(`${what} not found`, { file, hint: 'check the path (relative paths are resolved from the working directory)' });
    if (code === 'EISDIR') throw new ConfigurationError(`${what} is a directory, not a file`, { file });
    throw new ConfigurationError(`cannot read ${what}: ${(e as Error).message}`, { file });
  }
}

/** Parses JSON text with an error that names the file, line and column. */
export function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    const m = /position (\d+)/.exec(msg);
    let where = '';
    if (m) {
      const pos = Number(m[1]);
      const before = text.slice(0, pos);
      const line = before.split('\n').length;
      const col = pos - before.lastIndexOf('\n');
      where = ` (line ${line}, column ${col})`;
    }
    throw new ConfigurationError(`not valid JSON${where}: ${msg}`, { file, hint: 'fix the syntax; `python3 -m json.tool FILE` shows the first error' });
  }
}

export async function readJson(file: string, what?: string): Promise<unknown> {
  return parseJson(await readText(file, what), file);
}

/** True when the text looks like JSON Lines rather than one JSON document. */
export function looksLikeJsonl(file: string): boolean {
  return /\.(jsonl|ndjson)$/i.test(file);
}

/**
 * Streams a JSONL file one parsed line at a time (memory bounded by the longest line). Blank lines are
 * skipped; a bad line is reported with its line number.
 */
export async function* readJsonl(file: string): AsyncGenerator<{ value: unknown; line: number }> {
  let stream;
  try {
    await fs.access(file);
    stream = createReadStream(file, { encoding: 'utf8' });
  } catch {
    throw new ConfigurationError('file not found', { file, hint: 'check the path' });
  }
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  let n = 0;
  for await (const raw of lines) {
    n++;
    const text = raw.trim();
    if (!text) continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw new ConfigurationError(`line ${n} is not valid JSON: ${(e as Error).message}`, { file, hint: 'each line of a JSONL file must be one complete JSON value' });
    }
    yield { value, line: n };
  }
}

/** Reads a dotted path (`overall.f1`, `per_field.name.recall`) from a parsed JSON value. */
export function getByDottedPath(value: unknown, dotted: string): unknown {
  let cur: unknown = value;
  const parts = dotted.split('.');
  for (let i = 0; i < parts.length; i++) {
    if (cur === null || typeof cur !== 'object') return undefined;
    const obj = cur as Record<string, unknown>;
    // A key may itself contain dots (a field named "a.b"): try the longest key first.
    let matched = false;
    for (let j = parts.length; j > i; j--) {
      const key = parts.slice(i, j).join('.');
      if (Object.prototype.hasOwnProperty.call(obj, key)) {
        cur = obj[key];
        i = j - 1;
        matched = true;
        break;
      }
    }
    if (!matched) return undefined;
  }
  return cur;
}

export { jsonPath };
