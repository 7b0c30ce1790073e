import * as path from 'node:path';
import { ConfigurationError, ExternalError, isMlloopError } from '../errors.js';
import type { Logger } from '../log.js';
import { Prometheus } from '../rollout/prometheus.js';
import { readClusters, schedulerFor, type ClusterConfig, type DispatchConfig, type ReclaimPolicy } from './config.js';
import { DISPATCH_ID_LABEL, JOB_NAME_LABEL, type Manifest } from './manifest.js';
import { Ledger, checkLedgerWritable, type ReclaimRecord } from './ledger.js';
import { effectiveRequest, gpuResourcesOf, type K8sPod } from './state.js';
import type { ClusterClient } from './k8s.js';
import { fileStore, redisStore, type CheckStore, type ClusterChecks, type FirstCheck } from './reclaim-state.js';

/**
 * `mlloop dispatch reclaim`: finds the Jobs `mlloop dispatch` submitted whose GPUs have stayed idle
 * (DCGM exporter utilisation below policy.reclaim.max_utilisation for policy.reclaim.idle_for, every GPU's
 * samples covering the whole window) and whose pods wrote no log line in that time, and reclaims them once a
 * second check, at least policy.reclaim.confirm_after after the first, finds them idle again: a batch/v1 Job is
 * suspended, a Volcano Job deleted, and the ledger records the figures that decided it.
 *
 * It fails closed: missing or NaN samples, a window the samples do not cover, a gap in them, or a log that
 * cannot be read make a Job "unknown", never idle.
 */
export const GPU_UTIL_METRIC = 'DCGM_FI_DEV_GPU_UTIL';

export interface ReclaimOptions {
  clustersFile: string;
  prometheusUrl: string;
  /** Check and report, record first checks in the state, but change nothing in the clusters nor the ledger. */
  dryRun: boolean;
  /** Keep the checks in Redis (redis://…) instead of the state file. */
  stateUrl?: string;
  stateFile: string;
  ledger?: string;
  env: Readonly<Record<string, string | undefined>>;
  secret(value: string | undefined): void;
  log: Logger;
  now(): Date;
  signal: AbortSignal;
}

export type Verdict =
  /** Suspended or deleted by this run. */
  | 'reclaimed'
  /** --dry-run: a live run would reclaim it now. */
  | 'would-reclaim'
  /** Idle at this check, the first: reclaimed if still idle at confirm_at. */
  | 'idle-first-check'
  /** Idle again, but the first idle check is less than confirm_after ago. */
  | 'idle-unconfirmed'
  /** A GPU above max_utilisation, or a log line within idle_for. */
  | 'active'
  /** Not known to be idle (fail closed): metrics missing, NaN or not covering the window, a log not readable. */
  | 'unknown'
  /** No running pod holds its GPUs. */
  | 'not-running'
  /** Confirmed idle, but the suspend or delete request failed. */
  | 'reclaim-failed';

export interface Utilisation {
  /** Highest and mean DCGM_FI_DEV_GPU_UTIL (percent) of every sample in the window; null without samples. */
  max: number | null;
  avg: number | null;
  samples: number;
  /** GPUs with samples / GPUs the running pods request. */
  gpus_seen: number;
  gpus: number;
}

export interface JobCheck {
  cluster: string;
  namespace: string;
  job: string;
  kind: string;
  dispatch_id: string;
  job_name: string;
  tenant: string;
  pods: string[];
  gpus: number;
  verdict: Verdict;
  /** Why it is not idle, or what made it idle. */
  reasons: string[];
  utilisation: Utilisation | null;
  /** The newest log line within idle_for: its time, "none", or null when the logs were not read. */
  last_log: string | null;
  first_check: string | null;
  /** This check, when it confirmed (or would confirm) the first. */
  second_check: string | null;
  /** When a second idle check can confirm it (idle-first-check, idle-unconfirmed). */
  confirm_at: string | null;
  action: 'suspend' | 'delete';
}

export interface ClusterReport {
  cluster: string;
  ok: boolean;
  namespaces: string[];
  /** Jobs with the dispatch label that were running; finished or suspended ones are counted apart. */
  jobs: number;
  skipped: number;
  error?: string;
  warnings: string[];
}

