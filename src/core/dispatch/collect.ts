import * as path from 'node:path';
import { existsSync } from 'node:fs';
import { ConfigurationError } from '../errors.js';
import type { Logger } from '../log.js';
import { readJson } from '../io/read.js';
import { readClusters, type ClusterConfig, type DispatchConfig } from './config.js';
import { accessTargets } from './capture.js';
import { loadClusterSnapshot, readSnapshotIndex, type AccessRecord, type StateObserver } from './snapshot.js';
import { ClusterStateBuilder, effectiveRequest, isGpuResource, isTerminal, nodeProblem, nodeState, normalizeImage, type ClusterState, type K8sNode, type K8sPod, type NodeState } from './state.js';
import { indexNodes, intern, openRedis, maskUrl, touchSynced, typeKey, writeError, writeFull, writeUpdate, StateIndex, type ClusterInfo, type FullState, type Victim } from './redis-state.js';
import type { ClusterClient } from './k8s.js';

/**
 * `mlloop dispatch collect`: keeps every cluster's dispatch state in Redis. With --once (or --snapshot) one
 * consistent read per cluster is written and the command exits; otherwise informers (list, then watch with
 * bookmarks; a 410 Gone relists; errors reconnect with backoff) keep it current, one node's entry per event.
 * Pods are folded into node usage by ClusterStateBuilder, the same code the live and snapshot readers use.
 */
export interface CollectOptions {
  clustersFile: string;
  redisUrl: string;
  once: boolean;
  snapshotDir?: string;
  env: Readonly<Record<string, string | undefined>>;
  secret(v: string | undefined): void;
  log: Logger;
  now(): Date;
  signal: AbortSignal;
  /** How long events are gathered before one write (watch mode). */
  flushMs?: number;
  /** How often synced_at is refreshed while the watches are alive. */
  heartbeatMs?: number;
}

export interface CollectResult {
  redis: string;
  clusters: Record<string, { ok: boolean; error?: string; nodes?: number; pods?: number; generation?: number }>;
}

export const PREEMPTIBLE_LABEL = 'mlloop.io/preemptible';

interface PodExtra {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  spec?: { priority?: number };
  status?: { startTime?: string };
}

/** A running pod holding GPUs that preemption may evict (never one labelled mlloop.io/preemptible: "false"). */
export function victimOf(pod: K8sPod): Victim | undefined {
  if (isTerminal(pod) || !pod.spec?.nodeName) return undefined;
  const p = pod as K8sPod & PodExtra;
  if (p.metadata?.labels?.[PREEMPTIBLE_LABEL] === 'false') return undefined;
  const resources = new Set<string>();
  for (const c of [...(pod.spec.containers ?? []), ...(pod.spec.initContainers ?? [])]) {
    for (const k of [...Object.keys(c.resources?.requests ?? {}), ...Object.keys(c.resources?.limits ?? {})]) if (isGpuResource(k)) resources.add(k);
  }
  for (const r of resources) {
    const gpus = effectiveRequest(pod, r);
    if (gpus > 0) return [p.metadata?.namespace ?? '', p.metadata?.name ?? '', p.spec?.priority ?? 0, p.status?.startTime ?? '', gpus, r];
  }
  return undefined;
}

export function imagesOf(node: K8sNode): Set<string> {
  const out = new Set<string>();
  for (const img of node.status?.images ?? []) for (const n of img.names ?? []) out.add(normalizeImage(n));
  return out;
}

/** Collects the image lists and preemptible pods a reader's fold does not keep. */
export class Extras implements StateObserver {
  readonly images = new Map<string, Set<string>>();
  readonly victims = new Map<string, Victim[]>();
  node(n: K8sNode): void {
    const name = n.metadata?.name;
    if (name && !this.images.has(name)) this.images.set(name, imagesOf(n));
  }
  pod(p: K8sPod): void {
    const v = victimOf(p);
    if (!v) return;
    const list = this.victims.get(p.spec!.nodeName!);
    if (list) list.push(v);
    else this.victims.set(p.spec!.nodeName!, [v]);
  }
}

