import { defineCommand } from './define.js';
import { ConfigurationError } from '../core/errors.js';

/** Where the lineage lives: the GitOps repository (shared with `lineage record`). */
export const gitopsRepoOptions = {
  repo: { type: 'string', required: true, help: 'the GitOps repository: URL or local path', placeholder: 'URL|PATH' },
  branch: { type: 'string', default: 'main', help: 'branch of the GitOps repository' },
  token: { type: 'string', secret: true, env: 'GITOPS_TOKEN', help: 'HTTPS token for the GitOps repository [default: $GITOPS_TOKEN]', placeholder: 'TOKEN' },
} as const;

export const command = defineCommand({
  name: 'lineage',
  summary: 'which data trained a model, and which models used a file (and whether its labels changed since)',
  description:
    'Reads the lineage records and audit log that `mlloop lineage record` (and ct relabel) append under lineage/ in the GitOps ' +
    'repository. With --model it lists what trained the model: datasets, data files with their sha256, samples with the version ' +
    'of their labels, job, template, commit, and the chain of models it was fine-tuned from; also where it was evaluated and ' +
    'deployed. With --file (a sample\'s file id or a data file path) it lists the models trained on it, the label version each ' +
    'used, whether a newer label version exists (the model learned labels that were corrected since), and the file\'s audit trail.',
  options: {
    ...gitopsRepoOptions,
    model: { type: 'string', help: 'list the data that trained this model id', placeholder: 'MODEL' },
    file: { type: 'string', help: 'list the models that used this file id or data file path', placeholder: 'FILE_ID' },
  },
  outputs: {
    models: 'with --file: comma-separated models trained on the file',
    'newer-label': 'with --file: true when a model used labels of the file that have a newer version since',
    samples: 'with --model: number of samples the model was trained on',
  },
  examples: [
    { command: 'mlloop lineage --repo git@github.com:acme/gitops.git --model ocr-v3.3', explain: 'the datasets, files, samples and parent models behind ocr-v3.3' },
    { command: 'mlloop lineage --repo ../gitops --file uuid-123 --json', explain: 'which models learned from uuid-123, and whether its labels were corrected after' },
  ],
  async run(o, ctx) {
    if (!o.model === !o.file) throw new ConfigurationError('pass exactly one of --model or --file', { hint: 'e.g. mlloop lineage --repo R --model ocr-v3.3' });
    const { remoteFrom, displayUrl } = await import('../core/gitops/git.js');
    const remote = remoteFrom({ url: o.repo, branch: o.branch, token: o.token }, ctx.env, (v) => ctx.secret(v));
    const { readLineage } = await import('../core/lineage/store.js');
    const { modelLineage, fileLineage } = await import('../core/lineage/records.js');
    const { textTable, mdTable } = await import('../core/format/markdown.js');
    ctx.log.progress(`reading lineage from ${displayUrl(remote.url)}`);
    const { records, audit, commit } = await readLineage({ remote, env: ctx.env, log: ctx.log, cwd: ctx.cwd, signal: ctx.signal });
    if (o.model) {
      const m = modelLineage(records, o.model);
      const t = m.trained_on;
      const chain = m.chain.map((c) => `${c.model}${c.mode ? ` (${c.mode})` : ''}`).join(' ← ');
      const text = m.records.length
        ? [
            `${o.model}: ${m.records.length} lineage record(s) at ${commit.slice(0, 7)}`,
            `trained from: ${chain}`,
            `datasets: ${t.datasets.map((d) => `${d.id}${d.version ? `@${d.version}` : ''}`).join(', ') || '—'}; ${t.samples.length} sample(s); jobs: ${t.jobs.filter(Boolean).join(', ') || '—'}; templates: ${t.templates.filter(Boolean).join(', ') || '—'}; commits: ${t.commits.filter(Boolean).map((c) => c!.slice(0, 12)).join(', ') || '—'}`,
            t.files.length ? textTable(['file', 'sha256'], t.files.map((f) => [f.path, f.sha256.slice(0, 16)])) : '',
            m.evaluated_on.length ? `evaluated on: ${m.evaluated_on.map((e) => `${e.dataset ?? '?'} (${e.samples} samples)`).join(', ')}` : '',
            m.deployed.length ? `deployed: ${m.deployed.map((d) => `${d.env ?? '?'} at ${d.time}`).join(', ')}` : '',
          ]
            .filter(Boolean)
            .join('\n')
        : `no lineage records for model ${o.model}`;
      return {
        exitCode: 0,
        data: { ...m, repo_commit: commit },
        text,
        summary: `### mlloop lineage: ${o.model}\n\n${text.split('\n')[0]}\n\n${t.files.length ? mdTable(['file', 'sha256'], t.files.map((f) => [f.path, f.sha256])) : ''}\n`,
        outputs: { models: '', 'newer-label': false, samples: t.samples.length },
      };
    }
    const f = fileLineage(records, audit, o.file!);
    const rows = f.models.map((x) => [x.model_id, x.time, x.label_version ?? '—', x.newer_label_version ? 'yes' : 'no']);
    const stale = f.models.some((x) => x.newer_label_version);
    const text = f.models.length || f.audit.length
      ? [
          `${o.file}: used by ${f.models.length} model(s); latest label version ${f.latest_label_version ?? '—'}${stale ? ' — some models were trained on older labels' : ''}`,
          rows.length ? textTable(['model', 'trained at', 'label version', 'newer label exists'], rows) : '',
          f.audit.length ? textTable(['time', 'actor', 'action'], f.audit.map((a) => [a.timestamp, a.actor, a.action])) : '',
        ]
          .filter(Boolean)
          .join('\n')
      : `no lineage records mention ${o.file}`;
    return {
      exitCode: 0,
      data: { ...f, repo_commit: commit },
      text,
      summary: `### mlloop lineage: ${o.file}\n\n${rows.length ? mdTable(['model', 'trained at', 'label version', 'newer label exists'], rows) : text}\n`,
      outputs: { models: f.models.map((x) => x.model_id).join(','), 'newer-label': stale, samples: 0 },
    };
  },
});
