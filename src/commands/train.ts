import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { defineCommand } from './define.js';
import { mdTable, textTable, formatNumber } from '../core/format/markdown.js';
import { flattenMetrics } from '../core/train/metrics-file.js';

export const command = defineCommand({
  name: 'train',
  summary: 'run the model repo\'s install, tests and sample training under a time budget, and record the run',
  description:
    'Runs the optional install and test commands, then the training command, in the model repository with one time budget. ' +
    'Every output line goes to logs/train.log with a timestamp. On time-out the whole process tree is killed (exit 3). ' +
    'Then outputs/metrics.json is checked (exit 2 when it is missing, not JSON, or holds non-numeric metrics) and ' +
    'outputs/run.json records the command, exit code, duration, git commit, the sha256 of the data folder and the epoch ' +
    'a resumed run started from. With --resume, a run continues from the last checkpoint found in --checkpoints. ' +
    'In the action, outputs/ and logs/ are uploaded as a workflow artifact.',
  options: {
    repo: { type: 'path', default: '.', help: 'the model repository folder (commands run there)', placeholder: 'DIR' },
    command: { type: 'string', required: true, help: 'the training command, e.g. "python train.py --epochs 1 --data sample_data --out outputs"', placeholder: 'CMD' },
    install: { type: 'string', help: 'command that installs dependencies first, e.g. "pip install -r requirements.txt"', placeholder: 'CMD' },
    test: { type: 'string', help: 'command that runs the unit tests before training, e.g. "python -m unittest"', placeholder: 'CMD' },
    timeout: { type: 'duration', default: '15m', help: 'time budget for install + test + training together' },
    outputs: { type: 'path', default: 'outputs', help: 'folder the training writes (metrics.json, model, checkpoints), relative to --repo', placeholder: 'DIR' },
    logs: { type: 'path', default: 'logs', help: 'folder for train.log, relative to --repo', placeholder: 'DIR' },
    checkpoints: { type: 'path', help: 'checkpoint folder (restored from a previous run to resume) [default: <outputs>/checkpoints]', placeholder: 'DIR' },
    resume: { type: 'boolean', help: 'continue from the last checkpoint in --checkpoints, if there is one' },
    'resume-args': { type: 'string', default: '--resume', help: 'arguments appended to the training command when a checkpoint is resumed', placeholder: 'ARGS' },
    data: { type: 'path', help: 'data folder to fingerprint in run.json [default: the --data argument of the command]', placeholder: 'DIR' },
    'model-version': { type: 'string', help: 'the version this model is built as, e.g. ocr-v3.2: given to the commands as MLLOOP_MODEL_VERSION and recorded in run.json [default: the model_version of the metrics file]', placeholder: 'V' },
    upload: { type: 'boolean', default: true, help: 'action only: upload outputs/ and logs/ as a workflow artifact (--no-upload to skip)' },
    'artifact-name': { type: 'string', default: 'mlloop-train', help: 'action only: name of the workflow artifact holding outputs/ and logs/', placeholder: 'NAME' },
    'retention-days': { type: 'integer', min: 1, max: 90, help: 'action only: days the artifact is kept [default: the repository setting]' },
  },
  outputs: {
    'metrics-path': 'path of the validated metrics.json',
    'run-path': 'path of run.json, the record of this run',
    'log-path': 'path of train.log',
    status: 'succeeded, failed or timed-out',
    f1: 'overall.f1 (or f1) from metrics.json, when present',
    metrics: 'the headline metrics as JSON',
    'artifact-id': 'id of the uploaded artifact (action only)',
  },
  examples: [
    {
      command: 'mlloop train --repo examples/ocr-fields --install "pip install -r requirements.txt" --test "python3 -m unittest discover -s tests -t ." --command "python3 train.py --epochs 1 --data sample_data --out outputs"',
      explain: 'the seed\'s CI: install, test, one epoch on the sample data; writes outputs/metrics.json, outputs/run.json, logs/train.log',
    },
    {
      command: 'mlloop train --repo . --command "python3 train.py --epochs 20 --data sample_data --out outputs" --resume --timeout 30m',
      explain: 'continue a run that was killed, from its last checkpoint in outputs/checkpoints',
    },
  ],
  async run(o, ctx) {
    const { train, formatDuration } = await import('../core/train/train.js');
    const { uploadFolders, RUNNER_CREDENTIALS } = await import('../core/artifact/upload.js');
    const repo = path.resolve(ctx.cwd, o.repo);
    // The runner masks its own token; mlloop masks it too, and never hands it to the user's commands.
    ctx.masker.add(ctx.env.ACTIONS_RUNTIME_TOKEN);
    const env = { ...ctx.env };
    for (const k of RUNNER_CREDENTIALS) delete env[k];
    const upload =
      ctx.mode === 'action' && o.upload
        ? () =>
            uploadFolders({
              name: o.artifactName,
              root: repo,
              folders: [path.resolve(repo, o.outputs), path.resolve(repo, o.logs)],
              retentionDays: o.retentionDays,
              env: ctx.env,
              log: ctx.log,
            })
        : undefined;
    const startedAt = Date.now();
    let outcome: Awaited<ReturnType<typeof train>>;
    try {
      outcome = await train({
        repo,
        command: o.command,
        install: o.install,
        test: o.test,
        timeoutMs: o.timeout,
        outputs: o.outputs,
        logs: o.logs,
        checkpoints: o.checkpoints,
        resume: o.resume,
        resumeArgs: o.resumeArgs,
        data: o.data,
        modelVersion: o.modelVersion,
        env,
        signal: ctx.signal,
        now: () => ctx.now(),
        onLine: (l) => ctx.log.info(l),
      });
    } catch (e) {
      // A run that timed out or wrote bad metrics still keeps its logs and run.json: that is when people need them.
      const ran = await fs.stat(path.resolve(repo, o.logs, 'train.log')).then((s) => s.mtimeMs >= startedAt - 1000, () => false);
      if (upload && ran) await upload().catch((u: Error) => ctx.log.warn(u.message));
      throw e;
    }
    const r = outcome.record;
    const artifactId = upload ? await upload() : undefined;
    const rows = Object.entries(r.metrics).map(([k, v]) => [k, formatNumber(v)]);
    const resumed = r.resumed_from_epoch !== null ? `, resumed from epoch ${r.resumed_from_epoch}` : '';
    const head = `training ${r.status} in ${formatDuration(r.duration_s * 1000)} (exit code ${r.exit_code ?? 'none'}${resumed})`;
    const text = [head, rows.length ? textTable(['metric', 'value'], rows) : '', `run record: ${path.relative(ctx.cwd, outcome.runPath)}`, `log: ${path.relative(ctx.cwd, outcome.logPath)}`]
      .filter(Boolean)
      .join('\n');
    let flat: Record<string, number> = {};
    if (r.metrics_path) {
      const { readMetricsFile } = await import('../core/train/metrics-file.js');
      flat = flattenMetrics(await readMetricsFile(outcome.metricsPath));
    }
    const summary = [
      `### mlloop train: ${r.status}`,
      '',
      `\`${r.command}\` — ${formatDuration(r.duration_s * 1000)}${resumed}, data sha256 \`${r.data?.sha256.slice(0, 12) ?? 'n/a'}\`, commit \`${r.git_commit?.slice(0, 7) ?? 'n/a'}\``,
      '',
      Object.keys(flat).length ? mdTable(['metric', 'value'], Object.entries(flat).slice(0, 60).map(([k, v]) => [k, formatNumber(v)]), ['l', 'r']) : '_no metrics_',
      '',
    ].join('\n');
    return {
      exitCode: r.status === 'succeeded' ? 0 : 1,
      failure: r.status === 'succeeded' ? undefined : `training ${r.status}: ${r.phases.at(-1)?.name} exited with code ${r.exit_code ?? r.phases.at(-1)?.signal} (see ${r.log_path})`,
      data: { ...r, run_path: outcome.runPath, artifact_id: artifactId ?? null },
      text,
      summary,
      outputs: {
        'metrics-path': r.metrics_path ? outcome.metricsPath : '',
        'run-path': outcome.runPath,
        'log-path': outcome.logPath,
        status: r.status,
        f1: r.metrics.f1 ?? '',
        metrics: JSON.stringify(r.metrics),
        ...(artifactId !== undefined ? { 'artifact-id': artifactId } : {}),
      },
    };
  },
});
