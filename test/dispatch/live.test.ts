import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli } from '../support/run.js';
import { K8sTestServer, type K8sServerOptions } from '../support/k8s-server.js';
import { cloneNode, gpuPod, t4, a100Mig, type Obj } from './fixtures.js';
import { tempDir, writeConfig, writeJob } from './helpers.js';

/**
 * mlloop dispatch end to end: dist/cli.cjs against one Kubernetes API test server per cluster, loaded
 * with the real node and pod shapes.
 */
const servers: K8sTestServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close().catch(() => undefined);
});

async function cluster(opts: Partial<K8sServerOptions> & { nodes?: Obj[] } = {}): Promise<K8sTestServer> {
  const s = await K8sTestServer.start({ nodes: opts.nodes ?? [cloneNode(t4(), 'n0'), cloneNode(t4(), 'n1')], ...opts });
  servers.push(s);
  return s;
}

interface Setup {
  dir: string;
  job: string;
  clusters: string;
  ledger: string;
  env: Record<string, string>;
}

/** clusters.yaml pointing at the servers: the first by kubeconfig file and context, the others by env var. */
function setup(byName: Record<string, K8sTestServer>, policy: Obj = {}, job: Obj = {}, extra: Record<string, Obj> = {}): Setup {
  const dir = tempDir();
  const env: Record<string, string> = {};
  const specs = Object.fromEntries(
    Object.entries(byName).map(([name, s], i) => {
      let kubeconfig: Obj;
      if (i === 0) kubeconfig = { path: s.writeKubeconfig(dir, name), context: name };
      else {
        const v = `KUBECONFIG_${name.toUpperCase().replace(/-/g, '_')}`;
        env[v] = s.kubeconfig(name);
        kubeconfig = { env: v };
      }
      return [name, { nodes: [], kubeconfig, ...(extra[name] ?? {}) }];
    }),
  );
  return {
    dir,
    env,
    // Generous defaults: a busy CI machine must not turn a slow answer into an exclusion or a failover.
    clusters: writeConfig(dir, specs, { request_timeout: '20s', pending_timeout: '60s', ...policy }),
    job: writeJob(dir, { resources: { gpu: 1, gpu_type: 'T4', cpu: '2', memory: '8Gi' }, ...job }),
    ledger: join(dir, 'ledger.jsonl'),
  };
}

async function dispatch(s: Setup, args: string[] = [], env: Record<string, string> = {}) {
  const r = await cli(['dispatch', '--request', s.job, '--clusters', s.clusters, '--ledger', s.ledger, '--json', ...args], { env: { ...s.env, ...env }, timeoutMs: 90_000 });
  let data: any;
  try {
    data = JSON.parse(r.stdout);
  } catch {
    data = undefined;
  }
  return { ...r, data };
}