function infoOf(state: ClusterState, access: AccessRecord[], priorityClasses: Record<string, number>): ClusterInfo {
  const types = new Map<string, [string, ClusterInfo['types'][number][1], number]>();
  for (const [t, n] of state.gpuTotals) {
    const k = typeKey(t);
    const cur = types.get(k);
    if (cur) cur[2] += n;
    else types.set(k, [k, t, n]);
  }
  return {
    nodes: state.nodeCount ?? state.nodes.length,
    pods: state.podCount,
    pending_pods: state.pendingPods,
    pending_gpu: Object.fromEntries(state.pendingGpu),
    excluded: state.excluded,
    types: [...types.values()],
    access,
    priority_classes: priorityClasses,
  };
}

function fullOf(state: ClusterState, extras: Extras, access: AccessRecord[], priorityClasses: Record<string, number>, at: string): FullState {
  return {
    info: infoOf(state, access, priorityClasses),
    index: indexNodes(state.nodes.map((n, i) => ({ name: n.name, ordinal: i, state: n, images: extras.images.get(n.name) ?? [], victims: extras.victims.get(n.name) ?? [] }))),
    syncedAt: at,
  };
}

export function priorityMap(items: readonly { metadata?: { name?: string }; value?: number }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const pc of items) if (pc?.metadata?.name && typeof pc.value === 'number') out[pc.metadata.name] = pc.value;
  return out;
}

export async function collect(o: CollectOptions): Promise<CollectResult> {
  const config = await readClusters(o.clustersFile);
  if (o.snapshotDir) {
    const index = await readSnapshotIndex(o.snapshotDir);
    const client = await openRedis(o.redisUrl);
    try {
      return await fromSnapshot(o, config, client, index);
    } finally {
      await client.quit().catch(() => undefined);
    }
  }
  const client = await openRedis(o.redisUrl, { reconnect: !o.once });
  try {
    if (o.once) return await liveOnce(o, config, client);
    return await watchAll(o, config, client);
  } finally {
    if (client.isOpen) await client.quit().catch(() => undefined);
  }
}

type Redis = Awaited<ReturnType<typeof openRedis>>;

async function fromSnapshot(o: CollectOptions, config: DispatchConfig, client: Redis, index: Awaited<ReturnType<typeof readSnapshotIndex>>): Promise<CollectResult> {
  const result: CollectResult = { redis: maskUrl(o.redisUrl), clusters: {} };
  const at = o.now().toISOString();
  for (const [i, c] of config.clusters.entries()) {
    const recorded = index?.clusters[c.name];
    if (recorded && !recorded.ok) {
      const error = `not captured: ${recorded.error ?? 'unreachable'}`;
      await writeError(client, c.name, error, at);
      result.clusters[c.name] = { ok: false, error };
      continue;
    }
    const extras = new Extras();
    const input = await loadClusterSnapshot(o.snapshotDir!, c.name, { observe: extras });
    if (!input.state) {
      await writeError(client, c.name, input.error!, at);
      result.clusters[c.name] = { ok: false, error: input.error };
      continue;
    }
    const folder = path.join(o.snapshotDir!, c.name);
    const access = existsSync(path.join(folder, 'access.json')) ? ((await readJson(path.join(folder, 'access.json'), 'access record')) as AccessRecord[]) : [];
    if (!Array.isArray(access)) throw new ConfigurationError('access.json must be a JSON array', { file: path.join(folder, 'access.json') });
    let pcs: Record<string, number> = {};
    const pcFile = path.join(folder, 'priorityclasses.json');
    if (existsSync(pcFile)) pcs = priorityMap(((await readJson(pcFile, 'PriorityClass list')) as { items?: [] })?.items ?? []);
    const generation = await writeFull(client, c.name, fullOf(input.state, extras, access, pcs, at));
    result.clusters[c.name] = { ok: true, nodes: input.state.nodes.length, pods: input.state.podCount, generation };
    o.log.progress(`[${i + 1}/${config.clusters.length}] ${c.name}: ${input.state.nodes.length} nodes, ${input.state.podCount} pods written`);
  }
  return result;
}

