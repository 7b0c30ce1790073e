import * as path from 'node:path';
import { ConfigurationError, ExternalError } from '../errors.js';
import type { Logger } from '../log.js';
import { readClusters, readJobRequest, dispatchId, jobObjectName, namespaceFor, schedulerFor, tenantOf, type DispatchConfig, type JobRequest } from './config.js';
import { decide, type ClusterExplain, type ClusterInput, type Decision } from './decide.js';
import { DISPATCH_ID_LABEL, loadTemplate, renderJob, type Manifest } from './manifest.js';
import { Ledger, readLedger, type LedgerEntry } from './ledger.js';
import { loadClusterSnapshot, readSnapshotIndex } from './snapshot.js';
import { normalizeImage } from './state.js';
import type { ClusterClient } from './k8s.js';
import type { Preemption, PreemptionInput } from './preempt.js';
import type { Victim } from './redis-state.js';

/**
 * `mlloop dispatch`: read the request and the clusters, collect state (live or from a snapshot),
 * decide, render the Job, and — live — submit it, wait until its pods are scheduled and fail over
 * when they stay pending, never leaving the job submitted in two clusters.
 */
export interface DispatchOptions {
  requestFile: string;
  clustersFile: string;
  snapshotDir?: string;
  /** Decide from the collector's state in Redis (redis://…). */
  stateUrl?: string;
  /** When nothing fits, plan evicting running pods of strictly lower priority. */
  allowPreemption?: boolean;
  dryRun: boolean;
  wait: boolean;
  ledger?: string;
  dispatchKey?: string;
  pendingTimeoutMs?: number;
  maxFailovers?: number;
  env: Readonly<Record<string, string | undefined>>;
  secret(value: string | undefined): void;
  log: Logger;
  now(): Date;
  signal: AbortSignal;
}

export interface Attempt {
  cluster: string;
  namespace: string;
  job: string;
  outcome: 'scheduled' | 'submitted' | 'already-submitted' | 'pending-timeout' | 'submit-failed' | 'left-pending';
  detail?: string;
}

export type DispatchStatus = 'decided' | 'no-fit' | 'submitted' | 'scheduled' | 'pending';

export interface DispatchOutcome {
  status: DispatchStatus;
  mode: 'snapshot' | 'dry-run' | 'live';
  dispatch_id: string;
  cluster: string | null;
  namespace: string | null;
  job: Manifest | null;
  explain: ClusterExplain[];
  ranking: string[];
  attempts: Attempt[];
  ledger: string | null;
  /** The pods to evict (--allow-preemption), empty otherwise. */
  preemptions: Preemption[];
}

export const ACCESS = {
  kubernetes: { group: 'batch', resource: 'jobs' },
  volcano: { group: 'batch.volcano.sh', resource: 'jobs' },
} as const;

interface Loaded {
  request: JobRequest;
  config: DispatchConfig;
  id: string;
  namespaces: Record<string, string>;
  allowed?: string[];
}

async function load(o: DispatchOptions): Promise<Loaded> {
  const [request, config] = await Promise.all([readJobRequest(o.requestFile), readClusters(o.clustersFile)]);
  const tenant = tenantOf(config, request.file.tenant, o.requestFile);
  const namespaces: Record<string, string> = {};
  for (const c of config.clusters) namespaces[c.name] = namespaceFor(config, c, request.file.tenant, o.requestFile);
  if (o.pendingTimeoutMs !== undefined) config.policy.pendingTimeoutMs = o.pendingTimeoutMs;
  if (o.maxFailovers !== undefined) config.policy.maxFailovers = o.maxFailovers;
  return { request, config, id: dispatchId(request.file, o.dispatchKey ?? ''), namespaces, ...(tenant.clusters ? { allowed: tenant.clusters } : {}) };
}

function tolerationsOf(l: Loaded) {
  return [...l.config.policy.tolerations, ...(l.request.file.tolerations ?? [])];
}

async function renderFor(l: Loaded, target: ClusterExplain): Promise<Manifest> {
  const cluster = l.config.clusters.find((c) => c.name === target.cluster)!;
  const scheduler = schedulerFor(l.config, cluster);
  const { object } = await loadTemplate(l.config.policy, scheduler);
  return renderJob({
    template: object,
    scheduler,
    request: l.request,
    id: l.id,
    name: jobObjectName(l.request.file.job_name, l.id),
    namespace: target.namespace,
    target,
    policy: l.config.policy,
    queue: cluster.queue ?? l.config.policy.queue,
  });
}

