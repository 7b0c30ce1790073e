import { defineCommand } from './define.js';
import { gitopsRepoOptions } from './lineage.js';

export const command = defineCommand({
  name: 'lineage record',
  summary: 'append a lineage record and audit entries (train, evaluate, deploy, relabel, label) to the GitOps repository',
  description:
    'Records one step of the loop under lineage/ in the GitOps repository: lineage/records/<yyyy-mm>.jsonl gets one mlloop/lineage@1 ' +
    'record (kind, time, actor, model id, parent model, job id, template@version, commit, dataset id and version, the sha256 of every ' +
    'data file used, the samples used with the version of their labels, metrics) and lineage/audit/<yyyy-mm>.jsonl the audit entries ' +
    'it implies (actor, action, timestamp, file_id, extra_info: used_in_model, evaluated_on, confirm_label, queued_for_relabel, deploy). ' +
    'The commit is made and pushed like every GitOps write (shallow clone, trailers, fetch-rebase retry); the same step recorded ' +
    'twice adds nothing.',
  options: {
    ...gitopsRepoOptions,
    kind: { type: 'enum', choices: ['train', 'evaluate', 'deploy', 'relabel', 'label'], required: true, help: 'the step being recorded' },
    model: { type: 'string', help: 'the model id trained, evaluated or deployed, e.g. ocr-v3.3', placeholder: 'MODEL' },
    'parent-model': { type: 'string', help: 'the model the training started from (train --init-from)', placeholder: 'MODEL' },
    mode: { type: 'enum', choices: ['incremental', 'full'], help: 'training mode [default: incremental with --parent-model, else full]' },
    dataset: { type: 'string', help: 'dataset id and version, e.g. invoice-clean@2025Q2', placeholder: 'ID@VERSION' },
    data: { type: 'path', multiple: true, help: 'data folders or files used; each file is recorded with its sha256', placeholder: 'PATH' },
    gt: { type: 'path', multiple: true, help: 'ground truth used (mlloop/fields@1): each sample is recorded with the version of its labels', placeholder: 'FILE' },
    tasks: { type: 'path', help: 'with --kind relabel: the tasks file `mlloop ct relabel` wrote', placeholder: 'FILE' },
    run: { type: 'path', help: 'outputs/run.json of `mlloop train` (commit, data hash, metrics)', placeholder: 'FILE' },
    metrics: { type: 'path', help: 'metrics.json to record the headline numbers of', placeholder: 'FILE' },
    'job-id': { type: 'string', help: 'training job id (e.g. the Kubernetes Job or the workflow run id)', placeholder: 'ID' },
    template: { type: 'string', help: 'training template as name@version', placeholder: 'NAME@VERSION' },
    commit: { type: 'string', help: 'commit of the model repository [default: from --run, else $GITHUB_SHA]', placeholder: 'SHA' },
    'run-url': { type: 'string', help: 'link to the CI run [default: from $GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID]', placeholder: 'URL' },
    env: { type: 'string', help: 'with --kind deploy: the environment', placeholder: 'ENV' },
    actor: { type: 'string', help: 'who did it [default: $GITHUB_ACTOR, else $USER]', placeholder: 'NAME' },
    time: { type: 'string', help: 'when, ISO 8601 [default: now]', placeholder: 'TIME' },
    'dry-run': { type: 'boolean', help: 'show the change without committing' },
  },
  outputs: {
    'record-id': 'id of the record (content hash)',
    commit: 'the GitOps commit made (or the existing HEAD when the record was already there)',
    changed: 'true when a commit was pushed',
  },
  examples: [
    {
      command: 'mlloop lineage record --repo ../gitops --kind train --model ocr-v3.3 --parent-model ocr-v3.2 --dataset policies@2025Q2 --data sample_data/train --gt sample_data/train/gt.json --run outputs/run.json',
      explain: 'record which files and labels trained ocr-v3.3, fine-tuned from ocr-v3.2',
    },
    { command: 'mlloop lineage record --repo ../gitops --kind label --gt corrected/gt.json --actor labeler_02', explain: 'record corrected labels (new label versions of those files)' },
  ],
  async run(o, ctx) {
    const { ConfigurationError } = await import('../core/errors.js');
    const { buildRecord } = await import('../core/lineage/record.js');
    const { appendLineage } = await import('../core/lineage/store.js');
    const { remoteFrom } = await import('../core/gitops/git.js');
    const remote = remoteFrom({ url: o.repo, branch: o.branch, token: o.token }, ctx.env, (v) => ctx.secret(v));
    const time = o.time ? new Date(o.time) : ctx.now();
    if (Number.isNaN(time.getTime())) throw new ConfigurationError(`--time "${o.time}" is not an ISO 8601 time`);
    const e = ctx.env;
    const runUrl = o.runUrl ?? ctx.runner.runUrl;
    const record = await buildRecord({
      kind: o.kind,
      model: o.model,
      parentModel: o.parentModel,
      mode: o.mode,
      dataset: o.dataset,
      data: o.data,
      gt: o.gt,
      tasks: o.tasks,
      run: o.run,
      metrics: o.metrics,
      jobId: o.jobId,
      template: o.template,
      commit: o.commit ?? (o.run ? undefined : ctx.runner.sha),
      runUrl,
      env: o.env,
      actor: o.actor ?? ctx.runner.actor ?? e.USER ?? 'unknown',
      time,
      cwd: ctx.cwd,
    });
    ctx.log.progress(`recording ${o.kind} lineage ${record.id} (${record.files.length} file(s), ${record.samples.length} sample(s))`);
    const r = await appendLineage({ remote, records: [record], env: ctx.env, log: ctx.log, cwd: ctx.cwd, signal: ctx.signal, dryRun: o.dryRun });
    const what = `${o.kind} record ${record.id}${record.model_id ? ` for ${record.model_id}` : ''}: ${record.files.length} file(s), ${record.samples.length} sample(s)`;
    const text = o.dryRun ? `would append ${what}\n${r.diff ?? ''}` : r.changed ? `appended ${what} in ${r.commit.slice(0, 7)}` : `${what} is already recorded; nothing to commit`;
    return {
      exitCode: 0,
      data: { record, commit: r.commit, changed: r.changed, pushed: r.pushed, attempts: r.attempts, files: r.files },
      text,
      summary: `### mlloop lineage record: ${o.kind}\n\n${text.split('\n')[0]}\n`,
      outputs: { 'record-id': record.id, commit: r.commit, changed: r.changed },
    };
  },
});
