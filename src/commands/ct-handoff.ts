import * as path from 'node:path';
import { defineCommand } from './define.js';

export const command = defineCommand({
  name: 'ct handoff',
  summary: 'hand a retrained model that passed the gate to CD: a repository_dispatch (or workflow dispatch) with its provenance',
  description:
    'The end of the retrain-and-review loop. Reads the gate verdict of the retrained candidate against the production baseline and ' +
    'refuses (exit 1) unless it passed and, by default, its significance test showed the candidate significantly better ' +
    '(gate policy significance.require: improvement). Then sends the CD repository a repository_dispatch (event type ' +
    'mlloop-candidate) whose client_payload is the candidate\'s provenance (mlloop/candidate@1: model version, image, source ' +
    'commit, dataset, run URL, parent model, metrics, gate result, the ct decision), or with --workflow a workflow_dispatch whose ' +
    'inputs are model_version, image, source_commit and provenance (the same JSON).',
  options: {
    verdict: { type: 'path', default: 'verdict.json', help: 'the gate verdict of the candidate (mlloop/verdict@1)', placeholder: 'FILE' },
    'require-improvement': { type: 'boolean', default: true, help: 'demand a significance test with require: improvement that holds (false: a passing gate is enough)' },
    repository: { type: 'string', help: 'owner/name of the repository whose CD workflow is triggered [default: GITHUB_REPOSITORY]', placeholder: 'OWNER/NAME' },
    'event-type': { type: 'string', default: 'mlloop-candidate', help: 'repository_dispatch event type the CD workflow listens to (on: repository_dispatch: types: [...])' },
    workflow: { type: 'string', help: 'send a workflow_dispatch to this workflow (file name or id) instead', placeholder: 'FILE' },
    ref: { type: 'string', default: 'main', help: 'branch the workflow_dispatch runs on' },
    'model-version': { type: 'string', help: 'model version of the candidate [default: from the verdict]', placeholder: 'V' },
    image: { type: 'string', help: 'container image of the candidate', placeholder: 'IMAGE' },
    'source-commit': { type: 'string', help: 'commit of the model repository [default: GITHUB_SHA]', placeholder: 'SHA' },
    dataset: { type: 'string', help: 'dataset of the candidate [default: from the verdict]', placeholder: 'D' },
    'run-url': { type: 'string', help: 'link to the run that trained and gated it [default: this workflow run]', placeholder: 'URL' },
    metrics: { type: 'path', help: 'the candidate\'s metrics.json (headline numbers go into the payload)', placeholder: 'FILE' },
    decision: { type: 'path', help: 'the ct decision that started the retraining (ct-decision.json)', placeholder: 'FILE' },
    token: { type: 'string', secret: true, env: 'GITHUB_TOKEN', help: 'GitHub token with contents: write (repository_dispatch) or actions: write (workflow_dispatch) [default: GITHUB_TOKEN]', placeholder: 'TOKEN' },
    'api-url': { type: 'string', help: 'GitHub REST API URL [default: GITHUB_API_URL, else https://api.github.com]', placeholder: 'URL' },
    'dry-run': { type: 'boolean', help: 'check the verdict and print the payload without sending it' },
  },
  outputs: {
    'handed-off': 'true when the dispatch was sent (false on a dry run)',
    'model-version': 'the candidate\'s model version',
    payload: 'the provenance sent (JSON)',
  },
  examples: [
    {
      command: 'mlloop ct handoff --verdict verdict.json --metrics candidate/metrics.json --decision ct-decision.json --image registry.example.com/ocr:ocr-v3.3-commit-abc1234-20250614020000',
      explain: 'trigger the CD workflow (on: repository_dispatch: types: [mlloop-candidate]) when the retrained model is significantly better',
    },
    { command: 'mlloop ct handoff --verdict verdict.json --workflow cd.yml --ref main --dry-run --json', explain: 'see what a workflow_dispatch would carry' },
  ],
  async run(o, ctx) {
    const { buildHandoff, sendHandoff } = await import('../core/ct/handoff.js');
    const { parseRepository, resolveToken } = await import('../core/github/client.js');
    const { ConfigurationError } = await import('../core/errors.js');
    const abs = (p: string | undefined) => (p === undefined ? undefined : path.resolve(ctx.cwd, p));
    const e = ctx.env;
    const built = await buildHandoff({
      verdict: abs(o.verdict)!,
      requireImprovement: o.requireImprovement,
      modelVersion: o.modelVersion,
      image: o.image,
      sourceCommit: o.sourceCommit ?? ctx.runner.sha,
      dataset: o.dataset,
      runUrl: o.runUrl ?? ctx.runner.runUrl,
      metrics: abs(o.metrics),
      decision: abs(o.decision),
    });
    if (!built.ok) {
      return { exitCode: 1, failure: `not handed off to CD: ${built.why}`, data: { handed_off: false, reason: built.why }, text: `not handed off to CD: ${built.why}`, summary: `### mlloop ct handoff: not handed off\n\n${built.why}\n`, outputs: { 'handed-off': false, 'model-version': '', payload: '' } };
    }
    const p = built.payload;
    const full = o.repository ?? ctx.runner.repository;
    if (!full) throw new ConfigurationError('no repository to trigger', { hint: 'pass --repository owner/name (GITHUB_REPOSITORY on a runner)' });
    const { owner, repo } = parseRepository(full, '--repository');
    let via: string | null = null;
    if (!o.dryRun) {
      via = await sendHandoff({ token: resolveToken(o.token, e, (v) => ctx.secret(v)) ?? '', apiUrl: o.apiUrl ?? ctx.runner.apiUrl, owner, repo, eventType: o.eventType, workflow: o.workflow, ref: o.ref, payload: p, log: ctx.log });
    }
    const target = o.workflow ? `workflow ${o.workflow}@${o.ref} of ${owner}/${repo}` : `${owner}/${repo} (repository_dispatch ${o.eventType})`;
    const text = o.dryRun ? `would hand ${p.model_version} to ${target}:\n${JSON.stringify(p, null, 2)}` : `handed ${p.model_version} to ${target}`;
    return {
      exitCode: 0,
      data: { handed_off: !o.dryRun, via, repository: `${owner}/${repo}`, event_type: o.workflow ? null : o.eventType, workflow: o.workflow ?? null, payload: p },
      text,
      summary: `### mlloop ct handoff: ${p.model_version}\n\n${o.dryRun ? 'dry run: ' : ''}${target}; gate passed (p = ${p.gate.p_value ?? '—'}, Δ = ${p.gate.delta ?? '—'}) against ${p.gate.baseline ?? 'the baseline'}\n`,
      outputs: { 'handed-off': !o.dryRun, 'model-version': p.model_version, payload: JSON.stringify(p) },
    };
  },
});
