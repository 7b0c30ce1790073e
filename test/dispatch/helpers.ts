import { afterAll, beforeAll } from 'vitest';
import { writeFileSync, mkdirSync } from 'node:fs';
import { startRedis, type RedisServer } from '../support/redis.js';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { readClusters, readJobRequest, namespaceFor, tenantOf } from '../../src/core/dispatch/config.js';
import { decide, type ClusterInput, type Decision } from '../../src/core/dispatch/decide.js';
import { ClusterStateBuilder, normalizeImage } from '../../src/core/dispatch/state.js';
import { loadClusterSnapshot } from '../../src/core/dispatch/snapshot.js';
import { closeClient, collectState, connect } from '../../src/core/dispatch/k8s.js';
import { collect } from '../../src/core/dispatch/collect.js';
import { openRedis, readClusters as readRedis } from '../../src/core/dispatch/redis-state.js';
import { K8sTestServer } from '../support/k8s-server.js';
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
  const params = { request, config, namespaces, allowed: t.clusters, failures: opts.failures ?? new Map(), tolerations: [...config.policy.tolerations, ...(request.file.tolerations ?? [])] };
  const decision = decide({ ...params, clusters: inputs });
  if (crossCheck.redisUrl) await samePathsDecide(dir, clusters, opts.access ?? {}, params, decision, crossCheck.redisUrl);
  return decision;
}

/** When set (test/dispatch/paths.test.ts), every decideFor also decides through the snapshot, live and Redis paths. */
export const crossCheck: { redisUrl?: string } = {};

/** For the whole test file: a real redis-server, and every decideFor cross-checked through all paths with it. */
export function crossCheckAllPaths(): void {
  let redis: RedisServer | undefined;
  beforeAll(async () => {
    redis = await startRedis();
    crossCheck.redisUrl = redis.url;
  });
  afterAll(async () => {
    crossCheck.redisUrl = undefined;
    await redis?.stop();
  });
}

/** A decision without the permission check's wording (the in-process state records it without the namespace). */
function comparable(d: Decision) {
  return {
    cluster: d.cluster,
    namespace: d.namespace,
    ranking: d.ranking,
    explain: d.explain.map((e) => ({ ...e, reasons: e.reasons.filter((r) => !r.startsWith('permission:')), checks: { ...e.checks, permission: e.checks.permission.pass } })),
  };
}

/**
 * Decides the same state through `--snapshot` (files), live (one Kubernetes API test server per cluster) and
 * `--state redis://` (collect --snapshot, then the Redis reader), and expects the in-process decision from each.
 */
async function samePathsDecide(dir: string, clusters: Record<string, ClusterSpec>, access: Record<string, boolean>, params: Omit<Parameters<typeof decide>[0], 'clusters'>, expected: Decision, redisUrl: string): Promise<void> {
  const { expect } = await import('vitest');
  const image = normalizeImage(params.request.file.image);
  const want = { namespace: 'team-ocr', group: 'batch', resource: 'jobs' };
  const snap = writeSnapshot(dir, clusters);
  for (const name of Object.keys(clusters)) {
    writeFileSync(join(snap, name, 'access.json'), JSON.stringify([{ ...want, verb: 'create', allowed: access[name] ?? true }]));
  }
  const names = Object.keys(clusters);
  const viaSnapshot = await Promise.all(names.map((n) => loadClusterSnapshot(snap, n, { image, access: want })));
  const servers = await Promise.all(names.map((n) => K8sTestServer.start({ nodes: clusters[n]!.nodes, pods: clusters[n]!.pods ?? [], allow: () => access[n] ?? true })));
  let viaLive: ClusterInput[];
  try {
    const ctl = new AbortController();
    viaLive = await Promise.all(
      names.map(async (n, i) => {
        const c = await connect({ name: n, kubeconfig: { path: servers[i]!.writeKubeconfig(dir, n), context: n } }, { env: {}, baseDir: dir, secret: () => {}, timeoutMs: 20_000, signal: ctl.signal });
        try {
          return await collectState(c, { image, access: want });
        } finally {
          closeClient(c);
        }
      }),
    );
  } finally {
    await Promise.all(servers.map((s) => s.close()));
  }
  const prefix = `t${Math.random().toString(36).slice(2, 10)}`;
  const renamed = Object.fromEntries(names.map((n) => [`${prefix}-${n}`, clusters[n]!]));
  // Redis keys are per cluster name: a prefix keeps concurrent cases apart in one server.
  const redisSnap = writeSnapshot(join(dir, 'r'), renamed);
  for (const name of Object.keys(renamed)) writeFileSync(join(redisSnap, name, 'access.json'), JSON.stringify([{ ...want, verb: 'create', allowed: access[name.slice(prefix.length + 1)] ?? true }]));
  const redisClusters = writeConfig(join(dir, 'r'), renamed, {}, { u123: { namespace: 'team-ocr' } });
  const log = { progress: () => {}, warn: () => {}, info: () => {}, debug: () => {} } as never;
  await collect({ clustersFile: redisClusters, redisUrl, once: true, snapshotDir: redisSnap, env: {}, secret: () => {}, log, now: () => new Date(), signal: new AbortController().signal });
  const client = await openRedis(redisUrl);
  let viaRedis: ClusterInput[];
  try {
    const read = await readRedis(client, Object.keys(renamed), { request: params.request, image, access: () => want, now: new Date(), maxAgeMs: 60_000, url: redisUrl });
    viaRedis = read.map((r, i) => ({ ...r, name: names[i]!, ...(r.state ? { state: { ...r.state, name: names[i]! } } : {}) }));
  } finally {
    await client.quit();
  }
  for (const [path, inputs] of [['snapshot', viaSnapshot], ['live', viaLive], ['redis', viaRedis]] as const) {
    expect(comparable(decide({ ...params, clusters: inputs })), `decision through the ${path} path`).toEqual(comparable(expected));
  }
}
