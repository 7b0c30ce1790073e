import { ConfigurationError, ExternalError } from '../errors.js';
import type { Logger } from '../log.js';
import { createGitHub, parseRepository } from '../github/client.js';

/** The branch of the one pull request per app/env. */
export function prBranch(app: string, env: string): string {
  return `mlloop/${app}-${env}`;
}

/** owner/name from --github-repository or from an https://<host>/owner/name(.git) remote URL. */
export function githubRepository(explicit: string | undefined, url: string): { owner: string; repo: string } {
  if (explicit) return parseRepository(explicit, '--github-repository');
  const m = /^https?:\/\/[^/]+\/([^/]+)\/([^/]+?)(?:\.git)?\/?$/.exec(url);
  if (!m) throw new ConfigurationError(`cannot tell the GitHub repository from "${url}"`, { hint: 'pass --github-repository owner/name' });
  return { owner: m[1]!, repo: m[2]! };
}

export interface PullRequestInput {
  token: string | undefined;
  apiUrl?: string;
  owner: string;
  repo: string;
  head: string;
  base: string;
  title: string;
  body: string;
  log: Logger;
}

/** Opens the pull request from `head` into `base`, or updates the open one (one per app/env). */
export async function openOrUpdatePullRequest(i: PullRequestInput): Promise<{ number: number; url: string; created: boolean }> {
  if (!i.token) throw new ConfigurationError('--pr needs a token', { hint: 'pass --token or set GITOPS_TOKEN (it needs contents: write and pull-requests: write)' });
  const gh = await createGitHub({ token: i.token, baseUrl: i.apiUrl, log: i.log });
  try {
    const open = await gh.rest.pulls.list({ owner: i.owner, repo: i.repo, head: `${i.owner}:${i.head}`, base: i.base, state: 'open', per_page: 1 });
    const existing = open.data[0];
    if (existing) {
      const upd = await gh.rest.pulls.update({ owner: i.owner, repo: i.repo, pull_number: existing.number, title: i.title, body: i.body });
      return { number: upd.data.number, url: upd.data.html_url, created: false };
    }
    const created = await gh.rest.pulls.create({ owner: i.owner, repo: i.repo, head: i.head, base: i.base, title: i.title, body: i.body });
    return { number: created.data.number, url: created.data.html_url, created: true };
  } catch (e) {
    const status = (e as { status?: number }).status;
    if (status === 401 || status === 403 || status === 404 || status === 422) throw new ConfigurationError(`GitHub refused the pull request (HTTP ${status}): ${(e as Error).message}`, { hint: 'check --github-repository and that the token may open pull requests' });
    throw new ExternalError(`GitHub API failed: ${(e as Error).message}`);
  }
}
