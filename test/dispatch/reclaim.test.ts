import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { K8sTestServer } from '../support/k8s-server.js';
import { startPrometheus, type PrometheusService } from '../support/services.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { cloneNode, t4, type Obj } from './fixtures.js';
import { tempDir, writeConfig, writeJob } from './helpers.js';
import { dispatch } from '../../src/core/dispatch/dispatch.js';
import { reclaim, judgeUtilisation, utilisationQuery, lastLogTime, namespacesOf, type ReclaimOutcome, type JobCheck } from '../../src/core/dispatch/reclaim.js';
import { readClusters, type ReclaimPolicy } from '../../src/core/dispatch/config.js';
import { reclaimKey, REDIS_RECLAIM_LOCK } from '../../src/core/dispatch/reclaim-state.js';
import { command } from '../../src/commands/dispatch-reclaim.js';
import { silentLogger } from '../../src/core/log.js';
import { Masker } from '../../src/core/mask.js';
import { MlloopError } from '../../src/core/errors.js';

/**
 * mlloop dispatch reclaim against a real Prometheus scraping a fake DCGM exporter (served here, its values set by
 * each test) and the Kubernetes API test server, with short policy durations: idle_for 6s, confirm_after 3s,
 * max_gap 3s (a busy machine may delay a scrape), a 1s scrape interval. Jobs are submitted by mlloop dispatch itself, so they carry its labels.
 */
const RECLAIM = { max_utilisation: 10, idle_for: '6s', confirm_after: '3s', max_gap: '3s' };
const IDLE_FOR_MS = 6000;
const CONFIRM_MS = 3000;

/** The DCGM exporter's /metrics: one DCGM_FI_DEV_GPU_UTIL series per GPU of a pod, values set by the tests. */
class FakeDcgm {
  private readonly gpus = new Map<string, { namespace: string; pod: string; host: string; index: number; value: string }>();
  private server!: Server;
  port = 0;
  private next = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      const lines = ['# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).', '# TYPE DCGM_FI_DEV_GPU_UTIL gauge'];
      for (const [uuid, g] of this.gpus) {
        lines.push(
          `DCGM_FI_DEV_GPU_UTIL{gpu="${g.index}",UUID="${uuid}",pci_bus_id="00000000:00:0${4 + g.index}.0",device="nvidia${g.index}",modelName="Tesla T4",Hostname="${g.host}",DCGM_FI_DRIVER_VERSION="535.104.05",container="trainer",namespace="${g.namespace}",pod="${g.pod}"} ${g.value}`,
        );
      }
      const text = `${lines.join('\n')}\n`;
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(text);
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  /** Reports the pod's GPUs with these utilisation values (one per GPU; 'NaN' as DCGM may send). */
  set(namespace: string, pod: string, values: (number | 'NaN')[]): void {
    this.remove(pod);
    values.forEach((v, index) => this.gpus.set(`GPU-${(this.next++).toString(16).padStart(8, '0')}-7c6d-4e1a-9a2b-3f0c5d6e7f80`, { namespace, pod, host: 'n0', index, value: String(v) }));
  }

