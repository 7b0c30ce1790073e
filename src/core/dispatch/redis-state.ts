import { ConfigurationError, ExternalError } from '../errors.js';
import type { GpuType } from './gpu.js';
import { gpuMatches } from './gpu.js';
import type { JobRequest } from './config.js';
import type { ClusterInput } from './decide.js';
import type { AccessRecord } from './snapshot.js';
import { accessDetail } from './snapshot.js';
import { EXCLUDED_SHOWN, type ClusterState, type GpuPool, type NodeState, type Taint } from './state.js';

/**
 * The collector's state in Redis (`mlloop dispatch collect` writes, `mlloop dispatch --state redis://…` reads).
 * Per cluster, every key shares the hash tag `{cluster}` so a MULTI covers them (also on Redis Cluster):
 *
 *   summary          hash: schema, generation, synced_at, error (the informer could not start), info (JSON:
 *                    node and pod counts, pending demand, excluded nodes, GPU totals by type, access reviews,
 *                    PriorityClasses)
 *   shapes           hash: shape id → what nodes of one kind share (allocatable, taints, GPU pools, product label)
 *   type:<gpu type>  hash: node → compact usage entry, for every node with a pool of that type
 *   image:<image>    set: nodes whose status.images hold that (normalised) image
 *   victims          hash: node → running GPU pods that preemption may evict (name, namespace, priority, start, GPUs)
 *
 * A decision reads the summaries, then only the `type:` hashes of the requested GPU type, the shapes and one
 * image set, and rebuilds the same ClusterState the live and snapshot readers build.
 */
export const REDIS_SCHEMA = 1;
export const KEY_PREFIX = 'mlloop:dispatch:';

export const key = (cluster: string, part: string) => `${KEY_PREFIX}{${cluster}}:${part}`;

export function typeKey(t: GpuType): string {
  return `${t.family}|${t.memoryGb ?? ''}|${t.mig ?? ''}|${t.vgpu ?? ''}`;
}

/** What nodes of one kind share, stored once per cluster. */
export interface Shape {
  /** taints */
  t: Taint[];
  /** CPU millis, memory bytes, pod slots allocatable */
  c: number;
  m: number;
  p: number;
  /** GPU pools: resource, type key, allocatable */
  g: [string, string, number][];
  /** product label key and value */
  l?: [string, string];
}

/**
 * A node's entry: shape id, ready, cordoned, CPU/memory/pods used, GPUs used per pool, its position in the
 * cluster's node list (a decision reads nodes in list order, as the live and snapshot paths do), why excluded.
 */
export type NodeEntry = [string, 0 | 1, 0 | 1, number, number, number, number[], number, string?];

/** A running pod that holds GPUs, as preemption needs it: namespace, name, priority, start time, GPUs, resource. */
export type Victim = [string, string, number, string, number, string];

export interface ClusterInfo {
  nodes: number;
  pods: number;
  pending_pods: number;
  pending_gpu: Record<string, number>;
  excluded: { count: number; nodes: { node: string; reason: string }[] };
  /** Allocatable devices per GPU type: type key, the type, total. */
  types: [string, GpuType, number][];
  access: AccessRecord[];
  priority_classes: Record<string, number>;
}

export interface ClusterRecord {
  info: ClusterInfo;
  shapes: Map<string, Shape>;
  /** Nodes by GPU type key: node → entry. */
  byType: Map<string, Map<string, NodeEntry>>;
  /** Normalised image → nodes holding it. */
  images: Map<string, Set<string>>;
  victims: Map<string, Victim[]>;
  error?: string;
}

/** The shape and entry of one node state (its usage folded by ClusterStateBuilder). */
export function encodeNode(n: NodeState, ordinal: number): { shape: Shape; id: string; entry: NodeEntry; types: string[] } {
  const shape: Shape = {
    t: n.taints.map((t) => ({ key: t.key, ...(t.value ? { value: t.value } : {}), effect: t.effect })),
    c: n.cpu.allocatable,
    m: n.memory.allocatable,
    p: n.pods.allocatable,
    g: n.pools.map((p) => [p.resource, typeKey(p.type), p.allocatable]),
    ...(n.productLabel ? { l: [n.productLabel.key, n.productLabel.value] as [string, string] } : {}),
  };
  const id = shapeId(shape);
  const entry: NodeEntry = [id, n.ready ? 1 : 0, n.unschedulable ? 1 : 0, n.cpu.used, n.memory.used, n.pods.used, n.pools.map((p) => p.used), ordinal];
  if (n.excluded) entry.push(n.excluded);
  return { shape, id, entry, types: [...new Set(n.pools.map((p) => typeKey(p.type)))] };
}

