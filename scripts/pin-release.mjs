#!/usr/bin/env node
// Makes a release whose reusable workflows run mlloop's actions from a fixed commit, not from the moving tag `v0`.
//
//   node scripts/pin-release.mjs --version 0.2.0 [--source HEAD] [--repo mlloop/mlloop] [--push origin]
//
// A commit cannot name its own SHA, so the actions are pinned to the commit being released (the source: it holds the
// same actions/ and dist/), and the release is a commit on top of it that changes only .github/workflows/*.yml: every
// `uses: <repo>/<path>@<ref>` and `uses: <repo>@<ref>` becomes `@<source sha> # v<version>`. That commit is on no
// branch; the annotated tag v<version> names it, and the major tag v<major> moves to it (not for a pre-release, nor
// back from a later release when an earlier one is run again).
// A caller pinning a workflow to the release tag's SHA then runs the same actions on every run. The git work is done
// with plumbing (a temporary index), so the working tree and the current branch are left as they are.
// Prints one JSON line: {version, source, commit, tags, pinned}. Exit 2: a wrong option or a tag that names another
// commit.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMap, isScalar, isSeq, parseDocument } from 'yaml';

const WORKFLOWS = '.github/workflows';
const VERSION = /^(\d+)\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;
const SHA = /^[0-9a-f]{40}$/;

class UsageError extends Error {}

/**
 * Rewrites the `uses:` of a job or step that names `repo` (the root action, an action folder or a reusable workflow)
 * to `@sha`, with the version as a comment. Only those values change; everything else keeps its bytes.
 */
export function pinWorkflow(text, repo, sha, version) {
  const doc = parseDocument(text);
  const prefix = new RegExp(`^${repo.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?:/[^@\\s]+)?@`, 'i');
  const nodes = [];
  const jobs = doc.get('jobs');
  for (const job of isMap(jobs) ? jobs.items.map((p) => p.value) : []) {
    if (!isMap(job)) continue;
    nodes.push(job.get('uses', true));
    const steps = job.get('steps');
    for (const step of isSeq(steps) ? steps.items : []) if (isMap(step)) nodes.push(step.get('uses', true));
  }
  const edits = [];
  for (const node of nodes) {
    if (!isScalar(node) || !prefix.test(String(node.value))) continue;
    const value = String(node.value);
    edits.push({ start: node.range[0], end: node.range[1], text: `${value.slice(0, value.indexOf('@'))}@${sha}` });
  }
  let out = text;
  for (const e of edits.sort((a, b) => b.start - a.start)) {
    const lineEnd = out.indexOf('\n', e.end) === -1 ? out.length : out.indexOf('\n', e.end);
    const rest = out.slice(e.end, lineEnd);
    // The version as a comment, as for third-party pins; an existing comment on the line is replaced.
    const comment = /^\s*(#.*)?$/.test(rest) ? ` # v${version}` : rest;
    out = out.slice(0, e.start) + e.text + comment + out.slice(lineEnd);
  }
  return { text: out, pinned: edits.length };
}

function git(cwd, args, opts = {}) {
  return gitRaw(cwd, args, opts).trim();
}

function gitRaw(cwd, args, opts = {}) {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], ...opts });
}

function tagCommit(cwd, tag) {
  try {
    return git(cwd, ['rev-parse', '--verify', '--quiet', `refs/tags/${tag}^{commit}`]);
  } catch {
    return undefined;
  }
}

/** Whether the major tag names the release of a version after `version` (a retried older release must not move it back). */
function newerRelease(cwd, major, version) {
  const current = tagCommit(cwd, major);
  const v = current && /^release: v(\d+)\.(\d+)\.(\d+)$/m.exec(git(cwd, ['log', '-1', '--format=%s', current]));
  if (!v) return false;
  const mine = version.split(/[.-]/).slice(0, 3).map(Number);
  const theirs = v.slice(1, 4).map(Number);
  const i = mine.findIndex((n, k) => n !== theirs[k]);
  return i !== -1 && theirs[i] > mine[i];
}

/** The release commit made earlier for `source` (parent is source, trailer names it), if `commit` is one. */
function isReleaseOf(cwd, commit, source) {
  const parents = git(cwd, ['rev-list', '--parents', '-n', '1', commit]).split(' ').slice(1);
  return parents.length === 1 && parents[0] === source && git(cwd, ['log', '-1', '--format=%B', commit]).includes(`Release-Of: ${source}`);
}

