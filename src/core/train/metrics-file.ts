import { ConfigurationError, jsonPath } from '../errors.js';
import { readJson } from '../io/read.js';

/** Keys that describe a metrics file rather than measure anything: strings allowed here. */
const METADATA_KEYS = new Set(['schema', 'model_version', 'dataset', 'config', 'model', 'version', 'name', 'notes', 'timestamp', 'created', 'created_at', 'run', 'source', 'commit', 'labels']);

/**
 * Reads a training or evaluation metrics file and checks it is usable by a gate: a JSON object whose
 * measurements are finite numbers. Missing, not JSON (Python's `NaN` is not JSON) or non-numeric
 * values are the user's mistake (exit 2), named by file and JSON path.
 */
export async function readMetricsFile(file: string): Promise<Record<string, unknown>> {
  const value = await readJson(file, 'metrics file');
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigurationError('a metrics file must be a JSON object, e.g. {"overall": {"f1": 0.93}}', { file, path: '$' });
  }
  let numbers = 0;
  const walk = (v: unknown, segs: (string | number)[]): void => {
    if (typeof v === 'number') {
      numbers++;
      return;
    }
    if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, [...segs, i]));
      return;
    }
    if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (segs.length === 0 && METADATA_KEYS.has(k)) continue;
        walk(x, [...segs, k]);
      }
      return;
    }
    throw new ConfigurationError(`metric is not a number: ${JSON.stringify(v)}`, {
      file,
      path: jsonPath(segs),
      hint: 'write metrics as JSON numbers (not strings, null or NaN); put descriptive text under "notes"',
    });
  };
  walk(value, []);
  if (numbers === 0) throw new ConfigurationError('the metrics file holds no numeric metric', { file, path: '$', hint: 'write at least one number, e.g. {"overall": {"f1": 0.93}}' });
  return value as Record<string, unknown>;
}

/** The headline numbers people look for first, when present. */
export function headlineMetrics(metrics: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  const overall = metrics.overall as Record<string, unknown> | undefined;
  const source = overall && typeof overall === 'object' ? overall : metrics;
  for (const k of ['f1', 'precision', 'recall', 'accuracy', 'exact_match', 'map50', 'loss']) {
    const v = source[k];
    if (typeof v === 'number') out[k] = v;
  }
  for (const k of ['bleu', 'image_miss_rate', 'box_iou_ge_0_8']) if (typeof metrics[k] === 'number') out[k] = metrics[k] as number;
  return out;
}

/** Flattens numeric leaves to dotted paths (`overall.f1`), for tables and summaries. */
export function flattenMetrics(value: unknown, prefix = '', out: Record<string, number> = {}): Record<string, number> {
  if (typeof value === 'number') out[prefix] = value;
  else if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (!prefix && METADATA_KEYS.has(k)) continue;
      flattenMetrics(v, prefix ? `${prefix}.${k}` : k, out);
    }
  }
  return out;
}
