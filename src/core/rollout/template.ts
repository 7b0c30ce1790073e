import { ConfigurationError, jsonPath } from '../errors.js';
import { parseDuration } from '../duration.js';
import { parseAllDocuments } from 'yaml';
import { readConfigText } from '../io/read.js';
import { validateSchema, type JsonSchema } from '../schema.js';
import schema from '../../../schemas/analysis.schema.json';
import { parseCondition, type Condition } from './condition.js';
import { selectorText, type Matchers } from './exposition.js';
import type { MetricSpec } from './analysis.js';

/** What the serving contract exposes and how the analysis reads it (the defaults fit examples/ocr-fields). */
export interface BuiltinOptions {
  maxP95Ms: number;
  maxErrorRate: number;
  /** Label matchers that scope every query to the canary (e.g. model_version, rollouts_pod_template_hash). */
  matchers: Matchers;
  requestsMetric: string;
  latencyMetric: string;
  /** Regex over the `code` label that counts as an error. */
  errorCodes: string;
  windowMs: number;
  intervalMs: number;
  count: number;
  initialDelayMs: number;
  failureLimit: number;
  inconclusiveLimit: number;
}

function promDuration(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000}m` : ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** The two checks of the issue's canary gate: p95 latency (ms) and the error rate, scoped by matchers. */
export function builtinMetrics(o: BuiltinOptions): MetricSpec[] {
  const sel = selectorText(o.matchers);
  const w = promDuration(o.windowMs);
  const withSel = (extra: string) => `{${[extra, sel].filter(Boolean).join(',')}}`;
  // Argo's rules judge a condition that cannot read result[0] as an Error, which does not count: guard it, so no
  // data (an empty result, or NaN from 0/0) meets neither condition and is Inconclusive.
  const gate = (max: number) => ({ successCondition: parseCondition(`len(result) > 0 && result[0] <= ${max}`), failureCondition: parseCondition(`len(result) > 0 && result[0] > ${max}`) });
  const common = { intervalMs: o.intervalMs, count: o.count, initialDelayMs: o.initialDelayMs, failureLimit: o.failureLimit, inconclusiveLimit: o.inconclusiveLimit, consecutiveErrorLimit: 4 };
  return [
    {
      name: 'latency_ms.p95',
      query: `histogram_quantile(0.95, sum by (le) (rate(${o.latencyMetric}_bucket${withSel('')}[${w}]))) * 1000`,
      ...gate(o.maxP95Ms),
      ...common,
      scrape: { kind: 'quantile', family: o.latencyMetric, q: 0.95, scale: 1000, matchers: o.matchers },
    },
    {
      name: 'error_rate',
      // `or vector(0)`: without a single error the numerator has no series, which is a rate of 0, not "no data".
      query: `(sum(rate(${o.requestsMetric}${withSel(`code=~"${o.errorCodes}"`)}[${w}])) or vector(0)) / sum(rate(${o.requestsMetric}${withSel('')}[${w}]))`,
      ...gate(o.maxErrorRate),
      ...common,
      scrape: { kind: 'ratio', counter: o.requestsMetric, numerator: { label: 'code', regex: o.errorCodes }, matchers: o.matchers },
    },
  ];
}

interface RawMetric {
  name: string;
  query: string;
  successCondition?: string;
  failureCondition?: string;
  interval?: string;
  count?: number | string;
  initialDelay?: string;
  failureLimit?: number | string;
  inconclusiveLimit?: number | string;
  consecutiveErrorLimit?: number | string;
  consecutiveSuccessLimit?: number | string;
  range?: { duration: string; step: string };
}

export interface TemplateDefaults {
  intervalMs: number;
  count: number;
  /** --initial-delay: for metrics without their own initialDelay (default: their interval). */
  initialDelayMs?: number;
  args: Record<string, string>;
}

const ARG = /\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}/g;

/**
 * Reads `--template`: an mlloop/analysis@1 file or an Argo Rollouts AnalysisTemplate. `{{args.NAME}}`
 * placeholders are filled from the command's arguments, then the template's own values; an argument
 * with no value anywhere is an error before any query is sent.
 */
export async function loadTemplate(file: string, defaults: TemplateDefaults): Promise<MetricSpec[]> {
  const docs = parseAllDocuments(await readConfigText(file, 'analysis template'), { uniqueKeys: true, prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [docs];
  const out: MetricSpec[] = [];
  const names = new Set<string>();
  let index = 0;
  for (const doc of list) {
    const err = doc.errors[0];
    if (err) {
      const pos = err.linePos?.[0];
      throw new ConfigurationError(`not valid YAML${pos ? ` (line ${pos.line}, column ${pos.col})` : ''}: ${err.message.split('\n')[0]}`, { file });
    }
    const data = doc.toJS({ maxAliasCount: 100 }) as Record<string, unknown> | null;
    index++;
    if (data === null || data === undefined) continue;
    const where = list.length > 1 ? `${file} (document ${index})` : file;
    out.push(...templateMetrics(data, where, defaults, names));
  }
  if (out.length === 0) throw new ConfigurationError('the analysis template is empty', { file, hint: 'list the metrics to check under "metrics:"' });
  return out;
}

/** One document of a template file: its args filled in, its metrics checked and converted. */
function templateMetrics(data: Record<string, unknown>, file: string, defaults: TemplateDefaults, names: Set<string>): MetricSpec[] {
  if (typeof data !== 'object' || Array.isArray(data)) throw new ConfigurationError('an analysis template must be a mapping with "metrics:"', { file });
  let raws: RawMetric[];
  let templateArgs: Record<string, string> = {};
  let prefix: (string | number)[];
  if ('kind' in data || 'apiVersion' in data) {
    const defs = (schema as { $defs: Record<string, unknown> }).$defs;
    const argo = validateSchema<{ spec: { args?: { name: string; value?: string }[]; metrics: (RawMetric & { provider: { prometheus: { query: string } } })[] } }>(data, { ...(defs.argoTemplate as JsonSchema), $defs: defs }, file);
    for (const a of argo.spec.args ?? []) if (a.value !== undefined) templateArgs[a.name] = a.value;
    raws = argo.spec.metrics.map((m) => ({ ...m, query: m.provider.prometheus.query }));
    prefix = ['spec', 'metrics'];
  } else {
    const doc = validateSchema<{ args?: Record<string, string | number>; metrics: RawMetric[] }>(data, schema as JsonSchema, file);
    templateArgs = Object.fromEntries(Object.entries(doc.args ?? {}).map(([k, v]) => [k, String(v)]));
    raws = doc.metrics;
    prefix = ['metrics'];
  }
  const args = { ...templateArgs, ...defaults.args };
  return raws.map((m, i) => {
    const at = (field: string) => jsonPath([...prefix, i, field]);
    if (names.has(m.name)) throw new ConfigurationError(`metric name "${m.name}" is used twice`, { file, path: at('name'), hint: 'give every metric its own name' });
    names.add(m.name);
    const fill = (text: string, field: string) =>
      text.replace(ARG, (_, name: string) => {
        const v = args[name];
        if (v === undefined) throw new ConfigurationError(`{{args.${name}}} has no value`, { file, path: at(field), hint: `pass --arg ${name}=VALUE (or give it a value in the template's args)` });
        return v;
      });
    const cond = (field: 'successCondition' | 'failureCondition'): Condition | undefined => {
      const t = m[field];
      if (t === undefined || t.trim() === '') return undefined;
      try {
        return parseCondition(fill(t, field));
      } catch (e) {
        if (e instanceof ConfigurationError) throw e;
        throw new ConfigurationError(`metric "${m.name}": ${(e as Error).message}`, { file, path: at(field), hint: 'see the condition language in docs/commands/analyze.md, e.g. result[0] <= 200' });
      }
    };
    const int = (v: number | string | undefined, field: string, dflt: number, min = 0) => {
      if (v === undefined) return dflt;
      const n = Number(typeof v === 'string' ? fill(v, field) : v);
      if (!Number.isInteger(n) || n < min) throw new ConfigurationError(`${field} must be a whole number ≥ ${min}, not "${v}"`, { file, path: at(field) });
      return n;
    };
    const dur = (v: string | undefined, field: string, dflt: number) => {
      if (v === undefined) return dflt;
      try {
        return parseDuration(fill(v, field), field);
      } catch (e) {
        throw new ConfigurationError((e as Error).message.split('\n')[0]!, { file, path: at(field), hint: 'write it like 30s, 1m or 500ms' });
      }
    };
    const intervalMs = dur(m.interval, 'interval', defaults.intervalMs);
    const limits = argoLimits(m, file, int, at);
    return {
      name: m.name,
      query: fill(m.query, 'query'),
      successCondition: cond('successCondition'),
      failureCondition: cond('failureCondition'),
      intervalMs,
      // Argo: without count a metric runs until stopped; here the --duration bounds it.
      count: Math.max(1, int(m.count, 'count', m.interval !== undefined ? Math.max(1, Math.round((defaults.intervalMs * defaults.count) / intervalMs)) : defaults.count)),
      initialDelayMs: dur(m.initialDelay, 'initialDelay', defaults.initialDelayMs ?? intervalMs),
      ...limits,
      consecutiveErrorLimit: int(m.consecutiveErrorLimit, 'consecutiveErrorLimit', 4),
      ...(m.range ? { range: { durationMs: dur(m.range.duration, 'range.duration', 60_000), stepMs: dur(m.range.step, 'range.step', 15_000) } } : {}),
    };
  });
}