  remove(pod: string): void {
    for (const [k, g] of this.gpus) if (g.pod === pod) this.gpus.delete(k);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

let prom: PrometheusService;
let dcgm: FakeDcgm;
let redis: RedisServer;
const servers: K8sTestServer[] = [];

beforeAll(async () => {
  dcgm = new FakeDcgm();
  await dcgm.start();
  prom = await startPrometheus({ targets: [`127.0.0.1:${dcgm.port}`], scrapeInterval: '1s' });
  await prom.waitForTargets(2);
  redis = await startRedis();
});

afterAll(async () => {
  await prom?.stop();
  await dcgm?.stop();
  await redis?.stop();
});

afterEach(async () => {
  for (const s of servers.splice(0)) await s.close().catch(() => undefined);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Setup {
  dir: string;
  server: K8sTestServer;
  clusters: string;
  ledger: string;
  state: string;
}

async function setup(policy: Obj = {}): Promise<Setup> {
  const server = await K8sTestServer.start({ nodes: ['n0', 'n1', 'n2', 'n3', 'n4'].map((n) => cloneNode(t4(), n)) });
  servers.push(server);
  const dir = tempDir();
  const clusters = writeConfig(dir, { a: { nodes: [], kubeconfig: { path: server.writeKubeconfig(dir, 'a'), context: 'a' } } }, { request_timeout: '20s', reclaim: RECLAIM, ...policy });
  return { dir, server, clusters, ledger: join(dir, 'ledger.jsonl'), state: join(dir, 'reclaim-state.json') };
}

/** Submits a job with mlloop dispatch (no wait) and returns its Job and its running pods. */
async function submit(s: Setup, jobName: string, gpus = 1): Promise<{ name: string; id: string; pods: string[] }> {
  const requestFile = writeJob(s.dir, { job_name: jobName, resources: { gpu: gpus, gpu_type: 'T4', cpu: '1', memory: '4Gi' } }, `${jobName}.yaml`);
  const out = await dispatch({ requestFile, clustersFile: s.clusters, dryRun: false, wait: false, ledger: s.ledger, env: {}, secret: () => undefined, log: silentLogger, now: () => new Date(), signal: new AbortController().signal });
  expect(out.status).toBe('submitted');
  const name = out.job!.metadata.name as string;
  for (let i = 0; i < 100; i++) {
    const pods = [...s.server.pods.values()].filter((p) => p.metadata.labels?.['mlloop.io/dispatch-id'] === out.dispatch_id && p.status?.phase === 'Running');
    if (pods.length) return { name, id: out.dispatch_id, pods: pods.map((p) => p.metadata.name as string) };
    await sleep(50);
  }
  throw new Error(`the pods of ${name} never ran`);
}

async function check(s: Setup, o: { dryRun?: boolean; stateUrl?: string; ledger?: string | null; now?: Date } = {}): Promise<ReclaimOutcome> {
  return reclaim({
    clustersFile: s.clusters,
    prometheusUrl: prom.url,
    dryRun: o.dryRun ?? false,
    stateUrl: o.stateUrl,
    stateFile: s.state,
    ledger: o.ledger === null ? undefined : (o.ledger ?? s.ledger),
    env: {},
    secret: () => undefined,
    log: silentLogger,
    now: () => o.now ?? new Date(),
    signal: new AbortController().signal,
  });
}

const jobOf = (r: ReclaimOutcome, name: string): JobCheck => {
  const j = r.jobs.find((x) => x.job === name);
  if (!j) throw new Error(`${name} not in the report: ${JSON.stringify(r.jobs.map((x) => x.job))}`);
  return j;
};

const ledgerLines = (s: Setup): Obj[] => (existsSync(s.ledger) ? readFileSync(s.ledger, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Obj) : []);
const reclaimedEvents = (s: Setup) => ledgerLines(s).filter((e) => e.event === 'reclaimed');
const batchJob = (s: Setup, name: string) => s.server.jobs.get(`batch/v1|team-ocr/${name}`);

/**
 * Waits until Prometheus holds what reclaim judges by for these pods: samples reaching back idle_for (and a bit), the
 * newest fresh, no gap over max_gap. Asked of Prometheus itself, so a busy machine's late scrapes only make it wait.
 */
async function waitCovered(since: number, pods: string[]): Promise<void> {
  await sleep(Math.max(0, since + IDLE_FOR_MS + 1000 - Date.now()));
  const query = `DCGM_FI_DEV_GPU_UTIL{pod=~"${pods.join('|')}"}[${IDLE_FOR_MS / 1000 + 10}s]`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = (await (await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent(query)}`)).json()) as { data: { result: { metric: { pod: string }; values: [number, string][] }[] } };
    const now = Date.now() / 1000;
    const ok = (v: [number, string][]) => v.length > 0 && v[0]![0] <= now - IDLE_FOR_MS / 1000 - 0.5 && v.at(-1)![0] >= now - 1.5 && v.every((x, i) => i === 0 || x[0] - v[i - 1]![0] <= 2.5);
    if (pods.every((p) => r.data.result.some((s) => s.metric.pod === p && ok(s.values)))) return;
    if (Date.now() > deadline) throw new Error(`Prometheus does not cover idle_for for ${pods.join(', ')} after 60 s`);
    await sleep(250);
  }
}

describe('mlloop dispatch reclaim', () => {
  it('reclaims an idle Job only when a second check, confirm_after later, finds it idle again; busy, chatty, unmeasured and unreadable Jobs never', async () => {
    const s = await setup();
    const idle = await submit(s, 'idle', 2);
    const busy = await submit(s, 'busy');
    const chatty = await submit(s, 'chatty');
    const unmeasured = await submit(s, 'unmeasured', 2);
    const nan = await submit(s, 'nan');
    const mute = await submit(s, 'mute');
    const since = Date.now();
    dcgm.set('team-ocr', idle.pods[0]!, [0, 3]);
    dcgm.set('team-ocr', busy.pods[0]!, [2, 85]);
    dcgm.set('team-ocr', chatty.pods[0]!, [1]);
    // Only one of its two GPUs reports: not known to be idle.
    dcgm.set('team-ocr', unmeasured.pods[0]!, [0]);
    dcgm.set('team-ocr', nan.pods[0]!, ['NaN']);
    dcgm.set('team-ocr', mute.pods[0]!, [0]);
    // The mute job's log cannot be read (RBAC without pods/log).
    s.server.opts.forbidden = new RegExp(`/pods/${mute.pods[0]}/log$`);
    // An old log line of the idle job is outside idle_for and does not count.
    s.server.writeLog('team-ocr', idle.pods[0]!, 'epoch 3 done', { time: new Date(Date.now() - 60_000) });
    await waitCovered(since, [idle.pods[0]!, busy.pods[0]!]);

    s.server.writeLog('team-ocr', chatty.pods[0]!, 'step 1200 loss 0.41');
    const first = await check(s);
    expect(first.mode).toBe('live');
    const i1 = jobOf(first, idle.name);
    expect(i1.verdict, JSON.stringify(i1)).toBe('idle-first-check');
    expect(i1.kind).toBe('batch/v1 Job');
    expect(i1.dispatch_id).toBe(idle.id);
    expect(i1.job_name).toBe('idle');
    expect(i1.tenant).toBe('u123');
    expect(i1.gpus).toBe(2);
    expect(i1.utilisation).toMatchObject({ max: 3, gpus_seen: 2, gpus: 2 });
    expect(i1.utilisation!.avg).toBeGreaterThan(0);
    expect(i1.utilisation!.avg).toBeLessThan(3);
    expect(i1.last_log).toBe('none');
    expect(Date.parse(i1.confirm_at!) - Date.parse(i1.first_check!)).toBe(CONFIRM_MS);

    const b1 = jobOf(first, busy.name);
    expect(b1.verdict).toBe('active');
    expect(b1.reasons.join(' ')).toMatch(/utilisation reached 85% \(max_utilisation 10%\)/);
    expect(b1.utilisation!.max).toBe(85);

    const c1 = jobOf(first, chatty.name);
    expect(c1.verdict).toBe('active');
    expect(c1.reasons.join(' ')).toContain(`pod ${chatty.pods[0]} (container trainer) wrote a log line at`);
    expect(Date.now() - Date.parse(c1.last_log!)).toBeLessThan(IDLE_FOR_MS);

    const u1 = jobOf(first, unmeasured.name);
    expect(u1.verdict).toBe('unknown');
    expect(u1.reasons).toContain(`pod ${unmeasured.pods[0]}: DCGM_FI_DEV_GPU_UTIL for 1 of its 2 GPUs`);

    // Some of its GPUs report: the reason is the coverage, not the label mapping.
    expect(u1.reasons.join(' ')).not.toContain('policy.reclaim.labels');

    const n1 = jobOf(first, nan.name);
    expect(n1.verdict).toBe('unknown');
    expect(n1.reasons.join(' ')).toMatch(/a sample is NaN/);

    const m1 = jobOf(first, mute.name);
    expect(m1.verdict).toBe('unknown');
    expect(m1.reasons.join(' ')).toMatch(new RegExp(`the log of pod ${mute.pods[0]} \\(container trainer\\) cannot be read: HTTP 403`));

    // The logs were asked for with sinceSeconds = idle_for, the newest line only, with timestamps.
    const logReq = s.server.requests.find((q) => q.path === `/api/v1/namespaces/team-ocr/pods/${idle.pods[0]}/log`)!;
    expect(logReq.query).toMatchObject({ sinceSeconds: '6', tailLines: '1', timestamps: 'true', container: 'trainer' });
    // Only the idle job waits for its confirmation.
    const state = JSON.parse(readFileSync(s.state, 'utf8'));
    expect(Object.keys(state.clusters.a)).toEqual([`team-ocr/batch/v1/${idle.name}`]);
    expect(state.clusters.a[`team-ocr/batch/v1/${idle.name}`]).toMatchObject({ dispatch_id: idle.id, first_check: i1.first_check });

    // A second check too soon (< confirm_after) does not reclaim: one second after the first, whatever the time
    // the first check took on a busy machine.
    s.server.writeLog('team-ocr', chatty.pods[0]!, 'step 1300 loss 0.40');
    const second = await check(s, { now: new Date(Date.parse(i1.first_check!) + 1000) });
    const i2 = jobOf(second, idle.name);
    expect(i2.verdict).toBe('idle-unconfirmed');
    expect(i2.first_check).toBe(i1.first_check);
    expect(i2.reasons.join(' ')).toMatch(/confirm_after is 3s/);
    expect(batchJob(s, idle.name)!.spec.suspend).not.toBe(true);
    expect(reclaimedEvents(s)).toEqual([]);

    // confirm_after after the first idle check: suspended, its pods gone, recorded with the figures.
    await sleep(Math.max(0, Date.parse(i1.first_check!) + CONFIRM_MS + 100 - Date.now()));
    s.server.writeLog('team-ocr', chatty.pods[0]!, 'step 1400 loss 0.39');
    const third = await check(s);
    const i3 = jobOf(third, idle.name);
    expect(i3.verdict).toBe('reclaimed');
    expect(i3.second_check).toBe(third.checked_at);
    expect(third.reclaimed).toBe(1);
    for (const other of [busy, chatty, unmeasured, nan, mute]) {
      expect(jobOf(third, other.name).verdict).not.toMatch(/reclaim|idle/);
      expect(batchJob(s, other.name)!.spec.suspend).not.toBe(true);
    }
    expect(batchJob(s, idle.name)!.spec.suspend).toBe(true);
    expect([...s.server.pods.values()].filter((p) => p.metadata.labels?.['mlloop.io/dispatch-id'] === idle.id)).toEqual([]);
    const patch = s.server.requests.find((q) => q.method === 'PATCH')!;
    expect(patch.path).toBe(`/apis/batch/v1/namespaces/team-ocr/jobs/${idle.name}`);
    expect(s.server.requests.filter((q) => q.method === 'PATCH' || q.method === 'DELETE')).toHaveLength(1);

    const events = reclaimedEvents(s);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      schema: 'mlloop/dispatch-ledger@1',
      dispatch_id: idle.id,
      job_name: 'idle',
      tenant: 'u123',
      event: 'reclaimed',
      cluster: 'a',
      namespace: 'team-ocr',
      job: idle.name,
      kind: 'batch/v1 Job',
      time: third.checked_at,
      reclaim: { action: 'suspended', gpus: 2, utilisation_max: 3, window: '6s', max_utilisation: 10, last_log: 'none', first_check: i1.first_check, second_check: third.checked_at },
    });
    expect(events[0]!.reclaim.utilisation_avg).toBe(i3.utilisation!.avg);
    expect(events[0]!.detail).toContain('suspended: GPU utilisation max 3%');
    // Reclaimed: it leaves the state; the next run skips the suspended Job.
    expect(JSON.parse(readFileSync(s.state, 'utf8')).clusters.a).toBeUndefined();
    const fourth = await check(s);
    expect(fourth.jobs.map((j) => j.job)).not.toContain(idle.name);
    expect(fourth.clusters[0]).toMatchObject({ cluster: 'a', ok: true, skipped: 1 });
    expect(s.server.invalid).toEqual([]);
  });

  it('a Job with no series under policy.reclaim.labels is unknown, and the reason names the labels looked for', async () => {
    const s = await setup({ reclaim: { ...RECLAIM, labels: { namespace: 'exported_namespace', pod: 'exported_pod' } } });
    const unmapped = await submit(s, 'unmapped');
    // The exporter labels its series namespace/pod; these labels are not there.
    dcgm.set('team-ocr', unmapped.pods[0]!, [0]);
    await sleep(2000);
    const u = jobOf(await check(s), unmapped.name);
    expect(u.verdict).toBe('unknown');
    expect(u.reasons).toContain(`pod ${unmapped.pods[0]}: DCGM_FI_DEV_GPU_UTIL for 0 of its 1 GPU (no samples)`);
    expect(u.reasons.join(' ')).toContain('no DCGM_FI_DEV_GPU_UTIL series has exported_namespace="team-ocr" and exported_pod naming its pods');
    dcgm.remove(unmapped.pods[0]!);
  });

  it('a window the samples do not cover yet is not idle (fail closed)', async () => {
    const s = await setup();
    const young = await submit(s, 'young');
    dcgm.set('team-ocr', young.pods[0]!, [0]);
    await sleep(2500);
    const r = await check(s);
    const j = jobOf(r, young.name);
    expect(j.verdict).toBe('unknown');
    expect(j.reasons.join(' ')).toMatch(/samples cover only the last \ds, idle_for needs 6s/);
    // Never idle, so no first check is kept and the logs were not even read.
    expect(j.last_log).toBeNull();
    expect(existsSync(s.state) ? JSON.parse(readFileSync(s.state, 'utf8')).clusters.a : undefined).toBeUndefined();
    // Removed from the exporter: the samples stop, which is no evidence of idleness either.
    dcgm.remove(young.pods[0]!);
    await sleep(3500);
    const later = jobOf(await check(s), young.name);
    expect(later.verdict).toBe('unknown');
    expect(later.reasons.join(' ')).toMatch(/no sample for \ds \(max_gap 3s\)/);
  });

  it('--dry-run records the first check, reports what it would reclaim and changes nothing; a live run then reclaims at once', async () => {
    const s = await setup();
    const job = await submit(s, 'quiet');
    const since = Date.now();
    dcgm.set('team-ocr', job.pods[0]!, [0]);
    await waitCovered(since, [job.pods[0]!]);
    const ledgerBefore = ledgerLines(s).length;

    const first = await check(s, { dryRun: true, ledger: null });
    expect(first.mode).toBe('dry-run');
    expect(jobOf(first, job.name).verdict).toBe('idle-first-check');
    await sleep(CONFIRM_MS + 100);
    // The second dry run through the command: the same result, and a table for people.
    const ran = await command.run({ prometheus: prom.url, clusters: s.clusters, reclaimState: s.state, dryRun: true } as never, { cwd: s.dir, env: {}, runner: {} as never, log: silentLogger, masker: new Masker(), secret: () => undefined, mode: 'cli', json: false, now: () => new Date(), signal: new AbortController().signal });
    const second = ran.data as ReclaimOutcome;
    expect(ran.exitCode).toBe(0);
    expect(ran.outputs).toEqual({ reclaimed: 0, idle: 1 });
    expect(ran.text).toMatch(/^dry run: 1 Job\(s\) would be reclaimed, 1 checked/);
    expect(ran.text).toMatch(new RegExp(`a/team-ocr/${job.name} .* would-reclaim`));
    const j = jobOf(second, job.name);
    expect(j.verdict).toBe('would-reclaim');
    expect(j.second_check).toBe(second.checked_at);
    expect(second.reclaimed).toBe(0);
    expect(batchJob(s, job.name)!.spec.suspend).not.toBe(true);
    expect(s.server.requests.filter((q) => q.method === 'PATCH' || q.method === 'DELETE')).toEqual([]);
    expect(ledgerLines(s)).toHaveLength(ledgerBefore);
    // The first check stays until a live run acts on it.
    expect(Object.keys(JSON.parse(readFileSync(s.state, 'utf8')).clusters.a)).toEqual([`team-ocr/batch/v1/${job.name}`]);

    // A suspend the API refuses: exit 3 naming the Job, nothing recorded, the first check kept for the next run.
    s.server.opts.forbidden = new RegExp(`/jobs/${job.name}$`);
    let refused: unknown;
    try {
      await command.run({ prometheus: prom.url, clusters: s.clusters, reclaimState: s.state, ledger: s.ledger, dryRun: false } as never, { cwd: s.dir, env: {}, runner: {} as never, log: silentLogger, masker: new Masker(), secret: () => undefined, mode: 'cli', json: true, now: () => new Date(), signal: new AbortController().signal });
    } catch (e) {
      refused = e;
    }
    expect(refused).toBeInstanceOf(MlloopError);
    expect((refused as MlloopError).exitCode).toBe(3);
    expect((refused as MlloopError).message).toContain(`reclaiming a/team-ocr/${job.name} failed: suspend failed: HTTP 403`);
    expect(batchJob(s, job.name)!.spec.suspend).not.toBe(true);
    expect(reclaimedEvents(s)).toEqual([]);
    expect(Object.keys(JSON.parse(readFileSync(s.state, 'utf8')).clusters.a)).toEqual([`team-ocr/batch/v1/${job.name}`]);
    s.server.opts.forbidden = undefined;

    const live = await check(s);
    expect(jobOf(live, job.name)).toMatchObject({ verdict: 'reclaimed', first_check: jobOf(first, job.name).first_check });
    expect(batchJob(s, job.name)!.spec.suspend).toBe(true);
    expect(reclaimedEvents(s)).toHaveLength(1);
  });

  it('deletes an idle Volcano Job (uid precondition), with the checks kept in Redis', async () => {
    const s = await setup({ scheduler: 'volcano', queue: 'training' });
    const job = await submit(s, 'gang', 1);
    const since = Date.now();
    dcgm.set('team-ocr', job.pods[0]!, [4]);
    await waitCovered(since, [job.pods[0]!]);
    const url = `${redis.url}/3`;

    const first = await check(s, { stateUrl: url });
    expect(first.state).toBe(url);
    const j1 = jobOf(first, job.name);
    expect(j1).toMatchObject({ verdict: 'idle-first-check', kind: 'batch.volcano.sh/v1alpha1 Job', action: 'delete' });
    const { createClient } = await import('redis');
    const client = createClient({ url });
    await client.connect();
    try {
      const held = await client.hGetAll(reclaimKey('a'));
      expect(Object.keys(held)).toEqual([`team-ocr/batch.volcano.sh/v1alpha1/${job.name}`]);
      expect(JSON.parse(held[`team-ocr/batch.volcano.sh/v1alpha1/${job.name}`]!)).toMatchObject({ dispatch_id: job.id, first_check: j1.first_check });
      // No state file is written when Redis keeps the checks.
      expect(existsSync(s.state)).toBe(false);

      await sleep(CONFIRM_MS + 100);
      // The Job is replaced under the same name between the check and the delete: the uid precondition keeps the
      // new one (409 Conflict), and its checks start over.
      const server = s.server as unknown as { jobRoute: (...a: unknown[]) => Promise<void> };
      const route = server.jobRoute.bind(s.server);
      server.jobRoute = async (...a: unknown[]) => {
        if (a[0] === 'DELETE') {
          s.server.jobs.get(`batch.volcano.sh/v1alpha1|team-ocr/${job.name}`)!.metadata.uid = 'recreated-0000';
          server.jobRoute = route;
        }
        return route(...a);
      };
      const replaced = jobOf(await check(s, { stateUrl: url }), job.name);
      expect(replaced.verdict).toBe('unknown');
      expect(replaced.reasons.join(' ')).toMatch(/the Job was replaced since it was checked \(HTTP 409: .*Precondition failed: UID in precondition/);
      expect(s.server.jobs.has(`batch.volcano.sh/v1alpha1|team-ocr/${job.name}`)).toBe(true);
      expect(reclaimedEvents(s)).toEqual([]);
      expect(await client.exists(reclaimKey('a'))).toBe(0);
      const again = jobOf(await check(s, { stateUrl: url }), job.name);
      expect(again.verdict).toBe('idle-first-check');

      await sleep(CONFIRM_MS + 100);
      const second = await check(s, { stateUrl: url });
      expect(jobOf(second, job.name).verdict).toBe('reclaimed');
      expect(s.server.jobs.has(`batch.volcano.sh/v1alpha1|team-ocr/${job.name}`)).toBe(false);
      const del = s.server.requests.filter((q) => q.method === 'DELETE').pop()!;
      expect(del.path).toBe(`/apis/batch.volcano.sh/v1alpha1/namespaces/team-ocr/jobs/${job.name}`);
      expect(s.server.requests.filter((q) => q.method === 'PATCH')).toEqual([]);
      expect(reclaimedEvents(s)[0]).toMatchObject({ kind: 'batch.volcano.sh/v1alpha1 Job', reclaim: { action: 'deleted', gpus: 1, utilisation_max: 4, first_check: again.first_check } });
      expect(await client.exists(reclaimKey('a'))).toBe(0);
    } finally {
      await client.quit();
    }
  });
});

describe('mlloop dispatch reclaim: input and outages', () => {
  function ctx(dir: string) {
    return { cwd: dir, env: {}, runner: {} as never, log: silentLogger, masker: new Masker(), secret: () => undefined, mode: 'cli' as const, json: true, now: () => new Date(), signal: new AbortController().signal };
  }
  async function runCommand(dir: string, options: Obj): Promise<MlloopError> {
    try {
      await command.run({ reclaimState: 'state.json', dryRun: false, ...options } as never, ctx(dir));
    } catch (e) {
      if (e instanceof MlloopError) return e;
      throw e;
    }
    throw new Error('expected the command to fail');
  }

  it('bad policy.reclaim fields are exit 2 naming the file and the field', async () => {
    const dir = tempDir();
    const cases: [Obj, string, RegExp][] = [
      [{ idle_for: '5m', max_gap: '10m' }, '$.policy.reclaim.max_gap', /shorter than idle_for/],
      [{ idle_for: 'soon' }, '$.policy.reclaim.idle_for', /./],
      [{ max_utilisation: 150 }, '$.policy.reclaim.max_utilisation', /./],
      [{ confirm_after: '0s' }, '$.policy.reclaim.confirm_after', /longer than 0/],
      [{ labels: { pod: 'exported pod' } }, '$.policy.reclaim.labels.pod', /./],
      [{ every: '5m' }, '$.policy.reclaim.every', /unknown field "every"/],
    ];
    for (const [reclaimPolicy, at, message] of cases) {
      const clusters = writeConfig(dir, { a: { nodes: [], kubeconfig: { path: '/nonexistent' } } }, { reclaim: reclaimPolicy });
      const e = await runCommand(dir, { prometheus: prom.url, clusters });
      expect(e.exitCode, `${JSON.stringify(reclaimPolicy)}: ${e.message}`).toBe(2);
      expect(e.location.file).toBe(clusters);
      expect(e.location.path, e.message).toBe(at);
      expect(e.message).toMatch(message);
    }
  });

  it('defaults: 10%, 15m, 5m, max_gap 2m, labels namespace and pod', async () => {
    const dir = tempDir();
    const config = await readClusters(writeConfig(dir, { a: { nodes: [] } }));
    expect(config.policy.reclaim).toEqual({ maxUtilisation: 10, idleForMs: 900_000, confirmAfterMs: 300_000, maxGapMs: 120_000, labels: { namespace: 'namespace', pod: 'pod' } });
  });

  it('an unreachable Prometheus is exit 3 naming its URL, before any cluster is asked', async () => {
    const s = await setup();
    const e = await runCommand(s.dir, { prometheus: 'http://127.0.0.1:1', clusters: s.clusters, ledger: s.ledger });
    expect(e.exitCode).toBe(3);
    expect(e.message).toContain('Prometheus at http://127.0.0.1:1 did not answer');
    expect(s.server.requests).toEqual([]);
  });

  it('a live run without a ledger is exit 2 (every reclaim is recorded); --dry-run needs none', async () => {
    const s = await setup();
    const e = await runCommand(s.dir, { prometheus: prom.url, clusters: s.clusters });
    expect(e.exitCode).toBe(2);
    expect(e.location.path).toBe('$.policy.ledger');
    // A ledger that cannot be written is found out before anything is asked or done.
    writeFileSync(join(s.dir, 'a-file'), '');
    const blocked = join(s.dir, 'a-file', 'ledger.jsonl');
    const w = await runCommand(s.dir, { prometheus: prom.url, clusters: s.clusters, ledger: blocked });
    expect(w.exitCode).toBe(2);
    expect(w.location.file).toBe(blocked);
    expect(w.message).toContain('cannot write the ledger');
    expect(s.server.requests).toEqual([]);
    const r = await command.run({ prometheus: prom.url, clusters: s.clusters, reclaimState: 'state.json', dryRun: true } as never, ctx(s.dir));
    expect(r.exitCode).toBe(0);
    expect((r.data as ReclaimOutcome).jobs).toEqual([]);
    expect((r.data as ReclaimOutcome).clusters[0]).toMatchObject({ cluster: 'a', ok: true, namespaces: ['team-ocr'] });
    expect(r.text).toMatch(/^dry run: 0 Job\(s\) would be reclaimed/);
  });

  it('a cluster that cannot be read is reported and the others are checked; when none can be read, exit 3', async () => {
    const s = await setup();
    const gone = await K8sTestServer.start({ nodes: [cloneNode(t4(), 'g0')] });
    const dir = s.dir;
    const kubeconfig = gone.writeKubeconfig(dir, 'gone');
    await gone.close();
    const clusters = writeConfig(dir, { a: { nodes: [], kubeconfig: { path: s.server.writeKubeconfig(dir, 'a'), context: 'a' } }, gone: { nodes: [], kubeconfig: { path: kubeconfig, context: 'gone' } } }, { request_timeout: '5s', reclaim: RECLAIM });
    const r = await reclaim({ clustersFile: clusters, prometheusUrl: prom.url, dryRun: true, stateFile: s.state, env: {}, secret: () => undefined, log: silentLogger, now: () => new Date(), signal: new AbortController().signal });
    expect(r.clusters.map((c) => [c.cluster, c.ok])).toEqual([
      ['a', true],
      ['gone', false],
    ]);
    expect(r.clusters[1]!.error).toMatch(/unreachable|ECONNREFUSED/);
    const onlyGone = writeConfig(dir, { gone: { nodes: [], kubeconfig: { path: kubeconfig, context: 'gone' } } }, { request_timeout: '5s', reclaim: RECLAIM });
    const e = await runCommand(dir, { prometheus: prom.url, clusters: onlyGone, dryRun: true });
    expect(e.exitCode).toBe(3);
    expect(e.message).toMatch(/^no cluster could be read: gone: /);
    const bad = writeConfig(dir, { a: { nodes: [], kubeconfig: { path: join(dir, 'missing-kubeconfig.yaml') } } }, { reclaim: RECLAIM });
    const k = await runCommand(dir, { prometheus: prom.url, clusters: bad, dryRun: true });
    expect(k.exitCode).toBe(2);
    expect(k.location).toMatchObject({ file: bad, path: '$.clusters[0].kubeconfig' });
  });

  it('one run at a time: a fresh lock is exit 3 naming its holder, a stale one is taken over, and a run leaves none behind', async () => {
    const s = await setup();
    const lock = `${s.state}.lock`;
    writeFileSync(lock, JSON.stringify({ token: 'other', host: 'elsewhere', pid: 4242, since: new Date().toISOString() }));
    const e = await runCommand(s.dir, { prometheus: prom.url, clusters: s.clusters, reclaimState: s.state, dryRun: true });
    expect(e.exitCode).toBe(3);
    expect(e.message).toContain(`another mlloop dispatch reclaim is running (pid 4242 on elsewhere, since `);
    expect(e.message).toContain(`${lock} is locked`);
    expect(existsSync(lock)).toBe(true);
    // A run that died an hour ago left it: taken over, and removed at the end.
    writeFileSync(lock, JSON.stringify({ token: 'other', host: 'elsewhere', pid: 4242, since: new Date(Date.now() - 3_600_000).toISOString() }));
    const r = await command.run({ prometheus: prom.url, clusters: s.clusters, reclaimState: s.state, dryRun: true } as never, ctx(s.dir));
    expect(r.exitCode).toBe(0);
    expect(existsSync(lock)).toBe(false);

    const url = `${redis.url}/4`;
    const { createClient } = await import('redis');
    const client = createClient({ url });
    await client.connect();
    try {
      await client.set(REDIS_RECLAIM_LOCK, JSON.stringify({ token: 'other', host: 'elsewhere', pid: 7, since: new Date().toISOString() }), { expiration: { type: 'PX', value: 60_000 } });
      const held = await runCommand(s.dir, { prometheus: prom.url, clusters: s.clusters, state: url, dryRun: true });
      expect(held.exitCode).toBe(3);
      expect(held.message).toContain(`another mlloop dispatch reclaim is running (pid 7 on elsewhere, since `);
      expect(held.message).toContain(`${url} key mlloop:reclaim:lock is locked`);
      await client.del(REDIS_RECLAIM_LOCK);
      const ok = await command.run({ prometheus: prom.url, clusters: s.clusters, reclaimState: s.state, state: url, dryRun: true } as never, ctx(s.dir));
      expect(ok.exitCode).toBe(0);
      expect(await client.exists(REDIS_RECLAIM_LOCK)).toBe(0);
    } finally {
      await client.quit();
    }
  });

  it('a corrupt state file is exit 2 naming it', async () => {
    const s = await setup();
    writeFileSync(s.state, '{"schema": "something-else", "clusters": {}}');
    const e = await runCommand(s.dir, { prometheus: prom.url, clusters: s.clusters, ledger: s.ledger, reclaimState: s.state });
    expect(e.exitCode).toBe(2);
    expect(e.location).toMatchObject({ file: s.state, path: '$.schema' });
  });
});

describe('manifests/dispatcher/reclaim-cronjob.yaml', () => {
  it('is valid, runs one reclaim at a time every 5 minutes, and its arguments parse as the command takes them', async () => {
    const { validateYamlManifests } = await import('../support/manifests.js');
    const { ROOT } = await import('../support/paths.js');
    const { parseArgs } = await import('../../src/cli/args.js');
    const { coerceOptions } = await import('../../src/commands/define.js');
    const objs = (await validateYamlManifests(readFileSync(join(ROOT, 'manifests/dispatcher/reclaim-cronjob.yaml'), 'utf8'))) as Obj[];
    const cron = objs.find((o) => o.kind === 'CronJob')!;
    expect(cron.spec.concurrencyPolicy).toBe('Forbid');
    expect(cron.spec.schedule).toBe('*/5 * * * *');
    const pod = cron.spec.jobTemplate.spec.template.spec;
    const c = pod.containers[0];
    const env = Object.fromEntries((c.env as Obj[]).map((e) => [e.name, e.value]));
    const argv = (c.args as string[]).map((a) => a.replace(/\$\((\w+)\)/g, (_, n: string) => env[n]));
    expect(argv.slice(0, 2)).toEqual(['dispatch', 'reclaim']);
    const options = coerceOptions(command, parseArgs(command, argv.slice(2)).raw, (n) => `--${n}`) as Obj;
    expect(options).toMatchObject({ clusters: '/etc/mlloop/clusters.yaml', state: env.REDIS_URL, ledger: '/var/lib/mlloop/ledger', dryRun: false });
    expect(options.prometheus).toMatch(/^http:\/\//);
    // The clusters file, the kubeconfigs and the ledger come from volumes; the ledger's is writable.
    const mounts = Object.fromEntries((c.volumeMounts as Obj[]).map((m) => [m.name, m]));
    expect(mounts.ledger.mountPath).toBe('/var/lib/mlloop');
    expect(mounts.ledger.readOnly).toBeUndefined();
    const claim = pod.volumes.find((v: Obj) => v.name === 'ledger').persistentVolumeClaim.claimName;
    expect(objs.find((o) => o.kind === 'PersistentVolumeClaim')!.metadata.name).toBe(claim);
  });
});

describe('judging the samples', () => {
  const p: ReclaimPolicy = { maxUtilisation: 10, idleForMs: 60_000, confirmAfterMs: 30_000, maxGapMs: 20_000, labels: { namespace: 'namespace', pod: 'pod' } };
  const now = 1_000_000;
  const every = (from: number, to: number, step: number, v: number): [number, number][] => {
    const out: [number, number][] = [];
    for (let t = from; t <= to; t += step) out.push([t, v]);
    return out;
  };

  it('merges the series of one GPU (an exporter restart changes instance, not UUID)', () => {
    const a = { labels: { UUID: 'GPU-1', pod: 'p', instance: '10.0.0.1:9400' }, samples: every(now - 75_000, now - 30_000, 15_000, 2) };
    const b = { labels: { UUID: 'GPU-1', pod: 'p', instance: '10.0.0.2:9400' }, samples: every(now - 15_000, now, 15_000, 4) };
    const f = judgeUtilisation([a, b], [{ name: 'p', gpus: 1 }], p, now);
    expect(f).toMatchObject({ busy: [], unknown: [], max: 4, gpus_seen: 1, gpus: 1, samples: 6 });
    expect(f.avg).toBeCloseTo((4 * 2 + 2 * 4) / 6, 2);
  });

  it('a gap longer than max_gap is not idle', () => {
    const s = { labels: { UUID: 'GPU-1', pod: 'p' }, samples: [...every(now - 75_000, now - 45_000, 15_000, 0), ...every(now - 15_000, now, 15_000, 0)] };
    const f = judgeUtilisation([s], [{ name: 'p', gpus: 1 }], p, now);
    expect(f.unknown).toEqual(['pod p GPU GPU-1: a gap of 30s between samples (max_gap 20s)']);
  });

  it('the newest log line: its kubelet timestamp, or none', () => {
    expect(lastLogTime('')).toEqual({ line: false });
    expect(lastLogTime('2026-12-03T18:00:01.123456789Z step 9\n')).toEqual({ line: true, time: '2026-12-03T18:00:01.123Z' });
    expect(lastLogTime('no timestamp here\n')).toEqual({ line: true });
  });

  it('searches the namespaces dispatch uses on each cluster: the tenants allowed there, else namespaces.training', async () => {
    const dir = tempDir();
    const file = join(dir, 'clusters.yaml');
    writeFileSync(
      file,
      [
        'clusters:',
        '  - {name: a, namespaces: {training: train-a}}',
        '  - {name: b}',
        'tenants:',
        '  t1: {namespace: team-1, clusters: [a]}',
        '  t2: {clusters: [a, b]}',
        '  t3: {namespace: team-3}',
        '',
      ].join('\n'),
    );
    const config = await readClusters(file);
    expect(namespacesOf(config, config.clusters[0]!)).toEqual(['team-1', 'train-a', 'team-3']);
    expect(namespacesOf(config, config.clusters[1]!)).toEqual(['default', 'team-3']);
    const plain = join(dir, 'plain.yaml');
    writeFileSync(plain, 'clusters:\n  - {name: a, namespaces: {training: train-a}}\n');
    const p2 = await readClusters(plain);
    expect(namespacesOf(p2, p2.clusters[0]!)).toEqual(['train-a']);
  });

  it('the query escapes pod names and uses the configured labels', () => {
    const q = utilisationQuery({ ...p, labels: { namespace: 'exported_namespace', pod: 'exported_pod' } }, 'team-ocr', ['job.a-1', 'job-b']);
    expect(q).toBe('DCGM_FI_DEV_GPU_UTIL{exported_namespace="team-ocr",exported_pod=~"^(?:job\\\\.a-1|job-b)$"}[80000ms]');
  });
});
