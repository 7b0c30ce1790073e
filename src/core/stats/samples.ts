import { ConfigurationError, jsonPath } from '../errors.js';
import { readJsonl } from '../io/read.js';

/** Per-image counts, one slot per image, in the file's order. */
export interface Counts {
  tp: Int32Array;
  fp: Int32Array;
  fn: Int32Array;
}

import type { FieldOutcome } from '../evaluate/evaluate.js';

// The contract `evaluate --samples` writes; the sample-diff report reads its `fields`.
export type { FieldOutcome };

/** A samples file (`mlloop/samples@1`, what `evaluate --samples` writes), as typed arrays. */
export interface SampleSet {
  file: string;
  ids: string[];
  index: Map<string, number>;
  overall: Counts;
  /** Per label; `present[i]` is 1 when image i lists the label. */
  fields: Map<string, Counts & { present: Uint8Array }>;
  /** The `fields` array of each line, kept only when asked for (the sample-diff report). */
  outcomes?: FieldOutcome[][];
}

function count(v: unknown, file: string, line: number, path: (string | number)[]): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new ConfigurationError(`line ${line}: must be a non-negative whole number, not ${JSON.stringify(v)}`, {
      file,
      path: jsonPath(path),
      hint: 'samples files are written by `mlloop evaluate --samples`; each line needs integer tp, fp and fn',
    });
  }
  return v;
}

/** One line of a samples file, checked: its image id (as a string) and counts. */
export interface SampleLine {
  id: string;
  tp: number;
  fp: number;
  fn: number;
  perField: [label: string, counts: { tp: number; fp: number; fn: number }][];
  /** The line's `fields` array when it has one. */
  fields: FieldOutcome[] | undefined;
  raw: Record<string, unknown>;
}

/** Checks one parsed line of a samples file (exit 2 naming the line and JSON path); duplicates are the caller's. */
export function parseSampleLine(value: unknown, line: number, file: string): SampleLine {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigurationError(`line ${line}: must be a JSON object (one image per line)`, { file, hint: 'see mlloop/samples@1 in docs/contracts.md' });
  }
  const o = value as Record<string, unknown>;
  const id = o.image_id;
  if (typeof id !== 'string' && typeof id !== 'number') {
    throw new ConfigurationError(`line ${line}: "image_id" is missing`, { file, path: '$.image_id', hint: 'every line names its image with "image_id"' });
  }
  if (typeof id === 'number' && !Number.isSafeInteger(id)) {
    throw new ConfigurationError(`line ${line}: image_id ${id} is not a whole number that can be read exactly (beyond ${Number.MAX_SAFE_INTEGER}, or a fraction): two different ids could pair as one image`, { file, path: '$.image_id', hint: 'write image ids as JSON strings, e.g. "image_id": "123456789012345678"' });
  }
  const perField: SampleLine['perField'] = [];
  const tp = count(o.tp, file, line, ['tp']);
  const fp = count(o.fp, file, line, ['fp']);
  const fn = count(o.fn, file, line, ['fn']);
  if (o.per_field !== undefined) {
    if (o.per_field === null || typeof o.per_field !== 'object') {
      throw new ConfigurationError(`line ${line}: must be an object of {tp, fp, fn} per label`, { file, path: '$.per_field' });
    }
    for (const [label, c] of Object.entries(o.per_field as Record<string, unknown>)) {
      const cc = (c ?? {}) as Record<string, unknown>;
      perField.push([label, { tp: count(cc.tp, file, line, ['per_field', label, 'tp']), fp: count(cc.fp, file, line, ['per_field', label, 'fp']), fn: count(cc.fn, file, line, ['per_field', label, 'fn']) }]);
    }
  }
  return { id: String(id), tp, fp, fn, perField, fields: Array.isArray(o.fields) ? (o.fields as FieldOutcome[]) : undefined, raw: o };
}

