import { ConfigurationError, ExternalError } from '../errors.js';
import type { Logger } from '../log.js';
import { markerTag, upsertSticky, type UpsertResult } from '../github/comments.js';
import { GitLabApiError, insufficientScope, statusOf, type GitLab } from './client.js';


export interface NoteRequest {
  /** Numeric id or `group/sub/project` path of the merge request's (target) project. */
  project: string;
  /** The merge request's IID (`!42`). */
  mr: number;
  marker: string;
  /** The whole note, marker line first (commentBody); lines GitLab would run as quick actions are neutralised. */
  body: string;
  /** Refuse unless the merge request's head is this commit. */
  headSha?: string;
  /** Notes per page (GitLab's default is 20, its maximum 100). */
  perPage?: number;
  log: Logger;
}

interface Note {
  id: number;
  body: string;
  system?: boolean;
  author?: { id?: number; username?: string };
}

/**
 * Maps a GitLab API error to mlloop's exit codes: a token without the `api` scope (403 insufficient_scope) is an
 * outside failure naming the scope (exit 3); a rejected token (401) or an unknown project or merge request (404)
 * is bad input (exit 2); anything else after retries is exit 3. A plain 403 is left to the caller (undefined).
 */
function gitlabError(e: unknown, where: { project: string; mr: number }): Error | undefined {
  const scopes = insufficientScope(e);
  if (scopes) {
    const asked = scopes.length > 1 ? ` (GitLab accepts any of: ${scopes.join(', ')})` : '';
    return new ExternalError(`the GitLab token lacks the "api" scope needed to write merge request notes: GitLab answered 403 insufficient_scope${asked}`, {
      hint: 'use a project, group or personal access token with the api scope (and at least the Reporter role), stored as a masked CI/CD variable GITLAB_TOKEN',
    });
  }
  const s = statusOf(e);
  if (s === 401) return new ConfigurationError('GitLab rejected the token (401 Unauthorized)', { hint: 'pass a valid, unexpired access token in GITLAB_TOKEN or --token' });
  if (s === 404) return new ConfigurationError(`merge request !${where.mr} not found in GitLab project ${where.project} (404)`, { hint: 'check --pr (the merge request IID) and --repository (project id or path), and that the token can read the project' });
  if (s === 403) return undefined;
  if (e instanceof GitLabApiError) return new ExternalError(`GitLab API error while writing the merge request note: ${e.message}`, { hint: 'rerun the job; GitLab may be degraded or unreachable' });
  return undefined;
}

/**
 * GitLab runs a quick action (`/merge`, `/approve`, `/close`, `/assign_reviewer` …) written at the start of a line
 * of a note outside code blocks, with the rights of the token's user, and drops the line from the note. A report
 * carries text from data and a prepared body may come from another pipeline: such a line is written `&#47;…`,
 * which GitLab's Markdown shows as the same slash and its quick-action parser does not read. Lines in fenced code
 * blocks are left as they are (GitLab runs nothing there).
 */
function withoutQuickActions(body: string): string {
  let fence: string | null = null;
  return body
    .split('\n')
    .map((line) => {
      const f = /^ {0,3}(`{3,}|~{3,})/.exec(line);
      if (f) {
        if (fence === null) fence = f[1]!;
        else if (f[1]![0] === fence[0] && f[1]!.length >= fence.length) fence = null;
        return line;
      }
      return fence === null && line.startsWith('/') ? `&#47;${line.slice(1)}` : line;
    })
    .join('\n');
}

/** The token's own user id (notes by anyone else are never touched); undefined where GitLab will not say (403). */
async function ownUserId(gl: GitLab): Promise<number | undefined> {
  try {
    return (await gl.users.showCurrentUser()).id;
  } catch (e) {
    if (statusOf(e) === 403 && !insufficientScope(e)) return undefined;
    throw e;
  }
}

/**
 * Creates or updates the one note of a gate on a merge request (upsertSticky, as GitHub comments). Every note
 * is paged through (oldest first) and only a non-system note by the token's own user whose body starts with the
 * marker line counts: a reviewer quoting the marker is never touched. The url is `<merge request URL>#note_<id>`
 * (a note has no URL of its own in the API). A plain 403 (no permission on the
 * project) is returned as `forbidden`, never thrown.
 */
export async function upsertNote(gl: GitLab, req: NoteRequest): Promise<UpsertResult> {
  const tag = markerTag(req.marker);
  const { project, mr: iid } = req;
  try {
    const me = await ownUserId(gl);
    const mr = (await gl.mergeRequests.show(project, iid)) as { web_url?: string; sha?: string };
    if (req.headSha && mr.sha !== req.headSha) {
      throw new ConfigurationError(`merge request !${iid} is at ${String(mr.sha).slice(0, 7)}, not at ${req.headSha.slice(0, 7)}: the report was prepared for another commit`, {
        hint: 'pass --head-sha with $CI_COMMIT_SHA of the pipeline that prepared the report, and its merge request IID',
      });
    }
    const urlOf = (id: number) => (mr.web_url ? `${mr.web_url}#note_${id}` : null);
    const written = (n: unknown) => ({ id: (n as Note).id, url: urlOf((n as Note).id) });
    return await upsertSticky<Note>(
      {
        list: async () => (await gl.notes.all(project, iid, { perPage: req.perPage ?? 100, sort: 'asc', orderBy: 'created_at' })) as unknown as Note[],
        create: async (body) => written(await gl.notes.create(project, iid, body)),
        update: async (id, body) => written(await gl.notes.edit(project, iid, id, { body })),
        remove: async (id) => void (await gl.notes.remove(project, iid, id)),
        urlOf: (n) => urlOf(n.id),
      },
      { tag, body: withoutQuickActions(req.body), own: (n) => !n.system && (me === undefined || n.author?.id === me), log: req.log, what: 'note' },
    );
  } catch (e) {
    if (e instanceof ConfigurationError || e instanceof ExternalError) throw e;
    const mapped = gitlabError(e, { project, mr: iid });
    if (mapped) throw mapped;
    if (statusOf(e) === 403) return { action: 'forbidden', id: null, url: null, scanned: 0, removed: 0 };
    throw e;
  }
}
