// Statistics cross-checked against the reference implementations: statsmodels' mcnemar and multipletests,
// scipy's distributions, and an independent numpy implementation of the bootstrap and permutation tests.
import { describe, expect, it, beforeAll } from 'vitest';
import { run } from '../support/run.js';
import { PYTHON } from '../support/paths.js';
import { mcnemar, runTest, bootstrapDeltas, packCounts, type Requirement } from '../../src/core/stats/tests.js';
import { holm, benjaminiHochberg } from '../../src/core/stats/multiple.js';
import { chi2Sf1, normalQuantile, normalCdf, binomCdfHalf } from '../../src/core/stats/distributions.js';
import { Xoshiro128 } from '../../src/core/stats/prng.js';
import type { Counts } from '../../src/core/stats/samples.js';

async function python(script: string, input: unknown): Promise<any> {
  const r = await run(PYTHON, ['-c', script], { input: JSON.stringify(input) });
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

describe('McNemar equals statsmodels', () => {
  const tables: [number, number][] = [[0, 0], [1, 0], [0, 1], [3, 9], [12, 12], [20, 4], [0, 24], [13, 11], [12, 13], [25, 5], [40, 61], [300, 255], [5, 1000]];
  let ref: number[];
  beforeAll(async () => {
    ref = await python(
      `import sys, json
from statsmodels.stats.contingency_tables import mcnemar
out = []
for b, c in json.load(sys.stdin):
    r = mcnemar([[10, b], [c, 10]], exact=(b + c) < 25, correction=True)
    out.append(float(r.pvalue))
print(json.dumps(out))`,
      tables,
    );
  });
  it.each(tables.map((t, i) => [i, ...t]))('table %i: b=%i c=%i', (i, b, c) => {
    const m = mcnemar(b, c);
    expect(m.exact).toBe(b + c < 25);
    if (m.exact) expect(m.p).toBe(ref[i]); // the exact binomial test is computed exactly
    else expect(m.p).toBeCloseTo(ref[i]!, 13);
  });
});

describe('distribution functions equal scipy', () => {
  it('chi-square(1) survival, normal CDF and quantile, binomial CDF', async () => {
    const xs = [0.001, 0.3, 1, 2.5, 3.841458820694124, 7.9, 15, 30, 60];
    const ps = [1e-6, 0.001, 0.025, 0.05, 0.3, 0.5, 0.8, 0.975, 0.999999];
    const ks: [number, number][] = [[0, 1], [3, 10], [11, 24], [7, 17], [12, 24]];
    const ref = await python(
      `import sys, json
from scipy import stats
d = json.load(sys.stdin)
print(json.dumps({"chi2": [float(stats.chi2.sf(x, 1)) for x in d["xs"]],
                  "cdf": [float(stats.norm.cdf(x)) for x in d["xs"]],
                  "ppf": [float(stats.norm.ppf(p)) for p in d["ps"]],
                  "binom": [float(stats.binom.cdf(k, n, 0.5)) for k, n in d["ks"]]}))`,
      { xs, ps, ks },
    );
    xs.forEach((x, i) => expect(Math.abs(chi2Sf1(x) - ref.chi2[i]) / ref.chi2[i]).toBeLessThan(1e-12));
    xs.forEach((x, i) => expect(normalCdf(x)).toBeCloseTo(ref.cdf[i], 14));
    ps.forEach((p, i) => expect(normalQuantile(p)).toBeCloseTo(ref.ppf[i], 9));
    ks.forEach(([k, n], i) => expect(binomCdfHalf(k, n)).toBe(ref.binom[i]));
  });
});

describe('Holm and Benjamini–Hochberg equal statsmodels multipletests', () => {
  const g = new Xoshiro128(3);
  const families = [
    [0.01, 0.04, 0.03, 0.005],
    [0.2, 0.2, 0.01, 0.04, 0.04, 0.9],
    [0.5],
    Array.from({ length: 40 }, () => g.uniform() ** 3),
    [1e-9, 0.049, 0.051, 0.7, 0.049],
  ];
  it('matches on each family, including ties', async () => {
    const ref = await python(
      `import sys, json
from statsmodels.stats.multitest import multipletests
out = []
for p in json.load(sys.stdin):
    out.append({"holm": multipletests(p, method="holm")[1].tolist(), "bh": multipletests(p, method="fdr_bh")[1].tolist()})
print(json.dumps(out))`,
      families,
    );
    families.forEach((p, i) => {
      holm(p).forEach((v, j) => expect(v).toBeCloseTo(ref[i].holm[j], 14));
      benjaminiHochberg(p).forEach((v, j) => expect(v).toBeCloseTo(ref[i].bh[j], 14));
    });
  });
});

/** Synthetic paired outcomes: `n` images, 4 fields each, given miss and false-positive rates per side. */
function synth(n: number, seed: number, cand: [number, number], base: [number, number]): { a: Counts; b: Counts } {
  const g = new Xoshiro128(seed);
  const side = (pMiss: number, pFalse: number, shared?: Float64Array) => {
    const c = { tp: new Int32Array(n), fp: new Int32Array(n), fn: new Int32Array(n) };
    for (let i = 0; i < n; i++) {
      for (let f = 0; f < 4; f++) {
        const u = shared ? 0.7 * shared[i * 4 + f]! + 0.3 * g.uniform() : g.uniform();
        if (u < pMiss) c.fn[i]!++;
        else c.tp[i]!++;
        if (g.uniform() < pFalse) c.fp[i]!++;
      }
    }
    return c;
  };
  // Correlated difficulty per field, as two models on the same images have.
  const difficulty = Float64Array.from({ length: n * 4 }, () => g.uniform());
  return { a: side(cand[0], cand[1], difficulty), b: side(base[0], base[1], difficulty) };
}

const NUMPY_TESTS = `import sys, json, numpy as np
d = json.load(sys.stdin)
a = {k: np.array(v) for k, v in d["a"].items()}
b = {k: np.array(v) for k, v in d["b"].items()}
B, margin, req, metric = d["B"], d["margin"], d["require"], d["metric"]
def nd(c):
    if metric == "f1": return 2 * c["tp"], 2 * c["tp"] + c["fp"] + c["fn"]
    if metric == "precision": return c["tp"], c["tp"] + c["fp"]
    return c["tp"], c["tp"] + c["fn"]
na, da = nd(a); nb, db = nd(b)
def ratio(n, d): return np.where(d > 0, n / np.maximum(d, 1), 0.0)
rng = np.random.default_rng(12345)
n = len(na)
obs = float(ratio(na.sum(), da.sum()) - ratio(nb.sum(), db.sum()))
idx = rng.integers(0, n, size=(B, n))
boot = ratio(na[idx].sum(1), da[idx].sum(1)) - ratio(nb[idx].sum(1), db[idx].sum(1))
flip = rng.integers(0, 2, size=(B, n)).astype(bool)
pa_n = np.where(flip, nb, na).sum(1); pa_d = np.where(flip, db, da).sum(1)
pb_n = np.where(flip, na, nb).sum(1); pb_d = np.where(flip, da, db).sum(1)
perm = ratio(pa_n, pa_d) - ratio(pb_n, pb_d)
e = 1e-12
if req == "improvement":
    pb = (1 + np.sum(boot <= margin + e)) / (B + 1); pp = (1 + np.sum(perm >= obs - margin - e)) / (B + 1)
elif req == "non-inferiority":
    pb = (1 + np.sum(boot <= -margin + e)) / (B + 1); pp = (1 + np.sum(perm >= obs + margin - e)) / (B + 1)
else:
    pb = (1 + np.sum(boot >= -e)) / (B + 1); pp = (1 + np.sum(perm <= obs + e)) / (B + 1)
print(json.dumps({"obs": obs, "boot_p": float(pb), "perm_p": float(pp), "ci": [float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))]}))`;

describe('bootstrap and permutation p-values agree with an independent numpy implementation', () => {
  const B = 4000;
  const cases: { name: string; n: number; cand: [number, number]; base: [number, number]; require: Requirement; margin: number; metric: 'f1' | 'recall' | 'precision' }[] = [
    { name: 'small improvement, f1', n: 1500, cand: [0.08, 0.05], base: [0.09, 0.055], require: 'improvement', margin: 0, metric: 'f1' },
    { name: 'non-inferiority with margin, recall', n: 1200, cand: [0.1, 0.05], base: [0.095, 0.05], require: 'non-inferiority', margin: 0.01, metric: 'recall' },
    { name: 'improvement with margin, precision', n: 1000, cand: [0.07, 0.03], base: [0.07, 0.05], require: 'improvement', margin: 0.005, metric: 'precision' },
    { name: 'regression, f1', n: 800, cand: [0.1, 0.06], base: [0.09, 0.05], require: 'regression', margin: 0, metric: 'f1' },
  ];
  it.each(cases)('$name', async (c) => {
    const { a, b } = synth(c.n, c.n, c.cand, c.base);
    const asJson = (x: Counts) => ({ tp: [...x.tp], fp: [...x.fp], fn: [...x.fn] });
    const ref = await python(NUMPY_TESTS, { a: asJson(a), b: asJson(b), B, margin: c.margin, require: c.require, metric: c.metric });
    const common = { metric: c.metric, require: c.require, margin: c.margin, alpha: 0.05, resamples: B, seed: 9 } as const;
    const boot = runTest(a, b, { ...common, test: 'paired-bootstrap' });
    const perm = runTest(a, b, { ...common, test: 'permutation' });
    expect(boot.delta).toBeCloseTo(ref.obs, 14);
    // Two independent Monte-Carlo estimates: their difference has sd √(2p(1−p)/B); allow 4.5 sd.
    const tol = (p: number) => 4.5 * Math.sqrt((2 * Math.max(p, 0.01) * (1 - Math.min(p, 0.99))) / B) + 2 / B;
    expect(Math.abs(boot.p_value - ref.boot_p)).toBeLessThan(tol(ref.boot_p));
    expect(Math.abs(perm.p_value - ref.perm_p)).toBeLessThan(tol(ref.perm_p));
    const width = ref.ci[1] - ref.ci[0];
    expect(Math.abs(boot.ci![0] - ref.ci[0])).toBeLessThan(0.15 * width);
    expect(Math.abs(boot.ci![1] - ref.ci[1])).toBeLessThan(0.15 * width);
  });
});

describe('resampling behaviour users rely on', () => {
  const { a, b } = synth(3000, 5, [0.05, 0.03], [0.08, 0.05]);
  it('the same seed gives the same verdict numbers; another seed gives another stream', () => {
    const o = { test: 'paired-bootstrap', metric: 'f1', require: 'improvement', margin: 0, alpha: 0.05, resamples: 500, seed: 42 } as const;
    expect(runTest(a, b, o)).toEqual(runTest(a, b, o));
    const packed = packCounts('f1', a, b);
    expect(bootstrapDeltas(packed, 50, 1)).not.toEqual(bootstrapDeltas(packed, 50, 2));
  });
  it('a clearly better candidate is significant by every test; identical models are not', () => {
    for (const test of ['paired-bootstrap', 'permutation', 'mcnemar'] as const) {
      const o = { test, metric: 'f1', require: 'improvement', margin: 0, alpha: 0.05, resamples: 1000, seed: 1 } as const;
      expect(runTest(a, b, o).significant, test).toBe(true);
      expect(runTest(b, b, o).significant, test).toBe(false);
      expect(runTest(b, a, o).significant, test).toBe(false);
    }
  });
  it('a bootstrap CI contains the observed delta', () => {
    const r = runTest(a, b, { test: 'paired-bootstrap', metric: 'f1', require: 'none', margin: 0, alpha: 0.05, resamples: 1000, seed: 1 });
    expect(r.ci![0]).toBeLessThan(r.delta);
    expect(r.ci![1]).toBeGreaterThan(r.delta);
  });
});
