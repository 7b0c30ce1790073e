import * as path from 'node:path';
import type { Context } from '../../commands/define.js';
import { ConfigurationError, ExternalError } from '../errors.js';
import { CONFIG_MAX_BYTES, readBytes, readText } from '../io/read.js';
import { createGitHub, parseRepository, resolveToken } from './client.js';
import { commentBody, upsertComment, type UpsertResult } from './comments.js';
import { forgeFrom, type Forge, type ForgeOption } from '../gitlab/forge.js';

export interface CommentOptions {
  body: string;
  pr?: number;
  marker?: string;
  repository?: string;
  headSha?: string;
  token?: string;
  apiUrl?: string;
  /** github, gitlab, or auto (GitLab inside a GitLab CI job). */
  forge?: ForgeOption;
}

const TAG = /^<!-- mlloop:([A-Za-z0-9_.:/-]{1,100}) -->\n?/;

/** The body as text: empty, blank or binary (NUL bytes, not UTF-8) bodies are refused, never posted. */
function commentText(bytes: Buffer, file: string): string {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ConfigurationError('the comment body is not UTF-8 text (a binary file?)', { file, hint: 'pass the Markdown file written by `mlloop gate --comment-file`' });
  }
  if (text.includes('\0')) throw new ConfigurationError('the comment body contains NUL bytes (a binary file?)', { file, hint: 'pass the Markdown file written by `mlloop gate --comment-file`' });
  const report = text.replace(TAG, '');
  if (!report.trim()) throw new ConfigurationError(`the comment body is ${text.length === 0 ? 'empty' : 'blank'}: nothing to post`, { file, hint: 'pass the Markdown report to post (did the step that writes it fail?)' });
  return text;
}

/**
 * `mlloop comment`: posts a prepared report (written by `gate --comment` where the token was read-only)
 * as the sticky comment. The PR number and marker come from the options, else from the body's sidecar
 * (`FILE.json`); with --head-sha the PR must still point at that commit, so a body prepared by a fork's
 * run cannot be aimed at another pull request.
 */
export async function postComment(o: CommentOptions, ctx: Context, run: { summaryUrl?: string }): Promise<UpsertResult & { pr: number; marker: string; repository: string; forge: Forge }> {
  const file = path.resolve(ctx.cwd, o.body);
  const text = commentText(await readBytes(file, 'comment body', CONFIG_MAX_BYTES), o.body);
  let side: { pr?: unknown; marker?: unknown; repository?: unknown } = {};
  try {
    side = JSON.parse(await readText(`${file}.json`)) as typeof side;
  } catch {
    side = {};
  }
  const tagged = TAG.exec(text);
  const report = tagged ? text.slice(tagged[0].length) : text;
  const marker = o.marker ?? tagged?.[1] ?? (typeof side.marker === 'string' ? side.marker : undefined) ?? 'gate';
  if (side.pr !== undefined && side.pr !== null && !(typeof side.pr === 'number' && Number.isSafeInteger(side.pr) && side.pr > 0)) {
    throw new ConfigurationError(`"pr" must be a pull request number (a whole number from 1 to ${Number.MAX_SAFE_INTEGER}), not ${JSON.stringify(side.pr)}`, { file: `${o.body}.json`, path: '$.pr', hint: 'pass --pr N, or fix the sidecar written by `mlloop gate --comment`' });
  }
  if (forgeFrom(ctx.runner, o.forge) === 'gitlab') {
    // The same body as a merge request note: --pr is the merge request IID, --repository the project.
    const { postNote } = await import('../gitlab/post-note.js');
    return { ...(await postNote({ o, ctx, report, marker, side, summaryUrl: run.summaryUrl })), forge: 'gitlab' };
  }
  const pr = o.pr ?? (typeof side.pr === 'number' ? side.pr : undefined);
  if (!pr) throw new ConfigurationError('no pull request number', { file: o.body, hint: 'pass --pr N (in a workflow_run workflow, from the artifact the gate job uploaded)' });
  const repository = o.repository ?? ctx.runner.repository;
  if (!repository) throw new ConfigurationError('no repository', { hint: 'pass --repository owner/name (GITHUB_REPOSITORY in a workflow)' });
  const token = resolveToken(o.token, ctx.env, (v) => ctx.secret(v));
  if (!token) throw new ConfigurationError('a GitHub token is required', { hint: 'pass --token or set GITHUB_TOKEN (pull-requests: write)' });
  const { owner, repo } = parseRepository(repository, '--repository');
  const gh = await createGitHub({ token, baseUrl: o.apiUrl ?? ctx.runner.apiUrl, log: ctx.log });
  if (o.headSha) {
    let head: string;
    try {
      head = (await gh.rest.pulls.get({ owner, repo, pull_number: pr })).data.head.sha;
    } catch (e) {
      const s = (e as { status?: number }).status;
      if (s === 404) throw new ConfigurationError(`pull request #${pr} not found in ${repository}`, { hint: 'check --pr and --repository' });
      throw new ExternalError(`cannot read pull request #${pr}: ${(e as Error).message}`);
    }
    if (head !== o.headSha) {
      throw new ConfigurationError(`pull request #${pr} is at ${head.slice(0, 7)}, not at ${o.headSha.slice(0, 7)}: the report was prepared for another commit`, {
        hint: 'pass --head-sha ${{ github.event.workflow_run.head_sha }} and the PR number of that run',
      });
    }
  }
  const body = ctx.masker.mask(commentBody(report, marker, run.summaryUrl));
  const r = await upsertComment(gh, { owner, repo, issue: pr, marker, body, log: ctx.log });
  if (r.action === 'forbidden') {
    throw new ConfigurationError(`the token may not comment on ${repository}#${pr} (403)`, { hint: 'run this in a trusted workflow (workflow_run) with permissions: pull-requests: write' });
  }
  return { ...r, pr, marker, repository, forge: 'github' };
}
