import * as path from 'node:path';
import { existsSync } from 'node:fs';
import type { ClusterConfig } from './config.js';
import { ClusterStateBuilder, type K8sNode, type K8sPod } from './state.js';
import type { ClusterInput } from './decide.js';
import type { Manifest } from './manifest.js';
import { accessDetail, type StateObserver } from './snapshot.js';
import { proxyFor } from '../http/proxy.js';

/**
 * One @kubernetes/client-node client per cluster (loaded on first use). Every request carries a
 * time-out; an error without an HTTP status (refused, reset, timed out) marks the cluster
 * unreachable, which callers treat differently from an API answer such as 403 or 409.
 */
type ClientNode = typeof import('@kubernetes/client-node');

export interface ClusterClient {
  name: string;
  k8s: ClientNode;
  kc: import('@kubernetes/client-node').KubeConfig;
  core: import('@kubernetes/client-node').CoreV1Api;
  custom: import('@kubernetes/client-node').CustomObjectsApi;
  authz: import('@kubernetes/client-node').AuthorizationV1Api;
  timeoutMs: number;
  signal: AbortSignal;
  /** The HTTP agents of this client's requests (client-node makes one per request), destroyed by close(). */
  agents: Set<{ destroy(): void }>;
}

/** Drops every connection of a client: an aborted request to a slow cluster must not keep the process alive. */
export function closeClient(c: ClusterClient): void {
  for (const a of c.agents) a.destroy();
  c.agents.clear();
}

export class UnreachableError extends Error {}

/** The kubeconfig of a cluster could not be loaded: the cluster is excluded with this reason. */
export class KubeconfigError extends Error {}

export async function connect(
  cluster: ClusterConfig,
  opts: { env: Readonly<Record<string, string | undefined>>; baseDir: string; secret(v: string | undefined): void; timeoutMs: number; signal: AbortSignal },
): Promise<ClusterClient> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  const ref = cluster.kubeconfig;
  if (!ref) throw new KubeconfigError('no kubeconfig in clusters.yaml (add kubeconfig: {path, context} or {env})');
  let where: string;
  try {
    if (ref.env) {
      const value = opts.env[ref.env];
      if (!value) throw new KubeconfigError(`environment variable ${ref.env} is not set`);
      opts.secret(value);
      where = `$${ref.env}`;
      if (/\n|^\s*(apiVersion|\{)/.test(value)) kc.loadFromString(value);
      else kc.loadFromFile(resolvePath(value, opts));
    } else {
      const file = resolvePath(ref.path!, opts);
      where = file;
      if (!existsSync(file)) throw new KubeconfigError(`kubeconfig ${file} not found`);
      kc.loadFromFile(file);
    }
  } catch (e) {
    if (e instanceof KubeconfigError) throw e;
    // The parser's message may quote the file; say only where.
    throw new KubeconfigError(`kubeconfig ${ref.env ? `in $${ref.env}` : ref.path} is not a valid kubeconfig`);
  }
  for (const u of kc.getUsers()) {
    opts.secret(u.token);
    opts.secret(u.keyData);
    opts.secret(u.password);
    const cfg = (u.authProvider as { config?: Record<string, string> } | undefined)?.config;
    opts.secret(cfg?.['access-token']);
    opts.secret(cfg?.['id-token']);
    opts.secret(cfg?.['refresh-token']);
  }
  if (ref.context) {
    if (!kc.getContextObject(ref.context)) throw new KubeconfigError(`context "${ref.context}" is not in kubeconfig ${where}`);
    kc.setCurrentContext(ref.context);
  }
  const current = kc.getCurrentCluster();
  if (!current) throw new KubeconfigError(`kubeconfig ${where} has no current cluster`);
  // The kubeconfig's own proxy-url wins; else the one proxy setting of every request (HTTPS_PROXY, NO_PROXY).
  const proxyUrl = current.proxyUrl ? undefined : proxyFor(current.server);
  if (proxyUrl) kc.clusters = kc.clusters.map((c) => (c === current ? { ...c, proxyUrl } : c));
  return {
    name: cluster.name,
    k8s,
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
    authz: kc.makeApiClient(k8s.AuthorizationV1Api),
    timeoutMs: opts.timeoutMs,
    signal: opts.signal,
    agents: new Set(),
  };
}

function resolvePath(p: string, opts: { env: Readonly<Record<string, string | undefined>>; baseDir: string }): string {
  const home = opts.env.HOME ?? '';
  const expanded = p === '~' ? home : p.startsWith('~/') ? path.join(home, p.slice(2)) : p;
  return path.resolve(opts.baseDir, expanded);
}

