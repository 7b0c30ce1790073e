// `mlloop evaluate` on 100k images / 1M fields (deterministic synthetic OCR set, JSONL sorted by image_id).
// Ratios, measured in the same run:
//   - to JSON.parse of the same inputs (read both files, JSON.parse every line) — target ≤ 2×
//   - to pycocotools COCOeval.evaluate() on the same boxes (location matching, IoU 0.5) — target < 1
// plus the peak RSS of the evaluate process (target: 1M fields under 1 GiB).
// Times are CPU seconds (user + system) of each process, best of the runs, so that other work on a shared
// machine does not skew the ratios; wall times are printed too. MLLOOP_BENCH_EVAL_IMAGES scales the set.
import { createWriteStream, mkdtempSync, rmSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { DIST, ROOT, round, rng } from './_util.mjs';

const IMAGES = Number(process.env.MLLOOP_BENCH_EVAL_IMAGES ?? 100_000);
const FIELDS_PER_IMAGE = 10;
const PYTHON = existsSync(join(ROOT, '.venv/bin/python')) ? join(ROOT, '.venv/bin/python') : 'python3';

const LABELS = ['name', 'id_number', 'effective_date', 'amount', 'policy_no', 'insurer', 'product', 'premium', 'address', 'phone'];
const HAN = '张王李赵刘陈杨黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛';

function valueFor(label, r) {
  const digits = (n) => Array.from({ length: n }, () => Math.floor(r() * 10)).join('');
  const han = (n) => Array.from({ length: n }, () => HAN[Math.floor(r() * HAN.length)]).join('');
  switch (label) {
    case 'name': return han(2 + Math.floor(r() * 2));
    case 'id_number': return `${digits(17)}${r() < 0.1 ? 'X' : digits(1)}`;
    case 'effective_date': return `20${10 + Math.floor(r() * 16)}-0${1 + Math.floor(r() * 9)}-1${Math.floor(r() * 10)}`;
    case 'amount': return `¥${Math.floor(r() * 900 + 100)},${digits(3)}.00`;
    case 'address': return `${han(3)}市${han(2)}区${digits(3)}号`;
    case 'phone': return `1${digits(10)}`;
    default: return `${han(4)}${digits(4)}`;
  }
}

/** Writes gt.jsonl and pred.jsonl: ~IMAGES×10 GT fields, predictions with jitter, misses, typos and spurious boxes. */
export async function generate(dir) {
  const r = rng(42);
  const gt = createWriteStream(join(dir, 'gt.jsonl'));
  const pred = createWriteStream(join(dir, 'pred.jsonl'));
  const write = (s, text) => (s.write(text) ? undefined : new Promise((res) => s.once('drain', res)));
  let gtFields = 0;
  let predFields = 0;
  for (let i = 0; i < IMAGES; i++) {
    const id = `policy-${String(i).padStart(7, '0')}`;
    const g = [];
    const p = [];
    for (let k = 0; k < FIELDS_PER_IMAGE; k++) {
      const label = LABELS[k];
      const x = Math.floor(r() * 600);
      const y = k * 120 + Math.floor(r() * 40);
      const w = 60 + Math.floor(r() * 300);
      const h = 24 + Math.floor(r() * 16);
      const value = valueFor(label, r);
      g.push({ label, bbox: [x, y, x + w, y + h], value });
      const roll = r();
      if (roll < 0.06) continue;
      const j = () => Math.floor((r() - 0.5) * 8);
      const v = roll < 0.1 ? valueFor(label, r) : roll < 0.13 ? ` ${value.toUpperCase()} ` : value;
      p.push({ label, bbox: [x + j(), y + j(), x + w + j(), y + h + j()], value: v, confidence: Math.round(r() * 1e4) / 1e4 });
    }
    if (r() < 0.3) p.push({ label: LABELS[Math.floor(r() * LABELS.length)], bbox: [10, 10, 90, 40], value: valueFor('product', r), confidence: Math.round(r() * 1e4) / 1e4 });
    gtFields += g.length;
    predFields += p.length;
    await write(gt, `${JSON.stringify({ image_id: id, fields: g })}\n`);
    await write(pred, `${JSON.stringify({ image_id: id, latency_ms: Math.round(20 + r() * 200), fields: p })}\n`);
  }
  await Promise.all([new Promise((res) => gt.end(res)), new Promise((res) => pred.end(res))]);
  return { gtFields, predFields };
}

/** Runs a command under /usr/bin/time: wall ms, CPU ms (user + system) and peak RSS in MiB. */
function measured(cmd, args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', 'MLLOOP_TIME %U %S %M', cmd, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const [, user, sys, kb] = /MLLOOP_TIME ([\d.]+) ([\d.]+) (\d+)/.exec(r.stderr) ?? [];
  return { ms, cpuMs: (Number(user) + Number(sys)) * 1000, rssMiB: Number(kb) / 1024, stdout: r.stdout };
}

// The baseline: a process that reads both files and JSON.parses every line, nothing else.
const PARSE = `
const fs = require('node:fs');
for (const f of process.argv.slice(1)) for (const line of fs.readFileSync(f, 'utf8').split('\\n')) if (line) JSON.parse(line);
`;

const COCO = `
import sys, json, time, contextlib, numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
gt_file, pred_file = sys.argv[1:3]
cats, imgs, anns, dets = {}, {}, [], []
with open(gt_file) as f:
    for line in f:
        im = json.loads(line)
        iid = imgs.setdefault(im['image_id'], len(imgs) + 1)
        for fl in im['fields']:
            c = cats.setdefault(fl['label'], len(cats) + 1)
            x1, y1, x2, y2 = fl['bbox']
            anns.append({'id': len(anns) + 1, 'image_id': iid, 'category_id': c, 'bbox': [x1, y1, x2 - x1, y2 - y1], 'area': (x2 - x1) * (y2 - y1), 'iscrowd': 0})
with open(pred_file) as f:
    for line in f:
        im = json.loads(line)
        for fl in im['fields']:
            x1, y1, x2, y2 = fl['bbox']
            dets.append({'image_id': imgs[im['image_id']], 'category_id': cats[fl['label']], 'bbox': [x1, y1, x2 - x1, y2 - y1], 'score': fl['confidence']})
with contextlib.redirect_stdout(sys.stderr):
    gt = COCO()
    gt.dataset = {'images': [{'id': i} for i in imgs.values()], 'annotations': anns, 'categories': [{'id': c, 'name': l} for l, c in cats.items()]}
    gt.createIndex()
    dt = gt.loadRes(dets)
    E = COCOeval(gt, dt, 'bbox')
    E.params.iouThrs = np.array([0.5])
    E.params.maxDets = [100]
    E.params.areaRng = [[0, 1e10]]
    E.params.areaRngLbl = ['all']
    t0, c0 = time.perf_counter(), time.process_time()
    E.evaluate()
    t1, c1 = time.perf_counter(), time.process_time()
    E.accumulate()
    t2, c2 = time.perf_counter(), time.process_time()
prec = E.eval['precision'][0, :, :, 0, 0]
print(json.dumps({'evaluate_ms': (t1 - t0) * 1000, 'evaluate_cpu_ms': (c1 - c0) * 1000, 'accumulate_cpu_ms': (c2 - c1) * 1000, 'map50': float(np.mean(prec[prec > -1]))}))
`;

export default async function* evaluate() {
  const dir = mkdtempSync(join(tmpdir(), 'mlloop-bench-eval-'));
  try {
    const { gtFields, predFields } = await generate(dir);
    const gt = join(dir, 'gt.jsonl');
    const pred = join(dir, 'pred.jsonl');
    const runs = 3;
    const parse = [];
    const ours = [];
    let rss = 0;
    let metrics;
    for (let i = 0; i < runs; i++) {
      parse.push(measured(process.execPath, ['-e', PARSE, gt, pred]));
      const r = measured(process.execPath, [join(DIST, 'cli.cjs'), 'evaluate', '--gt', gt, '--pred', pred, '--out', join(dir, 'metrics.json'), '--match', 'location']);
      ours.push(r);
      rss = Math.max(rss, r.rssMiB);
      metrics = JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8'));
    }
    const withSamples = measured(process.execPath, [join(DIST, 'cli.cjs'), 'evaluate', '--gt', gt, '--pred', pred, '--out', join(dir, 'metrics.json'), '--samples', join(dir, 'samples.jsonl')]);
    const best = (xs, k) => Math.min(...xs.map((x) => x[k]));
    const base = { images: IMAGES, gt_fields: gtFields, pred_fields: predFields };
    const cpu = best(ours, 'cpuMs');
    const parseCpu = best(parse, 'cpuMs');
    yield {
      bench: 'evaluate', vs: 'JSON.parse', ...base, cpu_ms: round(cpu, 0), wall_ms: round(best(ours, 'ms'), 0),
      baseline: 'a process that reads both files and JSON.parses every line', baseline_cpu_ms: round(parseCpu, 0), baseline_wall_ms: round(best(parse, 'ms'), 0),
      ratio: round(cpu / parseCpu, 2), wall_ratio: round(best(ours, 'ms') / best(parse, 'ms'), 2), target: 2,
    };
    yield { bench: 'evaluate', vs: 'memory', ...base, peak_rss_mib: round(rss, 0), baseline_rss_mib: round(Math.max(...parse.map((p) => p.rssMiB)), 0), target_mib: 1024, ratio: round(rss / 1024, 2), target: 1 };
    yield { bench: 'evaluate', vs: 'JSON.parse (--match value --samples)', ...base, cpu_ms: round(withSamples.cpuMs, 0), baseline_cpu_ms: round(parseCpu, 0), ratio: round(withSamples.cpuMs / parseCpu, 2), peak_rss_mib: round(withSamples.rssMiB, 0) };
    const coco = JSON.parse(measured(PYTHON, ['-c', COCO, gt, pred]).stdout);
    yield {
      bench: 'evaluate', vs: 'pycocotools', ...base, cpu_ms: round(cpu, 0), baseline: 'COCOeval.evaluate() alone (bbox, IoU 0.5), CPU time', baseline_cpu_ms: round(coco.evaluate_cpu_ms, 0),
      ratio: round(cpu / coco.evaluate_cpu_ms, 2), target: 1, coco_accumulate_cpu_ms: round(coco.accumulate_cpu_ms, 0),
      map50: round(metrics.overall.map50, 6), coco_map50: round(coco.map50, 6),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
