import { readMetric } from '../gate/checks.js';
import type { FieldOutcome, SampleSet } from '../stats/samples.js';

// The comparison of two evaluations as data; the renderers (HTML, Markdown, PDF) only format it.

export interface MetricDef {
  path: string;
  label: string;
  direction: 'higher' | 'lower';
  percent: boolean;
  unit?: string;
}

/** The seed's comparison table, in its order, then the other headline metrics of mlloop/metrics@1. */
export const KNOWN_METRICS: MetricDef[] = [
  { path: 'overall.recall', label: 'Field recall', direction: 'higher', percent: true },
  { path: 'overall.precision', label: 'Field precision', direction: 'higher', percent: true },
  { path: 'overall.f1', label: 'Field F1', direction: 'higher', percent: true },
  { path: 'box_iou_ge_0_8', label: 'Box IoU ≥ 0.8 share', direction: 'higher', percent: true },
  { path: 'image_miss_rate', label: 'Image miss rate', direction: 'lower', percent: true },
  { path: 'overall.exact_match', label: 'Exact match', direction: 'higher', percent: true },
  { path: 'overall.map50', label: 'mAP@0.5', direction: 'higher', percent: true },
  { path: 'bleu', label: 'BLEU', direction: 'higher', percent: false },
  { path: 'latency_ms.mean', label: 'Mean latency', direction: 'lower', percent: false, unit: 'ms' },
  { path: 'latency_ms.p95', label: 'p95 latency', direction: 'lower', percent: false, unit: 'ms' },
];

export type RowStatus = 'improved' | 'regressed' | 'unchanged' | 'warning' | 'missing';

export interface MetricRow extends MetricDef {
  baseline: number | null;
  candidate: number | null;
  delta: number | null;
  status: RowStatus;
  note: string;
}

const isLatency = (path: string) => /latency|duration|time_ms|_ms\b/i.test(path);

/** How a change reads: a clear change is ≥ 1 point for ratios (≥ 2% relative otherwise). */
function classify(def: MetricDef, b: number, c: number): { status: RowStatus; note: string } {
  const delta = c - b;
  const better = def.direction === 'higher' ? delta > 0 : delta < 0;
  const size = def.percent ? Math.abs(delta) : Math.abs(delta) / Math.max(Math.abs(b), 1e-12);
  const clear = def.percent ? size >= 0.01 : size >= 0.02;
  if (Math.abs(delta) < 1e-12) return { status: 'unchanged', note: 'unchanged' };
  if (isLatency(def.path) && !better) return { status: 'warning', note: '⚠️ latency increased (to be evaluated)' };
  if (better) return { status: 'improved', note: clear ? 'clear improvement' : 'slight improvement' };
  return { status: 'regressed', note: clear ? 'regression' : 'slight regression' };
}

export function metricRow(def: MetricDef, candidate: unknown, baseline: unknown): MetricRow {
  const c = readMetric(candidate, def.path);
  const b = readMetric(baseline, def.path);
  if (!('value' in c) || !('value' in b)) {
    return { ...def, baseline: 'value' in b ? b.value : null, candidate: 'value' in c ? c.value : null, delta: null, status: 'missing', note: `missing in the ${!('value' in c) ? 'candidate' : 'baseline'}` };
  }
  return { ...def, baseline: b.value, candidate: c.value, delta: c.value - b.value, ...classify(def, b.value, c.value) };
}

function numericLeaves(v: unknown, prefix = '', out: string[] = []): string[] {
  if (typeof v === 'number') out.push(prefix);
  else if (v && typeof v === 'object' && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) if (!(prefix === '' && (k === 'config' || k === 'per_field'))) numericLeaves(x, prefix ? `${prefix}.${k}` : k, out);
  return out;
}

/** The headline rows: the known metrics either side has; for other metrics files, their shared numbers. */
export function metricRows(candidate: unknown, baseline: unknown): MetricRow[] {
  const known = KNOWN_METRICS.filter((d) => 'value' in readMetric(candidate, d.path) || 'value' in readMetric(baseline, d.path));
  if (known.length) return known.map((d) => metricRow(d, candidate, baseline));
  const cands = new Set(numericLeaves(candidate));
  return numericLeaves(baseline)
    .filter((p) => cands.has(p))
    .slice(0, 40)
    .map((p) => metricRow({ path: p, label: p, direction: isLatency(p) || /loss|error|miss/i.test(p) ? 'lower' : 'higher', percent: false }, candidate, baseline));
}

/** Per-field rows of one metric (f1 by default), over the fields of both sides. */
export function fieldRows(candidate: unknown, baseline: unknown, metric = 'f1'): MetricRow[] {
  const names = (m: unknown) => Object.keys(((m as Record<string, unknown>)?.per_field as Record<string, unknown>) ?? {});
  const fields = [...new Set([...names(baseline), ...names(candidate)])];
  return fields.map((f) => metricRow({ path: `per_field.${f}.${metric}`, label: f, direction: 'higher', percent: true }, candidate, baseline));
}

export interface SideOutcome {
  tp: number;
  fp: number;
  fn: number;
  fields: FieldOutcome[];
}

