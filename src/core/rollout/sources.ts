import { ConfigurationError, ExternalError } from '../errors.js';
import { BadQuery, type MeasurementSource, type MetricSpec } from './analysis.js';
import type { Value } from './condition.js';
import { bucketsOf, histogramQuantile, increases, parseExposition, type Sample, type Scrape } from './exposition.js';
import { Prometheus, QueryRejected } from './prometheus.js';
import { httpFetch } from '../http/proxy.js';

/** Measurements from the Prometheus HTTP API: instant queries, or range queries for metrics with `range`. */
export function prometheusSource(prom: Prometheus, url: string): MeasurementSource & { check(metrics: readonly MetricSpec[], now: Date): Promise<void> } {
  const measure = async (metric: MetricSpec, now: Date): Promise<Value> => {
    try {
      if (metric.range) {
        const r = await prom.queryRange(metric.query, new Date(now.getTime() - metric.range.durationMs), now, metric.range.stepMs);
        // Every point of every series, NaN included, as Argo's provider passes them.
        return r.values;
      }
      const r = await prom.query(metric.query, now);
      return r.scalar ? r.values[0]! : r.values;
    } catch (e) {
      if (e instanceof QueryRejected) throw new BadQuery(`${metric.name}: ${e.message}`);
      throw e;
    }
  };
  return {
    describe: { prometheus: url },
    measure,
    /** Sends every query once before the analysis starts, so a typo fails in seconds, not after the first interval. */
    async check(metrics, now) {
      for (const m of metrics) {
        try {
          await prom.query(m.query, now);
        } catch (e) {
          if (e instanceof QueryRejected) throw new ConfigurationError(`metric "${m.name}": ${e.message}`, { hint: `fix the query: ${m.query}` });
          throw e;
        }
      }
    },
  };
}

/** Reads one /metrics page. */
export async function scrapeOnce(url: string, headers: Record<string, string> = {}, timeoutMs = 10_000): Promise<Scrape> {
  let res: Response;
  try {
    res = await httpFetch(url, { headers: { accept: 'text/plain;version=0.0.4', ...headers }, signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    throw new ExternalError(`cannot scrape ${url}: ${(e as Error).message}${(e as { cause?: Error }).cause ? ` (${(e as { cause?: Error }).cause!.message})` : ''}`);
  }
  const text = await res.text();
  if (!res.ok) throw new ExternalError(`scraping ${url} answered HTTP ${res.status}`);
  let samples: Sample[];
  try {
    samples = parseExposition(text);
  } catch (e) {
    throw new ExternalError(`${url} is not a Prometheus metrics page: ${(e as Error).message}`);
  }
  return { samples, at: Date.now() };
}

/**
 * Computes a built-in metric from two scrapes, as Prometheus would from `rate()` over the time between
 * them: counter increases (with resets), error ratio, and histogram_quantile over the bucket increases.
 */
export function computeFromScrapes(metric: MetricSpec, before: Scrape, after: Scrape): Value {
  const c = metric.scrape!;
  if (c.kind === 'quantile') {
    const inc = increases(before.samples, after.samples, `${c.family}_bucket`, c.matchers);
    const buckets = bucketsOf(inc, c.family);
    // Prometheus returns an empty vector when no bucket series matches at all.
    if (buckets.length === 0) return [];
    return [histogramQuantile(c.q, buckets) * c.scale];
  }
  const inc = increases(before.samples, after.samples, c.counter, c.matchers);
  if (inc.length === 0) return [];
  const seconds = Math.max(1e-3, (after.at - before.at) / 1000);
  const total = inc.reduce((a, s) => a + s.value, 0);
  if (c.kind === 'rate') return [total / seconds];
  const re = new RegExp(`^(?:${c.numerator.regex})$`);
  const errors = inc.filter((s) => re.test(s.labels[c.numerator.label] ?? '')).reduce((a, s) => a + s.value, 0);
  return [errors / seconds / (total / seconds)];
}

/**
 * Measurements from a /metrics endpoint when no Prometheus is at hand: each measurement compares a new
 * scrape with the one this metric saw before (the first with the scrape taken when the analysis started).
 */
export async function scrapeSource(url: string, metrics: readonly MetricSpec[]): Promise<MeasurementSource> {
  for (const m of metrics) if (!m.scrape) throw new ConfigurationError(`metric "${m.name}" is a PromQL query, which --scrape cannot evaluate`, { hint: 'use --prometheus with --template, or --scrape with the built-in latency and error-rate checks' });
  const first = await scrapeOnce(url);
  const previous = new Map<string, Scrape>(metrics.map((m) => [m.name, first]));
  let shared: { at: number; scrape: Promise<Scrape> } | undefined;
  return {
    describe: { scrape: url },
    async measure(metric) {
      // Metrics measured at the same moment share one scrape.
      if (!shared || Date.now() - shared.at > 200) shared = { at: Date.now(), scrape: scrapeOnce(url) };
      const now = await shared.scrape;
      const value = computeFromScrapes(metric, previous.get(metric.name)!, now);
      previous.set(metric.name, now);
      return value;
    },
  };
}
