import { allocatableProblem, cpuMillis, MAX_GPUS_PER_NODE, parseQuantity } from './quantity.js';
import { nodeGpuType, normalizeProduct, type GpuType } from './gpu.js';

/**
 * The state of one cluster as the dispatcher needs it, built incrementally from Node and Pod objects
 * (`addNode`, then `addPod` for each pod as it streams in). Pods are folded into their node's usage
 * and dropped, so memory grows with the number of nodes, not pods.
 */
export interface Taint {
  key: string;
  value?: string;
  effect: string;
}

export interface GpuPool {
  /** Extended resource name: `nvidia.com/gpu` or `nvidia.com/mig-1g.5gb`. */
  resource: string;
  type: GpuType;
  allocatable: number;
  used: number;
}

export interface NodeState {
  name: string;
  ready: boolean;
  unschedulable: boolean;
  taints: readonly Taint[];
  cpu: { allocatable: number; used: number };
  memory: { allocatable: number; used: number };
  pods: { allocatable: number; used: number };
  pools: GpuPool[];
  /** The label and value that pin this node's GPU product in a nodeSelector. */
  productLabel?: { key: string; value: string };
  /** The job's image is already on this node (status.images). */
  hasImage: boolean;
  /** Why the node is not used although listed (a pod on it requests a GPU quantity that cannot be read). */
  excluded?: string;
  /**
   * State read from Redis: this entry stands for `count` nodes alike in all the decision reads, `withImage` of them
   * holding the job's image; `names` are the first of them in name order (as many as the placement may take).
   */
  group?: { count: number; withImage: number; names: readonly string[] };
}

/** At most this many excluded nodes are named in the explanation (the count is always given). */
export const EXCLUDED_SHOWN = 5;

export interface ClusterState {
  name: string;
  nodes: NodeState[];
  /** Nodes listed, when `nodes` holds only some of them (state read from Redis holds the nodes of the requested GPU type). */
  nodeCount?: number;
  /** GPU requests of pods not yet bound to a node, by resource name. */
  pendingGpu: Map<string, number>;
  pendingPods: number;
  /** Pods counted (non-terminal). */
  podCount: number;
  /** Nodes by GPU type of their pools (types are shared objects), so a decision reads only matching nodes. */
  byType: Map<GpuType, NodeState[]>;
  /** Allocatable devices per GPU type, for the explain text. */
  gpuTotals: Map<GpuType, number>;
  /** Whether the tenant may create the Job kind in the namespace; undefined when not checked. */
  access?: { allowed: boolean; reason: string };
  /** Nodes left out because their state cannot be trusted (malformed or out-of-bounds quantities). */
  excluded: { count: number; nodes: { node: string; reason: string }[] };
}

export interface K8sNode {
  metadata?: { name?: string; labels?: Record<string, string> };
  spec?: { unschedulable?: boolean; taints?: { key: string; value?: string; effect: string }[] };
  status?: {
    allocatable?: Record<string, string | number>;
    capacity?: Record<string, string | number>;
    conditions?: { type: string; status: string }[];
    images?: { names?: string[] }[];
  };
}

interface Container {
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
  restartPolicy?: string;
}

export interface K8sPod {
  metadata?: { name?: string; namespace?: string };
  spec?: { nodeName?: string; containers?: Container[]; initContainers?: Container[]; overhead?: Record<string, string | number> };
  status?: { phase?: string };
}

export const GPU_RESOURCE = 'nvidia.com/gpu';
const MIG_RESOURCE = /^nvidia\.com\/mig-(\d+g\.\d+gb)$/;

export function isGpuResource(resource: string): boolean {
  return resource === GPU_RESOURCE || MIG_RESOURCE.test(resource);
}

const taintCache = new Map<string, Taint>();
function internTaint(t: Taint): Taint {
  const key = `${t.key}=${t.value ?? ''}:${t.effect}`;
  let v = taintCache.get(key);
  if (!v) {
    v = Object.freeze({ key: t.key, ...(t.value ? { value: t.value } : {}), effect: t.effect });
    if (taintCache.size < 10_000) taintCache.set(key, v);
  }
  return v;
}
const NO_TAINTS: readonly Taint[] = Object.freeze([]);

/** Image references compare without the default registry and tag (`nginx` = `docker.io/library/nginx:latest`). */
export function normalizeImage(ref: string): string {
  let r = ref.trim();
  const at = r.indexOf('@');
  if (at >= 0) r = r.slice(0, at);
  const slash = r.lastIndexOf('/');
  if (r.lastIndexOf(':') <= slash) r = `${r}:latest`;
  if (r.startsWith('docker.io/library/')) r = r.slice('docker.io/library/'.length);
  else if (r.startsWith('docker.io/')) r = r.slice('docker.io/'.length);
  return r;
}

