// mlloop on GitLab: the sticky merge request note of `comment` and `gate --comment`, through gitbeaker against the
// in-repo GitLab API test server (test/support/gitlab-server.ts), the CLI run in-process over src/.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { commentBody, markerTag } from '../../src/core/github/comments.js';
import { createGitLab, gitlabEndpoints, type GitLab } from '../../src/core/gitlab/client.js';
import { forgeFrom } from '../../src/core/gitlab/forge.js';
import { upsertNote } from '../../src/core/gitlab/notes.js';
import { gitlabFactsFromEnv } from '../../src/cli/runner-info.js';
import { silentLogger } from '../../src/core/log.js';
import { GitLabServer } from '../support/gitlab-server.js';
import { tempDir } from '../support/tmp.js';
import { writePair, V25, V30 } from '../gate/fixtures.js';

const BOT = 'mlloop-bot';
const TOKEN = 'glpat-Rw0123456789abcdefXYZ';
const READ_API = 'glpat-ReadApiOnly0123456789';
const READ_USER = 'glpat-ReadUserOnly012345678';
const GUEST = 'glpat-NoPermission012345678';
const PROJECT = 'acme/ml/ocr-fields';

let gl: GitLabServer;
let projectId: number;

beforeAll(async () => {
  gl = await GitLabServer.start({
    tokens: {
      [TOKEN]: { username: BOT, scopes: ['api'] },
      [READ_API]: { username: BOT, scopes: ['read_api'] },
      [READ_USER]: { username: BOT, scopes: ['read_user'] },
      [GUEST]: { username: 'guest', scopes: ['api'], readOnly: true },
      'glpat-reviewer-000000000': { username: 'reviewer', scopes: ['api'] },
    },
  });
  projectId = gl.addProject(PROJECT).id;
});
afterAll(() => gl.close());

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

async function mlloop(argv: readonly string[], cwd: string, env: Record<string, string | undefined> = {}): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  const code = await main({ argv, cwd, env: { PATH: process.env.PATH, ...env }, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), now: () => new Date('2025-06-12T11:05:22Z') });
  return { code, stdout, stderr };
}

/** GitLab's predefined variables in a merge request pipeline of PROJECT (CI_MERGE_REQUEST_IID unset: a branch pipeline). */
function pipeline(server: GitLabServer, mr: number | undefined, extra: Record<string, string> = {}): Record<string, string | undefined> {
  return {
    GITLAB_CI: 'true',
    CI: 'true',
    CI_SERVER_URL: server.url,
    CI_API_V4_URL: server.apiUrl,
    CI_PROJECT_ID: String(projectId),
    CI_PROJECT_PATH: PROJECT,
    CI_PIPELINE_SOURCE: mr ? 'merge_request_event' : 'push',
    CI_MERGE_REQUEST_IID: mr ? String(mr) : undefined,
    CI_MERGE_REQUEST_PROJECT_ID: mr ? String(projectId) : undefined,
    CI_JOB_URL: `${server.url}/${PROJECT}/-/jobs/9001`,
    GITLAB_TOKEN: TOKEN,
    ...extra,
  };
}

function bodyFile(text: string): { dir: string; file: string } {
  const dir = tempDir('gitlab');
  writeFileSync(join(dir, 'report.md'), text);
  return { dir, file: 'report.md' };
}

const mine = (mr: number) => gl.notes(projectId, mr).filter((n) => n.author.username === BOT);
const since = (n: number) => gl.requests.slice(n);

