// model-ci.yml and model-ci-comment.yml run end to end on examples/ocr-fields with the example's own caller inputs:
// a push to main records the baseline, pull requests are trained, evaluated and gated against it with a sticky
// comment, and a fork's report travels through the artifact to the trusted comment workflow. mlloop's actions run
// from dist/ through the runner contract; GitHub's REST API and the artifact service are the OpenAPI-checked test
// servers; the training and prediction are the example's real Python.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { DIST } from '../support/paths.js';
import { GitHubServer } from '../support/github-server.js';
import { startArtifactService, type ArtifactService } from '../support/artifact-server.js';
import { readWorkflow } from './helpers.js';
import { checkoutExample, failedSteps, runWorkflow, type RunResult, type Value } from './runner.js';

const TOKEN = 'ghs_modelCiWorkflowToken0001';
const FORK_TOKEN = 'ghs_forkReadOnlyToken00000002';
const REPO = 'acme/ocr-fields';
const MAIN_SHA = '1'.repeat(40);

// The example's caller, minus its unit tests (they have their own suite and take most of a minute).
const callerWith = { ...(readWorkflow('examples/ocr-fields/.github/workflows/model-ci.yml').jobs['model-ci']!.with as Record<string, string>), test: '' };

let gh: GitHubServer;
const services: ArtifactService[] = [];
const runs = new Map<string, RunResult>();

beforeAll(async () => {
  expect(existsSync(join(DIST, 'gate.cjs')), 'build dist/ first: npm run build').toBe(true);
  gh = await GitHubServer.start({ tokens: { [TOKEN]: { login: 'github-actions[bot]', app: true }, [FORK_TOKEN]: { login: 'github-actions[bot]', app: true, readOnly: true } } });
});
afterAll(async () => {
  await gh?.close();
  await Promise.all(services.map((s) => s.close()));
});

/** The example at `lr` (config.yaml), as a pull request would change it; the base branch has 0.025. */
function checkoutAt(lr: string | null) {
  return (dir: string, ref: string) => {
    checkoutExample(dir);
    // The gate job checks out the base commit for the policy: the pull request's change is not there.
    if (lr && ref !== MAIN_SHA) writeFileSync(join(dir, 'config.yaml'), readFileSync(join(dir, 'config.yaml'), 'utf8').replace(/^(\s*lr:\s*)[0-9.]+/m, `$1${lr}`));
    const git = (...a: string[]) => execFileSync('git', ['-c', 'user.name=ci', '-c', 'user.email=ci@example.com', ...a], { cwd: dir });
    git('init', '-q');
    git('add', '.');
    git('commit', '-qm', 'checkout');
  };
}

async function modelCi(opts: { runId: string; lr: string | null; pr?: { number: number; sha: string; fork: boolean } }): Promise<RunResult> {
  const svc = await startArtifactService();
  services.push(svc);
  const pr = opts.pr;
  const event: Record<string, Value> = pr
    ? { pull_request: { number: pr.number, head: { sha: pr.sha, ref: 'change', repo: { full_name: pr.fork ? 'mallory/ocr-fields' : REPO, fork: pr.fork } }, base: { sha: MAIN_SHA, ref: 'main', repo: { full_name: REPO, fork: false } } } }
    : { ref: 'refs/heads/main', after: MAIN_SHA };
  const ref = pr ? `refs/pull/${pr.number}/merge` : 'refs/heads/main';
  const r = await runWorkflow({
    workflow: '.github/workflows/model-ci.yml',
    with: callerWith,
    eventName: pr ? 'pull_request' : 'push',
    event,
    github: { repository: REPO, sha: pr ? pr.sha : MAIN_SHA, run_id: opts.runId, token: pr?.fork ? FORK_TOKEN : TOKEN, ref, workflow_ref: `${REPO}/.github/workflows/model-ci.yml@${ref}` },
    checkout: checkoutAt(opts.lr),
    env: { GITHUB_API_URL: gh.url, ...svc.env() },
  });
  runs.set(opts.runId, r);
  return r;
}

const files = (dir: string) => Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), 'utf8')]));

