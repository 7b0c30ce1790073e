import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { ConfigurationError } from '../errors.js';

/**
 * Streams the elements of the top-level `items` array of a `kubectl get -o json` List (or of a
 * top-level array) one parsed object at a time, so a 10 GB pods.json needs memory for one pod.
 * Only the structure outside the items is scanned; each item is handed to JSON.parse whole.
 */
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
  // States: looking for the items array (tracking depth and the last key at depth 1), inside it.
  let depth = 0;
  let inString = false;
  let escape = false;
  let lastKey = '';
  let keyStart = -1;
  let keyHead = '';
  let inItems = false;
  let itemsDepth = -1;
  let item: string[] = [];
  let itemStart = -1;
  let sawRoot = false;
  let index = 0;
  for await (const chunk of stream as AsyncIterable<string | Buffer>) {
    const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    if (itemStart >= 0) itemStart = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (inString) {
        if (escape) escape = false;
        else if (c === 92 /* \ */) escape = true;
        else if (c === 34 /* " */) {
          inString = false;
          if (keyStart >= 0) {
            lastKey = keyHead + text.slice(keyStart, i);
            keyHead = '';
            keyStart = -1;
          }
        }
        continue;
      }
      if (c === 34) {
        inString = true;
        if (!inItems && depth === 1 && itemStart < 0) keyStart = i + 1;
        continue;
      }
      if (c === 123 /* { */ || c === 91 /* [ */) {
        if (!sawRoot) {
          sawRoot = true;
          if (c === 91) {
            inItems = true;
            itemsDepth = 1;
          }
        } else if (!inItems && depth === 1 && c === 91 && lastKey === 'items') {
          inItems = true;
          itemsDepth = depth + 1;
        } else if (inItems && depth === itemsDepth && itemStart < 0) {
          itemStart = i;
          item = [];
        }
        depth++;
        continue;
      }
      if (c === 125 /* } */ || c === 93 /* ] */) {
        depth--;
        if (inItems && depth === itemsDepth && itemStart >= 0) {
          item.push(text.slice(itemStart, i + 1));
          itemStart = -1;
          const raw = item.join('');
          item = [];
          try {
            yield JSON.parse(raw);
          } catch (e) {
            throw new ConfigurationError(`items[${index}] is not valid JSON: ${(e as Error).message}`, { file });
          }
          index++;
        } else if (inItems && depth === itemsDepth - 1) {
          inItems = false;
          itemsDepth = -1;
        }
        continue;
      }
    }
    if (itemStart >= 0) item.push(text.slice(itemStart));
    else if (keyStart >= 0) {
      keyHead += text.slice(keyStart);
      keyStart = 0;
    }
  }
  if (!sawRoot || depth !== 0 || inString) throw new ConfigurationError('not a complete JSON document', { file, hint: 'write it with kubectl get nodes -o json (or pods), or mlloop dispatch snapshot' });
}
