import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../support/paths.js';
import { DOC_END, DOC_START, readWorkflow, workflowTables } from './helpers.js';

// docs/workflows.md holds the inputs/secrets/outputs tables of every reusable workflow, generated from its
// on.workflow_call. MLLOOP_UPDATE_DOCS=1 npx vitest run test/workflows/docs.test.ts rewrites them.
const DOC = join(ROOT, 'docs/workflows.md');
const reusable = readdirSync(join(ROOT, '.github/workflows'))
  .map((f) => `.github/workflows/${f}`)
  .filter((f) => Object.keys(readWorkflow(f).on as object).includes('workflow_call'));

describe('docs/workflows.md', () => {
  if (process.env.MLLOOP_UPDATE_DOCS) {
    let text = readFileSync(DOC, 'utf8');
    for (const f of reusable) {
      const a = text.indexOf(DOC_START(f));
      const b = text.indexOf(DOC_END, a);
      if (a >= 0 && b > a) text = text.slice(0, a) + workflowTables(f) + text.slice(b + DOC_END.length);
    }
    writeFileSync(DOC, text);
  }
  const text = readFileSync(DOC, 'utf8');

  it.each(reusable)('documents %s with tables that match its workflow_call', (f) => {
    const a = text.indexOf(DOC_START(f));
    expect(a, `docs/workflows.md has no section for ${f}: add the marker line ${DOC_START(f)} and ${DOC_END}`).toBeGreaterThanOrEqual(0);
    const b = text.indexOf(DOC_END, a);
    expect(text.slice(a, b + DOC_END.length), 'run MLLOOP_UPDATE_DOCS=1 npx vitest run test/workflows/docs.test.ts').toBe(workflowTables(f));
  });

  it('links every starter workflow', () => {
    for (const f of readdirSync(join(ROOT, 'workflow-templates')).filter((x) => x.endsWith('.yml'))) expect(text).toContain(`workflow-templates/${f}`);
  });
});
