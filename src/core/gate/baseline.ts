import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { tmpdir } from 'node:os';
import { ConfigurationError, ExternalError } from '../errors.js';
import { readJson } from '../io/read.js';
import { redactUrlCredentials } from '../mask.js';
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

const DNS1123 = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function checkAppEnv(app: string, env: string): void {
  for (const [what, v] of [['--app', app], ['--env', env]] as const) {
    if (!DNS1123.test(v)) throw new ConfigurationError(`${what} "${v}" is not a DNS-1123 label`, { hint: 'use lower-case letters, digits and dashes (e.g. ocr, prod)' });
  }
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
 * (a local path or a git URL), cloned shallow and read-only into a temp folder.
 */
export async function baselineFromGitops(req: { repo: string; app: string; env: string; ref?: string; cwd: string; log: Logger; wantSamples: boolean }): Promise<ResolvedBaseline> {
  checkAppEnv(req.app, req.env);
  const { simpleGit } = await import('simple-git');
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'mlloop-baseline-'));
  const cleanup = () => fs.rm(dir, { recursive: true, force: true });
  const looksLocal = !/^[a-z][a-z0-9+.-]*:\/\//i.test(req.repo) && !/^[^/\s]+@[^:\s]+:/.test(req.repo);
  const source = looksLocal ? path.resolve(req.cwd, req.repo) : req.repo;
  const shown = redactUrlCredentials(source);
  try {
    if (looksLocal) {
      try {
        await fs.access(source);
      } catch {
        throw new ConfigurationError(`GitOps repository ${shown} not found`, { hint: 'pass a local clone or a git URL to --baseline-gitops' });
      }
    }
    req.log.progress(`cloning ${shown} (shallow, read-only) for the baseline of ${req.app}/${req.env}`);
    try {
      await simpleGit({ baseDir: dir }).clone(looksLocal ? `file://${source}` : source, dir, ['--depth', '1', '--single-branch', ...(req.ref ? ['--branch', req.ref] : [])]);
    } catch (e) {
      const msg = redactUrlCredentials((e as Error).message.split('\n').filter(Boolean).slice(-1)[0] ?? '');
      if (looksLocal) throw new ConfigurationError(`${shown} is not a git repository I can clone: ${msg}`, { hint: 'pass the GitOps repository (a clone or a URL) to --baseline-gitops' });
      throw new ExternalError(`cannot clone the GitOps repository ${shown}: ${msg}`, { hint: 'check the URL and the credentials, then rerun' });
    }
    const commit = (await simpleGit({ baseDir: dir }).revparse(['HEAD'])).trim();
    const envDir = path.join(dir, 'apps', req.app, req.env);
    const releaseFile = path.join(envDir, 'release.json');
    const shownRelease = `${shown}:apps/${req.app}/${req.env}/release.json`;
    let release: Record<string, unknown>;
    try {
      release = (await readJson(releaseFile, 'release.json')) as Record<string, unknown>;
    } catch (e) {
      if (e instanceof ConfigurationError && /not found/.test(e.message)) {
        throw new ConfigurationError(`no release in ${req.app}/${req.env} (apps/${req.app}/${req.env}/release.json is missing at ${commit.slice(0, 7)})`, {
          file: shown,
          hint: 'check --app and --env, or deploy a first release with `mlloop gitops deploy`; for a first model pass --baseline with a metrics file',
        });
      }
      throw e;
    }
    if (!release || typeof release !== 'object' || release.schema !== 'mlloop/release@1') {
      throw new ConfigurationError('not an mlloop/release@1 file', { file: shownRelease, path: '$.schema', hint: 'release.json is written by `mlloop gitops deploy`' });
    }
    const metricsFile = inside(envDir, release.metrics_file, 'metrics_file', shownRelease);
    const samplesFile = req.wantSamples && release.samples_file ? inside(envDir, release.samples_file, 'samples_file', shownRelease) : undefined;
    if (req.wantSamples && !samplesFile) {
      throw new ConfigurationError('the release keeps no per-image samples, which the significance test needs', { file: shownRelease, path: '$.samples_file', hint: 'deploy with `mlloop gitops deploy --samples samples.jsonl`, or pass --baseline-samples' });
    }
    const str = (v: unknown) => (typeof v === 'string' ? v : null);
    return {
      metricsFile,
      samplesFile,
      origin: {
        kind: 'gitops',
        metrics_file: `apps/${req.app}/${req.env}/${String(release.metrics_file)}`,
        samples_file: samplesFile ? `apps/${req.app}/${req.env}/${String(release.samples_file)}` : null,
        model_version: str(release.model_version),
        dataset: str(release.dataset),
        repo: shown,
        commit,
        app: req.app,
        env: req.env,
        source_commit: str(release.source_commit),
        deployed_at: str(release.deployed_at),
        run_url: str(release.run_url),
      },
      cleanup,
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

export function baselineFromFile(metricsFile: string, samplesFile: string | undefined): ResolvedBaseline {
  return { metricsFile, samplesFile, origin: { kind: 'file', metrics_file: metricsFile, samples_file: samplesFile ?? null, model_version: null, dataset: null }, cleanup: async () => {} };
}
