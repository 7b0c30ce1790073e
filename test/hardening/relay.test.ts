import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { GitHubServer } from '../support/github-server.js';
import { ROOT } from '../support/paths.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { eventually } from '../support/services.js';
import { startRelayProcess, type RelayProcess } from '../relay/relay-process.js';
import { Relay, githubDeliver } from '../../src/core/relay/server.js';
import { loadRelayConfig } from '../../src/core/relay/config.js';
import type { Logger } from '../../src/core/log.js';
import { coalescedPayload } from '../../src/core/relay/events.js';
import { relayRetrainPayload, runStep, step } from '../workflows/helpers.js';

// Issue 13: what the relay answered 202 for is delivered — across SIGTERM, crashes and GitHub outages — merged
// per target so a burst drains under GitHub's write limit, and slow clients cannot take /healthz down.
const BEARER = 'relay-bearer-0123456789abcdef';
const TOKEN = 'ghs_relaytoken000000000000000';
const ENV = { RELAY_BEARER_TOKEN: BEARER, RELAY_HMAC_SECRET: 'relay-hmac-secret-0123456789', GITHUB_TOKEN: TOKEN };
const dir = mkdtempSync(join(tmpdir(), 'mlloop-relay-hardening-'));

let gh: GitHubServer;
let redis: RedisServer | undefined;
/** A port where nothing listens: GitHub is down (connection refused). */
let downUrl: string;
/** Accepts connections and never answers: GitHub is slow. */
let hanging: Server;
let hangingUrl: string;
const sockets = new Set<Socket>();

beforeAll(async () => {
  gh = await GitHubServer.start({ tokens: { [TOKEN]: { login: 'mlloop-relay[bot]' } } });
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  downUrl = `http://127.0.0.1:${(closed.address() as { port: number }).port}`;
  await new Promise<void>((r) => closed.close(() => r()));
  hanging = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
  hangingUrl = `http://127.0.0.1:${(hanging.address() as { port: number }).port}`;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => hanging?.close(() => r()));
  await gh?.close();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const lines: string[] = [];
const log: Logger = { info: (m) => lines.push(m), warn: (m) => lines.push(`warn: ${m}`), debug: () => {}, progress: () => {} };

function configFile(name: string, apiUrl: string, over: Record<string, unknown> = {}): string {
  const raw = parse(readFileSync(join(ROOT, 'manifests/relay/relay.yaml'), 'utf8')) as Record<string, any>;
  raw.github.api_url = apiUrl;
  raw.limits = { ...raw.limits, retry_backoff: '100ms', shutdown_grace: '1s', ...((over.limits as object) ?? {}) };
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, JSON.stringify({ ...raw, spool: { dir: join(dir, `${name}-spool`) }, ...over, limits: raw.limits }));
  return file;
}

const notification = (rollout: string, revision = '1') => ({ event_type: 'rollout-aborted', client_payload: { source: 'argo-rollouts', trigger: 'on-rollout-aborted', app: 'ocr', env: 'prod', rollout, revision } });