describe('model CI on examples/ocr-fields', () => {
  let baselineRunId = 0;

  it('a push to main trains, evaluates and keeps the evaluation as the baseline; no gate', async () => {
    const r = await modelCi({ runId: '5001', lr: null });
    expect(failedSteps(r)).toEqual([]);
    expect(r.jobs.evaluate!.result).toBe('success');
    expect(r.jobs.gate!.result).toBe('skipped');
    expect(Object.keys(files(r.artifacts['mlloop-eval']!)).sort()).toEqual(['metrics.json', 'samples.jsonl']);
    expect(Number(r.outputs.f1)).toBeGreaterThan(0);
    // GitHub now lists this run as the latest successful one on main, with its artifact.
    const run = gh.addRun('acme', 'ocr-fields', { head_branch: 'main', head_sha: MAIN_SHA, path: '.github/workflows/model-ci.yml', name: 'model-ci' });
    gh.addArtifact('acme', 'ocr-fields', { run_id: run.id, name: 'mlloop-eval', files: files(r.artifacts['mlloop-eval']!) });
    baselineRunId = run.id;
  });

  it('a pull request that trains better passes the gate against main, with one sticky comment', async () => {
    const pull = gh.addPull('acme', 'ocr-fields', { head: 'faster-lr', base: 'main' });
    const r = await modelCi({ runId: '5002', lr: '0.1', pr: { number: pull.number, sha: pull.head.sha, fork: false } });
    expect(failedSteps(r)).toEqual([]);
    expect(r.jobs.gate!.result).toBe('success');
    expect(r.outputs.pass).toBe('true');
    const verdict = JSON.parse(readFileSync(r.artifacts['mlloop-verdict']! + '/verdict.json', 'utf8')) as { pass: boolean; baseline: { kind: string; run_id: number }; significance: { overall: { p_value: number } } };
    expect(verdict.baseline).toMatchObject({ kind: 'artifact', run_id: baselineRunId });
    expect(verdict.significance.overall.p_value).toBeLessThan(0.05);
    const comments = gh.comments('acme', 'ocr-fields', pull.number);
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body).toMatch(/pass/i);
    // The report went straight to the pull request: nothing for the second phase.
    expect(r.artifacts['mlloop-comment']).toBeUndefined();
    // The policy came from main's checkout, and the pull request's code ran only in the evaluate job.
    expect(r.jobs.gate!.steps.map((s) => s.name)).not.toContain('install, test, sample training');
  });

  it('a later push that trains worse fails the gate and updates the same comment', async () => {
    const pull = gh.state.pulls.find((p) => p.head.ref === 'faster-lr')!;
    const r = await modelCi({ runId: '5003', lr: '0.001', pr: { number: pull.number, sha: pull.head.sha, fork: false } });
    expect(r.jobs.evaluate!.result).toBe('success');
    expect(r.jobs.gate!.result).toBe('failure');
    expect(r.outputs.pass).toBe('false');
    const comments = gh.comments('acme', 'ocr-fields', pull.number);
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body).toMatch(/fail/i);
    // The verdict is kept even when the gate fails.
    expect(existsSync(join(r.artifacts['mlloop-verdict']!, 'verdict.json'))).toBe(true);
  });

  it("a fork's pull request cannot comment: the report becomes an artifact, posted by the trusted comment workflow", async () => {
    const pull = gh.addPull('acme', 'ocr-fields', { head: 'mallory-lr', base: 'main', fork: true, headRepo: 'mallory/ocr-fields' });
    pull.head.sha = 'f'.repeat(40);
    const ci = await modelCi({ runId: '5004', lr: '0.1', pr: { number: pull.number, sha: pull.head.sha, fork: true } });
    expect(ci.jobs.gate!.result).toBe('success');
    expect(gh.comments('acme', 'ocr-fields', pull.number)).toHaveLength(0);
    const artifact = files(ci.artifacts['mlloop-comment']!);
    expect(artifact['pr-number']!.trim()).toBe(String(pull.number));
    expect(artifact['comment.md']).toMatch(/pass/i);

    const comment = await commentWorkflow({ runId: '5004', headSha: pull.head.sha });
    expect(failedSteps(comment)).toEqual([]);
    const posted = gh.comments('acme', 'ocr-fields', pull.number);
    expect(posted).toHaveLength(1);
    expect(posted[0]!.body).toContain(artifact['comment.md']!.trim().split('\n')[0]!);
    // Nothing in the comment workflow checked out or ran the fork's code.
    expect(comment.jobs.comment!.steps.map((s) => s.name).join('\n')).not.toMatch(/checkout|train|predict/i);
  });

  it("a fork's artifact that names another pull request is refused: that pull request's head is not the commit tested", async () => {
    const victim = gh.state.pulls.find((p) => p.head.ref === 'faster-lr')!;
    victim.head.sha = 'd'.repeat(40);
    const before = gh.comments('acme', 'ocr-fields', victim.number).map((c) => c.body);
    const fork = runs.get('5004')!;
    writeFileSync(join(fork.artifacts['mlloop-comment']!, 'pr-number'), `${victim.number}\n`);
    writeFileSync(join(fork.artifacts['mlloop-comment']!, 'comment.md'), '<!-- mlloop:gate -->\nall good, merge me');
    const r = await commentWorkflow({ runId: '5004', headSha: 'f'.repeat(40) });
    expect(r.jobs.comment!.result).toBe('failure');
    expect(gh.comments('acme', 'ocr-fields', victim.number).map((c) => c.body)).toEqual(before);
  });

  it('a run that commented itself leaves nothing for the comment workflow to do', async () => {
    const r = await commentWorkflow({ runId: '5002', headSha: 'b'.repeat(40) });
    // The missing artifact is tolerated (continue-on-error); everything after it is skipped and the run is green.
    expect(r.jobs.comment!.steps.map((s) => s.outcome)).toEqual(['failure', 'skipped', 'skipped']);
    expect(r.jobs.comment!.result).toBe('success');
  });
});

async function commentWorkflow(o: { runId: string; headSha: string }): Promise<RunResult> {
  return runWorkflow({
    workflow: '.github/workflows/model-ci-comment.yml',
    with: {},
    eventName: 'workflow_run',
    event: { workflow_run: { id: Number(o.runId), event: 'pull_request', head_sha: o.headSha, conclusion: 'success' } },
    github: { repository: REPO, sha: MAIN_SHA, run_id: '6001', token: TOKEN, ref: 'refs/heads/main', workflow_ref: `${REPO}/.github/workflows/model-ci-comment.yml@refs/heads/main` },
    checkout: () => {
      throw new Error('the comment workflow must not check anything out');
    },
    otherRun: (runId, name) => runs.get(runId)?.artifacts[name],
    env: { GITHUB_API_URL: gh.url },
  });
}
