import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli } from '../support/run.js';
import { tempDir } from '../support/tmp.js';
import { K8sTestServer, type K8sServerOptions } from '../support/k8s-server.js';
import { cloneNode, t4, type Obj } from '../dispatch/fixtures.js';
import { writeConfig, writeJob, writeSnapshot } from '../dispatch/helpers.js';
import { allocatableProblem, parseQuantity } from '../../src/core/dispatch/quantity.js';

// Issue 13, "Idempotency and fail-closed" for the dispatcher: missing or malformed cluster state is never
// taken for an empty cluster, quantities follow Kubernetes' grammar with bounds, bad job input is exit 2
// before any Job is rendered, a 404 while confirming a failed-over Job means gone, and kubeconfigs that
// are all wrong are the user's input.

const servers: K8sTestServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close().catch(() => undefined);
});

const T4_JOB = { resources: { gpu: 1, gpu_type: 'T4', cpu: '2', memory: '8Gi' } };

async function snapshotDecision(clusters: Record<string, { nodes: Obj[] }>, tamper: (snap: string) => void, job: Obj = T4_JOB) {
  const dir = tempDir('hardening-dispatch');
  const config = writeConfig(dir, clusters);
  const request = writeJob(dir, job);
  const snap = writeSnapshot(dir, clusters);
  tamper(snap);
  const r = await cli(['dispatch', '--snapshot', snap, '--request', request, '--clusters', config, '--json'], { timeoutMs: 60_000 });
  return { ...r, data: r.stdout ? JSON.parse(r.stdout) : undefined, request, config };
}

const explainOf = (data: any, name: string) => data.explain.find((e: any) => e.cluster === name);

