import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { readClusters, readJobRequest, namespaceFor, tenantOf } from '../../src/core/dispatch/config.js';
import { decide, type ClusterInput } from '../../src/core/dispatch/decide.js';
import { ClusterStateBuilder } from '../../src/core/dispatch/state.js';
import type { Obj } from './fixtures.js';
import { tempDir as supportTempDir } from '../support/tmp.js';

export function tempDir(): string {
  return supportTempDir('dispatch');
}

export const baseJob = {
  job_name: 'ocr-v3.0',
  image: 'registry.example.com/ocr-trainer:latest',
  dataset: 'invoice-clean-2025Q1',
  tenant: 'u123',
  priority: 'high',
  resources: { gpu: 2, gpu_type: 'A100', memory: '32Gi', cpu: '4' },
  entrypoint: 'python train.py --epochs 30 --lr 1e-4',
};

export interface ClusterSpec {
  nodes: Obj[];
  pods?: Obj[];
  datasets?: string[];
  allowed?: boolean;
  scheduler?: 'kubernetes' | 'volcano';
  kubeconfig?: Obj;
}

export function writeConfig(dir: string, clusters: Record<string, ClusterSpec>, policy: Obj = {}, tenants?: Obj): string {
  const file = join(dir, 'clusters.yaml');
  writeFileSync(
    file,
    stringify({
      clusters: Object.entries(clusters).map(([name, c]) => ({
        name,
        ...(c.kubeconfig ? { kubeconfig: c.kubeconfig } : {}),
        namespaces: { training: 'training-ns', serving: 'serving-ns' },
        ...(c.datasets ? { datasets: c.datasets } : {}),
        ...(c.scheduler ? { scheduler: c.scheduler } : {}),
      })),
      tenants: tenants ?? { u123: { namespace: 'team-ocr', clusters: Object.keys(clusters) } },
      policy: { weights: { free_gpus: 1, queue_delay: 1, locality: 0.5, failure_rate: 1 }, pending_timeout: '10m', max_failovers: 2, ...policy },
    }),
  );
  return file;
}

export function writeJob(dir: string, patch: Obj = {}, name = 'job.yaml'): string {
  const file = join(dir, name);
  writeFileSync(file, stringify({ ...baseJob, ...patch, resources: { ...baseJob.resources, ...(patch.resources ?? {}) } }));
  return file;
}

/** Writes a snapshot folder in kubectl form. */
export function writeSnapshot(dir: string, clusters: Record<string, ClusterSpec>): string {
  const snap = join(dir, 'snapshot');
  for (const [name, c] of Object.entries(clusters)) {
    mkdirSync(join(snap, name), { recursive: true });
    writeFileSync(join(snap, name, 'nodes.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: c.nodes, metadata: { resourceVersion: '' } }, null, 2));
    writeFileSync(join(snap, name, 'pods.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: c.pods ?? [], metadata: { resourceVersion: '' } }, null, 2));
  }
  return snap;
}

/** Decides in-process from objects (the same path as a snapshot, without files for the state). */
export async function decideFor(clusters: Record<string, ClusterSpec>, opts: { job?: Obj; policy?: Obj; failures?: Map<string, { attempts: number; failures: number }>; tenants?: Obj; access?: Record<string, boolean> } = {}) {
  const dir = tempDir();
  const config = await readClusters(writeConfig(dir, clusters, opts.policy, opts.tenants));
  const jobFile = writeJob(dir, opts.job);
  const request = await readJobRequest(jobFile);
  const inputs: ClusterInput[] = Object.entries(clusters).map(([name, c]) => {
    const b = new ClusterStateBuilder(name, 'registry.example.com/ocr-trainer:latest');
    for (const n of c.nodes) b.addNode(n);
    for (const p of c.pods ?? []) b.addPod(p);
    const allowed = opts.access?.[name] ?? true;
    b.setAccess({ allowed, reason: allowed ? 'may create jobs.batch' : 'may not create jobs.batch in team-ocr' });
    return { name, state: b.build() };
  });
  const namespaces = Object.fromEntries(config.clusters.map((c) => [c.name, namespaceFor(config, c, request.file.tenant, jobFile)]));
  const t = tenantOf(config, request.file.tenant, jobFile);
  return decide({ request, config, clusters: inputs, namespaces, allowed: t.clusters, failures: opts.failures ?? new Map(), tolerations: [...config.policy.tolerations, ...(request.file.tolerations ?? [])] });
}