describe('mlloop comment on a GitLab merge request', () => {
  it('posts one sticky note, found by its marker and updated in place, with the body GitHub would get', async () => {
    gl.addMergeRequest(projectId, 7);
    gl.addNotes(projectId, 7, 3, { username: 'reviewer', body: (i) => (i === 1 ? `quoting ${markerTag('ocr-gate')} here` : `review ${i}`) });
    gl.createNote(projectId, 7, 'added 1 commit', 'developer', true);
    const w = bodyFile('| check | pass |\n| --- | --- |\n| overall.f1 | ✅ |\n');
    const first = await mlloop(['comment', '--body', w.file, '--marker', 'ocr-gate', '--json'], w.dir, pipeline(gl, 7));
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const r1 = JSON.parse(first.stdout);
    expect(r1).toMatchObject({ action: 'created', forge: 'gitlab', pr: 7, repository: String(projectId), marker: 'ocr-gate', scanned: 4 });
    expect(r1.url).toBe(`${gl.url}/${PROJECT}/-/merge_requests/7#note_${r1.id}`);
    expect(mine(7)).toHaveLength(1);
    expect(mine(7)[0]!.body).toBe(commentBody('| check | pass |\n| --- | --- |\n| overall.f1 | ✅ |\n', 'ocr-gate'));

    writeFileSync(join(w.dir, w.file), 'second report\n');
    const second = await mlloop(['comment', '--body', w.file, '--marker', 'ocr-gate', '--json'], w.dir, pipeline(gl, 7));
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ action: 'updated', id: r1.id });
    const third = await mlloop(['comment', '--body', w.file, '--marker', 'ocr-gate'], w.dir, pipeline(gl, 7));
    expect(third.code).toBe(0);
    expect(third.stdout).toBe(`note unchanged on ${projectId}!7: ${r1.url}\n`);
    expect(mine(7)).toHaveLength(1);
    expect(mine(7)[0]!.body).toBe(`${markerTag('ocr-gate')}\nsecond report\n`);
    // The reviewer's note quoting the marker is not the bot's and is never touched; nothing else was deleted.
    const quoting = gl.notes(projectId, 7).find((n) => n.body.startsWith('quoting'))!;
    expect(quoting.updated_at).toBe(quoting.created_at);
    expect(gl.notes(projectId, 7)).toHaveLength(5);
    // Every request carried the token in PRIVATE-TOKEN.
    expect(gl.requests.every((r) => r.auth === 'private-token' && r.token === TOKEN)).toBe(true);
  });

  it('finds its note on page 3 of 20-per-page notes and updates it, never a second copy', async () => {
    gl.addMergeRequest(projectId, 8);
    gl.addNotes(projectId, 8, 45, { username: 'reviewer' });
    const marked = gl.createNote(projectId, 8, `${markerTag('ocr-gate')}\nold report`, BOT);
    gl.addNotes(projectId, 8, 12, { username: 'reviewer' });
    const client = await createGitLab({ token: TOKEN, url: gl.apiUrl, log: silentLogger, retries: 0 });
    const before = gl.requests.length;
    const r = await upsertNote(client, { project: String(projectId), mr: 8, marker: 'ocr-gate', body: commentBody('new report', 'ocr-gate'), perPage: 20, log: silentLogger });
    expect(r).toMatchObject({ action: 'updated', id: marked.id, scanned: 58, removed: 0 });
    const lists = since(before).filter((q) => q.method === 'GET' && q.path.endsWith('/notes'));
    expect(lists.map((q) => q.query.page ?? '1')).toEqual(['1', '2', '3']);
    expect(lists.every((q) => q.query.per_page === '20' && q.query.sort === 'asc' && q.query.order_by === 'created_at')).toBe(true);
    expect(since(before).filter((q) => q.method === 'POST')).toHaveLength(0);
    expect(mine(8).map((n) => n.body)).toEqual([`${markerTag('ocr-gate')}\nnew report`]);
  });

  it('the CLI pages 100 at a time: a marker note at position 230 (page 3) is updated', async () => {
    gl.addMergeRequest(projectId, 9);
    gl.addNotes(projectId, 9, 229, { username: 'reviewer' });
    gl.createNote(projectId, 9, `${markerTag('gate')}\nold`, BOT);
    gl.addNotes(projectId, 9, 30, { username: 'reviewer' });
    const w = bodyFile('fresh\n');
    const before = gl.requests.length;
    const r = await mlloop(['comment', '--body', w.file, '--json'], w.dir, pipeline(gl, 9));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ action: 'updated', scanned: 260 });
    expect(since(before).filter((q) => q.path.endsWith('/notes') && q.method === 'GET').map((q) => `${q.query.page ?? '1'}/${q.query.per_page}`)).toEqual(['1/100', '2/100', '3/100']);
    expect(mine(9)).toHaveLength(1);
  });

  it('deletes copies of its note that a race left, keeping the oldest', async () => {
    gl.addMergeRequest(projectId, 10);
    const a = gl.createNote(projectId, 10, `${markerTag('gate')}\nrun 1`, BOT);
    gl.createNote(projectId, 10, `${markerTag('gate')}\nrun 2`, BOT);
    const w = bodyFile('run 3\n');
    const r = await mlloop(['comment', '--body', w.file, '--json'], w.dir, pipeline(gl, 10));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ action: 'updated', id: a.id, removed: 1 });
    expect(mine(10).map((n) => n.body)).toEqual([`${markerTag('gate')}\nrun 3\n`]);
  });
});