describe('dispatch --snapshot fails closed', () => {
  // "big" has four T4 nodes, "small" one: without a reason to exclude it, "big" wins on free GPUs.
  const clusters = () => ({
    big: { nodes: [0, 1, 2, 3].map((i) => cloneNode(t4(), `big-${i}`)) },
    small: { nodes: [cloneNode(t4(), 'small-0')] },
  });

  it('a cluster without pods.json is excluded with its reason, not taken for an empty cluster', async () => {
    const control = await snapshotDecision(clusters(), () => {});
    expect(control.code, control.stderr).toBe(0);
    expect(control.data.cluster).toBe('big');
    const r = await snapshotDecision(clusters(), (snap) => rmSync(join(snap, 'big', 'pods.json')));
    expect(r.code, r.stderr).toBe(0);
    expect(r.data.cluster).toBe('small');
    expect(explainOf(r.data, 'big').fits).toBe(false);
    expect(explainOf(r.data, 'big').reasons.join(' ')).toMatch(/reachable: snapshot has no snapshot\/big\/pods\.json/);
  });

  it.each([
    ['items is an object', '{"kind": "List", "items": {}}'],
    ['items is null', '{"kind": "List", "items": null}'],
    ['no items at all', '{"kind": "List"}'],
  ])('pods.json where %s excludes the cluster', async (_what, text) => {
    const r = await snapshotDecision(clusters(), (snap) => writeFileSync(join(snap, 'big', 'pods.json'), text));
    expect(r.code, r.stderr).toBe(0);
    expect(r.data.cluster).toBe('small');
    expect(explainOf(r.data, 'big').reasons.join(' ')).toContain('"items" is missing or not a list');
  });

  it('nodes.json that is not JSON excludes the cluster; when none is left: exit 1 with every reason', async () => {
    const r = await snapshotDecision(clusters(), (snap) => {
      writeFileSync(join(snap, 'big', 'nodes.json'), '{"items": [ {"kind": "Node", ');
      mkdirSync(join(snap, 'small'), { recursive: true });
      rmSync(join(snap, 'small', 'nodes.json'));
    });
    expect(r.code).toBe(1);
    expect(explainOf(r.data, 'big').reasons.join(' ')).toContain('malformed snapshot');
    expect(explainOf(r.data, 'small').reasons.join(' ')).toContain('snapshot has no snapshot/small/nodes.json');
  });

  it.each([
    ['null', 'null', '$.clusters'],
    ['clusters null', '{"clusters": null}', '$.clusters'],
    ['a cluster without ok', '{"clusters": {"big": {}}}', '$.clusters["big"].ok'],
  ])('snapshot.json that is %s: exit 2 naming the file and field', async (_what, text, at) => {
    const r = await snapshotDecision(clusters(), (snap) => writeFileSync(join(snap, 'snapshot.json'), text));
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`snapshot.json: ${at}`);
    expect(r.stderr).not.toContain('internal error');
  });

  it('a node reporting 999999999999999999999 GPUs is excluded with the reason; the other nodes still count', async () => {
    const c = clusters();
    for (const n of c.big.nodes) n.status.allocatable['nvidia.com/gpu'] = '999999999999999999999';
    c.big.nodes.push(cloneNode(t4(), 'big-ok'));
    const r = await snapshotDecision(c, () => {});
    expect(r.code, r.stderr).toBe(0);
    // big now has one usable node, as small: the order in clusters.yaml breaks the tie, but the 10^21 GPUs are gone.
    const big = explainOf(r.data, 'big');
    expect(big.gpus.total).toBe(2);
    expect(big.checks.reachable.detail).toContain('4 nodes excluded');
    expect(big.excluded_nodes[0]).toEqual({ node: 'big-0', reason: 'allocatable nvidia.com/gpu "999999999999999999999" is more than 1024 GPUs per node' });
  });

  it.each([
    ['not a quantity', '2 GPUs', 'is not a Kubernetes quantity'],
    ['fractional', '1.5', 'is not a whole number'],
    ['negative', '-4', 'is negative'],
    ['exponent beyond the bound', '2e3', 'is more than 1024 GPUs per node'],
  ])('allocatable GPUs %s exclude the node', async (_what, value, reason) => {
    const c = clusters();
    for (const n of c.big.nodes) n.status.allocatable['nvidia.com/gpu'] = value;
    const r = await snapshotDecision(c, () => {});
    expect(r.code, r.stderr).toBe(0);
    expect(r.data.cluster).toBe('small');
    expect(explainOf(r.data, 'big').reasons.join(' ')).toContain(reason);
  });

  it('a pod whose GPU request cannot be read makes its node unusable (it could be busy)', async () => {
    const c = clusters();
    const r = await snapshotDecision(c, (snap) => {
      const pod = { kind: 'Pod', metadata: { name: 'p', namespace: 'x' }, spec: { nodeName: 'big-0', containers: [{ resources: { requests: { 'nvidia.com/gpu': 'lots' } } }] }, status: { phase: 'Running' } };
      writeFileSync(join(snap, 'big', 'pods.json'), JSON.stringify({ kind: 'List', items: [pod] }));
    });
    expect(r.code, r.stderr).toBe(0);
    expect(explainOf(r.data, 'big').gpus.total).toBe(6);
    expect(explainOf(r.data, 'big').excluded_nodes[0].node).toBe('big-0');
  });
});

