// Dispatcher as a service: `mlloop dispatch collect --snapshot` fills a real redis-server with 100 clusters × 5,000
// nodes (the real GPU node shapes of docs/examples/dispatch/snapshot, one GPU pod per node), then
// `mlloop dispatch --state redis://… --dry-run --json` is timed as a whole process, from start to its JSON (target
// ≤ 300 ms), against `mlloop dispatch --snapshot` on the same folder (load + decision; target ≤ 0.01× of it). Also
// reported: Redis used_memory for that state, that both paths chose the same cluster, the CPU time (user + sys) of each
// process, and the same command on one cluster (what the command costs whatever the number of clusters).
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { DIST, ROOT, median, round, freePort } from './_util.mjs';

const CLUSTERS = Number(process.env.MLLOOP_BENCH_DISPATCH_CLUSTERS ?? 100);
const NODES = 5000;
const CLI = join(DIST, 'cli.cjs');

async function writeList(file, count, item) {
  const out = createWriteStream(file);
  const write = async (s) => {
    if (!out.write(s)) await once(out, 'drain');
  };
  await write('{"apiVersion":"v1","kind":"List","items":[');
  let buf = '';
  for (let i = 0; i < count; i++) {
    buf += (i ? ',\n' : '\n') + item(i);
    if (buf.length > 1 << 20) {
      await write(buf);
      buf = '';
    }
  }
  await write(`${buf}\n],"metadata":{"resourceVersion":""}}\n`);
  out.end();
  await once(out, 'close');
}

// CPU time (user + sys) too, through /usr/bin/time when there is one: on a shared machine wall time mostly
// measures the other load.
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

function timed(args) {
  const t0 = process.hrtime.bigint();
  const r = TIME
    ? spawnSync(TIME, ['-f', 'mlloop-cpu %U %S', process.execPath, CLI, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 })
    : spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0 && r.status !== 1) throw new Error(`mlloop ${args.slice(0, 2).join(' ')} failed (${r.status}): ${r.stderr}`);
  const cpu = /mlloop-cpu ([\d.]+) ([\d.]+)/.exec(r.stderr ?? '');
  return { ms, cpuMs: cpu ? (Number(cpu[1]) + Number(cpu[2])) * 1000 : NaN, out: r.stdout };
}

