// The post step of the cloning actions: the main step records its temp folders with core.saveState
// (GITHUB_STATE), and dist/cleanup.cjs, run by the runner as `post:`, removes those a killed main step left.
import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, runAction } from '../support/run.js';
import { DIST } from '../support/paths.js';
import { tempDir } from '../support/tmp.js';

/** Every value saved under `name` in a GITHUB_STATE file (heredoc blocks, as @actions/core writes them). */
function saved(file: string, name: string): string[] {
  const out: string[] = [];
  const lines = readFileSync(file, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<]+)<<(ghadelimiter_[0-9a-f-]+)$/.exec(lines[i]!);
    if (!m) continue;
    const value: string[] = [];
    for (i++; i < lines.length && lines[i] !== m[2]; i++) value.push(lines[i]!);
    if (m[1] === name) out.push(value.join('\n'));
  }
  return out;
}

describe('post step: temp folders', () => {
  it('the main step saves the folders it makes and, once it removed them itself, an empty list', async () => {
    const dir = tempDir('post-main');
    const tmp = join(dir, 'tmp');
    mkdirSync(tmp);
    const state = join(dir, 'state');
    writeFileSync(state, '');
    const r = await runAction('gitops-history', { repo: join(dir, 'no-such-repo'), app: 'ocr', env: 'prod' }, { env: { GITHUB_STATE: state, TMPDIR: tmp } });
    expect(r.code).not.toBe(0);
    const values = saved(state, 'mlloop-temp-dirs').map((v) => JSON.parse(v) as string[]);
    expect(values.length).toBeGreaterThanOrEqual(2);
    expect(values[0]!.length).toBe(1);
    expect(values[0]![0]!.startsWith(join(tmp, 'mlloop-'))).toBe(true);
    expect(values.at(-1)).toEqual([]);
    expect(existsSync(values[0]![0]!)).toBe(false);
  });

  it('dist/cleanup.cjs removes the recorded mlloop folders in the temp folder, and nothing else', async () => {
    const dir = tempDir('post-cleanup');
    const tmp = join(dir, 'tmp');
    const left = join(tmp, 'mlloop-clone-abc123');
    const foreign = join(tmp, 'not-mlloop');
    const outside = join(dir, 'mlloop-outside');
    for (const d of [left, foreign, outside]) mkdirSync(join(d, 'sub'), { recursive: true });
    const r = await run(process.execPath, [join(DIST, 'cleanup.cjs')], { env: { PATH: process.env.PATH, TMPDIR: tmp, 'STATE_mlloop-temp-dirs': JSON.stringify([left, foreign, outside, join(tmp, '..', 'tmp', '..')]) } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('removed 1 temporary folder(s)');
    expect(existsSync(left)).toBe(false);
    expect(existsSync(foreign)).toBe(true);
    expect(existsSync(outside)).toBe(true);
    expect(existsSync(tmp)).toBe(true);
  });

  it('dist/cleanup.cjs with no state (the main step made nothing) does nothing', async () => {
    const r = await run(process.execPath, [join(DIST, 'cleanup.cjs')], { env: { PATH: process.env.PATH } });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
  });
});
