import { defineCommand } from './define.js';

/** Where the evaluation history lives (shared by every history command, compare's and ct check's --history aside). */
export const dbOption = {
  db: {
    type: 'string',
    env: 'MLLOOP_HISTORY_DB',
    help: 'the history store: postgres://user:password@host:5432/db, or a folder for the embedded store [default: $MLLOOP_HISTORY_DB, else .mlloop/history]',
    placeholder: 'URL|DIR',
  },
} as const;

export const command = defineCommand({
  name: 'history push',
  summary: 'record one evaluation (metrics, per-image samples, provenance) in the evaluation history',
  description:
    'Records an evaluation in the history store: model version, dataset, config hash, source commit, CI run id and URL, ' +
    'the time, every numeric metric of the metrics file by dotted path (overall.f1, per_field.name.recall, latency_ms.p95, ' +
    'bleu) next to the raw JSON and, with --samples, the per-image outcomes (loaded with COPY). The store is an embedded ' +
    'PostgreSQL (PGlite) in a folder, or a PostgreSQL server for a team. Pushing the same evaluation again (same model ' +
    'version, dataset, config and metrics content) adds nothing. The schema is created or upgraded on first use.',
  options: {
    metrics: { type: 'path', required: true, help: 'the metrics file (mlloop/metrics@1, or any JSON of numbers)', placeholder: 'FILE' },
    samples: { type: 'path', help: 'the per-image outcomes of the same evaluation (mlloop/samples@1 JSONL, evaluate --samples)', placeholder: 'FILE' },
    run: { type: 'path', help: 'the run.json of `mlloop train` (source commit and training provenance)', placeholder: 'FILE' },
    'model-version': { type: 'string', help: 'the model version [default: model_version of the metrics file]', placeholder: 'V' },
    model: { type: 'string', help: 'the model name [default: the version up to -v<digit>, ocr-v3.2 → ocr]', placeholder: 'NAME' },
    dataset: { type: 'string', help: 'the test set [default: dataset of the metrics file]', placeholder: 'D' },
    'source-commit': { type: 'string', help: 'commit of the model repository [default: git_commit of --run, else $GITHUB_SHA]', placeholder: 'SHA' },
    'run-url': { type: 'string', help: 'link to the CI run [default: the GitHub Actions run]', placeholder: 'URL' },
    'created-at': { type: 'string', help: 'when the evaluation ran, ISO 8601 (backfills) [default: now]', placeholder: 'TIME' },
    ...dbOption,
  },
  examples: [
    { command: 'mlloop history push --metrics metrics.json --samples samples.jsonl', explain: 'record an evaluation in the embedded store .mlloop/history' },
    { command: 'mlloop history push --metrics metrics.json --run outputs/run.json --db "$MLLOOP_HISTORY_DB"', explain: 'record it in the team\'s PostgreSQL' },
  ],
  async run(o, ctx) {
    const { evaluationFrom, openHistory } = await import('../core/history/history.js');
    const { pushEvaluation } = await import('../core/history/store.js');
    const path = await import('node:path');
    const evaluation = await evaluationFrom(o, ctx.cwd, ctx.runner, ctx.now());
    const db = await openHistory(o.db, ctx, true);
    try {
      ctx.log.progress(`recording ${evaluation.model_version} on ${evaluation.dataset} in ${db.target.display}`);
      const r = await pushEvaluation(db, evaluation, o.samples ? path.resolve(ctx.cwd, o.samples) : undefined);
      const e = r.evaluation;
      const what = r.created ? `recorded evaluation #${e.id}` : `evaluation #${e.id} was already recorded: nothing changed${r.samples_added ? ' but its samples' : ''}`;
      return {
        exitCode: 0,
        data: { created: r.created, id: e.id, model: e.model, model_version: e.model_version, dataset: e.dataset, config_hash: e.config_hash, metrics_hash: e.metrics_hash, source_commit: e.source_commit, run_url: e.run_url, created_at: e.created_at, samples: e.samples, samples_added: r.samples_added, store: db.target.display },
        text: `${what}: ${e.model_version} on ${e.dataset}${e.samples ? `, ${e.samples} sample(s)` : ''} (${db.target.display})`,
        outputs: { id: e.id, created: r.created },
      };
    } finally {
      await db.close();
    }
  },
});
