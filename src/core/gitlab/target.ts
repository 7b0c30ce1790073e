import type { Context } from '../../commands/define.js';
import { ConfigurationError } from '../errors.js';
import { GITLAB_COM_API } from './client.js';

/** Options that aim a note (the same names as on GitHub: --pr is the merge request IID, --repository the project). */
export interface NoteTargetOptions {
  pr?: number;
  repository?: string;
  apiUrl?: string;
}

/**
 * The merge request IID: --pr, else the sidecar's, else CI_MERGE_REQUEST_IID. A pipeline that does not run for a
 * merge request (a branch, tag or scheduled pipeline) has none: that is bad input (exit 2) with the fix, before
 * any API call.
 */
export function mergeRequestIid(o: NoteTargetOptions, ctx: Context, fallback?: number): number {
  const gl = ctx.runner.gitlab;
  const fromEnv = gl?.mergeRequestIid;
  if (o.pr ?? fallback) return (o.pr ?? fallback)!;
  if (fromEnv !== undefined) {
    const n = Number(fromEnv);
    if (!Number.isSafeInteger(n) || n < 1) throw new ConfigurationError(`CI_MERGE_REQUEST_IID must be a merge request IID (a whole number from 1), not "${fromEnv}"`, { hint: 'pass --pr IID' });
    return n;
  }
  if (gl) {
    // A branch pipeline of a branch with an open merge request names it; the note still needs it said (--pr).
    const open = /![1-9]\d*/.exec(gl.openMergeRequests ?? '')?.[0];
    throw new ConfigurationError(`no merge request to write the note on: this pipeline does not run for a merge request (CI_MERGE_REQUEST_IID is not set${gl.pipelineSource ? `; CI_PIPELINE_SOURCE is "${gl.pipelineSource}"` : ''})`, {
      hint: `run the job in merge request pipelines (rules: - if: $CI_PIPELINE_SOURCE == "merge_request_event"), or pass --pr with the merge request IID${open ? ` (this branch has ${open} open: --pr ${open.slice(1)})` : ''}`,
    });
  }
  throw new ConfigurationError('no merge request IID to write the note on', { hint: 'pass --pr IID (in a GitLab merge request pipeline it comes from CI_MERGE_REQUEST_IID)' });
}

/** The merge request's project: --repository (id or path), else the sidecar's, else CI_MERGE_REQUEST_PROJECT_ID / CI_PROJECT_ID. */
export function projectOf(o: NoteTargetOptions, ctx: Context, fallback?: string): string {
  const gl = ctx.runner.gitlab;
  const project = o.repository ?? fallback ?? gl?.mergeRequestProjectId ?? gl?.projectId ?? gl?.projectPath;
  if (!project) throw new ConfigurationError('no GitLab project', { hint: 'pass --repository with the project id or its path (group/project); in a GitLab job it is CI_PROJECT_ID' });
  const p = project.trim().replace(/^\/+|\/+$/g, '');
  if (!/^\d+$/.test(p) && !/^[A-Za-z0-9_.][A-Za-z0-9_.-]*(\/[A-Za-z0-9_.][A-Za-z0-9_.-]*)+$/.test(p)) {
    throw new ConfigurationError(`--repository must be a GitLab project id or path (group/project), not "${project}"`);
  }
  return p;
}

/** The REST API root: --api-url, else CI_API_V4_URL (CI_SERVER_URL), else gitlab.com's. */
export function gitlabApiUrl(o: NoteTargetOptions, ctx: Context): string {
  return o.apiUrl ?? ctx.runner.gitlab?.apiUrl ?? ctx.runner.gitlab?.serverUrl ?? GITLAB_COM_API;
}