/** The limits Argo's ValidateMetric (utils/analysis/factory.go) accepts, checked against an explicit count. */
function argoLimits(m: RawMetric, file: string, int: (v: number | string | undefined, field: string, dflt: number, min?: number) => number, at: (field: string) => string) {
  const failureLimit = int(m.failureLimit, 'failureLimit', 0, -1);
  const consecutiveSuccessLimit = int(m.consecutiveSuccessLimit, 'consecutiveSuccessLimit', 0);
  const inconclusiveLimit = int(m.inconclusiveLimit, 'inconclusiveLimit', 0);
  const refuse = (message: string, field: string) => new ConfigurationError(message, { file, path: at(field), hint: 'as Argo Rollouts validates an AnalysisTemplate' });
  if (failureLimit === -1 && consecutiveSuccessLimit === 0) throw refuse('failureLimit and consecutiveSuccessLimit cannot both be disabled', 'failureLimit');
  const count = m.count === undefined ? 0 : int(m.count, 'count', 0);
  if (count > 0 && count < Math.max(failureLimit, 0) + consecutiveSuccessLimit) throw refuse(`count (${count}) must be >= failureLimit + consecutiveSuccessLimit (${Math.max(failureLimit, 0)} + ${consecutiveSuccessLimit})`, 'count');
  if (count > 0 && count < inconclusiveLimit) throw refuse('count must be >= inconclusiveLimit', 'count');
  return { failureLimit, inconclusiveLimit, consecutiveSuccessLimit };
}

/** `--arg NAME=VALUE` options → a map, with a clear error for a malformed one. */
export function parseArgOptions(list: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of list) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new ConfigurationError(`--arg "${a}" is not NAME=VALUE`, { hint: 'e.g. --arg canary-hash=6d5f8c7b9' });
    out[a.slice(0, eq).trim()] = a.slice(eq + 1);
  }
  return out;
}
