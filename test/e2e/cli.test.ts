import { describe, expect, it } from 'vitest';
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, runAction } from '../support/run.js';
import { ROOT } from '../support/paths.js';
import { commands } from '../../src/cli/registry.gen.js';
import { tempDir } from '../support/tmp.js';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const names = Object.keys(commands).sort();

describe('the mlloop CLI (dist/cli.cjs)', () => {
  it('--version prints the package version', async () => {
    const r = await cli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it('--help lists every command with its summary', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    for (const n of names) expect(r.stdout).toContain(`  ${n} `);
  });

  it.each(names)('mlloop %s --help explains every option, the exit codes and an example', async (name) => {
    const r = await cli([...name.split(' '), '--help']);
    expect(r.code).toBe(0);
    const { command } = await (commands as unknown as Record<string, () => Promise<{ command: { options: Record<string, unknown>; examples: readonly unknown[] } }>>)[name]!();
    for (const opt of Object.keys(command.options)) expect(r.stdout).toContain(`--${opt}`);
    expect(r.stdout).toContain('Exit codes:');
    expect(command.examples.length).toBeGreaterThan(0);
    expect(r.stdout).toContain('Examples:');
  });

  it('an unknown command or option exits 2 with a suggestion', async () => {
    const r1 = await cli(['trian']);
    expect(r1.code).toBe(2);
    expect(r1.stderr).toContain('did you mean "train"');
    const r2 = await cli(['train', '--comand', 'x']);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain('did you mean --command');
  });
});

describe('the root action (action.yml → dist/mlloop.cjs)', () => {
  it('runs a command from `args` and sets its outputs', async () => {
    const repo = tempDir('root');
    cpSync(join(ROOT, 'test/fixtures/tiny-train'), repo, { recursive: true });
    const r = await runAction('mlloop', { args: 'train --repo . --command "python3 train.py --epochs 2 --data data --out outputs" --no-upload' }, { cwd: repo });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.outputs.status).toBe('succeeded');
    expect(JSON.parse(r.outputs.result!).metrics.f1).toBeCloseTo(0.75, 6);
    expect(r.summary).toContain('mlloop train: succeeded');
  });

  it('fails with exit 2 on args that are not an mlloop command', async () => {
    const r = await runAction('mlloop', { args: 'rm -rf /' });
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/::error::args must start with an mlloop command/);
  });
});