describe('Kubernetes quantities', () => {
  it.each([
    ['1', 1],
    ['1Ki', 1024],
    ['1.5Gi', 1.5 * 2 ** 30],
    ['100m', 0.1],
    ['500u', 0.0005],
    ['3n', 3e-9],
    ['2k', 2000],
    ['1E', 1e18],
    ['1e3', 1000],
    ['1E3', 1000],
    ['5e-1', 0.5],
    ['+2', 2],
    ['.5', 0.5],
    ['2.', 2],
  ])('%s = %d', (text, n) => expect(parseQuantity(text)).toBeCloseTo(n, 12));

  it.each([' 1', '1 ', '1KiB', '1ki', '0x10', '1.2.3', '', 'Infinity', 'NaN', '1e', 'e3', '--1'])('%j is not a quantity', (text) => {
    expect(parseQuantity(text)).toBeNaN();
  });

  it('bounds', () => {
    expect(allocatableProblem('nvidia.com/gpu', '1024', 'gpu')).toBeUndefined();
    expect(allocatableProblem('nvidia.com/gpu', '1025', 'gpu')).toContain('more than 1024 GPUs');
    expect(allocatableProblem('nvidia.com/gpu', '1k', 'gpu')).toBeUndefined();
    expect(allocatableProblem('nvidia.com/gpu', '2k', 'gpu')).toContain('more than 1024 GPUs');
    expect(allocatableProblem('cpu', '7910m', 'cpu')).toBeUndefined();
    expect(allocatableProblem('memory', '2Ei', 'memory')).toContain('more than 1Ei');
    expect(allocatableProblem('pods', '110', 'pods')).toBeUndefined();
  });
});

describe('dispatch refuses bad job input before any Job is rendered', () => {
  async function live(job: Obj) {
    const a = await K8sTestServer.start({ nodes: [cloneNode(t4(), 'a0')] });
    servers.push(a);
    const dir = tempDir('hardening-dispatch');
    const config = writeConfig(dir, { a: { nodes: [], kubeconfig: { path: a.writeKubeconfig(dir, 'a'), context: 'a' } } });
    const request = writeJob(dir, { ...T4_JOB, ...job });
    const r = await cli(['dispatch', '--request', request, '--clusters', config, '--json'], { timeoutMs: 60_000 });
    return { ...r, a, request };
  }

  it.each([
    ['an image with a newline', { image: 'registry.example.com/ocr-trainer:v3\nEVIL: 1' }, '$.image', 'contains white space, a newline or another control character'],
    ['an env value with a newline', { env: { LR: '1e-4\n::error::x' } }, '$.env.LR', 'env LR contains a newline'],
    ['an env name with a dash', { env: { 'LEARNING-RATE': '1' } }, '$.env["LEARNING-RATE"]', 'is not a C identifier'],
    ['an env name starting with a digit', { env: { '1X': '1' } }, '$.env["1X"]', 'is not a C identifier'],
    ['an empty env name', { env: { '': '1' } }, '$.env[""]', 'is not a C identifier'],
  ])('%s: exit 2 naming the file and the field; the cluster sees no request', async (_what, job, at, message) => {
    const r = await live(job);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(r.request);
    expect(r.stderr).toContain(at.startsWith('$.env.') ? `$.env["${at.slice(6)}"]` : at);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain('fix:');
    expect(r.a.requests).toHaveLength(0);
  });

  it('a valid env is accepted and reaches the Job', async () => {
    const r = await live({ env: { LEARNING_RATE: '1e-4', _X1: 'a b' } });
    expect(r.code, r.stderr).toBe(0);
    const job = [...r.a.jobs.values()][0]!;
    expect(job.spec.template.spec.containers[0].env).toEqual(expect.arrayContaining([{ name: 'LEARNING_RATE', value: '1e-4' }, { name: '_X1', value: 'a b' }]));
  });
});

