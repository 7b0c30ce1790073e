// The GitHub API test server itself: it must refuse what GitHub refuses, so that tests using it mean something.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitHubServer, zipFiles } from '../support/github-server.js';
import { createGitHub, type GitHub } from '../../src/core/github/client.js';
import { silentLogger } from '../../src/core/log.js';
import { inflateRawSync } from 'node:zlib';

let gh: GitHubServer;
let rw: GitHub;
let ro: GitHub;

beforeAll(async () => {
  gh = await GitHubServer.start({ tokens: { ghp_rw_token: { login: 'mlloop-bot' }, ghs_ro_token: { login: 'github-actions[bot]', readOnly: true, app: true } } });
  rw = await createGitHub({ token: 'ghp_rw_token', baseUrl: gh.url, log: silentLogger, retries: 0 });
  ro = await createGitHub({ token: 'ghs_ro_token', baseUrl: gh.url, log: silentLogger, retries: 0 });
});
afterAll(() => gh.close());

describe('GitHub API test server', () => {
  it('pages issue comments with Link headers, as Octokit paginate expects', async () => {
    gh.addComments('acme', 'ocr', 1, 230, { login: 'someone' });
    const all = await rw.paginate(rw.rest.issues.listComments, { owner: 'acme', repo: 'ocr', issue_number: 1, per_page: 100 });
    expect(all).toHaveLength(230);
    const pages = gh.requests.filter((r) => r.operationId === 'issues/list-comments');
    expect(pages.map((r) => r.query.page ?? '1')).toEqual(['1', '2', '3']);
    const first = await rw.rest.issues.listComments({ owner: 'acme', repo: 'ocr', issue_number: 1, per_page: 100 });
    expect(first.headers.link).toMatch(/page=2>; rel="next".*page=3>; rel="last"/);
  });

  it('validates bodies against the OpenAPI schema (422) and knows only real routes (404)', async () => {
    // Deliberately wrong requests, as a buggy client would send them (typed loosely on purpose).
    const raw = rw.request as (route: string, params: Record<string, unknown>) => Promise<unknown>;
    await expect(raw('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { owner: 'acme', repo: 'ocr', issue_number: 1, text: 'no body field' })).rejects.toMatchObject({ status: 422 });
    await expect(rw.request('POST /repos/{owner}/{repo}/dispatches', { owner: 'acme', repo: 'ocr', event_type: '' })).rejects.toMatchObject({ status: 422 });
    await expect(raw('GET /repos/{owner}/{repo}/issues/{issue_number}/comments', { owner: 'acme', repo: 'ocr', issue_number: 1, per_page: 'many' })).rejects.toMatchObject({ status: 422 });
    await expect(raw('GET /repos/{owner}/{repo}/issues/{issue_number}/comments', { owner: 'acme', repo: 'ocr', issue_number: 1, perpage: 100 })).rejects.toMatchObject({ status: 422 });
    await expect(rw.request('GET /repos/{owner}/{repo}/no-such-thing', { owner: 'acme', repo: 'ocr' })).rejects.toMatchObject({ status: 404 });
  });

  it('checks Authorization: 401 without or with a wrong token; 403 on writes with a read-only token', async () => {
    const anon = await createGitHub({ token: 'unknown-token', baseUrl: gh.url, log: silentLogger, retries: 0 });
    await expect(anon.rest.pulls.list({ owner: 'acme', repo: 'ocr' })).rejects.toMatchObject({ status: 401 });
    const res = await fetch(`${gh.url}/repos/acme/ocr/pulls`);
    expect(res.status).toBe(401);
    await expect(ro.rest.issues.createComment({ owner: 'acme', repo: 'ocr', issue_number: 1, body: 'x' })).rejects.toMatchObject({ status: 403 });
    expect((await ro.rest.issues.listComments({ owner: 'acme', repo: 'ocr', issue_number: 1 })).status).toBe(200);
    await expect(ro.rest.users.getAuthenticated()).rejects.toMatchObject({ status: 403 });
    expect((await rw.rest.users.getAuthenticated()).data.login).toBe('mlloop-bot');
  });

  it('serves pulls, dispatches, workflow runs and artifacts from its state and records them', async () => {
    const pr = await rw.rest.pulls.create({ owner: 'acme', repo: 'gitops', head: 'mlloop/ocr-prod', base: 'main', title: 'deploy(ocr/prod): ocr-v3.2' });
    expect(pr.status).toBe(201);
    await expect(rw.rest.pulls.create({ owner: 'acme', repo: 'gitops', head: 'mlloop/ocr-prod', base: 'main', title: 'again' })).rejects.toMatchObject({ status: 422 });
    const listed = await rw.rest.pulls.list({ owner: 'acme', repo: 'gitops', head: 'acme:mlloop/ocr-prod', state: 'open' });
    expect(listed.data.map((p) => p.number)).toEqual([pr.data.number]);
    await rw.rest.issues.addLabels({ owner: 'acme', repo: 'gitops', issue_number: pr.data.number, labels: ['mlloop', 'deploy'] });
    expect((await rw.rest.pulls.get({ owner: 'acme', repo: 'gitops', pull_number: pr.data.number })).data.labels.map((l) => l.name)).toEqual(['mlloop', 'deploy']);
    expect((await rw.rest.repos.get({ owner: 'acme', repo: 'gitops' })).data.default_branch).toBe('main');
    await rw.rest.pulls.update({ owner: 'acme', repo: 'gitops', pull_number: pr.data.number, state: 'closed' });
    expect((await rw.rest.pulls.get({ owner: 'acme', repo: 'gitops', pull_number: pr.data.number })).data.state).toBe('closed');

    expect((await rw.rest.repos.createDispatchEvent({ owner: 'acme', repo: 'ocr', event_type: 'mlloop-retrain', client_payload: { mode: 'incremental' } })).status).toBe(204);
    expect(gh.state.repositoryDispatches.at(-1)).toEqual({ repo: 'acme/ocr', event_type: 'mlloop-retrain', client_payload: { mode: 'incremental' } });
    expect((await rw.rest.actions.createWorkflowDispatch({ owner: 'acme', repo: 'ocr', workflow_id: 'train.yml', ref: 'main', inputs: { epochs: '3' } })).status).toBe(204);
    expect(gh.state.workflowDispatches.at(-1)).toMatchObject({ workflow_id: 'train.yml', ref: 'main' });

    const ok = gh.addRun('acme', 'ocr', { head_branch: 'main' });
    gh.addRun('acme', 'ocr', { head_branch: 'main', conclusion: 'failure' });
    gh.addRun('acme', 'ocr', { head_branch: 'feature' });
    const runs = await rw.rest.actions.listWorkflowRuns({ owner: 'acme', repo: 'ocr', workflow_id: 'ci.yml', branch: 'main', status: 'success' });
    expect(runs.data.workflow_runs.map((r) => r.id)).toEqual([ok.id]);
    const art = gh.addArtifact('acme', 'ocr', { run_id: ok.id, name: 'mlloop-eval', files: { 'metrics.json': '{"f1": 0.9}' } });
    const arts = await rw.rest.actions.listWorkflowRunArtifacts({ owner: 'acme', repo: 'ocr', run_id: ok.id });
    expect(arts.data.artifacts.map((a) => a.name)).toEqual(['mlloop-eval']);
    const dl = await rw.rest.actions.downloadArtifact({ owner: 'acme', repo: 'ocr', artifact_id: art.id, archive_format: 'zip', request: { redirect: 'manual' } }).catch((e) => e.response);
    expect(dl.status).toBe(302);
  });

  it('writes real zip archives', () => {
    const zip = zipFiles({ 'a/metrics.json': '{"x":1}' });
    expect(zip.readUInt32LE(0)).toBe(0x04034b50);
    const nameLen = zip.readUInt16LE(26);
    const size = zip.readUInt32LE(18);
    expect(inflateRawSync(zip.subarray(30 + nameLen, 30 + nameLen + size)).toString()).toBe('{"x":1}');
  });

  it('Octokit retries a server error through the shared client', async () => {
    const retrying = await createGitHub({ token: 'ghp_rw_token', baseUrl: gh.url, log: silentLogger, retries: 2 });
    gh.failNext(1, 502, (m, p) => m === 'GET' && p.endsWith('/pulls'));
    const before = gh.requests.length;
    const r = await retrying.rest.pulls.list({ owner: 'acme', repo: 'gitops' });
    expect(r.status).toBe(200);
    expect(gh.requests.slice(before).map((x) => x.status)).toEqual([502, 200]);
  });
});
