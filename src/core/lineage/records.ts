import { createHash } from 'node:crypto';

export type LineageKind = 'train' | 'evaluate' | 'deploy' | 'relabel' | 'label';
export const LINEAGE_KINDS: readonly LineageKind[] = ['train', 'evaluate', 'deploy', 'relabel', 'label'];

export interface Sample {
  file_id: string;
  label_version: string;
}

/** `mlloop/lineage@1`: one step that used or produced data or a model. */
export interface LineageRecord {
  schema: 'mlloop/lineage@1';
  id: string;
  kind: LineageKind;
  time: string;
  actor: string;
  model_id: string | null;
  parent_model: string | null;
  mode: 'incremental' | 'full' | null;
  job_id: string | null;
  template: string | null;
  commit: string | null;
  run_url: string | null;
  env: string | null;
  dataset: { id: string; version: string | null; sha256: string | null } | null;
  files: { path: string; sha256: string }[];
  samples: Sample[];
  metrics: Record<string, number>;
  extra: Record<string, unknown>;
}

/** `mlloop/audit@1`: the seed's audit_log — who did what to which file, when. */
export interface AuditEntry {
  schema: 'mlloop/audit@1';
  actor: string;
  action: string;
  timestamp: string;
  file_id: string | null;
  extra_info: Record<string, unknown>;
}

/** JSON with object keys sorted, so equal content hashes equally. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * The version of one sample's labels: a hash of its ground-truth fields (label, box, value), in a
 * fixed order. A corrected label gives a new version; re-exporting the same labels does not.
 */
export function labelVersion(fields: readonly { label: string; bbox?: readonly number[]; value?: unknown }[]): string {
  const norm = fields.map((f) => ({ label: f.label, bbox: f.bbox ?? null, value: f.value ?? null })).sort((a, b) => canonicalJson(a).localeCompare(canonicalJson(b)));
  return createHash('sha256').update(canonicalJson(norm)).digest('hex').slice(0, 12);
}

export type RecordInput = Omit<LineageRecord, 'schema' | 'id'>;

/** The record with its id: a hash of everything but the time, so recording one step twice adds nothing. */
export function makeRecord(input: RecordInput): LineageRecord {
  const { time: _t, ...stable } = input;
  const id = createHash('sha256').update(canonicalJson(stable)).digest('hex').slice(0, 16);
  return { schema: 'mlloop/lineage@1', id, ...input };
}

/** The audit entries a record implies, in the seed's audit_log form. */
export function auditFor(r: LineageRecord): AuditEntry[] {
  const entry = (action: string, file_id: string | null, extra_info: Record<string, unknown>): AuditEntry => ({ schema: 'mlloop/audit@1', actor: r.actor, action, timestamp: r.time, file_id, extra_info });
  switch (r.kind) {
    case 'train':
      return r.samples.map((s) => entry('used_in_model', s.file_id, { model_id: r.model_id, label_version: s.label_version, record: r.id }));
    case 'evaluate':
      return r.samples.map((s) => entry('evaluated_on', s.file_id, { model_id: r.model_id, label_version: s.label_version, record: r.id }));
    case 'label':
      return r.samples.map((s) => entry('confirm_label', s.file_id, { label_version: s.label_version, record: r.id, ...(r.extra.fields_changed ? { fields: (r.extra.fields_changed as Record<string, unknown>)[s.file_id] } : {}) }));
    case 'relabel': {
      const reasons = (r.extra.reasons ?? {}) as Record<string, unknown>;
      return r.samples.map((s) => entry('queued_for_relabel', s.file_id, { model_id: r.model_id, reasons: reasons[s.file_id] ?? null, record: r.id }));
    }
    case 'deploy':
      return [entry('deploy', null, { model_id: r.model_id, env: r.env, record: r.id })];
  }
}

export interface ModelLineage {
  model: string;
  records: LineageRecord[];
  /** What trained the model: its train records' datasets, files and samples. */
  trained_on: { datasets: { id: string; version: string | null; sha256: string | null }[]; files: { path: string; sha256: string }[]; samples: Sample[]; jobs: (string | null)[]; templates: (string | null)[]; commits: (string | null)[] };
  /** The model, the model it was fine-tuned from, and so on back to a full training. */
  chain: { model: string; mode: string | null; time: string | null }[];
  evaluated_on: { dataset: string | null; samples: number; metrics: Record<string, number>; time: string }[];
  deployed: { env: string | null; time: string; actor: string }[];
}