async function connectAll(o: CollectOptions, config: DispatchConfig) {
  const k8s = await import('./k8s.js');
  const baseDir = path.dirname(path.resolve(o.clustersFile));
  return { k8s, connect: (c: ClusterConfig) => k8s.connect(c, { env: o.env, baseDir, secret: o.secret, timeoutMs: config.policy.requestTimeoutMs, signal: o.signal }) };
}

function reasonOf(k8s: typeof import('./k8s.js'), e: unknown, c: ClusterConfig, timeoutMs: number): string {
  if (e instanceof k8s.KubeconfigError || e instanceof k8s.UnreachableError) return e.message.replace(`${c.name}: `, '');
  return k8s.describeError(e, { name: c.name, timeoutMs });
}

async function accessRecords(k8s: typeof import('./k8s.js'), cc: ClusterClient, config: DispatchConfig, c: ClusterConfig): Promise<AccessRecord[]> {
  const out: AccessRecord[] = [];
  for (const a of accessTargets(config, c)) {
    const r = await k8s.accessReview(cc, a);
    out.push({ ...a, verb: 'create', allowed: r.allowed, reason: r.reason });
  }
  return out;
}

async function listPriorityClasses(k8s: typeof import('./k8s.js'), cc: ClusterClient): Promise<Record<string, number>> {
  const api = cc.kc.makeApiClient(cc.k8s.SchedulingV1Api);
  const list = await api.listPriorityClass({}, k8s.reqOptions(cc));
  return priorityMap(list.items as never);
}

async function liveOnce(o: CollectOptions, config: DispatchConfig, client: Redis): Promise<CollectResult> {
  const { k8s, connect } = await connectAll(o, config);
  const result: CollectResult = { redis: maskUrl(o.redisUrl), clusters: {} };
  await Promise.all(
    config.clusters.map(async (c) => {
      let cc: ClusterClient | undefined;
      try {
        cc = await connect(c);
        const extras = new Extras();
        const input = await k8s.collectState(cc, { access: { namespace: c.namespaces?.training ?? 'default', group: 'batch', resource: 'jobs' }, observe: extras });
        const [access, pcs] = await Promise.all([accessRecords(k8s, cc, config, c), listPriorityClasses(k8s, cc)]);
        const generation = await writeFull(client, c.name, fullOf(input.state!, extras, access, pcs, o.now().toISOString()));
        result.clusters[c.name] = { ok: true, nodes: input.state!.nodes.length, pods: input.state!.podCount, generation };
        o.log.progress(`${c.name}: ${input.state!.nodes.length} nodes, ${input.state!.podCount} pods written`);
      } catch (e) {
        if (isRedisFailure(e)) throw e;
        const error = reasonOf(k8s, e, c, config.policy.requestTimeoutMs);
        o.log.warn(`${c.name} excluded: ${error}`);
        await writeError(client, c.name, error, o.now().toISOString());
        result.clusters[c.name] = { ok: false, error };
      } finally {
        if (cc) k8s.closeClient(cc);
      }
    }),
  );
  return result;
}

function isRedisFailure(e: unknown): boolean {
  const n = (e as { constructor?: { name?: string } })?.constructor?.name ?? '';
  return /^(ClientClosedError|ConnectionTimeoutError|SocketClosedUnexpectedlyError|ErrorReply|ReconnectStrategyError|MultiErrorReply)$/.test(n);
}

/** A time as the API server writes it (a list read through the client gives a Date; a watch event, the string). */
function apiTime(t: unknown): string {
  return t instanceof Date ? (Number.isNaN(t.getTime()) ? '' : t.toISOString().replace(/\.000Z$/, 'Z')) : String(t);
}

