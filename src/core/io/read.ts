import { promises as fs, createReadStream } from 'node:fs';
import { ConfigurationError, jsonPath } from '../errors.js';

/** Config files (policies, cluster lists, templates) are read whole: larger than this is refused, not parsed. */
export const CONFIG_MAX_BYTES = 1 << 20;

/** An error opening or reading a file the user named, as their mistake (exit 2), or undefined for other errors. */
export function unreadable(e: unknown, file: string, what: string): ConfigurationError | undefined {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT') return new ConfigurationError(`${what} not found`, { file, hint: 'check the path (relative paths are resolved from the working directory)' });
  if (code === 'EISDIR') return new ConfigurationError(`${what} is a directory, not a file`, { file, hint: 'name the file inside it' });
  if (code === 'ENOTDIR') return new ConfigurationError(`${what} not found: a part of the path is a file, not a folder`, { file, hint: 'check the path' });
  if (code === 'EACCES' || code === 'EPERM') return new ConfigurationError(`${what} cannot be read (permission denied)`, { file, hint: 'make it readable by the user running mlloop' });
  if (typeof code === 'string') return new ConfigurationError(`cannot read ${what}: ${(e as Error).message}`, { file });
  return undefined;
}

/**
 * Reads a file the user named; a missing or unreadable file is their mistake (exit 2). With maxBytes, a
 * larger file is refused before it is read (a config file is parsed whole, so its size bounds the memory).
 */
export async function readText(file: string, what = 'file', maxBytes?: number): Promise<string> {
  return (await readBytes(file, what, maxBytes)).toString('utf8');
}

/** The bytes of a file the user named, with the errors of readText. */
export async function readBytes(file: string, what = 'file', maxBytes?: number): Promise<Buffer> {
  let handle;
  try {
    handle = await fs.open(file, 'r');
    const st = await handle.stat();
    if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    if (maxBytes === undefined) return await handle.readFile();
    const tooBig = () =>
      new ConfigurationError(`${what} is larger than the ${formatBytes(maxBytes)} limit for config files${st.size > maxBytes ? ` (${formatBytes(st.size)})` : ''}`, {
        file,
        hint: 'a config file this large is almost certainly the wrong file; keep data in data files (JSON/JSONL), which are streamed',
      });
    if (st.size > maxBytes) throw tooBig();
    // A pipe or device reports no size: read at most one byte past the limit.
    const buf = Buffer.alloc(maxBytes + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, n, buf.length - n, null);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n > maxBytes) throw tooBig();
    }
    return buf.subarray(0, n);
  } catch (e) {
    throw unreadable(e, file, what) ?? e;
  } finally {
    await handle?.close();
  }
}

/** Reads a config file (YAML or JSON), refusing one over CONFIG_MAX_BYTES. */
export function readConfigText(file: string, what = 'config file'): Promise<string> {
  return readText(file, what, CONFIG_MAX_BYTES);
}

function formatBytes(n: number): string {
  return n >= 1 << 20 ? `${Number((n / (1 << 20)).toFixed(1))} MiB` : n >= 1024 ? `${Number((n / 1024).toFixed(1))} KiB` : `${n} bytes`;
}

/** Parses JSON text with an error that names the file, line and column. */
export function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const pos = jsonErrorOffset(text);
    const before = text.slice(0, pos);
    const line = before.split('\n').length;
    const col = pos - before.lastIndexOf('\n');
    const near = text.slice(pos, pos + 20).split('\n')[0];
    const nan = /^-?(NaN|Infinity)/.test(near ?? '') ? ' (NaN and Infinity are not JSON: write null or a number, or leave the metric out)' : '';
    throw new ConfigurationError(`not valid JSON at line ${line}, column ${col}${near ? ` near "${near}"` : ' (unexpected end)'}${nan}`, {
      file,
      line,
      column: col,
      hint: `fix the syntax; ${(e as Error).message.split('\n')[0]}`,
    });
  }
}

