import { ConfigurationError, ExternalError } from '../errors.js';
import type { Logger } from '../log.js';
import { readText, parseJson } from '../io/read.js';
import { httpFetch } from '../http/proxy.js';

/**
 * The smoke test after a deploy: liveness (/healthz), readiness (/readyz), then POST /predict with the
 * model repo's test request; the answer must be the serving envelope {status, result, error_code,
 * model_version} with status "ok" and the model version that was just deployed. Until the deadline
 * every failure is retried (a rollout may still be switching pods); then the last failure is the verdict.
 */
export interface SmokeOptions {
  url: string;
  request: string;
  expectModelVersion?: string;
  deadlineMs: number;
  retryMs: number;
  requestTimeoutMs: number;
  /** Successful /predict calls required in a row (latency is reported over them). */
  repeat: number;
  healthPath: string;
  readyPath: string;
  predictPath: string;
  headers?: Record<string, string>;
  log: Logger;
  signal: AbortSignal;
}

export interface SmokeCheck {
  name: 'healthz' | 'readyz' | 'predict';
  ok: boolean;
  status: number | null;
  latency_ms: number;
  message?: string;
}

export interface SmokeResult {
  schema: 'mlloop/smoke@1';
  url: string;
  pass: boolean;
  attempts: number;
  model_version: string | null;
  expected_model_version: string | null;
  latency_ms: { min: number; median: number; max: number } | null;
  checks: SmokeCheck[];
  message: string;
  elapsed_ms: number;
}

class Unreachable extends Error {}

const round = (x: number) => Math.round(x * 10) / 10;

async function call(url: string, init: RequestInit, timeoutMs: number): Promise<{ status: number; text: string; ms: number }> {
  const t0 = performance.now();
  try {
    const res = await httpFetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    return { status: res.status, text, ms: round(performance.now() - t0) };
  } catch (e) {
    const cause = (e as { cause?: Error }).cause;
    throw new Unreachable(`${url}: ${(e as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (cause?.message ?? (e as Error).message)}`);
  }
}

/** Checks a /predict answer against the envelope contract; returns the problem, or undefined. */
export function checkEnvelope(status: number, text: string, expectModelVersion?: string): { problem?: string; modelVersion: string | null } {
  let env: Record<string, unknown>;
  try {
    env = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { problem: `HTTP ${status}, and the body is not JSON: ${text.slice(0, 120)}`, modelVersion: null };
  }
  if (!env || typeof env !== 'object' || Array.isArray(env)) return { problem: 'the body is not a JSON object', modelVersion: null };
  const missing = ['status', 'result', 'error_code', 'model_version'].filter((k) => !(k in env));
  const mv = typeof env.model_version === 'string' ? env.model_version : null;
  if (missing.length) return { problem: `the envelope lacks ${missing.join(', ')}`, modelVersion: mv };
  if (status !== 200 || env.status !== 'ok') return { problem: `HTTP ${status}, status "${String(env.status)}", error_code ${JSON.stringify(env.error_code)}${typeof env.message === 'string' ? `: ${env.message}` : ''}`, modelVersion: mv };
  if (env.error_code !== null) return { problem: `status "ok" but error_code ${JSON.stringify(env.error_code)}`, modelVersion: mv };
  if (!env.result || typeof env.result !== 'object') return { problem: 'status "ok" but result is empty', modelVersion: mv };
  if (mv === null) return { problem: 'model_version is not a string', modelVersion: null };
  if (expectModelVersion !== undefined && mv !== expectModelVersion) return { problem: `model_version is "${mv}", expected "${expectModelVersion}" (the new version is not serving yet, or the deploy did not take)`, modelVersion: mv };
  return { modelVersion: mv };
}

