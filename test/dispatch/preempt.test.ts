import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dispatch } from '../../src/core/dispatch/dispatch.js';
import { collect } from '../../src/core/dispatch/collect.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { K8sTestServer } from '../support/k8s-server.js';
import { readFileSync } from 'node:fs';
import { cloneNode, gpuPod, t4, type Obj } from './fixtures.js';
import { tempDir, writeConfig, writeJob, writeSnapshot, type ClusterSpec } from './helpers.js';

/** --allow-preemption: which running pods of strictly lower priority would make room, through the snapshot and Redis paths. */
let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

const log = { progress: () => {}, warn: () => {}, info: () => {}, debug: () => {} } as never;
const classes = { apiVersion: 'v1', kind: 'List', items: [['training-high', 1000], ['training-normal', 100], ['training-low', 10]].map(([name, value]) => ({ apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name }, value })) };

function pod(node: string, gpus: number, name: string, priority: number, extra: Obj = {}): Obj {
  const p = gpuPod(node, gpus, name);
  p.spec.priority = priority;
  if (extra.start) p.status.startTime = extra.start;
  if (extra.protect) p.metadata.labels = { ...(p.metadata.labels ?? {}), 'mlloop.io/preemptible': 'false' };
  return p;
}

/** Two full T4 clusters (2 GPUs per node): a needs one victim of priority 100, b two victims of priority 10. */
function setup(priority: string) {
  const dir = tempDir();
  const clusters: Record<string, ClusterSpec> = {
    a: { nodes: [cloneNode(t4(), 'a0'), cloneNode(t4(), 'a1')], pods: [pod('a0', 2, 'big', 100), pod('a1', 1, 'protected', 0, { protect: true }), pod('a1', 1, 'same', 1000)] },
    b: { nodes: [cloneNode(t4(), 'b0')], pods: [pod('b0', 1, 'old', 10, { start: '2025-01-01T00:00:00Z' }), pod('b0', 1, 'new', 10, { start: '2025-06-01T00:00:00Z' })] },
  };
  const snap = writeSnapshot(dir, clusters);
  for (const c of Object.keys(clusters)) writeFileSync(join(snap, c, 'priorityclasses.json'), JSON.stringify(classes));
  const clustersFile = writeConfig(dir, clusters, { priority_classes: { high: 'training-high', normal: 'training-normal', low: 'training-low' } });
  const job = writeJob(dir, { priority, resources: { gpu: 2, gpu_type: 'T4', cpu: '1', memory: '1Gi' } });
  return { dir, snap, clustersFile, job };
}

const run = (s: ReturnType<typeof setup>, o: { allow?: boolean; state?: string } = {}) =>
  dispatch({ requestFile: s.job, clustersFile: s.clustersFile, ...(o.state ? { stateUrl: o.state } : { snapshotDir: s.snap }), allowPreemption: o.allow, dryRun: true, wait: false, env: {}, secret: () => {}, log, now: () => new Date(), signal: new AbortController().signal });

