import { ConfigurationError } from '../errors.js';
import { readJsonl } from '../io/read.js';
import { parseTime } from './history.js';
import type { LowConfidenceTrigger } from './policy.js';

/** One line of the seed's `model_inference_log`. */
export interface InferenceRecord {
  file_id: string;
  confidence_score: number | null;
  error: string | null;
  status: string | null;
  model_version: string | null;
  timestamp: string;
  time: number;
  /** Extracted values by field label (null when the model found nothing), when the service logs them. */
  fields?: Record<string, string | null>;
  line: number;
}

/** Parses one log line; a request the service could not tie to a file (`"file_id": null`) gives null. */
export function parseInferenceLine(value: unknown, line: number, file: string): InferenceRecord | null {
  const at = (p: string) => ({ file, path: `line ${line}: $.${p}` });
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigurationError('each line must be an object {"file_id", "confidence_score", "timestamp", …}', { file, path: `line ${line}` });
  }
  const v = value as Record<string, unknown>;
  if (v.file_id === null) return null;
  if (typeof v.file_id !== 'string' || !v.file_id) throw new ConfigurationError('"file_id" must be a non-empty string', at('file_id'));
  const c = v.confidence_score;
  if (c !== undefined && c !== null && (typeof c !== 'number' || !Number.isFinite(c))) {
    throw new ConfigurationError(`"confidence_score" must be a number or null, not ${JSON.stringify(c)}`, at('confidence_score'));
  }
  if (typeof v.timestamp !== 'string' || !Number.isFinite(parseTime(v.timestamp))) {
    throw new ConfigurationError(`"timestamp" must be an ISO 8601 time, not ${JSON.stringify(v.timestamp)}`, { ...at('timestamp'), hint: 'e.g. "2025-06-12T16:22:10" (UTC when no zone is given)' });
  }
  let fields: Record<string, string | null> | undefined;
  if (v.fields !== undefined && v.fields !== null) {
    if (typeof v.fields !== 'object' || Array.isArray(v.fields)) throw new ConfigurationError('"fields" must be an object of values by label', at('fields'));
    fields = {};
    for (const [k, x] of Object.entries(v.fields as Record<string, unknown>)) {
      if (x !== null && typeof x !== 'string' && typeof x !== 'number') throw new ConfigurationError('field values must be strings or null', at(`fields.${k}`));
      fields[k] = x === null ? null : String(x);
    }
  }
  const str = (x: unknown) => (typeof x === 'string' && x !== '' ? x : null);
  return {
    file_id: v.file_id,
    confidence_score: typeof c === 'number' ? c : null,
    error: str(v.error),
    status: str(v.status),
    model_version: str(v.model_version),
    timestamp: v.timestamp,
    time: parseTime(v.timestamp),
    ...(fields ? { fields } : {}),
    line,
  };
}

/**
 * Reads an inference log, keeping the latest record of each file (the log may see a file several
 * times). Streams the file, so memory grows with distinct files, not lines.
 */
export async function readInferenceLog(file: string, since?: number): Promise<{ records: InferenceRecord[]; lines: number; unidentified: number }> {
  const latest = new Map<string, InferenceRecord>();
  let lines = 0;
  let unidentified = 0;
  for await (const { value, line } of readJsonl(file)) {
    lines++;
    const r = parseInferenceLine(value, line, file);
    if (r === null) {
      unidentified++;
      continue;
    }
    if (since !== undefined && r.time < since) continue;
    const prev = latest.get(r.file_id);
    if (!prev || prev.time <= r.time) latest.set(r.file_id, r);
  }
  return { records: [...latest.values()], lines, unidentified };
}

export function isLowConfidence(r: InferenceRecord, threshold: number): boolean {
  // No score at all (the service failed before scoring) is as uncertain as it gets.
  return r.confidence_score === null || r.confidence_score < threshold;
}

export interface LowConfidenceOutcome {
  holds: boolean;
  evidence: {
    threshold: number;
    min_samples: number;
    min_ratio: number | null;
    low: number;
    total: number;
    ratio: number;
    failed: number;
    model_version: string | null;
    since: string | null;
    examples: { file_id: string; confidence_score: number | null; error: string | null }[];
  };
}

/** Counts distinct files of the current model version whose latest inference was below the threshold. */
export function evaluateLowConfidence(records: readonly InferenceRecord[], t: LowConfidenceTrigger, since: number | undefined): LowConfidenceOutcome {
  const threshold = t.threshold ?? 0.6;
  let newest: InferenceRecord | undefined;
  for (const r of records) if (!newest || r.time > newest.time) newest = r;
  const version = newest?.model_version ?? null;
  const current = version === null ? records : records.filter((r) => r.model_version === version);
  const low = current.filter((r) => isLowConfidence(r, threshold)).sort((a, b) => (a.confidence_score ?? -1) - (b.confidence_score ?? -1) || a.file_id.localeCompare(b.file_id));
  const ratio = current.length ? low.length / current.length : 0;
  const holds = low.length >= t.min_samples && (t.min_ratio === undefined || ratio >= t.min_ratio);
  return {
    holds,
    evidence: {
      threshold,
      min_samples: t.min_samples,
      min_ratio: t.min_ratio ?? null,
      low: low.length,
      total: current.length,
      ratio,
      failed: current.filter((r) => r.status === 'fail' || r.error !== null).length,
      model_version: version,
      since: since !== undefined ? new Date(since).toISOString() : null,
      examples: low.slice(0, 5).map((r) => ({ file_id: r.file_id, confidence_score: r.confidence_score, error: r.error })),
    },
  };
}
