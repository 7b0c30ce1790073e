/**
 * Where a command runs, as plain values: read from @actions/github's `context` by the action adapter and
 * from the same variables by the CLI (src/cli/runner-info.ts); core code never reads them itself.
 */
export interface RunnerInfo {
  /** `owner/name` of the repository the workflow runs in. */
  repository?: string;
  runId?: string;
  runAttempt?: string;
  /** The run's page (its job summary holds the full report); built by runUrlOf. */
  runUrl?: string;
  /** https://github.com, or a GitHub Enterprise Server's address. */
  serverUrl: string;
  /** REST API root: https://api.github.com, or `<server>/api/v3` on GitHub Enterprise Server. */
  apiUrl: string;
  graphqlUrl: string;
  eventName?: string;
  /** The webhook payload of the triggering event ({} outside a workflow). */
  payload: Record<string, unknown>;
  sha?: string;
  ref?: string;
  /** Who started the run (GITHUB_ACTOR). */
  actor?: string;
  /** The job's id in the workflow (GITHUB_JOB). */
  job?: string;
  /** The workflow's name (GITHUB_WORKFLOW). */
  workflow?: string;
  /** `owner/name/.github/workflows/file.yml@ref` (GITHUB_WORKFLOW_REF). */
  workflowRef?: string;
  /** A pull request's base branch (GITHUB_BASE_REF). */
  baseRef?: string;
  /** In a GitLab CI job (CI_API_V4_URL set): GitLab's predefined variables, else undefined. */
  gitlab?: GitLabFacts;
}

/** A GitLab CI job as its predefined CI_* variables describe it. */
export interface GitLabFacts {
  /** The instance, e.g. https://gitlab.example.com/gitlab (CI_SERVER_URL). */
  serverUrl?: string;
  /** REST API root, `<server>/api/v4` (CI_API_V4_URL). */
  apiUrl: string;
  /** The project's numeric id (CI_PROJECT_ID); the merge request's target project in merge request pipelines. */
  projectId?: string;
  /** `group/sub/project` (CI_PROJECT_PATH). */
  projectPath?: string;
  /** The merge request's IID, only in merge request pipelines (CI_MERGE_REQUEST_IID). */
  mergeRequestIid?: string;
  /** The merge request's target project (CI_MERGE_REQUEST_PROJECT_ID). */
  mergeRequestProjectId?: string;
  /** Open merge requests of the pipeline's branch, `group/project!7,…` (CI_OPEN_MERGE_REQUESTS; branch pipelines too). */
  openMergeRequests?: string;
  /** What started the pipeline: push, merge_request_event, schedule, … (CI_PIPELINE_SOURCE). */
  pipelineSource?: string;
  pipelineUrl?: string;
  jobUrl?: string;
}

export const GITHUB_COM = { serverUrl: 'https://github.com', apiUrl: 'https://api.github.com', graphqlUrl: 'https://api.github.com/graphql' } as const;

/** The one place a run's URL is built: `<server>/<owner>/<name>/actions/runs/<id>[/attempts/<n>]`. */
export function runUrlOf(r: { serverUrl?: string; repository?: string; runId?: string | number; runAttempt?: string | number }): string | undefined {
  if (!r.repository || !r.runId) return undefined;
  const attempt = r.runAttempt ? `/attempts/${r.runAttempt}` : '';
  return `${(r.serverUrl || GITHUB_COM.serverUrl).replace(/\/+$/, '')}/${r.repository}/actions/runs/${r.runId}${attempt}`;
}

/** Outside any workflow: github.com defaults, no run. */
export function localRunner(): RunnerInfo {
  return { ...GITHUB_COM, payload: {} };
}
