import type { Context, Result } from '../../commands/define.js';
import { mdTable } from '../format/markdown.js';
import { displayUrl } from './git.js';
import type { ReleaseOutcome, RepoOptions, RollbackOutcome } from './ops.js';
import { gitOptionsFrom } from './options.js';
import { githubRepository, openOrUpdatePullRequest, prBranch } from './pr.js';

/** One result shape for deploy, promote and rollback: JSON, text, outputs and the job summary. */
export function releaseResult(kind: 'deploy' | 'promote' | 'rollback', where: { app: string; env: string; repo: string; branch: string; dryRun: boolean }, out: ReleaseOutcome & Partial<RollbackOutcome>, pr?: { url: string; number: number; created: boolean }): Result {
  const r = out.result;
  const rel = out.release;
  const short = (s: string) => s.slice(0, 12);
  const target = `${where.app}/${where.env}`;
  const repo = displayUrl(where.repo);
  let head: string;
  if (where.dryRun) head = r.changed ? `dry run: ${kind} of ${rel?.model_version} to ${target} would change ${r.files.join(', ')} in ${repo} (${where.branch}); nothing was written` : `dry run: ${target} already runs this release; nothing would change`;
  else if (!r.changed && kind === 'rollback' && out.previous?.action === 'rollback') head = `no change: ${target} is already rolled back to ${out.previous.model_version} (the release it replaced is quarantined; HEAD ${short(r.commit)}); no commit made`;
  else if (!r.changed) head = `no change: ${target} already runs ${rel?.model_version ?? out.previous?.model_version} (HEAD ${short(r.commit)}); no commit made`;
  else if (pr) head = `${kind} of ${rel?.model_version} to ${target}: pull request #${pr.number} ${pr.created ? 'opened' : 'updated'}: ${pr.url}`;
  else {
    const what = kind === 'rollback' ? `rolled ${target} back to ${rel?.model_version}` : `${kind === 'promote' ? 'promoted' : 'deployed'} ${rel?.model_version} to ${target}`;
    head = `${what}: commit ${short(r.commit)} pushed to ${where.branch} of ${repo}${r.attempts > 1 ? ` after ${r.attempts} attempts` : ''}`;
  }
  const lines = [head];
  if (out.previous && r.changed) lines.push(`previous: ${out.previous.model_version} (${out.previous.image})`);
  if (out.rolledBack && r.changed) lines.push(`quarantined: ${out.rolledBack.model_version} (deployed by ${short(out.rolledBack.commit)})`);
  if (where.dryRun && r.message) lines.push('', r.message.trimEnd());
  if (where.dryRun && r.diff) lines.push('', r.diff.trimEnd());
  const data = {
    action: kind,
    app: where.app,
    env: where.env,
    repo,
    branch: where.branch,
    dry_run: where.dryRun,
    changed: r.changed,
    pushed: r.pushed,
    commit: r.commit,
    base: r.base,
    files: r.files,
    attempts: r.attempts,
    // Deprecated, always 0: a rejected push is no longer rebased but the change applied again (`reapplied`).
    rebases: 0,
    reapplied: r.reapplied,
    release: rel ?? null,
    previous: out.previous ?? null,
    rolled_back: out.rolledBack ?? null,
    pull_request: pr ?? null,
    ...(where.dryRun ? { diff: r.diff ?? '', message: r.message ?? '' } : {}),
  };
  const summary = [
    `### mlloop gitops ${kind}: ${target}`,
    '',
    head,
    '',
    rel ? mdTable(['', 'value'], [['model version', `\`${rel.model_version}\``], ['image', `\`${rel.image}\``], ['source commit', rel.source_commit ? `\`${rel.source_commit.slice(0, 12)}\`` : '—'], ['dataset', rel.dataset ?? '—'], ['metrics', Object.entries(rel.metrics).map(([k, v]) => `${k}=${v}`).join(' ') || '—'], ['previous', out.previous?.model_version ?? '—']]) : '',
    '',
  ].join('\n');
  return {
    exitCode: 0,
    data,
    text: lines.join('\n'),
    summary,
    outputs: {
      changed: r.changed,
      commit: r.changed && !where.dryRun ? r.commit : '',
      'model-version': rel?.model_version ?? '',
      image: rel?.image ?? '',
      'previous-version': out.previous?.model_version ?? '',
      'pr-url': pr?.url ?? '',
    },
  };
}


export interface ReleaseCommandOptions {
  repo: string;
  branch: string;
  token?: string;
  tokenUser: string;
  author: string;
  dryRun: boolean;
  pushAttempts: number;
  cacheDir?: string;
  pr: boolean;
  githubRepository?: string;
  githubApiUrl?: string;
}

/**
 * What deploy, promote and rollback share: git options from the command options, --dry-run, and --pr
 * (push to the app/env's pull-request branch, then open or update the pull request).
 */
export async function runRelease(
  kind: 'deploy' | 'promote' | 'rollback',
  o: ReleaseCommandOptions,
  target: { app: string; env: string },
  ctx: Context,
  op: (repo: RepoOptions) => Promise<ReleaseOutcome & Partial<RollbackOutcome>>,
): Promise<Result> {
  const g = gitOptionsFrom(o, ctx);
  const pushBranch = o.pr ? prBranch(target.app, target.env) : undefined;
  const gh = o.pr ? githubRepository(o.githubRepository, g.remote.url) : undefined;
  ctx.log.progress(`${kind} ${target.app}/${target.env}: ${o.cacheDir ? 'fetching into the cached mirror of' : 'cloning'} ${displayUrl(g.remote.url)} (${o.branch})`);
  const out = await op({ ...g, dryRun: o.dryRun, retry: { attempts: o.pushAttempts }, now: () => ctx.now(), pushBranch, cacheDir: o.cacheDir });
  let pr: { url: string; number: number; created: boolean } | undefined;
  if (gh && out.result.changed && !o.dryRun && out.release) {
    const message = out.result.message ?? '';
    const [title, ...rest] = message.split('\n');
    pr = await openOrUpdatePullRequest({
      token: g.remote.token,
      apiUrl: o.githubApiUrl ?? ctx.runner.apiUrl,
      owner: gh.owner,
      repo: gh.repo,
      head: pushBranch!,
      base: o.branch,
      title: title!,
      body: `mlloop ${kind}: \`${out.release.model_version}\` to \`${target.app}/${target.env}\`.\n\n\`\`\`\n${rest.join('\n').trim()}\n\`\`\`\n\nMerging this pull request makes ArgoCD sync the change.`,
      log: ctx.log,
    });
  }
  return releaseResult(kind, { ...target, repo: g.remote.url, branch: pushBranch ?? o.branch, dryRun: o.dryRun }, out, pr);
}
