// Dispatcher at scale: a synthetic snapshot of 100 clusters × 5,000 nodes built from the real GPU node
// shapes of docs/examples/dispatch/snapshot (themselves from test/fixtures/k8s), with pods in the
// form `mlloop dispatch snapshot` writes. Each configuration runs in its own process and streams the
// kubectl-form JSON through the same reader and state builder `mlloop dispatch --snapshot` uses.
// Reported: decision time after load (target ≤ 200 ms; ratio to the target and to the load time), load
// time, peak RSS and the heap after load, per node and per pod, to show memory follows nodes, not pods.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { ROOT, round } from './_util.mjs';

const HARNESS = `
import { Readable } from 'node:stream';
import { listItems } from './src/core/dispatch/json-items.ts';
import { ClusterStateBuilder } from './src/core/dispatch/state.ts';
import { decide } from './src/core/dispatch/decide.ts';
import { parseGpuRequest } from './src/core/dispatch/gpu.ts';
import { DEFAULT_WEIGHTS, DEFAULT_TOLERATIONS } from './src/core/dispatch/config.ts';
export { Readable, listItems, ClusterStateBuilder, decide, parseGpuRequest, DEFAULT_WEIGHTS, DEFAULT_TOLERATIONS };
`;

export async function buildHarness(dir) {
  const out = join(dir, 'harness.cjs');
  await esbuild.build({ stdin: { contents: HARNESS, resolveDir: ROOT, loader: 'ts' }, bundle: true, platform: 'node', format: 'cjs', outfile: out, logLevel: 'error', define: { 'import.meta.url': '"file:///harness.cjs"' } });
  return out;
}

/** The child: generate, load, decide; prints one JSON line. */
export async function child(harnessPath, clusters, nodesPer, podsPerNode) {
  const { createRequire } = await import('node:module');
  const h = createRequire(import.meta.url)(harnessPath);
  const snap = join(ROOT, 'docs/examples/dispatch/snapshot');
  const shapes = [];
  for (const c of readdirSync(snap).sort()) for (const n of JSON.parse(readFileSync(join(snap, c, 'nodes.json'), 'utf8')).items) shapes.push(n);
  const podShape = JSON.parse(readFileSync(join(snap, 'a100-bj', 'pods.json'), 'utf8')).items[0];
  // A node's JSON with its name as a hole: serialise once, splice names in.
  const nodeParts = shapes.map((s) => {
    const text = JSON.stringify({ ...s, metadata: { ...s.metadata, name: '@@NAME@@' } });
    return text.split('"@@NAME@@"');
  });
  const podParts = (() => {
    const p = structuredClone(podShape);
    p.metadata.name = '@@POD@@';
    p.spec.nodeName = '@@NODE@@';
    p.spec.containers = [{ name: 'trainer', image: 'registry.example.com/trainer:v1', resources: { requests: { cpu: '4', memory: '16Gi', 'nvidia.com/gpu': '1' }, limits: { 'nvidia.com/gpu': '1' } } }];
    return JSON.stringify(p);
  })();
  function* listChunks(count, item) {
    yield '{"apiVersion":"v1","kind":"List","items":[';
    let buf = '';
    for (let i = 0; i < count; i++) {
      buf += (i ? ',' : '') + item(i);
      if (buf.length > 1 << 20) {
        yield buf;
        buf = '';
      }
    }
    yield `${buf}],"metadata":{"resourceVersion":""}}`;
  }
  let peak = 0;
  const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const t0 = performance.now();
  const inputs = [];
  let totalPods = 0;
  for (let c = 0; c < clusters; c++) {
    const b = new h.ClusterStateBuilder(`c${c}`, 'registry.example.com/ocr-trainer:latest');
    const shape = (i) => nodeParts[(c + i) % nodeParts.length];
    const nodeName = (i) => `c${c}-n${i}`;
    for await (const n of h.listItems(h.Readable.from(listChunks(nodesPer, (i) => shape(i).join(JSON.stringify(nodeName(i))))), 'nodes.json')) b.addNode(n);
    const pods = nodesPer * podsPerNode;
    totalPods += pods;
    for await (const p of h.listItems(h.Readable.from(listChunks(pods, (i) => podParts.replace('"@@POD@@"', `"p${i}"`).replace('"@@NODE@@"', JSON.stringify(nodeName(Math.floor(i / podsPerNode)))))), 'pods.json')) b.addPod(p);
    inputs.push({ name: `c${c}`, state: b.build() });
  }
  const loadMs = performance.now() - t0;
  global.gc?.();
  const heapAfterLoad = process.memoryUsage().heapUsed;
  const config = {
    file: 'clusters.yaml',
    clusters: inputs.map((i, k) => ({ name: i.name, datasets: k % 7 === 0 ? ['invoice-clean-2025Q1'] : [] })),
    policy: { weights: h.DEFAULT_WEIGHTS, placement: 'spread', meanJobDurationMs: 3_600_000, tolerations: h.DEFAULT_TOLERATIONS },
  };
  const request = { file: { job_name: 'ocr-v3.0', image: 'registry.example.com/ocr-trainer:latest', dataset: 'invoice-clean-2025Q1', tenant: 'u123', resources: { gpu: 2, gpu_type: 'A100' }, entrypoint: 'x' }, gpu: h.parseGpuRequest('A100'), gpus: 2, cpuMillis: 4000, memoryBytes: 32 * 2 ** 30, replicas: 1 };
  const namespaces = Object.fromEntries(inputs.map((i) => [i.name, 'team-ocr']));
  // Wall time, and CPU time of this single-threaded process (robust when the machine is shared).
  const times = [];
  const cpu = [];
  let decision;
  for (let r = 0; r < 7; r++) {
    const t = performance.now();
    const c0 = process.cpuUsage();
    decision = h.decide({ request, config, clusters: inputs, namespaces, failures: new Map(), tolerations: h.DEFAULT_TOLERATIONS, offline: true });
    const c1 = process.cpuUsage(c0);
    times.push(performance.now() - t);
    cpu.push((c1.user + c1.system) / 1000);
  }
  cpu.sort((a, b) => a - b);
  clearInterval(sample);
  peak = Math.max(peak, process.memoryUsage().rss);
  times.sort((a, b) => a - b);
  const nodes = clusters * nodesPer;
  process.stdout.write(`${JSON.stringify({ clusters, nodes, pods: totalPods, load_ms: loadMs, decide_ms: times[3], decide_cpu_ms: cpu[3], peak_rss_mb: peak / 2 ** 20, heap_after_load_mb: heapAfterLoad / 2 ** 20, chosen: decision.cluster, fitting: decision.ranking.length })}\n`);
}