export default async function* dispatchRedisBench() {
  const dir = mkdtempSync(join(tmpdir(), 'mlloop-bench-dispatch-redis-'));
  let redis;
  try {
    const snapSrc = join(ROOT, 'docs/examples/dispatch/snapshot');
    const shapes = [];
    for (const c of readdirSync(snapSrc).sort()) for (const n of JSON.parse(readFileSync(join(snapSrc, c, 'nodes.json'), 'utf8')).items) shapes.push(JSON.stringify({ ...n, metadata: { ...n.metadata, name: '@@NAME@@' } }).split('"@@NAME@@"'));
    const pod = (i, node) => JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `p${i}`, namespace: 'team-a' }, spec: { nodeName: node, priority: 0, containers: [{ name: 'trainer', image: 'registry.example.com/trainer:v1', resources: { requests: { cpu: '4', memory: '16Gi', 'nvidia.com/gpu': '1' }, limits: { 'nvidia.com/gpu': '1' } } }] }, status: { phase: 'Running', startTime: '2025-06-12T08:00:00Z' } });
    const snap = join(dir, 'snapshot');
    const names = Array.from({ length: CLUSTERS }, (_, c) => `c${c}`);
    for (const [c, name] of names.entries()) {
      mkdirSync(join(snap, name), { recursive: true });
      const node = (i) => `${name}-n${i}`;
      await writeList(join(snap, name, 'nodes.json'), NODES, (i) => shapes[(c + i) % shapes.length].join(JSON.stringify(node(i))));
      await writeList(join(snap, name, 'pods.json'), NODES, (i) => pod(i, node(i)));
    }
    writeFileSync(join(dir, 'clusters.yaml'), `clusters:\n${names.map((n, k) => `  - name: ${n}\n    namespaces: {training: team-ocr}\n${k % 7 === 0 ? '    datasets: [invoice-clean-2025Q1]\n' : ''}`).join('')}policy:\n  max_state_age: 1h\n`);
    writeFileSync(join(dir, 'job.yaml'), 'job_name: ocr-v3.0\nimage: registry.example.com/ocr-trainer:latest\ndataset: invoice-clean-2025Q1\ntenant: u123\nresources: {gpu: 2, gpu_type: A100, memory: 32Gi, cpu: "4"}\nentrypoint: python train.py\n');

    const port = await freePort();
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
    const url = `redis://127.0.0.1:${port}/0`;
    for (let i = 0; i < 100 && spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() !== 'PONG'; i++) await new Promise((r) => setTimeout(r, 100));

    const collect = timed(['dispatch', 'collect', '--clusters', join(dir, 'clusters.yaml'), '--redis', url, '--snapshot', snap, '--json']);
    const info = spawnSync('redis-cli', ['-p', String(port), 'info', 'memory'], { encoding: 'utf8' }).stdout;
    const usedMemory = Number(/used_memory:(\d+)/.exec(info)[1]);
    const args = ['--request', join(dir, 'job.yaml'), '--clusters', join(dir, 'clusters.yaml'), '--json'];
    const runs = [];
    const cpus = [];
    let fromRedis;
    for (let r = 0; r < 5; r++) {
      const t = timed(['dispatch', '--state', url, '--dry-run', ...args]);
      runs.push(t.ms);
      cpus.push(t.cpuMs);
      fromRedis = JSON.parse(t.out);
    }
    // The same command on one cluster of the same state: what the command costs whatever the number of clusters.
    writeFileSync(join(dir, 'one.yaml'), `clusters:\n  - name: ${names[0]}\n    namespaces: {training: team-ocr}\npolicy:\n  max_state_age: 1h\n`);
    const ones = Array.from({ length: 3 }, () => timed(['dispatch', '--state', url, '--dry-run', '--request', join(dir, 'job.yaml'), '--clusters', join(dir, 'one.yaml'), '--json']));
    const snapshotRun = timed(['dispatch', '--snapshot', snap, ...args]);
    const fromSnapshot = JSON.parse(snapshotRun.out);
    const versions = Array.from({ length: 3 }, () => timed(['--version']));
    const bare = median(versions.map((t) => t.ms));
    const redisMs = median(runs);
    yield {
      bench: 'dispatch-redis',
      case: `decision from the collector's Redis state, whole process start to JSON, ${CLUSTERS} clusters x ${NODES} nodes`,
      clusters: CLUSTERS,
      nodes: CLUSTERS * NODES,
      pods: CLUSTERS * NODES,
      redis_decision_ms: round(redisMs, 1),
      target_ms: 300,
      ratio: round(redisMs / 300, 3),
      snapshot_load_and_decision_ms: round(snapshotRun.ms, 0),
      ratio_to_snapshot: round(redisMs / snapshotRun.ms, 5),
      target_ratio_to_snapshot: 0.01,
      redis_decision_cpu_ms: round(median(cpus), 0),
      redis_decision_1_cluster_ms: round(median(ones.map((t) => t.ms)), 1),
      redis_decision_1_cluster_cpu_ms: round(median(ones.map((t) => t.cpuMs)), 0),
      snapshot_load_and_decision_cpu_ms: round(snapshotRun.cpuMs, 0),
      ratio_to_snapshot_cpu: round(median(cpus) / snapshotRun.cpuMs, 5),
      cli_version_ms: round(bare, 1),
      cli_version_cpu_ms: round(median(versions.map((t) => t.cpuMs)), 0),
      collect_snapshot_ms: round(collect.ms, 0),
      redis_used_memory_mb: round(usedMemory / 2 ** 20, 1),
      redis_bytes_per_node: round(usedMemory / (CLUSTERS * NODES), 1),
      chosen_redis: fromRedis.cluster,
      chosen_snapshot: fromSnapshot.cluster,
      same_explain: JSON.stringify(fromRedis.explain) === JSON.stringify(fromSnapshot.explain),
    };
  } finally {
    redis?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}
