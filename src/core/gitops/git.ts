import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigurationError, ExternalError } from '../errors.js';
import { makeTempDir, shutdownSignal } from '../fs/temp.js';
import type { Logger } from '../log.js';
import { redactUrlCredentials } from '../mask.js';
import { proxyUrlFor } from '../http/proxy.js';

/**
 * The one git wrapper of mlloop (simple-git, loaded on first use). Small steps in the manner of Kargo's
 * promotion steps — clone, edit, commit, push — and one composition of them, `updateRepo`, that every
 * writer of a shared repository uses (GitOps deploys, lineage records):
 *
 *   clone (shallow) → edit files through a callback → commit with trailers (never an empty commit) →
 *   push; on a non-fast-forward rejection fetch + rebase and push again, with bounded exponential
 *   backoff and full jitter. When the rebase conflicts, the edit is run again on the new upstream (it
 *   re-checks its rules against what is there now); if it still cannot be applied, the conflict is final.
 *
 * Credentials: a token is sent as an HTTP `Authorization` header through GIT_CONFIG_* environment
 * variables of the git processes — never in a URL, an argument list, a config file or a message.
 * Credentials written into an https URL (`https://user:token@host/…`) are moved out of it into that
 * header by `remoteFrom`, and again by `cloneRepo` for any caller that did not. Clones live in temp
 * folders registered with fs/temp.ts, removed when done and on exit or SIGINT/SIGTERM.
 */

type SimpleGit = import('simple-git').SimpleGit;

export interface GitRemote {
  /** https://…, ssh://…, git@host:path, file://… or a local path to a (bare) repository. */
  url: string;
  /** The branch to read and write; '' for a read of the remote's default branch. */
  branch: string;
  /** HTTPS token (GitHub: a PAT or an installation token). Register it with ctx.secret before calling. */
  token?: string;
  /** User name sent with the token (Basic auth); GitHub accepts `x-access-token`. */
  tokenUser?: string;
}

export interface GitOptions {
  remote: GitRemote;
  /** The caller's environment (PATH, HOME, proxies); core code never reads process.env itself. */
  env: Readonly<Record<string, string | undefined>>;
  log: Logger;
  signal?: AbortSignal;
  /** Author and committer of mlloop's commits. */
  author?: { name: string; email: string };
}

export interface RetryPolicy {
  /** Push attempts in all (the first one included). */
  attempts: number;
  baseMs: number;
  maxMs: number;
  /** Random source for the jitter (tests may fix it). */
  random?: () => number;
}

// Every non-fast-forward rejection means another writer's commit landed, so the branch makes progress; with N
// writers at once one may lose N-1 times. 50 attempts (Kargo's bound too) cover 50 concurrent writers.
export const DEFAULT_RETRY: RetryPolicy = { attempts: 50, baseMs: 100, maxMs: 4000 };
export const DEFAULT_AUTHOR = { name: 'mlloop', email: 'mlloop@users.noreply.github.com' };

export interface Workspace {
  dir: string;
  git: SimpleGit;
  /** The commit the checkout started from (empty string for an empty remote). */
  base: string;
  options: GitOptions;
  cleanup(): Promise<void>;
}

/** A local path becomes a file:// URL so that --depth is honoured (git ignores it for plain paths). */
export function remoteUrl(url: string, cwd: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) || /^[^/\\]+@[^:]+:/.test(url)) return url;
  return pathToFileURL(path.resolve(cwd, url)).href;
}

/**
 * The remote from what a user passes: the token from the option or $GITOPS_TOKEN; credentials written into
 * an http(s) URL are moved out of it into the token (and user), and every form of them is reported to
 * `secret` so the masker hides them.
 */
export function remoteFrom(o: { url: string; branch: string; token?: string; tokenUser?: string }, env: Readonly<Record<string, string | undefined>>, secret: (v: string | undefined) => void): GitRemote {
  const moved = moveCredentials({ url: o.url.trim(), branch: o.branch, token: o.token ?? (env.GITOPS_TOKEN || undefined), tokenUser: o.tokenUser }, secret);
  secret(moved.token);
  return moved;
}