const ledgerEvents = (s: Setup) =>
  readFileSync(s.ledger, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .map((e) => `${e.event}${e.cluster ? ` ${e.cluster}` : ''}`);

describe('mlloop dispatch against live clusters', () => {
  it('submits to the best cluster, waits until scheduled, and records it in the ledger', async () => {
    // Pods are scheduled 2 s after the Job is created, so the wait has to go through the watch.
    const a = await cluster({ nodes: [cloneNode(t4(), 'a0'), cloneNode(t4(), 'a1')], schedule: { afterMs: 2000 } });
    const b = await cluster({ nodes: [cloneNode(t4(), 'b0')] });
    const s = setup({ a, b });
    const r = await dispatch(s);
    expect(r.code, r.stderr).toBe(0);
    expect(r.data.status).toBe('scheduled');
    expect(r.data.cluster).toBe('a');
    expect(r.data.namespace).toBe('team-ocr');
    expect(a.jobs.size).toBe(1);
    expect(b.creates).toHaveLength(0);
    const job = [...a.jobs.values()][0]!;
    expect(job.metadata.labels['mlloop.io/dispatch-id']).toBe(r.data.dispatch_id);
    expect(job.spec.template.spec.nodeSelector).toEqual({ 'nvidia.com/gpu.product': 'Tesla-T4' });
    // Both clusters were asked whether the tenant may create Jobs in its namespace.
    for (const srv of [a, b]) expect(srv.requests.some((q) => q.path === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews')).toBe(true);
    // Pods were listed without terminal ones, page by page.
    expect(a.requests.find((q) => q.path === '/api/v1/pods')!.query).toMatchObject({ fieldSelector: 'status.phase!=Succeeded,status.phase!=Failed', limit: '500' });
    expect(ledgerEvents(s)).toEqual(['decided a', 'submitted a', 'scheduled a']);
    // It waited with a watch on the dispatch's pods, from the resourceVersion of its list.
    const watch = a.requests.find((q) => q.query.watch === 'true')!;
    expect(watch.path).toBe('/api/v1/namespaces/team-ocr/pods');
    expect(watch.query.labelSelector).toBe(`mlloop.io/dispatch-id=${r.data.dispatch_id}`);
    expect(Number(watch.query.resourceVersion)).toBeGreaterThan(0);
    expect([...a.invalid, ...b.invalid]).toEqual([]);
  });

  it('permission denied: a cluster whose SelfSubjectAccessReview says no is not used', async () => {
    const a = await cluster({ allow: () => false });
    const b = await cluster({ nodes: [cloneNode(t4(), 'b0')] });
    const r = await dispatch(setup({ a, b }));
    expect(r.code, r.stderr).toBe(0);
    expect(r.data.cluster).toBe('b');
    const ea = r.data.explain.find((e: any) => e.cluster === 'a');
    expect(ea.fits).toBe(false);
    expect(ea.reasons).toContain('permission: may not create jobs.batch in team-ocr (RBAC: access denied)');
    expect(a.creates).toHaveLength(0);
  });

  it('an unreachable cluster is excluded with its reason, not fatal', async () => {
    const a = await cluster({ nodes: [cloneNode(t4(), 'a0'), cloneNode(t4(), 'a1'), cloneNode(t4(), 'a2')] });
    const b = await cluster();
    const s = setup({ a, b });
    await a.close();
    const r = await dispatch(s);
    expect(r.code, r.stderr).toBe(0);
    expect(r.data.cluster).toBe('b');
    expect(r.data.explain.find((e: any) => e.cluster === 'a').reasons).toEqual(['reachable: unreachable (ECONNREFUSED)']);
    expect(r.stderr).toContain('a excluded: unreachable (ECONNREFUSED)');
  });

  it('a cluster whose API refuses to list pods (RBAC) is excluded with the API\'s answer', async () => {
    const a = await cluster({ forbidden: /^\/api\/v1\/pods$/, nodes: [cloneNode(t4(), 'a0'), cloneNode(t4(), 'a1'), cloneNode(t4(), 'a2')] });
    const b = await cluster();
    const r = await dispatch(setup({ a, b }));
    expect(r.code, r.stderr).toBe(0);
    expect(r.data.cluster).toBe('b');
    expect(r.data.explain.find((e: any) => e.cluster === 'a').reasons[0]).toMatch(/^reachable: HTTP 403: pods is forbidden: User "system:serviceaccount:mlloop:mlloop-dispatcher" cannot list/);
  });

  it('a cluster slower than request_timeout is excluded', async () => {
    const slow = await cluster({ latencyMs: 8000, nodes: [cloneNode(t4(), 's0'), cloneNode(t4(), 's1'), cloneNode(t4(), 's2')] });
    const b = await cluster();
    const r = await dispatch(setup({ slow, b }, { request_timeout: '4s' }));
    expect(r.code, r.stderr).toBe(0);
    expect(r.data.cluster).toBe('b');
    expect(r.data.explain.find((e: any) => e.cluster === 'slow').reasons).toEqual(['reachable: no answer within 4s']);
  });

  it('fails over when the pods stay pending: suspend, delete, confirm gone, then submit elsewhere', async () => {
    const a = await cluster({ schedule: 'never', deleteDelayMs: 300, nodes: [cloneNode(t4(), 'a0'), cloneNode(t4(), 'a1')] });
    const b = await cluster({ nodes: [cloneNode(t4(), 'b0')] });
    const s = setup({ a, b }, { pending_timeout: '5s' });
    const r = await dispatch(s);
    expect(r.code, r.stderr).toBe(0);
    expect(r.data.status).toBe('scheduled');
    expect(r.data.cluster).toBe('b');
    expect(r.data.attempts.map((x: any) => `${x.cluster}:${x.outcome}`)).toEqual(['a:pending-timeout', 'b:scheduled']);
    expect(a.jobs.size).toBe(0);
    expect([...a.pods.values()].filter((p) => p.metadata.labels?.['mlloop.io/dispatch-id'])).toEqual([]);
    const methods = a.requests.filter((q) => q.path.includes('/jobs')).map((q) => q.method);
    expect(methods.indexOf('PATCH')).toBeGreaterThan(methods.indexOf('POST'));
    expect(methods.indexOf('DELETE')).toBeGreaterThan(methods.indexOf('PATCH'));
    expect(ledgerEvents(s)).toEqual(['decided a', 'submitted a', 'pending-timeout a', 'suspended a', 'deleted a', 'gone a', 'submitted b', 'scheduled b']);
    expect(b.jobs.size).toBe(1);
    expect([...a.invalid, ...b.invalid]).toEqual([]);
  });

  it('never submits twice: if the old cluster stops answering during failover, exit 3 and nothing elsewhere', async () => {
    const a = await cluster({ schedule: 'never', nodes: [cloneNode(t4(), 'a0'), cloneNode(t4(), 'a1')] });
    const b = await cluster({ nodes: [cloneNode(t4(), 'b0')] });
    const s = setup({ a, b }, { pending_timeout: '4s' });
    const running = dispatch(s);
    while (a.creates.length === 0) await new Promise((r) => setTimeout(r, 50));
    await a.close();
    const r = await running;
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/cannot confirm that ocr-v3-0-[0-9a-f]{8} is gone from a .*not submitting it elsewhere/);
    expect(b.creates).toHaveLength(0);
    expect(ledgerEvents(s).slice(-2)).toEqual(['pending-timeout a', 'failover-blocked a']);
  });

  it('stops after max_failovers and leaves the job queued where it is', async () => {
    const a = await cluster({ schedule: 'never', nodes: [cloneNode(t4(), 'a0'), cloneNode(t4(), 'a1')] });
    const b = await cluster({ schedule: 'never' });
    const s = setup({ a, b }, { max_failovers: 0, pending_timeout: '1s' });
    const r = await dispatch(s);
    expect(r.code, r.stderr).toBe(0);
    expect(r.data.status).toBe('pending');
    expect(r.data.attempts.map((x: any) => x.outcome)).toEqual(['left-pending']);
    expect(a.jobs.size).toBe(1);
    expect(b.creates).toHaveLength(0);
  });

  it('a retried dispatch is idempotent: 409 with the same dispatch id is success, and the ledger keeps it on its cluster', async () => {
    const a = await cluster({ nodes: [cloneNode(t4(), 'a0'), cloneNode(t4(), 'a1')] });
    const b = await cluster({ nodes: [cloneNode(t4(), 'b0')] });
    const s = setup({ a, b });
    const first = await dispatch(s, ['--no-wait']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.data.status).toBe('submitted');
    expect(first.data.cluster).toBe('a');
    // Meanwhile b became the better cluster; the retry must still not create a second Job there.
    b.nodes.push(cloneNode(t4(), 'b1'), cloneNode(t4(), 'b2'));
    const again = await dispatch(s);
    expect(again.code, again.stderr).toBe(0);
    expect(again.data.cluster, JSON.stringify({ attempts: again.data.attempts, ledger: ledgerEvents(s), first: first.data.attempts })).toBe('a');
    expect(again.data.attempts.map((x: any) => x.outcome)).toEqual(['scheduled']);
    expect(again.data.dispatch_id).toBe(first.data.dispatch_id);
    expect(a.creates).toHaveLength(2);
    expect(a.jobs.size).toBe(1);
    expect(b.creates).toHaveLength(0);
    expect(ledgerEvents(s)).toContain('already-submitted a');
  });

  it('refuses to treat a Job of another dispatch with the same name as its own (exit 2)', async () => {
    const a = await cluster();
    const s = setup({ a });
    const first = await dispatch(s, ['--no-wait']);
    const existing = [...a.jobs.values()][0]!;
    existing.metadata.labels['mlloop.io/dispatch-id'] = 'someone-else';
    const r = await dispatch(s, ['--no-wait', '--ledger', join(s.dir, 'other-ledger.jsonl')]);
    expect(first.code).toBe(0);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/already exists in a\/team-ocr and belongs to dispatch someone-else/);
  });

  it('submits a Volcano Job (validated against the CRD schema) to a volcano cluster', async () => {
    const v = await cluster({ nodes: [cloneNode(t4(), 'v0'), cloneNode(t4(), 'v1')] });
    const s = setup({ v }, { scheduler: 'volcano', queue: 'training' }, { nodes: 2 });
    const r = await dispatch(s);
    expect(r.code, r.stderr).toBe(0);
    const job = [...v.jobs.values()][0]!;
    expect(job.apiVersion).toBe('batch.volcano.sh/v1alpha1');
    expect(job.spec.minAvailable).toBe(2);
    expect(v.invalid).toEqual([]);
    const ssar = v.requests.find((q) => q.path.endsWith('selfsubjectaccessreviews'));
    expect(ssar).toBeDefined();
  });

  it('fails a Volcano Job over by deleting it (v1alpha1 has no suspend), then confirming it gone', async () => {
    const a = await cluster({ schedule: 'never', nodes: [cloneNode(t4(), 'a0'), cloneNode(t4(), 'a1')] });
    const b = await cluster({ nodes: [cloneNode(t4(), 'b0')] });
    const s = setup({ a, b }, { scheduler: 'volcano', pending_timeout: '5s' });
    const r = await dispatch(s);
    expect(r.code, r.stderr).toBe(0);
    expect(r.data.attempts.map((x: any) => `${x.cluster}:${x.outcome}`)).toEqual(['a:pending-timeout', 'b:scheduled']);
    expect(a.requests.filter((q) => q.path.startsWith('/apis/batch.volcano.sh/')).map((q) => q.method)).not.toContain('PATCH');
    expect(a.jobs.size).toBe(0);
    expect(ledgerEvents(s)).toEqual(['decided a', 'submitted a', 'pending-timeout a', 'deleted a', 'gone a', 'submitted b', 'scheduled b']);
    expect([...a.invalid, ...b.invalid]).toEqual([]);
  });

  it('MIG: a 1g.5gb job lands on the A100 MIG node asking for nvidia.com/mig-1g.5gb', async () => {
    const mig = await cluster({ nodes: [a100Mig()] });
    const t = await cluster();
    const r = await dispatch(setup({ t, mig }, {}, { resources: { gpu: 1, gpu_type: 'A100 MIG 1g.5gb', cpu: '1', memory: '4Gi' } }));
    expect(r.code, r.stderr).toBe(0);
    expect(r.data.cluster).toBe('mig');
    expect(r.data.job.spec.template.spec.containers[0].resources.limits['nvidia.com/mig-1g.5gb']).toBe('1');
  });

  it('no cluster fits: exit 1, every reason printed', async () => {
    const a = await cluster({ pods: [gpuPod('n0', 2, 'p0'), gpuPod('n1', 1, 'p1')] });
    const s = setup({ a }, {}, { resources: { gpu: 2, gpu_type: 'T4', cpu: '2', memory: '8Gi' } });
    const r = await dispatch(s);
    expect(r.code).toBe(1);
    expect(r.data.status).toBe('no-fit');
    expect(r.stderr).toContain('no cluster fits: a: capacity: 1 free T4 of 4, needs 2; at most 1 on one node');
    const text = await cli(['dispatch', '--request', s.job, '--clusters', s.clusters], { env: s.env });
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/cluster\s+fits\s+reachable\s+tenant\s+gpu type/);
  });

  it('never prints kubeconfigs or tokens, even with debug logging and on errors', async () => {
    const a = await cluster();
    const b = await cluster();
    const s = setup({ a, b });
    await b.close();
    const runs = [await dispatch(s, ['--dry-run'], { MLLOOP_DEBUG: '1' }), await cli(['dispatch', '--request', s.job, '--clusters', s.clusters, '--dry-run', '--explain'], { env: { ...s.env, MLLOOP_DEBUG: '1' } })];
    for (const r of runs) {
      expect(r.code, r.stderr).toBe(0);
      for (const secret of [a.token, b.token, s.env.KUBECONFIG_B!]) {
        expect(r.stdout).not.toContain(secret);
        expect(r.stderr).not.toContain(secret);
      }
    }
    expect(a.creates).toHaveLength(0); // --dry-run submits nothing
  });

  it('dispatch snapshot captures every reachable cluster; deciding from it matches the live decision', async () => {
    const a = await cluster({ nodes: [cloneNode(t4(), 'a0')], pods: [gpuPod('a0', 1, 'busy')] });
    const b = await cluster({ nodes: [cloneNode(t4(), 'b0'), cloneNode(t4(), 'b1')] });
    const gone = await cluster();
    const s = setup({ a, b, gone });
    await gone.close();
    const out = join(s.dir, 'snap');
    const snap = await cli(['dispatch', 'snapshot', '--clusters', s.clusters, '--out', out, '--json'], { env: s.env });
    expect(snap.code, snap.stderr).toBe(0);
    const index = JSON.parse(snap.stdout);
    expect(index.clusters.a).toEqual({ ok: true, nodes: 1, pods: 1 });
    expect(index.clusters.gone.ok).toBe(false);
    expect(existsSync(join(out, 'gone'))).toBe(false);
    const access = JSON.parse(readFileSync(join(out, 'b', 'access.json'), 'utf8'));
    expect(access).toContainEqual({ namespace: 'team-ocr', group: 'batch', resource: 'jobs', verb: 'create', allowed: true, reason: 'may create jobs.batch in team-ocr' });
    const pods = JSON.parse(readFileSync(join(out, 'a', 'pods.json'), 'utf8'));
    expect(pods.kind).toBe('List');
    expect(pods.items[0].spec.containers[0].resources.requests['nvidia.com/gpu']).toBe('1');
    const offline = await dispatch(s, ['--snapshot', out]);
    const live = await dispatch(s, ['--dry-run']);
    expect(offline.code, offline.stderr).toBe(0);
    expect(offline.data.cluster).toBe('b');
    expect(offline.data.cluster).toBe(live.data.cluster);
    expect(offline.data.explain.map((e: any) => [e.cluster, e.fits, e.score])).toEqual(live.data.explain.map((e: any) => [e.cluster, e.fits, e.score]).map((x: any[]) => (x[0] === 'gone' ? ['gone', false, null] : x)));
    expect(existsSync(s.ledger)).toBe(false); // snapshot and dry-run decisions are not written to the ledger
  });

  it('bad input is exit 2 naming the file and the field', async () => {
    const a = await cluster();
    const s = setup({ a }, {}, { resources: { gpu: 0, gpu_type: 'T4' } });
    const r = await cli(['dispatch', '--request', s.job, '--clusters', s.clusters], { env: s.env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${s.job}: $.resources.gpu: must be >= 1`);
    writeFileSync(s.job, 'job_name: x\nimage: i\ntenant: nobody\nresources: {gpu: 1}\nentrypoint: x\n');
    const t = await cli(['dispatch', '--request', s.job, '--clusters', s.clusters], { env: s.env });
    expect(t.code).toBe(2);
    expect(t.stderr).toContain('$.tenant: tenant "nobody" is not in');
    expect(a.requests).toHaveLength(0);
  });
});