describe('mlloop comment with a prepared report', () => {
  it('takes the merge request and project from the sidecar gate wrote, and --head-sha guards the commit', async () => {
    gl.addMergeRequest(projectId, 17, { sha: 'c'.repeat(40) });
    const w = bodyFile(`${markerTag('ocr-gate')}\nprepared report\n`);
    writeFileSync(join(w.dir, `${w.file}.json`), JSON.stringify({ pr: 17, marker: 'ocr-gate', repository: PROJECT }));
    // Another job of a pipeline for no merge request: the sidecar says where the note goes.
    const env = { ...pipeline(gl, undefined), CI_PROJECT_ID: '999999' };
    const wrong = await mlloop(['comment', '--body', w.file, '--head-sha', 'd'.repeat(40)], w.dir, env);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain(`merge request !17 is at ccccccc, not at ddddddd`);
    expect(gl.notes(projectId, 17)).toHaveLength(0);
    const r = await mlloop(['comment', '--body', w.file, '--head-sha', 'c'.repeat(40), '--json'], w.dir, env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ action: 'created', pr: 17, repository: PROJECT, marker: 'ocr-gate' });
    expect(mine(17).map((n) => n.body)).toEqual([`${markerTag('ocr-gate')}\nprepared report\n`]);
  });
});

describe('quick actions', () => {
  it('a report line that GitLab would run as a quick action is written so that it is not (code blocks left as they are)', async () => {
    const mr = gl.addMergeRequest(projectId, 18);
    const report = 'model /merge candidate\n/merge\n/close\n```\n/approve stays code\n```\n| table | /x |\n';
    const w = bodyFile(report);
    const r = await mlloop(['comment', '--body', w.file, '--json'], w.dir, pipeline(gl, 18));
    expect(r.code, r.stderr).toBe(0);
    expect(gl.state.quickActions.filter((q) => q.mr === mr.id)).toEqual([]);
    expect(mr.state).toBe('opened');
    expect(mine(18)[0]!.body).toBe(`${markerTag('gate')}\nmodel /merge candidate\n&#47;merge\n&#47;close\n\`\`\`\n/approve stays code\n\`\`\`\n| table | /x |\n`);
    // The same run again finds its note unchanged: the comparison is on the body as posted.
    const again = await mlloop(['comment', '--body', w.file, '--json'], w.dir, pipeline(gl, 18));
    expect(JSON.parse(again.stdout).action).toBe('unchanged');
  });

  it('the test server runs quick actions as GitLab does (what the neutralising prevents)', async () => {
    const mr = gl.addMergeRequest(projectId, 19);
    const res = await fetch(`${gl.apiUrl}/projects/${projectId}/merge_requests/19/notes`, { method: 'POST', headers: { 'private-token': TOKEN, 'content-type': 'application/json' }, body: JSON.stringify({ body: 'report\n/close\n```\n/merge\n```' }) });
    expect(res.status).toBe(201);
    expect(((await res.json()) as { body: string }).body).toBe('report\n```\n/merge\n```');
    expect(mr.state).toBe('closed');
    expect(gl.state.quickActions.filter((q) => q.mr === mr.id).map((q) => q.command)).toEqual(['close']);
  });
});

