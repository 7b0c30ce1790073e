// e2e through dist/: the gate action as the runner runs it (INPUT_*, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY,
// GITHUB_EVENT_PATH), posting its sticky report, and the fork flow: read-only token → body as output and
// file → `mlloop comment` from the trusted workflow_run workflow.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { GitHubServer } from '../support/github-server.js';
import { cli, runAction } from '../support/run.js';
import { writePair, V25, V30 } from '../gate/fixtures.js';
import { pullRequestEvent } from './events.js';

const RW = 'ghs_0123456789abcdefRWtoken';
const RO = 'ghs_fedcba9876543210ROtoken';
const PAT = 'ghp_trustedWorkflowToken0042';
let gh: GitHubServer;
beforeAll(async () => {
  gh = await GitHubServer.start({ tokens: { [RW]: { login: 'github-actions[bot]', app: true }, [RO]: { login: 'github-actions[bot]', app: true, readOnly: true }, [PAT]: { login: 'github-actions[bot]', app: true } } });
});
afterAll(() => gh.close());

function workspace() {
  const p = writePair(V30, V25);
  writeFileSync(join(p.dir, 'gate.yaml'), 'name: ocr-gate\nmetrics:\n  overall.f1: {direction: higher, min: 0.8, max_regression: 0}\n  latency_ms.p95: {direction: lower, max: 400}\nper_field: {metric: recall, max_regression: 0.02, min_support: 20}\nsignificance: {resamples: 1000}\n');
  return p;
}

const inputs = (p: ReturnType<typeof workspace>, token: string) => ({
  candidate: 'candidate.metrics.json',
  baseline: 'baseline.metrics.json',
  'candidate-samples': 'candidate.samples.jsonl',
  'baseline-samples': 'baseline.samples.jsonl',
  policy: 'gate.yaml',
  comment: 'true',
  token,
  'api-url': gh.url,
});

/** The token appears nowhere but in the runner's ::add-mask:: command (which hides it from the log). */
function noToken(text: string, ...tokens: string[]) {
  text = text.replace(/^::add-mask::.*$/gm, '');
  for (const t of tokens) {
    expect(text).not.toContain(t);
    expect(text).not.toContain(Buffer.from(t).toString('base64'));
  }
}

