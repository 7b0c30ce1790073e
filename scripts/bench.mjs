#!/usr/bin/env node
// `npm run bench`: runs every bench/*.mjs (or the ones named: `npm run bench -- startup evaluate`).
// Each benchmark prints one JSON line per measurement: {"bench": …, "ratio": …, …}, where ratio compares
// mlloop with a baseline measured in the same run. Benchmarks never run inside `npm test`.
import { readdirSync } from 'node:fs';
import { join, dirname, basename } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'bench');
const wanted = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.mjs') && !f.startsWith('_'))
  .filter((f) => wanted.length === 0 || wanted.includes(basename(f, '.mjs')))
  .sort();
let failed = 0;
for (const f of files) {
  const mod = await import(pathToFileURL(join(dir, f)).href);
  try {
    for await (const line of mod.default()) process.stdout.write(`${JSON.stringify(line)}\n`);
  } catch (e) {
    failed++;
    process.stdout.write(`${JSON.stringify({ bench: basename(f, '.mjs'), error: String(e?.stack ?? e) })}\n`);
  }
}
process.exitCode = failed ? 1 : 0;