describe('dispatch --allow-preemption', () => {
  it('without the flag nothing fits, and the explanation says what preemption would take in each cluster', async () => {
    const out = await run(setup('high'));
    expect(out.status).toBe('no-fit');
    expect(out.preemptions).toEqual([]);
    expect(out.explain.find((e) => e.cluster === 'a')!.preemption).toBe('preempting 1 pod of priority below 1000: team-a/big on a0 (priority 100, 2 GPUs) (job in team-ocr)');
    expect(out.explain.find((e) => e.cluster === 'b')!.preemption).toBe('preempting 2 pods of priority below 1000: team-a/new on b0 (priority 10, 1 GPU), team-a/old on b0 (priority 10, 1 GPU) (job in team-ocr)');
  });

  it('with it: the fewest victims win; protected and equal-priority pods are never chosen', async () => {
    const s = setup('high');
    const out = await run(s, { allow: true });
    expect(out.status).toBe('decided');
    expect(out.cluster).toBe('a');
    expect(out.preemptions).toEqual([{ cluster: 'a', namespace: 'team-a', pod: 'big', node: 'a0', priority: 100, gpus: 2 }]);
    expect(out.job!.spec).toBeDefined();
  });

  it('a normal job may only evict lower classes: on a1 the protected pod and the equal one stay, so b (priority 10) is chosen', async () => {
    const out = await run(setup('normal'), { allow: true });
    expect(out.cluster).toBe('b');
    expect(out.preemptions.map((p) => p.pod).sort()).toEqual(['new', 'old']);
    expect(out.explain.find((e) => e.cluster === 'a')!.preemption).toMatch(/^preemption cannot make room: no node of T4 where evicting pods of priority below 100 frees 2 GPUs$/);
  });

  it('a job of the lowest class preempts nothing', async () => {
    const out = await run(setup('low'), { allow: true });
    expect(out.status).toBe('no-fit');
    expect(out.preemptions).toEqual([]);
  });

  it('the Redis path plans the same preemption', async () => {
    const s = setup('high');
    const url = `${redis.url}/5`;
    await collect({ clustersFile: s.clustersFile, redisUrl: url, once: true, snapshotDir: s.snap, env: {}, secret: () => {}, log, now: () => new Date(), signal: new AbortController().signal });
    const viaRedis = await run(s, { allow: true, state: url });
    const viaSnapshot = await run(s, { allow: true });
    expect(viaRedis.preemptions).toEqual(viaSnapshot.preemptions);
    expect(viaRedis.explain.map((e) => e.preemption)).toEqual(viaSnapshot.explain.map((e) => e.preemption));
  });

  it('live: the victims are evicted through the Eviction API, recorded in the ledger, and the Job is submitted once they are gone', async () => {
    const s = setup('high');
    const server = await K8sTestServer.start({ nodes: [cloneNode(t4(), 'a0'), cloneNode(t4(), 'a1')], pods: [pod('a0', 2, 'big', 100), pod('a1', 1, 'protected', 0, { protect: true }), pod('a1', 1, 'same', 1000)], priorityClasses: classes.items, evictionGraceMs: 300 });
    try {
      const clustersFile = writeConfig(s.dir, { a: { nodes: [], kubeconfig: { path: server.writeKubeconfig(s.dir, 'a'), context: 'a' } } }, { priority_classes: { high: 'training-high', normal: 'training-normal', low: 'training-low' } });
      const ledger = join(s.dir, 'ledger.jsonl');
      const out = await dispatch({ requestFile: s.job, clustersFile, allowPreemption: true, dryRun: false, wait: false, ledger, env: {}, secret: () => {}, log, now: () => new Date(), signal: new AbortController().signal });
      expect(out.status).toBe('submitted');
      expect(out.preemptions).toEqual([{ cluster: 'a', namespace: 'team-a', pod: 'big', node: 'a0', priority: 100, gpus: 2 }]);
      expect(server.evictions).toEqual(['team-a/big']);
      expect(server.pods.has('team-a/big')).toBe(false);
      expect(server.pods.has('team-a/protected')).toBe(true);
      expect(server.invalid).toEqual([]);
      // The Eviction came before the Job, and the Job only after the pod was gone (a GET answered 404).
      const evict = server.requests.findIndex((r) => r.path.endsWith('/pods/big/eviction'));
      const create = server.requests.findIndex((r) => r.method === 'POST' && r.path.endsWith('/jobs'));
      expect(evict).toBeGreaterThanOrEqual(0);
      expect(create).toBeGreaterThan(evict);
      const events = readFileSync(ledger, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(events.map((e) => e.event)).toEqual(['decided', 'preempted', 'submitted']);
      expect(events[1].detail).toBe('evicted team-a/big on a0 (priority 100, 2 GPUs)');
    } finally {
      await server.close();
    }
  });
});
