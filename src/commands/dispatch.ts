import * as path from 'node:path';
import { defineCommand } from './define.js';

export const command = defineCommand({
  name: 'dispatch',
  summary: 'choose the GPU cluster for a training job, submit it, and fail over when it stays pending',
  description:
    'Reads the training request (job.yaml) and the clusters (clusters.yaml), collects every cluster\'s GPU state in parallel ' +
    '(nodes: allocatable GPUs and MIG slices, GPU product labels, taints; pods: GPU requests of non-terminal pods), ' +
    'filters (GPU type, a node — or enough nodes — with the free GPUs, CPU and memory, tolerated taints, the tenant\'s ' +
    'clusters, a SelfSubjectAccessReview for creating Jobs in the mapped namespace) and scores the rest (GPUs left free, ' +
    'predicted queue delay, data locality, image locality, failure rate from the ledger). It submits a batch/v1 Job or a ' +
    'Volcano Job with a deterministic name and an mlloop.io/dispatch-id label (a retried dispatch is idempotent), waits ' +
    'until its pods are scheduled, and when they stay pending past policy.pending_timeout suspends and deletes the Job, ' +
    'confirms it gone and only then submits to the next cluster. An unreachable cluster is excluded; if the cluster to ' +
    'leave stops answering, nothing is submitted elsewhere (exit 3). With --snapshot DIR it decides offline from a ' +
    'snapshot folder and prints the Job it would submit; --dry-run does the same against the live clusters. ' +
    'Exit codes: 0 submitted (or decided), 1 no cluster fits (the reasons are printed), 2 bad input, 3 API failure.',
  options: {
    request: { type: 'path', required: true, help: 'the training request (job.yaml: job_name, image, dataset, tenant, resources, entrypoint)', placeholder: 'FILE' },
    clusters: { type: 'path', required: true, help: 'clusters, tenants and policy (clusters.yaml)', placeholder: 'FILE' },
    snapshot: { type: 'path', help: 'decide offline from this snapshot folder (<dir>/<cluster>/nodes.json, pods.json) instead of the live clusters', placeholder: 'DIR' },
    state: { type: 'string', help: 'decide from the state `mlloop dispatch collect` keeps in Redis (redis://HOST:PORT/DB) instead of reading the clusters', placeholder: 'URL' },
    'allow-preemption': { type: 'boolean', help: 'when no cluster fits, plan evicting running pods of strictly lower priority (never those labelled mlloop.io/preemptible: "false"); with --dry-run or --snapshot the plan is printed, nothing is evicted' },
    'dry-run': { type: 'boolean', help: 'read the live clusters and decide, but submit nothing' },
    explain: { type: 'boolean', help: 'print the table of every cluster: each filter\'s result and each score term' },
    ledger: { type: 'path', help: 'ledger of decisions and attempts: a .jsonl file or a folder [default: policy.ledger in clusters.yaml]', placeholder: 'PATH' },
    wait: { type: 'boolean', default: true, help: 'wait until the pods are scheduled and fail over when they stay pending (--no-wait: submit and return)' },
    'pending-timeout': { type: 'duration', help: 'how long pods may stay pending before failover [default: policy.pending_timeout, 10m]' },
    'max-failovers': { type: 'integer', min: 0, max: 10, help: 'clusters to move to at most [default: policy.max_failovers, 2]' },
    'dispatch-key': { type: 'string', help: 'extra input to the dispatch id, e.g. a CI run id: the same request and key are the same dispatch', placeholder: 'KEY' },
    out: { type: 'path', help: 'also write the Job manifest (YAML) to this file', placeholder: 'FILE' },
  },
  outputs: {
    cluster: 'the chosen cluster (empty when none fits)',
    namespace: 'the namespace of the Job',
    'job-name': 'the Kubernetes name of the Job',
    'dispatch-id': 'the dispatch id (label mlloop.io/dispatch-id)',
    status: 'decided, submitted, scheduled, pending or no-fit',
  },
  examples: [
    { command: 'mlloop dispatch --request job.yaml --clusters clusters.yaml --explain', explain: 'choose, submit, wait until scheduled (failing over if needed) and show why' },
    { command: 'mlloop dispatch --snapshot docs/examples/dispatch/snapshot --request docs/examples/dispatch/job.yaml --clusters docs/examples/dispatch/clusters.yaml --explain', explain: 'decide offline from a snapshot of real GPU nodes and print the Job' },
    { command: 'mlloop dispatch --request job.yaml --clusters clusters.yaml --dry-run --json', explain: 'what would happen now, as JSON: {cluster, namespace, job, explain}' },
  ],
  async run(o, ctx) {
    const { dispatch } = await import('../core/dispatch/dispatch.js');
    const { explainText, explainMarkdown } = await import('../core/dispatch/explain.js');
    const out = await dispatch({
      requestFile: path.resolve(ctx.cwd, o.request),
      clustersFile: path.resolve(ctx.cwd, o.clusters),
      snapshotDir: o.snapshot ? path.resolve(ctx.cwd, o.snapshot) : undefined,
      stateUrl: o.state,
      allowPreemption: o.allowPreemption,
      dryRun: o.dryRun,
      wait: o.wait,
      ledger: o.ledger ? path.resolve(ctx.cwd, o.ledger) : undefined,
      dispatchKey: o.dispatchKey,
      pendingTimeoutMs: o.pendingTimeout,
      maxFailovers: o.maxFailovers,
      env: ctx.env,
      secret: (v) => ctx.secret(v),
      log: ctx.log,
      now: () => ctx.now(),
      signal: ctx.signal,
    });
    const { manifestYaml } = await import('../core/dispatch/manifest.js');
    const jobYaml = out.job ? manifestYaml(out.job) : '';
    if (o.out && out.job) {
      const { writeFileAtomic } = await import('../core/io/atomic.js');
      await writeFileAtomic(path.resolve(ctx.cwd, o.out), jobYaml);
    }
    const jobName = (out.job?.metadata?.name as string | undefined) ?? '';
    const head =
      out.status === 'no-fit'
        ? `no cluster fits ${out.dispatch_id}: ${out.explain.map((e) => `${e.cluster} (${e.reasons.join('; ')})`).join(', ')}`
        : `dispatch ${out.dispatch_id}: ${out.cluster}/${out.namespace} ${out.job?.kind ?? 'Job'} ${jobName} — ${out.status}${out.mode !== 'live' ? ` (${out.mode}, nothing submitted)` : ''}`;
    const attempts = out.attempts.length > 1 || out.attempts.some((a) => a.outcome !== 'scheduled' && a.outcome !== 'submitted')
      ? out.attempts.map((a, i) => `attempt ${i + 1}: ${a.cluster}/${a.namespace} ${a.job} — ${a.outcome}${a.detail ? ` (${a.detail})` : ''}`).join('\n')
      : '';
    const preempt = out.preemptions.length ? `preemption: evict ${out.preemptions.map((p) => `${p.namespace}/${p.pod} on ${p.node} (priority ${p.priority}, ${p.gpus} GPU${p.gpus === 1 ? '' : 's'})`).join(', ')}` : '';
    const wouldPreempt = out.status === 'no-fit' ? out.explain.filter((e) => e.preemption).map((e) => `${e.cluster}: ${e.preemption}`).join('\n') : '';
    const table = o.explain || out.status === 'no-fit' ? explainText(out.explain, out.ranking) : '';
    const text = [head, preempt, wouldPreempt, attempts, table, out.mode !== 'live' && jobYaml ? `---\n${jobYaml}` : ''].filter(Boolean).join('\n\n');
    const summary = [
      `### mlloop dispatch: ${out.status === 'no-fit' ? 'no cluster fits' : `${out.cluster}/${out.namespace} (${out.status})`}`,
      '',
      `Dispatch \`${out.dispatch_id}\`${jobName ? `, ${out.job?.kind} \`${jobName}\`` : ''}, ${out.mode}.`,
      '',
      ...(out.attempts.length ? [out.attempts.map((a, i) => `${i + 1}. ${a.cluster}/${a.namespace}: ${a.outcome}${a.detail ? ` — ${a.detail}` : ''}`).join('\n'), ''] : []),
      explainMarkdown(out.explain, out.ranking),
      '',
    ].join('\n');
    return {
      exitCode: out.status === 'no-fit' ? 1 : 0,
      failure: out.status === 'no-fit' ? `no cluster fits: ${out.explain.map((e) => `${e.cluster}: ${e.reasons.join('; ')}`).join(' | ')}` : undefined,
      data: { cluster: out.cluster, namespace: out.namespace, job: out.job, explain: out.explain, status: out.status, mode: out.mode, dispatch_id: out.dispatch_id, ranking: out.ranking, attempts: out.attempts, ledger: out.ledger, preemptions: out.preemptions },
      text,
      summary,
      outputs: { cluster: out.cluster ?? '', namespace: out.namespace ?? '', 'job-name': jobName, 'dispatch-id': out.dispatch_id, status: out.status },
    };
  },
});
