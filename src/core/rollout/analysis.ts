import type { LoadReport } from './load.js';
import { evaluateCondition, describeOutcome, formatValue, ConditionError, type Condition, type Value } from './condition.js';

export { formatValue };

/**
 * Metric analysis with Argo Rollouts' semantics (analysis/analysis.go, utils/evaluate/evaluate.go): each
 * metric takes `count` measurements, `interval` apart; a measurement is Successful, Failed, Inconclusive
 * (neither condition held) or Error (the query or a condition could not be evaluated, retried after 10 s
 * and not counted towards `count`). The metric fails once more than `failureLimit` measurements failed, is
 * inconclusive once more than `inconclusiveLimit` were, errors after more than `consecutiveErrorLimit`
 * errors in a row, and is successful once `count` measurements were taken without reaching a limit.
 */

export type Phase = 'Successful' | 'Failed' | 'Inconclusive' | 'Error';

export interface MetricSpec {
  name: string;
  query: string;
  successCondition?: Condition;
  failureCondition?: Condition;
  intervalMs: number;
  count: number;
  initialDelayMs: number;
  failureLimit: number;
  inconclusiveLimit: number;
  consecutiveErrorLimit: number;
  /** Argo's consecutiveSuccessLimit: succeed after this many successes in a row (0: off). failureLimit -1 turns failures off. */
  consecutiveSuccessLimit?: number;
  /** A range query over the last `durationMs`, one point every `stepMs`; otherwise an instant query. */
  range?: { durationMs: number; stepMs: number };
  /** How `--scrape` computes this metric from /metrics (built-in metrics only). */
  scrape?: ScrapeComputation;
}

export type ScrapeComputation =
  | { kind: 'quantile'; family: string; q: number; scale: number; matchers: Record<string, string> }
  | { kind: 'ratio'; counter: string; numerator: { label: string; regex: string }; matchers: Record<string, string> }
  | { kind: 'rate'; counter: string; matchers: Record<string, string> };

export interface Measurement {
  at: string;
  phase: Phase;
  /** The values the measurement returned (null for NaN, which JSON cannot hold). */
  value: (number | null)[] | number | null;
  message?: string;
}

export interface MetricResult {
  name: string;
  query: string;
  phase: Phase;
  successful: number;
  failed: number;
  inconclusive: number;
  error: number;
  measurements: Measurement[];
  message?: string;
}

export interface AnalysisVerdict {
  schema: 'mlloop/analysis@1';
  phase: Phase;
  pass: boolean;
  /** One line for people and for a rollback commit's Reason. */
  message: string;
  source: { prometheus?: string; scrape?: string };
  started_at: string;
  ended_at: string;
  metrics: MetricResult[];
  load?: LoadReport;
}

/** Where measurements come from: a Prometheus, or scrapes of a /metrics page. */
export interface MeasurementSource {
  measure(metric: MetricSpec, now: Date): Promise<Value>;
  describe: { prometheus?: string; scrape?: string };
}

/** Thrown by a source when the query itself is wrong: stops the analysis as bad input. */
export class BadQuery extends Error {}

function jsonValue(value: Value): Measurement['value'] {
  const j = (x: number) => (Number.isFinite(x) ? x : null);
  if (typeof value === 'number') return j(value);
  return value.map(j);
}

/** Marks the message of a measurement whose condition could not be evaluated (Argo's formatEvalError). */
export const CONDITION_ERROR = ': could not evaluate ';

/** Why neither condition held, in words: no data is the usual reason. */
function neither(name: string, value: Value): string {
  if (typeof value !== 'number' && value.length === 0) return `${name} has no data (the query returned an empty result)`;
  const v = typeof value === 'number' ? [value] : value;
  if (v.length === 1 && Number.isNaN(v[0])) return `${name}=NaN (no data to judge: no traffic, or a 0/0 ratio)`;
  return `${name}=${v.length === 1 ? formatValue(v[0]!) : `[${v.slice(0, 5).map(formatValue).join(', ')}${v.length > 5 ? ', …' : ''}]`} meets neither condition`;
}