/**
 * Per-request options: a time-out (and the caller's abort signal), plus an optional header. One
 * AbortController per request, held by this closure: composite AbortSignal.any() signals can be
 * collected before they fire on Node 20, which would leave a request to a slow cluster unbounded.
 */
export function reqOptions(c: ClusterClient, header?: [string, string]): import('@kubernetes/client-node').ConfigurationOptions {
  const ctl = new AbortController();
  const onAbort = () => ctl.abort();
  let timer: NodeJS.Timeout | undefined;
  const { Observable } = c.k8s;
  return {
    middleware: [
      {
        pre: (ctx) => {
          timer = setTimeout(() => ctl.abort(), c.timeoutMs);
          timer.unref();
          if (c.signal.aborted) ctl.abort();
          else c.signal.addEventListener('abort', onAbort, { once: true });
          ctx.setSignal(ctl.signal);
          const agent = ctx.getAgent();
          if (agent) c.agents.add(agent);
          if (header) ctx.setHeaderParam(header[0], header[1]);
          return new Observable(Promise.resolve(ctx));
        },
        post: (r) => {
          clearTimeout(timer);
          c.signal.removeEventListener('abort', onAbort);
          return new Observable(Promise.resolve(r));
        },
      },
    ],
    middlewareMergeStrategy: 'append',
  };
}

