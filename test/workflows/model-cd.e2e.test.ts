// model-cd.yml end to end for a candidate handed over by continuous training (repository_dispatch
// mlloop-candidate): the payload is validated, the candidate's evaluation is fetched from the CT run, the release is
// committed to staging in a real bare GitOps repository, the example service (app.py) is smoke-tested, and the
// release is promoted to production — or, when the service does not run the new version, staging is rolled back
// through Git and production is never touched. (The push path builds an image with Docker, which these machines
// do not have; its steps are covered by the lint and script tests.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CandidatePayload } from '../../src/core/ct/handoff.js';
import { EXAMPLE } from '../support/paths.js';
import { cli, run } from '../support/run.js';
import { startExampleApp, trainedModel, type ExampleApp } from '../support/example-app.js';
import { runWorkflow, type RunResult, type Value } from './runner.js';

const REPO = 'acme/ocr-fields';
const IMAGE = 'ghcr.io/acme/ocr-service';
const OLD = 'ocr-v1.20250601.080000';
const NEW = 'ocr-v1.20250612.110522';
const CT_RUN = '8001';
let gitops = '';
let evalDir = '';
const apps: ExampleApp[] = [];

async function git(...args: string[]): Promise<string> {
  const r = await run('git', ['--git-dir', gitops, ...args]);
  if (r.code !== 0) throw new Error(r.stderr);
  return r.stdout.trim();
}

const candidate = (version: string): CandidatePayload => ({
  schema: 'mlloop/candidate@1',
  model_version: version,
  image: `${IMAGE}:${version}-commit-abc1234-20250612110522@sha256:${'e'.repeat(64)}`,
  source_commit: 'abc1234'.padEnd(40, '0'),
  dataset: 'ocr-fields-sample',
  run_url: `https://github.com/${REPO}/actions/runs/${CT_RUN}`,
  parent_model: OLD,
  metrics: { 'overall.f1': 0.9 },
  gate: { pass: true, policy: 'gate.yaml', baseline: `gitops prod ${OLD}`, p_value: 0.001, delta: 0.05, require: 'improvement' },
  ct: { mode: 'incremental', triggers: ['alerts'], decided_at: '2025-06-12T11:00:00Z' },
});

function cd(payload: CandidatePayload, url: string): Promise<RunResult> {
  return runWorkflow({
    workflow: '.github/workflows/model-cd.yml',
    with: { model: 'ocr', image: IMAGE, 'gitops-repo': gitops, app: 'ocr', dataset: 'ocr-fields-sample', 'staging-url': url, 'production-url': url, 'smoke-timeout': '20s' },
    secrets: { 'gitops-token': 'ghs_gitopsTokenForCd000001' },
    eventName: 'repository_dispatch',
    event: { action: 'mlloop-candidate', client_payload: payload as unknown as Value },
    github: { repository: REPO, sha: '1'.repeat(40), run_id: '9001', token: 'ghs_runToken', ref: 'refs/heads/main', workflow_ref: `${REPO}/.github/workflows/model-cd.yml@refs/heads/main` },
    checkout: (dir) => cpSync(EXAMPLE, dir, { recursive: true, filter: (p) => !/\/(\.github|outputs|logs|__pycache__)(\/|$)/.test(p.slice(EXAMPLE.length)) }),
    otherRun: (runId, name) => (runId === CT_RUN && name === 'mlloop-eval' ? evalDir : undefined),
  });
}