/**
 * Judges one measured value as Argo's EvaluateResult does: a condition that cannot be evaluated is an Error;
 * with only a success condition, not meeting it fails; with only a failure condition, not meeting it
 * succeeds; with both, a failure condition that holds fails and meeting neither is Inconclusive; with none,
 * every measurement succeeds.
 */
export function judge(metric: MetricSpec, value: Value): { phase: Phase; message?: string } {
  const s = metric.successCondition;
  const f = metric.failureCondition;
  const evaluate = (c: Condition, field: string): boolean | { phase: Phase; message: string } => {
    try {
      return evaluateCondition(c, value);
    } catch (e) {
      if (!(e instanceof ConditionError)) throw e;
      const empty = typeof value !== 'number' && value.length === 0;
      return { phase: 'Error', message: `${metric.name}${CONDITION_ERROR}${field} "${c.text}": ${empty ? 'metric result is nil or empty: no data returned from the metric provider' : e.message}` };
    }
  };
  const sHeld = s ? evaluate(s, 'successCondition') : undefined;
  if (typeof sHeld === 'object') return sHeld;
  const fHeld = f ? evaluate(f, 'failureCondition') : undefined;
  if (typeof fHeld === 'object') return fHeld;
  if (fHeld === true) return { phase: 'Failed', message: describeOutcome(metric.name, f!, value, true, 'failure') };
  if (s && sHeld === false) return f ? { phase: 'Inconclusive', message: neither(metric.name, value) } : { phase: 'Failed', message: describeOutcome(metric.name, s, value, false, 'success') };
  return { phase: 'Successful' };
}

/** The running counts Argo keeps for a metric besides its totals. */
export interface Streaks {
  consecutiveErrors: number;
  consecutiveSuccesses: number;
}

/**
 * Where a metric stands (analysis.go assessMetricStatus): the limits are checked in Argo's order, so a later
 * one wins (Error over Inconclusive over Failed); then consecutiveSuccessLimit successes in a row succeed; at
 * `count` measurements (Errors are not counted) the metric succeeds — unless it needed consecutiveSuccessLimit
 * and did not reach it: then it is Inconclusive, or Failed when failureLimit is -1 (off).
 */
export function assess(metric: MetricSpec, r: MetricResult, s: Streaks): Phase | undefined {
  let phase: Phase | undefined;
  if (metric.failureLimit >= 0 && r.failed > metric.failureLimit) phase = 'Failed';
  if (r.inconclusive > metric.inconclusiveLimit) phase = 'Inconclusive';
  if (s.consecutiveErrors > metric.consecutiveErrorLimit) phase = 'Error';
  if (phase) return phase;
  const successes = metric.consecutiveSuccessLimit ?? 0;
  if (successes > 0 && s.consecutiveSuccesses >= successes) return 'Successful';
  if (r.successful + r.failed + r.inconclusive < metric.count) return undefined;
  if (successes > 0) return metric.failureLimit >= 0 ? 'Inconclusive' : 'Failed';
  return 'Successful';
}

export interface RunOptions {
  metrics: readonly MetricSpec[];
  source: MeasurementSource;
  now: () => Date;
  signal?: AbortSignal;
  onMeasurement?: (metric: MetricSpec, m: Measurement, index: number) => void;
  /** Waits `ms` (tests and the CLI use real time; injectable for unit tests). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** analysis.go DefaultErrorRetryInterval: a measurement that errored is retried after 10 s. */
export const ERROR_RETRY_MS = 10_000;

const realSleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });

const PHASE_ORDER: Phase[] = ['Failed', 'Error', 'Inconclusive', 'Successful'];