/** What the fold and preemption read of a pod (the rest of a watched pod is dropped at once). */
function slimPod(p: K8sPod): K8sPod {
  const x = p as K8sPod & PodExtra;
  type C = NonNullable<NonNullable<K8sPod['spec']>['containers']>[number];
  const slim = (list: C[] | undefined) =>
    list?.map((c): C => ({
      ...(c.resources ? { resources: { ...(c.resources.requests ? { requests: c.resources.requests } : {}), ...(c.resources.limits ? { limits: c.resources.limits } : {}) } } : {}),
      ...(c.restartPolicy ? { restartPolicy: c.restartPolicy } : {}),
    }));
  const preemptible = x.metadata?.labels?.[PREEMPTIBLE_LABEL];
  const spec = p.spec ?? {};
  // Pods of one template request the same: their containers are kept once.
  const shared = <T>(v: T): T => once(sharedParts, v) as T;
  const out: K8sPod & PodExtra = {
    metadata: { name: x.metadata?.name, namespace: x.metadata?.namespace, ...(preemptible !== undefined ? { labels: { [PREEMPTIBLE_LABEL]: preemptible } } : {}) },
    spec: {
      ...(spec.nodeName ? { nodeName: spec.nodeName } : {}),
      ...(spec.containers ? { containers: shared(slim(spec.containers)) } : {}),
      ...(spec.initContainers ? { initContainers: shared(slim(spec.initContainers)) } : {}),
      ...(spec.overhead ? { overhead: shared(spec.overhead) } : {}),
      ...(x.spec?.priority !== undefined ? { priority: x.spec.priority } : {}),
    } as K8sPod['spec'] & PodExtra['spec'],
    status: { ...(p.status?.phase ? { phase: p.status.phase } : {}), ...(x.status?.startTime !== undefined ? { startTime: apiTime(x.status.startTime) } : {}) },
  };
  return out;
}

const sharedParts = new Map<string, unknown>();
const copyState = (s: NodeState, name: string): NodeState => ({ ...s, name, cpu: { ...s.cpu }, memory: { ...s.memory }, pods: { ...s.pods }, pools: s.pools.map((p) => ({ ...p })) });

/** Node states without their name, kept once for all nodes alike (most nodes of a cluster are). */
const templates = new Map<string, NodeState>();
const template = (s: NodeState): NodeState => once(templates, { ...s, name: '' });

/** The value equal (as JSON) to `v` that `cache` already holds, else `v`, kept while the cache has room. */
function once<T>(cache: Map<string, T>, v: T): T {
  const text = JSON.stringify(v);
  const hit = cache.get(text);
  if (hit !== undefined) return hit;
  if (cache.size < 10_000) cache.set(text, v);
  return v;
}

const NO_IMAGES: readonly string[] = Object.freeze([]);

interface MirroredNode {
  ordinal: number;
  /** The node as nodeState() reads it (without its name), nothing used yet; undefined when its quantities cannot be read. */
  base?: NodeState;
  /** Why its allocatable quantities cannot be used. */
  baseProblem?: string;
  deleted?: boolean;
  /** Why it is left out (its quantities, or a pod's GPU request that cannot be read). */
  problem?: string;
  images: readonly string[];
}

/**
 * One cluster's state as the watches keep it: per node what nodeState() reads of it and its pods (only what the fold
 * and preemption read), and per node its folded state, recomputed by ClusterStateBuilder when either changes.
 */
export class ClusterMirror {
  private seq = 0;
  readonly nodes = new Map<string, MirroredNode>();
  /** Pods per node, in the order they came (a changed pod goes last). */
  private readonly podsByNode = new Map<string, K8sPod[]>();
  private readonly podNode = new Map<string, string>();
  private readonly pendingGpu = new Map<string, number>();
  private readonly pendingOf = new Map<string, Map<string, number>>();
  private readonly dirty = new Set<string>();
  priorityClasses: Record<string, number> = {};
  access: AccessRecord[] = [];
  changed = false;
  /** The grouped state as written to Redis, and what changed since. */
  readonly index = new StateIndex();

