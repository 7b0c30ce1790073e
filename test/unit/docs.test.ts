import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync } from 'node:fs';
import { join, basename } from 'node:path';
import { ROOT } from '../support/paths.js';
// @ts-expect-error plain ESM script without types
import { updateDocs } from '../../scripts/docs.mjs';

describe('docs', () => {
  it('every action page carries the inputs/outputs tables of its action.yml (no drift)', () => {
    expect(updateDocs({ check: true })).toEqual([]);
  });

  it('every command has a page in docs/commands/', () => {
    const commands = readdirSync(join(ROOT, 'src/commands')).filter((f) => f.endsWith('.ts') && f !== 'define.ts').map((f) => basename(f, '.ts'));
    expect(commands.filter((c) => !existsSync(join(ROOT, 'docs/commands', `${c}.md`)))).toEqual([]);
  });
});
