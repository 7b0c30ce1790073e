import * as path from 'node:path';
import type { Context } from '../../commands/define.js';
import { ConfigurationError } from '../errors.js';
import { writeFilesAtomic, type PendingFile } from '../io/atomic.js';
import { loadPolicy } from './policy.js';
import { runGate, type Verdict } from './gate.js';
import { baselineFromFile, baselineFromGitops, type ResolvedBaseline } from './baseline.js';
import { verdictMarkdown } from './render.js';
import { commentBody, pullRequestFromEvent, upsertComment, type UpsertResult } from '../github/comments.js';
import { createGitHub, parseRepository, resolveToken } from '../github/client.js';
import { forgeFrom, type ForgeOption } from '../gitlab/forge.js';

export interface GateOptions {
  candidate: string;
  baseline?: string;
  policy: string;
  candidateSamples?: string;
  baselineSamples?: string;
  baselineGitops?: string;
  baselineGitopsRef?: string;
  app?: string;
  env?: string;
  baselineArtifact?: string;
  baselineArtifactMetrics: string;
  baselineArtifactSamples?: string;
  baseBranch?: string;
  out: string;
  allowIncomparable: boolean;
  comment: boolean;
  commentFile?: string;
  pr?: number;
  marker?: string;
  repository?: string;
  token?: string;
  apiUrl?: string;
  /** github, gitlab, or auto (GitLab inside a GitLab CI job). */
  forge?: ForgeOption;
}

export interface GateOutcome {
  verdict: Verdict;
  verdictPath: string;
  markdown: string;
  body: string | null;
  bodyFile: string | null;
  comment: UpsertResult | null;
}

/** The token from `--token` or GITHUB_TOKEN, registered as a secret. */
export function githubToken(o: { token?: string }, ctx: Context): string | undefined {
  return resolveToken(o.token, ctx.env, (v) => ctx.secret(v));
}


async function resolveBaseline(o: GateOptions, ctx: Context, wantSamples: boolean, event: unknown): Promise<ResolvedBaseline> {
  const sources = [o.baseline && '--baseline', o.baselineGitops && '--baseline-gitops', o.baselineArtifact && '--baseline-artifact'].filter(Boolean);
  if (sources.length > 1) throw new ConfigurationError(`give one baseline source, not ${sources.join(' and ')}`);
  if (o.baseline) return baselineFromFile(path.resolve(ctx.cwd, o.baseline), o.baselineSamples && path.resolve(ctx.cwd, o.baselineSamples));
  if (o.baselineGitops) {
    if (!o.app || !o.env) throw new ConfigurationError('--baseline-gitops needs --app and --env', { hint: 'e.g. --baseline-gitops ../gitops --app ocr --env prod' });
    const b = await baselineFromGitops({ repo: o.baselineGitops, app: o.app, env: o.env, ref: o.baselineGitopsRef, cwd: ctx.cwd, log: ctx.log, wantSamples: wantSamples && !o.baselineSamples, processEnv: ctx.env, secret: (v) => ctx.secret(v), signal: ctx.signal });
    if (o.baselineSamples) b.samplesFile = path.resolve(ctx.cwd, o.baselineSamples);
    return b;
  }
  if (o.baselineArtifact) {
    const token = githubToken(o, ctx);
    if (!token) throw new ConfigurationError('--baseline-artifact needs a GitHub token', { hint: 'pass --token or set GITHUB_TOKEN (actions: read)' });
    const { owner, repo } = parseRepository(o.repository ?? ctx.runner.repository ?? '', '--repository');
    const branch = o.baseBranch ?? pullRequestFromEvent(event)?.baseRef ?? ctx.runner.baseRef ?? 'main';
    const workflow = /\.github\/workflows\/([^@]+)@/.exec(ctx.runner.workflowRef ?? '')?.[1];
    const gh = await createGitHub({ token, baseUrl: o.apiUrl ?? ctx.runner.apiUrl, log: ctx.log });
    const { baselineFromArtifact } = await import('./artifact-baseline.js');
    const b = await baselineFromArtifact({ gh, token, owner, repo, branch, workflow, name: o.baselineArtifact, metricsPath: o.baselineArtifactMetrics, samplesPath: o.baselineArtifactSamples, log: ctx.log });
    if (o.baselineSamples) b.samplesFile = path.resolve(ctx.cwd, o.baselineSamples);
    return b;
  }
  throw new ConfigurationError('no baseline given', { hint: 'pass --baseline metrics.json, --baseline-gitops REPO --app A --env E, or (in a workflow) --baseline-artifact NAME' });
}

