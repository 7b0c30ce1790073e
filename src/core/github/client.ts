import { ConfigurationError } from '../errors.js';
import type { Logger } from '../log.js';
import { GITHUB_COM } from './runner-info.js';
import { httpFetch } from '../http/proxy.js';

export interface GitHubClientOptions {
  token: string;
  /** REST API root: --api-url, else the runner's (ctx.runner.apiUrl: GitHub Enterprise Server's <server>/api/v3), else https://api.github.com. */
  baseUrl?: string;
  log: Logger;
  /** Retries of 5xx/secondary rate limits before giving up (0 in tests that check error paths). */
  retries?: number;
  userAgent?: string;
}

export type GitHub = ReturnType<typeof import('@actions/github').getOctokit>;

/**
 * The one GitHub client: @actions/github's getOctokit with retry and throttling. The token must already
 * be registered as a secret by the caller (ctx.secret) so it is masked everywhere; this function never
 * logs it. Core code uses the client library only, never @actions/github's `context` (the adapters
 * hand it over as ctx.runner); it is loaded on first use, so commands that never call GitHub never load it.
 */
export async function createGitHub(opts: GitHubClientOptions): Promise<GitHub> {
  if (!opts.token) throw new ConfigurationError('a GitHub token is required', { hint: 'pass --token (or set GITHUB_TOKEN); in a workflow use ${{ github.token }}' });
  const [{ getOctokit }, { retry }, { throttling }] = await Promise.all([import('@actions/github'), import('@octokit/plugin-retry'), import('@octokit/plugin-throttling')]);
  const retries = opts.retries ?? 3;
  const options = {
    baseUrl: (opts.baseUrl || GITHUB_COM.apiUrl).replace(/\/+$/, ''),
    userAgent: opts.userAgent ?? 'mlloop',
    // Replaces @actions/github's request defaults (Octokit merges options shallowly): the one proxy setting, for this baseUrl.
    request: { retries, fetch: httpFetch },
    log: { debug: () => {}, info: () => {}, warn: (m: string) => opts.log.warn(m), error: (m: string) => opts.log.debug(m) },
    throttle: {
      onRateLimit: (retryAfter: number, o: { method: string; url: string }, _k: unknown, retryCount: number) => {
        opts.log.warn(`GitHub rate limit on ${o.method} ${o.url}; retrying in ${retryAfter}s`);
        return retryCount < retries;
      },
      onSecondaryRateLimit: (retryAfter: number, o: { method: string; url: string }, _k: unknown, retryCount: number) => {
        opts.log.warn(`GitHub secondary rate limit on ${o.method} ${o.url}; retrying in ${retryAfter}s`);
        return retryCount < retries;
      },
    },
  };
  return getOctokit(opts.token, options, retry, throttling) as unknown as GitHub;
}

/** `owner/name` → parts, with a clear error. */
export function parseRepository(full: string, what = 'repository'): { owner: string; repo: string } {
  const m = /^([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)$/.exec(full.trim());
  if (!m) throw new ConfigurationError(`${what} must be "owner/name", not "${full}"`);
  return { owner: m[1]!, repo: m[2]! };
}

/** The token from an option, else the environment's (GITHUB_TOKEN; GITLAB_TOKEN for GitLab), registered as a secret before anything can print it. */
export function resolveToken(option: string | undefined, env: Readonly<Record<string, string | undefined>>, secret: (v: string | undefined) => void, envName = 'GITHUB_TOKEN'): string | undefined {
  const token = option || env[envName] || undefined;
  secret(token);
  return token;
}