const stepFailures = (r: RunResult) => Object.values(r.jobs).flatMap((j) => j.steps.filter((s) => s.outcome === 'failure').map((s) => `${s.name}: ${(s.stdout + s.stderr).slice(-1500)}`));

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mlloop-cd-wf-'));
  gitops = join(dir, 'gitops.git');
  expect((await run('git', ['init', '-q', '--bare', '-b', 'main', gitops])).code).toBe(0);
  for (const env of ['staging', 'prod']) {
    const r = await cli(['gitops', 'deploy', '--repo', gitops, '--app', 'ocr', '--env', env, '--image', `${IMAGE}:${OLD}-commit-0000000-20250601080000`, '--model-version', OLD]);
    expect(r.code, r.stderr).toBe(0);
  }
  // The CT run's evaluation artifact (mlloop-eval): the candidate model on the example's test set.
  const model = await trainedModel();
  evalDir = join(dir, 'ct-eval');
  const pred = join(dir, 'pred.json');
  expect((await run('python3', ['predict.py', '--model', model, '--data', 'sample_data/test', '--out', pred], { cwd: EXAMPLE })).code).toBe(0);
  const ev = await cli(['evaluate', '--gt', join(EXAMPLE, 'sample_data/test/gt.json'), '--pred', pred, '--out', join(evalDir, 'metrics.json'), '--samples', join(evalDir, 'samples.jsonl')]);
  expect(ev.code, ev.stderr).toBe(0);
}, 180_000);

afterAll(async () => {
  await Promise.all(apps.map((a) => a.stop()));
});

describe('model-cd.yml with a candidate from continuous training', () => {
  it('deploys to staging with its evaluation, smoke-tests the service and promotes to production', async () => {
    const app = await startExampleApp({ modelVersion: NEW });
    apps.push(app);
    const r = await cd(candidate(NEW), app.url);
    expect(stepFailures(r)).toEqual([]);
    expect(Object.fromEntries(Object.entries(r.jobs).map(([k, j]) => [k, j.result]))).toEqual({ build: 'skipped', candidate: 'success', staging: 'success', production: 'success' });
    expect(r.outputs['model-version']).toBe(NEW);
    const staging = JSON.parse(await git('show', 'main:apps/ocr/staging/release.json')) as Record<string, unknown>;
    expect(staging).toMatchObject({ model_version: NEW, image: candidate(NEW).image, source_commit: candidate(NEW).source_commit, run_url: candidate(NEW).run_url, metrics_file: 'metrics.json', samples_file: 'samples.jsonl' });
    // The evaluation kept next to the release is the next gates' baseline.
    expect(await git('show', 'main:apps/ocr/staging/samples.jsonl')).toContain('image_id');
    const prod = JSON.parse(await git('show', 'main:apps/ocr/prod/release.json')) as Record<string, unknown>;
    expect(prod).toMatchObject({ model_version: NEW, action: 'promote', image: candidate(NEW).image });
    expect(await git('log', '-1', '--format=%B', 'main')).toMatch(/Mlloop-Action: promote/);
    const smoke = r.jobs.staging!.steps.find((s) => s.id === 'smoke')!;
    expect(smoke.outputs['model-version']).toBe(NEW);
  }, 180_000);

  it('a service that does not run the new version fails the smoke test: staging is rolled back through Git, production untouched', async () => {
    const next = 'ocr-v1.20250613.090000';
    const app = await startExampleApp({ modelVersion: NEW });
    apps.push(app);
    const prodBefore = await git('show', 'main:apps/ocr/prod/release.json');
    const r = await cd(candidate(next), app.url);
    expect(r.jobs.staging!.result).toBe('failure');
    expect(r.jobs.production!.result).toBe('skipped');
    const message = await git('log', '-1', '--format=%B', 'main');
    expect(message).toMatch(/^rollback\(ocr\/staging\): ocr-v1\.20250612\.110522/);
    expect(message).toMatch(/^Reason: smoke test failed: .+/m);
    expect(await git('show', 'main:apps/ocr/staging/quarantine.yaml')).toContain(next);
    expect(await git('show', 'main:apps/ocr/prod/release.json')).toBe(prodBefore);
  }, 180_000);

  it('a payload that is not a candidate of this repository deploys nothing', async () => {
    const head = await git('rev-parse', 'main');
    const r = await cd({ ...candidate('ocr-v1.20250614.000000'), image: `ghcr.io/evil/ocr-service:x@sha256:${'e'.repeat(64)}` }, 'http://127.0.0.1:9');
    expect(r.jobs.candidate!.result).toBe('failure');
    expect(r.jobs.staging!.result).toBe('skipped');
    expect(await git('rev-parse', 'main')).toBe(head);
  });
});
