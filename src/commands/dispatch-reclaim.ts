import * as path from 'node:path';
import { defineCommand } from './define.js';
import { textTable } from '../core/format/markdown.js';

export const command = defineCommand({
  name: 'dispatch reclaim',
  summary: 'suspend (or delete) dispatched training Jobs whose GPUs have stayed idle, after two checks confirm it',
  description:
    'Finds the running Jobs mlloop dispatch submitted (label mlloop.io/dispatch-id) in every cluster of clusters.yaml and ' +
    'checks each: the DCGM exporter\'s DCGM_FI_DEV_GPU_UTIL for every GPU of its running pods, read from Prometheus, stayed ' +
    'below policy.reclaim.max_utilisation (10%) for policy.reclaim.idle_for (15m) with samples covering the whole window, ' +
    'and no pod wrote a log line in that time. A Job is reclaimed only when a second check, at least ' +
    'policy.reclaim.confirm_after (5m) after the first, finds it idle again: a batch/v1 Job is suspended (spec.suspend), ' +
    'a Volcano Job deleted, and the dispatch ledger records the figures. The first checks are kept in a state file ' +
    '(--reclaim-state) or, with --state redis://…, in Redis. It fails closed: missing or NaN samples, a window the samples ' +
    'do not cover, or a log that cannot be read make a Job "unknown", never idle. --dry-run records first checks but ' +
    'changes nothing in the clusters nor the ledger. Run it on a schedule; runs sharing a state hold a lock, one at a ' +
    'time. Exit codes: 0 checked (whatever was found), 2 bad input, 3 Prometheus, Redis or every cluster unreachable, ' +
    'another run holds the lock, or a reclaim request failed.',
  options: {
    prometheus: { type: 'string', required: true, help: 'the Prometheus that scrapes the DCGM exporters (base URL, e.g. http://prometheus.monitoring:9090)', placeholder: 'URL' },
    clusters: { type: 'path', required: true, help: 'clusters, tenants and policy (clusters.yaml; policy.reclaim sets the thresholds)', placeholder: 'FILE' },
    state: { type: 'string', help: 'keep the checks in Redis (redis://[:PASSWORD@]HOST:PORT/DB) instead of --reclaim-state', placeholder: 'URL' },
    'reclaim-state': { type: 'path', default: 'mlloop-reclaim-state.json', help: 'the file keeping the first idle checks between runs (without --state)', placeholder: 'FILE' },
    ledger: { type: 'path', help: 'the dispatch ledger (.jsonl file or folder) that records every reclaim [default: policy.ledger in clusters.yaml]', placeholder: 'PATH' },
    'dry-run': { type: 'boolean', help: 'check and report, and record first checks, but suspend or delete nothing and write no ledger entry' },
  },
  outputs: {
    reclaimed: 'how many Jobs were suspended or deleted',
    idle: 'how many Jobs are idle and wait for their confirming check (or would be reclaimed, with --dry-run)',
  },
  examples: [
    { command: 'mlloop dispatch reclaim --prometheus http://prometheus.monitoring:9090 --clusters clusters.yaml --dry-run', explain: 'what would be reclaimed now, and why' },
    { command: 'mlloop dispatch reclaim --prometheus http://prometheus.monitoring:9090 --clusters clusters.yaml --state redis://dispatcher-redis:6379/0 --json', explain: 'every 5 minutes from a CronJob, the checks kept in Redis' },
  ],
  async run(o, ctx) {
    const { reclaim } = await import('../core/dispatch/reclaim.js');
    const r = await reclaim({
      clustersFile: path.resolve(ctx.cwd, o.clusters),
      prometheusUrl: o.prometheus,
      dryRun: o.dryRun,
      stateUrl: o.state,
      stateFile: path.resolve(ctx.cwd, o.reclaimState),
      ledger: o.ledger ? path.resolve(ctx.cwd, o.ledger) : undefined,
      env: ctx.env,
      secret: (v) => ctx.secret(v),
      log: ctx.log,
      now: () => ctx.now(),
      signal: ctx.signal,
    });
    const idle = r.jobs.filter((j) => j.verdict === 'idle-first-check' || j.verdict === 'idle-unconfirmed' || j.verdict === 'would-reclaim').length;
    const failed = r.jobs.filter((j) => j.verdict === 'reclaim-failed');
    const util = (j: (typeof r.jobs)[number]) => (j.utilisation?.max == null ? '' : `${j.utilisation.max}% / ${j.utilisation.avg}%`);
    const rows = r.jobs.map((j) => [`${j.cluster}/${j.namespace}/${j.job}`, j.gpus, util(j), j.last_log ?? '', j.verdict, j.reasons.join('; ')]);
    const head =
      r.mode === 'dry-run'
        ? `dry run: ${r.jobs.filter((j) => j.verdict === 'would-reclaim').length} Job(s) would be reclaimed, ${r.jobs.length} checked (nothing changed in the clusters)`
        : `${r.reclaimed} Job(s) reclaimed, ${r.jobs.length} checked`;
    const clusterNotes = r.clusters.filter((c) => !c.ok || c.warnings.length).map((c) => `${c.cluster}: ${c.ok ? c.warnings.join('; ') : `not checked (${c.error})`}`);
    const text = [head, rows.length ? textTable(['job', 'GPUs', 'util max / mean', 'last log', 'verdict', 'why'], rows) : '', ...clusterNotes].filter(Boolean).join('\n');
    const summary = [
      `### mlloop dispatch reclaim${r.mode === 'dry-run' ? ' (dry run)' : ''}`,
      '',
      head,
      '',
      ...(rows.length ? ['| job | GPUs | util max / mean | last log | verdict |', '| :-- | --: | :-- | :-- | :-- |', ...r.jobs.map((j) => `| \`${j.cluster}/${j.namespace}/${j.job}\` | ${j.gpus} | ${util(j)} | ${j.last_log ?? ''} | ${j.verdict} |`), ''] : []),
    ].join('\n');
    if (failed.length) {
      const { ExternalError } = await import('../core/errors.js');
      ctx.log.info(text);
      throw new ExternalError(`reclaiming ${failed.map((j) => `${j.cluster}/${j.namespace}/${j.job}`).join(', ')} failed: ${failed.map((j) => j.reasons[j.reasons.length - 1]).join('; ')}`, {
        hint: 'the Jobs stay as they were; the next run tries again while they stay idle',
      });
    }
    return { exitCode: 0, data: r, text, summary, outputs: { reclaimed: r.reclaimed, idle } };
  },
});
