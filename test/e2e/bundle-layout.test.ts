import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, runAction } from '../support/run.js';
import { DIST, ROOT } from '../support/paths.js';
import { tempDir } from '../support/tmp.js';
import { commandFiles } from '../../src/cli/command-files.gen.js';

/**
 * What a process loads: a CLI run or an action loads the launcher, its one command's bundle and the vendored
 * clients it uses, no other command and no client it does not reach. A preloaded hook lists every file of dist/
 * that `require` returns (a file is compiled once, however often it is required).
 */
function loadsOf(stderr: string): string[] {
  return [...new Set([...stderr.matchAll(/^LOADED (.*)$/gm)].map((m) => m[1]!.slice(DIST.length + 1)))].sort();
}

describe('dist/ loads only what a run uses', () => {
  const dir = tempDir('bundle-layout');
  const hook = join(dir, 'hook.cjs');
  writeFileSync(
    hook,
    `const Module = require('node:module');\nconst load = Module._load;\nModule._load = function (request, parent, isMain) {\n  const r = load.call(this, request, parent, isMain);\n  try { const f = Module._resolveFilename(request, parent, isMain); if (f.startsWith(${JSON.stringify(DIST)})) process.stderr.write('LOADED ' + f + '\\n'); } catch {}\n  return r;\n};\n`,
  );
  const env = { NODE_OPTIONS: `--require ${hook}` };

  it('every command has its bundle and every action starts its own command', () => {
    expect(readdirSync(join(DIST, 'run')).sort()).toEqual([...Object.values(commandFiles).map((f) => `${f}.cjs`), '_cli.cjs'].sort());
    const actions = readdirSync(join(ROOT, 'actions'));
    for (const a of actions) expect(readFileSync(join(DIST, `${a}.cjs`), 'utf8')).toContain(`require("./run/${a}.cjs").fromInputs()`);
  });

  it('mlloop --version loads no command; a command loads its bundle alone', async () => {
    const v = await run(process.execPath, [join(DIST, 'cli.cjs'), '--version'], { env });
    expect(v.code).toBe(0);
    expect(loadsOf(v.stderr)).toEqual(['cli.cjs']);
    const tag = await run(process.execPath, [join(DIST, 'cli.cjs'), 'tag', '--model', 'ocr', '--version', '3.2', '--sha', 'abc1234', '--time', '2025-06-12T11:05:22Z'], { env });
    expect(tag.code, tag.stderr).toBe(0);
    expect(tag.stdout).toContain('ocr-v3.2-commit-abc1234-20250612110522');
    expect(loadsOf(tag.stderr)).toEqual(['cli.cjs', 'run/tag.cjs']);
    const help = await run(process.execPath, [join(DIST, 'cli.cjs'), '--help'], { env });
    expect(help.code).toBe(0);
    expect(loadsOf(help.stderr)).toEqual(['cli.cjs', 'run/_cli.cjs']);
  });

  it('a YAML config is parsed (and yaml and ajv loaded) only when it is there to parse', async () => {
    const cwd = tempDir('bundle-layout-ct');
    const missing = await runAction('ct-check', { policy: 'retrain_policy.yaml' }, { cwd, env });
    expect(missing.code).toBe(2);
    expect(missing.stdout).toMatch(/retrain policy not found/);
    expect(loadsOf(missing.stderr)).toEqual(['ct-check.cjs', 'run/ct-check.cjs', 'vendor/actions-runtime.cjs']);
    writeFileSync(join(cwd, 'retrain_policy.yaml'), 'triggers: [\n');
    const bad = await runAction('ct-check', { policy: 'retrain_policy.yaml' }, { cwd, env });
    expect(bad.code).toBe(2);
    expect(loadsOf(bad.stderr)).toContain('vendor/yaml.cjs');
  });

  it('the root action loads the one command its args name', async () => {
    const r = await runAction('mlloop', { args: 'tag --model ocr --version 3.2 --sha abc1234 --time 2025-06-12T11:05:22Z' }, { env });
    expect(r.code, r.stdout).toBe(0);
    expect(r.outputs.tags).toBe('ocr-v3.2-commit-abc1234-20250612110522');
    expect(loadsOf(r.stderr)).toEqual(['mlloop.cjs', 'run/tag.cjs', 'vendor/actions-runtime.cjs']);
  });
});
