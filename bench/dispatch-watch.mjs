// The collector as a service: `mlloop dispatch collect` (watch mode) against a small Kubernetes API server in this
// process that lists MLLOOP_BENCH_WATCH_NODES nodes (the real GPU node shapes of docs/examples/dispatch/snapshot) with
// one GPU pod each, then streams pod ADDED/MODIFIED/DELETED events at MLLOOP_BENCH_WATCH_RATE per second (5,000) for
// MLLOOP_BENCH_WATCH_SECONDS. Every 100 ms one probe pod changes its CPU request; the lag is from sending that event
// to seeing it in Redis (target ≤ 1 s). Also reported: the collector's RSS, and its growth per node against a
// collector of 100 nodes (target ≤ 1 KB per node), and the events the server got written (the collector keeps up).
import { spawn, spawnSync } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST, ROOT, median, round, freePort } from './_util.mjs';

const NODES = Number(process.env.MLLOOP_BENCH_WATCH_NODES ?? 20000);
const RATE = Number(process.env.MLLOOP_BENCH_WATCH_RATE ?? 5000);
const SECONDS = Number(process.env.MLLOOP_BENCH_WATCH_SECONDS ?? 20);
const CLI = join(DIST, 'cli.cjs');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function shapes() {
  const src = join(ROOT, 'docs/examples/dispatch/snapshot');
  const out = [];
  for (const c of readdirSync(src).sort()) for (const n of JSON.parse(readFileSync(join(src, c, 'nodes.json'), 'utf8')).items) if (Number(n.status?.allocatable?.['nvidia.com/gpu'] ?? 0) > 0) out.push(n);
  return out;
}

const pod = (name, node, cpu, rv, gpus = 1) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'team-a', uid: `uid-${name}`, resourceVersion: String(rv), labels: { app: 'trainer' } },
  spec: { nodeName: node, priority: 0, containers: [{ name: 'trainer', image: 'registry.example.com/trainer:v1', resources: { requests: { cpu, memory: '16Gi', 'nvidia.com/gpu': String(gpus) }, limits: { 'nvidia.com/gpu': String(gpus) } } }] },
  status: { phase: 'Running', startTime: '2025-06-12T08:00:00Z' },
});

/** A Kubernetes API server for one cluster: lists, watches (pods stream what `emit` sends), access reviews. */
function apiServer(nodes, pods) {
  let rv = 1000;
  const watchers = { nodes: new Set(), pods: new Set(), priorityclasses: new Set() };
  const server = createHttpServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    const watch = u.searchParams.get('watch') === 'true';
    if (req.method === 'POST' && u.pathname.endsWith('/selfsubjectaccessreviews')) {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        const b = JSON.parse(body || '{}');
        const text = JSON.stringify({ ...b, status: { allowed: true } });
        res.writeHead(201, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      });
      return;
    }
    const kind = u.pathname === '/api/v1/nodes' ? 'nodes' : u.pathname === '/api/v1/pods' ? 'pods' : u.pathname === '/apis/scheduling.k8s.io/v1/priorityclasses' ? 'priorityclasses' : undefined;
    if (!kind || req.method !== 'GET') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 }));
      return;
    }
    if (watch) {
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      watchers[kind].add(res);
      res.on('close', () => watchers[kind].delete(res));
      return;
    }
    // limit/continue as the API server pages a list (the continue token is the offset here).
    const all = kind === 'nodes' ? nodes : kind === 'pods' ? [...pods.values()] : [];
    const offset = Number(u.searchParams.get('continue') ?? 0);
    const limit = Number(u.searchParams.get('limit') ?? 0) || Infinity;
    const items = all.slice(offset, offset + limit);
    const more = offset + items.length < all.length ? `,"continue":"${offset + items.length}"` : '';
    res.writeHead(200, { 'content-type': 'application/json' });
    const listKind = { nodes: 'NodeList', pods: 'PodList', priorityclasses: 'PriorityClassList' }[kind];
    res.write(`{"apiVersion":"v1","kind":"${listKind}","metadata":{"resourceVersion":"${rv}"${more}},"items":[`);
    let buf = '';
    for (let i = 0; i < items.length; i++) {
      buf += (i ? ',' : '') + JSON.stringify(items[i]);
      if (buf.length > 1 << 20) {
        res.write(buf);
        buf = '';
      }
    }
    res.end(`${buf}]}`);
  });
  return {
    server,
    nextRv: () => ++rv,
    watching: () => watchers.pods.size > 0 && watchers.nodes.size > 0,
    /** Writes pod events (newline-delimited watch frames); returns false when no pod watch is open. */
    emit(events) {
      if (watchers.pods.size === 0) return false;
      const text = events.map((e) => JSON.stringify(e)).join('\n') + '\n';
      for (const w of watchers.pods) w.write(text);
      return true;
    },
    close: () => {
      for (const s of Object.values(watchers)) for (const w of s) w.destroy();
      server.closeAllConnections();
      return new Promise((r) => server.close(r));
    },
  };
}

