import { ConfigurationError, ExternalError } from '../errors.js';
import type { GpuType } from './gpu.js';
import { gpuMatches } from './gpu.js';
import type { JobRequest } from './config.js';
import { replicasFitting, type ClusterInput } from './decide.js';
import type { AccessRecord } from './snapshot.js';
import { accessDetail } from './snapshot.js';
import { RespClient, type Reply } from './resp.js';
import { EXCLUDED_SHOWN, type ClusterState, type GpuPool, type NodeState, type Taint } from './state.js';

/**
 * The collector's state in Redis (`mlloop dispatch collect` writes, `mlloop dispatch --state redis://…` reads).
 * Per cluster, every key shares the hash tag `{cluster}` so a MULTI covers them (also on Redis Cluster):
 *
 *   summary          hash: schema, generation, synced_at, error (the informer could not start), info (JSON:
 *                    node and pod counts, pending demand, excluded nodes, GPU totals by type, access reviews,
 *                    PriorityClasses)
 *   shapes           hash: shape id → what nodes of one kind share (allocatable, taints, GPU pools, product label)
 *   groups:<type>    hash: group id → a group of nodes the decision cannot tell apart (same shape, readiness,
 *                    cordon and usage), for every group with a pool of that GPU type: the shared entry, how many
 *                    nodes, and the first one's position in the cluster's node list
 *   members          sorted set (all scores 0, so in name order): `<group id> <node>` for every grouped node
 *   nodes            hash: node → group id
 *   images:<image>   hash: group id → how many of its nodes hold that (normalised) image in status.images
 *   victims          hash: node → running GPU pods that preemption may evict (name, namespace, priority, start, GPUs)
 *
 * Nodes excluded from decisions (malformed quantities) are in no group: the summary names them. Usage that cannot
 * change a decision is left out of a group's key, so more nodes share one: a node not Ready or cordoned keeps no
 * usage, a node with no free GPU keeps only its GPUs (all in use).
 *
 * A decision reads the summaries, then per cluster the groups of the requested GPU type, the shapes and the
 * image's counts, and — only for groups where a replica could fit — the first node names in name order (the
 * placement's tie-break). The work is per group, not per node; the explanation and placement are the ones the
 * live and snapshot readers give. Preemption (only when nothing fits) reads the victims and their nodes' groups.
 */
export const REDIS_SCHEMA = 2;
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

/** What the nodes of a group share: shape id, ready, cordoned, CPU/memory/pods used, GPUs used per pool. */
export type GroupKey = [string, 0 | 1, 0 | 1, number, number, number, number[]];
/** A group's entry in Redis: its key, then how many nodes and the first one's position in the node list. */
export type GroupEntry = [...GroupKey, number, number];

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

function shapeOf(n: NodeState): Shape {
  return {
    t: n.taints.map((t) => ({ key: t.key, ...(t.value ? { value: t.value } : {}), effect: t.effect })),
    c: n.cpu.allocatable,
    m: n.memory.allocatable,
    p: n.pods.allocatable,
    g: n.pools.map((p) => [p.resource, typeKey(p.type), p.allocatable]),
    ...(n.productLabel ? { l: [n.productLabel.key, n.productLabel.value] as [string, string] } : {}),
  };
}

function hashId(text: string): string {
  // FNV-1a over the JSON: short, stable, collisions checked by the writer (it stores the JSON under the id).
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return `${h.toString(36)}.${text.length.toString(36)}`;
}

/**
 * A node's group key. Left out, because no decision or preemption plan reads them: all usage of a node not Ready or
 * cordoned (it is only counted), and the CPU/memory/pods usage of a node without a free GPU (GPUs in use beyond
 * allocatable count as allocatable: only the free count, max(0, allocatable − used), is read).
 */
function groupKeyOf(n: NodeState, shapeId: string): GroupKey {
  const ready = n.ready ? 1 : 0;
  const cordoned = n.unschedulable ? 1 : 0;
  if (!n.ready || n.unschedulable) return [shapeId, ready, cordoned, 0, 0, 0, n.pools.map(() => 0)];
  if (n.pools.every((p) => !(p.allocatable - p.used > 0))) return [shapeId, 1, 0, 0, 0, 0, n.pools.map((p) => p.allocatable)];
  return [shapeId, 1, 0, n.cpu.used, n.memory.used, n.pods.used, n.pools.map((p) => p.used)];
}