export async function dispatch(o: DispatchOptions): Promise<DispatchOutcome> {
  const clients = new Map<string, ClusterClient>();
  try {
    return await run(o, clients);
  } finally {
    if (clients.size) {
      const { closeClient } = await import('./k8s.js');
      for (const c of clients.values()) closeClient(c);
    }
  }
}

async function run(o: DispatchOptions, clients: Map<string, ClusterClient>): Promise<DispatchOutcome> {
  const l = await load(o);
  const { config, request } = l;
  const image = normalizeImage(request.file.image);
  const ledgerPath = o.ledger ?? config.policy.ledger;
  const ledgerInfo = await readLedger(ledgerPath, l.id, o.now(), config.policy.failureWindowMs);
  const base = { dispatch_id: l.id, ledger: ledgerPath ?? null, attempts: [] as Attempt[], preemptions: [] as Preemption[] };
  // What preemption needs besides the state: running GPU pods per node and the PriorityClasses, per cluster.
  const extra = new Map<string, { victims: Map<string, Victim[]>; priorityClasses: Record<string, number> }>();

  let inputs: ClusterInput[];
  if (o.snapshotDir) {
    const index = await readSnapshotIndex(o.snapshotDir);
    inputs = [];
    for (const [i, c] of config.clusters.entries()) {
      const recorded = index?.clusters[c.name];
      if (recorded && !recorded.ok) {
        inputs.push({ name: c.name, error: `not captured: ${recorded.error ?? 'unreachable'}` });
        continue;
      }
      const scheduler = schedulerFor(config, c);
      const observer = await preemptionObserver(o.snapshotDir, c.name);
      inputs.push(await loadClusterSnapshot(o.snapshotDir, c.name, { image, access: { namespace: l.namespaces[c.name]!, ...ACCESS[scheduler] }, observe: observer?.extras }));
      if (observer) extra.set(c.name, { victims: observer.extras.victims, priorityClasses: observer.priorityClasses });
      o.log.progress(`[${i + 1}/${config.clusters.length}] ${c.name}: snapshot read`);
    }
  } else if (o.stateUrl) {
    inputs = await readRedisState(l, o, image);
    for (const i of inputs as (ClusterInput & PreemptionInput)[]) if (i.state) extra.set(i.name, { victims: new Map(), priorityClasses: i.priorityClasses ?? {} });
  } else {
    inputs = await collectLive(l, o, image, clients, extra);
  }

  const decision: Decision = decide({
    request,
    config,
    clusters: inputs,
    namespaces: l.namespaces,
    allowed: l.allowed,
    failures: ledgerInfo.failures,
    tolerations: tolerationsOf(l),
    offline: Boolean(o.snapshotDir || o.stateUrl),
  });
  const mode = o.snapshotDir ? 'snapshot' : o.dryRun ? 'dry-run' : 'live';
  const ledger = mode === 'live' && ledgerPath ? new Ledger(ledgerPath, l.id) : undefined;
  const note = (entry: Omit<LedgerEntry, 'schema' | 'dispatch_id' | 'time' | 'job_name' | 'tenant'>) =>
    ledger?.append({ time: o.now().toISOString(), job_name: request.file.job_name, tenant: request.file.tenant, ...entry });

  let preempting: Preemption[] = [];
  if (!decision.cluster && extra.size) {
    const { planCluster, planPreemption } = await import('./preempt.js');
    const capacityOnly = decision.explain.filter((e) => e.checks.capacity.pass === false && Object.entries(e.checks).every(([k, c]) => k === 'capacity' || c.pass !== false));
    // From Redis, the running pods are read only now, and only on nodes of the requested GPU type.
    if (o.stateUrl) {
      const { openStateReader, readVictims } = await import('./redis-state.js');
      const client = await openStateReader(o.stateUrl);
      try {
        // All clusters at once: their reads share one pipeline (one round trip, not one per cluster).
        await Promise.all(
          capacityOnly.map(async (e) => {
            const state = inputs.find((i) => i.name === e.cluster)?.state;
            const x = extra.get(e.cluster);
            if (state && x) x.victims = await readVictims(client, e.cluster, state);
          }),
        );
      } finally {
        await client.quit().catch(() => undefined);
      }
    }
    const plans = capacityOnly.map((e) => {
      const input = inputs.find((i) => i.name === e.cluster)!;
      const x = extra.get(e.cluster);
      const plan = planCluster({ ...input, ...(x ? { victims: x.victims, priorityClasses: x.priorityClasses } : {}) }, request, config, tolerationsOf(l), (n) => l.namespaces[n]!);
      e.preemption = plan.detail;
      return plan;
    });
    const best = o.allowPreemption ? planPreemption(plans, new Map(config.clusters.map((c, i) => [c.name, i]))) : undefined;
    if (best) {
      const e = decision.explain.find((x) => x.cluster === best.cluster)!;
      preempting = best.victims!;
      decision.cluster = e.cluster;
      decision.namespace = e.namespace;
      decision.ranking = [e.cluster];
    }
  }
  base.preemptions = preempting;
  const resume = mode === 'live' && ledgerInfo.live && config.clusters.some((c) => c.name === ledgerInfo.live!.cluster) ? ledgerInfo.live : undefined;
  if (!decision.cluster && !resume) {
    await note({ event: 'no-fit', cluster: null, detail: decision.explain.map((e) => `${e.cluster}: ${e.reasons.join('; ')}`).join(' | ') });
    return { ...base, status: 'no-fit', mode, cluster: null, namespace: null, job: null, explain: decision.explain, ranking: [] };
  }
  const first = decision.explain.find((e) => e.cluster === (resume?.cluster ?? decision.cluster))!;
  if (mode !== 'live') {
    const job = await renderFor(l, first);
    return { ...base, status: 'decided', mode, cluster: first.cluster, namespace: first.namespace, job, explain: decision.explain, ranking: decision.ranking };
  }

  await note({ event: 'decided', cluster: decision.cluster, namespace: decision.namespace, score: first.score, ranking: decision.ranking, ...(resume ? { detail: `resuming the submission to ${resume.cluster} recorded in the ledger` } : preempting.length ? { detail: first.preemption } : {}) });
  if (preempting.length && !resume) await evictVictims(l, o, first.cluster, preempting, clients, note);
  const { submitAndWatch } = await import('./submit.js');
  const result = await submitAndWatch({ l, o, decision, first, resume, clients, render: (t: ClusterExplain) => renderFor(l, t), note, attempts: base.attempts });
  return { ...base, ...result, mode, explain: decision.explain, ranking: decision.ranking };
}

