import * as path from 'node:path';
import type { Context } from '../../commands/define.js';
import { resolveToken } from '../github/client.js';
import { createGitLab } from './client.js';
import type { UpsertResult } from '../github/comments.js';
import { upsertNote } from './notes.js';
import { gitlabApiUrl, projectOf, type NoteTargetOptions } from './target.js';

/**
 * `gate --comment` on GitLab: the report (already written to the comment file) becomes the sticky note of the
 * merge request. As on GitHub, the verdict decides the exit code: a note that cannot be written — no token, a
 * token without the api scope, GitLab down — is a warning naming the cause, never a failure of the gate.
 */
export async function gateNote(input: { o: NoteTargetOptions & { token?: string }; ctx: Context; mr: number; marker: string; body: string; bodyFile: string }): Promise<UpsertResult | null> {
  const { o, ctx } = input;
  const report = path.relative(ctx.cwd, input.bodyFile);
  let project: string;
  try {
    project = projectOf(o, ctx);
  } catch (e) {
    ctx.log.warn(`not writing the merge request note: ${(e as Error).message.split('\n')[0]}; the report is in ${report}`);
    return null;
  }
  const token = resolveToken(o.token, ctx.env, (v) => ctx.secret(v), 'GITLAB_TOKEN');
  if (!token) {
    ctx.log.warn(`not writing the merge request note: no token (set GITLAB_TOKEN or pass --token); the report is in ${report}`);
    return null;
  }
  let note: UpsertResult | null = null;
  try {
    const gl = await createGitLab({ token, url: gitlabApiUrl(o, ctx), log: ctx.log, signal: ctx.signal });
    note = await upsertNote(gl, { project, mr: input.mr, marker: input.marker, body: input.body, log: ctx.log });
  } catch (e) {
    ctx.log.warn(`could not write the merge request note: ${(e as Error).message.split('\n')[0]}; the report is in ${report}`);
    return null;
  }
  if (note.action === 'forbidden') ctx.log.warn(`the token may not write notes on merge request !${input.mr} of ${project} (403); the report is in ${report}`);
  else ctx.log.info(`merge request note ${note.action}: ${note.url}`);
  return note;
}
