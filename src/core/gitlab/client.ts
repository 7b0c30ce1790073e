import { ConfigurationError } from '../errors.js';
import type { Logger } from '../log.js';
import { httpFetch } from '../http/proxy.js';

export const GITLAB_COM_API = 'https://gitlab.com/api/v4';

export interface GitLabClientOptions {
  token: string;
  /** REST API root (`<server>/api/v4`: --api-url, else CI_API_V4_URL) or the instance's address (CI_SERVER_URL). */
  url: string;
  log: Logger;
  /** Retries of 429/502/503/504 and of failed connections before giving up (0 in tests of error paths). */
  retries?: number;
  /** First back-off in milliseconds (doubled each retry; a Retry-After header wins). */
  backoffMs?: number;
  signal?: AbortSignal;
}

type Notes = import('@gitbeaker/rest').MergeRequestNotes<false>;
type MergeRequests = import('@gitbeaker/rest').MergeRequests<false>;
type Users = import('@gitbeaker/rest').Users<false>;

/** The few GitLab API resources mlloop uses, all sharing one requester (mlloop's proxy-aware fetch). */
export interface GitLab {
  /** `<server>/api/v4`, as requests are sent to it. */
  apiUrl: string;
  notes: Notes;
  mergeRequests: MergeRequests;
  users: Users;
}

/** A GitLab API answer other than 2xx, with GitLab's JSON body (`{"message": …}` or `{"error": …, "scope": …}`). */
export class GitLabApiError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`GitLab API ${method} ${path}: ${status} ${describe(body)}`);
    this.name = 'GitLabApiError';
  }
}

function describe(body: unknown): string {
  if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    const m = b.message ?? b.error_description ?? b.error;
    if (m !== undefined) return typeof m === 'string' ? m : JSON.stringify(m);
  }
  return typeof body === 'string' ? body.slice(0, 200) : '';
}

export function statusOf(e: unknown): number | undefined {
  return e instanceof GitLabApiError ? e.status : undefined;
}

/**
 * The scopes GitLab asked for when it refused a token for lack of them: a 403 with
 * `{"error":"insufficient_scope","error_description":"The request requires higher privileges than provided by the access token.","scope":"api read_api"}`
 * (the `scope` field lists the scopes any of which would do). Undefined for every other error.
 */
export function insufficientScope(e: unknown): string[] | undefined {
  if (!(e instanceof GitLabApiError) || e.status !== 403) return undefined;
  const b = e.body as { error?: unknown; scope?: unknown } | null;
  if (!b || b.error !== 'insufficient_scope') return undefined;
  return typeof b.scope === 'string' ? b.scope.split(/\s+/).filter(Boolean) : [];
}

/**
 * The API root and the host gitbeaker wants (it appends `/api/v4` itself). Accepts the API root
 * (`https://git.example.com/gitlab/api/v4`, as CI_API_V4_URL) or the instance's address (CI_SERVER_URL).
 */
export function gitlabEndpoints(url: string, what = '--api-url'): { host: string; apiUrl: string } {
  let u: URL;
  try {
    u = new URL(url.trim());
  } catch {
    throw new ConfigurationError(`${what} must be a URL, not "${url}"`, { hint: 'pass the GitLab REST API root, e.g. https://gitlab.example.com/api/v4 (CI_API_V4_URL in a GitLab job)' });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigurationError(`${what} must be an http(s) URL, not "${url}"`);
  if (u.username || u.password) throw new ConfigurationError(`${what} must not carry credentials`, { hint: 'pass the token with --token or GITLAB_TOKEN' });
  u.search = '';
  u.hash = '';
  const host = u.href.replace(/\/+$/, '').replace(/\/api\/v4$/, '');
  return { host, apiUrl: `${host}/api/v4` };
}

const RETRY = new Set([429, 502, 503, 504]);

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason as Error)), { once: true });
  });
}

async function bodyOf(res: Response): Promise<unknown> {
  if (res.status === 204) return null;
  const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
  const text = await res.text();
  if (type === 'application/json') {
    try {
      return text ? JSON.parse(text) : {};
    } catch {
      return text;
    }
  }
  return text;
}