export interface ReclaimOutcome {
  mode: 'live' | 'dry-run';
  checked_at: string;
  prometheus: string;
  state: string;
  ledger: string | null;
  policy: { max_utilisation: number; idle_for: string; confirm_after: string; max_gap: string; metric: string; labels: { namespace: string; pod: string } };
  clusters: ClusterReport[];
  jobs: JobCheck[];
  reclaimed: number;
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s || (!h && !m) ? `${s}s` : ''}`;
}

/** The namespaces `mlloop dispatch` may have put Jobs in on this cluster (as namespaceFor decides them). */
export function namespacesOf(config: DispatchConfig, cluster: ClusterConfig): string[] {
  const fallback = cluster.namespaces?.training ?? 'default';
  if (!config.tenants) return [fallback];
  const out = new Set<string>();
  for (const t of Object.values(config.tenants)) {
    if (t.clusters && !t.clusters.includes(cluster.name)) continue;
    out.add(t.namespace ?? fallback);
  }
  return [...out];
}

/** Why a Job holds no GPUs any more (finished, suspended, being deleted), or undefined while it runs. */
function notRunning(job: Manifest): string | undefined {
  if (job.metadata?.deletionTimestamp) return 'being deleted';
  if (job.apiVersion === 'batch/v1') {
    if (job.spec?.suspend === true) return 'suspended';
    const done = ((job.status?.conditions ?? []) as { type: string; status: string }[]).find((c) => ['Complete', 'Failed', 'SuccessCriteriaMet', 'FailureTarget'].includes(c.type) && c.status === 'True');
    return done ? `finished (${done.type})` : undefined;
  }
  const phase = job.status?.state?.phase as string | undefined;
  return phase && ['Completed', 'Completing', 'Failed', 'Terminated', 'Terminating', 'Aborted', 'Aborting'].includes(phase) ? `finished (${phase})` : undefined;
}

/** GPUs (whole devices and MIG slices) a pod requests. */
export function podGpus(pod: K8sPod): number {
  let n = 0;
  for (const r of gpuResourcesOf(pod)) {
    const v = effectiveRequest(pod, r);
    if (Number.isFinite(v)) n += v;
  }
  return n;
}

/** A PromQL string literal. */
const promString = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
const regexEscape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The query for the raw samples of the pods' GPUs over idle_for plus one max_gap before it. */
export function utilisationQuery(p: ReclaimPolicy, namespace: string, pods: readonly string[]): string {
  const podMatch = `^(?:${pods.map(regexEscape).join('|')})$`;
  return `${GPU_UTIL_METRIC}{${p.labels.namespace}=${promString(namespace)},${p.labels.pod}=~${promString(podMatch)}}[${p.idleForMs + p.maxGapMs}ms]`;
}

export interface Series {
  labels: Record<string, string>;
  /** [time in ms, value] */
  samples: [number, number][];
}

export function parseMatrix(data: { resultType: string; result: unknown }): Series[] {
  if (data.resultType !== 'matrix') throw new ExternalError(`Prometheus answered a range selector with a ${data.resultType}, not a matrix`);
  return (data.result as { metric: Record<string, string>; values: [number, string][] }[]).map((r) => ({
    labels: r.metric ?? {},
    samples: (r.values ?? []).map(([t, v]) => [Math.round(Number(t) * 1000), v === 'NaN' ? Number.NaN : Number(v)] as [number, number]),
  }));
}

export interface UtilisationFinding extends Utilisation {
  /** Reasons the Job is busy. */
  busy: string[];
  /** Reasons idleness cannot be established (fail closed). */
  unknown: string[];
}

/** One physical GPU: the DCGM exporter's UUID, else host and index (an exporter restart must not split it). */
function gpuIdentity(labels: Record<string, string>): string {
  if (labels.UUID) return labels.UUID;
  if (labels.gpu !== undefined) return `${labels.Hostname ?? labels.instance ?? ''}/${labels.gpu}`;
  const { __name__, job, instance, ...rest } = labels;
  void __name__;
  void job;
  void instance;
  return JSON.stringify(rest);
}

/**
 * Judges the samples of each running pod's GPUs at `now`: every GPU a pod requests must have samples from at
 * least idle_for ago until at most max_gap ago, with no gap longer than max_gap and no NaN; then the Job is
 * busy when any sample reaches max_utilisation.
 */
export function judgeUtilisation(series: readonly Series[], pods: readonly { name: string; gpus: number }[], p: ReclaimPolicy, now: number): UtilisationFinding {
  const busy: string[] = [];
  const unknown: string[] = [];
  let max = Number.NEGATIVE_INFINITY;
  let sum = 0;
  let samples = 0;
  let seen = 0;
  let gpus = 0;
  const start = now - p.idleForMs;
  const ago = (t: number) => formatMs(Math.max(0, now - t));
  for (const pod of pods) {
    gpus += pod.gpus;
    const groups = new Map<string, Map<number, number>>();
    for (const s of series) {
      if (s.labels[p.labels.pod] !== pod.name) continue;
      const id = gpuIdentity(s.labels);
      const g = groups.get(id) ?? new Map<number, number>();
      for (const [t, v] of s.samples) if (t <= now) g.set(t, g.has(t) && !Number.isNaN(g.get(t)!) ? Math.max(g.get(t)!, v) : v);
      groups.set(id, g);
    }
    if (groups.size < pod.gpus) {
      unknown.push(`pod ${pod.name}: ${GPU_UTIL_METRIC} for ${groups.size} of its ${pod.gpus} GPU${pod.gpus === 1 ? '' : 's'}${groups.size === 0 ? ' (no samples)' : ''}`);
    }
    for (const [id, g] of groups) {
      const ts = [...g.keys()].sort((a, b) => a - b);
      if (!ts.length) continue;
      seen++;
      const label = `pod ${pod.name} GPU ${id}`;
      const values = ts.map((t) => g.get(t)!);
      if (values.some((v) => !Number.isFinite(v))) unknown.push(`${label}: a sample is ${values.find((v) => !Number.isFinite(v))}`);
      if (ts[0]! > start) unknown.push(`${label}: samples cover only the last ${ago(ts[0]!)}, idle_for needs ${formatMs(p.idleForMs)}`);
      if (ts[ts.length - 1]! < now - p.maxGapMs) unknown.push(`${label}: no sample for ${ago(ts[ts.length - 1]!)} (max_gap ${formatMs(p.maxGapMs)})`);
      let gap = 0;
      for (let i = 1; i < ts.length; i++) gap = Math.max(gap, ts[i]! - ts[i - 1]!);
      if (gap > p.maxGapMs) unknown.push(`${label}: a gap of ${formatMs(gap)} between samples (max_gap ${formatMs(p.maxGapMs)})`);
      for (const v of values) {
        if (!Number.isFinite(v)) continue;
        max = Math.max(max, v);
        sum += v;
        samples++;
      }
      const top = Math.max(...values.filter((v) => Number.isFinite(v)));
      if (top >= p.maxUtilisation) busy.push(`${label}: utilisation reached ${round(top)}% (max_utilisation ${p.maxUtilisation}%)`);
    }
  }
  return { max: samples ? round(max) : null, avg: samples ? round(sum / samples) : null, samples, gpus_seen: seen, gpus, busy, unknown };
}

const round = (v: number) => Math.round(v * 100) / 100;

/** The kubelet's RFC 3339 timestamp at the start of a line written with timestamps=true. */
export function lastLogTime(text: string): { line: boolean; time?: string } {
  const lines = text.split('\n').filter((l) => l.trim());
  if (!lines.length) return { line: false };
  const stamp = lines[lines.length - 1]!.split(' ', 1)[0]!;
  const t = Date.parse(stamp);
  return { line: true, ...(Number.isNaN(t) ? {} : { time: new Date(t).toISOString() }) };
}

interface Run {
  o: ReclaimOptions;
  config: DispatchConfig;
  policy: ReclaimPolicy;
  prom: Prometheus;
  store: CheckStore;
  ledgerPath?: string;
  now: Date;
  k8s: typeof import('./k8s.js');
}

export async function reclaim(o: ReclaimOptions): Promise<ReclaimOutcome> {
  const config = await readClusters(o.clustersFile);
  const policy = config.policy.reclaim;
  const ledgerPath = o.ledger ?? config.policy.ledger;
  if (!o.dryRun && !ledgerPath) {
    throw new ConfigurationError('reclaim records every Job it suspends or deletes in the dispatch ledger, and none is configured', {
      file: o.clustersFile,
      path: '$.policy.ledger',
      hint: 'set policy.ledger in clusters.yaml or pass --ledger (or try it with --dry-run)',
    });
  }
  // A reclaim must not happen without its ledger line.
  if (!o.dryRun) await checkLedgerWritable(ledgerPath!);
  const prom = new Prometheus({ url: o.prometheusUrl, signal: o.signal, timeoutMs: config.policy.requestTimeoutMs });
  // Prometheus first: when it cannot answer, nothing else is asked (exit 3 naming it).
  await prom.instant('vector(1)');
  const k8s = await import('./k8s.js');
  const store = o.stateUrl ? await redisStore(o.stateUrl, o.now) : await fileStore(o.stateFile, o.now);
  const now = o.now();
  const run: Run = { o, config, policy, prom, store, ledgerPath, now, k8s };
  const clients: ClusterClient[] = [];
  const jobs: JobCheck[] = [];
  const reports: ClusterReport[] = [];
  const badKubeconfig = new Map<number, string>();
  try {
    // Every cluster finishes (and saves its state) before an error of one ends the run.
    const settled = await Promise.allSettled(
      config.clusters.map(async (c, i) => {
        const report: ClusterReport = { cluster: c.name, ok: false, namespaces: namespacesOf(config, c), jobs: 0, skipped: 0, warnings: [] };
        reports[i] = report;
        let client: ClusterClient;
        try {
          client = await k8s.connect(c, { env: o.env, baseDir: path.dirname(path.resolve(o.clustersFile)), secret: o.secret, timeoutMs: config.policy.requestTimeoutMs, signal: o.signal });
          clients.push(client);
        } catch (e) {
          if (e instanceof k8s.KubeconfigError) badKubeconfig.set(i, e.message);
          report.error = (e as Error).message;
          o.log.warn(`${c.name}: ${report.error}`);
          return;
        }
        try {
          const found = await checkCluster(run, c, client, report);
          jobs.push(...found);
          report.ok = true;
        } catch (e) {
          if (isMlloopError(e)) throw e;
          report.error = e instanceof k8s.UnreachableError ? e.message.replace(`${c.name}: `, '') : k8s.describeError(e, client);
          o.log.warn(`${c.name} not checked: ${report.error}`);
        }
      }),
    );
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  } finally {
    for (const c of clients) k8s.closeClient(c);
    await store.close();
  }
  if (reports.every((r) => !r.ok)) {
    if (badKubeconfig.size === config.clusters.length) {
      const [first] = [...badKubeconfig.keys()].sort((a, b) => a - b);
      throw new ConfigurationError(`no cluster could be used: ${[...badKubeconfig].map(([i, m]) => `${config.clusters[i]!.name}: ${m}`).join('; ')}`, {
        file: o.clustersFile,
        path: `$.clusters[${first}].kubeconfig`,
        hint: 'point kubeconfig at a valid file ({path, context}) or an environment variable holding one ({env}), with a context it defines',
      });
    }
    throw new ExternalError(`no cluster could be read: ${reports.map((r) => `${r.cluster}: ${r.error}`).join('; ')}`, { hint: 'check the clusters and the credentials in their kubeconfigs; nothing was reclaimed' });
  }
  const order = new Map(config.clusters.map((c, i) => [c.name, i]));
  jobs.sort((a, b) => order.get(a.cluster)! - order.get(b.cluster)! || a.namespace.localeCompare(b.namespace) || a.job.localeCompare(b.job));
  return {
    mode: o.dryRun ? 'dry-run' : 'live',
    checked_at: now.toISOString(),
    prometheus: o.prometheusUrl,
    state: store.where,
    ledger: ledgerPath ?? null,
    policy: { max_utilisation: policy.maxUtilisation, idle_for: formatMs(policy.idleForMs), confirm_after: formatMs(policy.confirmAfterMs), max_gap: formatMs(policy.maxGapMs), metric: GPU_UTIL_METRIC, labels: policy.labels },
    clusters: reports,
    jobs,
    reclaimed: jobs.filter((j) => j.verdict === 'reclaimed').length,
  };
}

/** An API call; no answer at all (refused, timed out) becomes UnreachableError, as in k8s.ts. */
async function callApi<T>(k8s: typeof import('./k8s.js'), c: ClusterClient, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (k8s.statusOf(e) === undefined) throw new k8s.UnreachableError(`${c.name}: ${k8s.describeError(e, c)}`);
    throw e;
  }
}

/** Lists the dispatched Jobs of one kind in a namespace, page by page. */
async function listJobs(run: Run, client: ClusterClient, namespace: string, api: { group: string; version: string }): Promise<Manifest[]> {
  const out: Manifest[] = [];
  let token: string | undefined;
  do {
    const page = (await callApi(run.k8s, client, () =>
      client.custom.listNamespacedCustomObject({ ...api, namespace, plural: 'jobs', labelSelector: DISPATCH_ID_LABEL, limit: 500, _continue: token }, run.k8s.reqOptions(client)),
    )) as { items?: Manifest[]; metadata?: { continue?: string } };
    for (const j of page.items ?? []) out.push({ apiVersion: `${api.group}/${api.version}`, kind: 'Job', ...j });
    token = page.metadata?.continue || undefined;
  } while (token);
  return out;
}

async function checkCluster(run: Run, c: ClusterConfig, client: ClusterClient, report: ClusterReport): Promise<JobCheck[]> {
  const { k8s, o } = run;
  const apis = [{ group: 'batch', version: 'v1' }, ...(schedulerFor(run.config, c) === 'volcano' ? [{ group: 'batch.volcano.sh', version: 'v1alpha1' }] : [])];
  const running: Manifest[] = [];
  for (const ns of report.namespaces) {
    for (const api of apis) {
      let list: Manifest[];
      try {
        list = await listJobs(run, client, ns, api);
      } catch (e) {
        // One namespace the credentials may not read (403) does not hide the others; an unreachable cluster does.
        if (e instanceof k8s.UnreachableError) throw e;
        report.warnings.push(`jobs.${api.group} in ${ns}: ${k8s.describeError(e, client)}`);
        continue;
      }
      for (const job of list) {
        if (notRunning(job)) report.skipped++;
        else running.push(job);
      }
    }
  }
  report.jobs = running.length;
  const previous = await run.store.load(c.name);
  const next: ClusterChecks = new Map();
  const out: JobCheck[] = [];
  let lost: string | undefined;
  for (const job of running) {
    if (lost) {
      out.push(skippedCheck(c, job, `not checked: ${c.name} stopped answering (${lost})`));
      continue;
    }
    try {
      out.push(await checkJob(run, c, client, job, previous, next));
    } catch (e) {
      if (!(e instanceof k8s.UnreachableError)) throw e;
      // The Jobs reclaimed so far stay reported and recorded; the rest are not known to be idle.
      lost = e.message.replace(`${c.name}: `, '');
      report.warnings.push(`stopped answering: ${lost}`);
      out.push(skippedCheck(c, job, `not checked: ${c.name} stopped answering (${lost})`));
    }
  }
  await run.store.save(c.name, next);
  o.log.progress(`${c.name}: ${running.length} running Job${running.length === 1 ? '' : 's'} checked, ${out.filter((j) => j.verdict === 'reclaimed').length} reclaimed`);
  return out;
}

/**
 * Suspends (batch/v1: JSON patch of spec.suspend) or deletes (Volcano: propagationPolicy Foreground) the Job that
 * was checked — both with its uid as a precondition (a JSON patch `test`, DeleteOptions.preconditions), so a Job
 * created under the same name in the meantime is never touched.
 */
async function act(run: Run, client: ClusterClient, job: Manifest, volcano: boolean): Promise<void> {
  const api = run.k8s.jobApi(job);
  const { namespace, name, uid } = job.metadata as { namespace: string; name: string; uid?: string };
  if (volcano) {
    await callApi(run.k8s, client, () =>
      client.custom.deleteNamespacedCustomObject({ ...api, namespace, name, propagationPolicy: 'Foreground', ...(uid ? { body: { preconditions: { uid } } } : {}) }, run.k8s.reqOptions(client)),
    );
    return;
  }
  const body = [...(uid ? [{ op: 'test', path: '/metadata/uid', value: uid }] : []), { op: 'add', path: '/spec/suspend', value: true }];
  await callApi(run.k8s, client, () => client.custom.patchNamespacedCustomObject({ ...api, namespace, name, body }, run.k8s.reqOptions(client)));
}

/** A Job that could not be checked: unknown, with the reason. */
function skippedCheck(c: ClusterConfig, job: Manifest, why: string): JobCheck {
  const labels = (job.metadata?.labels ?? {}) as Record<string, string>;
  return {
    cluster: c.name,
    namespace: job.metadata.namespace as string,
    job: job.metadata.name as string,
    kind: `${job.apiVersion} Job`,
    dispatch_id: labels[DISPATCH_ID_LABEL] ?? '',
    job_name: (job.metadata.annotations?.['mlloop.io/job-name'] as string | undefined) ?? labels[JOB_NAME_LABEL] ?? (job.metadata.name as string),
    tenant: labels['mlloop.io/tenant'] ?? '',
    pods: [],
    gpus: 0,
    verdict: 'unknown',
    reasons: [why],
    utilisation: null,
    last_log: null,
    first_check: null,
    second_check: null,
    confirm_at: null,
    action: job.apiVersion === 'batch/v1' ? 'suspend' : 'delete',
  };
}

async function checkJob(run: Run, c: ClusterConfig, client: ClusterClient, job: Manifest, previous: ClusterChecks, next: ClusterChecks): Promise<JobCheck> {
  const { k8s, policy, now, o } = run;
  const namespace = job.metadata.namespace as string;
  const name = job.metadata.name as string;
  const labels = (job.metadata.labels ?? {}) as Record<string, string>;
  const id = labels[DISPATCH_ID_LABEL] ?? '';
  const volcano = job.apiVersion !== 'batch/v1';
  const check: JobCheck = { ...skippedCheck(c, job, ''), reasons: [] };
  const unknown = (why: string) => {
    check.verdict = 'unknown';
    check.reasons.push(why);
    return check;
  };

  // The running pods of this dispatch and the GPUs they hold.
  const pods: K8sPod[] = [];
  try {
    for await (const p of k8s.pagedPods(client, { namespace, labelSelector: `${DISPATCH_ID_LABEL}=${id}`, fieldSelector: 'status.phase=Running' })) pods.push(p);
  } catch (e) {
    if (e instanceof k8s.UnreachableError) throw e;
    return unknown(`its pods cannot be listed: ${k8s.describeError(e, client)}`);
  }
  const podGpu = pods.map((p) => ({ name: p.metadata!.name!, gpus: podGpus(p), pod: p }));
  check.pods = podGpu.map((p) => p.name);
  check.gpus = podGpu.reduce((a, p) => a + p.gpus, 0);
  if (!pods.length) {
    check.verdict = 'not-running';
    check.reasons.push('no running pod');
    return check;
  }
  if (check.gpus === 0) return unknown('its running pods request no GPUs');

  // GPU utilisation over the window (raw samples, so coverage, gaps and NaN can be judged).
  let finding: UtilisationFinding;
  try {
    const data = await run.prom.instant(utilisationQuery(policy, namespace, check.pods), now);
    finding = judgeUtilisation(parseMatrix(data), podGpu, policy, now.getTime());
  } catch (e) {
    return unknown(`Prometheus: ${(e as Error).message.split('\n')[0]}`);
  }
  const { busy, unknown: missing, ...figures } = finding;
  check.utilisation = figures;
  if (busy.length) {
    check.verdict = 'active';
    check.reasons.push(...busy);
    return check;
  }
  if (missing.length) {
    check.verdict = 'unknown';
    check.reasons.push(...missing);
    if (figures.gpus_seen === 0) {
      check.reasons.push(`no ${GPU_UTIL_METRIC} series has ${policy.labels.namespace}="${namespace}" and ${policy.labels.pod} naming its pods: is the DCGM exporter's pod mapping on, and do the labels match policy.reclaim.labels (exported_namespace/exported_pod when the scrape config renamed them)?`);
    }
    return check;
  }

  // The pods' logs: any line within idle_for means the job is doing something.
  const sinceSeconds = Math.ceil(policy.idleForMs / 1000);
  let newest: string | undefined;
  let wrote = false;
  for (const p of podGpu) {
    const spec = p.pod.spec ?? {};
    const containers = [...(spec.containers ?? []), ...(spec.initContainers ?? []).filter((ic) => (ic as { restartPolicy?: string }).restartPolicy === 'Always')].map((x) => (x as { name: string }).name);
    for (const container of containers) {
      let text: string;
      try {
        text = await callApi(k8s, client, () => client.core.readNamespacedPodLog({ name: p.name, namespace, container, sinceSeconds, tailLines: 1, timestamps: true }, k8s.reqOptions(client)));
      } catch (e) {
        if (e instanceof k8s.UnreachableError) throw e;
        return unknown(`the log of pod ${p.name} (container ${container}) cannot be read: ${k8s.describeError(e, client)}`);
      }
      const last = lastLogTime(String(text ?? ''));
      if (last.line) {
        wrote = true;
        if (last.time && (!newest || last.time > newest)) newest = last.time;
        check.reasons.push(`pod ${p.name} (container ${container}) wrote a log line ${last.time ? `at ${last.time}` : ''} within idle_for ${formatMs(policy.idleForMs)}`.replace('  ', ' '));
      }
    }
  }
  check.last_log = wrote ? (newest ?? 'within idle_for') : 'none';
  if (wrote) {
    check.verdict = 'active';
    return check;
  }

  // Idle now. Reclaimed only when an earlier idle check is at least confirm_after old.
  const key = `${namespace}/${job.apiVersion}/${name}`;
  const uid = (job.metadata.uid as string | undefined) ?? '';
  const before = previous.get(key);
  const first: FirstCheck = before && before.uid === uid ? before : { uid, dispatch_id: id, first_check: now.toISOString(), utilisation_max: figures.max ?? 0, utilisation_avg: figures.avg ?? 0 };
  check.first_check = first.first_check;
  const firstAt = Date.parse(first.first_check);
  const idleWhy = `every GPU below ${policy.maxUtilisation}% (max ${figures.max}%, mean ${figures.avg}%) and no log line for ${formatMs(policy.idleForMs)}`;
  if (first !== before || now.getTime() - firstAt < policy.confirmAfterMs) {
    next.set(key, first);
    check.verdict = first !== before ? 'idle-first-check' : 'idle-unconfirmed';
    check.confirm_at = new Date(firstAt + policy.confirmAfterMs).toISOString();
    check.reasons.push(`${idleWhy}; ${first !== before ? 'first idle check' : `first idle check ${formatMs(now.getTime() - firstAt)} ago, confirm_after is ${formatMs(policy.confirmAfterMs)}`}`);
    return check;
  }
  check.second_check = now.toISOString();
  check.reasons.push(`${idleWhy}; idle at ${first.first_check} and again now`);
  if (o.dryRun) {
    next.set(key, first);
    check.verdict = 'would-reclaim';
    return check;
  }
  try {
    await act(run, client, job, volcano);
  } catch (e) {
    const status = e instanceof k8s.UnreachableError ? undefined : k8s.statusOf(e);
    if (status === 404) {
      check.verdict = 'not-running';
      check.reasons.push('the Job was gone before it could be reclaimed');
      return check;
    }
    if (uid && (status === 409 || status === 422)) {
      // The precondition on the uid failed: the name now belongs to another Job, which starts over.
      check.verdict = 'unknown';
      check.reasons.push(`the Job was replaced since it was checked (${k8s.describeError(e, client)}); the new one starts over`);
      return check;
    }
    next.set(key, first);
    check.verdict = 'reclaim-failed';
    check.reasons.push(`${volcano ? 'delete' : 'suspend'} failed: ${e instanceof k8s.UnreachableError ? e.message : k8s.describeError(e, client)}`);
    o.log.warn(`${c.name}/${namespace}/${name}: ${check.reasons[check.reasons.length - 1]}`);
    return check;
  }
  check.verdict = 'reclaimed';
  o.log.info(`${volcano ? 'deleted' : 'suspended'} idle ${check.kind} ${c.name}/${namespace}/${name} (${check.gpus} GPU${check.gpus === 1 ? '' : 's'})`);
  const record: ReclaimRecord = {
    action: volcano ? 'deleted' : 'suspended',
    gpus: check.gpus,
    utilisation_max: figures.max ?? 0,
    utilisation_avg: figures.avg ?? 0,
    window: formatMs(policy.idleForMs),
    max_utilisation: policy.maxUtilisation,
    last_log: check.last_log,
    first_check: first.first_check,
    second_check: check.second_check,
  };
  await new Ledger(run.ledgerPath!, id || name).append({
    time: now.toISOString(),
    job_name: check.job_name,
    tenant: check.tenant,
    event: 'reclaimed',
    cluster: c.name,
    namespace,
    job: name,
    kind: check.kind,
    detail: `${record.action}: GPU utilisation max ${record.utilisation_max}%, mean ${record.utilisation_avg}% over ${record.window} (below ${policy.maxUtilisation}%), last log ${record.last_log}, idle at ${record.first_check} and ${record.second_check}`,
    reclaim: record,
  });
  return check;
}
