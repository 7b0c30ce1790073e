// `mlloop ct check` and `mlloop ct relabel` on a large inference log (MLLOOP_BENCH_CT_LINES lines, default
// 300k, over a third as many distinct files, with extracted fields), each as a ratio to the time a child
// process needs to read the same inputs line by line and JSON.parse every line — measured in the same run.
// Both wall-clock and CPU-time ratios are printed; the CPU ratio is the stable one on a busy machine.
// Target ≤ 2× for ct check (the decision is a streaming pass); ct relabel adds format checks, ranking and
// building Label Studio tasks for the 1,000 most uncertain files.
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { DIST, median, rng, round } from './_util.mjs';

/** Wall and CPU (user + sys) time of a child process: CPU time stays comparable on a loaded machine. */
function timed(args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S', process.execPath, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const err = r.stderr.toString();
  const [u, s] = err.trim().split('\n').at(-1).split(' ').map(Number);
  return { ms, cpu: (u + s) * 1000, status: r.status, stderr: err };
}

const LINES = Number(process.env.MLLOOP_BENCH_CT_LINES ?? 300_000);
const FILES = Math.ceil(LINES / 3);

async function writeLines(file, n, line) {
  const out = createWriteStream(file);
  for (let i = 0; i < n; i++) if (!out.write(line(i))) await new Promise((r) => out.once('drain', r));
  await new Promise((r) => out.end(r));
}

const PARSE = `const rl=require('readline').createInterface({input:require('fs').createReadStream(process.argv[1])});let n=0;rl.on('line',l=>{if(l)JSON.parse(l),n++});rl.on('close',()=>{if(process.argv[2])JSON.parse(require('fs').readFileSync(process.argv[2],'utf8'))})`;

export default async function* ct() {
  const dir = mkdtempSync(join(tmpdir(), 'mlloop-bench-ct-'));
  try {
    const r = rng(7);
    const log = join(dir, 'inference.jsonl');
    const t0 = Date.parse('2025-06-12T00:00:00Z');
    await writeLines(log, LINES, (i) => {
      const c = r();
      const id = `uuid-${Math.floor(r() * FILES)}`;
      return `${JSON.stringify({ file_id: id, confidence_score: round(c, 4), error: c < 0.3 ? 'missing field: name' : null, status: c < 0.3 ? 'fail' : 'success', model_version: 'v3.2.1', timestamp: new Date(t0 + i * 250).toISOString().slice(0, 19), fields: { name: c < 0.3 ? null : '张三', id_number: '11010519491231002X', effective_date: c < 0.5 ? '98-12-00' : '2025-06-12', amount: '300000.00' } })}\n`;
    });
    const images = [];
    for (let i = 0; i < FILES; i++) {
      const f = (label, y, value) => ({ label, bbox: [100, y, 400, y + 30], value, confidence: round(r(), 4) });
      images.push({ image_id: `uuid-${i}`, width: 1240, height: 1754, fields: [f('name', 200, '张三'), f('id_number', 260, '11010519491231002X'), f('effective_date', 320, '2025-06-12'), f('amount', 380, '300000.00')] });
    }
    const pred = join(dir, 'pred.json');
    writeFileSync(pred, JSON.stringify({ dataset: 'bench', model_version: 'v3.2.1', images }));
    const policy = join(dir, 'policy.yaml');
    writeFileSync(policy, 'triggers:\n  low_confidence: {threshold: 0.6, min_samples: 500}\n');

    const runs = 5;
    const m = { base: [], baseRelabel: [], check: [], relabel: [] };
    const run = (key, args) => {
      const t = timed(args);
      if (t.status !== 0) throw new Error(`${key} failed: ${t.stderr}`);
      m[key].push(t);
    };
    for (let i = 0; i < runs; i++) {
      run('base', ['-e', PARSE, log]);
      run('check', [join(DIST, 'cli.cjs'), 'ct', 'check', '--policy', policy, '--inference-log', log, '--state', join(dir, 'state.json'), '--out', join(dir, 'd.json'), '--dry-run']);
      run('baseRelabel', ['-e', PARSE, log, pred]);
      run('relabel', [join(DIST, 'cli.cjs'), 'ct', 'relabel', '--inference-log', log, '--predictions', pred, '--limit', '1000', '--out', join(dir, 'tasks.json')]);
    }
    const med = (key, k) => median(m[key].map((x) => x[k]));
    const line = (bench, key, baseKey, baseline, extra) => ({
      bench,
      lines: LINES,
      files: FILES,
      ...extra,
      ms: round(med(key, 'ms'), 1),
      cpu_ms: round(med(key, 'cpu'), 1),
      baseline,
      baseline_ms: round(med(baseKey, 'ms'), 1),
      baseline_cpu_ms: round(med(baseKey, 'cpu'), 1),
      ratio: round(med(key, 'cpu') / med(baseKey, 'cpu'), 2),
      wall_ratio: round(med(key, 'ms') / med(baseKey, 'ms'), 2),
    });
    yield { ...line('ct-check', 'check', 'base', 'readline + JSON.parse of the log', {}), target: 2 };
    yield line('ct-relabel', 'relabel', 'baseRelabel', 'readline + JSON.parse of the log and the predictions', { tasks: 1000 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