/**
 * Offset of the first syntax error in a JSON text (V8's messages do not always carry one). A small
 * recursive scanner, run only after JSON.parse has already failed.
 */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const fail = (): never => {
    throw i;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') return void i++;
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        string();
        ws();
        if (text[i] !== ':') fail();
        i++;
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') return void i++;
        else fail();
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') return void i++;
      for (;;) {
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') return void i++;
        else fail();
      }
    }
    if (c === '"') return string();
    const lit = /^(true|false|null|-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?)/.exec(text.slice(i, i + 400));
    if (!lit) fail();
    i += lit![0].length;
  };
  const string = () => {
    i++;
    while (i < text.length) {
      const c = text[i]!;
      if (c === '"') return void i++;
      if (c === '\\') {
        i++;
        if (text[i] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail();
          i += 5;
        } else if ('"\\/bfnrt'.includes(text[i] ?? 'x')) i++;
        else fail();
      } else if (c < ' ') fail();
      else i++;
    }
    fail();
  };
  try {
    value();
    ws();
    if (i < text.length) fail();
  } catch (pos) {
    if (typeof pos === 'number') return Math.min(pos, text.length);
    throw pos;
  }
  return text.length;
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
 * skipped; a bad line is reported with its line number. Lines end at \n, \r\n or a lone \r (as
 * readline splits them).
 */
export async function* readJsonl(file: string): AsyncGenerator<{ value: unknown; line: number }> {
  for await (const batch of readJsonlBatches(file)) {
    for (let i = 0; i < batch.texts.length; i++) yield { value: parseJsonlLine(file, batch.texts[i]!, batch.lines[i]!), line: batch.lines[i]! };
  }
}

/** Non-blank lines of a JSONL file and their 1-based line numbers. */
export interface JsonlBatch {
  texts: string[];
  lines: number[];
}

/** Parses one line read by readJsonlBatches, with the file and line number in the error. */
export function parseJsonlLine(file: string, text: string, line: number): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigurationError(`line ${line} is not valid JSON: ${(e as Error).message}`, { file, hint: 'each line of a JSONL file must be one complete JSON value' });
  }
}

/**
 * The non-blank lines of a JSONL file, unparsed, a batch per 1 MiB read: bytes are decoded up to the
 * last newline of each read (no decoder state, no readline). Callers parse each line when they reach
 * it (parseJsonlLine), so only one parsed line need be alive at a time.
 */
export async function* readJsonlBatches(file: string, what = 'file'): AsyncGenerator<JsonlBatch> {
  let stream;
  try {
    // Opened first so that a folder, a missing or an unreadable file is named before any work (open()
    // succeeds on a folder: only its stat tells).
    const handle = await fs.open(file, 'r');
    let dir: boolean;
    try {
      dir = (await handle.stat()).isDirectory();
    } catch (e) {
      dir = false;
      await handle.close();
      throw e;
    }
    if (dir) {
      await handle.close();
      throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    }
    stream = handle.createReadStream({ highWaterMark: 1 << 20 });
  } catch (e) {
    throw unreadable(e, file, what) ?? e;
  }
  let n = 0;
  const split = (text: string, out: JsonlBatch): void => {
    for (const raw of text.split('\n')) {
      if (!raw.includes('\r')) {
        n++;
        // JSON.parse ignores surrounding whitespace; only a blank line needs trimming to be seen.
        if (raw.length > 0 && (raw.charCodeAt(0) > 32 || raw.trim())) {
          out.texts.push(raw);
          out.lines.push(n);
        }
        continue;
      }
      // A lone \r also ends a line; \r before \n is trimmed away with the rest of the whitespace.
      for (const part of raw.replace(/\r$/, '').split('\r')) {
        n++;
        const t = part.trim();
        if (t) {
          out.texts.push(t);
          out.lines.push(n);
        }
      }
    }
  };
  let rest: Buffer | undefined;
  // A read that fails part-way (EIO, a file that is not really readable) is named like one that cannot be opened.
  const chunks = (async function* () {
    try {
      yield* stream as AsyncIterable<Buffer>;
    } catch (e) {
      throw unreadable(e, file, what) ?? e;
    }
  })();
  for await (const chunk of chunks) {
    const first = chunk.indexOf(10);
    if (first === -1) {
      rest = rest ? Buffer.concat([rest, chunk]) : chunk;
      continue;
    }
    const batch: JsonlBatch = { texts: [], lines: [] };
    // The line that straddles the previous read ends at this read's first newline.
    split((rest ? Buffer.concat([rest, chunk.subarray(0, first)]) : chunk.subarray(0, first)).toString('utf8'), batch);
    const last = chunk.lastIndexOf(10);
    if (last > first) split(chunk.toString('utf8', first + 1, last), batch);
    rest = last + 1 < chunk.length ? chunk.subarray(last + 1) : undefined;
    if (batch.texts.length) yield batch;
  }
  if (rest && rest.length) {
    const batch: JsonlBatch = { texts: [], lines: [] };
    split(rest.toString('utf8'), batch);
    if (batch.texts.length) yield batch;
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
