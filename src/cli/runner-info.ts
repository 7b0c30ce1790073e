import { readFileSync } from 'node:fs';
import { GITHUB_COM, runUrlOf, type GitLabFacts, type RunnerInfo } from '../core/github/runner-info.js';

/**
 * The CLI's small equivalent of @actions/github's `context`: the same variables, read without loading
 * @actions/* (a laptop or another CI has none of them, and the CLI must start at bare-Node speed).
 */
export function runnerInfoFromEnv(env: Readonly<Record<string, string | undefined>>): RunnerInfo {
  let payload: Record<string, unknown> = {};
  if (env.GITHUB_EVENT_PATH) {
    try {
      payload = JSON.parse(readFileSync(env.GITHUB_EVENT_PATH, 'utf8')) as Record<string, unknown>;
    } catch {
      // As context does: a missing event file leaves the payload empty.
    }
  }
  const repository = env.GITHUB_REPOSITORY || undefined;
  const runId = env.GITHUB_RUN_ID || undefined;
  const runAttempt = env.GITHUB_RUN_ATTEMPT || undefined;
  const serverUrl = env.GITHUB_SERVER_URL || GITHUB_COM.serverUrl;
  return {
    repository,
    runId,
    runAttempt,
    runUrl: runUrlOf({ serverUrl, repository, runId, runAttempt }),
    serverUrl,
    apiUrl: env.GITHUB_API_URL || GITHUB_COM.apiUrl,
    graphqlUrl: env.GITHUB_GRAPHQL_URL || GITHUB_COM.graphqlUrl,
    eventName: env.GITHUB_EVENT_NAME || undefined,
    payload,
    sha: env.GITHUB_SHA || undefined,
    ref: env.GITHUB_REF || undefined,
    actor: env.GITHUB_ACTOR || undefined,
    job: env.GITHUB_JOB || undefined,
    workflow: env.GITHUB_WORKFLOW || undefined,
    workflowRef: env.GITHUB_WORKFLOW_REF || undefined,
    baseRef: env.GITHUB_BASE_REF || undefined,
    gitlab: gitlabFactsFromEnv(env),
  };
}

/** GitLab CI's predefined variables, when the CLI runs in a GitLab job (CI_API_V4_URL is set in every one). */
export function gitlabFactsFromEnv(env: Readonly<Record<string, string | undefined>>): GitLabFacts | undefined {
  if (!env.CI_API_V4_URL) return undefined;
  return {
    serverUrl: env.CI_SERVER_URL || undefined,
    apiUrl: env.CI_API_V4_URL,
    projectId: env.CI_PROJECT_ID || undefined,
    projectPath: env.CI_PROJECT_PATH || undefined,
    mergeRequestIid: env.CI_MERGE_REQUEST_IID || undefined,
    mergeRequestProjectId: env.CI_MERGE_REQUEST_PROJECT_ID || undefined,
    openMergeRequests: env.CI_OPEN_MERGE_REQUESTS || undefined,
    pipelineSource: env.CI_PIPELINE_SOURCE || undefined,
    pipelineUrl: env.CI_PIPELINE_URL || undefined,
    jobUrl: env.CI_JOB_URL || undefined,
  };
}
