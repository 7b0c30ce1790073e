// mlloop relay's delivery path under GitHub's write limit: 1,000 distinct alerts (alert groups) for 10 targets
// (app0..app9), posted over loopback to the relay from dist/, delivered through its real GitHub client (Octokit
// with throttling: one content-creating request a second) to a local GitHub stand-in that records every event.
// Target: all 1,000 delivered in ≤ 15 s, none lost. Baseline: 10 alerts, one per target, through the same relay —
// ten dispatches, the least any relay needs under the limit. ratio = burst time / baseline time.
// Second case: GitHub goes down while the relay delivers, the relay gets SIGTERM, GitHub comes back, the relay
// restarts on the same spool: lost must be 0.
import { spawn } from 'node:child_process';
import { Agent, createServer, request } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST, round } from './_util.mjs';

const BEARER = 'bench-bearer-0123456789abcdef';
const TOKEN = 'ghs_bench000000000000000000';
const N = 1000;
const TARGETS = 10;
const CONCURRENCY = 32;

/** A GitHub stand-in for POST /repos/{owner}/{repo}/dispatches: 204, recording each event (one per batch entry). */
async function startGitHub() {
  const gh = { events: [], dispatches: 0, down: false };
  gh.server = createServer((req, res) => {
    if (gh.down) return req.socket.destroy();
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'POST' && /^\/repos\/[^/]+\/[^/]+\/dispatches$/.test(req.url)) {
        const p = JSON.parse(Buffer.concat(chunks).toString()).client_payload;
        gh.dispatches++;
        for (const e of p.schema === 'mlloop/relay-batch@1' ? p.events : [p]) gh.events.push(e.group_key);
      }
      res.writeHead(204);
      res.end();
    });
  });
  await new Promise((r) => gh.server.listen(0, '127.0.0.1', r));
  gh.url = `http://127.0.0.1:${gh.server.address().port}`;
  return gh;
}

function startRelay(config, env) {
  const child = spawn(process.execPath, [join(DIST, 'cli.cjs'), 'relay', '--config', config, '--port', '0'], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const closed = new Promise((r) => child.on('close', (code) => r(code)));
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (d) => {
      err += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(err);
      if (m) resolve({ url: m[1], child, stop: async () => (child.kill('SIGTERM'), { code: await closed, out, err }) });
    });
    closed.then((code) => reject(new Error(`relay exited ${code}: ${err}`)));
  });
}

function alert(i) {
  const labels = { alertname: 'ModelHighErrorRate', mlloop_route: 'rollback', severity: 'critical', app: `app${i % TARGETS}`, env: 'prod', model_version: `v${i}` };
  return JSON.stringify({ version: '4', groupKey: `{}:{model_version="v${i}"}`, status: 'firing', receiver: 'mlloop-relay', groupLabels: labels, commonLabels: labels, commonAnnotations: { summary: `v${i}: 12% of predictions fail (SLA 5%)` }, externalURL: 'http://am', truncatedAlerts: 0, alerts: [{ status: 'firing', labels, annotations: {}, fingerprint: `f${i}` }] });
}