/** The HTTP status of an API error, or undefined when the server never answered. */
export function statusOf(e: unknown): number | undefined {
  const code = (e as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

/** A short reason for an error, without bodies that could carry request details. */
export function describeError(e: unknown, c: { name: string; timeoutMs: number }): string {
  const status = statusOf(e);
  if (status !== undefined) {
    const body = (e as { body?: unknown }).body;
    let msg = '';
    try {
      const parsed = typeof body === 'string' ? JSON.parse(body) : body;
      msg = (parsed as { message?: string })?.message ?? '';
    } catch {
      /* not JSON */
    }
    return `HTTP ${status}${msg ? `: ${msg}` : ''}`;
  }
  const err = e as { name?: string; code?: string; message?: string; type?: string };
  if (err?.name === 'AbortError' || err?.name === 'TimeoutError' || err?.type === 'aborted') return `no answer within ${Math.round(c.timeoutMs / 1000)}s`;
  const code = err?.code ?? (err as { errno?: string })?.errno;
  if (code || err?.name === 'FetchError' || err?.type === 'system') return `unreachable${code ? ` (${code})` : ''}`;
  // Client-side failures (TLS settings, bad certificates): say what, not "unreachable".
  return `no answer: ${String(err?.message ?? e).split('\n')[0]}`;
}

async function call<T>(c: ClusterClient, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (statusOf(e) === undefined) throw new UnreachableError(`${c.name}: ${describeError(e, c)}`);
    throw e;
  }
}

const PAGE = 500;

export async function* pagedNodes(c: ClusterClient): AsyncGenerator<K8sNode> {
  let token: string | undefined;
  do {
    const page = await call(c, () => c.core.listNode({ limit: PAGE, _continue: token }, reqOptions(c)));
    for (const n of page.items) yield n as unknown as K8sNode;
    token = page.metadata?._continue || undefined;
  } while (token);
}

export const NON_TERMINAL = 'status.phase!=Succeeded,status.phase!=Failed';

export async function* pagedPods(c: ClusterClient, q: { fieldSelector?: string; labelSelector?: string; namespace?: string } = {}): AsyncGenerator<K8sPod> {
  let token: string | undefined;
  do {
    const params = { limit: PAGE, _continue: token, fieldSelector: q.fieldSelector, labelSelector: q.labelSelector };
    const page = q.namespace
      ? await call(c, () => c.core.listNamespacedPod({ ...params, namespace: q.namespace! }, reqOptions(c)))
      : await call(c, () => c.core.listPodForAllNamespaces(params, reqOptions(c)));
    for (const p of page.items) yield p as unknown as K8sPod;
    token = page.metadata?._continue || undefined;
  } while (token);
}

export async function accessReview(c: ClusterClient, a: { namespace: string; group: string; resource: string }): Promise<{ allowed: boolean; reason: string }> {
  const body = {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SelfSubjectAccessReview',
    spec: { resourceAttributes: { namespace: a.namespace, verb: 'create', group: a.group, resource: a.resource } },
  };
  const r = await call(c, () => c.authz.createSelfSubjectAccessReview({ body }, reqOptions(c)));
  const allowed = r.status?.allowed === true && r.status?.denied !== true;
  return { allowed, reason: accessDetail({ ...a, allowed, reason: r.status?.reason }) };
}

/** Reads a cluster's state live: nodes, non-terminal pods (streamed, folded per node) and the access review. */
export async function collectState(client: ClusterClient, opts: { image?: string; access: { namespace: string; group: string; resource: string }; observe?: StateObserver }): Promise<ClusterInput> {
  const builder = new ClusterStateBuilder(client.name, opts.image);
  // The reads run in parallel; the first failure stops the others (no more requests to an excluded cluster).
  const stop = new AbortController();
  const forward = () => stop.abort();
  client.signal.addEventListener('abort', forward, { once: true });
  const c: ClusterClient = { ...client, signal: stop.signal };
  try {
    const [access] = await Promise.all([
      accessReview(c, opts.access),
      (async () => {
        for await (const n of pagedNodes(c)) {
          builder.addNode(n);
          opts.observe?.node(n);
        }
        for await (const p of pagedPods(c, { fieldSelector: NON_TERMINAL })) {
          builder.addPod(p);
          opts.observe?.pod(p);
        }
      })(),
    ]).catch((e: unknown) => {
      stop.abort();
      throw e;
    });
    builder.setAccess(access);
    return { name: client.name, state: builder.build() };
  } finally {
    client.signal.removeEventListener('abort', forward);
  }
}

export function jobApi(manifest: Manifest): { group: string; version: string; plural: string } {
  const [group, version] = String(manifest.apiVersion).split('/') as [string, string];
  return { group, version, plural: 'jobs' };
}

export type CreateOutcome = { created: true } | { created: false; existing: Manifest };

/** Creates the Job; on 409 returns the existing object so the caller can compare dispatch ids. */
export async function createJob(c: ClusterClient, manifest: Manifest): Promise<CreateOutcome> {
  const api = jobApi(manifest);
  const namespace = manifest.metadata.namespace as string;
  try {
    await call(c, () => c.custom.createNamespacedCustomObject({ ...api, namespace, body: manifest }, reqOptions(c)));
    return { created: true };
  } catch (e) {
    if (statusOf(e) !== 409) throw e;
    const existing = await getJob(c, manifest);
    if (!existing) throw e;
    return { created: false, existing };
  }
}

export async function getJob(c: ClusterClient, manifest: Manifest): Promise<Manifest | undefined> {
  const api = jobApi(manifest);
  try {
    return (await call(c, () => c.custom.getNamespacedCustomObject({ ...api, namespace: manifest.metadata.namespace, name: manifest.metadata.name }, reqOptions(c)))) as Manifest;
  } catch (e) {
    if (statusOf(e) === 404) return undefined;
    throw e;
  }
}

/** Suspends a batch/v1 Job (its pods are deleted and no new ones start); Volcano Jobs are deleted directly. */
export async function suspendJob(c: ClusterClient, manifest: Manifest): Promise<void> {
  const api = jobApi(manifest);
  await call(c, () =>
    c.custom.patchNamespacedCustomObject({ ...api, namespace: manifest.metadata.namespace, name: manifest.metadata.name, body: [{ op: 'add', path: '/spec/suspend', value: true }] }, reqOptions(c)),
  );
}

export async function deleteJob(c: ClusterClient, manifest: Manifest): Promise<void> {
  const api = jobApi(manifest);
  try {
    await call(c, () =>
      c.custom.deleteNamespacedCustomObject({ ...api, namespace: manifest.metadata.namespace, name: manifest.metadata.name, propagationPolicy: 'Foreground' }, reqOptions(c)),
    );
  } catch (e) {
    if (statusOf(e) !== 404) throw e;
  }
}

export interface PodProgress {
  total: number;
  scheduled: number;
  failed: number;
}

export function podProgress(pods: Iterable<K8sPod & { status?: { conditions?: { type: string; status: string }[] } }>): PodProgress {
  let total = 0;
  let scheduled = 0;
  let failed = 0;
  for (const p of pods) {
    total++;
    if (p.status?.phase === 'Failed') failed++;
    else if (p.spec?.nodeName || p.status?.conditions?.some((x) => x.type === 'PodScheduled' && x.status === 'True')) scheduled++;
  }
  return { total, scheduled, failed };
}

/**
 * Waits until `replicas` pods of the dispatch are scheduled, or the deadline passes: a list, then a
 * watch from its resourceVersion; a dropped watch is re-listed. Returns the last progress seen.
 */
export async function waitScheduled(
  c: ClusterClient,
  q: { namespace: string; labelSelector: string; replicas: number; deadline: number; now: () => number; onProgress?: (p: PodProgress) => void },
): Promise<{ scheduled: boolean; progress: PodProgress }> {
  const watch = new c.k8s.Watch(c.kc);
  let progress: PodProgress = { total: 0, scheduled: 0, failed: 0 };
  while (q.now() < q.deadline && !c.signal.aborted) {
    const pods = new Map<string, K8sPod>();
    let rv: string | undefined;
    try {
      const list = await call(c, () => c.core.listNamespacedPod({ namespace: q.namespace, labelSelector: q.labelSelector }, reqOptions(c)));
      for (const p of list.items) pods.set(p.metadata!.name!, p as unknown as K8sPod);
      rv = list.metadata?.resourceVersion;
    } catch (e) {
      if (!(e instanceof UnreachableError)) throw e;
      await sleep(Math.min(2000, Math.max(0, q.deadline - q.now())), c.signal);
      continue;
    }
    progress = podProgress(pods.values());
    q.onProgress?.(progress);
    if (progress.scheduled >= q.replicas) return { scheduled: true, progress };
    const remaining = q.deadline - q.now();
    if (remaining <= 0) break;
    const done = await new Promise<boolean>((resolve) => {
      let settled = false;
      const finish = (v: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        c.signal.removeEventListener('abort', onAbort);
        void ctl.then((a) => a?.abort()).catch(() => undefined);
        resolve(v);
      };
      const timer = setTimeout(() => finish(false), remaining);
      const onAbort = () => finish(false);
      c.signal.addEventListener('abort', onAbort);
      const ctl = watch
        .watch(
          `/api/v1/namespaces/${q.namespace}/pods`,
          { labelSelector: q.labelSelector, resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds: Math.max(1, Math.ceil(remaining / 1000)) },
          (type, obj: K8sPod & { metadata?: { name?: string } }) => {
            const name = obj?.metadata?.name;
            if (!name || type === 'BOOKMARK') return;
            if (type === 'DELETED') pods.delete(name);
            else pods.set(name, obj);
            progress = podProgress(pods.values());
            q.onProgress?.(progress);
            if (progress.scheduled >= q.replicas) finish(true);
          },
          () => finish(false),
        )
        .catch(() => {
          finish(false);
          return undefined;
        });
    });
    if (done) return { scheduled: true, progress };
    if (q.now() < q.deadline) await sleep(Math.min(500, Math.max(0, q.deadline - q.now())), c.signal);
  }
  return { scheduled: false, progress };
}

/** Evicts a pod through the Eviction API (its own grace period, PodDisruptionBudgets respected); a 404 means it is gone already. */
export async function evictPod(c: ClusterClient, namespace: string, name: string): Promise<void> {
  const body = { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace } };
  try {
    await call(c, () => c.core.createNamespacedPodEviction({ name, namespace, body }, reqOptions(c)));
  } catch (e) {
    if (statusOf(e) !== 404) throw e;
  }
}

