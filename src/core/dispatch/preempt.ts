import { gpuMatches, formatGpuRequest } from './gpu.js';
import { tolerates } from './decide.js';
import type { DispatchConfig, JobRequest, Toleration } from './config.js';
import type { ClusterState, NodeState } from './state.js';
import type { Victim } from './redis-state.js';

/**
 * Preemption planning (pure): when no cluster fits, which running pods of strictly lower priority would have to be
 * evicted so the job's replicas fit on nodes of its GPU type. Pods labelled mlloop.io/preemptible: "false" are never
 * candidates (the collector leaves them out). Preferred: fewest victims, then the lowest priority, then the shortest
 * running; ties by the order in clusters.yaml.
 */
export interface Preemption {
  cluster: string;
  namespace: string;
  pod: string;
  node: string;
  priority: number;
  gpus: number;
}

export interface ClusterPlan {
  cluster: string;
  /** The victims, or undefined when preemption cannot make room here (with why). */
  victims?: Preemption[];
  detail: string;
}

export interface PreemptionInput {
  name: string;
  state?: ClusterState;
  victims?: ReadonlyMap<string, readonly Victim[]>;
  priorityClasses?: Readonly<Record<string, number>>;
}

interface NodeOption {
  node: NodeState;
  victims: Victim[];
}

/** The job's priority in a cluster: its PriorityClass (policy.priority_classes) looked up in that cluster. */
export function jobPriority(request: JobRequest, config: DispatchConfig, classes: Readonly<Record<string, number>>): { value?: number; why?: string } {
  const cls = config.policy.priorityClasses[request.file.priority ?? 'normal'];
  if (!cls) return { why: `no PriorityClass for priority ${request.file.priority ?? 'normal'} in policy.priority_classes` };
  const value = classes[cls];
  if (value === undefined) return { why: `PriorityClass ${cls} is not defined in the cluster` };
  return { value };
}

/** On one node: the fewest victims that free `need` GPUs (largest first), lowest priority and shortest running first among equals. */
function victimsOn(node: NodeState, candidates: readonly Victim[], need: number, below: number, resources: Set<string>): Victim[] | undefined {
  const usable = candidates.filter((v) => v[2] < below && resources.has(v[5]));
  usable.sort((a, b) => b[4] - a[4] || a[2] - b[2] || (a[3] < b[3] ? 1 : a[3] > b[3] ? -1 : 0));
  const out: Victim[] = [];
  let freed = 0;
  for (const v of usable) {
    if (freed >= need) break;
    out.push(v);
    freed += v[4];
  }
  return freed >= need ? out : undefined;
}

const cmpOption = (a: NodeOption, b: NodeOption) =>
  a.victims.length - b.victims.length ||
  Math.max(...a.victims.map((v) => v[2])) - Math.max(...b.victims.map((v) => v[2])) ||
  // Shortest running first: the latest start time among the victims.
  (latest(b) < latest(a) ? -1 : latest(b) > latest(a) ? 1 : 0) ||
  (a.node.name < b.node.name ? -1 : 1);
const latest = (o: NodeOption) => o.victims.reduce((m, v) => (v[3] > m ? v[3] : m), '');

export function planCluster(c: PreemptionInput, request: JobRequest, config: DispatchConfig, tolerations: readonly Toleration[], namespace: (cluster: string) => string): ClusterPlan {
  const wanted = formatGpuRequest(request.gpu);
  if (!c.state) return { cluster: c.name, detail: 'no state' };
  const prio = jobPriority(request, config, c.priorityClasses ?? {});
  if (prio.value === undefined) return { cluster: c.name, detail: `preemption not possible: ${prio.why}` };
  const options: NodeOption[] = [];
  const seen = new Set<NodeState>();
  for (const [type, nodes] of c.state.byType) {
    if (!gpuMatches(request.gpu, type)) continue;
    for (const node of nodes) {
      if (seen.has(node)) continue;
      seen.add(node);
      if (node.excluded || !node.ready || node.unschedulable) continue;
      if (node.taints.some((t) => t.effect !== 'PreferNoSchedule' && !tolerates(tolerations, t))) continue;
      let free = 0;
      let total = 0;
      const resources = new Set<string>();
      for (const p of node.pools) {
        if (!gpuMatches(request.gpu, p.type)) continue;
        free += Math.max(0, p.allocatable - p.used);
        total += p.allocatable;
        resources.add(p.resource);
      }
      if (total < request.gpus) continue;
      const need = request.gpus - free;
      if (need <= 0) continue;
      const v = victimsOn(node, c.victims?.get(node.name) ?? [], need, prio.value, resources);
      if (v) options.push({ node, victims: v });
    }
  }
  options.sort(cmpOption);
  if (options.length < request.replicas) {
    return { cluster: c.name, detail: `preemption cannot make room: no ${request.replicas > 1 ? `${request.replicas} nodes` : 'node'} of ${wanted} where evicting pods of priority below ${prio.value} frees ${request.gpus} GPUs` };
  }
  const chosen = options.slice(0, request.replicas);
  const victims = chosen.flatMap((o) => o.victims.map((v): Preemption => ({ cluster: c.name, namespace: v[0], pod: v[1], node: o.node.name, priority: v[2], gpus: v[4] })));
  return {
    cluster: c.name,
    victims,
    detail: `preempting ${victims.length} pod${victims.length === 1 ? '' : 's'} of priority below ${prio.value}: ${victims.map((v) => `${v.namespace}/${v.pod} on ${v.node} (priority ${v.priority}, ${v.gpus} GPU${v.gpus === 1 ? '' : 's'})`).join(', ')} (job in ${namespace(c.name)})`,
  };
}

/** The best plan over the clusters the filter allowed except for capacity: fewest victims, lowest priority, shortest running. */
export function planPreemption(plans: readonly ClusterPlan[], order: ReadonlyMap<string, number>): ClusterPlan | undefined {
  const withVictims = plans.filter((p) => p.victims);
  const key = (p: ClusterPlan) => [p.victims!.length, Math.max(...p.victims!.map((v) => v.priority))];
  withVictims.sort((a, b) => key(a)[0]! - key(b)[0]! || key(a)[1]! - key(b)[1]! || order.get(a.cluster)! - order.get(b.cluster)!);
  return withVictims[0];
}
