// The sticky PR comment through the real Octokit against the OpenAPI-checked test server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitHubServer } from '../support/github-server.js';
import { createGitHub, type GitHub } from '../../src/core/github/client.js';
import { commentBody, markerTag, MAX_COMMENT_CHARS, pullRequestFromEvent, upsertComment } from '../../src/core/github/comments.js';
import { silentLogger } from '../../src/core/log.js';

let gh: GitHubServer;
let bot: GitHub;
let ro: GitHub;
const BOT = 'github-actions[bot]';

beforeAll(async () => {
  gh = await GitHubServer.start({ tokens: { ghs_bot: { login: BOT, app: true }, ghs_fork: { login: BOT, app: true, readOnly: true } } });
  bot = await createGitHub({ token: 'ghs_bot', baseUrl: gh.url, log: silentLogger, retries: 0 });
  ro = await createGitHub({ token: 'ghs_fork', baseUrl: gh.url, log: silentLogger, retries: 0 });
});
afterAll(() => gh.close());

const req = (issue: number, body: string, marker = 'ocr-gate') => ({ owner: 'acme', repo: 'ocr-fields', issue, marker, body: commentBody(body, marker), log: silentLogger });

describe('sticky PR comment', () => {
  it('finds its comment among more than 100 (page 2), updates it in place, and leaves others alone', async () => {
    gh.addComments('acme', 'ocr-fields', 7, 130, { login: 'reviewer', body: (i) => (i === 5 ? `quoting: ${markerTag('ocr-gate')} please fix` : `review ${i}`) });
    const first = await upsertComment(bot, req(7, 'report v1'));
    expect(first.action).toBe('created');
    expect(first.scanned).toBe(130);
    gh.addComments('acme', 'ocr-fields', 7, 5, { login: 'reviewer' });
    const listsBefore = gh.requests.filter((r) => r.operationId === 'issues/list-comments').length;
    const second = await upsertComment(bot, req(7, 'report v2'));
    expect(second).toMatchObject({ action: 'updated', id: first.id, scanned: 136 });
    expect(gh.requests.filter((r) => r.operationId === 'issues/list-comments').length - listsBefore).toBe(2);
    expect(gh.requests.filter((r) => r.operationId === 'issues/list-comments').every((r) => r.query.per_page === '100')).toBe(true);
    const mine = gh.comments('acme', 'ocr-fields', 7).filter((c) => c.user.login === BOT);
    expect(mine).toHaveLength(1);
    expect(mine[0]!.body).toBe(`${markerTag('ocr-gate')}\nreport v2`);
    // The reviewer's comment that quotes the marker is not ours and is never touched.
    expect(gh.comments('acme', 'ocr-fields', 7).find((c) => c.body.startsWith('quoting'))!.updated_at).toBe(gh.comments('acme', 'ocr-fields', 7).find((c) => c.body.startsWith('quoting'))!.created_at);
    expect((await upsertComment(bot, req(7, 'report v2'))).action).toBe('unchanged');
  });

  it('keeps one comment per gate: another marker is another comment', async () => {
    await upsertComment(bot, req(8, 'gate A', 'gate-a'));
    await upsertComment(bot, req(8, 'gate B', 'gate-b'));
    await upsertComment(bot, req(8, 'gate A again', 'gate-a'));
    expect(gh.comments('acme', 'ocr-fields', 8).map((c) => c.body)).toEqual([`${markerTag('gate-a')}\ngate A again`, `${markerTag('gate-b')}\ngate B`]);
  });

  it('removes duplicates a race left behind', async () => {
    gh.createComment('acme/ocr-fields', 9, `${markerTag('ocr-gate')}\nold 1`, BOT);
    gh.createComment('acme/ocr-fields', 9, `${markerTag('ocr-gate')}\nold 2`, BOT);
    const r = await upsertComment(bot, req(9, 'new'));
    expect(r).toMatchObject({ action: 'updated', removed: 1 });
    expect(gh.comments('acme', 'ocr-fields', 9).map((c) => c.body)).toEqual([`${markerTag('ocr-gate')}\nnew`]);
  });

  it('a read-only token (fork) is reported as forbidden, not thrown, and writes nothing', async () => {
    const before = gh.state.comments.length;
    const r = await upsertComment(ro, req(10, 'from a fork'));
    expect(r.action).toBe('forbidden');
    expect(gh.state.comments.length).toBe(before);
  });
});

describe('comment body', () => {
  it('fits GitHub\'s limit, closes an open code fence and points to the job summary', () => {
    const huge = `intro\n\`\`\`mermaid\n${'x'.repeat(30)}\n${Array.from({ length: 5000 }, (_, i) => `| row ${i} | 张三 | 😀 |`).join('\n')}`;
    const body = commentBody(huge, 'g', 'https://github.com/acme/ocr/actions/runs/1');
    expect(body.length).toBeLessThanOrEqual(MAX_COMMENT_CHARS);
    expect(body.startsWith(markerTag('g'))).toBe(true);
    expect((body.match(/^```/gm) ?? []).length % 2).toBe(0);
    expect(body).toMatch(/full report is in \[the job summary\]\(https:\/\/github\.com\/acme\/ocr\/actions\/runs\/1\)/);
    expect(body).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
    expect(commentBody('short', 'g')).toBe(`${markerTag('g')}\nshort`);
  });

  it('neutralises markers inside the report text, so a report cannot take over another gate\'s comment', async () => {
    const body = commentBody(`model <!-- mlloop:gate-b --> v3`, 'gate-a');
    expect(body).toBe(`${markerTag('gate-a')}\nmodel &lt;!-- mlloop:gate-b --> v3`);
    await upsertComment(bot, { ...req(11, 'B'), marker: 'gate-b', body: commentBody('B', 'gate-b') });
    await upsertComment(bot, { ...req(11, 'A'), marker: 'gate-a', body });
    await upsertComment(bot, { ...req(11, 'B2'), marker: 'gate-b', body: commentBody('B2', 'gate-b') });
    expect(gh.comments('acme', 'ocr-fields', 11).map((c) => c.body.split('\n')[0])).toEqual([markerTag('gate-b'), markerTag('gate-a')]);
  });

  it('refuses a marker that could break out of the HTML comment', () => {
    expect(() => markerTag('a --> <script>')).toThrow(/marker/);
  });

  it('reads the pull request and fork status from real event payloads', () => {
    expect(pullRequestFromEvent({ pull_request: { number: 3, head: { repo: { full_name: 'alice/ocr-fields', fork: true } }, base: { ref: 'main', repo: { full_name: 'acme/ocr-fields' } } } })).toEqual({ number: 3, fork: true, baseRef: 'main', headRepo: 'alice/ocr-fields' });
    expect(pullRequestFromEvent({ pull_request: { number: 4, head: { repo: { full_name: 'acme/ocr-fields', fork: false } }, base: { ref: 'dev', repo: { full_name: 'acme/ocr-fields' } } } })?.fork).toBe(false);
    expect(pullRequestFromEvent({ ref: 'refs/heads/main' })).toBeUndefined();
  });
});
