import { checkFormat, garbledRatio, guessFormat, type FormatKind } from './formats.js';
import { isLowConfidence, type InferenceRecord } from './inference-log.js';

/** One predicted field of an image (mlloop/fields@1). */
export interface PredictedField {
  label: string;
  bbox?: [number, number, number, number];
  value: string | null;
  confidence?: number;
}

export interface PredictedImage {
  image_id: string;
  model_version?: string;
  width?: number;
  height?: number;
  fields: PredictedField[];
}

export type ReasonCode = 'low_confidence' | 'inference_error' | 'empty_field' | 'bad_format' | 'garbled' | 'low_field_confidence';

export interface SelectionReason {
  code: ReasonCode;
  field?: string;
  detail: string;
}

/** A sample worth a human's time, with why and how uncertain the model was. */
export interface Candidate {
  file_id: string;
  model_version: string | null;
  confidence_score: number | null;
  /** 1 − the lowest confidence known for the image (its score or any field's); 1 when nothing is known. */
  uncertainty: number;
  reasons: SelectionReason[];
  fields: PredictedField[];
  timestamp: string | null;
}

export interface SelectionRules {
  threshold: number;
  keyFields: string[];
  formats: Record<string, FormatKind>;
  maxGarbled: number;
}

/** The field to show per label: the most confident prediction of that label. */
function bestPerLabel(fields: readonly PredictedField[]): Map<string, PredictedField> {
  const out = new Map<string, PredictedField>();
  for (const f of fields) {
    const prev = out.get(f.label);
    if (!prev || (f.confidence ?? 0) > (prev.confidence ?? 0)) out.set(f.label, f);
  }
  return out;
}

const empty = (v: string | null | undefined) => v === null || v === undefined || v.trim() === '';

/**
 * Applies the selection rules to every file seen in the inference log or the predictions: confidence
 * below the threshold, an inference error, key fields empty, values failing their format check,
 * too much garbled text, a field below the threshold. Returns the selected files ranked by
 * uncertainty (most uncertain first; then more reasons first; then file id, so the order is stable).
 */
export function selectForRelabel(log: readonly InferenceRecord[], predictions: ReadonlyMap<string, PredictedImage>, rules: SelectionRules): Candidate[] {
  const byId = new Map<string, InferenceRecord>();
  for (const r of log) byId.set(r.file_id, r);
  const ids = new Set([...byId.keys(), ...predictions.keys()]);
  const out: Candidate[] = [];
  for (const id of ids) {
    const rec = byId.get(id);
    const pred = predictions.get(id);
    const reasons: SelectionReason[] = [];
    if (rec && isLowConfidence(rec, rules.threshold)) {
      reasons.push({ code: 'low_confidence', detail: rec.confidence_score === null ? 'no confidence score' : `confidence ${rec.confidence_score} < ${rules.threshold}` });
    }
    if (rec && (rec.error !== null || rec.status === 'fail')) reasons.push({ code: 'inference_error', detail: rec.error ?? `status ${rec.status}` });

    // Values: the predictions when we have them (boxes and per-field confidence), else what the log recorded.
    let fields: PredictedField[] = pred?.fields ?? [];
    if (!pred && rec?.fields) fields = Object.entries(rec.fields).map(([label, value]) => ({ label, value }));
    const known = pred !== undefined || rec?.fields !== undefined;
    const best = bestPerLabel(fields);
    if (known) {
      for (const k of rules.keyFields) {
        if (empty(best.get(k)?.value)) reasons.push({ code: 'empty_field', field: k, detail: `${k} is empty` });
      }
    }
    let minField: number | undefined;
    for (const [label, f] of best) {
      if (f.confidence !== undefined) minField = Math.min(minField ?? 1, f.confidence);
      if (empty(f.value)) continue;
      const kind = rules.formats[label] ?? guessFormat(label);
      const problem = checkFormat(kind, f.value!);
      if (problem) reasons.push({ code: 'bad_format', field: label, detail: `${label}: ${problem.why}` });
      const g = garbledRatio(f.value!);
      if (g > rules.maxGarbled) reasons.push({ code: 'garbled', field: label, detail: `${label}: ${(g * 100).toFixed(0)}% garbled characters` });
      if (f.confidence !== undefined && f.confidence < rules.threshold) reasons.push({ code: 'low_field_confidence', field: label, detail: `${label} confidence ${f.confidence} < ${rules.threshold}` });
    }
    if (!reasons.length) continue;
    const scores = [rec?.confidence_score ?? undefined, minField].filter((x): x is number => typeof x === 'number');
    const uncertainty = scores.length ? Math.max(0, Math.min(1, 1 - Math.min(...scores))) : 1;
    out.push({
      file_id: id,
      model_version: rec?.model_version ?? pred?.model_version ?? null,
      confidence_score: rec?.confidence_score ?? null,
      uncertainty,
      reasons,
      fields,
      timestamp: rec?.timestamp ?? null,
    });
  }
  return out.sort((a, b) => b.uncertainty - a.uncertainty || b.reasons.length - a.reasons.length || (a.file_id < b.file_id ? -1 : a.file_id > b.file_id ? 1 : 0));
}