function runChild(harness, clusters, nodesPer, podsPerNode) {
  const r = spawnSync(process.execPath, ['--expose-gc', '--max-old-space-size=8192', new URL(import.meta.url).pathname, '--child', harness, String(clusters), String(nodesPer), String(podsPerNode)], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`bench child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

export default async function* dispatchBench() {
  const dir = mkdtempSync(join(tmpdir(), 'mlloop-bench-dispatch-'));
  try {
    const harness = await buildHarness(dir);
    const full = runChild(harness, 100, 5000, 4);
    yield {
      bench: 'dispatch',
      case: 'decide after load, 100 clusters x 5000 nodes',
      clusters: full.clusters,
      nodes: full.nodes,
      pods: full.pods,
      decide_ms: round(full.decide_ms, 1),
      decide_cpu_ms: round(full.decide_cpu_ms, 1),
      target_ms: 200,
      ratio: round(full.decide_ms / 200, 3),
      cpu_ratio: round(full.decide_cpu_ms / 200, 3),
      load_ms: round(full.load_ms, 0),
      ratio_to_load: round(full.decide_ms / full.load_ms, 5),
      peak_rss_mb: round(full.peak_rss_mb, 0),
      heap_after_load_mb: round(full.heap_after_load_mb, 0),
      chosen: full.chosen,
      fitting_clusters: full.fitting,
    };
    // Memory against nodes and against pods: same pods with half the nodes, same nodes with a quarter of the pods.
    const base = runChild(harness, 20, 5000, 4);
    const halfNodes = runChild(harness, 20, 2500, 8);
    const quarterPods = runChild(harness, 20, 5000, 1);
    const perNodeKb = (r) => (r.heap_after_load_mb * 1024) / r.nodes;
    const memoryLine = (name, r, expected) => ({
      bench: 'dispatch',
      case: name,
      nodes: r.nodes,
      pods: r.pods,
      heap_after_load_mb: round(r.heap_after_load_mb, 1),
      baseline: `${base.nodes} nodes, ${base.pods} pods`,
      baseline_heap_mb: round(base.heap_after_load_mb, 1),
      ratio: round(r.heap_after_load_mb / base.heap_after_load_mb, 3),
      expected_if_memory_follows_nodes: expected,
      heap_kb_per_node: round(perNodeKb(r), 3),
      load_ms: round(r.load_ms, 0),
      baseline_load_ms: round(base.load_ms, 0),
    });
    yield memoryLine('memory follows nodes: half the nodes, same pods', halfNodes, 0.5);
    yield memoryLine('memory does not follow pods: same nodes, a quarter of the pods', quarterPods, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  await child(process.argv[3], Number(process.argv[4]), Number(process.argv[5]), Number(process.argv[6]));
}