/** Evicts the victims (Eviction API, their own grace period), records each, and waits until they are gone before the Job is submitted. */
async function evictVictims(l: Loaded, o: DispatchOptions, cluster: string, victims: readonly Preemption[], clients: Map<string, ClusterClient>, note: (e: Omit<LedgerEntry, 'schema' | 'dispatch_id' | 'time' | 'job_name' | 'tenant'>) => Promise<void> | undefined): Promise<void> {
  const { connect, evictPod, waitPodsGone, describeError } = await import('./k8s.js');
  const cfg = l.config.clusters.find((c) => c.name === cluster)!;
  let c = clients.get(cluster);
  try {
    if (!c) {
      c = await connect(cfg, { env: o.env, baseDir: path.dirname(path.resolve(o.clustersFile)), secret: o.secret, timeoutMs: l.config.policy.requestTimeoutMs, signal: o.signal });
      clients.set(cluster, c);
    }
    for (const v of victims) {
      await evictPod(c, v.namespace, v.pod);
      await note({ event: 'preempted', cluster, namespace: v.namespace, detail: `evicted ${v.namespace}/${v.pod} on ${v.node} (priority ${v.priority}, ${v.gpus} GPU${v.gpus === 1 ? '' : 's'})` });
    }
    const gone = await waitPodsGone(c, victims.map((v) => ({ namespace: v.namespace, name: v.pod })), Date.now() + l.config.policy.pendingTimeoutMs, Date.now);
    if (!gone) throw new ExternalError(`the evicted pods on ${cluster} are not gone after ${Math.round(l.config.policy.pendingTimeoutMs / 1000)}s; nothing submitted`);
  } catch (e) {
    if (e instanceof ExternalError) throw e;
    throw new ExternalError(`preemption on ${cluster} failed: ${describeError(e, { name: cluster, timeoutMs: l.config.policy.requestTimeoutMs })}; nothing submitted`);
  }
}

/** Preemption's view of a snapshot cluster: an observer for the running GPU pods, and priorityclasses.json. */
async function preemptionObserver(dir: string, cluster: string) {
  const { existsSync } = await import('node:fs');
  const file = path.join(dir, cluster, 'priorityclasses.json');
  if (!existsSync(file)) return undefined;
  const { readJson } = await import('../io/read.js');
  const { Extras, priorityMap } = await import('./collect.js');
  const list = (await readJson(file, 'PriorityClass list')) as { items?: [] } | null;
  return { extras: new Extras(), priorityClasses: priorityMap(list?.items ?? []) };
}

