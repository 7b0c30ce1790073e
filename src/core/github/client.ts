import { ConfigurationError } from '../errors.js';
import type { Logger } from '../log.js';

export interface GitHubClientOptions {
  token: string;
  /** REST API root: GITHUB_API_URL on a runner, https://api.github.com by default, a test server in tests. */
  baseUrl?: string;
  log: Logger;
  /** Retries of 5xx/secondary rate limits before giving up (0 in tests that check error paths). */
  retries?: number;
  userAgent?: string;
}

export type GitHub = InstanceType<typeof import('@octokit/rest').Octokit>;

/**
 * The one GitHub client: Octokit with retry and throttling. The token must already be registered as a
 * secret by the caller (ctx.secret) so it is masked everywhere; this function never logs it.
 */
export async function createGitHub(opts: GitHubClientOptions): Promise<GitHub> {
  if (!opts.token) throw new ConfigurationError('a GitHub token is required', { hint: 'pass --token (or set GITHUB_TOKEN); in a workflow use ${{ github.token }}' });
  const [{ Octokit }, { retry }, { throttling }] = await Promise.all([import('@octokit/rest'), import('@octokit/plugin-retry'), import('@octokit/plugin-throttling')]);
  const MyOctokit = Octokit.plugin(retry, throttling);
  const retries = opts.retries ?? 3;
  return new MyOctokit({
    auth: opts.token,
    baseUrl: (opts.baseUrl ?? 'https://api.github.com').replace(/\/+$/, ''),
    userAgent: opts.userAgent ?? 'mlloop',
    request: { retries },
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
  });
}

/** `owner/name` → parts, with a clear error. */
export function parseRepository(full: string, what = 'repository'): { owner: string; repo: string } {
  const m = /^([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)$/.exec(full.trim());
  if (!m) throw new ConfigurationError(`${what} must be "owner/name", not "${full}"`);
  return { owner: m[1]!, repo: m[2]! };
}

/** The token from an option, else GITHUB_TOKEN, registered as a secret before anything can print it. */
export function resolveToken(option: string | undefined, env: Readonly<Record<string, string | undefined>>, secret: (v: string | undefined) => void): string | undefined {
  const token = option || env.GITHUB_TOKEN || undefined;
  secret(token);
  return token;
}

/** The URL of the current workflow run (its job summary holds the full report), when on a runner. */
export function runUrl(env: Readonly<Record<string, string | undefined>>): string | undefined {
  if (!env.GITHUB_REPOSITORY || !env.GITHUB_RUN_ID) return undefined;
  return `${env.GITHUB_SERVER_URL ?? 'https://github.com'}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}${env.GITHUB_RUN_ATTEMPT ? `/attempts/${env.GITHUB_RUN_ATTEMPT}` : ''}`;
}
