import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { connect, type Socket } from 'node:net';
import { GitHubServer } from '../support/github-server.js';
import { ROOT } from '../support/paths.js';
import { Relay, githubDeliver, type Deliver } from '../../src/core/relay/server.js';
import { loadRelayConfig, type RelayConfig } from '../../src/core/relay/config.js';
import { sign, DedupWindow, alertmanagerDispatches, parseAlertmanager } from '../../src/core/relay/events.js';
import { ConfigurationError } from '../../src/core/errors.js';
import type { Logger } from '../../src/core/log.js';
import { tempDir } from '../support/tmp.js';

const BEARER = 'relay-bearer-0123456789abcdef';
const HMAC = 'relay-hmac-secret-0123456789';
const TOKEN = 'ghs_relaytoken000000000000000';

const lines: string[] = [];
const log: Logger = { info: (m) => lines.push(m), warn: (m) => lines.push(`warn: ${m}`), debug: () => {}, progress: () => {} };

let gh: GitHubServer;
const dir = tempDir('relay');
const relays: Relay[] = [];

beforeAll(async () => {
  gh = await GitHubServer.start({ tokens: { [TOKEN]: { login: 'mlloop-relay[bot]' } } });
});
afterAll(async () => {
  await gh.close();
});
afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.stop()));
  gh.state.repositoryDispatches.length = 0;
  lines.length = 0;
});

const ENV = { RELAY_BEARER_TOKEN: BEARER, RELAY_HMAC_SECRET: HMAC, GITHUB_TOKEN: TOKEN };

async function config(over: Record<string, unknown> = {}): Promise<RelayConfig> {
  const raw = parse(readFileSync(join(ROOT, 'manifests/relay/relay.yaml'), 'utf8')) as Record<string, any>;
  raw.listen = { host: '127.0.0.1', port: 0 };
  raw.github.api_url = gh.url;
  raw.limits = { ...raw.limits, retry_backoff: '10ms', shutdown_grace: '5s', write_interval: '10ms', ...((over.limits as object) ?? {}) };
  const name = `relay-${Math.random()}`;
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, JSON.stringify({ ...raw, spool: { dir: join(dir, `${name}-spool`) }, ...over, limits: raw.limits }));
  return loadRelayConfig(file, ENV, () => {});
}

async function start(over: Record<string, unknown> = {}, deliver?: Deliver): Promise<Relay> {
  const cfg = await config(over);
  const relay = new Relay(cfg, deliver ?? githubDeliver(cfg.apiUrl, log), log);
  await relay.start();
  relays.push(relay);
  return relay;
}

function alertGroup(groupKey: string, over: Record<string, unknown> = {}) {
  return {
    version: '4',
    groupKey,
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'mlloop-relay',
    groupLabels: { alertname: 'ModelHighErrorRate' },
    commonLabels: { alertname: 'ModelHighErrorRate', mlloop_route: 'rollback', severity: 'critical', model_version: 'ocr-v3.2' },
    commonAnnotations: { summary: 'ocr-v3.2: 30% of predictions fail (SLA 5%)' },
    externalURL: 'http://alertmanager:9093',
    alerts: [{ status: 'firing', labels: { alertname: 'ModelHighErrorRate', mlloop_route: 'rollback', severity: 'critical', model_version: 'ocr-v3.2' }, annotations: {}, startsAt: '2025-06-12T10:00:00Z', endsAt: '0001-01-01T00:00:00Z', generatorURL: 'http://prometheus/graph', fingerprint: 'a1b2c3d4e5f60718' }],
    ...over,
  };
}

