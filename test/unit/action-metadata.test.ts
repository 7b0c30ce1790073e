import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from '../support/paths.js';
import type { CommandSpec, OptionSpec } from '../../src/commands/define.js';

const actions = readdirSync(join(ROOT, 'actions')).filter((d) => existsSync(join(ROOT, 'actions', d, 'action.yml')));

interface ActionYml {
  name: string;
  description: string;
  inputs?: Record<string, { description: string; required?: boolean; default?: string }>;
  outputs?: Record<string, { description: string }>;
  runs: { using: string; main: string; post?: string };
}

function defaultText(opt: OptionSpec): string | undefined {
  if (opt.type === 'boolean') return String(opt.default ?? false);
  if (!('default' in opt) || opt.default === undefined) return undefined;
  return Array.isArray(opt.default) ? opt.default.join('\n') : String(opt.default);
}

describe.each(actions)('actions/%s/action.yml', (name) => {
  const meta = parse(readFileSync(join(ROOT, 'actions', name, 'action.yml'), 'utf8')) as ActionYml;

  it('runs its own bundle on node24', () => {
    expect(meta.runs.using).toBe('node24');
    expect(meta.runs.main).toBe(`../../dist/${name}.cjs`);
    expect(existsSync(join(ROOT, 'dist', `${name}.cjs`))).toBe(true);
  });

  it('cleans up in a post step exactly when its command can clone a repository into a temp folder', () => {
    const clones = ['ct-relabel', 'gate', 'gitops-deploy', 'gitops-history', 'gitops-promote', 'gitops-rollback', 'lineage', 'lineage-record'];
    if (clones.includes(name)) {
      expect(meta.runs.post).toBe('../../dist/cleanup.cjs');
      expect(existsSync(join(ROOT, 'dist', 'cleanup.cjs'))).toBe(true);
    } else expect(meta.runs.post).toBeUndefined();
  });

  it('has the inputs, defaults and outputs of its command definition', async () => {
    const file = join(ROOT, 'src/commands', `${name}.ts`);
    if (!existsSync(file)) return expect(existsSync(join(ROOT, 'src/actions', `${name}.ts`))).toBe(true);
    const { command } = (await import(file)) as { command: CommandSpec };
    expect(Object.keys(meta.inputs ?? {}).sort()).toEqual(Object.keys(command.options).sort());
    for (const [input, opt] of Object.entries(command.options)) {
      const m = meta.inputs![input]!;
      expect(m.description, `${input} needs a description`).toBeTruthy();
      const required = 'required' in opt && opt.required === true;
      expect(Boolean(m.required), `${input}: required`).toBe(required);
      expect(m.default === undefined ? undefined : String(m.default), `${input}: default`).toBe(required ? undefined : defaultText(opt));
    }
    const outputs = Object.keys(meta.outputs ?? {}).sort();
    expect(outputs).toEqual([...Object.keys(command.outputs ?? {}), 'result'].sort());
  });
});
