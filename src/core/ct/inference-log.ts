import { ConfigurationError } from '../errors.js';
import { parseJsonlLine, readJsonlBatches } from '../io/read.js';
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
  // Called once per log line (millions): no closures or spreads on the happy path.
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigurationError('each line must be an object {"file_id", "confidence_score", "timestamp", …}', { file, path: `line ${line}` });
  }
  const v = value as Record<string, unknown>;
  const id = v.file_id;
  if (id === null) return null;
  if (typeof id !== 'string' || !id) throw bad(file, line, 'file_id', '"file_id" must be a non-empty string');
  const c = v.confidence_score;
  if (c !== undefined && c !== null && (typeof c !== 'number' || !Number.isFinite(c))) throw bad(file, line, 'confidence_score', `"confidence_score" must be a number or null, not ${JSON.stringify(c)}`);
  const ts = v.timestamp;
  const time = typeof ts === 'string' ? parseTime(ts) : NaN;
  if (!Number.isFinite(time)) throw bad(file, line, 'timestamp', `"timestamp" must be an ISO 8601 time, not ${JSON.stringify(ts)}`, 'e.g. "2025-06-12T16:22:10" (UTC when no zone is given)');
  let fields: Record<string, string | null> | undefined;
  const raw = v.fields;
  if (raw !== undefined && raw !== null) {
    if (typeof raw !== 'object' || Array.isArray(raw)) throw bad(file, line, 'fields', '"fields" must be an object of values by label');
    const r = raw as Record<string, unknown>;
    let numbers = false;
    for (const k in r) {
      const x = r[k];
      if (typeof x === 'number') numbers = true;
      else if (x !== null && typeof x !== 'string') throw bad(file, line, `fields.${k}`, 'field values must be strings or null');
    }
    // Values are kept as parsed unless a number has to become text (most logs: no copy at all).
    fields = numbers ? Object.fromEntries(Object.entries(r).map(([k, x]) => [k, x === null ? null : String(x)])) : (r as Record<string, string | null>);
  }
  const e = v.error;
  const st = v.status;
  const mv = v.model_version;
  return {
    file_id: id,
    confidence_score: typeof c === 'number' ? c : null,
    error: typeof e === 'string' && e !== '' ? e : null,
    status: typeof st === 'string' && st !== '' ? st : null,
    model_version: typeof mv === 'string' && mv !== '' ? mv : null,
    timestamp: ts as string,
    time,
    fields,
    line,
  };
}

function bad(file: string, line: number, field: string, message: string, hint?: string): ConfigurationError {
  return new ConfigurationError(message, { file, path: `line ${line}: $.${field}`, ...(hint ? { hint } : {}) });
}

/**
 * Reads an inference log, keeping the latest record of each file (the log may see a file several
 * times). Streams the file, so memory grows with distinct files, not lines.
 */
export async function readInferenceLog(file: string, since?: number): Promise<{ records: InferenceRecord[]; lines: number; unidentified: number }> {
  const latest = new Map<string, InferenceRecord>();
  let lines = 0;
  let unidentified = 0;
  for await (const batch of readJsonlBatches(file)) {
    for (let i = 0; i < batch.texts.length; i++) {
      lines++;
      const line = batch.lines[i]!;
      const r = parseInferenceLine(parseJsonlLine(file, batch.texts[i]!, line), line, file);
      if (r === null) {
        unidentified++;
        continue;
      }
      if (since !== undefined && r.time < since) continue;
      const prev = latest.get(r.file_id);
      if (!prev || prev.time <= r.time) latest.set(r.file_id, r);
    }
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