describe('dispatch live: failover and kubeconfigs', () => {
  async function cluster(opts: Partial<K8sServerOptions> & { nodes: Obj[] }): Promise<K8sTestServer> {
    const s = await K8sTestServer.start(opts);
    servers.push(s);
    return s;
  }

  it('a Job that vanished before the failover (404 on suspend) is gone: it fails over, exit 0', async () => {
    const a = await cluster({ schedule: 'never', nodes: [cloneNode(t4(), 'a0'), cloneNode(t4(), 'a1')] });
    const b = await cluster({ nodes: [cloneNode(t4(), 'b0')] });
    const dir = tempDir('hardening-dispatch');
    const config = writeConfig(dir, { a: { nodes: [], kubeconfig: { path: a.writeKubeconfig(dir, 'a'), context: 'a' } }, b: { nodes: [], kubeconfig: { path: b.writeKubeconfig(dir, 'b'), context: 'b' } } }, { request_timeout: '20s', pending_timeout: '4s' });
    const request = writeJob(dir, T4_JOB);
    const running = cli(['dispatch', '--request', request, '--clusters', config, '--ledger', join(dir, 'ledger.jsonl'), '--json'], { timeoutMs: 90_000 });
    while (a.jobs.size === 0) await new Promise((r) => setTimeout(r, 50));
    // Someone (or the Job's TTL) deletes it while it is pending: suspend and delete then answer 404.
    a.jobs.clear();
    for (const k of [...a.pods.keys()]) a.pods.delete(k);
    const r = await running;
    expect(r.code, r.stderr).toBe(0);
    const data = JSON.parse(r.stdout);
    expect(data.cluster).toBe('b');
    expect(data.attempts.map((x: any) => `${x.cluster}:${x.outcome}`)).toEqual(['a:pending-timeout', 'b:scheduled']);
    expect(b.jobs.size).toBe(1);
  });

  it.each([
    ['a malformed kubeconfig', (dir: string) => ({ path: ((f) => (writeFileSync(f, 'clusters: [\n  - {name: a, cluster: {server: '), f))(join(dir, 'bad.yaml')) })],
    ['a missing context', (dir: string, s: K8sTestServer) => ({ path: s.writeKubeconfig(dir, 'a'), context: 'nope' })],
    ['a missing kubeconfig file', (dir: string) => ({ path: join(dir, 'absent.yaml') })],
  ])('%s on every cluster: exit 2 naming clusters.yaml and the field', async (_what, kubeconfig) => {
    const a = await cluster({ nodes: [cloneNode(t4(), 'a0')] });
    const dir = tempDir('hardening-dispatch');
    const config = writeConfig(dir, { a: { nodes: [], kubeconfig: kubeconfig(dir, a) } });
    const r = await cli(['dispatch', '--request', writeJob(dir, T4_JOB), '--clusters', config, '--json'], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`${config}: $.clusters[0].kubeconfig: no cluster could be used: a: `);
    expect(r.stderr).toContain('fix:');
  });

  it('dispatch snapshot: every kubeconfig wrong is exit 2 too (one unreachable cluster stays exit 3)', async () => {
    const a = await cluster({ nodes: [cloneNode(t4(), 'a0')] });
    const dir = tempDir('hardening-dispatch');
    const out = join(dir, 'snap');
    const bad = writeConfig(dir, { a: { nodes: [], kubeconfig: { path: a.writeKubeconfig(dir, 'a'), context: 'nope' } } });
    const r = await cli(['dispatch', 'snapshot', '--clusters', bad, '--out', out], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`${bad}: $.clusters[0].kubeconfig: no cluster could be used: a: context "nope" is not in kubeconfig`);
    await a.close();
    const down = writeConfig(dir, { a: { nodes: [], kubeconfig: { path: a.writeKubeconfig(dir, 'a'), context: 'a' } } });
    const d = await cli(['dispatch', 'snapshot', '--clusters', down, '--out', out], { timeoutMs: 60_000 });
    expect(d.code, d.stderr).toBe(3);
  });

  it('one bad kubeconfig among good clusters only excludes that cluster', async () => {
    const a = await cluster({ nodes: [cloneNode(t4(), 'a0')] });
    const dir = tempDir('hardening-dispatch');
    const config = writeConfig(dir, { bad: { nodes: [], kubeconfig: { path: a.writeKubeconfig(dir, 'a'), context: 'nope' } }, a: { nodes: [], kubeconfig: { path: a.writeKubeconfig(dir, 'a'), context: 'a' } } });
    const r = await cli(['dispatch', '--request', writeJob(dir, T4_JOB), '--clusters', config, '--json', '--dry-run'], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    const data = JSON.parse(r.stdout);
    expect(data.cluster).toBe('a');
    expect(explainOf(data, 'bad').reasons[0]).toContain('context "nope" is not in kubeconfig');
  });
});