function rssKb(pid) {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
  } catch {
    return 0;
  }
}

function cpuTicks(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

/** One collector against one cluster of `count` nodes; with `rate`, pod events for `seconds` and the probe. */
async function run(dir, redisPort, count, rate, seconds) {
  const all = shapes();
  // n0 (the probe's node) has the most GPUs: with one in use it keeps free ones, so its CPU usage is stored.
  const widest = all.reduce((a, n) => (Number(n.status.allocatable['nvidia.com/gpu']) > Number(a.status.allocatable['nvidia.com/gpu']) ? n : a));
  const shapeOf = (i) => (i === 0 ? widest : all[i % all.length]);
  const nodes = Array.from({ length: count }, (_, i) => ({ ...shapeOf(i), metadata: { ...shapeOf(i).metadata, name: `n${i}`, resourceVersion: '1' } }));
  const pods = new Map();
  let rv = 1;
  for (let i = 0; i < count; i++) pods.set(`p${i}`, pod(`p${i}`, `n${i}`, '4', rv++));
  const api = apiServer(nodes, pods);
  const port = await freePort();
  await new Promise((r) => api.server.listen(port, '127.0.0.1', r));
  const cluster = `w${count}`;
  const kubeconfig = join(dir, `kubeconfig-${cluster}.yaml`);
  writeFileSync(kubeconfig, `apiVersion: v1\nkind: Config\ncurrent-context: ${cluster}\nclusters:\n- name: ${cluster}\n  cluster:\n    server: http://127.0.0.1:${port}\n    insecure-skip-tls-verify: true\ncontexts:\n- name: ${cluster}\n  context:\n    cluster: ${cluster}\n    user: u\nusers:\n- name: u\n  user:\n    token: bench\n`);
  const clusters = join(dir, `clusters-${cluster}.yaml`);
  writeFileSync(clusters, `clusters:\n  - name: ${cluster}\n    kubeconfig: {path: ${kubeconfig}, context: ${cluster}}\n    namespaces: {training: team-ocr}\npolicy:\n  max_state_age: 1h\n`);
  const db = count === NODES ? 1 : 2;
  const url = `redis://127.0.0.1:${redisPort}/${db}`;
  const { createClient } = await import('redis');
  const redis = createClient({ url });
  await redis.connect();
  const k = (part) => `mlloop:dispatch:{${cluster}}:${part}`;
  const t0 = Date.now();
  const child = spawn(process.execPath, [CLI, 'dispatch', 'collect', '--clusters', clusters, '--redis', url], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  try {
    // The initial state: every node written.
    for (;;) {
      if (child.exitCode !== null) throw new Error(`collector exited ${child.exitCode}: ${stderr}`);
      if ((await redis.hLen(k('nodes'))) >= count && api.watching()) break;
      if (Date.now() - t0 > 300_000) throw new Error(`no initial state after 300 s: ${stderr}`);
      await sleep(100);
    }
    const syncMs = Date.now() - t0;
    await sleep(1000);
    const rssIdle = rssKb(child.pid);
    if (!rate) return { syncMs, rssIdle, rssMax: rssIdle };
    const groupKeys = [];
    for await (const batch of redis.scanIterator({ MATCH: k('groups:*'), COUNT: 1000 })) groupKeys.push(...(Array.isArray(batch) ? batch : [batch]));
    // Load: every 10 ms, rate/100 events: a third new pods, a third changed, a third deleted.
    let live = [...pods.keys()];
    let next = count;
    let sent = 0;
    let probe = 0;
    const probes = new Map();
    const lags = [];
    let stop = false;
    let rssMax = rssIdle;
    const cpu0 = cpuTicks(child.pid);
    const start = Date.now();
    let tick = 0;
    const load = (async () => {
      while (!stop) {
        const due = start + tick * 10;
        tick++;
        const wait = due - Date.now();
        if (wait > 0) await sleep(wait);
        const events = [];
        const n = Math.round(rate / 100);
        for (let i = 0; i < n; i++) {
          const r = (sent + i) % 3;
          if (r === 0 || live.length < 10) {
            const name = `p${next++}`;
            const p = pod(name, `n${1 + Math.floor(Math.random() * (count - 1))}`, '2', api.nextRv());
            pods.set(name, p);
            live.push(name);
            events.push({ type: 'ADDED', object: p });
          } else {
            const j = Math.floor(Math.random() * live.length);
            const name = live[j];
            if (name === 'p0') continue;
            const old = pods.get(name);
            if (r === 1) {
              const p = pod(name, old.spec.nodeName, `${1 + Math.floor(Math.random() * 8)}`, api.nextRv());
              pods.set(name, p);
              events.push({ type: 'MODIFIED', object: p });
            } else {
              pods.delete(name);
              live[j] = live[live.length - 1];
              live.pop();
              events.push({ type: 'DELETED', object: { ...old, metadata: { ...old.metadata, resourceVersion: String(api.nextRv()) } } });
            }
          }
        }
        if (tick % 10 === 0) {
          probe++;
          events.push({ type: 'MODIFIED', object: pod('p0', 'n0', `${4000 + probe}m`, api.nextRv()) });
          probes.set(probe, Date.now());
        }
        api.emit(events);
        sent += events.length;
      }
    })();
    const poll = (async () => {
      let seen = 0;
      while (!stop) {
        const id = await redis.hGet(k('nodes'), 'n0');
        if (id) {
          for (const gk of groupKeys) {
            const e = await redis.hGet(gk, id);
            if (!e) continue;
            const p = JSON.parse(e)[3] - 4000;
            if (p > seen && probes.has(p)) {
              lags.push(Date.now() - probes.get(p));
              seen = p;
            }
            break;
          }
        }
        rssMax = Math.max(rssMax, rssKb(child.pid));
        await sleep(5);
      }
    })();
    await sleep(seconds * 1000);
    stop = true;
    await load;
    await poll;
    const elapsed = (Date.now() - start) / 1000;
    const cpu = (cpuTicks(child.pid) - cpu0) / 100 / elapsed;
    // The last probe must show up too: the collector did not fall behind for good.
    const lastProbe = probe;
    const deadline = Date.now() + 10_000;
    let caughtUp = false;
    while (Date.now() < deadline) {
      const id = await redis.hGet(k('nodes'), 'n0');
      const e = id ? (await Promise.all(groupKeys.map((gk) => redis.hGet(gk, id)))).find(Boolean) : undefined;
      if (e && JSON.parse(e)[3] - 4000 === lastProbe) {
        caughtUp = true;
        break;
      }
      await sleep(20);
    }
    const sorted = [...lags].sort((a, b) => a - b);
    return {
      syncMs,
      rssIdle,
      rssMax,
      events: sent,
      eventsPerSecond: sent / elapsed,
      collectorCpu: cpu,
      lagMedian: median(lags),
      lagP95: sorted[Math.floor(sorted.length * 0.95)] ?? NaN,
      lagMax: sorted[sorted.length - 1] ?? NaN,
      probes: lags.length,
      caughtUp,
      pods: pods.size,
    };
  } finally {
    // SIGTERM, then SIGKILL: the collector answers SIGTERM but its closed watches may hold the process a while.
    const exited = new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.on('exit', r)));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
    await redis.quit().catch(() => undefined);
    await api.close();
  }
}

