// Paired bootstrap, 10,000 resamples over 100,000 images (micro-F1 delta from per-image tp/fp/fn), as a
// ratio to a vectorised numpy implementation of the same computation run on the same data in the same
// run. Target: < 1 (faster than numpy). Both sides time only the resampling, not the data loading.
import { build } from 'esbuild';
import { mkdtempSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { ROOT, round } from './_util.mjs';

const IMAGES = 100_000;
const RESAMPLES = 10_000;

const NUMPY = String.raw`
import sys, time, numpy as np
path, n, B = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
packed = np.fromfile(path, dtype=np.int32).reshape(n, 4)
cols = [np.ascontiguousarray(packed[:, k]) for k in range(4)]
rng = np.random.default_rng(1)
t0 = time.perf_counter()
deltas = np.empty(B)
chunk = 64
for s in range(0, B, chunk):
    m = min(chunk, B - s)
    idx = rng.integers(0, n, size=(m, n), dtype=np.int32)
    na, da, nb, db = (c[idx].sum(axis=1) for c in cols)
    deltas[s:s + m] = np.where(da > 0, na / np.maximum(da, 1), 0) - np.where(db > 0, nb / np.maximum(db, 1), 0)
ms = (time.perf_counter() - t0) * 1000
print(ms, float(np.quantile(deltas, 0.025)), float(np.quantile(deltas, 0.975)))
`;

export default async function* bootstrap() {
  const dir = mkdtempSync(join(tmpdir(), 'mlloop-bench-boot-'));
  try {
    const out = join(dir, 'stats.mjs');
    await build({
      stdin: { contents: "export * from './src/core/stats/tests.ts';\nexport { Xoshiro128 } from './src/core/stats/prng.ts';\n", resolveDir: ROOT, loader: 'ts' },
      bundle: true, platform: 'node', format: 'esm', outfile: out, logLevel: 'error',
    });
    const { packCounts, bootstrapDeltas, quantileSorted, Xoshiro128 } = await import(pathToFileURL(out).href);
    // An OCR-like test set: 4 fields per image, the candidate slightly better than the baseline.
    const g = new Xoshiro128(7);
    const side = (pMiss, pFalse) => {
      const tp = new Int32Array(IMAGES), fp = new Int32Array(IMAGES), fn = new Int32Array(IMAGES);
      for (let i = 0; i < IMAGES; i++) {
        for (let f = 0; f < 4; f++) {
          if (g.uniform() < pMiss) fn[i]++;
          else tp[i]++;
          if (g.uniform() < pFalse) fp[i]++;
        }
      }
      return { tp, fp, fn };
    };
    const packed = packCounts('f1', side(0.05, 0.04), side(0.055, 0.045));
    const raw = join(dir, 'packed.bin');
    writeFileSync(raw, Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength));

    const t0 = process.hrtime.bigint();
    const deltas = bootstrapDeltas(packed, RESAMPLES, 1);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const sorted = deltas.slice().sort();

    const python = process.env.MLLOOP_TEST_PYTHON ?? (existsSync(join(ROOT, '.venv/bin/python')) ? join(ROOT, '.venv/bin/python') : 'python3');
    const py = spawnSync(python, ['-c', NUMPY, raw, String(IMAGES), String(RESAMPLES)], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (py.status !== 0) throw new Error(`numpy baseline failed: ${py.stderr}`);
    const [npMs, npLo, npHi] = py.stdout.trim().split(/\s+/).map(Number);
    yield {
      bench: 'bootstrap',
      images: IMAGES,
      resamples: RESAMPLES,
      ms: round(ms, 0),
      baseline: 'numpy (vectorised, int32 index draws)',
      baseline_ms: round(npMs, 0),
      ratio: round(ms / npMs, 3),
      target: 1,
      ci95: [round(quantileSorted(sorted, 0.025), 5), round(quantileSorted(sorted, 0.975), 5)],
      numpy_ci95: [round(npLo, 5), round(npHi, 5)],
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