/** Polls until the pods are gone (404), or the deadline passes. */
export async function waitPodsGone(c: ClusterClient, pods: readonly { namespace: string; name: string }[], deadline: number, now: () => number): Promise<boolean> {
  let left = [...pods];
  while (now() < deadline) {
    const still: typeof left = [];
    for (const p of left) {
      try {
        await call(c, () => c.core.readNamespacedPod({ name: p.name, namespace: p.namespace }, reqOptions(c)));
        still.push(p);
      } catch (e) {
        if (statusOf(e) !== 404) throw e;
      }
    }
    left = still;
    if (left.length === 0) return true;
    await sleep(Math.min(1000, Math.max(0, deadline - now())), c.signal);
  }
  return false;
}

/** Polls until the Job and its pods are gone (404 and no pods with the dispatch label). */
export async function waitGone(c: ClusterClient, manifest: Manifest, labelSelector: string, deadline: number, now: () => number): Promise<boolean> {
  while (now() < deadline) {
    const job = await getJob(c, manifest);
    if (!job) {
      let left = 0;
      try {
        for await (const _ of pagedPods(c, { namespace: manifest.metadata.namespace, labelSelector })) left++;
      } catch (e) {
        // 404: the namespace itself is gone, and its pods with it.
        if (statusOf(e) !== 404) throw e;
      }
      if (left === 0) return true;
    }
    await sleep(Math.min(1000, Math.max(0, deadline - now())), c.signal);
  }
  return false;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}
