import type { Counts } from './samples.js';
import { Xoshiro128 } from './prng.js';
import { binomCdfHalf, chi2Sf1, normalCdf, normalQuantile } from './distributions.js';

/** What is resampled: micro precision/recall/F1 from summed tp/fp/fn, or the share of fully correct images. */
export type SampleMetric = 'f1' | 'precision' | 'recall' | 'image_accuracy';
export type TestName = 'paired-bootstrap' | 'permutation' | 'mcnemar';
/**
 * improvement: candidate better than baseline by more than `margin`; non-inferiority: not worse by more
 * than `margin`; none: report only (two-sided); regression: evidence the candidate is worse (per-field tests).
 */
export type Requirement = 'improvement' | 'non-inferiority' | 'none' | 'regression';

export interface TestOptions {
  test: TestName;
  metric: SampleMetric;
  require: Requirement;
  margin: number;
  alpha: number;
  resamples: number;
  seed: number;
  onProgress?: (done: number, total: number) => void;
}

export interface TestResult {
  test: TestName;
  /** The exact procedure, e.g. "mcnemar exact binomial (13 discordant pairs)". */
  method: string;
  metric: SampleMetric;
  require: Requirement;
  margin: number;
  alpha: number;
  images: number;
  candidate: number;
  baseline: number;
  delta: number;
  p_value: number;
  /** Two-sided (1 − alpha) interval of the delta; null for the permutation test. */
  ci: [number, number] | null;
  /** The requirement holds (for `regression`: a significant regression was found). */
  significant: boolean;
  resamples?: number;
  seed?: number;
  discordant?: { candidate_only: number; baseline_only: number };
}

/**
 * Per image: [numerator, denominator] of the candidate and of the baseline, interleaved (stride 4), so the
 * resampling loop reads one cache line per image. Micro F1 = Σ2tp / Σ(2tp+fp+fn).
 */
export function packCounts(metric: SampleMetric, a: Counts, b: Counts): Int32Array {
  const n = a.tp.length;
  const out = new Int32Array(n * 4);
  const put = (c: Counts, i: number, o: number) => {
    const tp = c.tp[i]!;
    const fp = c.fp[i]!;
    const fn = c.fn[i]!;
    switch (metric) {
      case 'f1':
        out[o] = 2 * tp;
        out[o + 1] = 2 * tp + fp + fn;
        break;
      case 'precision':
        out[o] = tp;
        out[o + 1] = tp + fp;
        break;
      case 'recall':
        out[o] = tp;
        out[o + 1] = tp + fn;
        break;
      case 'image_accuracy':
        out[o] = fp === 0 && fn === 0 ? 1 : 0;
        out[o + 1] = 1;
        break;
    }
  };
  for (let i = 0; i < n; i++) {
    put(a, i, 4 * i);
    put(b, i, 4 * i + 2);
  }
  return out;
}

const ratio = (num: number, den: number) => (den > 0 ? num / den : 0);

function observed(packed: Int32Array): { a: number; b: number } {
  let na = 0, da = 0, nb = 0, db = 0;
  for (let j = 0; j < packed.length; j += 4) {
    na += packed[j]!;
    da += packed[j + 1]!;
    nb += packed[j + 2]!;
    db += packed[j + 3]!;
  }
  return { a: ratio(na, da), b: ratio(nb, db) };
}

/**
 * The bootstrap distribution of delta = metric(candidate) − metric(baseline): each resample draws n images
 * with replacement (the same images for both models) and recomputes both micro metrics from the sums.
 * The generator is inlined and nothing is allocated per resample: this loop is the cost of a gate.
 */
export function bootstrapDeltas(packed: Int32Array, resamples: number, seed: number, onProgress?: (done: number, total: number) => void): Float64Array {
  const n = packed.length >> 2;
  const out = new Float64Array(resamples);
  const g = new Xoshiro128(seed);
  let s0 = g.s0, s1 = g.s1, s2 = g.s2, s3 = g.s3;
  const scale = n * 2.3283064365386963e-10;
  const step = Math.max(1, Math.floor(resamples / 20));
  for (let r = 0; r < resamples; r++) {
    let na = 0, da = 0, nb = 0, db = 0;
    for (let i = 0; i < n; i++) {
      const x = Math.imul(s1, 5);
      const res = Math.imul((x << 7) | (x >>> 25), 9) >>> 0;
      const t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = (s3 << 11) | (s3 >>> 21);
      const j = ((res * scale) | 0) << 2;
      na += packed[j]!;
      da += packed[j + 1]!;
      nb += packed[j + 2]!;
      db += packed[j + 3]!;
    }
    out[r] = (da > 0 ? na / da : 0) - (db > 0 ? nb / db : 0);
    if (onProgress && (r + 1) % step === 0) onProgress(r + 1, resamples);
  }
  return out;
}

