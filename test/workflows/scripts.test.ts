import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CandidatePayload } from '../../src/core/ct/handoff.js';
import { compareVersions } from '../../src/core/gitops/names.js';
import { EXAMPLE } from '../support/paths.js';
import { cli } from '../support/run.js';
import { relayRetrainPayload, runStep, step } from './helpers.js';
import { tempDir } from '../support/tmp.js';

// The shell steps of the reusable workflows, run with bash exactly as the runner runs them. Event data reaches them
// only through env:, so each case also proves that hostile values stay data.

const tmp = () => tempDir('wf');

describe('model-ct.yml: the alert group of a ct-retrain dispatch becomes alerts ct check reads', () => {
  const alertsStep = step('.github/workflows/model-ct.yml', 'check', 'alerts');
  // What mlloop relay sends for the example's Alertmanager webhook payload.
  const clientPayload = relayRetrainPayload();

  it('relay payload → alerts file → ct check decides to retrain on the alert trigger', async () => {
    const dir = tmp();
    const out = join(dir, 'alerts.json');
    const r = await runStep(alertsStep, { PAYLOAD: JSON.stringify(clientPayload), OUT: out });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.outputs.file).toBe(out);
    const written = JSON.parse(readFileSync(out, 'utf8')) as { alerts: { labels: Record<string, string>; fingerprint?: string }[] };
    expect(written.alerts.map((a) => a.fingerprint)).toEqual((clientPayload.alerts as { fingerprints: (string | null)[] }).fingerprints.filter(Boolean));
    expect(written.alerts.length).toBeGreaterThan(0);
    expect(written.alerts.every((a) => a.labels.alertname === 'ModelAccuracyDrop')).toBe(true);

    const ct = await cli(['ct', 'check', '--policy', join(EXAMPLE, 'retrain_policy.yaml'), '--alerts', out, '--state', join(dir, 'state.json'), '--out', join(dir, 'decision.json'), '--json']);
    expect(ct.stderr).not.toMatch(/internal error/);
    expect(ct.code).toBe(0);
    const decision = JSON.parse(ct.stdout) as { retrain: boolean; reasons: { trigger: string }[] };
    expect(decision.retrain).toBe(true);
    expect(decision.reasons.map((x) => x.trigger)).toContain('alerts');
  });

  it('a payload that names no alert (e.g. a rollout-aborted one) fails the step and writes nothing usable', async () => {
    const dir = tmp();
    const out = join(dir, 'alerts.json');
    const r = await runStep(alertsStep, { PAYLOAD: JSON.stringify({ source: 'argo-rollouts', trigger: 'on-rollout-aborted', app: 'ocr', env: 'prod' }), OUT: out });
    expect(r.code).not.toBe(0);
    expect(r.outputs.file).toBeUndefined();
  });

  it('label values that look like shell stay data', async () => {
    const dir = tmp();
    const out = join(dir, 'alerts.json');
    const pwned = join(dir, 'pwned');
    const payload = { ...clientPayload, labels: { alertname: 'ModelAccuracyDrop', model: `$(touch ${pwned})`, note: `'; touch ${pwned}; '` } };
    const r = await runStep(alertsStep, { PAYLOAD: JSON.stringify(payload), OUT: out });
    expect(r.code).toBe(0);
    expect(existsSync(pwned)).toBe(false);
    expect(readFileSync(out, 'utf8')).toContain(`$(touch ${pwned})`);
  });
});

describe('model-cd.yml: a mlloop/candidate@1 payload is validated before anything is deployed', () => {
  const payloadStep = step('.github/workflows/model-cd.yml', 'candidate', 'payload');
  const env = (p: unknown) => ({ PAYLOAD: JSON.stringify(p), RUNS_URL: 'https://github.com/acme/ocr-fields/actions/runs/', IMAGE_REPO: 'ghcr.io/acme/ocr-service' });
  const good: CandidatePayload = {
    schema: 'mlloop/candidate@1',
    model_version: 'ocr-v1.20250612.110522',
    image: `ghcr.io/acme/ocr-service:ocr-v1.20250612.110522-commit-abc1234-20250612110522@sha256:${'a'.repeat(64)}`,
    source_commit: 'abc1234'.padEnd(40, '0'),
    dataset: 'invoice-clean-2025Q1',
    run_url: 'https://github.com/acme/ocr-fields/actions/runs/987654321/attempts/1',
    parent_model: 'ocr-v1.20250601.080000',
    metrics: { 'overall.f1': 0.93 },
    gate: { pass: true, policy: 'gate.yaml', baseline: 'gitops prod', p_value: 0.01, delta: 0.02, require: 'improvement' },
    ct: { mode: 'incremental', triggers: ['alerts'], decided_at: '2025-06-12T11:00:00Z' },
  };

  it('a good payload gives the version, image, run id and provenance', async () => {
    const r = await runStep(payloadStep, env(good));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.outputs).toEqual({
      'model-version': good.model_version,
      image: good.image,
      'run-id': '987654321',
      'run-url': good.run_url,
      'source-commit': good.source_commit,
      dataset: good.dataset,
    });
  });

  it.each<[string, Partial<CandidatePayload> | Record<string, unknown>]>([
    ['another schema', { schema: 'mlloop/candidate@2' }],
    ['an image of another repository', { image: `ghcr.io/evil/ocr-service:x@sha256:${'a'.repeat(64)}` }],
    ['an image pinned by tag only', { image: 'ghcr.io/acme/ocr-service:latest' }],
    ['a repository whose name only starts like ours', { image: `ghcr.io/acme/ocr-service-evil:x@sha256:${'a'.repeat(64)}` }],
    ['a run of another repository', { run_url: 'https://github.com/evil/ocr-fields/actions/runs/1' }],
    ['a run URL without a run id', { run_url: 'https://github.com/acme/ocr-fields/actions/runs/latest' }],
    ['a version that injects another output', { model_version: 'ocr-v1\nimage=ghcr.io/evil/x:1' }],
    ['a version with shell syntax', { model_version: 'ocr-v1$(id)' }],
    ['a source commit that is not a commit', { source_commit: 'main' }],
  ])('refuses %s', async (_what, change) => {
    const r = await runStep(payloadStep, env({ ...good, ...change }));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^::error title=mlloop::client_payload: /m);
    expect(r.outputs).toEqual({});
  });
});