const post = (relay: Relay, path: string, body: unknown, headers: Record<string, string> = { authorization: `Bearer ${BEARER}` }) =>
  fetch(`${relay.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });

const settle = async (relay: Relay) => {
  for (let i = 0; i < 200 && (relay.snapshot().queued > 0 || relay.snapshot().inFlight > 0); i++) await new Promise((r) => setTimeout(r, 20));
};

describe('relay: authentication and limits', () => {
  it('accepts a bearer token or an HMAC signature, and refuses anything else with 401 without logging the body', async () => {
    const relay = await start();
    const body = JSON.stringify(alertGroup('{}:{alertname="A"}'));
    expect((await post(relay, '/v1/alertmanager', body)).status).toBe(202);
    expect((await post(relay, '/v1/alertmanager', alertGroup('{}:{alertname="B"}'), { 'x-mlloop-signature-256': sign(HMAC, JSON.stringify(alertGroup('{}:{alertname="B"}'))) })).status).toBe(202);
    const secretBody = JSON.stringify(alertGroup('{}:{alertname="C"}', { commonAnnotations: { summary: 'TOP-SECRET-BODY' } }));
    for (const headers of [{} as Record<string, string>, { authorization: 'Bearer wrong-token-wrong-token' }, { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, { 'x-mlloop-signature-256': sign('another-secret-0123456789', secretBody) }, { 'x-mlloop-signature-256': 'sha256=00' }]) {
      const r = await post(relay, '/v1/alertmanager', secretBody, headers);
      expect(r.status, JSON.stringify(headers)).toBe(401);
    }
    expect(relay.snapshot().unauthorized).toBe(5);
    expect(lines.filter((l) => l.includes('401'))).toHaveLength(5);
    expect(lines.join('\n')).not.toContain('TOP-SECRET-BODY');
    expect(lines.join('\n')).not.toContain(BEARER);
    await settle(relay);
    expect(gh.state.repositoryDispatches).toHaveLength(2);
  });

  it('refuses oversized bodies with 413, whether declared or streamed', async () => {
    const relay = await start({ limits: { max_body_bytes: 2048 } });
    const big = JSON.stringify(alertGroup('k', { commonAnnotations: { summary: 'x'.repeat(5000) } }));
    expect((await post(relay, '/v1/alertmanager', big)).status).toBe(413);
    // Chunked: no content-length, the limit is enforced while reading.
    const stream = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode(big)); c.close(); } });
    const r = await fetch(`${relay.url}/v1/alertmanager`, { method: 'POST', headers: { authorization: `Bearer ${BEARER}` }, body: stream, duplex: 'half' } as RequestInit);
    expect(r.status).toBe(413);
    expect(relay.snapshot().accepted).toBe(0);
  });

  it('closes connections beyond max_connections, so slow senders cannot pile up request bodies', async () => {
    const relay = await start({ limits: { max_connections: 2 } });
    const { port } = new URL(relay.url);
    const open = (): Promise<Socket> => new Promise((resolve) => {
      const s = connect(Number(port), '127.0.0.1', () => resolve(s));
    });
    // Two senders that started a request and stall in the middle of the body.
    const slow = await Promise.all([open(), open()]);
    for (const s of slow) s.write(`POST /v1/alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${BEARER}\r\nContent-Length: 1000\r\n\r\n{"version":`);
    await new Promise((r) => setTimeout(r, 100));
    const third = await open();
    const closed = await new Promise<boolean>((resolve) => {
      third.on('close', () => resolve(true));
      third.on('data', () => resolve(false));
      third.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    expect(closed).toBe(true);
    for (const s of slow) s.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect((await fetch(`${relay.url}/healthz`)).status).toBe(200);
  });

  it('answers 503 when the delivery queue is full and accepts again once it drains', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const delivered: string[] = [];
    const relay = await start({ limits: { max_queue: 3, concurrency: 1 } }, async (d) => {
      await gate;
      // The three that waited for one target go out as one dispatch listing them.
      const events = (d.clientPayload.events as { group_key: string }[] | undefined) ?? [d.clientPayload as { group_key: string }];
      delivered.push(...events.map((e) => e.group_key));
    });
    const codes = [];
    for (let i = 0; i < 6; i++) codes.push((await post(relay, '/v1/alertmanager', alertGroup(`g${i}`))).status);
    // One in flight, three queued, the rest refused.
    expect(codes).toEqual([202, 202, 202, 202, 503, 503]);
    const refused = await post(relay, '/v1/alertmanager', alertGroup('g5'));
    expect(refused.headers.get('retry-after')).toBe('5');
    release();
    await settle(relay);
    expect(delivered).toEqual(['g0', 'g1', 'g2', 'g3']);
    // The refused group was not remembered as seen: its retry goes through.
    expect((await post(relay, '/v1/alertmanager', alertGroup('g5'))).status).toBe(202);
  });

  it('rejects malformed payloads with 400 and GitHub’s limits on event_type and client_payload', async () => {
    const relay = await start();
    expect((await post(relay, '/v1/alertmanager', '{not json')).status).toBe(400);
    expect((await post(relay, '/v1/alertmanager', { ...alertGroup('x'), version: '3' })).status).toBe(400);
    expect((await post(relay, '/v1/notifications', { event_type: 'x'.repeat(101), client_payload: {} })).status).toBe(400);
    const eleven = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, i]));
    const r = await post(relay, '/v1/notifications', { event_type: 'rollout-aborted', client_payload: eleven });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: string }).error).toMatch(/11 top-level keys; GitHub allows at most 10/);
  });
});

describe('relay: routing, duplicates and delivery', () => {
  it('forwards one repository_dispatch per alert group, however often Alertmanager re-sends it', async () => {
    const relay = await start();
    const group = alertGroup('{}/{mlloop_route=~"retrain|rollback"}:{alertname="ModelHighErrorRate", model_version="ocr-v3.2"}');
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await (await post(relay, '/v1/alertmanager', group)).json());
    expect(answers[0]).toEqual({ accepted: 1, suppressed: 0, routes: ['sla-rollback'] });
    expect(answers[4]).toEqual({ accepted: 0, suppressed: 1, routes: ['sla-rollback'] });
    await settle(relay);
    expect(gh.state.repositoryDispatches).toHaveLength(1);
    const d = gh.state.repositoryDispatches[0]!;
    expect(d).toMatchObject({ repo: 'acme/ocr-fields', event_type: 'rollout-aborted' });
    expect(d.client_payload).toMatchObject({ source: 'alertmanager', route: 'sla-rollback', status: 'firing', alertname: 'ModelHighErrorRate', app: 'ocr', env: 'prod', reason: 'ocr-v3.2: 30% of predictions fail (SLA 5%)', alerts: { count: 1, fingerprints: ['a1b2c3d4e5f60718'] } });
    expect(Object.keys(d.client_payload as object).length).toBeLessThanOrEqual(10);
    // Every request went through the OpenAPI-validated endpoint with the configured token.
    expect(gh.requests.filter((r) => r.operationId === 'repos/create-dispatch-event').every((r) => r.token === TOKEN && r.status === 204)).toBe(true);
  });

  it('routes by labels, skips resolved groups and unmatched alerts', async () => {
    const relay = await start();
    const retrain = alertGroup('retrain-group', { commonLabels: { alertname: 'LowConfidenceSpike', mlloop_route: 'retrain' }, alerts: [{ status: 'firing', labels: { alertname: 'LowConfidenceSpike', mlloop_route: 'retrain' }, fingerprint: 'ff' }] });
    expect(await (await post(relay, '/v1/alertmanager', retrain)).json()).toMatchObject({ accepted: 1, routes: ['retrain'] });
    expect(await (await post(relay, '/v1/alertmanager', { ...retrain, status: 'resolved', alerts: retrain.alerts.map((a) => ({ ...a, status: 'resolved' })) })).json()).toEqual({ accepted: 0, suppressed: 0, routes: [] });
    const other = alertGroup('other', { commonLabels: { alertname: 'DiskFull' }, alerts: [{ status: 'firing', labels: { alertname: 'DiskFull' } }] });
    expect((await post(relay, '/v1/alertmanager', other)).status).toBe(200);
    await settle(relay);
    expect(gh.state.repositoryDispatches.map((d) => d.event_type)).toEqual(['ct-retrain']);
  });

  it('forwards Argo notifications as they are, once per rollout revision', async () => {
    const relay = await start();
    const n = { event_type: 'rollout-aborted', client_payload: { source: 'argo-rollouts', trigger: 'on-rollout-aborted', app: 'ocr', env: 'prod', rollout: 'ocr', namespace: 'serving', revision: '7', pod_hash: '6d5f8c7b9', reason: 'Metric "latency_ms.p95" assessed Failed' } };
    expect((await post(relay, '/v1/notifications', n)).status).toBe(202);
    // The same abort reported again with another message: still the same event.
    expect(await (await post(relay, '/v1/notifications', { ...n, client_payload: { ...n.client_payload, reason: 'RolloutAborted' } })).json()).toMatchObject({ accepted: 0, suppressed: 1 });
    expect((await post(relay, '/v1/notifications', { ...n, client_payload: { ...n.client_payload, revision: '8' } })).status).toBe(202);
    await settle(relay);
    expect(gh.state.repositoryDispatches.map((d) => (d.client_payload as { revision: string }).revision)).toEqual(['7', '8']);
    expect(gh.state.repositoryDispatches[0]!.client_payload).toEqual(n.client_payload);
  });

  it('retries server errors and gives up on client errors, forgetting the key so a later notification retries', async () => {
    const relay = await start();
    gh.failNext(2, 502, (m, p) => m === 'POST' && p.endsWith('/dispatches'));
    expect((await post(relay, '/v1/alertmanager', alertGroup('flaky'))).status).toBe(202);
    await settle(relay);
    expect(gh.state.repositoryDispatches).toHaveLength(1);
    gh.failNext(1, 404, (m, p) => m === 'POST' && p.endsWith('/dispatches'));
    expect((await post(relay, '/v1/alertmanager', alertGroup('gone'))).status).toBe(202);
    await settle(relay);
    expect(relay.snapshot()).toMatchObject({ delivered: 1, failed: 1 });
    expect(lines.some((l) => /could not deliver rollout-aborted to acme\/ocr-fields \(route sla-rollback\) after 1 attempt\(s\): HTTP 404/.test(l))).toBe(true);
    expect((await post(relay, '/v1/alertmanager', alertGroup('gone'))).status).toBe(202);
    await settle(relay);
    expect(gh.state.repositoryDispatches).toHaveLength(2);
    const metrics = await (await fetch(`${relay.url}/metrics`)).text();
    expect(metrics).toMatch(/mlloop_relay_dispatches_total\{event_type="rollout-aborted",outcome="delivered"\} 2/);
    expect(metrics).toMatch(/mlloop_relay_dispatches_total\{event_type="rollout-aborted",outcome="failed"\} 1/);
    expect(metrics).toMatch(/mlloop_relay_delivery_attempts_total 5/);
  });

  it('on stop, refuses new work but delivers what it accepted', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const delivered: string[] = [];
    const relay = await start({}, async (d) => {
      await gate;
      for (const e of (d.clientPayload.events as unknown[] | undefined) ?? [d.clientPayload]) delivered.push((e as { group_key: string }).group_key);
    });
    for (let i = 0; i < 5; i++) expect((await post(relay, '/v1/alertmanager', alertGroup(`s${i}`))).status).toBe(202);
    const stopping = relay.stop();
    relays.length = 0;
    setTimeout(release, 100);
    const stats = await stopping;
    expect(stats).toMatchObject({ accepted: 5, delivered: 5, undelivered: 0 });
    expect(delivered.sort()).toEqual(['s0', 's1', 's2', 's3', 's4']);
  });
});

describe('relay: configuration', () => {
  it('names the file, the JSON path and the fix for a missing secret or a bad route', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, readFileSync(join(ROOT, 'manifests/relay/relay.yaml'), 'utf8'));
    const err = await loadRelayConfig(file, { ...ENV, GITHUB_TOKEN: '' }, () => {}).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigurationError);
    expect(err.message).toContain(`${file}: $.github.token_env: environment variable GITHUB_TOKEN is not set`);
    writeFileSync(file, 'auth: {bearer_token_env: T}\ngithub: {token_env: G}\nroutes:\n  - {name: a, source: alertmanager, event_type: ct-retrain, repository: nope}\n');
    const err2 = await loadRelayConfig(file, { T: 'x'.repeat(20), G: 'y' }, () => {}).catch((e) => e);
    expect(err2.message).toMatch(/\$\.routes\[0\]\.repository/);
    const short = await loadRelayConfig(join(ROOT, 'manifests/relay/relay.yaml'), { ...ENV, RELAY_BEARER_TOKEN: 'short' }, () => {}).catch((e) => e);
    expect(short.message).toMatch(/shorter than 16 characters/);
  });

  it('registers every secret it reads, so the CLI masks them', async () => {
    const seen: string[] = [];
    await loadRelayConfig(join(ROOT, 'manifests/relay/relay.yaml'), ENV, (v) => seen.push(v));
    expect(seen.sort()).toEqual([BEARER, HMAC, TOKEN].sort());
  });

  it('the Deployment’s ConfigMap holds the same configuration as manifests/relay/relay.yaml', () => {
    const cm = parse(readFileSync(join(ROOT, 'manifests/relay/deployment.yaml'), 'utf8').split(/^---$/m)[0]!) as { data: Record<string, string> };
    expect(parse(cm.data['relay.yaml']!)).toEqual(parse(readFileSync(join(ROOT, 'manifests/relay/relay.yaml'), 'utf8')));
  });
});

describe('relay: pure parts', () => {
  it('forgets the oldest keys beyond the limit and expires keys after the window', () => {
    const w = new DedupWindow(1000, 3);
    expect(['a', 'b', 'c', 'd'].map((k) => w.admit(k, 0))).toEqual([true, true, true, true]);
    expect(w.size).toBe(3);
    expect(w.admit('a', 10)).toBe(true);
    expect(w.admit('d', 10)).toBe(false);
    expect(w.admit('d', 1010)).toBe(true);
    w.sweep(5000);
    expect(w.size).toBe(0);
  });

  it('builds client payloads within GitHub’s 10 keys even for huge groups', () => {
    const many = alertGroup('big', { alerts: Array.from({ length: 500 }, (_, i) => ({ status: 'firing', labels: { alertname: 'ModelHighErrorRate', mlloop_route: 'rollback', severity: 'critical', pod: `p${i}` }, fingerprint: `f${i}` })), truncatedAlerts: 7, commonAnnotations: {} });
    const [d] = alertmanagerDispatches(parseAlertmanager(many), [{ name: 'r', source: 'alertmanager', match: { mlloop_route: ['rollback'] }, eventType: 'rollout-aborted', owner: 'a', repo: 'b', sendResolved: false, token: 't' }]);
    expect(Object.keys(d!.clientPayload)).toHaveLength(10);
    expect(d!.clientPayload).toMatchObject({ alerts: { count: 507 }, app: null, env: null, reason: 'ModelHighErrorRate firing' });
    expect((d!.clientPayload.alerts as { fingerprints: string[] }).fingerprints).toHaveLength(20);
  });
});
