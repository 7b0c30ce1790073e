import { ConfigurationError, ExternalError } from '../errors.js';
import { readJson } from '../io/read.js';
import type { Logger } from '../log.js';
import { headlineMetrics } from '../train/metrics-file.js';

/** What the CD workflow receives about a retrained candidate (`mlloop/candidate@1`, ≤ 10 top-level keys). */
export interface CandidatePayload {
  schema: 'mlloop/candidate@1';
  model_version: string;
  image: string | null;
  source_commit: string | null;
  dataset: string | null;
  run_url: string | null;
  parent_model: string | null;
  metrics: Record<string, number>;
  gate: { pass: true; policy: string; baseline: string | null; p_value: number | null; delta: number | null; require: string | null };
  ct: { mode: string | null; triggers: string[]; decided_at: string | null } | null;
}

interface VerdictLike {
  schema?: string;
  pass?: unknown;
  policy?: string;
  failed?: string[];
  candidate?: { model_version?: string | null; dataset?: string | null; metrics_file?: string };
  baseline?: { model_version?: string | null };
  significance?: null | { overall?: { require?: string; significant?: boolean; p_value?: number; delta?: number } };
}

export interface HandoffInput {
  verdict: string;
  requireImprovement: boolean;
  modelVersion?: string;
  image?: string;
  sourceCommit?: string;
  dataset?: string;
  runUrl?: string;
  metrics?: string;
  decision?: string;
}

/**
 * Reads the gate's verdict and refuses (a verdict, exit 1) unless it passed — and, by default, unless
 * its significance test showed the candidate is better than the production baseline. Then assembles the
 * candidate's provenance for the CD workflow.
 */
export async function buildHandoff(i: HandoffInput): Promise<{ ok: true; payload: CandidatePayload } | { ok: false; why: string }> {
  const v = (await readJson(i.verdict, 'verdict')) as VerdictLike | null;
  if (!v || v.schema !== 'mlloop/verdict@1') throw new ConfigurationError('not a gate verdict (mlloop/verdict@1)', { file: i.verdict, hint: 'pass the verdict.json `mlloop gate --out` wrote' });
  if (v.pass !== true) return { ok: false, why: `the gate did not pass${v.failed?.length ? `: ${v.failed.join('; ')}` : ''}` };
  const sig = v.significance?.overall;
  if (i.requireImprovement && !(sig && sig.require === 'improvement' && sig.significant === true)) {
    return { ok: false, why: sig ? `the significance test requires "${sig.require}", and a retrained model must be significantly better (require: improvement)` : 'the verdict has no significance test: a retrained model must be shown significantly better (significance: {require: improvement})' };
  }
  const modelVersion = i.modelVersion ?? v.candidate?.model_version ?? undefined;
  if (!modelVersion) throw new ConfigurationError('no model version: the verdict names none', { hint: 'pass --model-version' });
  let metrics: Record<string, number> = {};
  const metricsFile = i.metrics;
  if (metricsFile) metrics = headlineMetrics((await readJson(metricsFile, 'metrics file')) as Record<string, unknown>);
  let ct: CandidatePayload['ct'] = null;
  if (i.decision) {
    const d = (await readJson(i.decision, 'ct decision')) as { schema?: string; mode?: string; reasons?: { trigger: string }[]; decided_at?: string } | null;
    if (!d || d.schema !== 'mlloop/ct-decision@1') throw new ConfigurationError('not a ct decision (mlloop/ct-decision@1)', { file: i.decision, hint: 'pass the ct-decision.json `mlloop ct check` wrote' });
    ct = { mode: d.mode ?? null, triggers: (d.reasons ?? []).map((r) => r.trigger), decided_at: d.decided_at ?? null };
  }
  return {
    ok: true,
    payload: {
      schema: 'mlloop/candidate@1',
      model_version: modelVersion,
      image: i.image ?? null,
      source_commit: i.sourceCommit ?? null,
      dataset: i.dataset ?? v.candidate?.dataset ?? null,
      run_url: i.runUrl ?? null,
      parent_model: v.baseline?.model_version ?? null,
      metrics,
      gate: { pass: true, policy: v.policy ?? '', baseline: v.baseline?.model_version ?? null, p_value: sig?.p_value ?? null, delta: sig?.delta ?? null, require: sig?.require ?? null },
      ct,
    },
  };
}

/** Sends the hand-off: a repository_dispatch, or a workflow_dispatch of one workflow (inputs are strings). */
export async function sendHandoff(o: { token: string; apiUrl?: string; owner: string; repo: string; eventType: string; workflow?: string; ref: string; payload: CandidatePayload; log: Logger }): Promise<'repository_dispatch' | 'workflow_dispatch'> {
  const { createGitHub } = await import('../github/client.js');
  const gh = await createGitHub({ token: o.token, baseUrl: o.apiUrl, log: o.log });
  try {
    if (o.workflow) {
      const p = o.payload;
      await gh.rest.actions.createWorkflowDispatch({
        owner: o.owner,
        repo: o.repo,
        workflow_id: /^\d+$/.test(o.workflow) ? Number(o.workflow) : o.workflow,
        ref: o.ref,
        inputs: { model_version: p.model_version, image: p.image ?? '', source_commit: p.source_commit ?? '', provenance: JSON.stringify(p) },
      });
      return 'workflow_dispatch';
    }
    await gh.rest.repos.createDispatchEvent({ owner: o.owner, repo: o.repo, event_type: o.eventType, client_payload: o.payload as unknown as Record<string, unknown> });
    return 'repository_dispatch';
  } catch (e) {
    const status = (e as { status?: number }).status;
    const msg = (e as Error).message;
    if (status === 401 || status === 403) throw new ConfigurationError(`GitHub refused the hand-off (HTTP ${status}: ${msg})`, { hint: 'the token needs contents: write (repository_dispatch) or actions: write (workflow_dispatch) on the CD repository' });
    if (status === 404 || status === 422) throw new ConfigurationError(`GitHub rejected the hand-off (HTTP ${status}: ${msg})`, { hint: o.workflow ? 'check --workflow and --ref, and that the workflow declares the inputs model_version, image, source_commit and provenance' : 'check --repository' });
    throw new ExternalError(`GitHub hand-off failed: ${msg}`);
  }
}
