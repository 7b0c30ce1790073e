// rollback.yml end to end: the repository_dispatch payload Argo Rollouts' notification sends
// (manifests/rollouts/notifications.yaml) becomes a rollback commit in a real bare GitOps repository.
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, run } from '../support/run.js';
import { runWorkflow, type RunResult, type Value } from './runner.js';
import { tempDir } from '../support/tmp.js';

const IMAGE = 'ghcr.io/acme/ocr-service';
let gitops = '';

async function git(...args: string[]): Promise<string> {
  const r = await run('git', ['--git-dir', gitops, ...args]);
  if (r.code !== 0) throw new Error(r.stderr);
  return r.stdout.trim();
}

async function deploy(version: string): Promise<void> {
  const r = await cli(['gitops', 'deploy', '--repo', gitops, '--app', 'ocr', '--env', 'prod', '--image', `${IMAGE}:ocr-v${version}-commit-abc1234-20250612110522`, '--model-version', `ocr-v${version}`]);
  expect(r.code, r.stderr).toBe(0);
}

function rollback(payload: Record<string, Value>, withs: Record<string, Value> = {}): Promise<RunResult> {
  return runWorkflow({
    workflow: '.github/workflows/rollback.yml',
    with: { 'gitops-repo': gitops, 'allowed-apps': 'ocr', ...withs },
    secrets: { 'gitops-token': 'ghs_gitopsTokenNeverPrinted01' },
    eventName: 'repository_dispatch',
    event: { action: 'rollout-aborted', client_payload: payload },
    github: { repository: 'acme/ocr-fields', sha: '1'.repeat(40), run_id: '7001', token: 'ghs_unused', ref: 'refs/heads/main', workflow_ref: 'acme/ocr-fields/.github/workflows/rollback.yml@refs/heads/main' },
    checkout: () => {
      throw new Error('rollback.yml checks nothing out');
    },
  });
}

// What the notification template renders for an aborted canary of apps/ocr/prod.
const aborted = (reason: string): Record<string, Value> => ({
  source: 'argo-rollouts', trigger: 'on-analysis-run-failed', app: 'ocr', env: 'prod', rollout: 'ocr-fields', namespace: 'ocr',
  revision: '7', pod_hash: '6d4f8c9b7', reason,
});

describe('rollback.yml', () => {
  beforeAll(async () => {
    gitops = join(tempDir('rollback-wf'), 'gitops.git');
    const r = await run('git', ['init', '-q', '--bare', '-b', 'main', gitops]);
    expect(r.code).toBe(0);
    await deploy('1.20250601.080000');
    await deploy('1.20250612.110522');
  });

  it('an aborted canary becomes a rollback commit with the analysis as the Reason, and the failed version is quarantined', async () => {
    const reason = 'Metric "p95-latency" assessed Failed due to failed (1) > failureLimit (0)';
    const r = await rollback(aborted(reason));
    expect(r.jobs.rollback!.steps.filter((s) => s.outcome === 'failure').map((s) => s.stdout + s.stderr)).toEqual([]);
    expect(r.outputs).toEqual({ 'model-version': 'ocr-v1.20250601.080000', quarantined: 'ocr-v1.20250612.110522' });
    const message = await git('log', '-1', '--format=%B', 'main');
    expect(message).toMatch(/^rollback\(ocr\/prod\): ocr-v1\.20250601\.080000/);
    expect(message).toContain(`Reason: ${reason}`);
    expect(message).toMatch(/^Rollback-Of: [0-9a-f]{40}$/m);
    expect(message).toMatch(/^Run-Url: https:\/\/github\.com\/acme\/ocr-fields\/actions\/runs\/7001$/m);
    expect(await git('show', 'main:apps/ocr/prod/quarantine.yaml')).toContain('ocr-v1.20250612.110522');
    // Only the runner's ::add-mask:: command may carry the token.
    expect(r.jobs.rollback!.steps.map((s) => s.stdout + s.stderr).join('').replace(/^::add-mask::.*$/gm, '')).not.toContain('ghs_gitopsTokenNeverPrinted01');
  });

  it('a second notification for the same abort does not roll back the rollback: green, no commit', async () => {
    const head = await git('rev-parse', 'main');
    const r = await rollback(aborted('Rollout aborted update to revision 7'));
    expect(r.jobs.rollback!.result).toBe('success');
    expect(r.jobs.rollback!.steps.map((s) => s.stdout + s.stderr).join('')).toMatch(/no change/);
    expect(await git('rev-parse', 'main')).toBe(head);
  });

  it('refuses an application this repository does not own, before touching the GitOps repository', async () => {
    const head = await git('rev-parse', 'main');
    const r = await rollback({ ...aborted('x'), app: 'billing' });
    expect(r.jobs.rollback!.result).toBe('failure');
    expect(r.jobs.rollback!.steps.map((s) => [s.name, s.outcome])).toEqual([['check the application', 'failure'], ['gitops rollback', 'skipped']]);
    expect(await git('rev-parse', 'main')).toBe(head);
  });

  it('payload values that look like shell or YAML stay data', async () => {
    const head = await git('rev-parse', 'main');
    const marker = join(tmpdir(), `mlloop-pwned-${process.pid}`);
    const r = await rollback({ ...aborted(`$(touch ${marker})`), app: `ocr$(touch ${marker})`, env: 'prod\nMlloop-Action: deploy' }, { 'allowed-apps': '' });
    expect(r.jobs.rollback!.result).toBe('failure');
    expect(existsSync(marker)).toBe(false);
    expect(await git('rev-parse', 'main')).toBe(head);
  });
});
