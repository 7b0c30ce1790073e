#!/usr/bin/env node
// Fails when dist/ (or the generated command lists) differs from a fresh build of the source.
// Builds into a temporary folder and compares, so it never changes the working tree's dist/.
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { build } from './build.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const GENERATED = ['src/cli/registry.gen.ts', 'src/cli/command-files.gen.ts'];
const generatedBefore = GENERATED.map((f) => readFileSync(join(root, f), 'utf8'));
const fresh = mkdtempSync(join(tmpdir(), 'mlloop-dist-'));
try {
  await build(fresh);
  const list = (dir) => (statSync(dir, { throwIfNoEntry: false }) ? readdirSync(dir, { recursive: true }).filter((f) => statSync(join(dir, f)).isFile()).sort() : []);
  const want = list(fresh);
  const have = list(join(root, 'dist'));
  const problems = [];
  for (const f of want) {
    if (!have.includes(f)) problems.push(`missing: dist/${f}`);
    else if (!readFileSync(join(fresh, f)).equals(readFileSync(join(root, 'dist', f)))) problems.push(`stale: dist/${f}`);
  }
  for (const f of have) if (!want.includes(f)) problems.push(`extra: dist/${f}`);
  GENERATED.forEach((f, i) => {
    if (readFileSync(join(root, f), 'utf8') !== generatedBefore[i]) problems.push(`stale: ${f}`);
  });
  // Also prove that what is committed is what was built (every run, not only in CI).
  const status = execFileSync('git', ['status', '--porcelain', '--', 'dist', ...GENERATED], { cwd: root, encoding: 'utf8' }).trim();
  if (status) problems.push(`uncommitted build output (commit dist/ with its source):\n${status}`);
  if (problems.length) {
    console.error(`dist/ differs from a fresh build of the source (run \`npm run build\` and commit dist/):\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
  console.log(`dist/ matches a fresh build (${want.length} files)`);
} finally {
  rmSync(fresh, { recursive: true, force: true });
}
