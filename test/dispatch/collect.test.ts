import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { cli } from '../support/run.js';
import { DIST } from '../support/paths.js';
import { K8sTestServer } from '../support/k8s-server.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { collect } from '../../src/core/dispatch/collect.js';
import { key, openRedis } from '../../src/core/dispatch/redis-state.js';
import { cloneNode, gpuPod, t4, type Obj } from './fixtures.js';
import { tempDir, writeConfig, writeJob, writeSnapshot } from './helpers.js';

/**
 * The collector against Kubernetes API test servers and a real redis-server: informers (list, watch, 410 relist),
 * what dispatch --state reads back, stale state, and the exit codes for a Redis that is unreachable or of
 * another schema.
 */
let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});
const servers: K8sTestServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close().catch(() => undefined);
});

const log = { progress: () => {}, warn: () => {}, info: () => {}, debug: () => {} } as never;
const db = (n: number) => `${redis.url}/${n}`;

async function until<T>(what: string, fn: () => Promise<T | undefined>, limitMs = 20_000): Promise<T> {
  const end = Date.now() + limitMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`still waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A node's group entry in Redis (nodes → group id → groups:<type>). */
async function entry(url: string, cluster: string, type: string, node: string): Promise<string | undefined> {
  const c = await openRedis(url);
  try {
    const id = await c.hGet(key(cluster, 'nodes'), node);
    return id ? ((await c.hGet(key(cluster, `groups:${type}`), id)) ?? undefined) : undefined;
  } finally {
    await c.quit();
  }
}

describe('mlloop dispatch collect', () => {
  it('watches: a pod created after the initial list, and one after a 410 Gone relist, show up in Redis', async () => {
    const a = await K8sTestServer.start({ nodes: [cloneNode(t4(), 'a0'), cloneNode(t4(), 'a1')], pods: [gpuPod('a0', 1, 'first')], priorityClasses: [{ apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'training-high' }, value: 1000 }] });
    servers.push(a);
    const dir = tempDir();
    const clusters = writeConfig(dir, { a: { nodes: [], kubeconfig: { path: a.writeKubeconfig(dir, 'a'), context: 'a' } } });
    const ctl = new AbortController();
    const url = db(1);
    const running = collect({ clustersFile: clusters, redisUrl: url, once: false, env: {}, secret: () => {}, log, now: () => new Date(), signal: ctl.signal, flushMs: 20 });
    try {
      const T4 = 'T4|15||';
      const used = async (node: string) => {
        const e = await entry(url, 'a', T4, node);
        return e ? (JSON.parse(e)[6][0] as number) : undefined;
      };
      expect(await until('the initial state', () => used('a0'))).toBe(1);
      expect(await used('a1')).toBe(0);
      a.applyPod(gpuPod('a1', 2, 'later'));
      await until('the new pod on a1', async () => ((await used('a1')) === 2 ? true : undefined));
      // History compacted and watches cut: the informer resumes with its resourceVersion, gets 410 and lists again.
      a.compact();
      a.removePod('team-a', 'first');
      await until('the deleted pod gone from a0', async () => ((await used('a0')) === 0 ? true : undefined));
      const c = await openRedis(url);
      const summary = await c.hGetAll(key('a', 'summary'));
      const victims = await c.hGetAll(key('a', 'victims'));
      await c.quit();
      expect(summary.schema).toBe('2');
      expect(Number(summary.generation)).toBeGreaterThan(1);
      expect(JSON.parse(summary.info!).priority_classes).toEqual({ 'training-high': 1000 });
      expect(JSON.parse(victims.a1!)).toEqual([['team-a', 'later', 0, gpuPod('a1', 2, 'later').status.startTime, 2, 'nvidia.com/gpu']]);
      const watches = a.requests.filter((r) => r.query.watch === 'true');
      expect(watches.map((w) => w.path)).toEqual(expect.arrayContaining(['/api/v1/nodes', '/api/v1/pods', '/apis/scheduling.k8s.io/v1/priorityclasses']));
      expect(watches.every((w) => w.query.allowWatchBookmarks === 'true')).toBe(true);
      // The relist after 410: more than one list of pods.
      expect(a.requests.filter((r) => r.path === '/api/v1/pods' && r.query.watch !== 'true').length).toBeGreaterThan(1);
    } finally {
      ctl.abort();
      await running;
    }
  });

  it('the collector process stops on SIGTERM: watches closed, state kept, the process exits', async () => {
    const a = await K8sTestServer.start({ nodes: [cloneNode(t4(), 'a0')], pods: [gpuPod('a0', 1, 'first')] });
    servers.push(a);
    const dir = tempDir();
    const clusters = writeConfig(dir, { a: { nodes: [], kubeconfig: { path: a.writeKubeconfig(dir, 'a'), context: 'a' } } });
    const child = spawn(process.execPath, [join(DIST, 'cli.cjs'), 'dispatch', 'collect', '--clusters', clusters, '--redis', db(4)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.resume();
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await until('the collector watching', async () => (/watching/.test(stderr) ? true : undefined));
      child.kill('SIGTERM');
      // Exits within 15 s of SIGTERM, or the race fails the test.
      const code = await Promise.race([exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`still running 15 s after SIGTERM: ${stderr}`)), 15_000))]);
      // A Deployment stopping its pod is a normal end for the service.
      expect(code, stderr).toBe(0);
      expect(await entry(db(4), 'a', 'T4|15||', 'a0')).toBeDefined();
    } finally {
      child.kill('SIGKILL');
    }
  }, 40_000);

  it('a cluster whose informer cannot start is recorded with the API\'s answer; the others are collected', async () => {
    const bad = await K8sTestServer.start({ nodes: [cloneNode(t4(), 'x0')], forbidden: /^\/api\/v1\/pods$/ });
    const good = await K8sTestServer.start({ nodes: [cloneNode(t4(), 'g0')] });
    servers.push(bad, good);
    const dir = tempDir();
    const clusters = writeConfig(dir, { bad: { nodes: [], kubeconfig: { path: bad.writeKubeconfig(dir, 'bad'), context: 'bad' } }, good: { nodes: [], kubeconfig: { path: good.writeKubeconfig(dir, 'good'), context: 'good' } } });
    const url = db(2);
    const r = await collect({ clustersFile: clusters, redisUrl: url, once: true, env: {}, secret: () => {}, log, now: () => new Date(), signal: new AbortController().signal });
    expect(r.clusters.good).toMatchObject({ ok: true, nodes: 1 });
    expect(r.clusters.bad!.error).toMatch(/^HTTP 403: pods is forbidden/);
    const job = writeJob(dir, { resources: { gpu: 1, gpu_type: 'T4', cpu: '1', memory: '1Gi' } });
    const d = await cli(['dispatch', '--state', url, '--request', job, '--clusters', clusters, '--dry-run', '--json']);
    expect(d.code, d.stderr).toBe(0);
    const out = JSON.parse(d.stdout);
    expect(out.cluster).toBe('good');
    expect(out.explain.find((e: Obj) => e.cluster === 'bad').reasons[0]).toMatch(/^reachable: HTTP 403: pods is forbidden/);
  });

  it('collect --snapshot then dispatch --state: the snapshot decision; stale state is excluded', async () => {
    const dir = tempDir();
    const spec = { a: { nodes: [cloneNode(t4(), 'a0')] }, b: { nodes: [cloneNode(t4(), 'b0'), cloneNode(t4(), 'b1')] } };
    const snap = writeSnapshot(dir, spec);
    const clusters = writeConfig(dir, spec, { max_state_age: '5m' });
    const job = writeJob(dir, { resources: { gpu: 1, gpu_type: 'T4', cpu: '1', memory: '1Gi' } });
    const url = db(3);
    const c = await cli(['dispatch', 'collect', '--clusters', clusters, '--redis', url, '--snapshot', snap, '--json']);
    expect(c.code, c.stderr).toBe(0);
    const viaSnapshot = JSON.parse((await cli(['dispatch', '--snapshot', snap, '--request', job, '--clusters', clusters, '--json'])).stdout);
    const fresh = await cli(['dispatch', '--state', url, '--request', job, '--clusters', clusters, '--dry-run', '--json']);
    expect(fresh.code, fresh.stderr).toBe(0);
    const viaRedis = JSON.parse(fresh.stdout);
    expect(viaRedis.cluster).toBe('b');
    expect(viaRedis.explain).toEqual(viaSnapshot.explain);
    // State collected ten minutes ago is too old.
    const r = await openRedis(url);
    for (const name of ['a', 'b']) await r.hSet(key(name, 'summary'), 'synced_at', new Date(Date.now() - 10 * 60_000).toISOString());
    await r.quit();
    const stale = await cli(['dispatch', '--state', url, '--request', job, '--clusters', clusters, '--dry-run', '--json']);
    const out = JSON.parse(stale.stdout);
    expect(stale.code).toBe(1);
    expect(out.explain[0].reasons[0]).toMatch(/^reachable: state collected \d+s ago \(.*\), older than policy.max_state_age 300s$/);
  });

  it('bad input: an unreachable Redis is exit 3 naming the URL without its password; another schema is exit 2', async () => {
    const dir = tempDir();
    const spec = { a: { nodes: [cloneNode(t4(), 'a0')] } };
    const clusters = writeConfig(dir, spec);
    const job = writeJob(dir, { resources: { gpu: 1, gpu_type: 'T4' } });
    const down = await cli(['dispatch', '--state', 'redis://:s3cret-pw@127.0.0.1:1/0', '--request', job, '--clusters', clusters]);
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(/Redis at redis:\/\/:?\*\*\*@127\.0\.0\.1:1\/0 is unreachable/);
    expect(down.stderr).not.toContain('s3cret-pw');
    const url = db(4);
    const c = await openRedis(url);
    await c.hSet(key('a', 'summary'), { schema: '99', synced_at: new Date().toISOString(), generation: '1' });
    await c.quit();
    const other = await cli(['dispatch', '--state', url, '--request', job, '--clusters', clusters]);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/schema 99.*rerun mlloop dispatch collect/s);
  });
});

