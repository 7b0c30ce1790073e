import { createHash } from 'node:crypto';
import type { SampleLine } from '../stats/samples.js';

/** What one pushed evaluation is, before it reaches the store. */
export interface Evaluation {
  model: string;
  model_version: string;
  dataset: string;
  config_hash: string;
  metrics_hash: string;
  source_commit: string | null;
  run_id: string | null;
  run_url: string | null;
  job: string | null;
  created_at: string;
  metrics: Record<string, unknown>;
  run: Record<string, unknown> | null;
}

/** One point of a metric's trend (`history trend --json`). */
export interface TrendPoint {
  model_version: string;
  value: number;
  dataset: string;
  created_at: string;
  run_url: string | null;
}

/** JSON with object keys sorted at every level: the same content always hashes the same. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Keys of a metrics file that are settings or labels, not measurements. */
const NOT_MEASURED = new Set(['schema', 'config', 'model_version', 'dataset', 'model']);

/** Every finite number of a metrics document by dotted path (`overall.f1`, `per_field.name.recall`, `bleu`). */
export function metricRows(metrics: Record<string, unknown>): { path: string; value: number }[] {
  const out: { path: string; value: number }[] = [];
  const walk = (v: unknown, p: string): void => {
    if (typeof v === 'number') {
      if (Number.isFinite(v)) out.push({ path: p, value: v });
    } else if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) walk(x, p ? `${p}.${k}` : k);
    }
  };
  for (const [k, v] of Object.entries(metrics)) if (!NOT_MEASURED.has(k)) walk(v, k);
  return out;
}

/** The model a version belongs to: `ocr-v3.2` → `ocr` (mlloop tag's `<model>-v<version>`), else the version itself. */
export function modelOf(version: string): string {
  const m = /^(.+?)-v\d/.exec(version);
  return m ? m[1]! : version;
}

/** COPY's text format: backslash, tab, newline and carriage return are escaped; `\N` is NULL. */
export function copyText(v: string | null): string {
  if (v === null) return '\\N';
  return /[\\\t\n\r]/.test(v) ? v.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')) : v;
}

export const SAMPLE_COLUMNS = ['evaluation_id', 'image_id', 'tp', 'fp', 'fn', 'per_field', 'fields'] as const;

/** One sample_scores row in COPY text format (with its line end). */
export function sampleCopyLine(evaluationId: string, s: SampleLine): string {
  const perField = s.raw.per_field === undefined ? null : JSON.stringify(s.raw.per_field);
  const fields = s.fields === undefined ? null : JSON.stringify(s.fields);
  return `${evaluationId}\t${copyText(s.id)}\t${s.tp}\t${s.fp}\t${s.fn}\t${copyText(perField)}\t${copyText(fields)}\n`;
}
