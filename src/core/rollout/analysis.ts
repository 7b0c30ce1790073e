import type { LoadReport } from './load.js';
import { evaluateCondition, describeOutcome, formatValue, MissingValue, type Condition, type Value } from './condition.js';

export { formatValue };

/**
 * Metric analysis with Argo Rollouts' semantics: each metric is measured `count` times, `interval`
 * apart; a measurement is Successful, Failed, Inconclusive or Error; the metric fails once more than
 * `failureLimit` measurements failed, is inconclusive once more than `inconclusiveLimit` were, and is in
 * error after more than `consecutiveErrorLimit` errors in a row. An empty result or NaN (unless the
 * condition tests isNaN itself) is inconclusive, and a metric that never measured successfully is
 * inconclusive: the analysis fails closed.
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

function shown(value: Value): string {
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number') return formatValue(value);
  if (value.length === 1) return formatValue(value[0]!);
  return `[${value.slice(0, 5).map(formatValue).join(', ')}${value.length > 5 ? ', …' : ''}]`;
}

function jsonValue(value: Value): Measurement['value'] {
  const j = (x: number) => (Number.isFinite(x) ? x : null);
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number') return j(value);
  return value.map(j);
}

function hasNaN(value: Value): boolean {
  if (typeof value === 'number') return Number.isNaN(value);
  if (typeof value === 'boolean') return false;
  return value.some((x) => Number.isNaN(x));
}

/** Judges one measured value against a metric's conditions (Argo's rules for which condition wins). */
export function judge(metric: MetricSpec, value: Value): { phase: Phase; message?: string } {
  if (Array.isArray(value) && value.length === 0) return { phase: 'Inconclusive', message: `${metric.name} has no data (the query returned an empty result)` };
  const s = metric.successCondition;
  const f = metric.failureCondition;
  const nanHandled = (s?.handlesNaN ?? false) || (f?.handlesNaN ?? false);
  if (hasNaN(value) && !nanHandled) return { phase: 'Inconclusive', message: `${metric.name}=NaN (no data to judge: no traffic, or a 0/0 ratio)` };
  const v = shown(value);
  try {
    const sHeld = s ? evaluateCondition(s, value) : undefined;
    const fHeld = f ? evaluateCondition(f, value) : undefined;
    if (fHeld === true) return { phase: 'Failed', message: describeOutcome(metric.name, v, f!, value, true, 'failure') };
    if (s && f) return sHeld ? { phase: 'Successful' } : { phase: 'Inconclusive', message: `${metric.name}=${v} meets neither condition` };
    if (s) return sHeld ? { phase: 'Successful' } : { phase: 'Failed', message: describeOutcome(metric.name, v, s, value, false, 'success') };
    return { phase: 'Successful' };
  } catch (e) {
    if (e instanceof MissingValue) return { phase: 'Inconclusive', message: `${metric.name} has no data (${e.message})` };
    return { phase: 'Error', message: `${metric.name}: ${(e as Error).message}` };
  }
}

/** Where a metric stands after its measurements so far; undefined while it may still go either way. */
export function assess(metric: MetricSpec, r: MetricResult, consecutiveErrors: number, done: boolean): Phase | undefined {
  if (r.failed > metric.failureLimit) return 'Failed';
  if (r.inconclusive > metric.inconclusiveLimit) return 'Inconclusive';
  if (consecutiveErrors > metric.consecutiveErrorLimit) return 'Error';
  if (!done) return undefined;
  if (r.successful === 0) return r.failed > 0 ? 'Failed' : r.error > 0 && r.inconclusive === 0 ? 'Error' : 'Inconclusive';
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
      let consecutiveErrors = 0;
      let phase: Phase | undefined;
      for (let i = 0; i < metric.count && !stop.signal.aborted; i++) {
        await sleep(i === 0 ? metric.initialDelayMs : metric.intervalMs, stop.signal);
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
        consecutiveErrors = m.phase === 'Error' ? consecutiveErrors + 1 : 0;
        opts.onMeasurement?.(metric, m, i);
        phase = assess(metric, r, consecutiveErrors, i === metric.count - 1);
        if (phase && phase !== 'Successful') {
          stop.abort();
          break;
        }
      }
      // Stopped early by another metric (or a signal): judge what was measured, failing closed.
      r.phase = phase ?? assess(metric, r, consecutiveErrors, true)!;
      const last = [...r.measurements].reverse().find((m) => m.phase === r.phase && m.message) ?? [...r.measurements].reverse().find((m) => m.message);
      if (r.phase !== 'Successful') r.message = last?.message ?? `${metric.name}: no measurement was taken`;
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