/** Reads a samples file; a malformed line is reported with its number and JSON path (exit 2). */
export async function readSamples(file: string, opts: { keepOutcomes?: boolean } = {}): Promise<SampleSet> {
  const ids: string[] = [];
  const index = new Map<string, number>();
  const tp: number[] = [];
  const fp: number[] = [];
  const fn: number[] = [];
  const perField = new Map<string, { idx: number[]; tp: number[]; fp: number[]; fn: number[] }>();
  const outcomes: FieldOutcome[][] | undefined = opts.keepOutcomes ? [] : undefined;
  for await (const { value, line } of readJsonl(file)) {
    const s = parseSampleLine(value, line, file);
    const key = s.id;
    if (index.has(key)) throw new ConfigurationError(`line ${line}: image "${key}" appears twice`, { file, path: '$.image_id', hint: 'one line per image' });
    const i = ids.length;
    index.set(key, i);
    ids.push(key);
    tp.push(s.tp);
    fp.push(s.fp);
    fn.push(s.fn);
    for (const [label, c] of s.perField) {
      let f = perField.get(label);
      if (!f) perField.set(label, (f = { idx: [], tp: [], fp: [], fn: [] }));
      f.idx.push(i);
      f.tp.push(c.tp);
      f.fp.push(c.fp);
      f.fn.push(c.fn);
    }
    if (outcomes) outcomes.push(s.fields ?? []);
  }
  if (ids.length === 0) throw new ConfigurationError('no images in the samples file', { file, hint: 'write it with `mlloop evaluate --samples FILE`' });
  const n = ids.length;
  const fields = new Map<string, Counts & { present: Uint8Array }>();
  for (const [label, f] of [...perField].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const c = { tp: new Int32Array(n), fp: new Int32Array(n), fn: new Int32Array(n), present: new Uint8Array(n) };
    f.idx.forEach((i, k) => {
      c.tp[i] = f.tp[k]!;
      c.fp[i] = f.fp[k]!;
      c.fn[i] = f.fn[k]!;
      c.present[i] = 1;
    });
    fields.set(label, c);
  }
  return { file, ids, index, overall: { tp: Int32Array.from(tp), fp: Int32Array.from(fp), fn: Int32Array.from(fn) }, fields, outcomes };
}

/** Two samples files aligned image by image (candidate order). */
export interface PairedSamples {
  n: number;
  ids: string[];
  candidate: { overall: Counts; fields: Map<string, Counts & { present: Uint8Array }> };
  baseline: { overall: Counts; fields: Map<string, Counts & { present: Uint8Array }> };
  labels: string[];
  /** Images only one side has (empty unless the caller allowed it). */
  unpaired: { candidateOnly: string[]; baselineOnly: string[] };
}

function take(c: Counts, pos: Int32Array): Counts {
  const pick = (a: Int32Array) => {
    const out = new Int32Array(pos.length);
    for (let k = 0; k < pos.length; k++) out[k] = a[pos[k]!]!;
    return out;
  };
  return { tp: pick(c.tp), fp: pick(c.fp), fn: pick(c.fn) };
}

function takeFields(fields: SampleSet['fields'], labels: string[], pos: Int32Array): Map<string, Counts & { present: Uint8Array }> {
  const out = new Map<string, Counts & { present: Uint8Array }>();
  for (const l of labels) {
    const f = fields.get(l);
    if (!f) {
      const z = new Int32Array(pos.length);
      out.set(l, { tp: z, fp: z, fn: z, present: new Uint8Array(pos.length) });
      continue;
    }
    const present = new Uint8Array(pos.length);
    for (let k = 0; k < pos.length; k++) present[k] = f.present[pos[k]!]!;
    out.set(l, { ...take(f, pos), present });
  }
  return out;
}

/**
 * Pairs two samples files by image_id. Different image sets mean the two models were not evaluated on
 * the same test set: refused (exit 2) unless `allowUnpaired`, in which case only shared images count.
 */
export function pairSamples(candidate: SampleSet, baseline: SampleSet, allowUnpaired = false): PairedSamples {
  const candidateOnly = candidate.ids.filter((id) => !baseline.index.has(id));
  const baselineOnly = baseline.ids.filter((id) => !candidate.index.has(id));
  if ((candidateOnly.length || baselineOnly.length) && !allowUnpaired) {
    const example = candidateOnly[0] !== undefined ? `"${candidateOnly[0]}" is only in the candidate's` : `"${baselineOnly[0]}" is only in the baseline's`;
    throw new ConfigurationError(
      `the two samples files cover different images (${candidateOnly.length} only in ${candidate.file}, ${baselineOnly.length} only in ${baseline.file}; ${example})`,
      { hint: 'evaluate both models on the same test set, or pass --allow-incomparable to test on the images they share' },
    );
  }
  const shared = candidate.ids.filter((id) => baseline.index.has(id));
  if (shared.length === 0) throw new ConfigurationError(`the samples files ${candidate.file} and ${baseline.file} share no image`, { hint: 'evaluate both models on the same test set' });
  const cPos = Int32Array.from(shared, (id) => candidate.index.get(id)!);
  const bPos = Int32Array.from(shared, (id) => baseline.index.get(id)!);
  const labels = [...new Set([...candidate.fields.keys(), ...baseline.fields.keys()])].sort();
  return {
    n: shared.length,
    ids: shared,
    candidate: { overall: take(candidate.overall, cPos), fields: takeFields(candidate.fields, labels, cPos) },
    baseline: { overall: take(baseline.overall, bPos), fields: takeFields(baseline.fields, labels, bPos) },
    labels,
    unpaired: { candidateOnly, baselineOnly },
  };
}
