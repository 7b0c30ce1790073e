import * as path from 'node:path';
import { ConfigurationError } from '../errors.js';
import { readJson } from '../io/read.js';
import { flattenMetrics, headlineMetrics } from '../train/metrics-file.js';
import { makeRecord, type LineageKind, type LineageRecord, type Sample } from './records.js';
import { hashFiles, samplesOf } from './store.js';

export interface RecordFlags {
  kind: LineageKind;
  model?: string;
  parentModel?: string;
  mode?: 'incremental' | 'full';
  dataset?: string;
  data: string[];
  gt: string[];
  tasks?: string;
  run?: string;
  metrics?: string;
  jobId?: string;
  template?: string;
  commit?: string;
  runUrl?: string;
  env?: string;
  actor: string;
  time: Date;
  cwd: string;
}

/** `invoice-clean@2025Q1` → id and version. */
export function parseDataset(text: string): { id: string; version: string | null } {
  const at = text.lastIndexOf('@');
  return at > 0 ? { id: text.slice(0, at), version: text.slice(at + 1) || null } : { id: text, version: null };
}

/** Gathers what a step used (files and their hashes, samples and their label versions, run record, metrics) into one record. */
export async function buildRecord(f: RecordFlags): Promise<LineageRecord> {
  if (['train', 'evaluate', 'deploy'].includes(f.kind) && !f.model) throw new ConfigurationError(`--kind ${f.kind} needs --model (the model id, e.g. ocr-v3.3)`);
  if (f.kind === 'train' && !f.data.length && !f.gt.length && !f.run) throw new ConfigurationError('--kind train needs the data it used: --data DIR and/or --gt FILE (or --run outputs/run.json)');
  if (f.kind === 'label' && !f.gt.length) throw new ConfigurationError('--kind label needs --gt with the corrected labels');
  if (f.kind === 'relabel' && !f.tasks) throw new ConfigurationError('--kind relabel needs --tasks (the file `mlloop ct relabel` wrote)');
  const abs = (p: string) => path.resolve(f.cwd, p);
  const files = (await Promise.all(f.data.map((d) => hashFiles(abs(d), f.cwd)))).flat();
  // A later --gt overrides an earlier one for the same file (corrected labels over the originals).
  const byFile = new Map<string, Sample>();
  for (const s of (await Promise.all(f.gt.map((g) => samplesOf(abs(g))))).flat()) {
    byFile.delete(s.file_id);
    byFile.set(s.file_id, s);
  }
  const samples: Sample[] = [...byFile.values()];
  const extra: Record<string, unknown> = {};
  let commit = f.commit ?? null;
  let datasetSha: string | null = null;
  let metrics: Record<string, number> = {};
  if (f.run) {
    const run = (await readJson(abs(f.run), 'run record')) as Record<string, unknown> | null;
    if (!run || run.schema !== 'mlloop/run@1') throw new ConfigurationError('not an mlloop/run@1 run record', { file: f.run, hint: 'pass the outputs/run.json `mlloop train` wrote' });
    if (run.status !== 'succeeded') throw new ConfigurationError(`the training run ${String(run.status)}: there is no model to record`, { file: f.run, path: '$.status' });
    commit ??= typeof run.git_commit === 'string' ? run.git_commit : null;
    const data = run.data as { sha256?: string; path?: string } | null;
    datasetSha = data?.sha256 ?? null;
    if (run.metrics && typeof run.metrics === 'object') metrics = { ...(run.metrics as Record<string, number>) };
    extra.command = run.command;
    extra.duration_s = run.duration_s;
    if (run.resumed_from_epoch !== null && run.resumed_from_epoch !== undefined) extra.resumed_from_epoch = run.resumed_from_epoch;
  }
  if (f.metrics) {
    const m = (await readJson(abs(f.metrics), 'metrics file')) as Record<string, unknown>;
    const head = headlineMetrics(m);
    metrics = Object.keys(head).length ? head : flattenMetrics(m);
  }
  if (f.tasks) {
    const tasks = (await readJson(abs(f.tasks), 'relabel tasks')) as { data?: { file_id?: unknown }; meta?: { reasons?: { code: string }[] } }[];
    if (!Array.isArray(tasks)) throw new ConfigurationError('relabel tasks must be a JSON array of Label Studio tasks', { file: f.tasks, path: '$' });
    const reasons: Record<string, string[]> = {};
    tasks.forEach((t, i) => {
      const id = t?.data?.file_id;
      if (typeof id !== 'string') throw new ConfigurationError('task has no data.file_id', { file: f.tasks, path: `$[${i}].data.file_id` });
      samples.push({ file_id: id, label_version: 'queued' });
      reasons[id] = [...new Set((t.meta?.reasons ?? []).map((r) => r.code))];
    });
    extra.reasons = reasons;
  }
  const ds = f.dataset ? parseDataset(f.dataset) : null;
  return makeRecord({
    kind: f.kind,
    time: f.time.toISOString(),
    actor: f.actor,
    model_id: f.model ?? null,
    parent_model: f.parentModel ?? null,
    mode: f.mode ?? (f.kind === 'train' ? (f.parentModel ? 'incremental' : 'full') : null),
    job_id: f.jobId ?? null,
    template: f.template ?? null,
    commit,
    run_url: f.runUrl ?? null,
    env: f.env ?? null,
    dataset: ds ? { ...ds, sha256: datasetSha } : null,
    files,
    samples,
    metrics,
    extra,
  });
}