export default async function* dispatchWatchBench() {
  const dir = mkdtempSync(join(tmpdir(), 'mlloop-bench-dispatch-watch-'));
  let redis;
  try {
    const port = await freePort();
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
    for (let i = 0; i < 100 && spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() !== 'PONG'; i++) await sleep(100);
    const small = await run(dir, port, 100, 0, 0);
    const big = await run(dir, port, NODES, RATE, SECONDS);
    const info = spawnSync('redis-cli', ['-p', String(port), 'info', 'memory'], { encoding: 'utf8' }).stdout;
    yield {
      bench: 'dispatch-watch',
      case: `collector watching ${NODES} nodes, pod events at ${RATE}/s for ${SECONDS}s: lag from event to Redis, RSS`,
      nodes: NODES,
      events_per_second_target: RATE,
      events_per_second_sent: round(big.eventsPerSecond, 0),
      initial_sync_ms: big.syncMs,
      lag_median_ms: big.lagMedian,
      lag_p95_ms: big.lagP95,
      lag_max_ms: big.lagMax,
      target_lag_ms: 1000,
      ratio: round(big.lagMax / 1000, 3),
      caught_up: big.caughtUp,
      probes_seen: big.probes,
      collector_cpu_cores: round(big.collectorCpu, 2),
      collector_rss_100_nodes_mb: round(small.rssIdle / 1024, 1),
      collector_rss_after_sync_mb: round(big.rssIdle / 1024, 1),
      collector_rss_peak_mb: round(big.rssMax / 1024, 1),
      // Growth over the 100-node collector, per node: after the initial list (before the load), and at the peak under load.
      collector_bytes_per_node_after_sync: round(((big.rssIdle - small.rssIdle) * 1024) / (NODES - 100), 0),
      collector_bytes_per_node_peak: round(((big.rssMax - small.rssIdle) * 1024) / (NODES - 100), 0),
      target_bytes_per_node: 1024,
      redis_used_memory_mb: round(Number(/used_memory:(\d+)/.exec(info)[1]) / 2 ** 20, 1),
    };
  } finally {
    redis?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}