/**
 * The null distribution of the paired sign-flip test: each resample swaps the two models' outcomes on each
 * image with probability 1/2 (32 flips per 32-bit draw) and recomputes the delta.
 */
export function permutationDeltas(packed: Int32Array, resamples: number, seed: number, onProgress?: (done: number, total: number) => void): Float64Array {
  const n = packed.length >> 2;
  let sna = 0, sda = 0, snb = 0, sdb = 0;
  const dnum = new Int32Array(n);
  const dden = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const j = 4 * i;
    sna += packed[j]!;
    sda += packed[j + 1]!;
    snb += packed[j + 2]!;
    sdb += packed[j + 3]!;
    dnum[i] = packed[j]! - packed[j + 2]!;
    dden[i] = packed[j + 1]! - packed[j + 3]!;
  }
  const g = new Xoshiro128(seed);
  const out = new Float64Array(resamples);
  const step = Math.max(1, Math.floor(resamples / 20));
  for (let r = 0; r < resamples; r++) {
    let fnum = 0, fden = 0;
    for (let i0 = 0; i0 < n; i0 += 32) {
      const bits = g.nextU32();
      const end = Math.min(32, n - i0);
      for (let k = 0; k < end; k++) {
        if ((bits >>> k) & 1) {
          fnum += dnum[i0 + k]!;
          fden += dden[i0 + k]!;
        }
      }
    }
    out[r] = ratio(sna - fnum, sda - fden) - ratio(snb + fnum, sdb + fden);
    if (onProgress && (r + 1) % step === 0) onProgress(r + 1, resamples);
  }
  return out;
}

