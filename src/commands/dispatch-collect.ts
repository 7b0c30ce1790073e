import * as path from 'node:path';
import { defineCommand } from './define.js';
import { textTable } from '../core/format/markdown.js';

export const command = defineCommand({
  name: 'dispatch collect',
  summary: 'keep every cluster\'s GPU state in Redis, so dispatch decisions read it instead of the clusters',
  description:
    'Lists, then watches, nodes, pods and PriorityClasses of every cluster in clusters.yaml (informers with watch ' +
    'bookmarks; a 410 Gone relists; errors reconnect with backoff) and keeps in Redis, per cluster: free GPUs per node ' +
    'and GPU type, CPU/memory/pod slots, taints and readiness, image lists, pending demand, PriorityClasses and the ' +
    'running GPU pods preemption may evict, with synced_at, a generation and a schema version. Each event rewrites ' +
    'the touched node\'s entry in one transaction. `mlloop dispatch --state redis://…` then decides from it. --once ' +
    'writes one consistent state and exits; --snapshot DIR fills Redis from a snapshot folder instead. A cluster that ' +
    'cannot be read is recorded with the API\'s answer and excluded by dispatch. Exit codes: 0 written (or stopped), ' +
    '2 bad input, 3 Redis unreachable.',
  options: {
    clusters: { type: 'path', required: true, help: 'clusters, tenants and policy (clusters.yaml)', placeholder: 'FILE' },
    redis: { type: 'string', required: true, help: 'where to keep the state: redis://[:PASSWORD@]HOST:PORT/DB (or rediss://)', placeholder: 'URL' },
    once: { type: 'boolean', help: 'write one consistent state (a list per resource) and exit' },
    snapshot: { type: 'path', help: 'fill Redis from this snapshot folder (as written by dispatch snapshot, plus optional priorityclasses.json) and exit', placeholder: 'DIR' },
  },
  examples: [
    { command: 'mlloop dispatch collect --clusters clusters.yaml --redis redis://dispatcher-redis:6379/0', explain: 'run as a service (manifests/dispatcher/)' },
    { command: 'mlloop dispatch --state redis://dispatcher-redis:6379/0 --request job.yaml --clusters clusters.yaml --explain', explain: 'then decide from the collected state' },
  ],
  async run(o, ctx) {
    const { collect } = await import('../core/dispatch/collect.js');
    const r = await collect({
      clustersFile: path.resolve(ctx.cwd, o.clusters),
      redisUrl: o.redis,
      once: o.once || Boolean(o.snapshot),
      snapshotDir: o.snapshot ? path.resolve(ctx.cwd, o.snapshot) : undefined,
      env: ctx.env,
      secret: (v) => ctx.secret(v),
      log: ctx.log,
      now: () => ctx.now(),
      signal: ctx.signal,
    });
    const rows = Object.entries(r.clusters).map(([name, c]) => [name, c.ok ? 'collected' : 'excluded', c.nodes ?? '', c.pods ?? '', c.generation ?? '', c.error ?? '']);
    return {
      exitCode: 0,
      data: r,
      text: [`state written to ${r.redis}`, textTable(['cluster', 'state', 'nodes', 'pods', 'generation', 'error'], rows)].join('\n'),
    };
  },
});