export function release({ cwd = process.cwd(), version, source = 'HEAD', repo = 'mlloop/mlloop', push }) {
  const m = VERSION.exec(version ?? '');
  if (!m) throw new UsageError(`--version must be X.Y.Z or X.Y.Z-pre (got "${version ?? ''}")`);
  if (!/^[\w.-]+\/[\w.-]+$/.test(repo)) throw new UsageError(`--repo must be owner/name (got "${repo}")`);
  const tag = `v${version}`;
  const major = m[2] ? undefined : `v${m[1]}`;
  const sha = git(cwd, ['rev-parse', '--verify', `${source}^{commit}`]);
  if (!SHA.test(sha)) throw new UsageError(`--source ${source} is not a commit of ${cwd}`);
  const releaseOf = /^Release-Of: ([0-9a-f]{40})$/m.exec(git(cwd, ['log', '-1', '--format=%B', sha]))?.[1];
  if (releaseOf) {
    // The push of this release's own tag starts the release workflow again: nothing to do.
    if (tagCommit(cwd, tag) === sha) return { version, source: releaseOf, commit: sha, tags: [], pinned: 0 };
    throw new UsageError(`${sha} is already a release commit (of ${releaseOf}); release that commit instead`);
  }

  const existing = tagCommit(cwd, tag);
  let commit;
  if (existing && existing !== sha) {
    // Run again for the same release (a retried job): nothing new to make.
    if (!isReleaseOf(cwd, existing, sha)) throw new UsageError(`tag ${tag} already names ${existing}, not a release of ${sha}`);
    commit = existing;
  }

  let pinned = 0;
  if (!commit) {
    // "<mode> blob <object>\t<path>": the mode is kept (a workflow file is not made executable or the reverse)
    const files = git(cwd, ['ls-tree', sha, `${WORKFLOWS}/`]).split('\n').map((l) => /^(\d+) blob \S+\t(.+\.ya?ml)$/.exec(l)).filter((x) => x);
    const dir = mkdtempSync(join(tmpdir(), 'mlloop-release-'));
    const env = { ...process.env, GIT_INDEX_FILE: join(dir, 'index') };
    try {
      git(cwd, ['read-tree', sha], { env });
      for (const [, mode, f] of files) {
        const r = pinWorkflow(gitRaw(cwd, ['cat-file', 'blob', `${sha}:${f}`]), repo, sha, version);
        if (r.pinned === 0) continue;
        pinned += r.pinned;
        const blob = git(cwd, ['hash-object', '-w', '--stdin'], { input: r.text });
        git(cwd, ['update-index', '--cacheinfo', `${mode},${blob},${f}`], { env });
      }
      if (pinned === 0) throw new UsageError(`no uses: of ${repo} in ${WORKFLOWS}/ at ${sha}: nothing to pin`);
      const tree = git(cwd, ['write-tree'], { env });
      const message = `release: ${tag}\n\nThe workflows call ${repo}'s actions at ${sha}, the commit this release is built from.\n\nRelease-Of: ${sha}\n`;
      commit = git(cwd, ['commit-tree', tree, '-p', sha, '-F', '-'], { input: message });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  const tags = [tag, ...(major && !newerRelease(cwd, major, version) ? [major] : [])];
  for (const t of tags) git(cwd, ['tag', '--force', '--annotate', '--message', `mlloop ${tag} (actions pinned to ${sha})`, t, commit]);
  // v<version> may replace the tag that asked for the release (pushed on the source commit); v<major> always moves.
  if (push) git(cwd, ['push', '--force', push, ...tags.map((t) => `refs/tags/${t}:refs/tags/${t}`)]);
  return { version, source: sha, commit, tags, pinned };
}

function parseArgs(argv) {
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const name = { '--version': 'version', '--source': 'source', '--repo': 'repo', '--push': 'push', '--cwd': 'cwd' }[k];
    if (!name || argv[i + 1] === undefined) throw new UsageError(`unknown option or missing value: ${k}\nusage: pin-release.mjs --version X.Y.Z [--source REV] [--repo owner/name] [--push REMOTE]`);
    opts[name] = argv[++i];
  }
  return opts;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    console.log(JSON.stringify(release(parseArgs(process.argv.slice(2)))));
  } catch (e) {
    console.error(`pin-release: ${e instanceof UsageError ? e.message : (e.stderr?.toString() || e.message)}`);
    process.exit(e instanceof UsageError ? 2 : 1);
  }
}