const post = (url: string, body: unknown) => fetch(`${url}/v1/notifications`, { method: 'POST', headers: { authorization: `Bearer ${BEARER}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** Every event GitHub received, whether sent alone or merged into a batch. */
function receivedEvents(): Record<string, unknown>[] {
  return gh.state.repositoryDispatches.flatMap((d) => {
    const p = d.client_payload as Record<string, unknown>;
    return p.schema === 'mlloop/relay-batch@1' ? (p.events as Record<string, unknown>[]) : [p];
  });
}

/** A relay on the same spool with GitHub up: waits until `n` events arrived at GitHub, then stops it (exit 0). */
async function restartAndDrain(name: string, n: number, before?: (url: string) => Promise<void>) {
  const relay = await startRelayProcess(configFile(name, gh.url), ENV);
  await before?.(relay.url);
  await eventually(() => (receivedEvents().length >= n ? true : undefined), 60_000, `${n} events at GitHub`);
  const out = await relay.stop();
  expect(out.code, out.stderr).toBe(0);
  return out;
}

const rollouts = () => receivedEvents().map((e) => String(e.rollout)).sort();
const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(2, '0')}`).sort();

describe('relay: accepted events survive shutdown, crashes and GitHub outages', () => {
  it('SIGTERM with GitHub down, then a restart: every accepted event delivered exactly once, duplicates still suppressed', async () => {
    gh.state.repositoryDispatches.length = 0;
    const first = await startRelayProcess(configFile('down', downUrl), ENV);
    for (const r of names('down', 20)) expect((await post(first.url, notification(r))).status).toBe(202);
    const out = await first.stop();
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout, out.stderr).toMatch(/20 not delivered yet, kept in the spool .*for the next start/);
    // The cause, not "HTTP 500".
    expect(out.stderr).toMatch(/connection refused \(ECONNREFUSED/);
    expect(out.stderr).not.toMatch(/HTTP 500/);
    expect(gh.state.repositoryDispatches).toHaveLength(0);

    // The same spool, GitHub back; a repeat of an event accepted before the restart is still a duplicate.
    const out2 = await restartAndDrain('down', 20, async (url) => {
      expect(await (await post(url, notification('down-03'))).json()).toMatchObject({ accepted: 0, suppressed: 1 });
    });
    expect(out2.stderr).toMatch(/20 accepted event\(s\) from an earlier run to deliver/);
    expect(rollouts()).toEqual(names('down', 20));

    // Delivered events are gone from the spool: a third start replays nothing.
    const third = await startRelayProcess(configFile('down', gh.url), ENV);
    const out3 = await third.stop();
    expect(out3.stderr).not.toMatch(/from an earlier run/);
    expect(rollouts()).toEqual(names('down', 20));
  }, 120_000);

  it('with a slow GitHub, deliveries aborted at shutdown are logged as such and delivered after the restart', async () => {
    gh.state.repositoryDispatches.length = 0;
    const first = await startRelayProcess(configFile('slow', hangingUrl), ENV);
    for (const r of names('slow', 5)) expect((await post(first.url, notification(r))).status).toBe(202);
    const out = await first.stop();
    expect(out.code, out.stderr).toBe(0);
    expect(out.stderr).toMatch(/aborted at shutdown; \d+ event\(s\) stay in the spool/);
    expect(out.stderr).not.toMatch(/HTTP 500/);
    await restartAndDrain('slow', 5);
    expect(rollouts()).toEqual(names('slow', 5));
  }, 120_000);

  it('a crash (SIGKILL) right after the 202s loses nothing: the spool is on disk before the answer', async () => {
    gh.state.repositoryDispatches.length = 0;
    const first = await startRelayProcess(configFile('crash', downUrl), ENV);
    const answers = await Promise.all(names('crash', 30).map((r) => post(first.url, notification(r)).then((x) => x.status)));
    expect(answers.every((s) => s === 202)).toBe(true);
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    await restartAndDrain('crash', 30);
    expect(rollouts()).toEqual(names('crash', 30));
  }, 120_000);

  it('replays the spool in process: a torn last record is ignored, dedup keys survive, delivered events are compacted away', async () => {
    gh.state.repositoryDispatches.length = 0;
    lines.length = 0;
    const spool = join(dir, 'replay-spool');
    const cfg = async (api: string) => {
      const c = await loadRelayConfig(configFile('replay', api, { spool: { dir: spool }, listen: { host: '127.0.0.1', port: 0 } }), ENV, () => {});
      c.writeIntervalMs = 10;
      return c;
    };
    const c1 = await cfg(downUrl);
    const a = new Relay(c1, githubDeliver(c1.apiUrl, log), log);
    await a.start();
    for (const r of names('replay', 6)) expect((await post(a.url, notification(r))).status).toBe(202);
    expect((await a.stop()).undelivered).toBe(6);
    // What a crash in the middle of a write leaves: half a record, never acknowledged.
    appendFileSync(join(spool, 'events.log'), '{"a":{"id":"torn","d":{"route":"rollout-abo');
    const c2 = await cfg(gh.url);
    const b = new Relay(c2, githubDeliver(c2.apiUrl, log), log);
    await b.start();
    expect(lines.some((l) => /ignored 1 incomplete record/.test(l))).toBe(true);
    expect(await (await post(b.url, notification('replay-00'))).json()).toMatchObject({ accepted: 0, suppressed: 1 });
    await eventually(() => (b.snapshot().delivered >= 6 ? true : undefined), 30_000, 'six deliveries');
    expect((await b.stop()).undelivered).toBe(0);
    expect(rollouts()).toEqual(names('replay', 6));
    // Reopened: compacted to the dedup keys alone, no event left to deliver.
    const c = new Relay(c2, githubDeliver(c2.apiUrl, log), log);
    await c.start();
    expect(c.snapshot()).toMatchObject({ queued: 0, inFlight: 0, dedupKeys: 6 });
    await c.stop();
    const log3 = readFileSync(join(spool, 'events.log'), 'utf8').trim().split('\n');
    expect(log3.every((l) => 'key' in JSON.parse(l))).toBe(true);
  }, 60_000);
});

describe('relay: coalescing under GitHub’s write limit', () => {
  it('merges waiting events for one target into fewer dispatches that list every event, within 10 keys', async () => {
    gh.state.repositoryDispatches.length = 0;
    lines.length = 0;
    const c = await loadRelayConfig(configFile('coalesce', gh.url, { listen: { host: '127.0.0.1', port: 0 }, limits: { coalesce_max: 25 } }), ENV, () => {});
    // The real GitHub client, with Octokit's throttling (one write a second) in force.
    const relay = new Relay(c, githubDeliver(c.apiUrl, log), log);
    await relay.start();
    try {
      const all = names('c', 60);
      for (let i = 0; i < all.length; i += 10) {
        const answers = await Promise.all(all.slice(i, i + 10).map((r) => post(relay.url, notification(r)).then((x) => x.status)));
        expect(answers.every((s) => s === 202)).toBe(true);
      }
      await eventually(() => (relay.snapshot().delivered >= 60 ? true : undefined), 60_000, '60 deliveries');
    } finally {
      await relay.stop();
    }
    const dispatches = gh.state.repositoryDispatches;
    expect(dispatches.length).toBeLessThan(60);
    expect(dispatches.length).toBeGreaterThanOrEqual(3); // coalesce_max 25
    expect(rollouts()).toEqual(names('c', 60));
    for (const d of dispatches) {
      const p = d.client_payload as Record<string, unknown>;
      expect(Object.keys(p).length).toBeLessThanOrEqual(10);
      expect(p).toMatchObject({ app: 'ocr', env: 'prod' });
      if (p.schema === 'mlloop/relay-batch@1') {
        expect((p.events as unknown[]).length).toBe(p.count);
        expect(p.count as number).toBeLessThanOrEqual(25);
        expect(p.reason).toBe((p.events as { reason?: string }[])[0]!.reason ?? null);
      }
    }
    expect(lines.some((l) => /events merged/.test(l))).toBe(true);
  }, 90_000);
});

describe('relay: Redis Streams, two replicas sharing one queue', () => {
  it('a replica stopped with GitHub down leaves its events to the other, which delivers each exactly once', async () => {
    redis = await startRedis();
    gh.state.repositoryDispatches.length = 0;
    const env = { ...ENV, REDIS_URL: redis.url };
    const redisCfg = (consumer: string) => ({ redis: { url_env: 'REDIS_URL', stream: 'test-relay', consumer, claim_idle: '1s' } });
    const down = await startRelayProcess(configFile('redis-a', hangingUrl, redisCfg('a')), env);
    const up = await startRelayProcess(configFile('redis-b', gh.url, redisCfg('b')), env);
    try {
      // Accepted by either replica; some are read by the one whose GitHub hangs.
      for (const [i, r] of names('r', 24).entries()) expect((await post(i % 2 ? up.url : down.url, notification(r))).status).toBe(202);
      // Duplicate keys are shared: a repeat sent to the other replica is suppressed.
      expect(await (await post(up.url, notification('r-00'))).json()).toMatchObject({ accepted: 0, suppressed: 1 });
      expect(await (await post(down.url, notification('r-01'))).json()).toMatchObject({ accepted: 0, suppressed: 1 });
      const outA = await down.stop();
      expect(outA.code, outA.stderr).toBe(0);
      await eventually(() => (receivedEvents().length >= 24 ? true : undefined), 60_000, '24 events at GitHub');
      expect(up.stderr()).toMatch(/claimed \d+ event\(s\) another replica read/);
    } finally {
      if (down.child.exitCode === null) await down.stop();
      const outB = await up.stop();
      expect(outB.code, outB.stderr).toBe(0);
    }
    expect(rollouts()).toEqual(names('r', 24));
  }, 120_000);
});

describe('relay: slow clients', () => {
  it('256 sockets sending partial headers from one address do not take /healthz down, and are closed', async () => {
    const c = await loadRelayConfig(configFile('slowloris', gh.url, { listen: { host: '127.0.0.1', port: 0 } }), ENV, () => {});
    expect(c).toMatchObject({ maxConnections: 256, maxConnectionsPerClient: 64, headersTimeoutMs: 5000 });
    const relay = new Relay(c, githubDeliver(c.apiUrl, log), log);
    await relay.start();
    const port = Number(new URL(relay.url).port);
    const attack: Socket[] = [];
    try {
      const closed = await Promise.all(
        Array.from({ length: 256 }, () => new Promise<{ closed: Promise<void> }>((resolve) => {
          // Another loopback address than the health check's: one client, as Linux routes all of 127/8 locally.
          const s = connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' }, () => {
            s.write('POST /v1/alertmanager HTTP/1.1\r\nHost: relay\r\nX-Slow: ');
            // Wrapped: resolving with a promise itself would wait for it.
            resolve({ closed: new Promise<void>((r) => s.once('close', () => r())) });
          });
          s.on('error', () => {});
          s.resume(); // read the 408, so the close is seen
          attack.push(s);
        })),
      );
      // The relay holds what it did not refuse: the attack is in place.
      await eventually(() => (relay.snapshot().connections >= c.maxConnectionsPerClient ? true : undefined), 10_000, 'the slow connections');
      // A raw request, as a kubelet probe: answered, or closed unanswered (what 256 slow sockets used to cause).
      const probe = (path: string) =>
        new Promise<string>((resolve) => {
          let got = '';
          const s = connect({ port, host: '127.0.0.1' }, () => s.write(`GET ${path} HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n`));
          s.on('data', (d) => (got += d));
          s.on('error', () => {});
          s.on('close', () => resolve(got.split('\r\n')[0] || 'closed without an answer'));
        });
      expect(await probe('/healthz')).toBe('HTTP/1.1 200 OK');
      expect(await probe('/readyz')).toBe('HTTP/1.1 200 OK');
      // Beyond the per-client cap they were closed at once; the rest when the headers timeout ran out.
      await Promise.all(closed.map((x) => x.closed));
      expect((await fetch(`${relay.url}/healthz`)).status).toBe(200);
    } finally {
      for (const s of attack) s.destroy();
      await relay.stop();
    }
  }, 60_000);
});

