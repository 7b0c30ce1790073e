// mlloop relay's accept path under load: 5,000 authenticated Alertmanager webhooks (500 distinct alert groups,
// the rest duplicates) posted over loopback with 32 in flight, against the relay from dist/ and, as the
// baseline, a bare node:http server that only reads and parses the body. ratio = relay time / baseline time.
// Also reports the relay's peak resident memory from its /metrics.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST, round } from './_util.mjs';

const BEARER = 'bench-bearer-0123456789abcdef';
const N = 5000;
const GROUPS = 500;
const CONCURRENCY = 32;

function startProcess(args, env) {
  const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(err);
      if (m) resolve({ url: m[1], child });
    });
    child.on('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
  });
}

function payload(i) {
  const g = i % GROUPS;
  const labels = { alertname: 'ModelHighErrorRate', mlloop_route: 'rollback', severity: 'critical', model_version: `v${g}` };
  return JSON.stringify({ version: '4', groupKey: `{}:{model_version="v${g}"}`, status: 'firing', receiver: 'r', groupLabels: labels, commonLabels: labels, commonAnnotations: { summary: 'x' }, externalURL: 'http://am', truncatedAlerts: 0, alerts: [{ status: 'firing', labels, annotations: {}, fingerprint: `f${g}` }] });
}

async function blast(url) {
  const bodies = Array.from({ length: N }, (_, i) => payload(i));
  let next = 0;
  let bad = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < N) {
        const i = next++;
        const r = await fetch(`${url}/v1/alertmanager`, { method: 'POST', headers: { authorization: `Bearer ${BEARER}`, 'content-type': 'application/json' }, body: bodies[i] });
        await r.arrayBuffer();
        if (r.status >= 300) bad++;
      }
    }),
  );
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, bad };
}

export default async function* relay() {
  // A GitHub stand-in that accepts every dispatch (delivery is not what is measured here).
  const gh = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(204);
      res.end();
    });
  });
  await new Promise((r) => gh.listen(0, '127.0.0.1', r));
  const dir = mkdtempSync(join(tmpdir(), 'mlloop-bench-relay-'));
  const cfg = {
    auth: { bearer_token_env: 'RELAY_BEARER_TOKEN' },
    github: { token_env: 'GITHUB_TOKEN', api_url: `http://127.0.0.1:${gh.address().port}` },
    limits: { max_queue: 10000, shutdown_grace: '1s' },
    // Its own spool: the dedup keys of an earlier run must not turn this run's alerts into duplicates.
    spool: { dir: join(dir, 'spool') },
    routes: [{ name: 'r', source: 'alertmanager', match: { mlloop_route: 'rollback' }, event_type: 'rollout-aborted', repository: 'acme/ocr-fields' }],
  };
  writeFileSync(join(dir, 'relay.yaml'), JSON.stringify(cfg));
  const base = await startProcess(['-e', `require('http').createServer((q,s)=>{const b=[];q.on('data',c=>b.push(c));q.on('end',()=>{JSON.parse(Buffer.concat(b));s.writeHead(202,{'content-type':'application/json'});s.end('{"accepted":1}')})}).listen(0,'127.0.0.1',function(){console.error('listening on http://127.0.0.1:'+this.address().port)})`]);
  const relayProc = await startProcess([join(DIST, 'cli.cjs'), 'relay', '--config', join(dir, 'relay.yaml'), '--port', '0'], { RELAY_BEARER_TOKEN: BEARER, GITHUB_TOKEN: 'ghs_bench000000000000000000' });
  try {
    await blast(base.url); // warm-up
    const baseline = await blast(base.url);
    const mine = await blast(relayProc.url);
    const metrics = await (await fetch(`${relayProc.url}/metrics`)).text();
    const rss = Number(/^process_resident_memory_bytes (\d+)/m.exec(metrics)?.[1]);
    const suppressed = Number(/^mlloop_relay_suppressed_total (\d+)/m.exec(metrics)?.[1]);
    yield {
      bench: 'relay',
      case: `${N} webhook posts, ${GROUPS} alert groups, ${CONCURRENCY} in flight`,
      ms: round(mine.ms, 1),
      posts_per_s: Math.round((N / mine.ms) * 1000),
      baseline: 'bare node:http server reading and parsing the body',
      baseline_ms: round(baseline.ms, 1),
      ratio: round(mine.ms / baseline.ms, 2),
      refused: mine.bad,
      suppressed,
      rss_mb: round(rss / 1024 / 1024, 1),
    };
  } finally {
    base.child.kill('SIGKILL');
    relayProc.child.kill('SIGKILL');
    gh.close();
    await new Promise((r) => (relayProc.child.exitCode === null ? relayProc.child.once('exit', r) : r()));
    rmSync(dir, { recursive: true, force: true });
  }
}
