import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { GitHubServer } from '../support/github-server.js';
import { eventually } from '../support/services.js';
import { ROOT } from '../support/paths.js';
import { sign } from '../../src/core/relay/events.js';
import { startRelayProcess } from './relay-process.js';
import { tempDir } from '../support/tmp.js';

// `mlloop relay` (dist/) under load from loopback: 2,000 webhook posts in about 10 seconds.
const BEARER = 'relay-bearer-0123456789abcdef';
const HMAC = 'relay-hmac-secret-0123456789abcdef';
const TOKEN = 'ghs_relaytoken000000000000000';
const ENV = { RELAY_BEARER_TOKEN: BEARER, RELAY_HMAC_SECRET: HMAC, GITHUB_TOKEN: TOKEN };
const dir = tempDir('relay-load');
let gh: GitHubServer;

beforeAll(async () => {
  gh = await GitHubServer.start({ tokens: { [TOKEN]: { login: 'mlloop-relay[bot]' } } });
});
afterAll(async () => {
  await gh?.close();
});

function configFile(name: string, limits: Record<string, unknown>): string {
  const cfg = parse(readFileSync(join(ROOT, 'manifests/relay/relay.yaml'), 'utf8')) as Record<string, any>;
  cfg.github.api_url = gh.url;
  Object.assign(cfg.limits, { retry_backoff: '100ms', ...limits });
  cfg.spool = { dir: join(dir, `${name}-spool`) };
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(cfg));
  return file;
}

function body(i: number, groups: number): { path: string; text: string } {
  const g = i % groups;
  if (g % 2 === 0) {
    const labels = { alertname: 'ModelHighErrorRate', mlloop_route: 'rollback', severity: 'critical', model_version: `ocr-v${g}` };
    return { path: '/v1/alertmanager', text: JSON.stringify({ version: '4', groupKey: `{}:{model_version="ocr-v${g}"}`, status: 'firing', receiver: 'mlloop-relay', groupLabels: labels, commonLabels: labels, commonAnnotations: {}, externalURL: 'http://am', truncatedAlerts: 0, alerts: [{ status: 'firing', labels, annotations: {}, fingerprint: `fp${g}` }] }) };
  }
  return { path: '/v1/notifications', text: JSON.stringify({ event_type: 'rollout-aborted', client_payload: { trigger: 'on-rollout-aborted', app: 'ocr', env: 'prod', rollout: `ocr-${g}`, revision: '1' } }) };
}

/** Posts `n` webhooks at `rps` with at most `concurrency` in flight; half with a bearer token, half signed. */
async function blast(url: string, n: number, rps: number, concurrency: number, groups: number, onTick?: () => Promise<void>) {
  const statuses: number[] = [];
  const answers: { accepted: number; suppressed: number }[] = [];
  const inFlight = new Set<Promise<void>>();
  const t0 = Date.now();
  for (let i = 0; i < n; i++) {
    const wait = t0 + (i * 1000) / rps - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    while (inFlight.size >= concurrency) await Promise.race(inFlight);
    const { path, text } = body(i, groups);
    const headers: Record<string, string> = { 'content-type': 'application/json', ...(i % 2 ? { authorization: `Bearer ${BEARER}` } : { 'x-mlloop-signature-256': sign(HMAC, text) }) };
    const p = fetch(`${url}${path}`, { method: 'POST', headers, body: text }).then(async (r) => {
      statuses.push(r.status);
      if (r.status < 300) answers.push((await r.json()) as { accepted: number; suppressed: number });
      else await r.arrayBuffer();
    });
    const tracked = p.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    if (onTick && i % 100 === 0) await onTick();
  }
  await Promise.all(inFlight);
  return { statuses, answers };
}

/** Every event GitHub received: the relay merges waiting events for one target into one dispatch (client_payload.events). */
const received = () =>
  gh.state.repositoryDispatches.flatMap((d) => {
    const p = d.client_payload as { schema?: string; events?: unknown[] };
    return (p.schema === 'mlloop/relay-batch@1' ? p.events! : [p]) as { group_key?: string; rollout?: string }[];
  });

const metric = async (url: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(await (await fetch(`${url}/metrics`)).text())?.[1]);

describe('mlloop relay under load', () => {
  it('2,000 posts in ~10 s: every accepted event delivered once, duplicates suppressed, memory bounded', async () => {
    const relay = await startRelayProcess(configFile('load.yaml', { max_queue: 1000 }), ENV);
    gh.state.repositoryDispatches.length = 0;
    let maxRss = 0;
    let maxQueue = 0;
    const sample = async () => {
      maxRss = Math.max(maxRss, await metric(relay.url, 'process_resident_memory_bytes'));
      maxQueue = Math.max(maxQueue, await metric(relay.url, 'mlloop_relay_queue_depth'));
    };
    const { statuses, answers } = await blast(relay.url, 2000, 200, 32, 40, sample);
    expect(statuses.filter((s) => s >= 300)).toEqual([]);
    const accepted = answers.reduce((a, x) => a + x.accepted, 0);
    const suppressed = answers.reduce((a, x) => a + x.suppressed, 0);
    expect(accepted).toBe(40);
    expect(suppressed).toBe(1960);
    await eventually(() => (received().length >= 40 ? true : undefined), 120_000, '40 deliveries');
    const out = await relay.stop();
    expect(out.code, out.stderr).toBe(0);
    expect(received()).toHaveLength(40);
    // Forty distinct events: 20 alert groups and 20 rollouts, each exactly once (merged into fewer dispatches).
    expect(gh.state.repositoryDispatches.length).toBeLessThan(40);
    const ids = received().map((e) => JSON.stringify(e.group_key ?? e.rollout));
    expect(new Set(ids).size).toBe(40);
    expect(maxQueue).toBeLessThanOrEqual(1000);
    expect(maxRss).toBeGreaterThan(0);
    expect(maxRss).toBeLessThan(256 * 1024 * 1024);
  }, 180_000);

  it('with a slow GitHub and a small queue: 503 beyond the bound, and everything accepted still delivered', async () => {
    const relay = await startRelayProcess(configFile('small.yaml', { max_queue: 5, concurrency: 1 }), ENV);
    gh.state.repositoryDispatches.length = 0;
    let maxQueue = 0;
    const { statuses, answers } = await blast(relay.url, 200, 400, 16, 200, async () => {
      maxQueue = Math.max(maxQueue, await metric(relay.url, 'mlloop_relay_queue_depth'));
    });
    const accepted = answers.reduce((a, x) => a + x.accepted, 0);
    const refused = statuses.filter((s) => s === 503).length;
    expect(refused).toBeGreaterThan(0);
    expect(accepted + refused).toBe(200);
    expect(maxQueue).toBeLessThanOrEqual(5);
    const out = await relay.stop();
    expect(out.code, out.stderr).toBe(0);
    expect(received()).toHaveLength(accepted);
  }, 180_000);
});
