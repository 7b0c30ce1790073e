import { ConfigurationError } from '../errors.js';
import type { Logger } from '../log.js';
import { readText, parseJson } from '../io/read.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { runAnalysis, formatValue, BadQuery, type AnalysisVerdict, type MeasurementSource, type MetricSpec } from './analysis.js';
import { parseSelector } from './exposition.js';
import { Prometheus } from './prometheus.js';
import { prometheusSource, scrapeSource } from './sources.js';
import { builtinMetrics, loadTemplate, parseArgOptions } from './template.js';
import { startLoad, type LoadReport } from './load.js';
import { checkSource } from './check.js';

export interface AnalyzeOptions {
  prometheus?: string;
  prometheusToken?: string;
  scrape?: string;
  template?: string;
  args: string[];
  maxP95Ms: number;
  maxErrorRate: number;
  selector?: string;
  durationMs: number;
  intervalMs: number;
  /** Before the first measurement; default one interval. */
  initialDelayMs?: number;
  windowMs: number;
  failureLimit: number;
  inconclusiveLimit: number;
  load?: number;
  target?: string;
  request: string;
  requestsMetric: string;
  latencyMetric: string;
  errorCodes: string;
  out?: string;
  log: Logger;
  now: () => Date;
  signal: AbortSignal;
}

export interface AnalyzeOutcome {
  verdict: AnalysisVerdict;
  metrics: MetricSpec[];
}

function checkUrl(value: string, option: string, example: string): string {
  try {
    const u = new URL(value);
    if (u.protocol === 'http:' || u.protocol === 'https:') return value;
  } catch {
    /* fall through */
  }
  throw new ConfigurationError(`${option} "${value}" is not an http(s) URL`, { hint: `e.g. ${option} ${example}` });
}

/** Reads the request body for --load: it must be JSON, since /predict takes JSON. */
async function requestBody(file: string): Promise<string> {
  const text = await readText(file, 'request file');
  parseJson(text, file);
  return text;
}

export async function analyze(o: AnalyzeOptions): Promise<AnalyzeOutcome> {
  checkSource(o);
  if (o.intervalMs <= 0) throw new ConfigurationError('--interval must be longer than 0');
  let matchers;
  try {
    matchers = parseSelector(o.selector ?? '');
  } catch (e) {
    throw new ConfigurationError(`--selector: ${(e as Error).message}`, { hint: 'e.g. --selector \'model_version="ocr-v3.2"\'' });
  }
  const count = Math.max(1, Math.round(o.durationMs / o.intervalMs));
  const argValues = { 'max-p95-ms': String(o.maxP95Ms), 'max-error-rate': String(o.maxErrorRate), ...parseArgOptions(o.args) };
  const metrics = o.template
    ? await loadTemplate(o.template, { intervalMs: o.intervalMs, count, args: argValues, initialDelayMs: o.initialDelayMs })
    : builtinMetrics({
        maxP95Ms: o.maxP95Ms,
        maxErrorRate: o.maxErrorRate,
        matchers,
        requestsMetric: o.requestsMetric,
        latencyMetric: o.latencyMetric,
        errorCodes: o.errorCodes,
        windowMs: o.windowMs,
        intervalMs: o.intervalMs,
        count,
        initialDelayMs: o.initialDelayMs ?? o.intervalMs,
        failureLimit: o.failureLimit,
        inconclusiveLimit: o.inconclusiveLimit,
      });
  let target = o.target;
  if (o.load !== undefined) {
    if (!target && o.scrape) target = new URL('/predict', o.scrape).toString();
    if (!target) throw new ConfigurationError('--load needs --target, the URL to send requests to', { hint: 'e.g. --target http://ocr-canary:8080/predict' });
    checkUrl(target, '--target', 'http://ocr-canary:8080/predict');
  }
  const body = o.load !== undefined ? await requestBody(o.request) : '';

  let source: MeasurementSource;
  if (o.prometheus) {
    const url = checkUrl(o.prometheus, '--prometheus', 'http://prometheus.monitoring:9090');
    const prom = new Prometheus({ url, signal: o.signal, headers: o.prometheusToken ? { authorization: `Bearer ${o.prometheusToken}` } : undefined });
    const src = prometheusSource(prom, url);
    await src.check(metrics, o.now());
    source = src;
  } else {
    source = await scrapeSource(checkUrl(o.scrape!, '--scrape', 'http://ocr-canary:8080/metrics'), metrics);
  }

  const longest = Math.max(...metrics.map((m) => m.initialDelayMs + m.intervalMs * (m.count - 1)));
  o.log.progress(`analysing ${metrics.map((m) => m.name).join(', ')} from ${o.prometheus ?? o.scrape}: ${metrics[0]!.count} measurement(s), about ${Math.round(longest / 1000)}s${o.load ? `, with ${o.load} requests/s to ${target}` : ''}`);
  const load = o.load !== undefined ? startLoad({ url: target!, body, rps: o.load }) : undefined;
  let verdict: AnalysisVerdict | undefined;
  let loadReport: LoadReport | undefined;
  try {
    verdict = await runAnalysis({
      metrics,
      source,
      now: o.now,
      signal: o.signal,
      onMeasurement: (m, r, i) => {
        const v = r.value === null ? 'NaN' : typeof r.value === 'number' ? formatValue(r.value) : r.value.map((x) => (x === null ? 'NaN' : formatValue(x))).join(', ') || 'empty';
        o.log.progress(`${m.name} [${i + 1}/${m.count}] = ${v}: ${r.phase}${r.message && r.phase !== 'Successful' ? ` (${r.message})` : ''}`);
      },
    });
  } catch (e) {
    if (e instanceof BadQuery) throw new ConfigurationError(e.message, { file: o.template, hint: 'fix the query in the template' });
    throw e;
  } finally {
    if (load) loadReport = await load.stop();
  }
  const full: AnalysisVerdict = loadReport ? { ...verdict, load: loadReport } : verdict;
  if (o.out) await writeJsonAtomic(o.out, full);
  return { verdict: full, metrics };
}
