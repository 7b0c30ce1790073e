// train-dispatch.yml end to end, offline: the decision on the bundled snapshot of real GPU nodes
// (docs/examples/dispatch), explained in the job summary, with the Job manifest kept as an artifact.
import { describe, expect, it } from 'vitest';
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from '../support/paths.js';
import { runWorkflow } from './runner.js';

describe('train-dispatch.yml', () => {
  it('decides on the snapshot, explains every cluster and keeps the Job it would submit', async () => {
    const r = await runWorkflow({
      workflow: '.github/workflows/train-dispatch.yml',
      with: { 'working-directory': 'dispatch', snapshot: 'snapshot' },
      eventName: 'workflow_dispatch',
      event: { inputs: { request: 'job.yaml', 'dry-run': true } },
      github: { repository: 'acme/ocr-fields', sha: '1'.repeat(40), run_id: '9301', token: 'ghs_unused', ref: 'refs/heads/main', workflow_ref: 'acme/ocr-fields/.github/workflows/train-dispatch.yml@refs/heads/main' },
      checkout: (dir) => cpSync(join(ROOT, 'docs/examples/dispatch'), join(dir, 'dispatch'), { recursive: true }),
    });
    const job = r.jobs.dispatch!;
    expect(job.steps.filter((s) => s.outcome === 'failure').map((s) => s.stdout + s.stderr)).toEqual([]);
    expect(r.outputs).toMatchObject({ cluster: 'a100-bj', namespace: 'team-ocr', status: 'decided' });
    // No ledger is restored or written for an offline decision.
    expect(job.steps.find((s) => s.name === 'restore the dispatch ledger')!.outcome).toBe('skipped');
    const manifest = parse(readFileSync(join(r.artifacts['mlloop-dispatch-job']!, 'job.yaml'), 'utf8')) as { kind: string; metadata: { name: string; labels: Record<string, string> } };
    expect(manifest.metadata.name).toBe(r.outputs['job-name']);
    expect(manifest.metadata.labels['mlloop.io/dispatch-id']).toBeTruthy();
    // The explanation names every cluster of the snapshot.
    for (const c of ['a100-bj', 'a100-gz', 'h100-sh']) expect(job.summary).toContain(c);
  });
});
