import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { K8S_FIXTURES } from '../support/paths.js';

/**
 * The real public node and pod dumps of test/fixtures/k8s (see SOURCES.md there), turned into
 * Node and Pod objects for the dispatcher's tests. Full Node objects are used as published; label-only
 * dumps (H100, DGX A100) are wrapped into a Node whose allocatable GPUs come from their own
 * `nvidia.com/gpu.count` / `mig-*.count` labels and whose CPU/memory/conditions are those of the real
 * T4 node; the L40S node is parsed from its `kubectl describe node` text.
 */
export type Obj = Record<string, any>;
export const K8S = K8S_FIXTURES;

const yamlFile = (f: string) => parse(readFileSync(join(K8S, f), 'utf8')) as Obj;
const jsonFile = (f: string) => JSON.parse(readFileSync(join(K8S, f), 'utf8')) as Obj;

export const a100Mig = (): Obj => yamlFile('node-a100-mig-gcp.yaml');
export const t4 = (): Obj => yamlFile('node-t4-x2-gcp.yaml');
export const a16 = (): Obj => jsonFile('node-a16-vgpu-rke2-list.json').items[0];

function fromLabels(name: string, labels: Record<string, string>): Obj {
  const shape = t4();
  const allocatable: Record<string, string> = { cpu: shape.status.allocatable.cpu, memory: shape.status.allocatable.memory, pods: '110' };
  const mig = Object.entries(labels).filter(([k]) => /^nvidia\.com\/mig-[^.]+\.[^.]+\.count$/.test(k));
  const strategy = labels['nvidia.com/mig.strategy'];
  if (mig.length && strategy === 'mixed') {
    allocatable['nvidia.com/gpu'] = '0';
    for (const [k, v] of mig) allocatable[k.replace(/\.count$/, '')] = v;
  } else allocatable['nvidia.com/gpu'] = labels['nvidia.com/gpu.count'] ?? '1';
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels },
    spec: {},
    status: { allocatable, capacity: allocatable, conditions: shape.status.conditions },
  };
}

export const h100 = (): Obj => fromLabels('s4124-0073', jsonFile('node-h100-gfd-labels.json'));
export const h100Mig = (): Obj => fromLabels('s4124-0073', jsonFile('node-h100-mig-mixed-gfd-labels.json'));
export const a100Dgx = (): Obj => fromLabels('dgx-a100', jsonFile('node-a100-dgx-gfd-labels.json'));

/** Parses `kubectl describe node` text into a Node object (labels, taints, capacity, allocatable, conditions). */
export function nodeFromDescribe(text: string): Obj {
  const lines = text.replace(/\r/g, '').split('\n');
  const node: Obj = { apiVersion: 'v1', kind: 'Node', metadata: { labels: {} }, spec: {}, status: { conditions: [] } };
  let section = '';
  for (const line of lines) {
    const head = /^([A-Za-z][A-Za-z ]*):\s*(.*)$/.exec(line);
    if (head) {
      section = head[1]!;
      const v = head[2]!;
      if (section === 'Name') node.metadata.name = v;
      if (section === 'Labels' && v) {
        const [k, val] = v.split('=');
        node.metadata.labels[k!] = val ?? '';
      }
      if (section === 'Taints' && v && v !== '<none>') (node.spec.taints ??= []).push(parseTaint(v));
      if (section === 'Unschedulable') node.spec.unschedulable = v === 'true';
      if (section === 'Capacity') node.status.capacity = {};
      if (section === 'Allocatable') node.status.allocatable = {};
      continue;
    }
    const t = line.trim();
    if (!t) continue;
    if (section === 'Labels' && /^\S+=/.test(t)) {
      const i = t.indexOf('=');
      node.metadata.labels[t.slice(0, i)] = t.slice(i + 1);
    } else if (section === 'Taints' && /^\S+:\S+$/.test(t)) node.spec.taints.push(parseTaint(t));
    else if ((section === 'Capacity' || section === 'Allocatable') && /^\S+:\s+\S+$/.test(t)) {
      const [k, v] = t.split(/:\s+/);
      node.status[section.toLowerCase()][k!] = v;
    } else if (section === 'Conditions' && !t.startsWith('Type') && !t.startsWith('----')) {
      const [type, status] = t.split(/\s+/);
      node.status.conditions.push({ type, status });
    }
  }
  return node;
}

function parseTaint(text: string): Obj {
  const [kv, effect] = text.split(':');
  const [key, value] = kv!.split('=');
  return { key, ...(value ? { value } : {}), effect };
}

export const l40sTainted = (): Obj => nodeFromDescribe(readFileSync(join(K8S, 'node-l40s-eks-tainted-describe.txt'), 'utf8'));

export const podGpuRequest = (): Obj => yamlFile('pod-gpu-request-1.yaml');
export const podFraction = (): Obj => yamlFile('pod-gpu-fraction-runai.yaml');
export const podMig = (): Obj => yamlFile('pod-mig-1g5gb-runai.yaml');
export const e2eJob = (): Obj => yamlFile('job-gpu-1-k8s-device-plugin-e2e.yaml');

/** A copy of a real node shape under another name (clusters of many identical nodes). */
export function cloneNode(node: Obj, name: string, patch: (n: Obj) => void = () => {}): Obj {
  const n = structuredClone(node);
  n.metadata.name = name;
  if (n.metadata.labels?.['kubernetes.io/hostname']) n.metadata.labels['kubernetes.io/hostname'] = name;
  patch(n);
  return n;
}

/** The real GPU reservation pod, bound to `nodeName` and holding `gpus` GPUs (or a MIG resource). */
export function gpuPod(nodeName: string | undefined, gpus: number, name: string, resource = 'nvidia.com/gpu', phase = 'Running'): Obj {
  const p = podGpuRequest();
  p.metadata.name = name;
  p.metadata.namespace = 'team-a';
  if (nodeName) p.spec.nodeName = nodeName;
  else delete p.spec.nodeName;
  p.spec.containers[0].resources = { limits: { [resource]: String(gpus) }, requests: { [resource]: String(gpus) } };
  p.status.phase = phase;
  return p;
}

/** The GPU's product label value of a node fixture. */
export const product = (n: Obj): string => n.metadata.labels['nvidia.com/gpu.product'];