export async function smoke(o: SmokeOptions): Promise<SmokeResult> {
  let base: URL;
  try {
    base = new URL(o.url);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error('not http');
  } catch {
    throw new ConfigurationError(`--url "${o.url}" is not an http(s) URL`, { hint: 'give the service root, e.g. --url http://ocr.staging.svc:8080' });
  }
  const body = await readText(o.request, 'request file');
  parseJson(body, o.request);
  const at = (p: string) => new URL(p, base.href.endsWith('/') ? base.href : `${base.href}/`).toString().replace(/([^:])\/\/+/g, '$1/');
  const start = performance.now();
  const deadline = start + o.deadlineMs;
  let attempts = 0;
  let reached = false;
  let last: { message: string; checks: SmokeCheck[]; mv: string | null } = { message: 'no attempt was made', checks: [], mv: null };
  while (!o.signal.aborted) {
    attempts++;
    const checks: SmokeCheck[] = [];
    let mv: string | null = null;
    try {
      for (const [name, p] of [['healthz', o.healthPath], ['readyz', o.readyPath]] as const) {
        const r = await call(at(p), { headers: o.headers }, o.requestTimeoutMs);
        reached = true;
        checks.push({ name, ok: r.status === 200, status: r.status, latency_ms: r.ms, ...(r.status === 200 ? {} : { message: `HTTP ${r.status}: ${r.text.slice(0, 120).trim()}` }) });
        if (r.status !== 200) throw new Error(`${p} answered HTTP ${r.status}`);
      }
      const latencies: number[] = [];
      for (let i = 0; i < o.repeat; i++) {
        const r = await call(at(o.predictPath), { method: 'POST', headers: { 'content-type': 'application/json', ...o.headers }, body }, o.requestTimeoutMs);
        const env = checkEnvelope(r.status, r.text, o.expectModelVersion);
        mv = env.modelVersion;
        checks.push({ name: 'predict', ok: !env.problem, status: r.status, latency_ms: r.ms, ...(env.problem ? { message: env.problem } : {}) });
        if (env.problem) throw new Error(`POST ${o.predictPath}: ${env.problem}`);
        latencies.push(r.ms);
      }
      const sorted = [...latencies].sort((a, b) => a - b);
      const latency = { min: sorted[0]!, median: sorted[Math.floor((sorted.length - 1) / 2)]!, max: sorted.at(-1)! };
      return {
        schema: 'mlloop/smoke@1',
        url: o.url,
        pass: true,
        attempts,
        model_version: mv,
        expected_model_version: o.expectModelVersion ?? null,
        latency_ms: latency,
        checks,
        message: `smoke test passed: ${mv} answered ${o.repeat} prediction(s) in ${latency.median} ms (median), after ${attempts} attempt(s)`,
        elapsed_ms: Math.round(performance.now() - start),
      };
    } catch (e) {
      last = { message: e instanceof Unreachable ? `unreachable: ${e.message}` : (e as Error).message, checks, mv: mv ?? last.mv };
    }
    const wait = Math.min(o.retryMs, deadline - performance.now());
    if (wait <= 0) break;
    o.log.progress(`attempt ${attempts}: ${last.message}; retrying in ${Math.round(wait / 100) / 10}s`);
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, wait);
      o.signal.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      }, { once: true });
    });
  }
  const elapsed = Math.round(performance.now() - start);
  if (!reached) throw new ExternalError(`smoke test: ${o.url} was unreachable for ${Math.round(elapsed / 1000)}s (${attempts} attempts): ${last.message.replace(/^unreachable: /, '')}`, { hint: 'check --url and that the service is running; raise --timeout if it starts slowly' });
  return {
    schema: 'mlloop/smoke@1',
    url: o.url,
    pass: false,
    attempts,
    model_version: last.mv,
    expected_model_version: o.expectModelVersion ?? null,
    latency_ms: null,
    checks: last.checks,
    message: `smoke test failed after ${attempts} attempt(s) in ${Math.round(elapsed / 1000)}s: ${last.message}`,
    elapsed_ms: elapsed,
  };
}
