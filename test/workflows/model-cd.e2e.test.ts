// model-cd.yml end to end for a candidate handed over by continuous training (repository_dispatch
// mlloop-candidate): the payload is validated, the candidate's evaluation is fetched from the CT run, the release is
// committed to staging in a real bare GitOps repository, the example service (app.py) is smoke-tested, and the
// release is promoted to production — or, when the service does not run the new version, staging is rolled back
// through Git and production is never touched. And the push path: the example is trained with the release's
// version, the image is built from mlloop tag's tags and labels, and the service built from that model reports the
// version the smoke test expects. Docker cannot run on these machines: its three actions are stand-ins that record
// exactly what the workflow hands them and answer with a digest, as docker/build-push-action does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { CandidatePayload } from '../../src/core/ct/handoff.js';
import { cli, run } from '../support/run.js';
import { startExampleApp, trainedModel, type ExampleApp } from '../support/example-app.js';
import { startArtifactService, type ArtifactService } from '../support/artifact-server.js';
import { evaluateModel, readWorkflow } from './helpers.js';
import { checkoutExample, failedSteps, runWorkflow, type RunResult, type Value } from './runner.js';
import { tempDir } from '../support/tmp.js';

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
    checkout: (dir) => checkoutExample(dir),
    otherRun: (runId, name) => (runId === CT_RUN && name === 'mlloop-eval' ? evalDir : undefined),
  });
}


beforeAll(async () => {
  const dir = tempDir('cd-wf');
  gitops = join(dir, 'gitops.git');
  expect((await run('git', ['init', '-q', '--bare', '-b', 'main', gitops])).code).toBe(0);
  for (const env of ['staging', 'prod']) {
    const r = await cli(['gitops', 'deploy', '--repo', gitops, '--app', 'ocr', '--env', env, '--image', `${IMAGE}:${OLD}-commit-0000000-20250601080000`, '--model-version', OLD]);
    expect(r.code, r.stderr).toBe(0);
  }
  // The CT run's evaluation artifact (mlloop-eval): the candidate model on the example's test set.
  const model = await trainedModel();
  evalDir = join(dir, 'ct-eval');
  mkdirSync(evalDir);
  await evaluateModel(model, evalDir);
  rmSync(join(evalDir, 'pred.json'));
}, 180_000);

