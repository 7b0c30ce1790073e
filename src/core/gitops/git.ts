import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
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
  /** The checkout root; for a bare clone (no files checked out), the git directory itself. */
  dir: string;
  /** A bare clone: files are read from commits and written through `git fast-import` (updateTree). */
  bare?: boolean;
  /** In a shared cache (--cache-dir): this run's own refs for the upstream commit and for its new commit. */
  refs?: { base: string; update: string };
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
  // Clones are thrown away after one commit: no automatic maintenance or gc runs after a commit or fetch.
  const config: [string, string][] = [
    ['advice.detachedHead', 'false'],
    ['maintenance.auto', 'false'],
    ['gc.auto', '0'],
  ];
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

/**
 * Step 1: a shallow clone of one branch into a fresh temporary folder. An empty remote gets the branch created.
 * `bare`: no checkout (the files of a commit are read and written through `git fast-import`, see updateTree).
 */
export async function cloneRepo(opts: GitOptions & { depth?: number | 'full'; cwd?: string; bare?: boolean }): Promise<Workspace> {
  // Whoever built the remote, credentials in its URL never reach git's argv or the clone's .git/config.
  const o = { ...opts, remote: moveCredentials(opts.remote) };
  const temp = await makeTempDir('git');
  const dir = temp.dir;
  const cleanup = () => temp.remove();
  try {
    const git = await makeGit(dir, o);
    const url = remoteUrl(o.remote.url, o.cwd ?? process.cwd());
    const depth = o.depth ?? 1;
    const bare = o.bare === true;
    const args = [...(bare ? ['--bare'] : []), '--no-tags', '--single-branch', ...(o.remote.branch ? ['--branch', o.remote.branch] : []), ...(depth === 'full' ? [] : ['--depth', String(depth)])];
    try {
      await git.clone(url, dir, args);
    } catch (e) {
      const msg = gitFailure(e);
      if (/Remote branch .* not found/i.test(msg)) {
        // An empty repository has no branch yet: start it.
        if (await isEmptyRemote(git, url)) {
          await git.init([...(bare ? ['--bare'] : []), '--initial-branch', o.remote.branch]);
          await git.addRemote('origin', url);
          return { dir, bare, git, base: '', options: o, cleanup };
        }
        throw new ConfigurationError(`branch "${o.remote.branch}" does not exist in ${displayUrl(o.remote.url)}`, { hint: 'pass the branch ArgoCD syncs with --branch' });
      }
      // A local repository that cannot be cloned is the user's input, not an outage.
      if (url.startsWith('file:') && !/^file:/i.test(o.remote.url)) throw new ConfigurationError(`${o.remote.url} is not a git repository I can clone: ${msg.split('\n').pop()}`, { hint: 'pass a clone of the GitOps repository or its URL' });
      throw new ExternalError(`cannot clone ${displayUrl(o.remote.url)}: ${msg}`, { hint: 'check the URL, the network and the token (it needs contents: write)' });
    }
    const base = await headCommit(bare ? dir : path.join(dir, '.git'), git);
    return { dir, bare, git, base, options: o, cleanup };
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
  const head = await headCommit(path.join(ws.dir, '.git'), ws.git);
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
async function headCommit(gitDir: string, git: SimpleGit): Promise<string> {
  try {
    const head = (await fs.readFile(path.join(gitDir, 'HEAD'), 'utf8')).trim();
    const ref = /^ref: (refs\/heads\/[^\s]+)$/.exec(head)?.[1];
    // A bare clone keeps its branch in packed-refs.
    const loose = ref ? await fs.readFile(path.join(gitDir, ref), 'utf8').catch(() => undefined) : head;
    const sha = loose !== undefined ? loose.trim() : (new RegExp(`^([0-9a-f]{40,64}) ${ref!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm').exec(await fs.readFile(path.join(gitDir, 'packed-refs'), 'utf8'))?.[1] ?? '');
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

/**
 * One push of `rev` to the target branch (the pull-request branch is force-pushed). Returns true when it landed,
 * false after a non-fast-forward rejection once the backoff wait is over (the caller fetches and tries again). A
 * push refused for another reason, or still rejected at the last attempt, is an ExternalError (exit 3).
 */
async function pushAttempt(ws: Workspace, o: GitOptions & { pushBranch?: string }, rev: string, attempt: number, policy: RetryPolicy, next: string): Promise<boolean> {
  const target = o.pushBranch ?? o.remote.branch;
  try {
    await ws.git.raw(['push', '--porcelain', ...(o.pushBranch ? ['--force'] : []), 'origin', `${rev}:refs/heads/${target}`]);
    return true;
  } catch (e) {
    const msg = gitFailure(e);
    if (o.pushBranch || !isNonFastForward(msg)) throw new ExternalError(`git push to ${displayUrl(o.remote.url)} failed: ${msg}`, { hint: 'check that the token may push to this branch (protected branches: use --pr)' });
    if (attempt >= policy.attempts) throw new ExternalError(`git push to ${displayUrl(o.remote.url)} was still rejected after ${attempt} attempts (other writers kept moving ${target})`, { hint: 'rerun the job; raise --push-attempts if many writers share the repository' });
    const wait = backoffMs(attempt, policy);
    o.log.debug(`push rejected (non-fast-forward), attempt ${attempt}/${policy.attempts}; ${next} after ${wait} ms`);
    await sleep(wait, o.signal);
    return false;
  }
}

/** Fetches the branch (FETCH_HEAD) and returns its commit. */
async function fetchBranch(ws: Workspace, branch: string): Promise<string> {
  try {
    await ws.git.raw(['fetch', '--no-tags', 'origin', branch]);
  } catch (e) {
    throw new ExternalError(`git fetch from ${displayUrl(ws.options.remote.url)} failed: ${gitFailure(e)}`);
  }
  return (await fs.readFile(path.join(ws.bare ? ws.dir : path.join(ws.dir, '.git'), 'FETCH_HEAD'), 'utf8')).split(/\s/)[0]!;
}

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
    let rebases = 0;
    let reapplied = 0;
    let base = ws.base;
    for (let attempt = 1; ; attempt++) {
      if (await pushAttempt(ws, o, 'HEAD', attempt, policy, 'fetching and rebasing')) return { changed: true, commit: c.head, base, files: c.files, attempts: attempt, rebases, reapplied, pushed: true, message: plan.message };
      base = await fetchBranch(ws, o.remote.branch);
      let rebased = false;
      try {
        await ws.git.raw(['rebase', 'FETCH_HEAD']);
        rebased = true;
        rebases++;
      } catch {
        await ws.git.raw(['rebase', '--abort']).catch(() => undefined);
      }
      if (rebased) {
        const head = await headCommit(path.join(ws.dir, '.git'), ws.git);
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
  const out = await ws.git.raw(['log', '--no-color', `--format=%H%x1f%cI%x1f%an%x1f%s%x1f%(trailers:only,unfold)%x1e`, ...(max ? [`-n${max}`] : []), ws.base, '--', ...paths]);
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

// ---------------------------------------------------------------------------------------------
// Commits without a checkout: a bare clone, one `git fast-import` process that reads the files an edit needs
// (`ls`, `cat-blob`) and writes the commit (blobs, trees and the commit object in one pack), then push.
// Per deploy that is three git commands (clone, fast-import, push) where a checkout needs five (clone with
// checkout, add, commit, rev-parse or a maintenance run, push), and no file is written to disk twice.

/** Files of a repository as an edit sees them: relative '/'-separated paths. */
export interface RepoTree {
  /** The bytes of a regular file; undefined when there is none at that path. */
  read(rel: string): Promise<Buffer | undefined>;
  /** What is at a path (a symbolic link is 'link', a submodule 'other'). */
  kind(rel: string): Promise<'file' | 'dir' | 'link' | 'other' | undefined>;
}

/** A checkout on disk as a RepoTree. */
export function fsTree(root: string): RepoTree {
  const abs = (rel: string) => path.join(root, ...rel.split('/'));
  return {
    async read(rel) {
      try {
        return await fs.readFile(abs(rel));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw e;
      }
    },
    async kind(rel) {
      const st = await fs.lstat(abs(rel)).catch(() => undefined);
      if (!st) return undefined;
      return st.isSymbolicLink() ? 'link' : st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
    },
  };
}

/** A file to write (data) or remove (null), relative to the repository root. */
export interface TreeWrite {
  path: string;
  data: string | Uint8Array | null;
}

export interface TreePlan {
  message: string;
  writes: TreeWrite[];
}

/** Paths mlloop writes are made of DNS labels and fixed file names; nothing fast-import would have to quote. */
function assertPlainPath(rel: string): string {
  if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(rel) || rel.split('/').some((p) => p === '.' || p === '..')) throw new ConfigurationError(`cannot write "${rel}": not a plain relative path`);
  return rel;
}

/** The object id git gives a blob (SHA-1, or SHA-256 in a repository of that format). */
function blobId(data: Uint8Array, length: number): string {
  const h = createHash(length === 64 ? 'sha256' : 'sha1');
  h.update(`blob ${data.byteLength}\0`);
  h.update(data);
  return h.digest('hex');
}

interface LsEntry {
  mode: string;
  type: string;
  id: string;
}

/** One `git fast-import` process in a (bare) repository, spoken to through its cat-blob channel (stdout). */
class FastImport {
  private readonly child: ChildProcessWithoutNullStreams;
  private chunks: Buffer[] = [];
  private wake: (() => void) | undefined;
  private closed = false;
  private stderr = '';
  private readonly exited: Promise<number | null>;
  private readonly cache = new Map<string, LsEntry | undefined>();
  private readonly ref: string;
  /** One request at a time: answers come back in the order of the requests. */
  private queue: Promise<unknown> = Promise.resolve();

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  constructor(
    private readonly ws: Workspace,
    private readonly commit: string,
  ) {
    // --force: the scratch ref may move to a commit on another upstream (after a fetch); it is never pushed by name.
    this.child = spawn('git', ['fast-import', '--quiet', '--force', '--date-format=now'], { cwd: ws.dir, env: gitEnv(ws.options), stdio: 'pipe' });
    this.ref = ws.refs?.update ?? 'refs/mlloop/update';
    this.child.stdout.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.wake?.();
    });
    this.child.stderr.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    this.child.stdin.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      this.child.on('error', (e) => {
        this.stderr += `\n${e.message}`;
        resolve(-1);
      });
      this.child.on('close', (code) => resolve(code));
    });
    void this.exited.then(() => {
      this.closed = true;
      this.wake?.();
    });
    // Stopped like the wrapper's other git processes (makeGit): on the caller's abort and when mlloop is told to
    // stop (its temp folder is then removed). The listeners go when the session ends: one session per attempt.
    const stop = () => this.child.kill('SIGTERM');
    for (const signal of [ws.options.signal, shutdownSignal()]) {
      if (!signal) continue;
      if (signal.aborted) stop();
      else {
        signal.addEventListener('abort', stop, { once: true });
        void this.exited.then(() => signal.removeEventListener('abort', stop));
      }
    }
    this.send('feature done\n');
  }

  private send(text: string | Uint8Array): void {
    this.child.stdin.write(text);
  }

  private failure(): Error {
    return new ExternalError(`git fast-import failed: ${gitFailure(new Error(this.stderr || 'it stopped'))}`);
  }

  /** Waits until `n` bytes (or, with n = -1, a whole line) are buffered and takes them. */
  private async take(n: number): Promise<Buffer> {
    for (;;) {
      const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
      this.chunks = all.length ? [all] : [];
      const end = n < 0 ? all.indexOf(10) : all.length >= n ? n : -1;
      if (end >= 0) {
        const cut = n < 0 ? end + 1 : end;
        this.chunks = cut < all.length ? [all.subarray(cut)] : [];
        return all.subarray(0, end);
      }
      if (this.closed) throw this.failure();
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }

  /** What is at `rel` in the commit this session reads (undefined: nothing). */
  ls(rel: string): Promise<LsEntry | undefined> {
    return this.exclusive(() => this.lsNow(rel));
  }

  private async lsNow(rel: string): Promise<LsEntry | undefined> {
    if (!this.commit) return undefined;
    if (this.cache.has(rel)) return this.cache.get(rel);
    this.send(`ls ${this.commit} ${assertPlainPath(rel)}\n`);
    const line = (await this.take(-1)).toString();
    let entry: LsEntry | undefined;
    const m = /^([0-7]+) (\w+) ([0-9a-f]+)\t/.exec(line);
    if (m) entry = { mode: m[1]!, type: m[2]!, id: m[3]! };
    else if (!line.startsWith('missing ')) throw new ExternalError(`git fast-import answered "${line.slice(0, 200)}" to ls ${rel}`);
    this.cache.set(rel, entry);
    return entry;
  }

  catBlob(id: string): Promise<Buffer> {
    return this.exclusive(() => this.catBlobNow(id));
  }

  private async catBlobNow(id: string): Promise<Buffer> {
    this.send(`cat-blob ${id}\n`);
    const head = (await this.take(-1)).toString();
    const m = /^[0-9a-f]+ blob (\d+)$/.exec(head);
    if (!m) throw new ExternalError(`git fast-import answered "${head.slice(0, 200)}" to cat-blob ${id}`);
    const data = await this.take(Number(m[1]));
    await this.take(1);
    return data;
  }

  tree(): RepoTree {
    return {
      read: async (rel) => {
        const e = await this.ls(rel);
        return e && e.type === 'blob' && e.mode !== '120000' ? this.catBlob(e.id) : undefined;
      },
      kind: async (rel) => {
        const e = await this.ls(rel);
        if (!e) return undefined;
        return e.type === 'tree' ? 'dir' : e.type !== 'blob' ? 'other' : e.mode === '120000' ? 'link' : 'file';
      },
    };
  }

  /** The writes that change something (same bytes, or the removal of nothing, are dropped), with the file mode to keep. */
  async changes(writes: readonly TreeWrite[]): Promise<(TreeWrite & { mode: string })[]> {
    const out: (TreeWrite & { mode: string })[] = [];
    const seen = new Set<string>();
    for (const w of [...writes].reverse()) {
      if (seen.has(assertPlainPath(w.path))) continue;
      seen.add(w.path);
      const cur = await this.ls(w.path);
      const regular = cur?.type === 'blob' && (cur.mode === '100644' || cur.mode === '100755');
      if (w.data === null) {
        if (cur) out.push({ ...w, mode: '' });
        continue;
      }
      const data = typeof w.data === 'string' ? Buffer.from(w.data) : w.data;
      if (regular && blobId(data, cur.id.length) === cur.id) continue;
      out.push({ path: w.path, data, mode: regular ? cur.mode : '100644' });
    }
    return out.reverse();
  }

  /** Writes the commit on top of this session's commit and ends the session; returns the new commit id. */
  writeCommit(message: string, changes: readonly (TreeWrite & { mode: string })[]): Promise<string> {
    return this.exclusive(() => this.writeCommitNow(message, changes));
  }

  private async writeCommitNow(message: string, changes: readonly (TreeWrite & { mode: string })[]): Promise<string> {
    const a = this.ws.options.author ?? DEFAULT_AUTHOR;
    const ident = `${a.name.replace(/[<>\n]/g, '')} <${a.email.replace(/[<>\n]/g, '')}> now`;
    const msg = Buffer.from(message);
    this.send(`commit ${this.ref}\nmark :1\nauthor ${ident}\ncommitter ${ident}\ndata ${msg.length}\n`);
    this.send(msg);
    this.send(`\n${this.commit ? `from ${this.commit}\n` : ''}`);
    for (const c of changes) {
      if (c.data === null) {
        this.send(`D ${c.path}\n`);
        continue;
      }
      const data = c.data as Uint8Array;
      this.send(`M ${c.mode} inline ${c.path}\ndata ${data.byteLength}\n`);
      this.send(data);
      this.send('\n');
    }
    this.send('\nget-mark :1\n');
    const id = (await this.take(-1)).toString().trim();
    if (!/^[0-9a-f]{40,64}$/.test(id)) throw new ExternalError(`git fast-import answered "${id.slice(0, 200)}" to get-mark`);
    await this.closeNow();
    return id;
  }

  /** Ends the session (the pack and the scratch ref are written only now); a failure is an ExternalError. */
  close(): Promise<void> {
    return this.exclusive(() => this.closeNow());
  }

  private async closeNow(): Promise<void> {
    if (!this.closed) {
      this.send('done\n');
      this.child.stdin.end();
    }
    const code = await this.exited;
    if (code !== 0) throw this.failure();
  }

  kill(): void {
    if (!this.closed) this.child.kill('SIGKILL');
  }
}

export interface TreeUpdateOptions extends GitOptions {
  /**
   * Reads what it needs from `tree` (the upstream commit the change is based on) and returns the files to
   * write, or null when there is nothing to do. Called again on the new upstream whenever a push is rejected
   * because another writer's commit landed first, so it re-checks its rules against what is there now (and
   * may refuse by throwing).
   */
  edit(tree: RepoTree, attempt: number, ws: Workspace): Promise<TreePlan | null>;
  cwd?: string;
  /** Clone depth (default 1; 'full' when the edit reads history). */
  depth?: number | 'full';
  dryRun?: boolean;
  /** Push to this branch instead, replacing it (a pull-request branch). */
  pushBranch?: string;
  retry?: Partial<RetryPolicy>;
  /** Keep a bare mirror of the repository in this folder and fetch into it instead of cloning (see cachedRepo). */
  cacheDir?: string;
}

/**
 * updateRepo without a checkout: bare clone → edit through one fast-import session (read the files, write the
 * commit) → push. A rejected push (non-fast-forward) is followed by a fetch and the edit run again on the new
 * upstream, with the same bounded backoff and jitter; the edit always sees the state it commits on top of.
 * Nothing is committed when the edit changes no byte. Results as updateRepo's (`reapplied` counts the re-runs).
 */
export async function updateTree(o: TreeUpdateOptions): Promise<UpdateResult> {
  const policy: RetryPolicy = { ...DEFAULT_RETRY, ...o.retry };
  // With a cache, writers on this machine take turns from fetch to push (see lockMirror); others still race.
  const mirror = o.cacheDir ? await mirrorOf(o, o.cacheDir) : undefined;
  const unlock = mirror ? await lockMirror(o, mirror.dir) : async () => {};
  let ws: Workspace;
  try {
    ws = mirror ? await cachedRepo(o, mirror) : await cloneRepo({ ...o, depth: o.depth ?? 1, bare: true });
  } catch (e) {
    await unlock();
    throw e;
  }
  let reapplied = 0;
  try {
    for (let attempt = 1; ; attempt++) {
      const base = ws.base;
      const session = new FastImport(ws, base);
      let plan: TreePlan | null;
      let changes: (TreeWrite & { mode: string })[];
      let commit: string;
      try {
        plan = await o.edit(session.tree(), attempt, ws);
        changes = plan ? await session.changes(plan.writes) : [];
        if (!plan || changes.length === 0) {
          await session.close();
          return { changed: false, commit: base, base, files: [], attempts: attempt - 1, rebases: 0, reapplied, pushed: false, ...(o.dryRun ? { diff: '' } : {}) };
        }
        commit = await session.writeCommit(plan.message, changes);
      } catch (e) {
        session.kill();
        throw e;
      }
      const files = changes.map((c) => c.path);
      if (o.dryRun) {
        let diff = await ws.git.raw(['show', '--format=', '--no-color', '--no-renames', commit]);
        const maxChars = 200_000;
        if (diff.length > maxChars) diff = `${diff.slice(0, maxChars)}\n… (diff cut at ${maxChars} characters)\n`;
        return { changed: true, commit: base, base, files, attempts: 0, rebases: 0, reapplied, diff, pushed: false, message: plan.message };
      }
      if (await pushAttempt(ws, o, commit, attempt, policy, 'fetching and applying the change again')) return { changed: true, commit, base, files, attempts: attempt, rebases: 0, reapplied, pushed: true, message: plan.message };
      ws.base = ws.refs ? await fetchInto(ws, o.remote.branch, ws.refs.base) : await fetchBranch(ws, o.remote.branch);
      reapplied++;
    }
  } finally {
    await ws.cleanup();
    await unlock();
  }
}

// ---------------------------------------------------------------------------------------------
// --cache-dir: one bare mirror per repository and branch, kept between runs. A run fetches what is new into a
// ref of its own (refs/mlloop/base/<run>), writes its commit to another (refs/mlloop/update/<run>) and removes
// both when done, so any number of runs share the mirror at once: git writes objects and packs under unique
// names, and no run reads FETCH_HEAD, HEAD or a ref another run writes. The mirror is a full (not shallow)
// clone, so concurrent fetches never race on the shallow file. A mirror git cannot fetch into is replaced by a
// fresh clone (and a fresh clone that fails reports the real cause: the network, the URL or the token).

/**
 * Writers on one machine that share a cache take turns: a lock file next to the mirror is held from the fetch to
 * the push, so they do not reject each other's pushes and refetch (32 writers make 32 pushes instead of hundreds).
 * The lock is only an economy, never what keeps updates safe (the push's fast-forward check does that): a lock
 * whose holder has died (same host, no such process) or that is older than two minutes is taken over, and a
 * writer that waited two minutes goes ahead without it.
 */
async function lockMirror(o: GitOptions, mirrorDir: string): Promise<() => Promise<void>> {
  const { hostname } = await import('node:os');
  const file = `${mirrorDir}.lock`;
  const me = `${process.pid} ${hostname()} ${Date.now()} ${randomBytes(4).toString('hex')}`;
  const release = async () => {
    if ((await fs.readFile(file, 'utf8').catch(() => '')) === me) await fs.rm(file, { force: true });
  };
  const none = async () => {};
  const deadline = Date.now() + 120_000;
  let waited = false;
  for (;;) {
    try {
      await fs.writeFile(file, me, { flag: 'wx' });
      return release;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return none;
    }
    const held = await fs.readFile(file, 'utf8').catch(() => '');
    const [pid, host, at] = held.split(' ');
    let dead = false;
    if (host === hostname() && Number(pid) > 0) {
      try {
        process.kill(Number(pid), 0);
      } catch (e) {
        dead = (e as NodeJS.ErrnoException).code === 'ESRCH';
      }
    }
    if (held && (dead || Date.now() - Number(at) > 120_000)) {
      // Taken over only if it is still the same stale lock.
      if ((await fs.readFile(file, 'utf8').catch(() => '')) === held) await fs.rm(file, { force: true });
      continue;
    }
    if (Date.now() > deadline) return none;
    if (!waited) o.log.debug(`waiting for another mlloop writing to ${displayUrl(o.remote.url)} from this machine (${file})`);
    waited = true;
    await sleep(5 + Math.random() * 20, o.signal);
  }
}

interface Mirror {
  /** The cache folder (absolute, created). */
  cacheDir: string;
  /** The mirror of this repository and branch in it: `<hash of URL and branch>.git`. */
  dir: string;
  /** The remote's URL as git is given it (credentials moved out). */
  url: string;
}

/** Where the mirror of `o.remote` lives in `cacheDir` (the folder is created). */
async function mirrorOf(o: GitOptions & { cwd?: string }, cacheDirOption: string): Promise<Mirror> {
  const cwd = o.cwd ?? process.cwd();
  const cacheDir = path.resolve(cwd, cacheDirOption);
  await fs.mkdir(cacheDir, { recursive: true });
  const url = remoteUrl(moveCredentials(o.remote).url, cwd);
  return { cacheDir, url, dir: path.join(cacheDir, `${createHash('sha256').update(`${url}\n${o.remote.branch}`).digest('hex').slice(0, 16)}.git`) };
}

/** Fetches the branch into `ref` of the mirror and returns the commit (the ref file is loose: no process). */
async function fetchInto(ws: Workspace, branch: string, ref: string): Promise<string> {
  try {
    await ws.git.raw(['fetch', '--no-tags', '--no-write-fetch-head', 'origin', `+refs/heads/${branch}:${ref}`]);
  } catch (e) {
    throw new ExternalError(`git fetch from ${displayUrl(ws.options.remote.url)} failed: ${gitFailure(e)}`);
  }
  const sha = (await fs.readFile(path.join(ws.dir, ...ref.split('/')), 'utf8')).trim();
  if (!/^[0-9a-f]{40,64}$/.test(sha)) throw new ExternalError(`the cached mirror ${ws.dir} holds no commit for ${ref}`);
  // The mirror's branch follows upstream, so the next fetch asks only for what is newer (a loose ref written
  // atomically, as git does; runs racing here all write commits the mirror holds, any of them will do).
  const head = path.join(ws.dir, 'refs', 'heads', ...branch.split('/'));
  const tmp = `${head}.${randomBytes(4).toString('hex')}.tmp`;
  await fs
    .mkdir(path.dirname(head), { recursive: true })
    .then(() => fs.writeFile(tmp, `${sha}\n`))
    .then(() => fs.rename(tmp, head))
    .catch(() => fs.rm(tmp, { force: true }));
  return sha;
}

/** A fresh full bare clone at `dir` (through a temp name next to it, so a half-made mirror is never seen). */
async function makeMirror(o: GitOptions & { cwd?: string }, cacheDir: string, dir: string): Promise<void> {
  const fresh = await cloneRepo({ ...o, depth: 'full', bare: true });
  const tmp = path.join(cacheDir, `.${path.basename(dir)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    // The clone sits in the temp folder; move it next to the mirror (copied when the cache is on another file system).
    await fs.rename(fresh.dir, tmp).catch(async (e) => {
      if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
      await fs.cp(fresh.dir, tmp, { recursive: true });
    });
    // The old (broken) mirror is moved away first; another run that made a good one meanwhile wins the rename.
    const old = `${tmp}.old`;
    await fs.rename(dir, old).catch(() => undefined);
    await fs.rename(tmp, dir).catch(async (e) => {
      if (!['ENOTEMPTY', 'EEXIST'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
    });
    await fs.rm(old, { recursive: true, force: true });
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
    await fresh.cleanup();
  }
}

/**
 * A workspace in the shared mirror for `remote` under `cacheDir` (made on first use): the branch is fetched into
 * this run's own ref. A missing or unusable mirror is (re)made from a fresh clone.
 */
async function cachedRepo(o: GitOptions & { cwd?: string }, { cacheDir, dir, url }: Mirror): Promise<Workspace> {
  const opts = { ...o, remote: moveCredentials(o.remote) };
  const id = `${process.pid}-${randomBytes(6).toString('hex')}`;
  const refs = { base: `refs/mlloop/base/${id}`, update: `refs/mlloop/update/${id}` };
  const cleanup = async () => {
    await Promise.all(Object.values(refs).map((r) => fs.rm(path.join(dir, ...r.split('/')), { force: true })));
  };
  const open = async (): Promise<Workspace> => {
    const git = await makeGit(dir, opts);
    const ws: Workspace = { dir, bare: true, git, base: '', options: opts, cleanup, refs };
    // An empty remote (the branch does not exist yet, nothing else either) starts from no commit.
    const heads = (await fs.readFile(path.join(dir, 'packed-refs'), 'utf8').catch(() => '')) + (await fs.readdir(path.join(dir, 'refs', 'heads')).catch(() => [])).join('\n');
    if (heads.trim() === '' && (await isEmptyRemote(git, url))) return ws;
    ws.base = await fetchInto(ws, opts.remote.branch, refs.base);
    return ws;
  };
  let made = false;
  if (!(await fs.stat(path.join(dir, 'HEAD')).catch(() => undefined))) {
    await makeMirror(opts, cacheDir, dir);
    made = true;
  }
  try {
    return await open();
  } catch (e) {
    await cleanup();
    if (made || e instanceof ConfigurationError || opts.signal?.aborted || shutdownSignal().aborted) throw e;
    // The mirror could not be used (damaged, or not a repository): replace it with a fresh clone. When the remote
    // itself is the problem, that clone fails with the real cause.
    opts.log.warn(`the cached mirror ${dir} could not be used (${gitFailure(e).split('\n').pop()}); cloning it again`);
    await makeMirror(opts, cacheDir, dir);
    try {
      return await open();
    } catch (e2) {
      await cleanup();
      throw e2;
    }
  }
}
