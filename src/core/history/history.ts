import * as path from 'node:path';
import { ConfigurationError } from '../errors.js';
import type { RunnerInfo } from '../github/runner-info.js';
import { readJson } from '../io/read.js';
import { readMetricsDoc } from '../train/metrics-file.js';
import { openStore, storeTarget, isPostgresUrl, isStoreDir, type Db } from './db.js';
import { canonicalJson, modelOf, sha256, type Evaluation } from './records.js';
import { listEvaluations } from './store.js';

export interface PushFiles {
  metrics: string;
  samples?: string;
  run?: string;
  modelVersion?: string;
  model?: string;
  dataset?: string;
  sourceCommit?: string;
  runUrl?: string;
  createdAt?: string;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() ? v.trim() : undefined);

/**
 * The evaluation a push records, from the metrics file (mlloop/metrics@1 or any JSON of numbers), the
 * optional run.json of `mlloop train`, the options, and the CI run (GITHUB_* variables) for provenance.
 */
export async function evaluationFrom(o: PushFiles, cwd: string, runner: RunnerInfo, now: Date): Promise<Evaluation> {
  const metricsFile = path.resolve(cwd, o.metrics);
  const metrics = await readMetricsDoc(metricsFile, 'metrics file');
  let run: Record<string, unknown> | null = null;
  if (o.run) {
    const r = await readJson(path.resolve(cwd, o.run), 'run file');
    if (r === null || typeof r !== 'object' || Array.isArray(r)) throw new ConfigurationError('must be a JSON object (the run.json `mlloop train` writes)', { file: o.run, path: '$' });
    run = r as Record<string, unknown>;
  }
  const modelVersion = str(o.modelVersion) ?? str(metrics.model_version);
  if (!modelVersion) throw new ConfigurationError('no model version: the metrics file has no "model_version"', { file: o.metrics, path: '$.model_version', hint: 'pass --model-version V, or evaluate with predictions that carry model_version' });
  const dataset = str(o.dataset) ?? str(metrics.dataset);
  if (!dataset) throw new ConfigurationError('no dataset: the metrics file has no "dataset"', { file: o.metrics, path: '$.dataset', hint: 'pass --dataset D (the test set the metrics were measured on)' });
  let createdAt = now.toISOString();
  if (o.createdAt) {
    const t = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(o.createdAt) || /^\d{4}-\d\d-\d\d$/.test(o.createdAt) ? o.createdAt : `${o.createdAt}Z`);
    if (!Number.isFinite(t)) throw new ConfigurationError(`--created-at "${o.createdAt}" is not an ISO 8601 time`, { hint: 'write it like 2025-06-12T11:05:22Z' });
    createdAt = new Date(t).toISOString();
  }
  return {
    model: str(o.model) ?? modelOf(modelVersion),
    model_version: modelVersion,
    dataset,
    config_hash: sha256(canonicalJson(metrics.config ?? {})),
    metrics_hash: sha256(canonicalJson(metrics)),
    source_commit: str(o.sourceCommit) ?? str(run?.git_commit) ?? str(runner.sha) ?? null,
    run_id: runner.runId ? `${runner.runId}${runner.runAttempt ? `/${runner.runAttempt}` : ''}` : null,
    run_url: str(o.runUrl) ?? runner.runUrl ?? null,
    job: runner.job ?? null,
    created_at: createdAt,
    metrics,
    run,
  };
}

/**
 * `--history` of compare and ct check may name a history store (a postgres URL, or the absolute path of a
 * folder holding an embedded store) instead of a JSONL file: true when it does.
 */
export function isHistoryStore(arg: string): boolean {
  return isPostgresUrl(arg) || isStoreDir(arg);
}

/**
 * The store's evaluations in the shape of a JSONL history line (`{"date", "model_version", "dataset",
 * "metrics": {…}}`), in push order, for the readers of `--history` files.
 */
export async function historyLines(arg: string, secret: (v: string | undefined) => void): Promise<{ value: Record<string, unknown>; line: number }[]> {
  const db = await openStore(storeTarget(arg, path.dirname(arg), secret), { create: false });
  try {
    const all = await listEvaluations(db);
    return all.map((e, i) => ({ value: { date: e.created_at, model_version: e.model_version, dataset: e.dataset, metrics: e.metrics }, line: i + 1 }));
  } finally {
    await db.close();
  }
}

/** Opens the store named by --db / $MLLOOP_HISTORY_DB / .mlloop/history. */
export function openHistory(db: string | undefined, ctx: { cwd: string; env: Readonly<Record<string, string | undefined>>; secret(v: string | undefined): void }, create: boolean): Promise<Db> {
  return openStore(storeTarget(db ?? ctx.env.MLLOOP_HISTORY_DB, ctx.cwd, (v) => ctx.secret(v)), { create });
}