/**
 * gitbeaker's request handler, rebuilt on mlloop's httpFetch so GitLab requests go through the one proxy setting
 * (HTTPS_PROXY/NO_PROXY, as every other request mlloop makes) — @gitbeaker/rest's own handler calls the global
 * fetch, which knows no proxy. Retries 429/502/503/504 and lost connections with back-off.
 */
function requestHandler(opts: { log: Logger; retries: number; backoffMs: number; signal?: AbortSignal }) {
  return async (endpoint: string, options?: Record<string, unknown>) => {
    const o = (options ?? {}) as { prefixUrl?: string; searchParams?: string; method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal };
    const base = o.prefixUrl ? (o.prefixUrl.endsWith('/') ? o.prefixUrl : `${o.prefixUrl}/`) : undefined;
    const url = new URL(endpoint, base);
    url.search = o.searchParams ?? '';
    const method = o.method ?? 'GET';
    const signals = [o.signal, opts.signal].filter((s): s is AbortSignal => Boolean(s));
    // AbortSignal.any is Node ≥ 20.3; before it the run's own signal (SIGTERM) is the one that counts.
    const signal = signals.length > 1 ? (typeof AbortSignal.any === 'function' ? AbortSignal.any(signals) : opts.signal) : signals[0];
    const where = `${url.pathname}${url.search}`;
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await httpFetch(url.href, { method, headers: o.headers, body: o.body, signal });
      } catch (e) {
        if (signal?.aborted || attempt >= opts.retries) throw new GitLabApiError(method, where, 0, `cannot reach GitLab: ${(e as Error).message}${(e as { cause?: Error }).cause ? ` (${(e as { cause: Error }).cause.message})` : ''}`);
        await sleep(opts.backoffMs * 2 ** attempt, signal);
        continue;
      }
      opts.log.debug(`GitLab ${method} ${where} → ${res.status}`);
      if (res.ok) {
        const body = (await bodyOf(res)) as Record<string, unknown>;
        return { body, headers: Object.fromEntries(res.headers.entries()), status: res.status };
      }
      if (RETRY.has(res.status) && attempt < opts.retries) {
        await res.body?.cancel();
        const after = Number(res.headers.get('retry-after'));
        await sleep(Number.isFinite(after) && after > 0 ? Math.min(after, 60) * 1000 : opts.backoffMs * 2 ** attempt, signal);
        continue;
      }
      throw new GitLabApiError(method, where, res.status, await bodyOf(res));
    }
  };
}

/**
 * The one GitLab client: gitbeaker's resources for merge-request notes, merge requests and the current user,
 * loaded on first use (commands that never call GitLab never load it). The token must already be registered
 * as a secret by the caller (ctx.secret); it is sent as PRIVATE-TOKEN and never logged.
 */
export async function createGitLab(opts: GitLabClientOptions): Promise<GitLab> {
  if (!opts.token) throw new ConfigurationError('a GitLab token is required', { hint: 'set GITLAB_TOKEN (a masked CI/CD variable holding an access token with the api scope) or pass --token' });
  const { host, apiUrl } = gitlabEndpoints(opts.url);
  const [{ MergeRequestNotes, MergeRequests, Users }, { createRequesterFn }] = await Promise.all([import('@gitbeaker/rest'), import('@gitbeaker/requester-utils')]);
  const requesterFn = createRequesterFn(async (_service, request) => request, requestHandler({ log: opts.log, retries: opts.retries ?? 3, backoffMs: opts.backoffMs ?? 1000, signal: opts.signal }));
  // No client-side rate limiting (mlloop sends a handful of requests); GitLab's own limits answer 429, which is retried.
  const config = { host, token: opts.token, requesterFn, rateLimits: {}, queryTimeout: 120_000 };
  return { apiUrl, notes: new MergeRequestNotes(config), mergeRequests: new MergeRequests(config), users: new Users(config) };
}