/** `https://user:token@host/x` → url `https://host/x` with token and user set (an explicit token wins). */
function moveCredentials(remote: GitRemote, secret: (v: string | undefined) => void = () => {}): GitRemote {
  const m = /^(https?:\/\/)([^/@\s]+)@(.*)$/i.exec(remote.url);
  if (!m) return remote;
  let userInfo = m[2]!;
  secret(userInfo);
  try {
    userInfo = decodeURIComponent(userInfo);
  } catch {
    /* keep it as written */
  }
  const [user, pass] = userInfo.split(/:(.*)/s);
  // The password is secret; a bare user part is the token itself (masked as the token below).
  secret(pass);
  let token = remote.token;
  let tokenUser = remote.tokenUser;
  if (pass) {
    token ??= pass;
    tokenUser = user || tokenUser;
  } else token ??= user;
  return { ...remote, url: `${m[1]}${m[3]}`, ...(token ? { token, tokenUser } : {}) };
}

/** A URL safe to print: credentials removed. */
export function displayUrl(url: string): string {
  return redactUrlCredentials(url);
}

function gitEnv(o: GitOptions): Record<string, string> {
  const env: Record<string, string> = {};
  // Only what git needs from the caller's environment: no editors, pagers, askpass programs or hooks.
  for (const k of ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TMPDIR', 'SSH_AUTH_SOCK', 'GIT_SSL_CAINFO']) {
    const v = o.env[k];
    if (v !== undefined) env[k] = v;
  }
  const author = o.author ?? DEFAULT_AUTHOR;
  Object.assign(env, {
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: author.name,
    GIT_AUTHOR_EMAIL: author.email,
    GIT_COMMITTER_NAME: author.name,
    GIT_COMMITTER_EMAIL: author.email,
  });
  const config: [string, string][] = [['advice.detachedHead', 'false']];
  // The proxy variables are not passed on: git (libcurl) would read NO_PROXY by curl's rules, not by mlloop's one setting.
  const proxy = proxyUrlFor(o.remote.url, o.env);
  if (proxy) config.push(['http.proxy', proxy]);
  if (o.remote.branch) config.push(['init.defaultBranch', o.remote.branch]);
  if (o.remote.token) {
    const basic = Buffer.from(`${o.remote.tokenUser ?? 'x-access-token'}:${o.remote.token}`).toString('base64');
    config.push(['http.extraHeader', `Authorization: Basic ${basic}`]);
  }
  env.GIT_CONFIG_COUNT = String(config.length);
  config.forEach(([k, v], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = k;
    env[`GIT_CONFIG_VALUE_${i}`] = v;
  });
  return env;
}

async function makeGit(dir: string, o: GitOptions): Promise<SimpleGit> {
  const { simpleGit } = await import('simple-git');
  // git stops on the caller's abort and when the process is told to stop (its temp folder is then removed).
  let abort = shutdownSignal();
  if (o.signal) {
    const both = new AbortController();
    for (const s of [o.signal, abort]) {
      if (s.aborted) both.abort(s.reason);
      else s.addEventListener('abort', () => both.abort(s.reason), { once: true });
    }
    abort = both.signal;
  }
  // The only "unsafe" setting used is our own GIT_CONFIG_COUNT, which carries the auth header.
  return simpleGit({ baseDir: dir, abort, unsafe: { allowUnsafeConfigEnvCount: true } }).env(gitEnv(o));
}

/** The text of a git failure, without credentials, on a few lines. */
export function gitFailure(e: unknown): string {
  const text = (e as Error)?.message ?? String(e);
  return displayUrl(text).trim().split('\n').filter(Boolean).slice(-6).join('\n');
}