export interface SampleDiff {
  image_id: string;
  /** broken: the candidate gets wrong what the baseline got right; fixed: the reverse; changed: both wrong, differently. */
  change: 'broken' | 'fixed' | 'changed';
  baseline: SideOutcome;
  candidate: SideOutcome;
  /** Labels whose outcome differs. */
  labels: string[];
}

function fieldKey(f: FieldOutcome): string {
  return `${f.label}\u0000${f.status}\u0000${f.gt ?? ''}\u0000${f.pred ?? ''}`;
}

/** The images where the two models differ, broken ones first (what a reviewer must see). */
export function sampleDiffs(candidate: SampleSet, baseline: SampleSet): { diffs: SampleDiff[]; compared: number } {
  const out: SampleDiff[] = [];
  let compared = 0;
  candidate.ids.forEach((id, i) => {
    const j = baseline.index.get(id);
    if (j === undefined) return;
    compared++;
    const c = candidate.outcomes?.[i] ?? [];
    const b = baseline.outcomes?.[j] ?? [];
    const side = (s: SampleSet, k: number, fields: FieldOutcome[]): SideOutcome => ({ tp: s.overall.tp[k]!, fp: s.overall.fp[k]!, fn: s.overall.fn[k]!, fields });
    const cs = side(candidate, i, c);
    const bs = side(baseline, j, b);
    const ck = c.map(fieldKey).sort().join('\n');
    const bk = b.map(fieldKey).sort().join('\n');
    if (ck === bk && cs.tp === bs.tp && cs.fp === bs.fp && cs.fn === bs.fn) return;
    const cOk = cs.fp === 0 && cs.fn === 0;
    const bOk = bs.fp === 0 && bs.fn === 0;
    const labels = new Set<string>();
    const byLabel = (fs: FieldOutcome[]) => {
      const m = new Map<string, string>();
      for (const f of fs) m.set(f.label, `${m.get(f.label) ?? ''}|${fieldKey(f)}`);
      return m;
    };
    const cl = byLabel(c);
    const bl = byLabel(b);
    for (const l of new Set([...cl.keys(), ...bl.keys()])) if (cl.get(l) !== bl.get(l)) labels.add(l);
    if (candidate.fields.size || baseline.fields.size) {
      for (const [l, f] of candidate.fields) {
        const g = baseline.fields.get(l);
        if (!g || f.tp[i] !== g.tp[j] || f.fp[i] !== g.fp[j] || f.fn[i] !== g.fn[j]) if (f.present[i] || g?.present[j]) labels.add(l);
      }
    }
    out.push({ image_id: id, change: bOk && !cOk ? 'broken' : cOk && !bOk ? 'fixed' : 'changed', baseline: bs, candidate: cs, labels: [...labels].sort() });
  });
  const rank = { broken: 0, fixed: 1, changed: 2 } as const;
  out.sort((a, b) => rank[a.change] - rank[b.change] || b.candidate.fn + b.candidate.fp - (a.candidate.fn + a.candidate.fp));
  return { diffs: out, compared };
}

export interface Recommendation {
  level: 'yes' | 'warn' | 'no';
  text: string;
  reasons: string[];
}

/** Whether to release: the gate's verdict when given, else no regression (latency increases are warnings). */
export function recommend(rows: MetricRow[], fields: MetricRow[], verdict?: { pass: boolean; failed: string[] }, test?: { p_value: number; delta: number; alpha: number }): Recommendation {
  const regressed = [...rows, ...fields.map((f) => ({ ...f, label: `field ${f.label}` }))].filter((r) => r.status === 'regressed');
  const missing = rows.filter((r) => r.status === 'missing');
  const warnings = rows.filter((r) => r.status === 'warning');
  const improved = rows.filter((r) => r.status === 'improved');
  const reasons: string[] = [];
  if (test) reasons.push(test.p_value < test.alpha ? `the F1 difference is significant (p=${Number(test.p_value.toPrecision(2))}, paired bootstrap)` : `the F1 difference is not significant (p=${Number(test.p_value.toPrecision(2))}, paired bootstrap)`);
  if (improved.length) reasons.push(`improved: ${improved.map((r) => r.label).join(', ')}`);
  if (regressed.length) reasons.push(`regressed: ${regressed.map((r) => r.label).join(', ')}`);
  if (warnings.length) reasons.push(`warning: ${warnings.map((r) => r.label).join(', ')} increased`);
  if (missing.length) reasons.push(`missing: ${missing.map((r) => r.label).join(', ')}`);
  if (verdict) {
    if (!verdict.pass) return { level: 'no', text: `Not recommended for release: the gate failed (${verdict.failed.length} check${verdict.failed.length === 1 ? '' : 's'}).`, reasons: [...verdict.failed, ...reasons] };
    return warnings.length ? { level: 'warn', text: 'Recommended for release (the gate passed), with warnings to evaluate.', reasons } : { level: 'yes', text: 'Recommended for release: the gate passed.', reasons };
  }
  if (regressed.length || missing.length) return { level: 'no', text: 'Not recommended for release: some metrics regressed or are missing.', reasons };
  if (test && !(test.p_value < test.alpha && test.delta > 0)) return { level: 'warn', text: 'No regression, but the improvement is not statistically significant.', reasons };
  if (warnings.length) return { level: 'warn', text: 'Recommended for release, with warnings to evaluate.', reasons };
  return { level: 'yes', text: 'Recommended for release: better and no regression.', reasons };
}
