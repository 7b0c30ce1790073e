import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ConfigurationError } from '../errors.js';
import { cloneRepo, logWithTrailers, showFile, updateTree, type GitOptions, type RetryPolicy, type TreePlan, type TreeWrite, type UpdateResult, type Workspace } from './git.js';
import { assertCommitSha, assertModelVersion, assertPlainValue, assertUrl, parseImageRef } from './names.js';
import {
  METRICS_FILE,
  QUARANTINE_FILE,
  RELEASE_FILE,
  SAMPLES_FILE,
  VALUES_FILE,
  addQuarantine,
  checkDeployable,
  editValues,
  envPath,
  headline,
  parseRelease,
  quarantined,
  readEnvStateFrom,
  releaseJson,
  releaseMessage,
  sameRelease,
  type EnvState,
  type Release,
} from './release.js';

export interface RepoOptions extends GitOptions {
  cwd: string;
  dryRun?: boolean;
  retry?: Partial<RetryPolicy>;
  now: () => Date;
  /** When set, the change goes to this branch (a pull request) instead of the environment's branch. */
  pushBranch?: string;
  /** A folder for a bare mirror reused between runs (--cache-dir). */
  cacheDir?: string;
}

export interface ReleaseOutcome {
  result: UpdateResult;
  release?: Release;
  /** What the environment ran before. */
  previous?: Release;
}

const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * A release written into its environment folder: values.yaml edited in place, the evidence copies (or their
 * removal when the release has none), release.json, and any extra files; returns the commit plan.
 */
function writeRelease(state: EnvState, release: Release, evidence: { metrics?: Buffer | string; samples?: Buffer | string }, extra: TreeWrite[] = []): TreePlan {
  release.metrics_file = evidence.metrics !== undefined ? METRICS_FILE : null;
  release.samples_file = evidence.samples !== undefined ? SAMPLES_FILE : null;
  const values = editValues(state, release.image, release.model_version, release.app, release.env);
  const writes: TreeWrite[] = [
    { path: `${state.rel}/${VALUES_FILE}`, data: values },
    { path: `${state.rel}/${METRICS_FILE}`, data: evidence.metrics ?? null },
    { path: `${state.rel}/${SAMPLES_FILE}`, data: evidence.samples ?? null },
    ...extra,
  ];
  // An identical release keeps its file (and time stamp): a rerun makes no commit.
  if (sameRelease(state.release, release)) release.deployed_at = state.release!.deployed_at;
  writes.push({ path: `${state.rel}/${RELEASE_FILE}`, data: releaseJson(release) });
  return { message: releaseMessage(release), writes };
}

export interface DeployInput {
  app: string;
  env: string;
  image: string;
  modelVersion: string;
  sourceCommit?: string;
  dataset?: string;
  runUrl?: string;
  /** Local metrics.json / samples.jsonl to keep next to release.json. */
  metrics?: string;
  samples?: string;
}

/** Checks every value before any git work: nothing is cloned for a refused deploy. */
export function checkDeployInput(i: DeployInput): void {
  envPath(i.app, i.env);
  parseImageRef(i.image);
  assertModelVersion(i.modelVersion);
  if (i.sourceCommit) assertCommitSha(i.sourceCommit);
  if (i.dataset) assertPlainValue(i.dataset, 'dataset');
  if (i.runUrl) assertUrl(i.runUrl, 'run URL');
}

async function readSamples(file: string): Promise<Buffer> {
  const { readJsonl } = await import('../io/read.js');
  for await (const { value, line } of readJsonl(file)) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ConfigurationError(`line ${line} is not a JSON object`, { file, hint: 'pass the samples.jsonl that mlloop evaluate --samples wrote' });
  }
  return fs.readFile(file);
}

export async function deploy(i: DeployInput, o: RepoOptions): Promise<ReleaseOutcome> {
  checkDeployInput(i);
  const metricsPath = i.metrics ? path.resolve(o.cwd, i.metrics) : undefined;
  // The metrics schema (and its validator) is loaded only for a deploy that keeps metrics.
  const mf = metricsPath ? await import('../train/metrics-file.js') : undefined;
  const metricsValue = metricsPath ? await mf!.readMetricsFile(metricsPath) : undefined;
  const metricsBytes = metricsPath ? await fs.readFile(metricsPath) : undefined;
  const samplesBytes = i.samples ? await readSamples(path.resolve(o.cwd, i.samples)) : undefined;
  if (samplesBytes && !metricsBytes) throw new ConfigurationError('--samples needs --metrics', { hint: 'pass the metrics.json the samples belong to' });
  let release: Release | undefined;
  let previous: Release | undefined;
  const result = await updateTree({
    ...o,
    async edit(tree) {
      const state = await readEnvStateFrom(tree, i.app, i.env);
      previous = state.release;
      checkDeployable(state, i.modelVersion, i.image, (m) => o.log.warn(m));
      release = {
        schema: 'mlloop/release@1',
        app: i.app,
        env: i.env,
        action: 'deploy',
        model_version: i.modelVersion,
        image: i.image,
        source_commit: i.sourceCommit ?? null,
        dataset: i.dataset ?? null,
        run_url: i.runUrl ?? null,
        metrics: metricsValue ? headline(mf!.flattenMetrics(metricsValue)) : {},
        metrics_file: null,
        samples_file: null,
        deployed_at: iso(o.now()),
        promoted_from: null,
        rollback_of: null,
        reason: null,
      };
      return writeRelease(state, release, { metrics: metricsBytes, samples: samplesBytes });
    },
  });
  return { result, release, previous };
}