/**
 * Why a node's allocatable resources cannot be used, or undefined: every quantity must parse as a
 * Kubernetes quantity within bounds (fail closed: a node reporting 10^21 GPUs would win every decision).
 */
export function nodeProblem(node: K8sNode): string | undefined {
  const alloc = node.status?.allocatable ?? node.status?.capacity ?? {};
  if (typeof alloc !== 'object' || alloc === null || Array.isArray(alloc)) return 'status.allocatable is not a map';
  for (const [resource, value] of Object.entries(alloc)) {
    const kind = isGpuResource(resource) ? 'gpu' : resource === 'cpu' ? 'cpu' : resource === 'memory' ? 'memory' : resource === 'pods' ? 'pods' : undefined;
    if (!kind) continue;
    const why = allocatableProblem(resource, value, kind);
    if (why) return why;
  }
  return undefined;
}

/** Builds one node's state; `image` (normalised) is the job's image for the image-locality term. */
export function nodeState(node: K8sNode, image?: string): NodeState | undefined {
  const name = node.metadata?.name;
  if (!name) return undefined;
  const labels = node.metadata?.labels ?? {};
  const alloc = node.status?.allocatable ?? node.status?.capacity ?? {};
  const ready = (node.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
  const taints = node.spec?.taints?.length ? node.spec.taints.map(internTaint) : NO_TAINTS;
  const product = nodeGpuType(labels);
  const pools: GpuPool[] = [];
  for (const [resource, value] of Object.entries(alloc)) {
    const count = parseQuantity(value);
    if (resource === GPU_RESOURCE) {
      if (!(count > 0)) continue;
      pools.push({ resource, type: product?.type ?? { family: 'unknown' }, allocatable: count, used: 0 });
      continue;
    }
    const mig = MIG_RESOURCE.exec(resource);
    if (mig && count > 0) {
      // Mixed strategy: each profile is its own resource; GFD names its product in `<resource>.product`.
      const profileProduct = labels[`${resource}.product`];
      const type = (profileProduct && normalizeProduct(profileProduct)) || { family: product?.type.family ?? '', mig: mig[1]!, memoryGb: Number(/\.(\d+)gb$/.exec(mig[1]!)![1]) };
      pools.push({ resource, type, allocatable: count, used: 0 });
    }
  }
  let hasImage = false;
  if (image) {
    outer: for (const img of node.status?.images ?? []) {
      for (const n of img.names ?? []) {
        if (normalizeImage(n) === image) {
          hasImage = true;
          break outer;
        }
      }
    }
  }
  return {
    name,
    ready,
    unschedulable: node.spec?.unschedulable === true,
    taints,
    cpu: { allocatable: cpuMillis(alloc.cpu ?? 0), used: 0 },
    memory: { allocatable: parseQuantity(alloc.memory ?? 0), used: 0 },
    pods: { allocatable: parseQuantity(alloc.pods ?? 110), used: 0 },
    pools,
    ...(product ? { productLabel: { key: product.label, value: product.value } } : {}),
    hasImage,
  };
}

function requestOf(c: Container, resource: string): number {
  const v = c.resources?.requests?.[resource] ?? c.resources?.limits?.[resource];
  if (v === undefined) return 0;
  const n = resource === 'cpu' ? cpuMillis(v) : parseQuantity(v);
  return Number.isFinite(n) ? n : 0;
}

/**
 * A pod's effective request of one resource, as the scheduler computes it: the larger of the sum of
 * its containers (plus sidecars) and the largest init container (plus the sidecars started before it),
 * plus the pod overhead.
 */
export function effectiveRequest(pod: K8sPod, resource: string): number {
  const spec = pod.spec ?? {};
  let sidecars = 0;
  let initMax = 0;
  for (const ic of spec.initContainers ?? []) {
    const r = requestOf(ic, resource);
    if (ic.restartPolicy === 'Always') {
      sidecars += r;
      initMax = Math.max(initMax, sidecars);
    } else initMax = Math.max(initMax, r + sidecars);
  }
  let sum = sidecars;
  for (const c of spec.containers ?? []) sum += requestOf(c, resource);
  const overheadRaw = spec.overhead?.[resource];
  const overhead = overheadRaw === undefined ? 0 : resource === 'cpu' ? cpuMillis(overheadRaw) : parseQuantity(overheadRaw);
  return Math.max(initMax, sum) + (Number.isFinite(overhead) ? overhead : 0);
}

/** The GPU-like resources a pod names in any container. */
export function gpuResourcesOf(pod: K8sPod): string[] {
  const out = new Set<string>();
  const spec = pod.spec ?? {};
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
    for (const k of Object.keys(c.resources?.limits ?? {})) if (isGpuResource(k)) out.add(k);
    for (const k of Object.keys(c.resources?.requests ?? {})) if (isGpuResource(k)) out.add(k);
  }
  return [...out];
}

