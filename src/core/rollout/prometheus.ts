import { ConfigurationError, ExternalError } from '../errors.js';
import { parseValue } from './exposition.js';
import { httpFetch } from '../http/proxy.js';

/**
 * A small client for the Prometheus HTTP API (`/api/v1/query`, `/api/v1/query_range`). Network errors and
 * 5xx answers are retried with backoff; a query Prometheus rejects (400/422 bad_data) is the user's
 * mistake and is not retried.
 */
export interface PrometheusOptions {
  url: string;
  /** Extra headers, e.g. Authorization for a Prometheus behind a proxy. */
  headers?: Record<string, string>;
  timeoutMs?: number;
  retries?: number;
  signal?: AbortSignal;
}

export interface QueryResult {
  /** vector → one value per series; scalar → one number; matrix → every value of every series in order. */
  values: number[];
  scalar: boolean;
  series: number;
  resultType: string;
}

export class QueryRejected extends Error {}

interface ApiAnswer {
  status?: string;
  errorType?: string;
  error?: string;
  data?: { resultType: string; result: unknown };
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });

export class Prometheus {
  private readonly base: string;
  constructor(private readonly opts: PrometheusOptions) {
    let u: URL;
    try {
      u = new URL(opts.url);
    } catch {
      throw new ConfigurationError(`--prometheus "${opts.url}" is not a URL`, { hint: 'give the Prometheus base URL, e.g. http://prometheus.monitoring:9090' });
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigurationError(`--prometheus "${opts.url}" must be an http(s) URL`);
    this.base = opts.url.replace(/\/+$/, '');
  }

  /** An instant query at `time` (default: now). */
  async query(promql: string, time?: Date): Promise<QueryResult> {
    const params = new URLSearchParams({ query: promql });
    if (time) params.set('time', String(time.getTime() / 1000));
    return toResult(await this.call('/api/v1/query', params));
  }

  /** An instant query's answer as Prometheus gives it (labels and timestamps kept), e.g. the raw samples of `metric[15m]`. */
  async instant(promql: string, time?: Date): Promise<{ resultType: string; result: unknown }> {
    const params = new URLSearchParams({ query: promql });
    if (time) params.set('time', String(time.getTime() / 1000));
    return this.call('/api/v1/query', params);
  }

  /** A range query over [start, end] with the given step. */
  async queryRange(promql: string, start: Date, end: Date, stepMs: number): Promise<QueryResult> {
    const params = new URLSearchParams({ query: promql, start: String(start.getTime() / 1000), end: String(end.getTime() / 1000), step: `${Math.max(1, stepMs) / 1000}` });
    return toResult(await this.call('/api/v1/query_range', params));
  }

  private async call(path: string, params: URLSearchParams): Promise<{ resultType: string; result: unknown }> {
    const retries = this.opts.retries ?? 3;
    let last = '';
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) await sleep(250 * 2 ** (attempt - 1) * (0.5 + Math.random()), this.opts.signal);
      if (this.opts.signal?.aborted) break;
      let res: Response;
      try {
        res = await httpFetch(`${this.base}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', ...this.opts.headers },
          body: params.toString(),
          signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
        });
      } catch (e) {
        last = `${(e as Error).message}${(e as { cause?: Error }).cause ? ` (${(e as { cause?: Error }).cause!.message})` : ''}`;
        continue;
      }
      const text = await res.text();
      let body: ApiAnswer;
      try {
        body = JSON.parse(text) as ApiAnswer;
      } catch {
        last = `HTTP ${res.status}, not a Prometheus API answer: ${text.slice(0, 200)}`;
        if (res.status >= 500 || res.status === 429) continue;
        break;
      }
      if (res.ok && body.status === 'success' && body.data) return body.data;
      if (body.errorType === 'bad_data' || res.status === 400 || res.status === 422) throw new QueryRejected(`Prometheus rejected the query: ${body.error ?? `HTTP ${res.status}`}`);
      last = `HTTP ${res.status}: ${body.error ?? text.slice(0, 200)}`;
      if (res.status < 500 && res.status !== 429) break;
    }
    throw new ExternalError(`Prometheus at ${this.base} did not answer after ${retries + 1} attempts: ${last}`, { hint: 'check --prometheus and that Prometheus is reachable from here' });
  }
}

function toResult(data: { resultType: string; result: unknown }): QueryResult {
  switch (data.resultType) {
    case 'scalar': {
      const [, v] = data.result as [number, string];
      return { values: [parseValue(v)], scalar: true, series: 1, resultType: 'scalar' };
    }
    case 'vector': {
      const r = data.result as { value: [number, string] }[];
      return { values: r.map((s) => parseValue(s.value[1])), scalar: false, series: r.length, resultType: 'vector' };
    }
    case 'matrix': {
      const r = data.result as { values: [number, string][] }[];
      return { values: r.flatMap((s) => s.values.map((v) => parseValue(v[1]))), scalar: false, series: r.length, resultType: 'matrix' };
    }
    default:
      throw new ConfigurationError(`the query returned a ${data.resultType}, not numbers`, { hint: 'write a query that returns a vector or scalar' });
  }
}