describe('which forge', () => {
  it('forgeFrom: --forge wins, else GitLab exactly inside a GitLab CI job', () => {
    const inGitLab = { gitlab: gitlabFactsFromEnv({ CI_API_V4_URL: 'https://git.example.com/api/v4' }) };
    expect(forgeFrom(inGitLab)).toBe('gitlab');
    expect(forgeFrom(inGitLab, 'auto')).toBe('gitlab');
    expect(forgeFrom(inGitLab, 'github')).toBe('github');
    expect(forgeFrom({ gitlab: gitlabFactsFromEnv({ GITHUB_ACTIONS: 'true', CI: 'true' }) })).toBe('github');
    expect(forgeFrom({}, 'gitlab')).toBe('gitlab');
    expect(gitlabFactsFromEnv({ CI_API_V4_URL: 'https://h/api/v4', CI_PROJECT_ID: '12', CI_MERGE_REQUEST_IID: '3', CI_PIPELINE_SOURCE: 'merge_request_event' })).toMatchObject({ apiUrl: 'https://h/api/v4', projectId: '12', mergeRequestIid: '3', pipelineSource: 'merge_request_event' });
  });

  it('detects GitLab from CI_* variables (a GITHUB_TOKEN lying around changes nothing)', async () => {
    gl.addMergeRequest(projectId, 11);
    const w = bodyFile('detected\n');
    const before = gl.requests.length;
    const r = await mlloop(['comment', '--body', w.file, '--json'], w.dir, { ...pipeline(gl, 11), GITHUB_TOKEN: 'ghs_unused0000000000' });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).forge).toBe('gitlab');
    expect(mine(11)).toHaveLength(1);
    // GitLab gets GITLAB_TOKEN, never the GitHub token.
    expect(since(before).length).toBeGreaterThan(0);
    expect(since(before).every((q) => q.token === TOKEN)).toBe(true);
  });

  it('--forge gitlab outside GitLab CI: --api-url, --repository (a path) and --pr aim the note', async () => {
    gl.addMergeRequest(projectId, 12);
    const w = bodyFile('from a laptop\n');
    const before = gl.requests.length;
    const r = await mlloop(['comment', '--body', w.file, '--forge', 'gitlab', '--api-url', gl.apiUrl, '--repository', PROJECT, '--pr', '12', '--json'], w.dir, { GITLAB_TOKEN: TOKEN });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ action: 'created', forge: 'gitlab', repository: PROJECT, pr: 12 });
    expect(mine(12)).toHaveLength(1);
    // The project path travels URL-encoded, as GitLab's docs require.
    expect(since(before).some((q) => q.path === `/projects/${encodeURIComponent(PROJECT)}/merge_requests/12/notes`)).toBe(true);
  });

  it('without CI_* variables and without --forge it stays on GitHub: GitLab gets no request', async () => {
    const w = bodyFile('not for GitLab\n');
    const before = gl.requests.length;
    const r = await mlloop(['comment', '--body', w.file, '--pr', '3', '--repository', 'acme/ocr-fields'], w.dir, { GITLAB_TOKEN: TOKEN });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('a GitHub token is required');
    expect(gl.requests.length).toBe(before);
  });
});

