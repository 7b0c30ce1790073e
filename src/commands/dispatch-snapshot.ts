import * as path from 'node:path';
import { defineCommand } from './define.js';
import { textTable } from '../core/format/markdown.js';

export const command = defineCommand({
  name: 'dispatch snapshot',
  summary: 'capture the GPU state of every cluster into a snapshot folder, for offline dispatch decisions',
  description:
    'Reads every cluster in clusters.yaml in parallel and writes <out>/<cluster>/nodes.json and pods.json in ' +
    '`kubectl get -o json` form (pods: the non-terminal ones, with the fields the dispatcher reads), access.json ' +
    '(SelfSubjectAccessReview results for creating Jobs in each mapped namespace) and <out>/snapshot.json (when, and ' +
    'which clusters could not be read). `mlloop dispatch --snapshot <out>` then decides offline: what-if questions and ' +
    'replays of past decisions. Files are written to temp names and renamed only at the end. Exit codes: 0 written ' +
    '(unreachable clusters are listed), 2 bad input, 3 no cluster could be read.',
  options: {
    clusters: { type: 'path', required: true, help: 'clusters, tenants and policy (clusters.yaml)', placeholder: 'FILE' },
    out: { type: 'path', required: true, help: 'the snapshot folder to write', placeholder: 'DIR' },
  },
  examples: [
    { command: 'mlloop dispatch snapshot --clusters clusters.yaml --out snapshots/$(date +%F)', explain: 'capture today\'s state of every cluster' },
    { command: 'mlloop dispatch --snapshot snapshots/2025-06-12 --request job.yaml --clusters clusters.yaml --explain', explain: 'then decide offline against it' },
  ],
  async run(o, ctx) {
    const { capture } = await import('../core/dispatch/capture.js');
    const out = path.resolve(ctx.cwd, o.out);
    const r = await capture({ clustersFile: path.resolve(ctx.cwd, o.clusters), outDir: out, env: ctx.env, secret: (v) => ctx.secret(v), log: ctx.log, now: () => ctx.now(), signal: ctx.signal });
    const rows = Object.entries(r.index.clusters).map(([name, c]) => [name, c.ok ? 'captured' : 'not captured', c.nodes ?? '', c.pods ?? '', c.error ?? '']);
    return {
      exitCode: 0,
      data: { out, ...r.index },
      text: [`snapshot written to ${path.relative(ctx.cwd, out) || '.'}`, textTable(['cluster', 'state', 'nodes', 'pods', 'error'], rows)].join('\n'),
    };
  },
});
