#!/usr/bin/env node
// Fails when a test run left files or folders in its temp folder (scripts/test.sh gives each run its own).
// Every test removes what it creates, also on failure; a leftover is a leak in a test or in mlloop.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
const size = (p) => {
  const st = statSync(p, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  let n = 0;
  for (const e of readdirSync(p)) n += size(join(p, e));
  return n;
};
const left = readdirSync(dir);
if (left.length === 0) {
  console.log('temp folder: nothing left behind');
  process.exit(0);
}
const bytes = left.reduce((n, e) => n + size(join(dir, e)), 0);
console.error(`the test run left ${left.length} entries (${(bytes / 1048576).toFixed(1)} MiB) in its temp folder ${dir}:`);
for (const e of left.slice(0, 30)) console.error(`  ${e}`);
if (left.length > 30) console.error(`  … and ${left.length - 30} more`);
process.exit(1);
