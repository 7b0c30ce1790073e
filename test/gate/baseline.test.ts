// Baseline resolution: the release deployed in a GitOps environment (a real git repository, local path and
// file:// URL), and the artifact of the latest successful run on the base branch (@actions/artifact against
// the OpenAPI-checked GitHub test server).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, cli, runAction } from '../support/run.js';
import { GitHubServer } from '../support/github-server.js';
import { writePair, V25, V30 } from './fixtures.js';

async function git(cwd: string, ...args: string[]) {
  const r = await run('git', args, { cwd, env: { GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com' } });
  if (r.code !== 0) throw new Error(r.stderr);
  return r.stdout.trim();
}

const POLICY = 'name: ocr-gate\nmetrics:\n  overall.f1: {direction: higher, max_regression: 0}\nsignificance: {resamples: 500}\n';

async function gitopsRepo(p: ReturnType<typeof writePair>, release: Record<string, unknown> = {}) {
  const repo = join(p.dir, 'gitops');
  const env = join(repo, 'apps/ocr/prod');
  mkdirSync(env, { recursive: true });
  await git(repo, 'init', '-q', '-b', 'main');
  copyFileSync(p.baseline.metrics, join(env, 'metrics.json'));
  copyFileSync(p.baseline.samples, join(env, 'samples.jsonl'));
  writeFileSync(
    join(env, 'release.json'),
    JSON.stringify({
      schema: 'mlloop/release@1', app: 'ocr', env: 'prod', action: 'deploy', model_version: 'ocr-v2.5',
      image: 'registry.example.com/ocr-service:ocr-v2.5-commit-abc1234-20250601000000', source_commit: 'abc1234'.padEnd(40, '0'),
      dataset: 'invoice-test-2025Q1', run_url: 'https://github.com/acme/ocr-fields/actions/runs/99', metrics: { 'overall.f1': 0.9 },
      metrics_file: 'metrics.json', samples_file: 'samples.jsonl', deployed_at: '2025-06-01T00:00:00Z', promoted_from: null, rollback_of: null, reason: null, ...release,
    }),
  );
  await git(repo, 'add', '-A');
  await git(repo, 'commit', '-q', '-m', 'deploy(ocr/prod): ocr-v2.5');
  return { repo, commit: await git(repo, 'rev-parse', 'HEAD') };
}

describe('baseline from the GitOps repository', () => {
  it('gates against what prod runs (metrics and samples next to release.json) and records the origin', async () => {
    const p = writePair(V30, V25);
    writeFileSync(join(p.dir, 'gate.yaml'), POLICY);
    const { repo, commit } = await gitopsRepo(p);
    for (const where of [repo, `file://${repo}`]) {
      const r = await cli(['gate', '--candidate', p.candidate.metrics, '--candidate-samples', p.candidate.samples, '--baseline-gitops', where, '--app', 'ocr', '--env', 'prod', '--policy', join(p.dir, 'gate.yaml'), '--json', '--out', join(p.dir, 'v.json')]);
      expect(r.code, r.stderr).toBe(0);
      const v = JSON.parse(r.stdout);
      expect(v.baseline).toMatchObject({ kind: 'gitops', app: 'ocr', env: 'prod', commit, model_version: 'ocr-v2.5', dataset: 'invoice-test-2025Q1', source_commit: 'abc1234'.padEnd(40, '0'), metrics_file: 'apps/ocr/prod/metrics.json', samples_file: 'apps/ocr/prod/samples.jsonl' });
      expect(v.significance.overall.images).toBe(400);
    }
    // Read-only: the GitOps repository is untouched.
    expect(await git(repo, 'status', '--porcelain')).toBe('');
  });

  it.each([
    ['an environment without a release', {}, 'staging', /no release in ocr\/staging/],
    ['a release without metrics_file', { metrics_file: undefined }, 'prod', /"metrics_file" is missing[\s\S]*gitops deploy --metrics/],
    // release.json is read by the gitops reader: its schema allows only the evidence files next to it.
    ['a metrics_file outside the release folder', { metrics_file: '../../../../etc/passwd' }, 'prod', /apps\/ocr\/prod\/release\.json: \$\.metrics_file: must be one of "metrics\.json", null/],
    ['a release without samples for the significance test', { samples_file: null }, 'prod', /keeps no per-image samples/],
  ])('refuses %s (exit 2)', async (_, release, env, message) => {
    const p = writePair(V30, V25);
    writeFileSync(join(p.dir, 'gate.yaml'), POLICY);
    const { repo } = await gitopsRepo(p, release);
    const r = await cli(['gate', '--candidate', p.candidate.metrics, '--candidate-samples', p.candidate.samples, '--baseline-gitops', repo, '--app', 'ocr', '--env', env, '--policy', join(p.dir, 'gate.yaml')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('refuses app and env names that are not DNS-1123 labels (no path traversal)', async () => {
    const p = writePair(V30, V25);
    writeFileSync(join(p.dir, 'gate.yaml'), POLICY);
    const r = await cli(['gate', '--candidate', p.candidate.metrics, '--baseline-gitops', p.dir, '--app', '../ocr', '--env', 'prod', '--policy', join(p.dir, 'gate.yaml')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--app "\.\.\/ocr" is not a DNS-1123 label/);
  });
});

describe('baseline from the latest successful run on the base branch (action)', () => {
  const TOKEN = 'ghs_artifactReader000111';
  let gh: GitHubServer;
  beforeAll(async () => {
    gh = await GitHubServer.start({ tokens: { [TOKEN]: { login: 'github-actions[bot]', app: true, readOnly: true } } });
  });
  afterAll(() => gh.close());

  it('downloads the artifact of the newest successful run on the PR\'s base branch and records the run', async () => {
    const p = writePair(V30, V25);
    writeFileSync(join(p.dir, 'gate.yaml'), POLICY);
    const old = gh.addRun('acme', 'ocr-fields', { head_branch: 'main', head_sha: '1'.repeat(40) });
    gh.addArtifact('acme', 'ocr-fields', { run_id: old.id, name: 'mlloop-eval', files: { 'eval/metrics.json': readFileSync(p.candidate.metrics, 'utf8'), 'eval/samples.jsonl': readFileSync(p.candidate.samples, 'utf8') } });
    const good = gh.addRun('acme', 'ocr-fields', { head_branch: 'main', head_sha: '2'.repeat(40) });
    gh.addArtifact('acme', 'ocr-fields', { run_id: good.id, name: 'mlloop-eval', files: { 'eval/metrics.json': readFileSync(p.baseline.metrics, 'utf8'), 'eval/samples.jsonl': readFileSync(p.baseline.samples, 'utf8') } });
    gh.addRun('acme', 'ocr-fields', { head_branch: 'main', conclusion: 'failure', head_sha: '3'.repeat(40) });
    gh.addRun('acme', 'ocr-fields', { head_branch: 'feature-x', head_sha: '4'.repeat(40) });
    const event = { pull_request: { number: 3, base: { ref: 'main', repo: { full_name: 'acme/ocr-fields' } }, head: { ref: 'x', repo: { full_name: 'acme/ocr-fields', fork: false } } } };
    const r = await runAction(
      'gate',
      { candidate: 'candidate.metrics.json', 'candidate-samples': 'candidate.samples.jsonl', policy: 'gate.yaml', 'baseline-artifact': 'mlloop-eval', 'baseline-artifact-metrics': 'eval/metrics.json', 'baseline-artifact-samples': 'eval/samples.jsonl', token: TOKEN },
      { cwd: p.dir, event, env: { GITHUB_API_URL: gh.url, GITHUB_WORKFLOW_REF: 'acme/ocr-fields/.github/workflows/ci.yml@refs/pull/3/merge' } },
    );
    expect(r.stdout).not.toMatch(/::error::/);
    expect(r.code).toBe(0);
    const v = JSON.parse(readFileSync(join(p.dir, 'verdict.json'), 'utf8'));
    expect(v.baseline).toMatchObject({ kind: 'artifact', run_id: good.id, commit: '2'.repeat(40), artifact_name: 'mlloop-eval', model_version: 'ocr-v2.5', dataset: 'invoice-test-2025Q1' });
    const runsQuery = gh.requests.find((q) => q.operationId === 'actions/list-workflow-runs')!;
    expect(runsQuery.path).toBe('/repos/acme/ocr-fields/actions/workflows/ci.yml/runs');
    expect(runsQuery.query).toMatchObject({ branch: 'main', status: 'success' });
    expect(r.stdout.replace(/^::add-mask::.*$/gm, '')).not.toContain(TOKEN);
  });

  it('an expired artifact is an outside failure (exit 3), not a crash', async () => {
    const p = writePair(V30, V25);
    writeFileSync(join(p.dir, 'gate.yaml'), 'metrics:\n  overall.f1: {direction: higher, max_regression: 0}\n');
    const run = gh.addRun('acme', 'ocr-fields', { head_branch: 'release-2' });
    gh.addArtifact('acme', 'ocr-fields', { run_id: run.id, name: 'mlloop-eval', files: { 'metrics.json': '{}' }, expired: true });
    const r = await runAction('gate', { candidate: 'candidate.metrics.json', policy: 'gate.yaml', 'baseline-artifact': 'mlloop-eval', token: TOKEN, 'base-branch': 'release-2' }, { cwd: p.dir, env: { GITHUB_API_URL: gh.url } });
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/::error::cannot download artifact mlloop-eval \(\d+\) of run \d+/);
    expect(r.stdout).not.toMatch(/internal error/);
  });

  it('says which artifact it looked for when no successful run has it', async () => {
    const p = writePair(V30, V25);
    writeFileSync(join(p.dir, 'gate.yaml'), POLICY);
    const r = await runAction('gate', { candidate: 'candidate.metrics.json', policy: 'gate.yaml', 'baseline-artifact': 'nope', token: TOKEN, 'base-branch': 'release-1' }, { cwd: p.dir, env: { GITHUB_API_URL: gh.url } });
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/::error::no successful run on release-1 of acme\/ocr-fields has an artifact named nope/);
  });
});