interface Group {
  id: string;
  key: GroupKey;
  types: string[];
  nodes: Set<string>;
  /** The smallest list position among its nodes (recomputed when stale). */
  first: number;
  firstStale: boolean;
  /** Image → nodes of the group holding it. */
  images: Map<string, number>;
}

interface IndexedNode {
  ordinal: number;
  group?: Group;
  /** The group Redis has for it. */
  written?: Group;
  images: readonly string[];
  victims: string;
  writtenVictims: string;
  gone?: boolean;
}

const interned = new Map<string, string>();
/** One copy of each image name for all nodes (the collector's mirror and the index share it). */
export const intern = (s: string) => {
  const v = interned.get(s);
  if (v !== undefined) return v;
  if (interned.size < 100_000) interned.set(s, s);
  return s;
};

/**
 * One cluster's grouped state as the collector keeps it in memory, and what changed since it last wrote: a node
 * event moves one node between groups; a write sends the moved nodes and the groups and image counts they touched.
 */
export class StateIndex {
  private readonly shapes = new Map<string, string>();
  private readonly newShapes = new Map<string, string>();
  private readonly groups = new Map<string, Group>();
  readonly nodes = new Map<string, IndexedNode>();
  private readonly dirtyNodes = new Set<string>();
  private readonly dirtyGroups = new Set<Group>();
  private readonly dirtyImages = new Map<string, Set<Group>>();
  private seq = 0;

  /** Sets one node: its folded state (undefined when excluded or deleted), the images it holds, its preemptible pods. */
  set(name: string, ordinal: number, state: NodeState | undefined, images: Iterable<string>, victims: readonly Victim[]): void {
    let n = this.nodes.get(name);
    if (!n) this.nodes.set(name, (n = { ordinal, images: [], victims: '', writtenVictims: '' }));
    n.gone = false;
    n.ordinal = ordinal;
    const g = state && !state.excluded ? this.groupOf(state) : undefined;
    const imgs: string[] = [];
    for (const i of images) imgs.push(intern(i));
    const sameImages = imgs.length === n.images.length && imgs.every((i, k) => i === n!.images[k]);
    if (g !== n.group || !sameImages) {
      const old = n.group;
      if (old) {
        old.nodes.delete(name);
        if (ordinal <= old.first) old.firstStale = true;
        for (const i of n.images) this.count(old, i, -1);
        this.dirtyGroups.add(old);
      }
      if (g) {
        g.nodes.add(name);
        if (!g.firstStale && ordinal < g.first) g.first = ordinal;
        for (const i of imgs) this.count(g, i, 1);
        this.dirtyGroups.add(g);
      }
      n.group = g;
      n.images = imgs;
    }
    n.victims = victims.length ? JSON.stringify(victims) : '';
    this.dirtyNodes.add(name);
  }

  delete(name: string): void {
    const n = this.nodes.get(name);
    if (!n) return;
    this.set(name, n.ordinal, undefined, [], []);
    n.gone = true;
  }

  private count(g: Group, image: string, d: number): void {
    const c = (g.images.get(image) ?? 0) + d;
    if (c > 0) g.images.set(image, c);
    else g.images.delete(image);
    let s = this.dirtyImages.get(image);
    if (!s) this.dirtyImages.set(image, (s = new Set()));
    s.add(g);
  }

  private groupOf(state: NodeState): Group {
    const shape = shapeOf(state);
    const shapeText = JSON.stringify(shape);
    let shapeId = hashId(shapeText);
    for (let k = 1; this.shapes.has(shapeId) && this.shapes.get(shapeId) !== shapeText; k++) shapeId = `${hashId(shapeText)}~${k}`;
    if (!this.shapes.has(shapeId)) {
      this.shapes.set(shapeId, shapeText);
      this.newShapes.set(shapeId, shapeText);
    }
    const k = groupKeyOf(state, shapeId);
    const text = JSON.stringify(k);
    let g = this.groups.get(text);
    if (!g) {
      g = { id: (this.seq++).toString(36), key: k, types: [...new Set(shape.g.map((p) => p[1]))], nodes: new Set(), first: Infinity, firstStale: false, images: new Map() };
      this.groups.set(text, g);
    }
    return g;
  }

