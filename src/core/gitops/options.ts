import type { Context } from '../../commands/define.js';
import { ConfigurationError } from '../errors.js';
import { remoteFrom, type GitOptions, type RetryPolicy } from './git.js';

/** Options every `gitops` command shares (same names in the CLI and the actions). */
export const repoOptions = {
  repo: { type: 'string', required: true, help: 'the GitOps repository: https URL, ssh URL, file:// URL or a local path', placeholder: 'URL|PATH' },
  branch: { type: 'string', default: 'main', help: 'the branch ArgoCD syncs', placeholder: 'BRANCH' },
  token: { type: 'string', secret: true, env: 'GITOPS_TOKEN', help: 'token for an https repository (sent as an HTTP header, masked everywhere) [default: $GITOPS_TOKEN]', placeholder: 'TOKEN' },
  'token-user': { type: 'string', default: 'x-access-token', help: 'user name sent with the token (GitHub: x-access-token; GitLab: oauth2)', placeholder: 'USER' },
  author: { type: 'string', default: 'mlloop <mlloop@users.noreply.github.com>', help: 'author and committer of the commit, "Name <email>"', placeholder: 'NAME <EMAIL>' },
} as const;

/** The app of apps/<app>/<env>/. */
export const appOption = { app: { type: 'string', required: true, help: 'the application (a DNS-1123 label): apps/<app>/<env>/', placeholder: 'APP' } } as const;

export const writeOptions = {
  'dry-run': { type: 'boolean', help: 'print the diff of the change and write nothing' },
  'push-attempts': { type: 'integer', default: 50, min: 1, max: 1000, help: 'push attempts (fetch and the change applied again between them, exponential backoff with jitter) before giving up with exit 3' },
  'cache-dir': {
    type: 'path',
    help: 'keep a bare mirror of the GitOps repository in this folder and fetch into it instead of cloning; runs on one machine that share it take turns from fetch to push instead of rejecting each other (safe to share, to delete at any time, and to lose: a damaged mirror is cloned again)',
    placeholder: 'DIR',
  },
} as const;

export interface RepoOptionValues {
  repo: string;
  branch: string;
  token?: string;
  tokenUser: string;
  author: string;
}

/**
 * The remote and git options from command options: the token comes from --token or $GITOPS_TOKEN and
 * is registered as a secret; credentials written into an https URL are moved out of it into the header.
 */
export function gitOptionsFrom(o: RepoOptionValues, ctx: Context): GitOptions & { cwd: string } {
  const remote = remoteFrom({ url: o.repo, branch: o.branch, token: o.token, tokenUser: o.tokenUser }, ctx.env, (v) => ctx.secret(v));
  const a = /^\s*(.+?)\s*<([^<>\s]+@[^<>\s]+)>\s*$/.exec(o.author);
  if (!a) throw new ConfigurationError(`--author "${o.author}" must look like "Name <email@example.com>"`);
  return { remote, env: ctx.env, log: ctx.log, signal: ctx.signal, author: { name: a[1]!, email: a[2]! }, cwd: ctx.cwd };
}

export function retryFrom(attempts: number): Partial<RetryPolicy> {
  return { attempts };
}

export const releaseOutputs = {
  changed: 'true when a commit was made (false: the environment already ran this release)',
  commit: 'the commit pushed to the GitOps repository (empty when nothing changed or on a dry run)',
  'model-version': 'the model version the environment runs now',
  image: 'the image the environment runs now',
  'previous-version': 'the model version it ran before',
  'pr-url': 'with pr: the pull request opened or updated',
} as const;

export const prOptions = {
  pr: { type: 'boolean', help: 'open or update one pull request per app/env (branch mlloop/<app>-<env>) instead of pushing to --branch (protected production branches)' },
  'github-repository': { type: 'string', help: 'owner/name of the GitOps repository on GitHub, for --pr [default: read from an https://<host>/owner/name URL]', placeholder: 'OWNER/NAME' },
  'github-api-url': { type: 'string', env: 'GITHUB_API_URL', help: 'GitHub REST API root, for --pr [default: $GITHUB_API_URL or https://api.github.com]', placeholder: 'URL' },
} as const;
