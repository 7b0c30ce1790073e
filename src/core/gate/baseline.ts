import * as path from 'node:path';
import { ConfigurationError } from '../errors.js';
import type { Logger } from '../log.js';

/** Where the baseline came from; recorded in the verdict. */
export interface BaselineOrigin {
  kind: 'file' | 'gitops' | 'artifact';
  metrics_file: string;
  samples_file: string | null;
  model_version: string | null;
  dataset: string | null;
  /** gitops: the GitOps repository and the commit read; artifact: the run's head commit. */
  repo?: string;
  commit?: string | null;
  app?: string;
  env?: string;
  source_commit?: string | null;
  deployed_at?: string | null;
  run_id?: number;
  run_url?: string | null;
  artifact_id?: number;
  artifact_name?: string;
}

export interface ResolvedBaseline {
  metricsFile: string;
  samplesFile?: string;
  origin: BaselineOrigin;
  /** Removes temp folders (clone, download). */
  cleanup(): Promise<void>;
}

/** A file named inside release.json must stay inside the release's folder (no path traversal). */
function inside(dir: string, name: unknown, field: string, releaseFile: string): string {
  if (typeof name !== 'string' || !name) throw new ConfigurationError(`"${field}" is missing`, { file: releaseFile, path: `$.${field}`, hint: 'deploy with `mlloop gitops deploy --metrics F [--samples F]` so the release keeps its metrics' });
  const full = path.resolve(dir, name);
  if (!full.startsWith(dir + path.sep)) throw new ConfigurationError(`"${field}" points outside the release folder`, { file: releaseFile, path: `$.${field}`, hint: 'name a file next to release.json' });
  return full;
}

/**
 * The baseline of what runs in an environment: `apps/<app>/<env>/release.json` of the GitOps repository
 * (a local path or a git URL), read the way `mlloop gitops` reads it — a shallow clone through the one git
 * wrapper (credentials as a header, never in argv or .git/config; $GITOPS_TOKEN honoured) and release.ts.
 */
export async function baselineFromGitops(req: {
  repo: string;
  app: string;
  env: string;
  ref?: string;
  cwd: string;
  log: Logger;
  wantSamples: boolean;
  /** The caller's environment (PATH, HOME, proxies, GITOPS_TOKEN). */
  processEnv: Readonly<Record<string, string | undefined>>;
  secret(value: string | undefined): void;
  signal?: AbortSignal;
}): Promise<ResolvedBaseline> {
  // Loaded on use: a gate against a baseline file starts without git, YAML editing or the release schemas.
  const [{ cloneRepo, displayUrl, remoteFrom }, { assertLabel }, { RELEASE_FILE, envPath, readEnvState }] = await Promise.all([import('../gitops/git.js'), import('../gitops/names.js'), import('../gitops/release.js')]);
  assertLabel(req.app, '--app');
  assertLabel(req.env, '--env');
  const remote = remoteFrom({ url: req.repo, branch: req.ref ?? '' }, req.processEnv, req.secret);
  const shown = displayUrl(remote.url);
  req.log.progress(`cloning ${shown} (shallow, read-only) for the baseline of ${req.app}/${req.env}`);
  const ws = await cloneRepo({ remote, env: req.processEnv, log: req.log, signal: req.signal, cwd: req.cwd, depth: 1 });
  try {
    const rel = envPath(req.app, req.env);
    const shownRelease = `${shown}:${rel}/${RELEASE_FILE}`;
    const state = await readEnvState(ws.dir, req.app, req.env);
    const release = state.release;
    if (!release) {
      throw new ConfigurationError(`no release in ${req.app}/${req.env} (${rel}/${RELEASE_FILE} is missing at ${ws.base.slice(0, 7) || 'an empty repository'})`, {
        file: shown,
        hint: 'check --app and --env, or deploy a first release with `mlloop gitops deploy`; for a first model pass --baseline with a metrics file',
      });
    }
    const metricsFile = inside(state.dir, release.metrics_file, 'metrics_file', shownRelease);
    const samplesFile = req.wantSamples && release.samples_file ? inside(state.dir, release.samples_file, 'samples_file', shownRelease) : undefined;
    if (req.wantSamples && !samplesFile) {
      throw new ConfigurationError('the release keeps no per-image samples, which the significance test needs', { file: shownRelease, path: '$.samples_file', hint: 'deploy with `mlloop gitops deploy --samples samples.jsonl`, or pass --baseline-samples' });
    }
    return {
      metricsFile,
      samplesFile,
      origin: {
        kind: 'gitops',
        metrics_file: `${rel}/${String(release.metrics_file)}`,
        samples_file: samplesFile ? `${rel}/${String(release.samples_file)}` : null,
        model_version: release.model_version,
        dataset: release.dataset ?? null,
        repo: shown,
        commit: ws.base,
        app: req.app,
        env: req.env,
        source_commit: release.source_commit ?? null,
        deployed_at: release.deployed_at ?? null,
        run_url: release.run_url ?? null,
      },
      cleanup: ws.cleanup,
    };
  } catch (e) {
    await ws.cleanup();
    throw e;
  }
}

export function baselineFromFile(metricsFile: string, samplesFile: string | undefined): ResolvedBaseline {
  return { metricsFile, samplesFile, origin: { kind: 'file', metrics_file: metricsFile, samples_file: samplesFile ?? null, model_version: null, dataset: null }, cleanup: async () => {} };
}