  /** How many groups the nodes form. */
  get groupCount(): number {
    return this.groups.size;
  }

  /** Marks everything unwritten (the next write rewrites the cluster's state from nothing). */
  rewriteAll(): void {
    for (const [id, text] of this.shapes) this.newShapes.set(id, text);
    for (const [name, n] of this.nodes) {
      n.written = undefined;
      n.writtenVictims = '';
      this.dirtyNodes.add(name);
    }
    for (const g of this.groups.values()) {
      this.dirtyGroups.add(g);
      for (const image of g.images.keys()) {
        let s = this.dirtyImages.get(image);
        if (!s) this.dirtyImages.set(image, (s = new Set()));
        s.add(g);
      }
    }
  }

  /** Queues in `m` everything changed since the last write (all of it for a fresh index). */
  write(m: Multi, cluster: string): void {
    if (this.newShapes.size) m.hSet(key(cluster, 'shapes'), Object.fromEntries(this.newShapes));
    this.newShapes.clear();
    const zRem: string[] = [];
    const zAdd: { score: number; value: string }[] = [];
    const nodesSet: Record<string, string> = {};
    const nodesDel: string[] = [];
    const victimsSet: Record<string, string> = {};
    const victimsDel: string[] = [];
    let setCount = 0;
    let victimCount = 0;
    for (const name of this.dirtyNodes) {
      const n = this.nodes.get(name);
      if (!n) continue;
      if (n.group !== n.written) {
        if (n.written) zRem.push(`${n.written.id} ${name}`);
        if (n.group) {
          zAdd.push({ score: 0, value: `${n.group.id} ${name}` });
          nodesSet[name] = n.group.id;
          setCount++;
        } else nodesDel.push(name);
        n.written = n.group;
      }
      if (n.victims !== n.writtenVictims) {
        if (n.victims) {
          victimsSet[name] = n.victims;
          victimCount++;
        } else victimsDel.push(name);
        n.writtenVictims = n.victims;
      }
      if (n.gone && !n.group) this.nodes.delete(name);
    }
    this.dirtyNodes.clear();
    if (zRem.length) m.zRem(key(cluster, 'members'), zRem);
    if (zAdd.length) m.zAdd(key(cluster, 'members'), zAdd);
    if (nodesDel.length) m.hDel(key(cluster, 'nodes'), nodesDel);
    if (setCount) m.hSet(key(cluster, 'nodes'), nodesSet);
    if (victimsDel.length) m.hDel(key(cluster, 'victims'), victimsDel);
    if (victimCount) m.hSet(key(cluster, 'victims'), victimsSet);
    const byType = new Map<string, { set: Record<string, string>; del: string[] }>();
    const of = (t: string) => {
      let v = byType.get(t);
      if (!v) byType.set(t, (v = { set: {}, del: [] }));
      return v;
    };
    for (const g of this.dirtyGroups) {
      if (g.nodes.size === 0) {
        for (const t of g.types) of(t).del.push(g.id);
        if (this.groups.get(JSON.stringify(g.key)) === g) this.groups.delete(JSON.stringify(g.key));
        continue;
      }
      if (g.firstStale) {
        let first = Infinity;
        for (const name of g.nodes) first = Math.min(first, this.nodes.get(name)!.ordinal);
        g.first = first;
        g.firstStale = false;
      }
      const text = JSON.stringify([...g.key, g.nodes.size, g.first] satisfies GroupEntry);
      for (const t of g.types) of(t).set[g.id] = text;
    }
    this.dirtyGroups.clear();
    for (const [t, v] of byType) {
      if (v.del.length) m.hDel(key(cluster, `groups:${t}`), v.del);
      if (Object.keys(v.set).length) m.hSet(key(cluster, `groups:${t}`), v.set);
    }
    for (const [image, gs] of this.dirtyImages) {
      const set: Record<string, string> = {};
      const del: string[] = [];
      for (const g of gs) {
        const c = g.nodes.size ? g.images.get(image) ?? 0 : 0;
        if (c > 0) set[g.id] = String(c);
        else del.push(g.id);
      }
      if (del.length) m.hDel(key(cluster, `images:${image}`), del);
      if (Object.keys(set).length) m.hSet(key(cluster, `images:${image}`), set);
    }
    this.dirtyImages.clear();
  }
}