  constructor(readonly name: string) {}

  setNode(n: K8sNode): void {
    const name = n.metadata?.name;
    if (!name) return;
    let cur = this.nodes.get(name);
    if (!cur) this.nodes.set(name, (cur = { ordinal: this.seq++, images: NO_IMAGES }));
    cur.deleted = false;
    cur.baseProblem = nodeProblem(n);
    const base = cur.baseProblem ? undefined : nodeState(n);
    cur.base = base ? template(base) : undefined;
    const imgs = imagesOf(n);
    cur.images = imgs.size ? [...imgs].map(intern) : NO_IMAGES;
    this.touch(name);
  }

  deleteNode(n: K8sNode): void {
    const cur = this.nodes.get(n.metadata?.name ?? '');
    if (!cur) return;
    cur.deleted = true;
    this.touch(n.metadata!.name!);
  }

  /** Names of the nodes kept (a relist deletes those it does not list again). */
  nodeNames(): string[] {
    return [...this.nodes.entries()].filter(([, n]) => !n.deleted).map(([k]) => k);
  }

  /** Keys (namespace/name) of the pods kept. */
  podKeys(): string[] {
    return [...this.podNode.keys()];
  }

  setPod(p: K8sPod): void {
    const k = `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`;
    this.removePod(k);
    if (isTerminal(p)) return;
    const slim = slimPod(p);
    const node = p.spec?.nodeName ?? '';
    this.podNode.set(k, node);
    if (node) {
      const list = this.podsByNode.get(node);
      if (list) list.push(slim);
      else this.podsByNode.set(node, [slim]);
      this.touch(node);
    } else {
      // Pending demand through the same fold as every reader.
      const b = new ClusterStateBuilder(this.name);
      b.addPod(slim);
      const g = b.build().pendingGpu;
      this.pendingOf.set(k, g);
      for (const [r, v] of g) this.pendingGpu.set(r, (this.pendingGpu.get(r) ?? 0) + v);
      this.changed = true;
    }
  }

  deletePod(p: K8sPod): void {
    this.removePod(`${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`);
  }

  removePod(k: string): void {
    const node = this.podNode.get(k);
    if (node === undefined) return;
    this.podNode.delete(k);
    if (node) {
      const list = this.podsByNode.get(node);
      const i = list ? list.findIndex((p) => `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}` === k) : -1;
      if (i >= 0) list!.splice(i, 1);
      if (list && list.length === 0) this.podsByNode.delete(node);
      this.touch(node);
    } else {
      for (const [r, v] of this.pendingOf.get(k) ?? []) this.pendingGpu.set(r, (this.pendingGpu.get(r) ?? 0) - v);
      this.pendingOf.delete(k);
      this.changed = true;
    }
  }

  private touch(node: string): void {
    this.dirty.add(node);
    this.changed = true;
  }

  /** Recomputes the touched nodes into the index. */
  takeUpdates(): void {
    for (const name of this.dirty) {
      const cur = this.nodes.get(name);
      if (!cur) continue;
      if (cur.deleted) {
        this.nodes.delete(name);
        this.index.delete(name);
        continue;
      }
      const pods = this.podsByNode.get(name);
      let state: NodeState | undefined;
      if (cur.base) {
        const b = new ClusterStateBuilder(this.name);
        b.addNodeState(copyState(cur.base, name));
        for (const p of pods ?? []) b.addPod(p);
        const st = b.build();
        state = st.nodes[0];
        cur.problem = st.excluded.nodes[0]?.reason;
      } else cur.problem = cur.baseProblem;
      const victims: Victim[] = [];
      for (const p of pods ?? []) {
        const v = victimOf(p);
        if (v) victims.push(v);
      }
      this.index.set(name, cur.ordinal, state, cur.images, victims);
    }
    this.dirty.clear();
    this.changed = false;
  }