describe('gate action', () => {
  it('a policy that is not valid YAML fails with an annotation on its file, line and column (exit 2)', async () => {
    const p = workspace();
    writeFileSync(join(p.dir, 'gate.yaml'), 'metrics:\n  overall.f1: {direction: higher\n');
    const r = await runAction('gate', { ...inputs(p, RW), comment: 'false' }, { cwd: p.dir });
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/^::error file=gate\.yaml,line=3,col=1::\S*gate\.yaml: not valid YAML \(line 3, column 1\)/m);
    expect(r.outputs.pass).toBeUndefined();
  });

  it('on a pull request from the same repository: passes, writes the summary and one sticky comment, updated on rerun', async () => {
    const p = workspace();
    const event = pullRequestEvent({ number: 21, fork: false });
    const r = await runAction('gate', inputs(p, RW), { cwd: p.dir, event });
    expect(r.stdout).not.toMatch(/::error::/);
    expect(r.code).toBe(0);
    expect(r.outputs.pass).toBe('true');
    expect(r.outputs['comment-url']).toMatch(/\/pull\/21#issuecomment-\d+/);
    expect(r.summary).toMatch(/### ✅ mlloop gate `ocr-gate`: pass/);
    expect(r.summary).toMatch(/```mermaid\nxychart-beta/);
    const comments = gh.comments('acme', 'ocr-fields', 21);
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body).toContain('<!-- mlloop:ocr-gate -->');
    expect(comments[0]!.body).toContain('mlloop gate `ocr-gate`: pass');
    expect(JSON.parse(r.outputs.result!).verdict_path).toBe(join(p.dir, 'verdict.json'));
    noToken(r.stdout + r.stderr + JSON.stringify(r.outputs) + r.summary + readFileSync(join(p.dir, 'verdict.json'), 'utf8'), RW);
    expect(r.masked).toContain(RW);
    // A second run (new commit) updates the same comment.
    const again = await runAction('gate', { ...inputs(p, RW), baseline: 'candidate.metrics.json', 'baseline-samples': 'candidate.samples.jsonl' }, { cwd: p.dir, event });
    expect(again.code).toBe(1);
    const after = gh.comments('acme', 'ocr-fields', 21);
    expect(after).toHaveLength(1);
    expect(after[0]!.id).toBe(comments[0]!.id);
    expect(after[0]!.body).toMatch(/❌ mlloop gate `ocr-gate`: fail/);
    expect(again.stdout).toMatch(/::error::gate ocr-gate failed: overall.f1 significance/);
  });

  it('on a fork\'s pull request (read-only token): the job result is the verdict, the body goes to an output and a file, and `mlloop comment` posts it', async () => {
    const p = workspace();
    const sha = '1234567'.padEnd(40, '0');
    const event = pullRequestEvent({ number: 22, fork: true, sha });
    const r = await runAction('gate', { ...inputs(p, RO), 'comment-file': 'report/mlloop-comment.md' }, { cwd: p.dir, event });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/::error::/);
    expect(r.stdout).toMatch(/::warning::the token cannot comment on #22 \(a pull request from a fork gets a read-only token\)/);
    expect(gh.comments('acme', 'ocr-fields', 22)).toHaveLength(0);
    expect(r.outputs['comment-body']).toMatch(/^<!-- mlloop:ocr-gate -->\n### ✅ mlloop gate/);
    expect(r.outputs['comment-url']).toBe('');
    const file = join(p.dir, 'report/mlloop-comment.md');
    expect(readFileSync(file, 'utf8')).toBe(r.outputs['comment-body']);
    expect(JSON.parse(readFileSync(`${file}.json`, 'utf8'))).toEqual({ pr: 22, marker: 'ocr-gate', repository: 'acme/ocr-fields' });
    noToken(r.stdout + r.stderr + JSON.stringify(r.outputs) + r.summary, RO);

    // The trusted workflow_run workflow: wrong head commit is refused, the right one posts.
    const env = { GITHUB_TOKEN: PAT, GITHUB_REPOSITORY: 'acme/ocr-fields' };
    gh.addPull('acme', 'ocr-fields', { number: 22, head: 'better-amounts', base: 'main', headRepo: 'alice-ml/ocr-fields', fork: true });
    gh.state.pulls.find((x) => x.number === 22)!.head.sha = sha;
    const wrong = await cli(['comment', '--body', file, '--head-sha', 'b'.repeat(40), '--api-url', gh.url], { cwd: p.dir, env });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/pull request #22 is at 1234567, not at bbbbbbb/);
    const posted = await cli(['comment', '--body', file, '--head-sha', sha, '--api-url', gh.url, '--json'], { cwd: p.dir, env });
    expect(posted.code, posted.stderr).toBe(0);
    expect(JSON.parse(posted.stdout)).toMatchObject({ action: 'created', pr: 22, marker: 'ocr-gate' });
    const again = await cli(['comment', '--body', file, '--pr', '22', '--api-url', gh.url, '--json'], { cwd: p.dir, env });
    expect(JSON.parse(again.stdout).action).toBe('unchanged');
    expect(gh.comments('acme', 'ocr-fields', 22)).toHaveLength(1);
    expect(gh.comments('acme', 'ocr-fields', 22)[0]!.body).toBe(r.outputs['comment-body']);
    noToken(posted.stdout + posted.stderr + wrong.stderr + again.stdout, PAT);
  });

  it('actions/comment posts a prepared body in a workflow_run job (outputs, masked token)', async () => {
    const p = workspace();
    const dir = join(p.dir, 'report');
    const r1 = await runAction('gate', { ...inputs(p, RO), 'comment-file': 'report/mlloop-comment.md' }, { cwd: p.dir, event: pullRequestEvent({ number: 23, fork: true }) });
    expect(r1.code).toBe(0);
    const r = await runAction('comment', { body: join(dir, 'mlloop-comment.md'), token: PAT, 'api-url': gh.url }, { cwd: p.dir, eventName: 'workflow_run', event: { action: 'completed', workflow_run: { id: 99, head_sha: 'f'.repeat(40), event: 'pull_request', pull_requests: [] } } });
    expect(r.code, r.stdout).toBe(0);
    expect(r.outputs.action).toBe('created');
    expect(r.outputs['comment-url']).toMatch(/\/pull\/23#issuecomment-/);
    expect(r.masked).toContain(PAT);
    noToken(r.stdout + JSON.stringify(r.outputs), PAT);
    expect(gh.comments('acme', 'ocr-fields', 23)[0]!.body).toBe(readFileSync(join(dir, 'mlloop-comment.md'), 'utf8'));
  });

  it('the comment command with a read-only token fails with a fix, and never prints the token', async () => {
    const p = workspace();
    writeFileSync(join(p.dir, 'body.md'), 'hello');
    const r = await cli(['comment', '--body', 'body.md', '--pr', '5', '--repository', 'acme/ocr-fields', '--token', RO, '--api-url', gh.url], { cwd: p.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/may not comment on acme\/ocr-fields#5 \(403\)[\s\S]*pull-requests: write/);
    noToken(r.stdout + r.stderr, RO);
    expect(existsSync(join(p.dir, 'body.md'))).toBe(true);
  });
});