type Client = ReturnType<typeof import('redis').createClient>;
type Multi = ReturnType<Client['multi']>;

/** Shows a Redis URL without its password. */
export function maskUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

function checkUrl(url: string): void {
  if (!/^rediss?:\/\//.test(url)) throw new ConfigurationError(`"${maskUrl(url)}" is not a redis:// or rediss:// URL`, { path: '--state', hint: 'write it like redis://HOST:6379/0' });
}

/** Exit 3 naming the URL, its password masked (also where the client's message repeats the URL). */
function unreachable(url: string, why: string): ExternalError {
  return new ExternalError(`Redis at ${maskUrl(url)} is unreachable: ${why.replace(url, maskUrl(url))}`, { hint: 'check the URL, that Redis runs, and that this machine may reach it' });
}

/** Connects once, without retries: an unreachable Redis is exit 3 naming the URL (password masked). */
export async function openRedis(url: string, opts: { timeoutMs?: number; reconnect?: boolean } = {}): Promise<Client> {
  checkUrl(url);
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
    throw unreachable(url, (e as Error).message || lastError || String(e));
  }
  return client;
}

/** Opens the small client a decision reads with (exit 3 naming the URL, password masked, when unreachable). */
export async function openStateReader(url: string, opts: { timeoutMs?: number } = {}): Promise<RespClient> {
  checkUrl(url);
  try {
    return await RespClient.connect(url, opts.timeoutMs ?? 5000);
  } catch (e) {
    throw unreachable(url, (e as Error).message || String(e));
  }
}

/** A client the readers take: the small one, or the full one (the collector's, tests). */
export type Reader = Client | RespClient;

/** Runs commands with raw (RESP2) replies, pipelined, or as one MULTI/EXEC. */
async function run(c: Reader, commands: string[][], atomic = false): Promise<Reply[]> {
  if (c instanceof RespClient) return c.run(commands, atomic);
  if (atomic) {
    const m = c.multi();
    for (const x of commands) m.addCommand(x);
    return (await m.exec()) as unknown as Reply[];
  }
  return Promise.all(commands.map((x) => c.sendCommand(x) as Promise<Reply>));
}

/** A flat HGETALL reply as an object. */
function hash(r: Reply): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(r)) for (let i = 0; i + 1 < r.length; i += 2) out[r[i] as string] = r[i + 1] as string;
  return out;
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
  syncedAt: string;
  /** Every node of the cluster, grouped. */
  index: StateIndex;
}

/** The grouped state of a list of nodes (a snapshot or a one-off read), in list order. */
export function indexNodes(nodes: Iterable<{ name: string; ordinal: number; state?: NodeState; images: Iterable<string>; victims: readonly Victim[] }>): StateIndex {
  const index = new StateIndex();
  for (const n of nodes) index.set(n.name, n.ordinal, n.state, n.images, n.victims);
  return index;
}

/** Replaces a cluster's whole state in one transaction (a reader sees the old state or the new one). */
export async function writeFull(client: Client, cluster: string, s: FullState): Promise<number> {
  const old = await clusterKeys(client, cluster);
  const summaryKey = key(cluster, 'summary');
  const prev = Number((await client.hGet(summaryKey, 'generation')) ?? 0) || 0;
  const generation = prev + 1;
  const m = client.multi();
  if (old.length) m.del(old);
  m.hSet(summaryKey, { schema: String(REDIS_SCHEMA), generation: String(generation), synced_at: s.syncedAt, info: JSON.stringify(s.info) });
  s.index.rewriteAll();
  s.index.write(m, cluster);
  await m.exec();
  return generation;
}

