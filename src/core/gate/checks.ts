import { getByDottedPath } from '../io/read.js';
import type { Direction, GatePolicy, MetricRule } from './policy.js';

/** One line of the verdict: a rule applied to one metric. */
export interface Check {
  /** `overall.f1 ≥ min`, `per_field.name.recall regression`, … */
  id: string;
  metric: string;
  rule: 'min' | 'max' | 'max_regression' | 'max_regression_relative' | 'min_improvement' | 'min_improvement_relative' | 'present' | 'significance';
  direction: Direction | null;
  candidate: number | null;
  baseline: number | null;
  /** candidate − baseline. */
  delta: number | null;
  bound: number | null;
  pass: boolean;
  reason: string;
  p_value?: number;
  p_adjusted?: number;
  ci?: [number, number] | null;
}

// Values are compared after rounding away float noise (0.1 + 0.2 − 0.3), never by more.
const EPS = 1e-12;

/** A metric value read fail-closed: anything but a finite number is explained, never passed. */
export function readMetric(metrics: unknown, path: string): { value: number } | { problem: string } {
  const v = getByDottedPath(metrics, path);
  if (v === undefined) return { problem: 'missing' };
  if (v === null) return { problem: 'null' };
  if (typeof v !== 'number') return { problem: `not a number (${JSON.stringify(v).slice(0, 40)})` };
  if (!Number.isFinite(v)) return { problem: String(v) };
  return { value: v };
}

const fmt = (v: number) => (Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6))));

/** All checks of one metric under one rule set. */
export function checkMetric(path: string, rule: MetricRule, candidateMetrics: unknown, baselineMetrics: unknown): Check[] {
  const c = readMetric(candidateMetrics, path);
  const b = readMetric(baselineMetrics, path);
  const base = { metric: path, direction: rule.direction };
  if (!('value' in c) || !('value' in b)) {
    const why = [!('value' in c) ? `candidate: ${c.problem}` : '', !('value' in b) ? `baseline: ${b.problem}` : ''].filter(Boolean).join(', ');
    return [
      {
        ...base,
        id: `${path} present`,
        rule: 'present',
        candidate: 'value' in c ? c.value : null,
        baseline: 'value' in b ? b.value : null,
        delta: null,
        bound: null,
        pass: false,
        reason: `${path} is not a usable number (${why}): a gate never passes on a missing value`,
      },
    ];
  }
  const cv = c.value;
  const bv = b.value;
  const delta = cv - bv;
  // Positive = the candidate is worse.
  const regression = rule.direction === 'higher' ? bv - cv : cv - bv;
  const relative = bv !== 0 ? regression / Math.abs(bv) : regression > 0 ? Infinity : regression < 0 ? -Infinity : 0;
  const out: Check[] = [];
  const add = (r: Check['rule'], bound: number, pass: boolean, reason: string, sym: string) =>
    out.push({ ...base, id: `${path} ${sym}`, rule: r, candidate: cv, baseline: bv, delta, bound, pass, reason });
  if (rule.min !== undefined) add('min', rule.min, cv >= rule.min - EPS, cv >= rule.min - EPS ? `${fmt(cv)} ≥ ${fmt(rule.min)}` : `${fmt(cv)} is below the minimum ${fmt(rule.min)}`, '≥ min');
  if (rule.max !== undefined) add('max', rule.max, cv <= rule.max + EPS, cv <= rule.max + EPS ? `${fmt(cv)} ≤ ${fmt(rule.max)}` : `${fmt(cv)} is above the maximum ${fmt(rule.max)}`, '≤ max');
  if (rule.max_regression !== undefined) {
    const ok = regression <= rule.max_regression + EPS;
    add('max_regression', rule.max_regression, ok, ok ? (regression > EPS ? `regressed by ${fmt(regression)}, within ${fmt(rule.max_regression)}` : 'no regression') : `regressed by ${fmt(regression)} (allowed ${fmt(rule.max_regression)})`, 'regression');
  }
  if (rule.max_regression_relative !== undefined) {
    const ok = relative <= rule.max_regression_relative + EPS;
    const pct = (x: number) => `${fmt(x * 100)}%`;
    add('max_regression_relative', rule.max_regression_relative, ok, ok ? (relative > EPS ? `regressed by ${pct(relative)}, within ${pct(rule.max_regression_relative)}` : 'no regression') : `regressed by ${Number.isFinite(relative) ? pct(relative) : 'an unbounded share (baseline is 0)'} (allowed ${pct(rule.max_regression_relative)})`, 'relative regression');
  }
  if (rule.min_improvement !== undefined) {
    const ok = -regression >= rule.min_improvement - EPS;
    add('min_improvement', rule.min_improvement, ok, ok ? `improved by ${fmt(-regression)}` : `improved by ${fmt(-regression)}, needs at least ${fmt(rule.min_improvement)}`, 'improvement');
  }
  if (rule.min_improvement_relative !== undefined) {
    const ok = -relative >= rule.min_improvement_relative - EPS;
    const pct = (x: number) => `${fmt(x * 100)}%`;
    add('min_improvement_relative', rule.min_improvement_relative, ok, ok ? `improved by ${pct(-relative)}` : `improved by ${Number.isFinite(relative) ? pct(-relative) : 'n/a (baseline is 0)'}, needs at least ${pct(rule.min_improvement_relative)}`, 'relative improvement');
  }
  if (out.length === 0) out.push({ ...base, id: `${path} present`, rule: 'present', candidate: cv, baseline: bv, delta, bound: null, pass: true, reason: 'reported (no bound set)' });
  return out;
}

function support(metrics: unknown, field: string): number | undefined {
  const s = getByDottedPath(metrics, `per_field.${field}.support`);
  if (typeof s === 'number' && Number.isFinite(s)) return s;
  const tp = getByDottedPath(metrics, `per_field.${field}.tp`);
  const fn = getByDottedPath(metrics, `per_field.${field}.fn`);
  return typeof tp === 'number' && typeof fn === 'number' ? tp + fn : undefined;
}

function fieldNames(metrics: unknown): string[] {
  const pf = getByDottedPath(metrics, 'per_field');
  return pf && typeof pf === 'object' && !Array.isArray(pf) ? Object.keys(pf) : [];
}

/** The per-field limit applied to every field of the baseline with enough support. */
export function checkPerField(policy: NonNullable<GatePolicy['per_field']>, candidateMetrics: unknown, baselineMetrics: unknown): { checks: Check[]; skipped: { field: string; support: number | null }[] } {
  const fields = policy.fields ?? fieldNames(baselineMetrics);
  const checks: Check[] = [];
  const skipped: { field: string; support: number | null }[] = [];
  if (!policy.fields && fields.length === 0) {
    checks.push({ id: 'per_field present', metric: 'per_field', rule: 'present', direction: policy.direction ?? 'higher', candidate: null, baseline: null, delta: null, bound: null, pass: false, reason: 'the policy sets per-field limits but the baseline has no per_field block' });
    return { checks, skipped };
  }
  for (const field of fields) {
    const s = support(baselineMetrics, field);
    if ((policy.min_support ?? 0) > 0 && (s === undefined || s < policy.min_support!)) {
      skipped.push({ field, support: s ?? null });
      continue;
    }
    const rule: MetricRule = { direction: policy.direction ?? 'higher', min: policy.min, max_regression: policy.max_regression, max_regression_relative: policy.max_regression_relative };
    // Key by the literal field name: a label may contain dots.
    const path = `per_field.${field}.${policy.metric}`;
    checks.push(...checkMetric(path, rule, candidateMetrics, baselineMetrics));
  }
  return { checks, skipped };
}
