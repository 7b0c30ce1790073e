import { ConfigurationError } from '../errors.js';
import { getByDottedPath } from '../io/read.js';
import type { MetricDropTrigger } from './policy.js';

/** One line of the metric history: `{"date": "2025-06-12", "model_version": "ocr-v3.2", "metrics": {…}}`. */
export interface HistoryPeriod {
  date: string;
  time: number;
  model_version?: string;
  metrics: Record<string, unknown>;
  line: number;
}

const digits = (t: string, from: number, to: number): number => {
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = t.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return NaN;
    n = n * 10 + d;
  }
  return n;
};

/** Dates are ISO 8601 days or times; a time without zone is UTC. */
export function parseTime(text: string): number {
  // Fast path for the form logs use millions of times: 2025-06-12T16:22:10 (UTC).
  if (text.length === 19 && text[4] === '-' && text[7] === '-' && text[10] === 'T' && text[13] === ':' && text[16] === ':') {
    const y = digits(text, 0, 4);
    const mo = digits(text, 5, 7);
    const d = digits(text, 8, 10);
    const h = digits(text, 11, 13);
    const mi = digits(text, 14, 16);
    const s = digits(text, 17, 19);
    // A day that does not exist (2025-02-30) is not a time (Date.UTC would roll it over).
    const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
    const days = mo === 2 ? (leap ? 29 : 28) : mo === 4 || mo === 6 || mo === 9 || mo === 11 ? 30 : 31;
    return mo >= 1 && mo <= 12 && d >= 1 && d <= days && h <= 23 && mi <= 59 && s <= 59 ? Date.UTC(y, mo - 1, d, h, mi, s) : NaN;
  }
  const t = /^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : /[zZ]|[+-]\d{2}:?\d{2}$/.test(text) ? text : `${text}Z`;
  return Date.parse(t);
}

export function parseHistoryLine(value: unknown, line: number, file: string): HistoryPeriod {
  const where = { file, path: `line ${line}` };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ConfigurationError('each line must be an object {"date", "metrics"}', where);
  const v = value as Record<string, unknown>;
  if (typeof v.date !== 'string' || !Number.isFinite(parseTime(v.date))) {
    throw new ConfigurationError(`"date" must be an ISO 8601 date, not ${JSON.stringify(v.date)}`, { ...where, path: `line ${line}: $.date`, hint: 'write dates like "2025-06-12"' });
  }
  if (v.metrics === null || typeof v.metrics !== 'object' || Array.isArray(v.metrics)) {
    throw new ConfigurationError('"metrics" must be an object, e.g. {"accuracy": 0.91}', { ...where, path: `line ${line}: $.metrics` });
  }
  return { date: v.date, time: parseTime(v.date), model_version: typeof v.model_version === 'string' ? v.model_version : undefined, metrics: v.metrics as Record<string, unknown>, line };
}

/** Orders periods by date; a later line for the same date replaces the earlier one (a re-run of the daily job). */
export function orderHistory(periods: readonly HistoryPeriod[]): HistoryPeriod[] {
  const byTime = new Map<number, HistoryPeriod>();
  for (const p of periods) byTime.set(p.time, p);
  return [...byTime.values()].sort((a, b) => a.time - b.time);
}

export interface MetricDropOutcome {
  holds: boolean;
  evidence: {
    metric: string;
    direction: 'higher' | 'lower';
    baseline: number;
    bound: number;
    consecutive: number;
    degraded_in_a_row: number;
    model_version: string | null;
    periods: { date: string; value: number; degraded: boolean }[];
    why?: string;
  };
}

/**
 * Holds when the latest `consecutive` periods are all worse than the baseline by more than the allowed
 * drop: a drop that has since recovered does not count, and neither do periods of an earlier model
 * version (by default) or, with `period`, periods separated by a gap. A metric missing or not a number
 * in a period it needs is an input error, never a silent "no".
 */
export function evaluateMetricDrop(history: readonly HistoryPeriod[], t: MetricDropTrigger, periodMs: number | undefined, file: string): MetricDropOutcome {
  const direction = t.direction ?? 'higher';
  const allowed = Math.max(t.max_drop ?? -Infinity, t.max_drop_relative !== undefined ? Math.abs(t.baseline) * t.max_drop_relative : -Infinity);
  // With both limits given, the larger allowance applies: a period is degraded only past both.
  const bound = direction === 'higher' ? t.baseline - allowed : t.baseline + allowed;
  const ordered = orderHistory(history);
  const latest = ordered.at(-1);
  const version = latest?.model_version ?? null;
  const considered = t.same_model_version === false || version === null ? ordered : ordered.filter((p) => p.model_version === version);
  const periods: MetricDropOutcome['evidence']['periods'] = [];
  let run = 0;
  let prevTime: number | undefined;
  let why: string | undefined;
  for (let i = considered.length - 1; i >= 0 && run < t.consecutive; i--) {
    const p = considered[i]!;
    if (periodMs !== undefined && prevTime !== undefined && prevTime - p.time > periodMs * 1.5) {
      why = `gap before ${considered[i + 1]!.date}: no period for ${p.date}+${t.period}`;
      break;
    }
    const raw = getByDottedPath(p.metrics, t.metric);
    if (typeof raw !== 'number' || !Number.isFinite(raw)) {
      throw new ConfigurationError(`metric "${t.metric}" is ${raw === undefined ? 'missing' : `not a number (${JSON.stringify(raw)})`}`, {
        file,
        path: `line ${p.line}: $.metrics.${t.metric}`,
        hint: 'every period must carry the metric the policy watches, as a JSON number',
      });
    }
    const degraded = direction === 'higher' ? raw < bound : raw > bound;
    periods.unshift({ date: p.date, value: raw, degraded });
    if (!degraded) break;
    run++;
    prevTime = p.time;
  }
  if (considered.length < t.consecutive && run === considered.length && !why) why = `only ${considered.length} period(s) of ${version ?? 'the model'} in the history`;
  const holds = run >= t.consecutive;
  return {
    holds,
    evidence: { metric: t.metric, direction, baseline: t.baseline, bound, consecutive: t.consecutive, degraded_in_a_row: run, model_version: version, periods, ...(why && !holds ? { why } : {}) },
  };
}