  info(): ClusterInfo {
    const types = new Map<string, [string, ClusterInfo['types'][number][1], number]>();
    const excluded: ClusterInfo['excluded'] = { count: 0, nodes: [] };
    let nodes = 0;
    for (const [name, n] of this.nodes) {
      if (n.problem) {
        excluded.count++;
        if (excluded.nodes.length < 5) excluded.nodes.push({ node: name, reason: n.problem });
      }
      if (!n.base) continue;
      nodes++;
      for (const p of n.base.pools) {
        const k = typeKey(p.type);
        const cur = types.get(k);
        if (cur) cur[2] += p.allocatable;
        else types.set(k, [k, p.type, p.allocatable]);
      }
    }
    let pendingPods = 0;
    for (const v of this.podNode.values()) if (!v) pendingPods++;
    return {
      nodes,
      pods: this.podNode.size,
      pending_pods: pendingPods,
      pending_gpu: Object.fromEntries([...this.pendingGpu].filter(([, v]) => v > 0)),
      excluded,
      types: [...types.values()],
      access: this.access,
      priority_classes: this.priorityClasses,
    };
  }

  full(at: string): FullState {
    this.takeUpdates();
    return { info: this.info(), index: this.index, syncedAt: at };
  }
}

/**
 * A Watch that asks for bookmarks, so a reconnect resumes from a recent resourceVersion instead of relisting. The
 * Watch takes its HTTP agent from the KubeConfig, not through the request middleware: the agent is added to the
 * client's set here, so closeClient() destroys the watch's sockets too (a stopped collector exits at once instead of
 * waiting for a keep-alive socket).
 */
function bookmarkWatch(cc: ClusterClient) {
  const { kc } = cc;
  const tracked = Object.create(kc, {
    applyToFetchOptions: {
      value: async (o: Parameters<typeof kc.applyToFetchOptions>[0]) => {
        const r = await kc.applyToFetchOptions(o);
        if (r.agent && typeof r.agent === 'object' && 'destroy' in r.agent) cc.agents.add(r.agent as { destroy(): void });
        return r;
      },
    },
  }) as typeof kc;
  const w = new cc.k8s.Watch(tracked);
  return {
    watch: (p: string, q: Record<string, unknown>, cb: (type: string, obj: unknown, data?: unknown) => void, done: (err: unknown) => void) => w.watch(p, { ...q, allowWatchBookmarks: true }, cb, done),
  };
}

/** Objects per list request. */
const LIST_PAGE = 500;

interface Resource {
  path: string;
  /** One page of the list (after the page whose continue token is `next`). */
  list(next?: string): Promise<unknown>;
  add(x: unknown): void;
  del(x: unknown): void;
  /** Keys of the objects kept, and an object's key (a relist deletes the kept objects it does not list). */
  keys(): Iterable<string>;
  keyOf(x: unknown): string;
  delKey(k: string): void;
}

/**
 * List, then watch from the list's resourceVersion (with bookmarks); a watch the server ends resumes from the last
 * resourceVersion seen, a 410 Gone lists again (deleting what the new list lacks), other errors go to `failed`
 * (which starts it again later). Objects go straight to the mirror: nothing else keeps them.
 */
