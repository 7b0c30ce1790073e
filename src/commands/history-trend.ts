import { defineCommand } from './define.js';
import { dbOption } from './history-push.js';

export const command = defineCommand({
  name: 'history trend',
  summary: 'one metric across the recorded evaluations, in push order',
  description:
    'Lists one metric (a dotted path of the metrics file: overall.f1, latency_ms.p95, per_field.name.recall) for every ' +
    'recorded evaluation that has it, in the order they were pushed, optionally of one dataset or one model. --json prints ' +
    '{"points": [{"model_version", "value", "dataset", "created_at", "run_url"}]}.',
  options: {
    metric: { type: 'string', required: true, help: 'dotted path of the metric, e.g. overall.f1', placeholder: 'PATH' },
    dataset: { type: 'string', help: 'only evaluations on this test set', placeholder: 'D' },
    model: { type: 'string', help: 'only versions of this model (e.g. ocr)', placeholder: 'NAME' },
    ...dbOption,
  },
  examples: [
    { command: 'mlloop history trend --metric overall.f1 --dataset invoice-test-2025Q1', explain: 'F1 of every version on one test set' },
    { command: 'mlloop history trend --metric latency_ms.p95 --model ocr --db "$MLLOOP_HISTORY_DB" --json', explain: 'p95 latency of every ocr version, as JSON' },
  ],
  async run(o, ctx) {
    const { openHistory } = await import('../core/history/history.js');
    const { trend, metricPaths } = await import('../core/history/store.js');
    const { textTable } = await import('../core/format/markdown.js');
    const db = await openHistory(o.db, ctx, false);
    try {
      const points = await trend(db, { metric: o.metric, dataset: o.dataset, model: o.model });
      if (!points.length) {
        const known = await metricPaths(db);
        if (known.length && !known.includes(o.metric)) {
          const { ConfigurationError, closest } = await import('../core/errors.js');
          const guess = closest(o.metric, known);
          throw new ConfigurationError(`no evaluation in ${db.target.display} has the metric "${o.metric}"`, { hint: guess ? `did you mean ${guess}?` : `known metrics include ${known.slice(0, 6).join(', ')}` });
        }
      }
      const text = points.length
        ? textTable(['model version', o.metric, 'dataset', 'created at (UTC)', 'run'], points.map((p) => [p.model_version, String(p.value), p.dataset, p.created_at, p.run_url ?? '']))
        : `no evaluation of ${o.metric}${o.dataset ? ` on ${o.dataset}` : ''}${o.model ? ` of ${o.model}` : ''} yet`;
      return { exitCode: 0, data: { metric: o.metric, points }, text };
    } finally {
      await db.close();
    }
  },
});