/** Step 1: a shallow clone of one branch into a fresh temporary folder. An empty remote gets the branch created. */
export async function cloneRepo(opts: GitOptions & { depth?: number | 'full'; cwd?: string }): Promise<Workspace> {
  // Whoever built the remote, credentials in its URL never reach git's argv or the clone's .git/config.
  const o = { ...opts, remote: moveCredentials(opts.remote) };
  const temp = await makeTempDir('git');
  const dir = temp.dir;
  const cleanup = () => temp.remove();
  try {
    const git = await makeGit(dir, o);
    const url = remoteUrl(o.remote.url, o.cwd ?? process.cwd());
    const depth = o.depth ?? 1;
    const args = ['--no-tags', '--single-branch', ...(o.remote.branch ? ['--branch', o.remote.branch] : []), ...(depth === 'full' ? [] : ['--depth', String(depth)])];
    try {
      await git.clone(url, dir, args);
    } catch (e) {
      const msg = gitFailure(e);
      if (/Remote branch .* not found/i.test(msg)) {
        // An empty repository has no branch yet: start it.
        if (await isEmptyRemote(git, url)) {
          await git.init(['--initial-branch', o.remote.branch]);
          await git.addRemote('origin', url);
          return { dir, git, base: '', options: o, cleanup };
        }
        throw new ConfigurationError(`branch "${o.remote.branch}" does not exist in ${displayUrl(o.remote.url)}`, { hint: 'pass the branch ArgoCD syncs with --branch' });
      }
      // A local repository that cannot be cloned is the user's input, not an outage.
      if (url.startsWith('file:') && !/^file:/i.test(o.remote.url)) throw new ConfigurationError(`${o.remote.url} is not a git repository I can clone: ${msg.split('\n').pop()}`, { hint: 'pass a clone of the GitOps repository or its URL' });
      throw new ExternalError(`cannot clone ${displayUrl(o.remote.url)}: ${msg}`, { hint: 'check the URL, the network and the token (it needs contents: write)' });
    }
    const base = await headCommit(dir, git);
    return { dir, git, base, options: o, cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

async function isEmptyRemote(git: SimpleGit, url: string): Promise<boolean> {
  try {
    const refs = await git.listRemote([url]);
    return refs.trim() === '';
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Commit messages with trailers (the format `git interpret-trailers` reads and writes).

export type Trailers = readonly (readonly [string, string])[];

/** `subject`, a blank line, an optional body, a blank line, then `Key: value` lines. */
export function formatCommitMessage(subject: string, trailers: Trailers, body?: string): string {
  const oneLine = (s: string, what: string) => {
    if (/[\r\n\u0000-\u0008\u000b-\u001f\u007f]/.test(s)) throw new ConfigurationError(`${what} must be one line without control characters`);
    return s.trim();
  };
  const lines = [oneLine(subject, 'commit subject'), ''];
  if (body?.trim()) lines.push(body.trim(), '');
  for (const [k, v] of trailers) {
    if (!/^[A-Za-z0-9][A-Za-z0-9-]*$/.test(k)) throw new ConfigurationError(`trailer key "${k}" must be letters, digits and "-"`);
    if (v.trim() === '') continue;
    lines.push(`${k}: ${oneLine(v, `trailer ${k}`)}`);
  }
  return `${lines.join('\n').replace(/\n+$/, '')}\n`;
}

/** Reads `Key: value` lines (as `git log --format=%(trailers:only,unfold)` prints them). Repeated keys keep the last. */
export function parseTrailers(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z0-9][A-Za-z0-9-]*):\s?(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!.trim();
  }
  return out;
}

/** Step 3: stages everything and commits; no empty commit — returns the existing HEAD instead. */
export async function commitAll(ws: Workspace, message: string): Promise<{ created: boolean; head: string; files: string[] }> {
  const files = await stage(ws);
  if (files.length === 0) return { created: false, head: ws.base, files };
  await ws.git.raw(['commit', '--no-verify', '--no-status', '--cleanup=verbatim', '-m', message]);
  const head = await headCommit(ws.dir, ws.git);
  return { created: true, head, files };
}

/** Stages everything; returns the changed paths. (`-v` and listing keep every git call printing: simple-git
 * waits an extra 50 ms after a command that printed nothing.) */
async function stage(ws: Workspace): Promise<string[]> {
  const out = await ws.git.raw(['add', '-A', '--verbose']);
  const files = [...out.matchAll(/^(?:add|remove) '(.*)'$/gm)].map((m) => m[1]!);
  // Unusual names are quoted differently by git: ask it directly then.
  if (files.length === 0 && out.trim() !== '') return (await ws.git.raw(['diff', '--cached', '--name-only', '--no-renames'])).split('\n').filter(Boolean);
  return files;
}

/** HEAD's commit, read from the ref file when it is loose (no process), else from git. */
async function headCommit(dir: string, git: SimpleGit): Promise<string> {
  try {
    const head = (await fs.readFile(path.join(dir, '.git', 'HEAD'), 'utf8')).trim();
    const ref = /^ref: (refs\/heads\/[^\s]+)$/.exec(head)?.[1];
    const sha = ref ? (await fs.readFile(path.join(dir, '.git', ref), 'utf8')).trim() : head;
    if (/^[0-9a-f]{40,64}$/.test(sha)) return sha;
  } catch {
    /* packed or unusual layout */
  }
  return (await git.revparse(['HEAD'])).trim();
}

/** The staged change as a patch (for --dry-run), long outputs cut. */
export async function stagedDiff(ws: Workspace, maxChars = 200_000): Promise<{ diff: string; files: string[] }> {
  const files = await stage(ws);
  let diff = files.length ? await ws.git.raw(['diff', '--cached', '--no-color', '--no-renames']) : '';
  if (diff.length > maxChars) diff = `${diff.slice(0, maxChars)}\n… (diff cut at ${maxChars} characters)\n`;
  return { diff, files };
}

const NON_FAST_FORWARD = [
  /\[rejected\].*\((fetch first|non-fast-forward|stale info)\)/,
  /\[remote rejected\].*\((failed to update ref|cannot lock ref|incorrect old value|failed to lock)/i,
  /cannot lock ref/i,
  /Updates were rejected because the (remote contains work|tip of your current branch is behind)/,
];

export function isNonFastForward(message: string): boolean {
  return NON_FAST_FORWARD.some((re) => re.test(message));
}

/** Full jitter: a random wait in [0, min(max, base·2^(attempt-1))]. */
export function backoffMs(attempt: number, p: RetryPolicy): number {
  const cap = Math.min(p.maxMs, p.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round((p.random ?? Math.random)() * cap);
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(t);
      reject(new ExternalError('cancelled'));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

export interface EditPlan {
  /** The full commit message (use formatCommitMessage). */
  message: string;
}

export interface UpdateOptions extends GitOptions {
  /**
   * Changes files under `dir` (the checkout root) and returns the commit message, or null when there
   * is nothing to do. Called again on the new upstream when a rebase conflicts, so it must read the
   * state it depends on from the checkout each time (and may refuse by throwing).
   */
  edit(dir: string, attempt: number, ws: Workspace): Promise<EditPlan | null>;
  cwd?: string;
  /** Clone depth (default 1; 'full' when the edit reads history). */
  depth?: number | 'full';
  dryRun?: boolean;
  /** Push to this branch instead, replacing it (a pull-request branch); no rebase needed. */
  pushBranch?: string;
  retry?: Partial<RetryPolicy>;
}

export interface UpdateResult {
  /** A commit was made (and, unless dry-run, pushed). */
  changed: boolean;
  /** The new commit, or the existing HEAD when nothing changed. */
  commit: string;
  /** The upstream commit the change was finally based on. */
  base: string;
  files: string[];
  /** Push attempts used (0 when nothing was pushed). */
  attempts: number;
  rebases: number;
  reapplied: number;
  /** The patch, for dry runs. */
  diff?: string;
  pushed: boolean;
  /** The message of the commit (or of the commit that would be made). */
  message?: string;
}

/**
 * Clone → edit → commit → push with fetch-rebase retry. Returns without a commit when the edit changes
 * nothing. A push rejected for anything but a non-fast-forward, or still rejected after the last
 * attempt, is an ExternalError (exit 3); the remote is never left with a partial update because git
 * updates a ref only after the whole pack is received.
 */
export async function updateRepo(o: UpdateOptions): Promise<UpdateResult> {
  const policy: RetryPolicy = { ...DEFAULT_RETRY, ...o.retry };
  const ws = await cloneRepo({ ...o, depth: o.depth ?? 1 });
  try {
    let plan = await o.edit(ws.dir, 1, ws);
    if (!plan) return { changed: false, commit: ws.base, base: ws.base, files: [], attempts: 0, rebases: 0, reapplied: 0, pushed: false };
    if (o.dryRun) {
      const { diff, files } = await stagedDiff(ws);
      return { changed: files.length > 0, commit: ws.base, base: ws.base, files, attempts: 0, rebases: 0, reapplied: 0, diff, pushed: false, message: plan.message };
    }
    let c = await commitAll(ws, plan.message);
    if (!c.created) return { changed: false, commit: ws.base, base: ws.base, files: [], attempts: 0, rebases: 0, reapplied: 0, pushed: false };
    const target = o.pushBranch ?? o.remote.branch;
    let rebases = 0;
    let reapplied = 0;
    let base = ws.base;
    for (let attempt = 1; ; attempt++) {
      try {
        await ws.git.raw(['push', '--porcelain', ...(o.pushBranch ? ['--force'] : []), 'origin', `HEAD:refs/heads/${target}`]);
        return { changed: true, commit: c.head, base, files: c.files, attempts: attempt, rebases, reapplied, pushed: true, message: plan.message };
      } catch (e) {
        const msg = gitFailure(e);
        if (o.pushBranch || !isNonFastForward(msg)) throw new ExternalError(`git push to ${displayUrl(o.remote.url)} failed: ${msg}`, { hint: 'check that the token may push to this branch (protected branches: use --pr)' });
        if (attempt >= policy.attempts) throw new ExternalError(`git push to ${displayUrl(o.remote.url)} was still rejected after ${attempt} attempts (other writers kept moving ${target})`, { hint: 'rerun the job; raise --push-attempts if many writers share the repository' });
        const wait = backoffMs(attempt, policy);
        o.log.debug(`push rejected (non-fast-forward), attempt ${attempt}/${policy.attempts}; fetching and rebasing after ${wait} ms`);
        await sleep(wait, o.signal);
      }
      try {
        await ws.git.raw(['fetch', '--no-tags', 'origin', o.remote.branch]);
      } catch (e) {
        throw new ExternalError(`git fetch from ${displayUrl(o.remote.url)} failed: ${gitFailure(e)}`);
      }
      base = (await fs.readFile(path.join(ws.dir, '.git', 'FETCH_HEAD'), 'utf8')).split(/\s/)[0]!;
      let rebased = false;
      try {
        await ws.git.raw(['rebase', 'FETCH_HEAD']);
        rebased = true;
        rebases++;
      } catch {
        await ws.git.raw(['rebase', '--abort']).catch(() => undefined);
      }
      if (rebased) {
        const head = await headCommit(ws.dir, ws.git);
        // The same change is already upstream: git dropped our commit as empty.
        if (head === base) return { changed: false, commit: base, base, files: [], attempts: attempt, rebases, reapplied, pushed: false };
        c = { ...c, head };
        continue;
      }
      // The rebase conflicts: apply the edit again to what is upstream now (it re-checks its rules).
      reapplied++;
      await ws.git.raw(['reset', '--hard', 'FETCH_HEAD']);
      ws.base = base;
      plan = await o.edit(ws.dir, attempt + 1, ws);
      if (!plan) return { changed: false, commit: base, base, files: [], attempts: attempt, rebases, reapplied, pushed: false };
      c = await commitAll(ws, plan.message);
      if (!c.created) return { changed: false, commit: base, base, files: [], attempts: attempt, rebases, reapplied, pushed: false };
    }
  } finally {
    await ws.cleanup();
  }
}

// ---------------------------------------------------------------------------------------------
// Reading history back.

export interface LogEntry {
  commit: string;
  date: string;
  author: string;
  subject: string;
  trailers: Record<string, string>;
}

/** Commits touching `paths`, newest first, with their trailers. Needs a clone with enough depth ('full'). */
export async function logWithTrailers(ws: Workspace, paths: string[], max?: number): Promise<LogEntry[]> {
  if (!ws.base) return [];
  const out = await ws.git.raw(['log', '--no-color', `--format=%H%x1f%cI%x1f%an%x1f%s%x1f%(trailers:only,unfold)%x1e`, ...(max ? [`-n${max}`] : []), 'HEAD', '--', ...paths]);
  return out
    .split('\x1e')
    .map((r) => r.replace(/^\n+/, ''))
    .filter((r) => r.trim())
    .map((r) => {
      const [commit, date, author, subject, trailers] = r.split('\x1f');
      return { commit: commit!, date: date!, author: author!, subject: subject!, trailers: parseTrailers(trailers ?? '') };
    });
}

/** A file's content at a commit, or undefined when it did not exist there. */
export async function showFile(ws: Workspace, commit: string, file: string): Promise<string | undefined> {
  try {
    return await ws.git.raw(['show', `${commit}:${file}`]);
  } catch {
    return undefined;
  }
}
