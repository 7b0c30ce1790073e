import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { ConfigurationError } from '../errors.js';

/**
 * Streams the elements of the top-level `items` array of a `kubectl get -o json` List (or of a
 * top-level array) one parsed object at a time, so a 10 GB pods.json needs memory for one pod.
 * A tight scanner finds each item's bounds (depth and string state only); JSON.parse does the rest.
 */
interface ScanState {
  depth: number;
  inString: boolean;
  escape: boolean;
  sawRoot: boolean;
  inItems: boolean;
  /** An items list (or a top-level array) was found: a List without one is not an empty list. */
  sawItems: boolean;
  itemsDepth: number;
  /** The last string at depth 1 outside the items (the key before `[`). */
  lastKey: string;
  keyStart: number;
  keyHead: string;
  /** Start of the current item in this chunk (0 when it began in an earlier chunk), -1 outside items. */
  itemStart: number;
}

/** Scans one chunk; returns the [start, end) bounds of items that end in it. Pure and monomorphic, so V8 optimises it. */
function scan(text: string, s: ScanState, ends: number[]): void {
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (s.inString) {
      if (s.escape) s.escape = false;
      else if (c === 92) s.escape = true;
      else if (c === 34) {
        s.inString = false;
        if (s.keyStart >= 0) {
          s.lastKey = s.keyHead + text.slice(s.keyStart, i);
          s.keyHead = '';
          s.keyStart = -1;
        }
      }
      continue;
    }
    if (c === 34) {
      s.inString = true;
      if (!s.inItems && s.depth === 1) s.keyStart = i + 1;
    } else if (c === 123 || c === 91) {
      if (!s.sawRoot) {
        s.sawRoot = true;
        if (c === 91) {
          s.inItems = true;
          s.sawItems = true;
          s.itemsDepth = 1;
        }
      } else if (!s.inItems && s.depth === 1 && c === 91 && s.lastKey === 'items') {
        s.inItems = true;
        s.sawItems = true;
        s.itemsDepth = 2;
      } else if (s.inItems && s.depth === s.itemsDepth && s.itemStart < 0) {
        s.itemStart = i;
        ends.push(i);
      }
      s.depth++;
    } else if (c === 125 || c === 93) {
      s.depth--;
      if (s.inItems && s.depth === s.itemsDepth && s.itemStart >= 0) {
        ends.push(-(i + 1));
        s.itemStart = -1;
      } else if (s.inItems && s.depth === s.itemsDepth - 1) {
        s.inItems = false;
        s.itemsDepth = -1;
      }
    }
  }
  if (s.keyStart >= 0) {
    s.keyHead += text.slice(s.keyStart);
    s.keyStart = 0;
  }
}

export async function* listItems(source: string | Readable, file = typeof source === 'string' ? source : 'stream'): AsyncGenerator<unknown> {
  const stream = typeof source === 'string' ? createReadStream(source, { encoding: 'utf8', highWaterMark: 1 << 20 }) : source;
  if (typeof source === 'string') {
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', (e: NodeJS.ErrnoException) =>
        reject(e.code === 'ENOENT' ? new ConfigurationError('file not found', { file, hint: 'a snapshot folder holds <cluster>/nodes.json and <cluster>/pods.json (mlloop dispatch snapshot writes them)' }) : e),
      );
    });
  }
  const s: ScanState = { depth: 0, inString: false, escape: false, sawRoot: false, inItems: false, sawItems: false, itemsDepth: -1, lastKey: '', keyStart: -1, keyHead: '', itemStart: -1 };
  let carry: string[] = [];
  let index = 0;
  const bounds: number[] = [];
  for await (const chunk of stream as AsyncIterable<string | Buffer>) {
    const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    const open = s.itemStart >= 0;
    if (open) s.itemStart = 0;
    bounds.length = 0;
    scan(text, s, bounds);
    // bounds: a start (>= 0) for each item opened here, the negated end for each item closed here.
    let start = open ? 0 : -1;
    for (const b of bounds) {
      if (b >= 0) {
        start = b;
        continue;
      }
      const end = -b;
      const piece = text.slice(start, end);
      const raw = carry.length ? carry.join('') + piece : piece;
      carry = [];
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch (e) {
        throw new ConfigurationError(`items[${index}] is not valid JSON: ${(e as Error).message}`, { file });
      }
      index++;
      yield parsed;
      start = -1;
    }
    if (start >= 0) carry.push(text.slice(start));
  }
  if (!s.sawRoot || s.depth !== 0 || s.inString) throw new ConfigurationError('not a complete JSON document', { file, hint: 'write it with kubectl get nodes -o json (or pods), or mlloop dispatch snapshot' });
  if (!s.sawItems) throw new ConfigurationError('"items" is missing or not a list', { file, path: '$.items', hint: 'write it with kubectl get nodes -o json (or pods), or mlloop dispatch snapshot: a List with an "items" array' });
}