describe('model-cd.yml: the generated model version', () => {
  const versionStep = step('.github/workflows/model-cd.yml', 'build', 'version');

  it('is <major>.<UTC date>.<time>, accepted by mlloop tag and ordered by time for gitops deploy', async () => {
    const r = await runStep(versionStep, { VERSION: '', VERSION_MAJOR: '1' });
    expect(r.code).toBe(0);
    const v = r.outputs.version!;
    expect(v).toMatch(/^1\.\d{8}\.\d{6}$/);
    const tag = await cli(['tag', '--model', 'ocr', '--version', v, '--sha', 'abc1234'.padEnd(40, '0'), '--image', 'ghcr.io/acme/ocr-service', '--json']);
    expect(tag.stderr).not.toMatch(/error/i);
    expect(tag.code).toBe(0);
    expect((JSON.parse(tag.stdout) as { model_version: string }).model_version).toBe(`ocr-v${v}`);
    // Releases built by CD and CT are ordered by when they were built, whatever the hour.
    expect(compareVersions('ocr-v1.20250612.093015', 'ocr-v1.20250612.110522')).toBe(-1);
    expect(compareVersions('ocr-v1.20250612.235959', 'ocr-v1.20250613.000001')).toBe(-1);
  });

  it('an explicit version wins', async () => {
    const r = await runStep(versionStep, { VERSION: '3.2', VERSION_MAJOR: '1' });
    expect(r.outputs.version).toBe('3.2');
  });
});

describe('model-ci-comment.yml: the pull request number from a fork\'s artifact', () => {
  const prStep = step('.github/workflows/model-ci-comment.yml', 'comment', 'pr');
  const artifact = (pr: string, body: 'file' | 'missing' | 'symlink' = 'file') => {
    const dir = tmp();
    writeFileSync(join(dir, 'pr-number'), pr);
    if (body === 'file') writeFileSync(join(dir, 'comment.md'), '<!-- mlloop:gate -->\nreport');
    if (body === 'symlink') symlinkSync('/etc/passwd', join(dir, 'comment.md'));
    return dir;
  };

  it('accepts an integer', async () => {
    const r = await runStep(prStep, { DIR: artifact('42\n') });
    expect(r.code).toBe(0);
    expect(r.outputs.number).toBe('42');
  });

  it.each([
    ['a command after the number', '42; touch /tmp/x'],
    ['zero', '0'],
    ['a negative number', '-1'],
    ['an expression', '${{ github.token }}'],
    ['nothing', ''],
    ['a number too long to be one', '1'.repeat(40)],
  ])('refuses %s', async (_what, pr) => {
    const r = await runStep(prStep, { DIR: artifact(pr) });
    expect(r.code).toBe(1);
    expect(r.outputs.number).toBeUndefined();
  });

  it.each(['missing', 'symlink'] as const)('refuses a comment.md that is %s', async (body) => {
    const r = await runStep(prStep, { DIR: artifact('42', body) });
    expect(r.code).toBe(1);
    expect(r.outputs.number).toBeUndefined();
  });
});

describe('rollback.yml: the applications a repository may roll back', () => {
  const check = step('.github/workflows/rollback.yml', 'rollback', 'check the application');

  it.each([
    ['ocr', 'ocr', 0],
    ['ocr', 'billing, ocr', 0],
    ['billing', 'ocr', 1],
    ['ocr-evil', 'ocr', 1],
    ['', 'ocr', 1],
    ['$(touch /tmp/mlloop-pwned)', 'ocr', 1],
  ])('app %j with allowed %j → exit %i', async (app, allowed, code) => {
    const r = await runStep(check, { APP: app, ALLOWED: allowed });
    expect(r.code).toBe(code);
    expect(existsSync('/tmp/mlloop-pwned')).toBe(false);
  });
});
