import { formatGpuRequest, formatGpuType, gpuMatches, type GpuType } from './gpu.js';
import type { ClusterState, NodeState, Taint } from './state.js';
import type { DispatchConfig, JobRequest, Toleration, Weights } from './config.js';
import { formatBytes, formatMillis } from './quantity.js';

/**
 * Filter and score: every cluster gets each filter's result and, when it fits, each score term, so
 * the choice can be explained. Pure: the same state, request and policy always give the same answer.
 */
export type CheckName = 'reachable' | 'tenant' | 'gpu_type' | 'schedulable' | 'capacity' | 'permission';
export interface Check {
  /** true passed, false failed, null not evaluated (an earlier check failed, or not checkable offline). */
  pass: boolean | null;
  detail: string;
}

export interface Terms {
  free_gpus: number;
  queue_delay: number;
  locality: number;
  image_locality: number;
  failure_rate: number;
}

export interface ClusterExplain {
  cluster: string;
  namespace: string;
  fits: boolean;
  reasons: string[];
  score: number | null;
  terms: Partial<Terms>;
  checks: Record<CheckName, Check>;
  /** Free GPUs of the requested type on nodes the job may use, and their total. */
  gpus: { free: number; total: number; largest_free_on_one_node: number };
  predicted_wait_minutes: number | null;
  /** Nodes the replicas would land on (the scheduler decides; this is the feasibility witness). */
  placement: string[];
  /** nodeSelector values of the GPU product on the nodes that fit. */
  product: { label: string; values: string[] } | null;
  /** The extended resource the job requests there (`nvidia.com/gpu`, or `nvidia.com/mig-1g.5gb` with the mixed MIG strategy). */
  gpu_resource: string | null;
  /** Nodes left out because their state cannot be trusted (the first few; the count is in checks.reachable). */
  excluded_nodes: { node: string; reason: string }[];
  /** When no cluster fits and running pods could be preempted: what preemption would take here (or why not). */
  preemption?: string;
}

export interface ClusterInput {
  name: string;
  state?: ClusterState;
  /** Why the state could not be read (unreachable, timed out, no snapshot folder). */
  error?: string;
}

export interface FailureStats {
  attempts: number;
  failures: number;
}

export interface Decision {
  cluster: string | null;
  namespace: string | null;
  ranking: string[];
  explain: ClusterExplain[];
}

/** Kubernetes' toleration rule (k8s.io/api/core/v1 Toleration.ToleratesTaint). */
export function tolerates(tolerations: readonly Toleration[], taint: Taint): boolean {
  return tolerations.some((t) => {
    if (t.effect && t.effect !== taint.effect) return false;
    if (!t.key) return t.operator === 'Exists';
    if (t.key !== taint.key) return false;
    if ((t.operator ?? 'Equal') === 'Exists') return true;
    return (t.value ?? '') === (taint.value ?? '');
  });
}

function untolerated(node: NodeState, tolerations: readonly Toleration[]): Taint | undefined {
  if (node.taints.length === 0) return undefined;
  for (const taint of node.taints) {
    if (taint.effect === 'PreferNoSchedule') continue;
    if (!tolerates(tolerations, taint)) return taint;
  }
  return undefined;
}

