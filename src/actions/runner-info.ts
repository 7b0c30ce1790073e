import { context } from '@actions/github';
import { runUrlOf, type RunnerInfo } from '../core/github/runner-info.js';

/** The run as @actions/github's `context` sees it, handed to core code as plain values. */
export function runnerInfoFromContext(): RunnerInfo {
  const repository = process.env.GITHUB_REPOSITORY || (context.payload.repository ? `${context.payload.repository.owner.login}/${context.payload.repository.name}` : undefined);
  const runId = Number.isFinite(context.runId) ? String(context.runId) : undefined;
  const runAttempt = Number.isFinite(context.runAttempt) ? String(context.runAttempt) : undefined;
  return {
    repository,
    runId,
    runAttempt,
    runUrl: runUrlOf({ serverUrl: context.serverUrl, repository, runId, runAttempt }),
    serverUrl: context.serverUrl,
    apiUrl: context.apiUrl,
    graphqlUrl: context.graphqlUrl,
    eventName: context.eventName,
    payload: context.payload as Record<string, unknown>,
    sha: context.sha,
    ref: context.ref,
    actor: context.actor || undefined,
    job: context.job || undefined,
    workflow: context.workflow || undefined,
    // Not in context: read where the runner puts them.
    workflowRef: process.env.GITHUB_WORKFLOW_REF || undefined,
    baseRef: process.env.GITHUB_BASE_REF || undefined,
  };
}
