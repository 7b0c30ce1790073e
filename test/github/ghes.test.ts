// GitHub Enterprise Server: the REST API lives at <server>/api/v3, not at the root. mlloop reaches it from the
// runner's context (GITHUB_API_URL) in an action and from --api-url or GITHUB_API_URL in the CLI; the test
// server answers only under /api/v3, so a call to the root (github.com's layout) would fail.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GitHubServer } from '../support/github-server.js';
import { cli, runAction } from '../support/run.js';
import { writePair, V25, V30 } from '../gate/fixtures.js';
import { pullRequestEvent } from './events.js';

const TOKEN = 'ghs_enterprise0123456789token';
let gh: GitHubServer;
beforeAll(async () => {
  gh = await GitHubServer.start({ tokens: { [TOKEN]: { login: 'github-actions[bot]', app: true } }, prefix: '/api/v3' });
});
afterAll(() => gh.close());

function workspace() {
  const p = writePair(V30, V25);
  writeFileSync(join(p.dir, 'gate.yaml'), 'name: ghes-gate\nmetrics:\n  overall.f1: {direction: higher, min: 0.8, max_regression: 0}\n');
  return p;
}
const gateArgs = ['gate', '--candidate', 'candidate.metrics.json', '--baseline', 'baseline.metrics.json', '--policy', 'gate.yaml'];

describe('GitHub Enterprise Server (API under /api/v3)', () => {
  it('the test server answers only under its prefix', async () => {
    expect(gh.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/v3$/);
    const root = new URL(gh.url).origin;
    expect((await fetch(`${root}/user`, { headers: { authorization: `token ${TOKEN}` } })).status).toBe(404);
    expect((await fetch(`${gh.url}/repos/acme/ocr-fields/issues/1/comments`, { headers: { authorization: `token ${TOKEN}` } })).status).toBe(200);
  });

  it('mlloop comment --api-url posts its sticky comment, and updates it on a second run', async () => {
    const p = workspace();
    writeFileSync(join(p.dir, 'body.md'), 'model report\n');
    const args = ['comment', '--body', 'body.md', '--pr', '31', '--repository', 'acme/ocr-fields', '--api-url', gh.url, '--marker', 'ghes'];
    const first = await cli(args, { cwd: p.dir, env: { GITHUB_TOKEN: TOKEN } });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const again = await cli(args, { cwd: p.dir, env: { GITHUB_TOKEN: TOKEN } });
    expect(again.code).toBe(0);
    const comments = gh.comments('acme', 'ocr-fields', 31);
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body).toContain('model report');
  });

  it('the comment action takes the API URL from the runner (GITHUB_API_URL), and a cut report links the run on the same server', async () => {
    const p = workspace();
    writeFileSync(join(p.dir, 'body.md'), `report from the action\n${'| row | 0.93 |\n'.repeat(6000)}`);
    const server = new URL(gh.url).origin;
    const r = await runAction('comment', { body: 'body.md', pr: '32', token: TOKEN }, { cwd: p.dir, env: { GITHUB_API_URL: gh.url, GITHUB_SERVER_URL: server } });
    expect(r.stdout).not.toMatch(/::error/);
    expect(r.code).toBe(0);
    expect(r.outputs.action).toBe('created');
    const [c] = gh.comments('acme', 'ocr-fields', 32);
    expect(c!.body).toContain('report from the action');
    expect(c!.body).toContain(`[the job summary](${server}/acme/ocr-fields/actions/runs/1234567890/attempts/1)`);
  });

  it('gate --comment posts the verdict through the CLI with --api-url and through the action with GITHUB_API_URL', async () => {
    const p = workspace();
    const c = await cli([...gateArgs, '--comment', '--pr', '33', '--repository', 'acme/ocr-fields', '--api-url', gh.url], { cwd: p.dir, env: { GITHUB_TOKEN: TOKEN } });
    expect(c.code).toBe(0);
    expect(gh.comments('acme', 'ocr-fields', 33)).toHaveLength(1);
    const a = await runAction('gate', { candidate: 'candidate.metrics.json', baseline: 'baseline.metrics.json', policy: 'gate.yaml', comment: 'true', token: TOKEN }, { cwd: p.dir, event: pullRequestEvent({ number: 34, fork: false }), env: { GITHUB_API_URL: gh.url } });
    expect(a.code).toBe(0);
    expect(a.outputs['comment-url']).toMatch(/\/pull\/34#issuecomment-\d+/);
    expect(gh.comments('acme', 'ocr-fields', 34)[0]!.body).toContain('<!-- mlloop:ghes-gate -->');
  });

  it('ct handoff sends its repository_dispatch to the enterprise API', async () => {
    const p = workspace();
    expect((await cli([...gateArgs, '--out', 'verdict.json'], { cwd: p.dir })).code).toBe(0);
    const before = gh.state.repositoryDispatches.length;
    const r = await cli(['ct', 'handoff', '--verdict', 'verdict.json', '--repository', 'acme/ocr-fields', '--api-url', gh.url, '--source-commit', 'b'.repeat(40), '--no-require-improvement'], { cwd: p.dir, env: { GITHUB_TOKEN: TOKEN } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(gh.state.repositoryDispatches.slice(before)).toMatchObject([{ repo: 'acme/ocr-fields', event_type: 'mlloop-candidate' }]);
    expect(gh.requests.filter((q) => q.operationId === 'repos/create-dispatch-event').length).toBeGreaterThan(0);
  });
});