describe('bad input and refused tokens', () => {
  it('a pipeline outside a merge request: exit 2 with the fix, and no API call', async () => {
    const w = bodyFile('report\n');
    const before = gl.requests.length;
    const r = await mlloop(['comment', '--body', w.file], w.dir, pipeline(gl, undefined));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('this pipeline does not run for a merge request (CI_MERGE_REQUEST_IID is not set; CI_PIPELINE_SOURCE is "push")');
    expect(r.stderr).toContain('merge_request_event');
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    expect(gl.requests.length).toBe(before);
    // A branch pipeline whose branch has an open merge request: the fix names it.
    const open = await mlloop(['comment', '--body', w.file], w.dir, pipeline(gl, undefined, { CI_OPEN_MERGE_REQUESTS: `${PROJECT}!7` }));
    expect(open.code).toBe(2);
    expect(open.stderr).toContain('(this branch has !7 open: --pr 7)');
    expect(gl.requests.length).toBe(before);
  });

  it('a token without the api scope: exit 3 naming the scope, the token never printed', async () => {
    gl.addMergeRequest(projectId, 13);
    const w = bodyFile('report\n');
    for (const token of [READ_API, READ_USER]) {
      for (const json of [false, true]) {
        const r = await mlloop(['comment', '--body', w.file, ...(json ? ['--json'] : []), '--token', token], w.dir, { ...pipeline(gl, 13), GITLAB_TOKEN: undefined, MLLOOP_DEBUG: '1' });
        expect(r.code, r.stderr).toBe(3);
        expect(r.stderr).toContain('lacks the "api" scope');
        expect(r.stderr).toContain('insufficient_scope');
        expect(`${r.stdout}${r.stderr}`).not.toContain(token);
        expect(`${r.stdout}${r.stderr}`).not.toContain(token.slice(6));
      }
    }
    // read_api reads the notes; the write is what GitLab refuses, and nothing was written.
    expect(gl.requests.some((q) => q.token === READ_API && q.method === 'POST' && q.status === 403)).toBe(true);
    expect(gl.notes(projectId, 13)).toHaveLength(0);
  });

  it('the same for a token from GITLAB_TOKEN, and for one in the environment only', async () => {
    gl.addMergeRequest(projectId, 14);
    const w = bodyFile('report\n');
    const r = await mlloop(['comment', '--body', w.file], w.dir, { ...pipeline(gl, 14), GITLAB_TOKEN: READ_API, MLLOOP_DEBUG: '1' });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('"api" scope');
    expect(`${r.stdout}${r.stderr}`).not.toContain(READ_API);
  });

  it('a rejected token (401), an unknown merge request (404) and a user without permission (403) are exit 2', async () => {
    gl.addMergeRequest(projectId, 15);
    const w = bodyFile('report\n');
    const bad = await mlloop(['comment', '--body', w.file], w.dir, { ...pipeline(gl, 15), GITLAB_TOKEN: 'glpat-unknown000000000000' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('GitLab rejected the token (401 Unauthorized)');
    expect(bad.stderr).not.toContain('glpat-unknown000000000000');
    const missing = await mlloop(['comment', '--body', w.file], w.dir, pipeline(gl, 404));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`merge request !404 not found in GitLab project ${projectId}`);
    const guest = await mlloop(['comment', '--body', w.file], w.dir, { ...pipeline(gl, 15), GITLAB_TOKEN: GUEST });
    expect(guest.code).toBe(2);
    expect(guest.stderr).toContain('may not write notes on merge request !15');
    expect(gl.notes(projectId, 15)).toHaveLength(0);
  });

  it('the token never reaches the note: a report that quotes it is masked', async () => {
    gl.addMergeRequest(projectId, 20);
    const w = bodyFile(`debug dump: GITLAB_TOKEN=${TOKEN}\n`);
    const r = await mlloop(['comment', '--body', w.file], w.dir, pipeline(gl, 20));
    expect(r.code).toBe(0);
    expect(mine(20)[0]!.body).toBe(`${markerTag('gate')}\ndebug dump: GITLAB_TOKEN=***\n`);
    expect(gl.requests.filter((q) => q.method !== 'GET').every((q) => !JSON.stringify(q.body).includes(TOKEN))).toBe(true);
  });

  it('no token at all: exit 2 naming GITLAB_TOKEN (the job token is never used instead)', async () => {
    gl.addMergeRequest(projectId, 16);
    const w = bodyFile('report\n');
    const before = gl.requests.length;
    const r = await mlloop(['comment', '--body', w.file], w.dir, { ...pipeline(gl, 16), GITLAB_TOKEN: undefined, CI_JOB_TOKEN: 'glcbt-job0000000000000000' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('GITLAB_TOKEN');
    expect(gl.requests.length).toBe(before);
  });
});

describe('mlloop gate --comment on GitLab', () => {
  function workspace() {
    const p = writePair(V30, V25);
    writeFileSync(join(p.dir, 'gate.yaml'), 'name: ocr-gate\nmetrics:\n  overall.f1: {direction: higher, min: 0.8, max_regression: 0}\n');
    return p;
  }
  const gateArgs = ['gate', '--candidate', 'candidate.metrics.json', '--baseline', 'baseline.metrics.json', '--policy', 'gate.yaml', '--comment'];

  it('posts the report as the sticky note of the merge request, and updates it on the next run', async () => {
    gl.addMergeRequest(projectId, 21);
    const p = workspace();
    const first = await mlloop([...gateArgs, '--json'], p.dir, pipeline(gl, 21));
    expect(first.code, first.stderr).toBe(0);
    const v = JSON.parse(first.stdout);
    expect(v.comment).toMatchObject({ action: 'created' });
    expect(v.comment.url).toBe(`${gl.url}/${PROJECT}/-/merge_requests/21#note_${v.comment.id}`);
    const [note] = mine(21);
    expect(note!.body.startsWith(`${markerTag('ocr-gate')}\n`)).toBe(true);
    expect(note!.body).toBe(readFileSync(join(p.dir, 'mlloop-comment.md'), 'utf8'));
    expect(JSON.parse(readFileSync(join(p.dir, 'mlloop-comment.md.json'), 'utf8'))).toEqual({ pr: 21, marker: 'ocr-gate', repository: String(projectId) });
    const again = await mlloop([...gateArgs, '--json'], p.dir, pipeline(gl, 21));
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).comment).toMatchObject({ action: 'unchanged', id: v.comment.id });
    expect(mine(21)).toHaveLength(1);
  });

  it('outside a merge request it refuses before any work: exit 2, no verdict written', async () => {
    const p = workspace();
    const before = gl.requests.length;
    const r = await mlloop(gateArgs, p.dir, pipeline(gl, undefined));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('CI_MERGE_REQUEST_IID is not set');
    expect(existsSync(join(p.dir, 'verdict.json'))).toBe(false);
    expect(gl.requests.length).toBe(before);
    // Without --comment the gate runs in any pipeline.
    expect((await mlloop(gateArgs.filter((a) => a !== '--comment'), p.dir, pipeline(gl, undefined))).code).toBe(0);
  });

  it('no token: the verdict decides the exit code, the warning says so, GitLab gets no request', async () => {
    gl.addMergeRequest(projectId, 23);
    const p = workspace();
    const before = gl.requests.length;
    const r = await mlloop(gateArgs, p.dir, { ...pipeline(gl, 23), GITLAB_TOKEN: undefined });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('not writing the merge request note: no token (set GITLAB_TOKEN or pass --token)');
    expect(gl.requests.length).toBe(before);
    expect(existsSync(join(p.dir, 'mlloop-comment.md'))).toBe(true);
  });

  it('a token without the api scope: the verdict decides the exit code, the warning names the scope, the token stays hidden', async () => {
    gl.addMergeRequest(projectId, 22);
    const p = workspace();
    const r = await mlloop(gateArgs, p.dir, { ...pipeline(gl, 22), GITLAB_TOKEN: READ_API });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('could not write the merge request note: the GitLab token lacks the "api" scope');
    expect(`${r.stdout}${r.stderr}`).not.toContain(READ_API);
    expect(gl.notes(projectId, 22)).toHaveLength(0);
    expect(existsSync(join(p.dir, 'mlloop-comment.md'))).toBe(true);
  });
});

describe('self-managed GitLab under a path, and behind a proxy', () => {
  let sm: GitLabServer;
  let smProject: number;
  beforeAll(async () => {
    sm = await GitLabServer.start({ prefix: '/gitlab', tokens: { [TOKEN]: { username: BOT, scopes: ['api'] } } });
    smProject = sm.addProject('platform/ocr').id;
    sm.addMergeRequest(smProject, 5);
  });
  afterAll(() => sm.close());

  it('answers only under <prefix>/api/v4', async () => {
    expect(sm.apiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/gitlab\/api\/v4$/);
    const origin = new URL(sm.url).origin;
    expect((await fetch(`${origin}/api/v4/user`, { headers: { 'private-token': TOKEN } })).status).toBe(404);
    expect((await fetch(`${sm.apiUrl}/user`, { headers: { 'private-token': TOKEN } })).status).toBe(200);
  });

  it('CI_API_V4_URL of an instance at http://host/gitlab, or --api-url given as the instance address', async () => {
    const w = bodyFile('self-managed\n');
    const before = sm.requests.length;
    const env = { CI_SERVER_URL: sm.url, CI_API_V4_URL: sm.apiUrl, CI_PROJECT_ID: String(smProject), CI_MERGE_REQUEST_IID: '5', GITLAB_TOKEN: TOKEN };
    const r = await mlloop(['comment', '--body', w.file, '--json'], w.dir, env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ action: 'created', url: expect.stringContaining(`${sm.url}/platform/ocr/-/merge_requests/5#note_`) });
    writeFileSync(join(w.dir, w.file), 'self-managed, again\n');
    const again = await mlloop(['comment', '--body', w.file, '--forge', 'gitlab', '--api-url', `${sm.url}/`, '--repository', 'platform/ocr', '--pr', '5', '--json'], w.dir, { GITLAB_TOKEN: TOKEN });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).action).toBe('updated');
    expect(sm.notes(smProject, 5)).toHaveLength(1);
    expect(sm.requests.slice(before).every((q) => q.status < 400)).toBe(true);
    expect(gitlabEndpoints('https://git.example.com/gitlab/api/v4/')).toEqual({ host: 'https://git.example.com/gitlab', apiUrl: 'https://git.example.com/gitlab/api/v4' });
  });

  it('goes through HTTPS_PROXY/HTTP_PROXY to a host only the proxy can resolve', async () => {
    // A forward proxy (CONNECT tunnels, as undici's ProxyAgent uses) that alone knows gitlab.mlloop.test.
    const tunnels: string[] = [];
    const sockets = new Set<Socket>();
    const proxy: Server = createServer((_req, res) => res.writeHead(405).end());
    proxy.on('connect', (req, client: Socket, head) => {
      tunnels.push(req.url!);
      sockets.add(client);
      const [host, port] = req.url!.split(':');
      if (host !== 'gitlab.mlloop.test') return client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
      const upstream = connect(Number(port), '127.0.0.1', () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      sockets.add(upstream);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const api = sm.apiUrl.replace('127.0.0.1', 'gitlab.mlloop.test');
      sm.addMergeRequest(smProject, 6);
      sm.addNotes(smProject, 6, 120, { username: 'reviewer' });
      const w = bodyFile('through the proxy\n');
      const before = sm.requests.length;
      const r = await mlloop(['comment', '--body', w.file, '--json'], w.dir, { CI_API_V4_URL: api, CI_PROJECT_ID: String(smProject), CI_MERGE_REQUEST_IID: '6', GITLAB_TOKEN: TOKEN, HTTP_PROXY: proxyUrl, HTTPS_PROXY: proxyUrl });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ action: 'created', scanned: 120 });
      // Every request, the second page (from the Link header) included, went through the proxy.
      expect(sm.requests.length - before).toBe(5);
      expect(tunnels.length).toBeGreaterThan(0);
      expect(tunnels.every((t) => t.startsWith('gitlab.mlloop.test:'))).toBe(true);
    } finally {
      // Tunnels are upgraded sockets the server no longer tracks: the client's keep-alive would hold them open.
      for (const s of sockets) s.destroy();
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
  });
});