describe('relay: the shipped manifests keep the spool on a volume', () => {
  it('the Deployment runs in a PersistentVolumeClaim where relay.yaml’s spool.dir resolves, one pod at a time', () => {
    const docs = readFileSync(join(ROOT, 'manifests/relay/deployment.yaml'), 'utf8').split(/^---$/m).map((d) => parse(d) as Record<string, any>);
    const dep = docs.find((d) => d.kind === 'Deployment')!;
    const pvc = docs.find((d) => d.kind === 'PersistentVolumeClaim')!;
    const pod = dep.spec.template.spec;
    const c = pod.containers[0];
    const volume = pod.volumes.find((v: { persistentVolumeClaim?: { claimName: string } }) => v.persistentVolumeClaim?.claimName === pvc.metadata.name);
    expect(volume).toBeDefined();
    const mount = c.volumeMounts.find((m: { name: string }) => m.name === volume.name);
    expect(c.workingDir).toBe(mount.mountPath);
    const cfg = parse(readFileSync(join(ROOT, 'manifests/relay/relay.yaml'), 'utf8')) as { spool: { dir: string } };
    expect(cfg.spool.dir.startsWith('/')).toBe(false);
    expect(pvc.spec.accessModes).toEqual(['ReadWriteOnce']);
    expect(dep.spec.strategy.type).toBe('Recreate');
    expect(pod.securityContext.fsGroup).toBe(pod.securityContext.runAsGroup);
  });
});