const fmtTaint = (t: Taint) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`;
const round = (x: number) => Math.round(x * 1e6) / 1e6;

/**
 * How many replicas fit on a node with `free` GPUs of the requested type: by GPUs, CPU, memory and pod slots
 * (taints, readiness and cordons aside). The Redis reader asks it too, to read node names only where a replica fits.
 */
export function replicasFitting(node: NodeState, free: number, request: Pick<JobRequest, 'gpus' | 'cpuMillis' | 'memoryBytes'>): number {
  let fits = Math.floor(free / request.gpus);
  if (request.cpuMillis > 0) fits = Math.min(fits, Math.floor((node.cpu.allocatable - node.cpu.used) / request.cpuMillis));
  if (request.memoryBytes > 0) fits = Math.min(fits, Math.floor((node.memory.allocatable - node.memory.used) / request.memoryBytes));
  return Math.min(fits, node.pods.allocatable - node.pods.used);
}

interface Candidate {
  node: NodeState;
  /** The node's name (a group read from Redis gives one candidate per name). */
  name: string;
  resource: string;
  free: number;
  total: number;
  fits: number;
}

export function decide(input: {
  request: JobRequest;
  config: DispatchConfig;
  clusters: readonly ClusterInput[];
  namespaces: Readonly<Record<string, string>>;
  allowed?: readonly string[];
  failures: ReadonlyMap<string, FailureStats>;
  tolerations: readonly Toleration[];
  /** When the snapshot has no access record, permission is "not checked" instead of failing. */
  offline?: boolean;
}): Decision {
  const { request, config } = input;
  const w: Weights = config.policy.weights;
  const order = new Map(config.clusters.map((c, i) => [c.name, i]));
  const explain = input.clusters.map((c) => explainCluster(c, input, w));
  const fitting = explain.filter((e) => e.fits);
  fitting.sort((a, b) => b.score! - a.score! || b.gpus.free - a.gpus.free || order.get(a.cluster)! - order.get(b.cluster)! || a.cluster.localeCompare(b.cluster));
  const best = fitting[0];
  return { cluster: best?.cluster ?? null, namespace: best?.namespace ?? null, ranking: fitting.map((e) => e.cluster), explain };
}

function explainCluster(c: ClusterInput, input: Parameters<typeof decide>[0], w: Weights): ClusterExplain {
  const { request, config } = input;
  const namespace = input.namespaces[c.name] ?? 'default';
  const none = (detail = 'not evaluated'): Check => ({ pass: null, detail });
  const checks: Record<CheckName, Check> = { reachable: none(), tenant: none(), gpu_type: none(), schedulable: none(), capacity: none(), permission: none() };
  const out: ClusterExplain = { cluster: c.name, namespace, fits: false, reasons: [], score: null, terms: {}, checks, gpus: { free: 0, total: 0, largest_free_on_one_node: 0 }, predicted_wait_minutes: null, placement: [], product: null, gpu_resource: null, excluded_nodes: [] };
  const fail = (name: CheckName, detail: string) => {
    checks[name] = { pass: false, detail };
    out.reasons.push(`${name}: ${detail}`);
  };

  checks.tenant = input.allowed && !input.allowed.includes(c.name)
    ? { pass: false, detail: `tenant ${request.file.tenant} may use ${input.allowed.join(', ') || 'no cluster'}` }
    : { pass: true, detail: input.allowed ? `tenant ${request.file.tenant} allowed` : 'no tenant restrictions' };
  if (checks.tenant.pass === false) out.reasons.push(`tenant: ${checks.tenant.detail}`);

  if (!c.state) {
    fail('reachable', c.error ?? 'no state');
    return out;
  }
  const state = c.state;
  const ex = state.excluded;
  const excludedText = ex.count ? `${ex.count} node${ex.count === 1 ? '' : 's'} excluded (${ex.nodes.map((n) => `${n.node}: ${n.reason}`).join('; ')}${ex.count > ex.nodes.length ? '; …' : ''})` : '';
  checks.reachable = { pass: true, detail: `${state.nodeCount ?? state.nodes.length} nodes, ${state.podCount} pods${excludedText ? `; ${excludedText}` : ''}` };
  out.excluded_nodes = ex.nodes;

  // Permission (SelfSubjectAccessReview, or the snapshot's record of it).
  if (state.access) {
    checks.permission = state.access.allowed ? { pass: true, detail: state.access.reason } : { pass: false, detail: state.access.reason };
    if (!state.access.allowed) out.reasons.push(`permission: ${state.access.reason}`);
  } else if (input.offline) checks.permission = { pass: null, detail: 'not checked (snapshot has no access record)' };
  else fail('permission', 'access review not performed');

  // GPU type, then which of those nodes the job may use, then which have room.
  const req = request.gpu;
  const wanted = formatGpuRequest(req);
  const matchingTypes = [...state.byType.keys()].filter((t) => gpuMatches(req, t));
  const matchingSet = new Set(matchingTypes);
  let typed = 0;
  let notReady = 0;
  let cordoned = 0;
  const taintCounts = new Map<string, number>();
  // One pass over the nodes of the requested type; only nodes that can take a replica are kept.
  let usable = 0;
  let free = 0;
  let total = 0;
  let largest = 0;
  let placeable = 0;
  let withFree = 0;
  let withGpus = 0;
  let withImage = 0;
  let fittingNodes = 0;
  const fitting: Candidate[] = [];
  const values = new Set<string>();
  let label = '';
  let lastValue = '';
  // Only nodes with a pool of a matching type are read (the state indexes nodes by GPU type).
  let scanNodes: Iterable<NodeState> = matchingTypes.length === 1 ? state.byType.get(matchingTypes[0]!)! : [];
  if (matchingTypes.length > 1) {
    const set = new Set<NodeState>();
    for (const t of matchingTypes) for (const n of state.byType.get(t)!) set.add(n);
    scanNodes = set;
  }
  for (const node of scanNodes) {
    let nodeFree = 0;
    let nodeTotal = 0;
    let resource = '';
    for (const pool of node.pools) {
      if (!matchingSet.has(pool.type)) continue;
      nodeFree += Math.max(0, pool.allocatable - pool.used);
      nodeTotal += pool.allocatable;
      resource ||= pool.resource;
    }
    if (nodeTotal === 0 || node.excluded) continue;
    // A group read from Redis counts as its nodes.
    const group = node.group;
    const count = group ? group.count : 1;
    typed += count;
    if (!node.ready) {
      notReady += count;
      continue;
    }
    if (node.unschedulable) {
      cordoned += count;
      continue;
    }
    const taint = untolerated(node, input.tolerations);
    if (taint) {
      const k = fmtTaint(taint);
      taintCounts.set(k, (taintCounts.get(k) ?? 0) + count);
      continue;
    }
    usable += count;
    free += nodeFree * count;
    total += nodeTotal * count;
    if (nodeFree > largest) largest = nodeFree;
    if (nodeFree > 0) withFree += count;
    if (Math.floor(nodeFree / request.gpus) > 0) withGpus += count;
    const fits = replicasFitting(node, nodeFree, request);
    if (fits <= 0) continue;
    placeable += fits * count;
    fittingNodes += count;
    if (group) {
      withImage += group.withImage;
      for (const name of group.names) fitting.push({ node, name, resource, free: nodeFree, total: nodeTotal, fits });
    } else {
      if (node.hasImage) withImage++;
      fitting.push({ node, name: node.name, resource, free: nodeFree, total: nodeTotal, fits });
    }
    const pl = node.productLabel;
    if (pl && pl.value !== lastValue && (!label || pl.key === label)) {
      label = pl.key;
      lastValue = pl.value;
      values.add(pl.value);
    }
  }
  if (typed === 0) {
    const byName = new Map<string, number>();
    for (const [t, n] of state.gpuTotals) byName.set(formatGpuType(t), (byName.get(formatGpuType(t)) ?? 0) + n);
    const have = [...byName.entries()].slice(0, 12).map(([k, n]) => `${n}× ${k}`).join(', ');
    fail('gpu_type', `no ${wanted} nodes (cluster has ${have || 'no GPUs'}${excludedText ? `; ${excludedText}` : ''})`);
    return finish(out);
  }
  checks.gpu_type = { pass: true, detail: `${typed} node${typed === 1 ? '' : 's'} with ${wanted}` };
  if (usable === 0) {
    const why = [
      ...[...taintCounts.entries()].map(([t, n]) => `${n} tainted ${t} (not tolerated)`),
      ...(notReady ? [`${notReady} not Ready`] : []),
      ...(cordoned ? [`${cordoned} cordoned`] : []),
    ];
    fail('schedulable', `no ${wanted} node the job may use: ${why.join(', ')}`);
    return finish(out);
  }
  const excluded = typed - usable;
  checks.schedulable = { pass: true, detail: `${usable} of ${typed} ${wanted} nodes usable${excluded ? ` (${excluded} excluded: taints, not Ready or cordoned)` : ''}` };
  out.gpus = { free, total, largest_free_on_one_node: largest };
  const replicas = request.replicas;
  const perReplica = `${request.gpus}× ${wanted}${request.cpuMillis ? `, ${formatMillis(request.cpuMillis)} CPU` : ''}${request.memoryBytes ? `, ${formatBytes(request.memoryBytes)}` : ''}`;
  if (placeable < replicas) {
    let detail: string;
    if (withGpus === 0) {
      detail = `${free} free ${wanted} across ${withFree} nodes, at most ${largest} on one node; needs ${request.gpus} on one node (fragmented)`;
      if (free < request.gpus * replicas) detail = `${free} free ${wanted} of ${total}, needs ${request.gpus * replicas}${largest ? `; at most ${largest} on one node` : ''}`;
    } else if (placeable === 0) {
      detail = `${withGpus} node${withGpus === 1 ? ' has' : 's have'} ${request.gpus} free ${wanted} but not the CPU/memory (${perReplica})`;
    } else {
      detail = `room for ${placeable} of ${replicas} replicas (${perReplica} each)`;
    }
    fail('capacity', detail);
    return finish(out);
  }
  // Feasibility witness: pack fills the fullest nodes first, spread the emptiest (ties by name). Only the
  // nodes used are selected, by linear scans: no sort of 100,000 candidates per decision.
  const pack = input.config.policy.placement === 'pack';
  const better = (a: Candidate, b: Candidate) => (a.free !== b.free ? (pack ? a.free < b.free : a.free > b.free) : a.name < b.name);
  const used = new Set<Candidate>();
  let left = replicas;
  while (left > 0) {
    let best: Candidate | undefined;
    for (const cand of fitting) if ((used.size === 0 || !used.has(cand)) && (!best || better(cand, best))) best = cand;
    if (!best) break;
    used.add(best);
    for (let k = 0; k < best.fits && left > 0; k++, left--) out.placement.push(best.name);
  }
  checks.capacity = { pass: true, detail: `${free} free ${wanted} of ${total}; room for ${placeable} replica${placeable === 1 ? '' : 's'} of ${perReplica}` };
  out.product = label ? { label, values: [...values].sort() } : null;
  out.gpu_resource = [...used][0]?.resource ?? null;

  if (out.reasons.length) return finish(out);

  // Score terms, each in [0, 1], higher is better.
  const need = request.gpus * replicas;
  const leftover = Math.max(0, free - need);
  const freeTerm = total > 0 ? (input.config.policy.placement === 'pack' ? 1 - leftover / total : leftover / total) : 0;
  const pendingAhead = pendingDemand(state, req.mig);
  const shortfall = Math.max(0, pendingAhead + need - free);
  const waitMs = total > 0 ? (shortfall / total) * input.config.policy.meanJobDurationMs : 0;
  const queueTerm = 1 / (1 + waitMs / input.config.policy.meanJobDurationMs);
  const cfg = input.config.clusters.find((x) => x.name === c.name);
  const dataset = request.file.dataset;
  const locality = dataset && cfg?.datasets?.includes(dataset) ? 1 : 0;
  const imageTerm = fittingNodes ? withImage / fittingNodes : 0;
  const f = input.failures.get(c.name) ?? { attempts: 0, failures: 0 };
  const failureRate = Math.min(1, f.failures / (f.attempts + 1));
  out.terms = { free_gpus: round(freeTerm), queue_delay: round(queueTerm), locality, image_locality: round(imageTerm), failure_rate: round(1 - failureRate) };
  out.predicted_wait_minutes = round(waitMs / 60_000);
  out.score = round(w.free_gpus * freeTerm + w.queue_delay * queueTerm + w.locality * locality + w.image_locality * imageTerm + w.failure_rate * (1 - failureRate));
  out.fits = true;
  return out;
}

/** GPU demand of pods waiting for a node, of the kind the job asks for (whole GPUs or its MIG profile). */
function pendingDemand(state: ClusterState, mig: string | undefined): number {
  return state.pendingGpu.get(mig ? `nvidia.com/mig-${mig}` : 'nvidia.com/gpu') ?? 0;
}

function finish(out: ClusterExplain): ClusterExplain {
  out.fits = false;
  return out;
}