/** Writes what changed in the index since the last write, the summary and the generation, in one transaction. */
export async function writeUpdate(client: Client, cluster: string, info: ClusterInfo, index: StateIndex, syncedAt: string): Promise<void> {
  const m = client.multi();
  index.write(m, cluster);
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

/** What a Redis read kept of one cluster, for preemption to read the nodes behind the groups. */
interface ReadContext {
  cluster: string;
  groups: Map<string, { entry: GroupEntry; rep: NodeState; types: GpuType[] }>;
  wanted: GpuType[];
}
const contexts = new WeakMap<ClusterState, ReadContext>();

/**
 * The preemptible pods on nodes of the requested GPU type (read only when no cluster fits). A state read from
 * Redis holds groups of nodes; preemption weighs each node's pods, so the state's nodes become the nodes that have
 * preemptible pods (each with its group's shape and usage), in place.
 */
export async function readVictims(client: Reader, cluster: string, state: ClusterState): Promise<Map<string, Victim[]>> {
  const out = new Map<string, Victim[]>();
  const ctx = contexts.get(state);
  if (!ctx) return out;
  const all = hash((await run(client, [['HGETALL', key(cluster, 'victims')]]))[0]!);
  const names = Object.keys(all);
  const groupIds = names.length ? ((await run(client, [['HMGET', key(cluster, 'nodes'), ...names]]))[0] as (string | null)[]) : [];
  const nodes: NodeState[] = [];
  const byType = new Map<GpuType, NodeState[]>(ctx.wanted.map((t) => [t, []]));
  names.forEach((name, i) => {
    const g = ctx.groups.get(groupIds[i] ?? '');
    if (!g) return;
    const { group: _, ...rest } = g.rep;
    const node: NodeState = { ...rest, name, hasImage: false };
    nodes.push(node);
    for (const t of g.types) byType.get(t)?.push(node);
    out.set(name, JSON.parse(all[name]!) as Victim[]);
  });
  state.nodes = nodes;
  state.byType = byType;
  contexts.delete(state);
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
 * against the summary's generation — the groups of the requested GPU type, the shapes and the image's counts, then
 * the first node names of the groups where a replica could fit.
 */
export async function readClusters(client: Reader, clusters: readonly string[], o: ReadOptions): Promise<RedisClusterInput[]> {
  const summaries = (await run(client, clusters.map((c) => ['HGETALL', key(c, 'summary')]))).map(hash);
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

interface ReadGroup {
  id: string;
  entry: GroupEntry;
  shape: Shape;
  typeKeys: string[];
}

async function readOne(client: Reader, cluster: string, summary: Record<string, string>, o: ReadOptions, attempt = 0): Promise<RedisClusterInput> {
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
  const again = async () => (attempt < 5 ? readOne(client, cluster, hash((await run(client, [['HGETALL', key(cluster, 'summary')]]))[0]!), o, attempt + 1) : { name: cluster, error: 'state in Redis kept changing while being read' });
  const wanted = info.types.filter(([, t]) => gpuMatches(o.request.gpu, t)).map(([k]) => k);
  const replies = await run(client, [['HGET', key(cluster, 'summary'), 'generation'], ['HGETALL', key(cluster, 'shapes')], ['HGETALL', key(cluster, `images:${o.image}`)], ...wanted.map((t) => ['HGETALL', key(cluster, `groups:${t}`)])], true);
  // The collector wrote between the two reads: read again (the summary may name other GPU types).
  if (replies[0] !== summary.generation) return again();
  const shapesRaw = hash(replies[1]!);
  const imageCounts = hash(replies[2]!);
  const groups = new Map<string, ReadGroup>();
  const shapes = new Map<string, Shape | null>();
  const typeGroups: ReadGroup[][] = wanted.map(() => []);
  for (const [i, t] of wanted.entries()) {
    for (const [id, text] of Object.entries(hash(replies[3 + i] ?? null))) {
      let g = groups.get(id);
      if (!g) {
        const entry = JSON.parse(text) as GroupEntry;
        let shape = shapes.get(entry[0]);
        if (shape === undefined) shapes.set(entry[0], (shape = JSON.parse(shapesRaw[entry[0]] ?? 'null') as Shape | null));
        if (!shape) continue;
        g = { id, entry, shape, typeKeys: [] };
        groups.set(id, g);
      }
      g.typeKeys.push(t);
      typeGroups[i]!.push(g);
    }
  }
  const state = rebuild(cluster, info, wanted, typeGroups, imageCounts, o);
  // Where a replica could fit (the decision's own test, without taints), the first node names in name order: the
  // placement takes nodes by free GPUs, then by name, and one node holds at least one replica.
  const r = o.request;
  const ctx = contexts.get(state)!;
  const matching = new Set(ctx.wanted);
  const fitting: { id: string; count: number; rep: NodeState }[] = [];
  for (const [id, { entry, rep }] of ctx.groups) {
    if (!rep.ready || rep.unschedulable) continue;
    let free = 0;
    for (const p of rep.pools) if (matching.has(p.type)) free += Math.max(0, p.allocatable - p.used);
    if (replicasFitting(rep, free, r) > 0) fitting.push({ id, count: entry[7], rep });
  }
  if (fitting.length) {
    const names = await run(client, [['HGET', key(cluster, 'summary'), 'generation'], ...fitting.map((g) => ['ZRANGEBYLEX', key(cluster, 'members'), `[${g.id} `, `(${g.id}!`, 'LIMIT', '0', String(Math.max(1, Math.min(g.count, r.replicas)))])], true);
    if (names[0] !== summary.generation) return again();
    fitting.forEach((g, i) => {
      const list = (names[i + 1] as string[]).map((s) => s.slice(g.id.length + 1));
      g.rep.name = list[0] ?? '';
      g.rep.group = { ...g.rep.group!, names: list };
    });
  }
  return { name: cluster, state, priorityClasses: info.priority_classes ?? {} };
}

function rebuild(cluster: string, info: ClusterInfo, wanted: string[], typeGroups: ReadGroup[][], imageCounts: Record<string, string>, o: ReadOptions): ClusterState {
  const types = new Map<string, GpuType>(info.types.map(([k, t]) => [k, t]));
  const ctx: ReadContext = { cluster, groups: new Map(), wanted: wanted.map((t) => types.get(t)!) };
  const reps = new Map<ReadGroup, NodeState>();
  const byType = new Map<GpuType, NodeState[]>();
  for (const [i, t] of wanted.entries()) {
    const list = typeGroups[i]!;
    list.sort((a, b) => a.entry[8] - b.entry[8]);
    byType.set(types.get(t)!, list.map((g) => {
      let node = reps.get(g);
      if (node) return node;
      const e = g.entry;
      const s = g.shape;
      const pools: GpuPool[] = s.g.map(([resource, k, allocatable], j) => ({ resource, type: types.get(k) ?? { family: 'unknown' }, allocatable, used: e[6][j] ?? 0 }));
      node = {
        name: '',
        ready: e[1] === 1,
        unschedulable: e[2] === 1,
        taints: Object.freeze(s.t),
        cpu: { allocatable: s.c, used: e[3] },
        memory: { allocatable: s.m, used: e[4] },
        pods: { allocatable: s.p, used: e[5] },
        pools,
        ...(s.l ? { productLabel: { key: s.l[0], value: s.l[1] } } : {}),
        hasImage: false,
        group: { count: e[7], withImage: Number(imageCounts[g.id] ?? 0) || 0, names: [] },
      };
      reps.set(g, node);
      ctx.groups.set(g.id, { entry: e, rep: node, types: g.typeKeys.map((k) => types.get(k)!) });
      return node;
    }));
  }
  const gpuTotals = new Map<GpuType, number>();
  for (const [k, t, n] of info.types) gpuTotals.set(types.get(k) ?? t, n);
  const want = o.access(cluster);
  const rec = info.access.find((r) => r && r.namespace === want.namespace && r.group === want.group && r.resource === want.resource && r.verb === 'create');
  const state: ClusterState = {
    name: cluster,
    nodes: [...reps.values()],
    nodeCount: info.nodes,
    pendingGpu: new Map(Object.entries(info.pending_gpu)),
    pendingPods: info.pending_pods,
    podCount: info.pods,
    byType,
    gpuTotals,
    ...(rec ? { access: { allowed: rec.allowed === true, reason: accessDetail(rec) } } : {}),
    excluded: { count: info.excluded.count, nodes: info.excluded.nodes.slice(0, EXCLUDED_SHOWN) },
  };
  contexts.set(state, ctx);
  return state;
}