export interface PromoteInput {
  app: string;
  from: string;
  to: string;
  runUrl?: string;
}

export async function promote(i: PromoteInput, o: RepoOptions): Promise<ReleaseOutcome> {
  envPath(i.app, i.from);
  envPath(i.app, i.to);
  if (i.from === i.to) throw new ConfigurationError('--from and --to name the same environment', { hint: 'promote from one environment to another, e.g. --from staging --to prod' });
  if (i.runUrl) assertUrl(i.runUrl, 'run URL');
  let release: Release | undefined;
  let previous: Release | undefined;
  const result = await updateTree({
    ...o,
    async edit(tree) {
      const source = await readEnvStateFrom(tree, i.app, i.from);
      if (!source.release) throw new ConfigurationError(`${source.rel} has no ${RELEASE_FILE}: nothing to promote`, { hint: `deploy to ${i.from} first (mlloop gitops deploy --env ${i.from} …)` });
      const target = await readEnvStateFrom(tree, i.app, i.to);
      previous = target.release;
      const s = source.release;
      checkDeployable(target, s.model_version, s.image, (m) => o.log.warn(m));
      release = {
        ...s,
        env: i.to,
        action: 'promote',
        run_url: i.runUrl ?? s.run_url,
        deployed_at: iso(o.now()),
        promoted_from: i.from,
        rollback_of: null,
        reason: null,
      };
      const metrics = s.metrics_file ? await tree.read(`${source.rel}/${METRICS_FILE}`) : undefined;
      const samples = s.samples_file ? await tree.read(`${source.rel}/${SAMPLES_FILE}`) : undefined;
      return writeRelease(target, release, { metrics, samples });
    },
  });
  return { result, release, previous };
}

export interface RollbackInput {
  app: string;
  env: string;
  reason: string;
  /** A human's choice of version; without it, the newest earlier release that is not quarantined. */
  to?: string;
  runUrl?: string;
}

export interface RollbackOutcome extends ReleaseOutcome {
  /** The commit that deployed the release being rolled back. */
  rolledBack?: { commit: string; model_version: string; image: string };
}