const uniqBy = <T>(xs: readonly T[], key: (x: T) => string): T[] => {
  const seen = new Map<string, T>();
  for (const x of xs) if (!seen.has(key(x))) seen.set(key(x), x);
  return [...seen.values()];
};

export function modelLineage(records: readonly LineageRecord[], model: string): ModelLineage {
  const of = records.filter((r) => r.model_id === model).sort((a, b) => a.time.localeCompare(b.time));
  const train = of.filter((r) => r.kind === 'train');
  const chain: ModelLineage['chain'] = [];
  const seen = new Set<string>();
  for (let m: string | null = model; m && !seen.has(m); ) {
    seen.add(m);
    const t: LineageRecord | undefined = records.filter((r) => r.kind === 'train' && r.model_id === m).sort((a, b) => b.time.localeCompare(a.time))[0];
    chain.push({ model: m, mode: t?.mode ?? null, time: t?.time ?? null });
    m = t?.parent_model ?? null;
  }
  return {
    model,
    records: of,
    trained_on: {
      datasets: uniqBy(train.flatMap((r) => (r.dataset ? [r.dataset] : [])), (d) => `${d.id}@${d.version}`),
      files: uniqBy(train.flatMap((r) => r.files), (f) => `${f.path}\0${f.sha256}`),
      samples: uniqBy(train.flatMap((r) => r.samples), (s) => `${s.file_id}\0${s.label_version}`),
      jobs: train.map((r) => r.job_id),
      templates: train.map((r) => r.template),
      commits: train.map((r) => r.commit),
    },
    chain,
    evaluated_on: of.filter((r) => r.kind === 'evaluate').map((r) => ({ dataset: r.dataset?.id ?? null, samples: r.samples.length, metrics: r.metrics, time: r.time })),
    deployed: of.filter((r) => r.kind === 'deploy').map((r) => ({ env: r.env, time: r.time, actor: r.actor })),
  };
}

export interface FileLineage {
  file: string;
  models: { model_id: string; time: string; label_version: string | null; newer_label_version: boolean; dataset: string | null }[];
  label_versions: { label_version: string; first_seen: string; kind: LineageKind; actor: string }[];
  latest_label_version: string | null;
  audit: AuditEntry[];
}

/**
 * The models trained on a file (a sample's file id, or a data file path) and, for each, whether the
 * file's labels have a newer version than the one that model used — the model was trained on labels
 * that have since been corrected.
 */
export function fileLineage(records: readonly LineageRecord[], audit: readonly AuditEntry[], file: string): FileLineage {
  const sorted = [...records].sort((a, b) => a.time.localeCompare(b.time));
  const versions: FileLineage['label_versions'] = [];
  for (const r of sorted) {
    if (r.kind === 'relabel') continue;
    for (const s of r.samples) {
      if (s.file_id === file && !versions.some((v) => v.label_version === s.label_version)) versions.push({ label_version: s.label_version, first_seen: r.time, kind: r.kind, actor: r.actor });
    }
  }
  const latest = versions.at(-1)?.label_version ?? null;
  const models: FileLineage['models'] = [];
  for (const r of sorted) {
    if (r.kind !== 'train' || !r.model_id) continue;
    const s = r.samples.findLast((x) => x.file_id === file);
    const byPath = r.files.some((f) => f.path === file || f.path.endsWith(`/${file}`));
    if (!s && !byPath) continue;
    const used = s?.label_version ?? null;
    const usedIndex = used === null ? -1 : versions.findIndex((v) => v.label_version === used);
    models.push({ model_id: r.model_id, time: r.time, label_version: used, newer_label_version: used !== null && usedIndex < versions.length - 1, dataset: r.dataset?.id ?? null });
  }
  const trail = audit.filter((a) => a.file_id === file).sort((a, b) => a.timestamp.localeCompare(b.timestamp));
  return { file, models, label_versions: versions, latest_label_version: latest, audit: trail };
}