describe('relay: the workflows read merged dispatches', () => {
  it('model-ct.yml turns every alert group of a merged ct-retrain dispatch into alerts; rollback reads the first event’s app, env and reason', async () => {
    const one = relayRetrainPayload();
    const other = { ...one, group_key: '{}:{alertname="LowConfidenceSpike"}', alertname: 'LowConfidenceSpike', labels: { alertname: 'LowConfidenceSpike', service: 'ocr' }, alerts: { count: 1, fingerprints: ['ffff000011112222'], external_url: null } };
    const merged = coalescedPayload([one, other]);
    expect(Object.keys(merged).length).toBeLessThanOrEqual(10);
    expect(merged).toMatchObject({ schema: 'mlloop/relay-batch@1', count: 2, app: one.app ?? null, env: one.env ?? null, reason: one.reason, events: [one, other] });
    const out = join(dir, 'merged-alerts.json');
    const r = await runStep(step('.github/workflows/model-ct.yml', 'check', 'alerts'), { PAYLOAD: JSON.stringify(merged), OUT: out });
    expect(r.code, r.stderr).toBe(0);
    const written = JSON.parse(readFileSync(out, 'utf8')) as { status: string; alerts: { labels: Record<string, string>; fingerprint?: string }[] };
    const fps = (one.alerts as { fingerprints: (string | null)[] }).fingerprints.filter(Boolean);
    expect(written.alerts.map((a) => a.fingerprint)).toEqual([...fps, 'ffff000011112222']);
    expect(new Set(written.alerts.map((a) => a.labels.alertname))).toEqual(new Set([String(one.alertname), 'LowConfidenceSpike']));
    expect(written.status).toBe('firing');
    // A single event is still sent as it is.
    expect(coalescedPayload([one])).toBe(one);
  });
});