export async function rollback(i: RollbackInput, o: RepoOptions): Promise<RollbackOutcome> {
  envPath(i.app, i.env);
  assertPlainValue(i.reason, 'reason', { allowColonSpace: true, max: 1000 });
  if (i.to) assertModelVersion(i.to, '--to');
  if (i.runUrl) assertUrl(i.runUrl, 'run URL');
  let release: Release | undefined;
  let previous: Release | undefined;
  let rolledBack: RollbackOutcome['rolledBack'];
  const result = await updateTree({
    ...o,
    depth: 'full',
    async edit(tree, _attempt, ws) {
      release = undefined;
      rolledBack = undefined;
      const state = await readEnvStateFrom(tree, i.app, i.env);
      const cur = state.release;
      previous = cur;
      if (!cur) throw new ConfigurationError(`${state.rel} has no ${RELEASE_FILE}: nothing to roll back`);
      // A retried job or a duplicate rollout-aborted event finds the rollback already done: no change, no commit.
      if (await alreadyRolledBack(ws, state, i.to)) return null;
      if (cur.action === 'rollback' && !i.to) {
        throw new ConfigurationError(`the current release of ${i.app}/${i.env} (${cur.model_version}) is itself a rollback of ${cur.rollback_of?.slice(0, 12)}; mlloop never rolls back a rollback automatically`, {
          hint: `a person chooses the version: mlloop gitops rollback --app ${i.app} --env ${i.env} --to <version> --reason "…"`,
        });
      }
      const history = await logWithTrailers(ws, [`${state.rel}/${RELEASE_FILE}`]);
      const bad = history[0];
      if (!bad) throw new ConfigurationError(`${state.rel}/${RELEASE_FILE} has no history to roll back to`);
      const isQuarantined = (r: Release) => r.model_version === cur.model_version || r.image === cur.image || quarantined(state, r.model_version, r.image) !== undefined;
      let target: { release: Release; commit: string } | undefined;
      for (const h of history.slice(1)) {
        const text = await showFile(ws, h.commit, `${state.rel}/${RELEASE_FILE}`);
        if (!text) continue;
        let r: Release;
        try {
          r = await parseRelease(text, `${state.rel}/${RELEASE_FILE}@${h.commit.slice(0, 12)}`);
        } catch {
          continue;
        }
        if (i.to ? r.model_version === i.to : !isQuarantined(r)) {
          target = { release: r, commit: h.commit };
          break;
        }
      }
      if (!target) {
        throw new ConfigurationError(i.to ? `${i.to} was never deployed to ${i.app}/${i.env} before the current release` : `no earlier release of ${i.app}/${i.env} is left that is not quarantined`, {
          hint: i.to ? `mlloop gitops history --app ${i.app} --env ${i.env} lists the releases` : 'deploy a fixed version instead',
        });
      }
      const t = target.release;
      if (i.to && t.model_version === cur.model_version) {
        throw new ConfigurationError(`${i.to} is what runs now in ${i.app}/${i.env} (deployed by ${cur.action}, not by a rollback)`, {
          file: `${state.rel}/${RELEASE_FILE}`,
          hint: `pass --to with an earlier version (mlloop gitops history --app ${i.app} --env ${i.env} lists them)`,
        });
      }
      if (i.to && quarantined(state, t.model_version, t.image)) {
        throw new ConfigurationError(`${i.to} is quarantined in ${i.app}/${i.env}`, { file: `${state.rel}/${QUARANTINE_FILE}`, hint: 'choose another version, or remove its entry from quarantine.yaml in a reviewed commit' });
      }
      rolledBack = { commit: bad.commit, model_version: cur.model_version, image: cur.image };
      release = {
        ...t,
        action: 'rollback',
        run_url: i.runUrl ?? t.run_url,
        deployed_at: iso(o.now()),
        promoted_from: null,
        rollback_of: bad.commit,
        reason: i.reason,
      };
      const rel = state.rel;
      const [metrics, samples] = await Promise.all([t.metrics_file ? showFile(ws, target.commit, `${rel}/${METRICS_FILE}`) : undefined, t.samples_file ? showFile(ws, target.commit, `${rel}/${SAMPLES_FILE}`) : undefined]);
      const extra: TreeWrite[] = [];
      if (!quarantined(state, cur.model_version, cur.image)) {
        extra.push({ path: `${state.rel}/${QUARANTINE_FILE}`, data: addQuarantine(state, { model_version: cur.model_version, image: cur.image, reason: i.reason, commit: bad.commit, at: iso(o.now()) }) });
      }
      return writeRelease(state, release, { metrics, samples }, extra);
    },
  });
  return { result, release, previous, rolledBack };
}

/**
 * The environment is already in the state this rollback would produce: its release is a rollback (to
 * `to`, when given) and the release it rolled back is quarantined.
 */
async function alreadyRolledBack(ws: Workspace, state: EnvState, to: string | undefined): Promise<boolean> {
  const cur = state.release;
  if (!cur || cur.action !== 'rollback' || !cur.rollback_of) return false;
  if (to !== undefined && cur.model_version !== to) return false;
  const text = await showFile(ws, cur.rollback_of, `${state.rel}/${RELEASE_FILE}`);
  if (!text) return false;
  let bad: Release;
  try {
    bad = await parseRelease(text, `${state.rel}/${RELEASE_FILE}@${cur.rollback_of.slice(0, 12)}`);
  } catch {
    return false;
  }
  return quarantined(state, bad.model_version, bad.image) !== undefined;
}

export interface HistoryEntry {
  commit: string;
  date: string;
  action: string | null;
  model_version: string | null;
  image: string | null;
  source_commit: string | null;
  dataset: string | null;
  metrics: string | null;
  run_url: string | null;
  promoted_from: string | null;
  rollback_of: string | null;
  reason: string | null;
  subject: string;
  author: string;
}

/** The releases of an environment, newest first, read back from the commit trailers. */
export async function history(i: { app: string; env: string; limit?: number }, o: GitOptions & { cwd: string }): Promise<HistoryEntry[]> {
  const ws = await cloneRepo({ ...o, depth: 'full' });
  try {
    return await envHistory(ws, i);
  } finally {
    await ws.cleanup();
  }
}

/** The releases of an environment in a full clone (one clone serves every environment: mlloop site). */
export async function envHistory(ws: Workspace, i: { app: string; env: string; limit?: number }): Promise<HistoryEntry[]> {
  const log = await logWithTrailers(ws, [envPath(i.app, i.env)], i.limit);
  return log.map((e) => {
    const t = e.trailers;
    const mine = t['Mlloop-App'] === i.app && t['Mlloop-Env'] === i.env;
    const v = (k: string) => (mine ? (t[k] ?? null) : null);
    return {
      commit: e.commit,
      date: e.date,
      action: v('Mlloop-Action'),
      model_version: v('Model-Version'),
      image: v('Image'),
      source_commit: v('Source-Commit'),
      dataset: v('Dataset'),
      metrics: v('Metrics'),
      run_url: v('Run-Url'),
      promoted_from: v('Promoted-From'),
      rollback_of: v('Rollback-Of'),
      reason: v('Reason'),
      subject: e.subject,
      author: e.author,
    };
  });
}