const services: ArtifactService[] = [];
afterAll(async () => {
  await Promise.all(apps.map((a) => a.stop()));
  await Promise.all(services.map((x) => x.close()));
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

describe('model-cd.yml with a candidate from continuous training', () => {
  it('deploys to staging with its evaluation, smoke-tests the service and promotes to production', async () => {
    const app = await startExampleApp({ modelVersion: NEW });
    apps.push(app);
    const r = await cd(candidate(NEW), app.url);
    expect(failedSteps(r)).toEqual([]);
    expect(Object.fromEntries(Object.entries(r.jobs).map(([k, j]) => [k, j.result]))).toEqual({ build: 'skipped', candidate: 'success', staging: 'success', production: 'success', 'gitops-site': 'skipped' });
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

describe('model-cd.yml on a push to main', () => {
  it('trains with the release version, builds the image from mlloop tag, deploys it by digest, and the service reports that version', async () => {
    const dir = tempDir('cd-push');
    const repo = join(dir, 'gitops.git');
    expect((await run('git', ['init', '-q', '--bare', '-b', 'main', repo])).code).toBe(0);
    const svc = await startArtifactService();
    services.push(svc);
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const calls: Record<string, Record<string, string>[]> = {};
    const record = (name: string, outputs: (w: Record<string, string>) => Record<string, string> = () => ({})) => (w: Record<string, string>) => {
      (calls[name] ??= []).push(w);
      return outputs(w);
    };
    const caller = readWorkflow('examples/ocr-fields/.github/workflows/model-cd.yml').jobs['model-cd']!.with as Record<string, Value>;
    const r = await runWorkflow({
      workflow: '.github/workflows/model-cd.yml',
      with: { ...caller, 'gitops-repo': repo, 'staging-url': url, 'production-url': url, 'prometheus-url': '', 'smoke-timeout': '30s' },
      secrets: { 'gitops-token': 'ghs_gitopsTokenForCd000001' },
      eventName: 'push',
      event: { ref: 'refs/heads/main', after: '2'.repeat(40) },
      github: { repository: REPO, sha: '2'.repeat(40), run_id: '9201', token: 'ghs_runTokenPackagesWrite', ref: 'refs/heads/main', workflow_ref: `${REPO}/.github/workflows/model-cd.yml@refs/heads/main`, actor: 'octocat' },
      checkout: (ws) => checkoutExample(ws),
      env: svc.env(),
      stubs: {
        'docker/login-action': record('login'),
        'docker/setup-buildx-action': record('buildx'),
        'docker/build-push-action': record('build', (w) => ({ digest: `sha256:${createHash('sha256').update(w.tags!).digest('hex')}` })),
      },
      // The cluster runs the image built from the trained model: app.py on that model, on the staging URL.
      beforeJob: async (id, done) => {
        if (id === 'staging') apps.push(await startExampleApp({ model: join(done.build!.workspace, 'outputs'), port }));
      },
    });
    expect(failedSteps(r)).toEqual([]);
    expect(Object.fromEntries(Object.entries(r.jobs).map(([k, j]) => [k, j.result]))).toEqual({ build: 'success', candidate: 'skipped', staging: 'success', production: 'success', 'gitops-site': 'skipped' });

    const mv = r.jobs.build!.outputs['model-version']!;
    expect(mv).toMatch(/^ocr-v1\.\d{8}\.\d{6}$/);
    // train.py --model-version "$MLLOOP_MODEL_VERSION": the model carries the release's version.
    expect(JSON.parse(readFileSync(join(r.jobs.build!.workspace, 'outputs/model.json'), 'utf8')).model_version).toBe(mv);

    expect(calls.login).toEqual([{ registry: 'ghcr.io', username: 'octocat', password: 'ghs_runTokenPackagesWrite' }]);
    const build = calls.build![0]!;
    expect(build.tags).toMatch(new RegExp(`^${IMAGE}:${mv.replace(/\./g, '\\.')}-commit-2222222-\\d{14}$`));
    expect(build.labels!.split('\n')).toEqual(expect.arrayContaining([`io.mlloop.model-version=${mv}`, `org.opencontainers.image.revision=${'2'.repeat(40)}`, 'io.mlloop.dataset=ocr-fields-sample']));
    expect(build['build-args']!.trim()).toBe(`MODEL_VERSION=${mv}`);
    expect(build).toMatchObject({ push: 'true', context: '.', file: './Dockerfile', platforms: 'linux/amd64' });

    // Deployed by digest, with the evaluation, then promoted.
    const staging = JSON.parse(await run('git', ['--git-dir', repo, 'show', 'main:apps/ocr/staging/release.json']).then((x) => x.stdout)) as Record<string, unknown>;
    expect(staging).toMatchObject({ model_version: mv, image: `${build.tags}@sha256:${createHash('sha256').update(build.tags!).digest('hex')}`, source_commit: '2'.repeat(40), metrics_file: 'metrics.json', samples_file: 'samples.jsonl' });
    const prod = JSON.parse(await run('git', ['--git-dir', repo, 'show', 'main:apps/ocr/prod/release.json']).then((x) => x.stdout)) as Record<string, unknown>;
    expect(prod).toMatchObject({ model_version: mv, action: 'promote' });
    // The service built from that model answers with the version the smoke tests expected.
    for (const job of ['staging', 'production']) expect(r.jobs[job]!.steps.find((s) => s.id === 'smoke')!.outputs['model-version']).toBe(mv);
  }, 240_000);
});
