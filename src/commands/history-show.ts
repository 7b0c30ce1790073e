import { defineCommand } from './define.js';
import { dbOption } from './history-push.js';

export const command = defineCommand({
  name: 'history show',
  summary: 'the recorded evaluations of one model version: provenance and every metric',
  description:
    'Prints every evaluation recorded for a model version (one per dataset and config): when, source commit, CI run, config ' +
    'and metrics hashes, the number of per-image samples, and every metric by dotted path. Exit 2 when the version has none.',
  options: {
    version: { type: 'string', required: true, help: 'the model version (or as the first word: mlloop history show ocr-v3.2)', placeholder: 'V' },
    dataset: { type: 'string', help: 'only the evaluation on this test set', placeholder: 'D' },
    ...dbOption,
  },
  positional: 'version',
  examples: [
    { command: 'mlloop history show ocr-v3.2', explain: 'what is recorded about ocr-v3.2' },
    { command: 'mlloop history show --version ocr-v3.2 --db postgres://mlloop@db:5432/mlloop --json', explain: 'the same from the team store, as JSON' },
  ],
  async run(o, ctx) {
    const { openHistory } = await import('../core/history/history.js');
    const { listEvaluations } = await import('../core/history/store.js');
    const { metricRows } = await import('../core/history/records.js');
    const { textTable } = await import('../core/format/markdown.js');
    const db = await openHistory(o.db, ctx, false);
    try {
      const found = await listEvaluations(db, { modelVersion: o.version, dataset: o.dataset });
      if (!found.length) {
        const { ConfigurationError } = await import('../core/errors.js');
        throw new ConfigurationError(`no evaluation of ${o.version}${o.dataset ? ` on ${o.dataset}` : ''} in ${db.target.display}`, { hint: 'list what is recorded with mlloop history trend --metric overall.f1' });
      }
      const evaluations = found.map((e) => ({ ...e, values: Object.fromEntries(metricRows(e.metrics).map((r) => [r.path, r.value])) }));
      const text = evaluations
        .map((e) =>
          [
            `${e.model_version} on ${e.dataset} — evaluation #${e.id}, ${e.created_at}`,
            `source commit ${e.source_commit ?? '—'}; run ${e.run_url ?? '—'}; config ${e.config_hash.slice(0, 12)}; ${e.samples} sample(s)`,
            textTable(['metric', 'value'], Object.entries(e.values).map(([k, v]) => [k, String(v)])),
          ].join('\n'),
        )
        .join('\n\n');
      return { exitCode: 0, data: { model_version: o.version, evaluations }, text };
    } finally {
      await db.close();
    }
  },
});