class Informer {
  private rv = '';
  private stopped = false;
  private controller?: AbortController;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly r: Resource,
    private readonly w: ReturnType<typeof bookmarkWatch>,
    private readonly listed: () => void,
    private readonly failed: (e: unknown) => void,
  ) {}

  async start(): Promise<void> {
    if (this.stopped) return;
    try {
      // In pages: a list of 100,000 objects is never held at once (the pages of one list are one snapshot).
      const seen = new Set<string>();
      let rv = '';
      let next: string | undefined;
      do {
        const page = (await this.r.list(next)) as { items?: unknown[]; metadata?: { resourceVersion?: string; _continue?: string; continue?: string } };
        if (this.stopped) return;
        for (const item of page.items ?? []) {
          seen.add(this.r.keyOf(item));
          this.r.add(item);
        }
        rv = page.metadata?.resourceVersion ?? rv;
        next = page.metadata?._continue ?? page.metadata?.continue;
      } while (next);
      for (const k of [...this.r.keys()]) if (!seen.has(k)) this.r.delKey(k);
      this.rv = rv;
      this.listed();
      await this.watch();
    } catch (e) {
      if (!this.stopped) this.failed(e);
    }
  }

  private async watch(): Promise<void> {
    let gone = false;
    const opened = Date.now();
    this.controller = await this.w.watch(
      this.r.path,
      { resourceVersion: this.rv },
      (type, obj) => {
        const o = obj as { metadata?: { resourceVersion?: string }; code?: number } | undefined;
        if (type === 'ERROR') {
          if (o?.code === 410) gone = true;
          return;
        }
        if (o?.metadata?.resourceVersion) this.rv = o.metadata.resourceVersion;
        if (type === 'ADDED' || type === 'MODIFIED') this.r.add(obj);
        else if (type === 'DELETED') this.r.del(obj);
      },
      (err) => {
        if (this.stopped) return;
        if (gone || (err as { statusCode?: number } | null)?.statusCode === 410) void this.start();
        else if (err) this.failed(err);
        // Ended by the server: resume from the last resourceVersion (not in a tight loop).
        else this.timer = setTimeout(() => void this.watch().catch((e: unknown) => !this.stopped && this.failed(e)), Date.now() - opened < 1000 ? 1000 : 0);
      },
    );
    if (this.stopped) this.controller.abort();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.controller?.abort();
  }
}

async function watchAll(o: CollectOptions, config: DispatchConfig, client: Redis): Promise<CollectResult> {
  const { k8s, connect } = await connectAll(o, config);
  const result: CollectResult = { redis: maskUrl(o.redisUrl), clusters: {} };
  const stops: (() => Promise<void>)[] = [];
  await Promise.all(config.clusters.map(async (c) => {
    try {
      stops.push(await watchCluster(o, config, c, client, k8s, await connect(c), result));
    } catch (e) {
      const error = reasonOf(k8s, e, c, config.policy.requestTimeoutMs);
      o.log.warn(`${c.name} excluded: ${error}`);
      await writeError(client, c.name, error, o.now().toISOString());
      result.clusters[c.name] = { ok: false, error };
    }
  }));
  await new Promise<void>((resolve) => (o.signal.aborted ? resolve() : o.signal.addEventListener('abort', () => resolve(), { once: true })));
  await Promise.all(stops.map((s) => s()));
  return result;
}

