// Start-up time of each action bundle as a ratio to a reference action built in the same run from
// @actions/core + @actions/github (reads one input, sets one output): target ≤ 1.15×. The CLI, which needs
// no @actions/* package to run locally, is measured against a bare `node -e 0` (target ≤ 1.6×) twice: `--version`
// (its launcher alone) and `gate --help` (launcher + one command bundle). All are
// measured interleaved. Each action runs with no inputs, so it loads, reads its inputs and fails on the
// first required one; heavy clients load lazily and are not part of start-up.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { DIST, ROOT, median, timeCommand, round } from './_util.mjs';
import { common } from '../scripts/build.mjs';

const REFERENCE = `import * as core from '@actions/core';
import * as github from '@actions/github';
core.setOutput('greeting', \`\${core.getInput('who')} from \${github.context.eventName ?? 'nowhere'}\`);
`;

/** The reference action, bundled with the same esbuild settings as dist/ (CommonJS for Node 20). */
async function buildReference(dir) {
  const outfile = join(dir, 'reference.cjs');
  await esbuild.build({ ...common, stdin: { contents: REFERENCE, resolveDir: ROOT, sourcefile: 'reference.mjs' }, logLevel: 'error', outfile });
  return outfile;
}

export default async function* startup() {
  const dir = mkdtempSync(join(tmpdir(), 'mlloop-bench-startup-'));
  try {
    const reference = await buildReference(dir);
    const output = join(dir, 'output');
    writeFileSync(output, '');
    const env = { PATH: process.env.PATH, GITHUB_OUTPUT: output, INPUT_WHO: 'bench' };
    const bundles = readdirSync(DIST).filter((f) => f.endsWith('.cjs')).sort();
    // The CLI twice: `--version` (the launcher alone) and `gate --help` (the launcher and one command's bundle).
    const cliRuns = { 'cli.cjs': ['--version'], 'cli.cjs gate --help': ['gate', '--help'] };
    const runs = 15;
    const base = [];
    const ref = [];
    const names = [...bundles, 'cli.cjs gate --help'];
    const times = Object.fromEntries(names.map((b) => [b, []]));
    for (let i = 0; i < runs + 2; i++) {
      const b0 = timeCommand(process.execPath, ['-e', '0'], { env }).ms;
      const r0 = timeCommand(process.execPath, [reference], { env }).ms;
      if (i >= 2) base.push(b0), ref.push(r0);
      for (const b of names) {
        const args = cliRuns[b] ? [join(DIST, 'cli.cjs'), ...cliRuns[b]] : [join(DIST, b)];
        const t = timeCommand(process.execPath, args, { env }).ms;
        if (i >= 2) times[b].push(t);
      }
    }
    const node = median(base);
    const action = median(ref);
    yield { bench: 'startup', bundle: 'reference action (@actions/core + @actions/github)', ms: round(action, 1), baseline: 'node -e 0', baseline_ms: round(node, 1), ratio: round(action / node, 2) };
    for (const b of names) {
      const ms = median(times[b]);
      yield cliRuns[b]
        ? { bench: 'startup', bundle: b, ms: round(ms, 1), baseline: 'node -e 0', baseline_ms: round(node, 1), ratio: round(ms / node, 2), target: 1.6 }
        : { bench: 'startup', bundle: b, ms: round(ms, 1), baseline: 'reference action', baseline_ms: round(action, 1), ratio: round(ms / action, 2), target: 1.15 };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