/** Linear-interpolated quantile of a sorted array (numpy's default). */
export function quantileSorted(sorted: Float64Array, q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

const EPS = 1e-12;

function countWhere(xs: Float64Array, pred: (x: number) => boolean): number {
  let c = 0;
  for (let i = 0; i < xs.length; i++) if (pred(xs[i]!)) c++;
  return c;
}

/**
 * One-sided bootstrap p-values from the percentile distribution of delta (documented in docs/commands/gate.md):
 * improvement p = (1 + #{δ* ≤ margin}) / (B + 1), non-inferiority p = (1 + #{δ* ≤ −margin}) / (B + 1),
 * regression p = (1 + #{δ* ≥ 0}) / (B + 1), none: two-sided 2·min of the two tails.
 */
export function bootstrapPValue(deltas: Float64Array, require: Requirement, margin: number): number {
  const B = deltas.length;
  const le = (m: number) => (1 + countWhere(deltas, (d) => d <= m + EPS)) / (B + 1);
  const ge = (m: number) => (1 + countWhere(deltas, (d) => d >= m - EPS)) / (B + 1);
  switch (require) {
    case 'improvement':
      return le(margin);
    case 'non-inferiority':
      return le(-margin);
    case 'regression':
      return ge(0);
    case 'none':
      return Math.min(1, 2 * Math.min(le(0), ge(0)));
  }
}

/**
 * Permutation p-values; a margin shifts the observed delta (a location-shift approximation):
 * improvement p = (1 + #{δ* ≥ δ − margin}) / (B + 1), non-inferiority p = (1 + #{δ* ≥ δ + margin}) / (B + 1),
 * regression p = (1 + #{δ* ≤ δ}) / (B + 1), none p = (1 + #{|δ*| ≥ |δ|}) / (B + 1).
 */
export function permutationPValue(deltas: Float64Array, observedDelta: number, require: Requirement, margin: number): number {
  const B = deltas.length;
  const frac = (pred: (d: number) => boolean) => (1 + countWhere(deltas, pred)) / (B + 1);
  switch (require) {
    case 'improvement':
      return frac((d) => d >= observedDelta - margin - EPS);
    case 'non-inferiority':
      return frac((d) => d >= observedDelta + margin - EPS);
    case 'regression':
      return frac((d) => d <= observedDelta + EPS);
    case 'none':
      return frac((d) => Math.abs(d) >= Math.abs(observedDelta) - EPS);
  }
}

/**
 * McNemar's test as statsmodels' `mcnemar(table, exact=b+c<25, correction=True)`: the exact two-sided
 * binomial test below 25 discordant pairs, otherwise chi-square with continuity correction.
 */
export function mcnemar(b: number, c: number): { p: number; exact: boolean; statistic: number } {
  const n = b + c;
  if (n < 25) {
    return { p: Math.min(1, 2 * binomCdfHalf(Math.min(b, c), n)), exact: true, statistic: Math.min(b, c) };
  }
  const stat = (Math.abs(b - c) - 1) ** 2 / n;
  return { p: chi2Sf1(stat), exact: false, statistic: stat };
}

function correctFlags(c: Counts): Uint8Array {
  const n = c.tp.length;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = c.fp[i] === 0 && c.fn[i] === 0 ? 1 : 0;
  return out;
}

/** Runs one significance test on paired per-image counts (candidate `a`, baseline `b`). */
export function runTest(a: Counts, b: Counts, o: TestOptions, present?: Uint8Array): TestResult {
  const base = { test: o.test, metric: o.metric, require: o.require, margin: o.margin, alpha: o.alpha };
  if (o.test === 'mcnemar') {
    const ca = correctFlags(a);
    const cb = correctFlags(b);
    let bOnly = 0, cOnly = 0, n = 0, accA = 0, accB = 0;
    for (let i = 0; i < ca.length; i++) {
      if (present && !present[i]) continue;
      n++;
      accA += ca[i]!;
      accB += cb[i]!;
      if (ca[i] && !cb[i]) bOnly++;
      else if (!ca[i] && cb[i]) cOnly++;
    }
    const delta = n ? (bOnly - cOnly) / n : 0;
    const se = n ? Math.sqrt(Math.max(0, bOnly + cOnly - (bOnly - cOnly) ** 2 / n)) / n : 0;
    const z = normalQuantile(1 - o.alpha / 2);
    const ci: [number, number] = [delta - z * se, delta + z * se];
    let p: number;
    let method: string;
    let significant: boolean;
    const useWald = (o.require === 'non-inferiority' || o.require === 'improvement') && o.margin > 0;
    if (useWald || o.require === 'non-inferiority') {
      // McNemar tests δ = 0 only; against a margin, the one-sided Wald z-test on the paired difference.
      const shift = o.require === 'improvement' ? -o.margin : o.margin;
      const zStat = se > 0 ? (delta + shift) / se : delta + shift > 0 ? Infinity : -Infinity;
      p = 1 - normalCdf(zStat);
      method = `paired-proportion Wald z-test against margin ${o.margin} (${bOnly + cOnly} discordant pairs)`;
      significant = p < o.alpha;
    } else {
      const m = mcnemar(bOnly, cOnly);
      p = m.p;
      method = m.exact ? `mcnemar exact binomial (${bOnly + cOnly} discordant pairs)` : `mcnemar chi-square with continuity correction (${bOnly + cOnly} discordant pairs)`;
      significant = o.require === 'improvement' ? bOnly > cOnly && p < o.alpha : o.require === 'regression' ? cOnly > bOnly && p < o.alpha : p < o.alpha;
    }
    return {
      ...base,
      metric: 'image_accuracy',
      method,
      images: n,
      candidate: n ? accA / n : 0,
      baseline: n ? accB / n : 0,
      delta,
      p_value: p,
      ci,
      significant,
      discordant: { candidate_only: bOnly, baseline_only: cOnly },
    };
  }
  const packed = packCounts(o.metric, a, b);
  const obs = observed(packed);
  const delta = obs.a - obs.b;
  if (o.test === 'paired-bootstrap') {
    const deltas = bootstrapDeltas(packed, o.resamples, o.seed, o.onProgress);
    const p = bootstrapPValue(deltas, o.require, o.margin);
    const sorted = deltas.slice().sort();
    return {
      ...base,
      method: `paired bootstrap over images, ${o.resamples} resamples, xoshiro128** seed ${o.seed}`,
      images: packed.length >> 2,
      candidate: obs.a,
      baseline: obs.b,
      delta,
      p_value: p,
      ci: [quantileSorted(sorted, o.alpha / 2), quantileSorted(sorted, 1 - o.alpha / 2)],
      significant: p < o.alpha,
      resamples: o.resamples,
      seed: o.seed,
    };
  }
  const deltas = permutationDeltas(packed, o.resamples, o.seed, o.onProgress);
  const p = permutationPValue(deltas, delta, o.require, o.margin);
  return {
    ...base,
    method: `paired sign-flip permutation over images, ${o.resamples} resamples, xoshiro128** seed ${o.seed}`,
    images: packed.length >> 2,
    candidate: obs.a,
    baseline: obs.b,
    delta,
    p_value: p,
    ci: null,
    significant: p < o.alpha,
    resamples: o.resamples,
    seed: o.seed,
  };
}