describe('the GitLab API test server follows the documentation', () => {
  const api = (path: string, init: RequestInit & { token?: string | null } = {}) => {
    const { token = TOKEN, ...rest } = init;
    return fetch(`${gl.apiUrl}${path}`, { ...rest, headers: { ...(token ? { 'private-token': token } : {}), ...(rest.body ? { 'content-type': 'application/json' } : {}), ...(rest.headers as Record<string, string>) } });
  };
  const notes = () => `/projects/${projectId}/merge_requests/30/notes`;

  beforeAll(() => {
    gl.addMergeRequest(projectId, 30);
    gl.addNotes(projectId, 30, 45, { username: 'reviewer' });
  });

  it('paginates with page/per_page, x-* headers and a Link header (default 20 per page, newest first)', async () => {
    const r = await api(`${notes()}?page=2`);
    expect(r.status).toBe(200);
    const body = (await r.json()) as { body: string }[];
    expect(body).toHaveLength(20);
    expect(body[0]!.body).toBe('note 25');
    expect(Object.fromEntries(['x-page', 'x-per-page', 'x-total', 'x-total-pages', 'x-next-page', 'x-prev-page'].map((h) => [h, r.headers.get(h)]))).toEqual({ 'x-page': '2', 'x-per-page': '20', 'x-total': '45', 'x-total-pages': '3', 'x-next-page': '3', 'x-prev-page': '1' });
    const link = r.headers.get('link')!;
    expect(link).toContain(`<${gl.apiUrl}${notes()}?page=3&per_page=20>; rel="next"`);
    expect(link).toContain('rel="prev"');
    expect(link).toContain('page=3&per_page=20>; rel="last"');
    const last = await api(`${notes()}?page=3&per_page=20&sort=asc`);
    expect(last.headers.get('x-next-page')).toBe('');
    expect(((await last.json()) as { body: string }[]).map((n) => n.body)).toEqual(['note 41', 'note 42', 'note 43', 'note 44', 'note 45']);
    expect((await api(`${notes()}?per_page=500`)).headers.get('x-per-page')).toBe('100');
    gl.createNote(projectId, 30, 'changed the description', 'developer', true);
    expect((await api(`${notes()}?activity_filter=only_comments`)).headers.get('x-total')).toBe('45');
    expect(((await (await api(`${notes()}?activity_filter=only_activity`)).json()) as { system: boolean }[]).map((n) => n.system)).toEqual([true]);
  });

  it('authenticates PRIVATE-TOKEN, JOB-TOKEN and Authorization: Bearer; 401 without a token', async () => {
    expect((await api(notes(), { token: null })).status).toBe(401);
    expect((await api(notes(), { token: null, headers: { 'job-token': TOKEN } })).status).toBe(200);
    expect((await api(notes(), { token: null, headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    expect(await (await api(notes(), { token: 'glpat-nope0000000000000000' })).json()).toEqual({ message: '401 Unauthorized' });
  });

  it('refuses a token without the scope with GitLab\'s insufficient_scope answer', async () => {
    const read = await api(notes(), { token: READ_USER });
    expect(read.status).toBe(403);
    expect(await read.json()).toEqual({ error: 'insufficient_scope', error_description: 'The request requires higher privileges than provided by the access token.', scope: 'api read_api' });
    expect(read.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    const write = await api(notes(), { token: READ_API, method: 'POST', body: JSON.stringify({ body: 'x' }) });
    expect(write.status).toBe(403);
    expect(((await write.json()) as { scope: string }).scope).toBe('api');
  });

  it('rejects requests that do not match the documented shape', async () => {
    const post = (body: unknown) => api(notes(), { method: 'POST', body: JSON.stringify(body) });
    expect(await (await post({})).json()).toEqual({ error: 'body is missing' });
    expect((await post({ body: 5 })).status).toBe(400);
    expect(await (await post({ body: '  ' })).json()).toEqual({ message: { note: ["can't be blank"] } });
    expect((await post({ body: 'x'.repeat(1_000_001) })).status).toBe(400);
    expect((await post({ body: 'ok', note: 'typo' })).status).toBe(400);
    expect((await api(`${notes()}?per_page=0`)).status).toBe(400);
    expect((await api(`${notes()}?sort=up`)).status).toBe(400);
    expect((await api(`${notes()}?perPage=20`)).status).toBe(400);
    expect((await api(`${notes()}?activity_filter=everything`)).status).toBe(400);
    expect((await api(`${notes()}/abc`, { method: 'PUT', body: JSON.stringify({ body: 'x' }) })).status).toBe(400);
    const created = await post({ body: 'valid' });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: number };
    expect(await (await api(`${notes()}/${id}`, { method: 'PUT', body: JSON.stringify({}) })).json()).toEqual({ error: 'body, confidential are missing, at least one parameter must be provided' });
    expect((await api(`${notes()}/${id}`, { method: 'PUT', body: JSON.stringify({ body: 'x', confidential: 'maybe' }) })).status).toBe(400);
    expect((await api(`${notes()}/${id}`, { method: 'PUT', body: JSON.stringify({ body: 'edited' }) })).status).toBe(200);
    expect((await api(`${notes()}/${id}`, { method: 'PUT', body: JSON.stringify({ body: 'not yours' }), token: 'glpat-reviewer-000000000' })).status).toBe(403);
    // Form-encoded bodies are GitLab's other accepted encoding.
    expect((await fetch(`${gl.apiUrl}${notes()}`, { method: 'POST', headers: { 'private-token': TOKEN, 'content-type': 'application/x-www-form-urlencoded' }, body: 'body=form+note' })).status).toBe(201);
  });

  it('answers 404 for an unknown project, merge request or note', async () => {
    expect(await (await api('/projects/999999/merge_requests/30/notes')).json()).toEqual({ message: '404 Project Not Found' });
    expect(await (await api(`/projects/${projectId}/merge_requests/999/notes`)).json()).toEqual({ message: '404 Not found' });
    expect((await api(`${notes()}/999999`)).status).toBe(404);
    expect((await api(`/projects/${encodeURIComponent(PROJECT)}/merge_requests/30`)).status).toBe(200);
    expect((await api('/projects/1/unknown')).status).toBe(404);
  });

  it('tells a token\'s own scopes (personal_access_tokens/self) and user', async () => {
    expect(await (await api('/personal_access_tokens/self', { token: READ_API })).json()).toMatchObject({ scopes: ['read_api'], active: true, revoked: false });
    expect(await (await api('/user')).json()).toMatchObject({ username: BOT });
  });
});

describe('the GitLab client', () => {
  it('retries 502/503/429 and then succeeds', async () => {
    gl.addMergeRequest(projectId, 40);
    const client: GitLab = await createGitLab({ token: TOKEN, url: gl.url, log: silentLogger, retries: 3, backoffMs: 5 });
    gl.failNext(1, 502, (m, p) => m === 'POST' && p.endsWith('/merge_requests/40/notes'));
    gl.failNext(1, 503, (m, p) => m === 'POST' && p.endsWith('/merge_requests/40/notes'));
    gl.failNext(1, 429, (m, p) => m === 'GET' && p.endsWith('/merge_requests/40/notes'));
    const before = gl.requests.length;
    const r = await upsertNote(client, { project: String(projectId), mr: 40, marker: 'gate', body: commentBody('retried', 'gate'), log: silentLogger });
    expect(r.action).toBe('created');
    expect(gl.notes(projectId, 40)).toHaveLength(1);
    // Each refused request was sent again: the list after its 429, the create after its 502 and 503.
    const notesCalls = since(before).filter((q) => q.path.endsWith('/merge_requests/40/notes'));
    expect(notesCalls.map((q) => `${q.method} ${q.status}`)).toEqual(['GET 429', 'GET 200', 'POST 502', 'POST 503', 'POST 201']);
  });

  it('gives up after its retries with an outside failure (exit 3)', async () => {
    gl.addMergeRequest(projectId, 41);
    const client = await createGitLab({ token: TOKEN, url: gl.apiUrl, log: silentLogger, retries: 1, backoffMs: 5 });
    gl.failNext(5, 503, (m, p) => p.endsWith('/merge_requests/41/notes'));
    const before = gl.requests.length;
    await expect(upsertNote(client, { project: String(projectId), mr: 41, marker: 'gate', body: commentBody('x', 'gate'), log: silentLogger })).rejects.toMatchObject({ exitCode: 3 });
    // One retry, then it gives up: two requests, both answered 503.
    expect(since(before).filter((q) => q.path.endsWith('/merge_requests/41/notes')).map((q) => q.status)).toEqual([503, 503]);
  });
});
