import type { Context } from '../../commands/define.js';
import { ConfigurationError } from '../errors.js';
import { commentBody, type UpsertResult } from '../github/comments.js';
import { resolveToken } from '../github/client.js';
import { createGitLab } from './client.js';
import { upsertNote } from './notes.js';
import { gitlabApiUrl, mergeRequestIid, projectOf, type NoteTargetOptions } from './target.js';

export interface PostNoteInput {
  o: NoteTargetOptions & { token?: string; headSha?: string };
  ctx: Context;
  /** The report without its marker line. */
  report: string;
  marker: string;
  /** The sidecar gate wrote next to the body (`{pr, marker, repository}`). */
  side: { pr?: unknown; repository?: unknown };
  /** Where the whole report is, for a body cut to fit. */
  summaryUrl?: string;
}

/**
 * `mlloop comment` on GitLab: the prepared report becomes the sticky note of the merge request (the body is
 * the one GitHub would get, from the same commentBody). Checked before any request: a merge request IID
 * (none outside merge request pipelines: exit 2), the project, the token (registered as a secret first).
 */
export async function postNote(input: PostNoteInput): Promise<UpsertResult & { pr: number; marker: string; repository: string }> {
  const { o, ctx } = input;
  const mr = mergeRequestIid(o, ctx, typeof input.side.pr === 'number' ? input.side.pr : undefined);
  const project = projectOf(o, ctx, typeof input.side.repository === 'string' && input.side.repository ? input.side.repository : undefined);
  const token = resolveToken(o.token, ctx.env, (v) => ctx.secret(v), 'GITLAB_TOKEN');
  // No token: createGitLab refuses (exit 2, naming GITLAB_TOKEN) before any request.
  const gl = await createGitLab({ token: token ?? '', url: gitlabApiUrl(o, ctx), log: ctx.log, signal: ctx.signal });
  const body = ctx.masker.mask(commentBody(input.report, input.marker, input.summaryUrl ?? ctx.runner.gitlab?.jobUrl));
  const r = await upsertNote(gl, { project, mr, marker: input.marker, body, headSha: o.headSha, log: ctx.log });
  if (r.action === 'forbidden') {
    throw new ConfigurationError(`the token may not write notes on merge request !${mr} of ${project} (403)`, { hint: 'use a token of a user or bot with at least the Reporter role in the project' });
  }
  return { ...r, pr: mr, marker: input.marker, repository: project };
}
