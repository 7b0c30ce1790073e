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

/** The end (exclusive) of the JSON value starting at `i` (after whitespace) in valid JSON text. */
function valueEnd(t: string, i: number): number {
  let depth = 0;
  for (; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c === 34) {
      // A string: skip to its closing quote, over escapes.
      for (i++; i < t.length; i++) {
        const d = t.charCodeAt(i);
        if (d === 92) i++;
        else if (d === 34) break;
      }
      if (depth === 0) return i + 1;
    } else if (c === 123 || c === 91) depth++;
    else if (c === 125 || c === 93) {
      depth--;
      if (depth === 0) return i + 1;
      if (depth < 0) return i;
    } else if (depth === 0 && (c === 44 || c === 125)) return i;
  }
  return i;
}

/**
 * The raw text of the top-level members `per_field` and `fields` of one valid JSON object line, so their JSON
 * goes to the database as written instead of being serialized again (most of the cost of a large push).
 */
export function rawSampleMembers(line: string): { per_field?: string; fields?: string } {
  const out: { per_field?: string; fields?: string } = {};
  let i = line.indexOf('{') + 1;
  while (i > 0 && i < line.length) {
    const q = line.indexOf('"', i);
    if (q < 0) break;
    const keyEnd = valueEnd(line, q);
    const key = line.slice(q, keyEnd);
    const colon = line.indexOf(':', keyEnd);
    let start = colon + 1;
    while (line.charCodeAt(start) <= 32) start++;
    const end = valueEnd(line, start);
    if (key === '"per_field"') out.per_field = line.slice(start, end).trimEnd();
    else if (key === '"fields"') out.fields = line.slice(start, end).trimEnd();
    i = line.indexOf(',', end) + 1;
    if (i === 0) break;
  }
  return out;
}

/** One sample_scores row in COPY text format (with its line end); `raw` is the line as read, when at hand. */
export function sampleCopyLine(evaluationId: string, s: SampleLine, raw?: string): string {
  const members = raw === undefined ? undefined : rawSampleMembers(raw);
  const perField = s.raw.per_field === undefined ? null : (members?.per_field ?? JSON.stringify(s.raw.per_field));
  const fields = s.fields === undefined ? null : (members?.fields ?? JSON.stringify(s.fields));
  return `${evaluationId}\t${copyText(s.id)}\t${s.tp}\t${s.fp}\t${s.fn}\t${copyText(perField)}\t${copyText(fields)}\n`;
}