/** The collector's state: the same ClusterState the live and snapshot readers build, for the requested GPU type. */
async function readRedisState(l: Loaded, o: DispatchOptions, image: string): Promise<ClusterInput[]> {
  const { openStateReader, readClusters: readRedis } = await import('./redis-state.js');
  const client = await openStateReader(o.stateUrl!);
  try {
    const { config } = l;
    const queried = config.clusters.filter((c) => !l.allowed || l.allowed.includes(c.name)).map((c) => c.name);
    const read = await readRedis(client, queried, {
      request: l.request,
      image,
      access: (name) => ({ namespace: l.namespaces[name]!, ...ACCESS[schedulerFor(config, config.clusters.find((c) => c.name === name)!)] }),
      now: o.now(),
      maxAgeMs: config.policy.maxStateAgeMs,
      url: o.stateUrl!,
    });
    const byName = new Map(read.map((r) => [r.name, r]));
    return config.clusters.map((c) => byName.get(c.name) ?? { name: c.name, error: 'not queried: the tenant may not use it' });
  } finally {
    await client.quit().catch(() => undefined);
  }
}

async function collectLive(l: Loaded, o: DispatchOptions, image: string, clients: Map<string, ClusterClient>, preemptionData?: Map<string, { victims: Map<string, Victim[]>; priorityClasses: Record<string, number> }>): Promise<ClusterInput[]> {
  const { connect, collectState, KubeconfigError, describeError } = await import('./k8s.js');
  const { config } = l;
  const baseDir = path.dirname(path.resolve(o.clustersFile));
  let done = 0;
  const badKubeconfig = new Map<number, string>();
  let queried = 0;
  const inputs = await Promise.all(
    config.clusters.map(async (c, i): Promise<ClusterInput> => {
      if (l.allowed && !l.allowed.includes(c.name)) return { name: c.name, error: 'not queried: the tenant may not use it' };
      queried++;
      try {
        const client = await connect(c, { env: o.env, baseDir, secret: o.secret, timeoutMs: config.policy.requestTimeoutMs, signal: o.signal });
        clients.set(c.name, client);
        const observer = o.allowPreemption ? new (await import('./collect.js')).Extras() : undefined;
        const input = await collectState(client, { image, access: { namespace: l.namespaces[c.name]!, ...ACCESS[schedulerFor(config, c)] }, observe: observer });
        if (observer) {
          const api = client.kc.makeApiClient(client.k8s.SchedulingV1Api);
          const { priorityMap } = await import('./collect.js');
          const list = await api.listPriorityClass({}, (await import('./k8s.js')).reqOptions(client)).catch(() => ({ items: [] }));
          preemptionData?.set(c.name, { victims: observer.victims, priorityClasses: priorityMap(list.items as never) });
        }
        o.log.progress(`[${++done}/${config.clusters.length}] ${c.name}: ${input.state!.nodes.length} nodes, ${input.state!.podCount} pods`);
        return input;
      } catch (e) {
        if (e instanceof KubeconfigError) badKubeconfig.set(i, e.message);
        const reason = e instanceof KubeconfigError ? e.message : e instanceof Error && e.constructor.name === 'UnreachableError' ? e.message.replace(`${c.name}: `, '') : describeError(e, { name: c.name, timeoutMs: config.policy.requestTimeoutMs });
        o.log.warn(`${c.name} excluded: ${reason}`);
        done++;
        return { name: c.name, error: reason };
      }
    }),
  );
  // Every cluster's kubeconfig is wrong (malformed, missing, no such context): the user's input, not an outage.
  if (queried > 0 && badKubeconfig.size === queried) {
    const [first] = [...badKubeconfig.keys()].sort((a, b) => a - b);
    throw new ConfigurationError(`no cluster could be used: ${[...badKubeconfig].map(([i, m]) => `${config.clusters[i]!.name}: ${m}`).join('; ')}`, {
      file: o.clustersFile,
      path: `$.clusters[${first}].kubeconfig`,
      hint: 'point kubeconfig at a valid file ({path, context}) or an environment variable holding one ({env}), with a context it defines',
    });
  }
  return inputs;
}

export type { Loaded };
export { ConfigurationError, ExternalError, DISPATCH_ID_LABEL };