function shapeId(s: Shape): string {
  // FNV-1a over the JSON: short, stable, collisions checked by the writer (it stores the JSON under the id).
  const text = JSON.stringify(s);
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return `${h.toString(36)}.${text.length.toString(36)}`;
}

type Client = ReturnType<typeof import('redis').createClient>;

/** Shows a Redis URL without its password. */
export function maskUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

/** Connects once, without retries: an unreachable Redis is exit 3 naming the URL (password masked). */
export async function openRedis(url: string, opts: { timeoutMs?: number; reconnect?: boolean } = {}): Promise<Client> {
  if (!/^rediss?:\/\//.test(url)) throw new ConfigurationError(`"${maskUrl(url)}" is not a redis:// or rediss:// URL`, { path: '--state', hint: 'write it like redis://HOST:6379/0' });
  const { createClient } = await import('redis');
  const client = createClient({
    url,
    socket: { connectTimeout: opts.timeoutMs ?? 5000, reconnectStrategy: opts.reconnect ? (n: number) => Math.min(100 * 2 ** n, 5000) : false },
  }) as Client;
  let lastError = '';
  client.on('error', (e: Error) => (lastError = e.message));
  try {
    await client.connect();
  } catch (e) {
    if (client.isOpen) client.destroy();
    const why = (e as Error).message || lastError || String(e);
    throw new ExternalError(`Redis at ${maskUrl(url)} is unreachable: ${why.replace(url, maskUrl(url))}`, { hint: 'check the URL, that Redis runs, and that this machine may reach it' });
  }
  return client;
}

/** Every key of one cluster (for a full rewrite). */
async function clusterKeys(client: Client, cluster: string): Promise<string[]> {
  const out: string[] = [];
  const pattern = `${KEY_PREFIX}{${cluster.replace(/[*?[\]\\]/g, '\\$&')}}:*`;
  for await (const batch of client.scanIterator({ MATCH: pattern, COUNT: 1000 })) out.push(...(Array.isArray(batch) ? batch : [batch as unknown as string]));
  return out;
}

export interface FullState {
  info: ClusterInfo;
  nodes: { name: string; ordinal: number; state?: NodeState; images: Iterable<string>; victims: Victim[] }[];
  syncedAt: string;
  error?: string;
}

/** Replaces a cluster's whole state in one transaction (a reader sees the old state or the new one). */
export async function writeFull(client: Client, cluster: string, s: FullState): Promise<number> {
  const old = await clusterKeys(client, cluster);
  const shapes: Record<string, string> = {};
  const byType = new Map<string, Record<string, string>>();
  const images = new Map<string, string[]>();
  const victims: Record<string, string> = {};
  for (const n of s.nodes) {
    if (n.state) {
      const e = encodeNode(n.state, n.ordinal);
      shapes[e.id] = JSON.stringify(e.shape);
      const text = JSON.stringify(e.entry);
      for (const t of e.types) {
        let h = byType.get(t);
        if (!h) byType.set(t, (h = {}));
        h[n.name] = text;
      }
    }
    for (const img of n.images) {
      const list = images.get(img);
      if (list) list.push(n.name);
      else images.set(img, [n.name]);
    }
    if (n.victims.length) victims[n.name] = JSON.stringify(n.victims);
  }
  const summaryKey = key(cluster, 'summary');
  const prev = Number((await client.hGet(summaryKey, 'generation')) ?? 0) || 0;
  const generation = prev + 1;
  const m = client.multi();
  if (old.length) m.del(old);
  m.hSet(summaryKey, { schema: String(REDIS_SCHEMA), generation: String(generation), synced_at: s.syncedAt, info: JSON.stringify(s.info), ...(s.error ? { error: s.error } : {}) });
  if (Object.keys(shapes).length) m.hSet(key(cluster, 'shapes'), shapes);
  for (const [t, h] of byType) m.hSet(key(cluster, `type:${t}`), h);
  for (const [img, nodes] of images) m.sAdd(key(cluster, `image:${img}`), nodes);
  if (Object.keys(victims).length) m.hSet(key(cluster, 'victims'), victims);
  await m.exec();
  return generation;
}

export interface NodeUpdate {
  name: string;
  ordinal: number;
  /** The node's new state; undefined when deleted or left out (malformed). */
  state?: NodeState;
  /** Type keys the node was stored under before. */
  previousTypes: readonly string[];
  addedImages: readonly string[];
  removedImages: readonly string[];
  victims: Victim[];
}

/** Rewrites the entries of the nodes an event touched, the summary and the generation, in one transaction. */
export async function writeUpdate(client: Client, cluster: string, info: ClusterInfo, updates: readonly NodeUpdate[], syncedAt: string): Promise<void> {
  const m = client.multi();
  for (const u of updates) {
    const now = new Set<string>();
    if (u.state) {
      const e = encodeNode(u.state, u.ordinal);
      m.hSet(key(cluster, 'shapes'), e.id, JSON.stringify(e.shape));
      const text = JSON.stringify(e.entry);
      for (const t of e.types) {
        now.add(t);
        m.hSet(key(cluster, `type:${t}`), u.name, text);
      }
    }
    for (const t of u.previousTypes) if (!now.has(t)) m.hDel(key(cluster, `type:${t}`), u.name);
    for (const img of u.addedImages) m.sAdd(key(cluster, `image:${img}`), u.name);
    for (const img of u.removedImages) m.sRem(key(cluster, `image:${img}`), u.name);
    if (u.victims.length) m.hSet(key(cluster, 'victims'), u.name, JSON.stringify(u.victims));
    else m.hDel(key(cluster, 'victims'), u.name);
  }
  m.hSet(key(cluster, 'summary'), { schema: String(REDIS_SCHEMA), synced_at: syncedAt, info: JSON.stringify(info) });
  m.hDel(key(cluster, 'summary'), 'error');
  m.hIncrBy(key(cluster, 'summary'), 'generation', 1);
  await m.exec();
}

/** Marks a cluster whose informers cannot start: the reason is what the decision shows. */
export async function writeError(client: Client, cluster: string, error: string, at: string): Promise<void> {
  const old = await clusterKeys(client, cluster);
  const m = client.multi();
  if (old.length) m.del(old);
  m.hSet(key(cluster, 'summary'), { schema: String(REDIS_SCHEMA), generation: '0', synced_at: at, error });
  await m.exec();
}

/** Touches synced_at when nothing changed (a watch that is alive is fresh state). */
export async function touchSynced(client: Client, cluster: string, at: string): Promise<void> {
  await client.hSet(key(cluster, 'summary'), 'synced_at', at);
}

/** The preemptible pods of some nodes (read only when no cluster fits, and only for nodes of the requested type). */
export async function readVictims(client: Client, cluster: string, nodes: readonly string[]): Promise<Map<string, Victim[]>> {
  const out = new Map<string, Victim[]>();
  if (nodes.length === 0) return out;
  const values = await client.hmGet(key(cluster, 'victims'), [...nodes]);
  values.forEach((v, i) => v && out.set(nodes[i]!, JSON.parse(v) as Victim[]));
  return out;
}

export interface ReadOptions {
  request: JobRequest;
  image: string;
  /** The access review wanted per cluster (namespace, group, resource). */
  access: (cluster: string) => { namespace: string; group: string; resource: string };
  now: Date;
  maxAgeMs: number;
  url: string;
}

export interface RedisClusterInput extends ClusterInput {
  priorityClasses?: Record<string, number>;
}

/**
 * Reads the clusters' state for one request: summaries first, then — in one transaction per cluster, checked
 * against the summary's generation — the nodes of the requested GPU type, the shapes and the image's nodes.
 */
export async function readClusters(client: Client, clusters: readonly string[], o: ReadOptions): Promise<RedisClusterInput[]> {
  const summaries = await Promise.all(clusters.map((c) => client.hGetAll(key(c, 'summary'))));
  for (const [i, s] of summaries.entries()) {
    if (s.schema !== undefined && s.schema !== String(REDIS_SCHEMA)) {
      throw new ConfigurationError(`Redis at ${maskUrl(o.url)} holds dispatcher state of schema ${s.schema} for cluster ${clusters[i]} (this mlloop reads schema ${REDIS_SCHEMA})`, {
        path: '--state',
        hint: 'rerun mlloop dispatch collect with this version of mlloop (it rewrites the state)',
      });
    }
  }
  return Promise.all(clusters.map((c, i) => readOne(client, c, summaries[i]!, o)));
}

async function readOne(client: Client, cluster: string, summary: Record<string, string>, o: ReadOptions, attempt = 0): Promise<RedisClusterInput> {
  if (!summary.schema) return { name: cluster, error: `no state in Redis (run mlloop dispatch collect for this cluster)` };
  const synced = Date.parse(summary.synced_at ?? '');
  const age = o.now.getTime() - synced;
  if (!Number.isFinite(synced) || age > o.maxAgeMs) {
    return { name: cluster, error: `state collected ${Number.isFinite(age) ? `${Math.round(age / 1000)}s ago (${summary.synced_at})` : 'at an unknown time'}, older than policy.max_state_age ${Math.round(o.maxAgeMs / 1000)}s` };
  }
  if (summary.error) return { name: cluster, error: summary.error };
  let info: ClusterInfo;
  try {
    info = JSON.parse(summary.info ?? '') as ClusterInfo;
  } catch {
    return { name: cluster, error: 'malformed state in Redis (rerun mlloop dispatch collect)' };
  }
  const wanted = info.types.filter(([, t]) => gpuMatches(o.request.gpu, t)).map(([k]) => k);
  const m = client.multi().hGet(key(cluster, 'summary'), 'generation').hGetAll(key(cluster, 'shapes')).sMembers(key(cluster, `image:${o.image}`));
  for (const t of wanted) m.hGetAll(key(cluster, `type:${t}`));
  const replies = (await m.exec()) as unknown[];
  if (replies[0] !== summary.generation) {
    // The collector wrote between the two reads: read again (the summary may name other GPU types).
    if (attempt < 5) return readOne(client, cluster, await client.hGetAll(key(cluster, 'summary')), o, attempt + 1);
    return { name: cluster, error: 'state in Redis kept changing while being read' };
  }
  const shapes = replies[1] as Record<string, string>;
  const images = new Set(replies[2] as string[]);
  const typeHashes = replies.slice(3) as Record<string, string>[];
  const input: RedisClusterInput = {
    name: cluster,
    state: rebuild(cluster, info, shapes, wanted, typeHashes, images, o),
    priorityClasses: info.priority_classes ?? {},
  };
  return input;
}

function rebuild(cluster: string, info: ClusterInfo, shapesRaw: Record<string, string>, wanted: string[], typeHashes: Record<string, string>[], images: Set<string>, o: ReadOptions): ClusterState {
  const types = new Map<string, GpuType>(info.types.map(([k, t]) => [k, t]));
  const shapes = new Map<string, { shape: Shape; taints: readonly Taint[]; pools: [string, GpuType, number][] }>();
  const byName = new Map<string, NodeState>();
  const ordinals = new Map<NodeState, number>();
  const byType = new Map<GpuType, NodeState[]>();
  for (const [i, t] of wanted.entries()) {
    const type = types.get(t)!;
    const list: NodeState[] = [];
    byType.set(type, list);
    for (const [name, text] of Object.entries(typeHashes[i] ?? {})) {
      let node = byName.get(name);
      if (!node) {
        const e = JSON.parse(text) as NodeEntry;
        let s = shapes.get(e[0]);
        if (!s) {
          const shape = JSON.parse(shapesRaw[e[0]] ?? 'null') as Shape | null;
          if (!shape) continue;
          s = { shape, taints: Object.freeze(shape.t), pools: shape.g.map(([r, k, a]) => [r, types.get(k) ?? { family: 'unknown' }, a]) };
          shapes.set(e[0], s);
        }
        const pools: GpuPool[] = s.pools.map(([resource, type, allocatable], j) => ({ resource, type, allocatable, used: e[6][j] ?? 0 }));
        node = {
          name,
          ready: e[1] === 1,
          unschedulable: e[2] === 1,
          taints: s.taints,
          cpu: { allocatable: s.shape.c, used: e[3] },
          memory: { allocatable: s.shape.m, used: e[4] },
          pods: { allocatable: s.shape.p, used: e[5] },
          pools,
          ...(s.shape.l ? { productLabel: { key: s.shape.l[0], value: s.shape.l[1] } } : {}),
          hasImage: images.has(name),
          ...(e[8] ? { excluded: e[8] } : {}),
        };
        byName.set(name, node);
        ordinals.set(node, e[7]);
      }
      list.push(node);
    }
    list.sort((a, b) => ordinals.get(a)! - ordinals.get(b)!);
  }
  const gpuTotals = new Map<GpuType, number>();
  for (const [k, t, n] of info.types) gpuTotals.set(types.get(k) ?? t, n);
  const want = o.access(cluster);
  const rec = info.access.find((r) => r && r.namespace === want.namespace && r.group === want.group && r.resource === want.resource && r.verb === 'create');
  return {
    name: cluster,
    nodes: [...byName.values()],
    nodeCount: info.nodes,
    pendingGpu: new Map(Object.entries(info.pending_gpu)),
    pendingPods: info.pending_pods,
    podCount: info.pods,
    byType,
    gpuTotals,
    ...(rec ? { access: { allowed: rec.allowed === true, reason: accessDetail(rec) } } : {}),
    excluded: { count: info.excluded.count, nodes: info.excluded.nodes.slice(0, EXCLUDED_SHOWN) },
  };
}