/** Runs every metric concurrently; a metric that fails, errors or turns inconclusive stops the run. */
export async function runAnalysis(opts: RunOptions): Promise<AnalysisVerdict> {
  const started = opts.now();
  const stop = new AbortController();
  const onOuterAbort = () => stop.abort();
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const sleep = opts.sleep ?? realSleep;
  let badQuery: BadQuery | undefined;
  const results = await Promise.all(
    opts.metrics.map(async (metric): Promise<MetricResult> => {
      const r: MetricResult = { name: metric.name, query: metric.query, phase: 'Inconclusive', successful: 0, failed: 0, inconclusive: 0, error: 0, measurements: [] };
      const streaks: Streaks = { consecutiveErrors: 0, consecutiveSuccesses: 0 };
      let phase: Phase | undefined;
      while (phase === undefined && !stop.signal.aborted) {
        const previous = r.measurements.at(-1);
        await sleep(!previous ? metric.initialDelayMs : previous.phase === 'Error' ? ERROR_RETRY_MS : metric.intervalMs, stop.signal);
        if (stop.signal.aborted) break;
        const at = opts.now();
        let m: Measurement;
        try {
          const value = await opts.source.measure(metric, at);
          const j = judge(metric, value);
          m = { at: at.toISOString(), phase: j.phase, value: jsonValue(value), ...(j.message ? { message: j.message } : {}) };
        } catch (e) {
          if (e instanceof BadQuery) {
            badQuery ??= e;
            stop.abort();
            break;
          }
          m = { at: at.toISOString(), phase: 'Error', value: null, message: `${metric.name}: ${(e as Error).message}` };
        }
        r.measurements.push(m);
        if (m.phase === 'Successful') r.successful++;
        else if (m.phase === 'Failed') r.failed++;
        else if (m.phase === 'Inconclusive') r.inconclusive++;
        else r.error++;
        streaks.consecutiveErrors = m.phase === 'Error' ? streaks.consecutiveErrors + 1 : 0;
        streaks.consecutiveSuccesses = m.phase === 'Successful' ? streaks.consecutiveSuccesses + 1 : 0;
        // The index of the counted measurement (an Error is retried in the same slot).
        opts.onMeasurement?.(metric, m, r.successful + r.failed + r.inconclusive - (m.phase === 'Error' ? 0 : 1));
        phase = assess(metric, r, streaks);
        if (phase && phase !== 'Successful') stop.abort();
      }
      // Stopped early, by another metric's verdict (Argo then calls an unfinished metric Successful and the run
      // takes the worst phase) or by a signal (mlloop fails closed: an interrupted analysis does not pass).
      r.phase = phase ?? (opts.signal?.aborted ? 'Inconclusive' : 'Successful');
      const last = [...r.measurements].reverse().find((m) => m.phase === r.phase && m.message) ?? [...r.measurements].reverse().find((m) => m.message);
      if (r.phase !== 'Successful') r.message = last?.message ?? `${metric.name}: interrupted after ${r.measurements.length} of ${metric.count} measurements`;
      return r;
    }),
  );
  opts.signal?.removeEventListener('abort', onOuterAbort);
  if (badQuery) throw badQuery;
  const phase = PHASE_ORDER.find((p) => results.some((r) => r.phase === p)) ?? 'Inconclusive';
  const worst = results.filter((r) => r.phase === phase && r.message).map((r) => r.message!);
  const message =
    phase === 'Successful'
      ? `canary analysis passed: ${results.map((r) => `${r.name}=${lastValue(r)}`).join(', ')}`
      : phase === 'Failed'
        ? `canary analysis failed: ${worst.join('; ')}`
        : phase === 'Inconclusive'
          ? `canary analysis inconclusive (failing closed): ${worst.join('; ')}`
          : `canary analysis could not measure: ${worst.join('; ')}`;
  return { schema: 'mlloop/analysis@1', phase, pass: phase === 'Successful', message, source: opts.source.describe, started_at: started.toISOString(), ended_at: opts.now().toISOString(), metrics: results };
}

function lastValue(r: MetricResult): string {
  const v = r.measurements.at(-1)?.value;
  if (v === null || v === undefined) return 'NaN';
  if (typeof v === 'number') return formatValue(v);
  return v.length === 1 ? (v[0] === null ? 'NaN' : formatValue(v[0]!)) : `[${v.map((x) => (x === null ? 'NaN' : formatValue(x))).join(', ')}]`;
}
