import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { run } from '../support/run.js';
import { ROOT } from '../support/paths.js';
import { tempDir } from '../support/tmp.js';

/** The launchers' net: a process whose command is done ends, even with a socket a library left open. */
describe('exitWhenSettled', () => {
  it('ends the process 2 s after the work settles, a listening server notwithstanding, with the exit code kept', async () => {
    const dir = tempDir('exit');
    const lib = join(dir, 'exit.cjs');
    await esbuild.build({ entryPoints: [join(ROOT, 'src/cli/exit.ts')], bundle: true, platform: 'node', format: 'cjs', outfile: lib, logLevel: 'error' });
    const script = (settle: boolean) =>
      `const { exitWhenSettled } = require(${JSON.stringify(lib)});
require('node:net').createServer().listen(0, '127.0.0.1');
${settle ? `exitWhenSettled(Promise.resolve().then(() => { process.exitCode = 3; }));` : ''}`;
    const t0 = Date.now();
    const ended = await run(process.execPath, ['-e', script(true)], { timeoutMs: 20_000 });
    expect(ended.code).toBe(3);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1900);
    expect(Date.now() - t0).toBeLessThan(15_000);
    // Without it, the same process would still be listening when the limit kills it.
    const held = await run(process.execPath, ['-e', script(false)], { timeoutMs: 4000 });
    expect(held.code).not.toBe(0);
  }, 40_000);
});