/** Posts alerts from..to with CONCURRENCY in flight over kept-alive node:http connections (as a Go Alertmanager would, cheaply). */
async function post(url, from, to) {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const { hostname, port } = new URL(url);
  let next = from;
  let refused = 0;
  const one = (body) =>
    new Promise((resolve, reject) => {
      const req = request({ host: hostname, port, path: '/v1/alertmanager', method: 'POST', agent, headers: { authorization: `Bearer ${BEARER}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      });
      req.on('error', reject);
      req.end(body);
    });
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < to) {
        const i = next++;
        if ((await one(alert(i))) !== 202) refused++;
      }
    }),
  );
  agent.destroy();
  return refused;
}

const until = async (check, ms) => {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return check();
};

export default async function* relayDelivery() {
  const dir = mkdtempSync(join(tmpdir(), 'mlloop-bench-relay-delivery-'));
  const gh = await startGitHub();
  const config = (name) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, JSON.stringify({
      auth: { bearer_token_env: 'RELAY_BEARER_TOKEN' },
      github: { token_env: 'GITHUB_TOKEN', api_url: gh.url },
      limits: { max_queue: 2000, retry_backoff: '200ms', shutdown_grace: '1s' },
      spool: { dir: join(dir, `${name}-spool`) },
      routes: [{ name: 'sla-rollback', source: 'alertmanager', match: { mlloop_route: 'rollback' }, event_type: 'rollout-aborted', repository: 'acme/ocr-fields' }],
    }));
    return file;
  };
  const env = { RELAY_BEARER_TOKEN: BEARER, GITHUB_TOKEN: TOKEN };
  try {
    // Baseline: one alert per target, so ten dispatches under the same limit.
    const base = await startRelay(config('baseline'), env);
    const b0 = process.hrtime.bigint();
    await post(base.url, N, N + TARGETS);
    await until(() => gh.events.length >= TARGETS, 60_000);
    const baselineMs = Number(process.hrtime.bigint() - b0) / 1e6;
    await base.stop();
    gh.events.length = 0;
    gh.dispatches = 0;

    const relay = await startRelay(config('burst'), env);
    const t0 = process.hrtime.bigint();
    const refused = await post(relay.url, 0, N);
    const postedMs = Number(process.hrtime.bigint() - t0) / 1e6;
    await until(() => new Set(gh.events).size >= N, 60_000);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    await relay.stop();
    const unique = new Set(gh.events).size;
    yield {
      bench: 'relay-delivery',
      case: `${N} distinct alerts to ${TARGETS} targets, GitHub's 1 write/s in force (Octokit throttling)`,
      ms: round(ms, 1),
      posted_ms: round(postedMs, 1),
      after_last_post_ms: round(ms - postedMs, 1),
      budget_ms: 15000,
      within_budget: ms <= 15000 && unique === N,
      dispatches: gh.dispatches,
      delivered: unique,
      lost: N - unique,
      duplicates: gh.events.length - unique,
      refused,
      baseline: `${TARGETS} alerts, one per target, through the same relay (${TARGETS} dispatches)`,
      baseline_ms: round(baselineMs, 1),
      ratio: round(ms / baselineMs, 2),
    };

    // GitHub down during the shutdown, then a restart on the same spool.
    gh.events.length = 0;
    gh.dispatches = 0;
    const first = await startRelay(config('restart'), env);
    const refused2 = await post(first.url, 0, N);
    await until(() => gh.events.length >= N / 4, 30_000);
    gh.down = true;
    const stopped = await first.stop();
    const beforeRestart = new Set(gh.events).size;
    gh.down = false;
    const r0 = process.hrtime.bigint();
    const second = await startRelay(config('restart'), env);
    await until(() => new Set(gh.events).size >= N, 60_000);
    const drainMs = Number(process.hrtime.bigint() - r0) / 1e6;
    await second.stop();
    const unique2 = new Set(gh.events).size;
    yield {
      bench: 'relay-delivery',
      case: `${N} alerts, GitHub down during SIGTERM, restart on the same spool`,
      ms: round(drainMs, 1),
      delivered_before_sigterm: beforeRestart,
      kept_in_spool: /(\d+) not delivered yet/.exec(stopped.out)?.[1] ?? '0',
      exit_code: stopped.code,
      delivered: unique2,
      lost: N - unique2 + refused2,
      duplicates: gh.events.length - unique2,
      dispatches: gh.dispatches,
      baseline: `${TARGETS} alerts, one per target, through the same relay (${TARGETS} dispatches)`,
      baseline_ms: round(baselineMs, 1),
      ratio: round(drainMs / baselineMs, 2),
    };
  } finally {
    gh.server.closeAllConnections();
    gh.server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