/** Every request and limit of `resource` in the pod parses as a quantity. */
function gpuRequestReadable(pod: K8sPod, resource: string): boolean {
  const spec = pod.spec ?? {};
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
    for (const v of [c.resources?.requests?.[resource], c.resources?.limits?.[resource]]) {
      if (v !== undefined && !(parseQuantity(v) >= 0)) return false;
    }
  }
  return true;
}

export function isTerminal(pod: K8sPod): boolean {
  const p = pod.status?.phase;
  return p === 'Succeeded' || p === 'Failed';
}

export class ClusterStateBuilder {
  private readonly byName = new Map<string, NodeState>();
  private readonly state: ClusterState;
  private unknownNodePods = 0;
  private readonly badNodes = new Set<string>();

  constructor(name: string, private readonly image?: string) {
    this.state = { name, nodes: [], byType: new Map(), gpuTotals: new Map(), pendingGpu: new Map(), pendingPods: 0, podCount: 0, excluded: { count: 0, nodes: [] } };
  }

  private exclude(node: string, reason: string): void {
    this.state.excluded.count++;
    if (this.state.excluded.nodes.length < EXCLUDED_SHOWN) this.state.excluded.nodes.push({ node, reason });
  }

  addNode(node: K8sNode): void {
    const problem = nodeProblem(node);
    if (problem) {
      const name = node.metadata?.name;
      if (name && !this.byName.has(name) && !this.badNodes.has(name)) {
        this.badNodes.add(name);
        this.exclude(name, problem);
      }
      return;
    }
    const s = nodeState(node, this.image);
    if (s) this.addNodeState(s);
  }

  /** Adds a node whose state nodeState() built (with nothing used: the pods added next are folded into it). */
  addNodeState(s: NodeState): void {
    if (this.byName.has(s.name)) return;
    this.byName.set(s.name, s);
    this.state.nodes.push(s);
    let last: GpuType | undefined;
    for (const pool of s.pools) {
      this.state.gpuTotals.set(pool.type, (this.state.gpuTotals.get(pool.type) ?? 0) + pool.allocatable);
      if (pool.type === last) continue;
      last = pool.type;
      const list = this.state.byType.get(pool.type);
      if (list) {
        if (list[list.length - 1] !== s) list.push(s);
      } else this.state.byType.set(pool.type, [s]);
    }
  }

  /** Folds one pod into its node's usage (or the pending demand); terminal pods are ignored. */
  addPod(pod: K8sPod): void {
    if (isTerminal(pod)) return;
    this.state.podCount++;
    const nodeName = pod.spec?.nodeName;
    const gpus = gpuResourcesOf(pod);
    if (!nodeName) {
      this.state.pendingPods++;
      for (const r of gpus) this.state.pendingGpu.set(r, (this.state.pendingGpu.get(r) ?? 0) + effectiveRequest(pod, r));
      return;
    }
    const node = this.byName.get(nodeName);
    if (!node) {
      this.unknownNodePods++;
      return;
    }
    node.cpu.used += effectiveRequest(pod, 'cpu');
    node.memory.used += effectiveRequest(pod, 'memory');
    node.pods.used += 1;
    for (const r of gpus) {
      const pool = node.pools.find((p) => p.resource === r);
      if (!pool) continue;
      const used = effectiveRequest(pod, r);
      // A GPU request that cannot be read could hide a busy node: the node is not used at all.
      if (!node.excluded && (!gpuRequestReadable(pod, r) || !(used <= MAX_GPUS_PER_NODE))) {
        node.excluded = `pod ${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? '?'} requests ${r} that is not a quantity of at most ${MAX_GPUS_PER_NODE}`;
        this.exclude(node.name, node.excluded);
      }
      pool.used += used;
    }
  }

  setAccess(access: { allowed: boolean; reason: string }): void {
    this.state.access = access;
  }

  build(): ClusterState {
    return this.state;
  }

  /** Pods bound to nodes that are not in the node list (deleted nodes): not counted anywhere. */
  get orphanPods(): number {
    return this.unknownNodePods;
  }
}