async function watchCluster(o: CollectOptions, config: DispatchConfig, c: ClusterConfig, client: Redis, k8s: typeof import('./k8s.js'), cc: ClusterClient, result: CollectResult): Promise<() => Promise<void>> {
  const mirror = new ClusterMirror(c.name);
  const lib = cc.k8s;
  const core = cc.core;
  const sched = cc.kc.makeApiClient(lib.SchedulingV1Api);
  const pcs = new Map<string, number>();
  const nameOf = (x: unknown) => (x as { metadata?: { name?: string } })?.metadata?.name ?? '';
  const podKey = (x: unknown) => `${(x as K8sPod)?.metadata?.namespace ?? ''}/${nameOf(x)}`;
  const setPcs = () => {
    mirror.priorityClasses = Object.fromEntries(pcs);
    mirror.changed = true;
  };
  const resources: Resource[] = [
    {
      path: '/api/v1/nodes',
      list: (next) => core.listNode({ limit: LIST_PAGE, ...(next ? { _continue: next } : {}) }, k8s.reqOptions(cc)),
      add: (x) => mirror.setNode(x as K8sNode),
      del: (x) => mirror.deleteNode(x as K8sNode),
      keys: () => mirror.nodeNames(),
      keyOf: nameOf,
      delKey: (k) => mirror.deleteNode({ metadata: { name: k } }),
    },
    {
      path: '/api/v1/pods',
      list: (next) => core.listPodForAllNamespaces({ limit: LIST_PAGE, ...(next ? { _continue: next } : {}) }, k8s.reqOptions(cc)),
      add: (x) => mirror.setPod(x as K8sPod),
      del: (x) => mirror.deletePod(x as K8sPod),
      keys: () => mirror.podKeys(),
      keyOf: podKey,
      delKey: (k) => mirror.removePod(k),
    },
    {
      path: '/apis/scheduling.k8s.io/v1/priorityclasses',
      list: (next) => sched.listPriorityClass({ limit: LIST_PAGE, ...(next ? { _continue: next } : {}) }, k8s.reqOptions(cc)),
      add: (x) => {
        const pc = x as { metadata?: { name?: string }; value?: number };
        if (pc.metadata?.name && typeof pc.value === 'number') pcs.set(pc.metadata.name, pc.value);
        setPcs();
      },
      del: (x) => {
        pcs.delete(nameOf(x));
        setPcs();
      },
      keys: () => pcs.keys(),
      keyOf: nameOf,
      delKey: (k) => {
        pcs.delete(k);
        setPcs();
      },
    },
  ];
  const listed = new Set<string>();
  // Resources whose watch failed and is not listed again yet: synced_at is not refreshed meanwhile, so the state ages out.
  const down = new Set<string>();
  let written = false;
  let stopped = false;
  let failures = 0;
  const watch = bookmarkWatch(cc);
  const informers = resources.map((r) => {
    const inf: Informer = new Informer(
      r,
      watch,
      () => {
        listed.add(r.path);
        down.delete(r.path);
        failures = 0;
      },
      (e: unknown) => {
        if (stopped) return;
        down.add(r.path);
        const error = reasonOf(k8s, e, c, config.policy.requestTimeoutMs);
        o.log.warn(`${c.name}: ${r.path}: ${error}; reconnecting`);
        if (!written) {
          result.clusters[c.name] = { ok: false, error };
          void writeError(client, c.name, error, o.now().toISOString()).catch(() => undefined);
        }
        const delay = Math.min(30_000, 500 * 2 ** Math.min(failures++, 6));
        setTimeout(() => !stopped && void inf.start(), delay).unref();
      },
    );
    return inf;
  });
  try {
    mirror.access = await accessRecords(k8s, cc, config, c);
  } catch (e) {
    o.log.warn(`${c.name}: access review failed: ${reasonOf(k8s, e, c, config.policy.requestTimeoutMs)}`);
  }
  for (const inf of informers) void inf.start();
  let busy = false;
  const flush = async () => {
    if (busy || stopped) return;
    busy = true;
    try {
      if (!written) {
        if (listed.size < resources.length) return;
        const full = mirror.full(o.now().toISOString());
        const generation = await writeFull(client, c.name, full);
        written = true;
        const { info } = full;
        result.clusters[c.name] = { ok: true, nodes: info.nodes, pods: info.pods, generation };
        o.log.progress(`${c.name}: ${info.nodes} nodes, ${info.pods} pods written; watching`);
      } else if (mirror.changed) {
        mirror.takeUpdates();
        await writeUpdate(client, c.name, mirror.info(), mirror.index, o.now().toISOString());
      }
    } catch (e) {
      o.log.warn(`${c.name}: writing to Redis failed: ${(e as Error).message}`);
    } finally {
      busy = false;
    }
  };
  const flushTimer = setInterval(() => void flush(), o.flushMs ?? 200);
  const beat = setInterval(() => {
    if (written && !stopped && down.size === 0) void touchSynced(client, c.name, o.now().toISOString()).catch(() => undefined);
  }, o.heartbeatMs ?? 10_000);
  return async () => {
    stopped = true;
    clearInterval(flushTimer);
    clearInterval(beat);
    for (const i of informers) i.stop();
    k8s.closeClient(cc);
  };
}
