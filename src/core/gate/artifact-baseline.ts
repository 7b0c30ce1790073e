import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ConfigurationError, ExternalError } from '../errors.js';
import type { Logger } from '../log.js';
import { makeTempDir } from '../fs/temp.js';
import type { GitHub } from '../github/client.js';
import type { ResolvedBaseline } from './baseline.js';

/**
 * The baseline from CI history: the named artifact of the latest successful workflow run on the base
 * branch, found with the Actions API and downloaded with @actions/artifact.
 */
export async function baselineFromArtifact(req: {
  gh: GitHub;
  token: string;
  owner: string;
  repo: string;
  branch: string;
  /** Workflow file name (ci.yml) or id; all workflows when absent. */
  workflow?: string;
  name: string;
  metricsPath: string;
  samplesPath?: string;
  log: Logger;
}): Promise<ResolvedBaseline> {
  const { gh } = req;
  let runs;
  try {
    const q = { owner: req.owner, repo: req.repo, branch: req.branch, status: 'success' as const, per_page: 20 };
    runs = req.workflow ? (await gh.rest.actions.listWorkflowRuns({ ...q, workflow_id: req.workflow })).data.workflow_runs : (await gh.rest.actions.listWorkflowRunsForRepo(q)).data.workflow_runs;
  } catch (e) {
    throw new ExternalError(`cannot list workflow runs of ${req.owner}/${req.repo}: ${(e as Error).message}`, { hint: 'the token needs actions: read' });
  }
  const { DefaultArtifactClient } = await import('@actions/artifact');
  const client = new DefaultArtifactClient();
  const findBy = (runId: number) => ({ token: req.token, repositoryOwner: req.owner, repositoryName: req.repo, workflowRunId: runId });
  const outside = (what: string) => (e: unknown): never => {
    if (e instanceof ConfigurationError || e instanceof ExternalError) throw e;
    throw new ExternalError(`${what}: ${(e as Error).message.split('\n')[0]}`, { hint: 'the token needs actions: read; rerun the job if GitHub was degraded' });
  };
  for (const run of runs) {
    const { artifacts } = await client.listArtifacts({ findBy: findBy(run.id) }).catch(outside(`cannot list the artifacts of run ${run.id}`));
    const art = artifacts.filter((a) => a.name === req.name).sort((a, b) => b.id - a.id)[0];
    if (!art) continue;
    const temp = await makeTempDir('baseline-artifact');
    const dir = temp.dir;
    const cleanup = () => temp.remove();
    try {
      req.log.progress(`baseline: artifact ${req.name} (${art.id}) of run ${run.id} on ${req.branch} @ ${run.head_sha.slice(0, 7)}`);
      await client.downloadArtifact(art.id, { path: dir, findBy: findBy(run.id) }).catch(outside(`cannot download artifact ${req.name} (${art.id}) of run ${run.id}`));
      const safe = (p: string, field: string) => {
        const full = path.resolve(dir, p);
        if (!full.startsWith(dir + path.sep)) throw new ConfigurationError(`${field} "${p}" points outside the artifact`, { hint: 'give a path inside the artifact, e.g. outputs/metrics.json' });
        return full;
      };
      const metricsFile = safe(req.metricsPath, 'baseline-artifact-metrics');
      await fs.access(metricsFile).catch(() => {
        throw new ConfigurationError(`artifact ${req.name} of run ${run.id} has no ${req.metricsPath}`, { hint: 'set baseline-artifact-metrics to the metrics file\'s path inside the artifact' });
      });
      const samplesFile = req.samplesPath ? safe(req.samplesPath, 'baseline-artifact-samples') : undefined;
      return {
        metricsFile,
        samplesFile,
        origin: {
          kind: 'artifact',
          metrics_file: req.metricsPath,
          samples_file: req.samplesPath ?? null,
          model_version: null,
          dataset: null,
          repo: `${req.owner}/${req.repo}`,
          commit: run.head_sha,
          run_id: run.id,
          run_url: run.html_url,
          artifact_id: art.id,
          artifact_name: req.name,
        },
        cleanup,
      };
    } catch (e) {
      await cleanup();
      throw e;
    }
  }
  throw new ConfigurationError(`no successful run on ${req.branch} of ${req.owner}/${req.repo} has an artifact named ${req.name} (${runs.length} runs looked at)`, {
    hint: 'upload the evaluation (metrics.json, samples.jsonl) with that name on the base branch, or pass --baseline',
  });
}
