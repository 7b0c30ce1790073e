import { ConfigurationError, jsonPath } from '../errors.js';
import { readJson } from '../io/read.js';
import { validateSchema, type JsonSchema } from '../schema.js';
import metricsSchema from '../../../schemas/metrics.schema.json';

/** The metrics schemas mlloop reads; any other `schema` is a file it does not understand. */
export const METRICS_SCHEMA = 'mlloop/metrics@1';

/**
 * Checks a parsed metrics file at the door (exit 2, file and JSON path named): a JSON object, every number
 * finite (`1e400` parses as Infinity), and, for `mlloop/metrics@1`, every value within the range its
 * definition allows (schemas/metrics.schema.json). A `schema` mlloop does not know is refused, not guessed at.
 * Other values (a string where a number belongs) are left to the gate, which fails closed on them.
 */
export function checkMetricsDoc(value: unknown, file: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigurationError('a metrics file must be a JSON object, e.g. {"overall": {"f1": 0.93}}', { file, path: '$', hint: 'pass a metrics.json (mlloop/metrics@1 or any JSON object of numbers)' });
  }
  const walk = (v: unknown, segs: (string | number)[]): void => {
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new ConfigurationError(`${v} is not a finite number (a JSON number too large for a double, such as 1e400?)`, { file, path: jsonPath(segs), hint: 'write the measured value; a metric cannot be infinite' });
    } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...segs, i]));
    else if (v !== null && typeof v === 'object') for (const k of Object.keys(v)) walk((v as Record<string, unknown>)[k], [...segs, k]);
  };
  walk(value, []);
  const schema = (value as Record<string, unknown>).schema;
  if (schema === undefined) return value as Record<string, unknown>;
  if (schema !== METRICS_SCHEMA) {
    throw new ConfigurationError(`unknown schema ${JSON.stringify(schema)}: this mlloop reads ${METRICS_SCHEMA}`, {
      file,
      path: '$.schema',
      hint: typeof schema === 'string' && schema.startsWith('mlloop/metrics@') ? 'written by a newer mlloop? evaluate again with this version, or upgrade mlloop' : `pass a metrics file (${METRICS_SCHEMA}, or one without "schema")`,
    });
  }
  return validateSchema<Record<string, unknown>>(value, metricsSchema as JsonSchema, file);
}

/** Reads a metrics file for a gate or a report, checked by checkMetricsDoc. */
export async function readMetricsDoc(file: string, what = 'metrics file'): Promise<Record<string, unknown>> {
  return checkMetricsDoc(await readJson(file, what), file);
}

/** Keys that describe a metrics file rather than measure anything: strings allowed here. */
const METADATA_KEYS = new Set(['schema', 'model_version', 'dataset', 'config', 'model', 'version', 'name', 'notes', 'timestamp', 'created', 'created_at', 'run', 'source', 'commit', 'labels']);

/**
 * Reads a training or evaluation metrics file and checks it is usable by a gate: a JSON object whose
 * measurements are finite numbers. Missing, not JSON (Python's `NaN` is not JSON) or non-numeric
 * values are the user's mistake (exit 2), named by file and JSON path.
 */
export async function readMetricsFile(file: string): Promise<Record<string, unknown>> {
  const value = await readMetricsDoc(file);
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