/** `mlloop gate`: resolve the baseline, run the gate, write the verdict, and report on the pull request. */
export async function gateCommand(o: GateOptions, ctx: Context): Promise<GateOutcome> {
  const policyFile = path.resolve(ctx.cwd, o.policy);
  const policy = await loadPolicy(policyFile);
  const event: unknown = ctx.runner.payload;
  // On GitLab the note goes on a merge request: a pipeline that runs for none is refused before any work (exit 2).
  const forge = forgeFrom(ctx.runner, o.forge);
  const gitlabMr = forge === 'gitlab' && o.comment ? (await import('../gitlab/target.js')).mergeRequestIid(o, ctx) : undefined;
  const baseline = await resolveBaseline(o, ctx, Boolean(policy.significance), event);
  try {
    const verdict = await runGate({
      policy,
      policyFile: o.policy,
      candidateFile: path.resolve(ctx.cwd, o.candidate),
      candidateSamples: o.candidateSamples && path.resolve(ctx.cwd, o.candidateSamples),
      baselineFile: baseline.metricsFile,
      baselineSamples: baseline.samplesFile,
      origin: baseline.origin,
      allowIncomparable: o.allowIncomparable,
      now: ctx.now(),
      log: ctx.log,
    });
    verdict.candidate.metrics_file = o.candidate;
    verdict.candidate.samples_file = o.candidateSamples ?? null;
    if (verdict.baseline.kind === 'file') {
      verdict.baseline.metrics_file = o.baseline!;
      verdict.baseline.samples_file = o.baselineSamples ?? null;
    }
    const markdown = verdictMarkdown(verdict);
    const marker = o.marker ?? policy.name;
    const pr = forge === 'gitlab' ? (gitlabMr ?? o.pr ?? (Number(ctx.runner.gitlab?.mergeRequestIid) || undefined)) : (o.pr ?? pullRequestFromEvent(event)?.number);
    // Where the comment goes, also recorded in the sidecar: owner/name on GitHub, the merge request's project on GitLab.
    const repository = forge === 'gitlab' ? (o.repository ?? ctx.runner.gitlab?.mergeRequestProjectId ?? ctx.runner.gitlab?.projectId) : (o.repository ?? ctx.runner.repository);
    const verdictPath = path.resolve(ctx.cwd, o.out);
    const files: PendingFile[] = [{ path: verdictPath, data: `${JSON.stringify(verdict, null, 2)}\n` }];
    let body: string | null = null;
    let bodyFile: string | null = null;
    if (o.comment || o.commentFile) {
      body = ctx.masker.mask(commentBody(markdown, marker, forge === 'gitlab' ? ctx.runner.gitlab?.jobUrl : ctx.runner.runUrl));
      bodyFile = path.resolve(ctx.cwd, o.commentFile ?? path.join(path.dirname(o.out), 'mlloop-comment.md'));
      files.push({ path: bodyFile, data: body });
      files.push({ path: `${bodyFile}.json`, data: `${JSON.stringify({ pr: pr ?? null, marker, repository: repository ?? null })}\n` });
    }
    await writeFilesAtomic(files);
    let comment: UpsertResult | null = null;
    if (o.comment && forge === 'gitlab') {
      const { gateNote } = await import('../gitlab/gate-note.js');
      comment = await gateNote({ o, ctx, mr: pr!, marker, body: body!, bodyFile: bodyFile! });
    } else if (o.comment) {
      const token = githubToken(o, ctx);
      if (!pr || !token || !repository) {
        ctx.log.warn(`not commenting: ${[!pr && 'no pull request (pass --pr)', !token && 'no token (pass --token or set GITHUB_TOKEN)', !repository && 'no repository (pass --repository)'].filter(Boolean).join(', ')}; the report is in ${path.relative(ctx.cwd, bodyFile!)}`);
      } else {
        const { owner, repo } = parseRepository(repository, '--repository');
        const gh = await createGitHub({ token, baseUrl: o.apiUrl ?? ctx.runner.apiUrl, log: ctx.log });
        try {
          comment = await upsertComment(gh, { owner, repo, issue: pr, marker, body: body!, log: ctx.log });
        } catch (e) {
          // The verdict is the job's result; a comment that cannot be written never changes it.
          ctx.log.warn(`could not write the PR comment: ${(e as Error).message.split('\n')[0]}`);
        }
        if (comment?.action === 'forbidden') {
          const fork = pullRequestFromEvent(event)?.fork;
          ctx.log.warn(`the token cannot comment on #${pr}${fork ? ' (a pull request from a fork gets a read-only token)' : ''}; the report is in the job summary, the comment-body output and ${path.relative(ctx.cwd, bodyFile!)} — post it from a workflow_run workflow with \`mlloop comment --body FILE --pr ${pr}\``);
        } else if (comment) ctx.log.info(`PR comment ${comment.action}: ${comment.url}`);
      }
    }
    return { verdict, verdictPath, markdown, body, bodyFile, comment };
  } finally {
    await baseline.cleanup();
  }
}
