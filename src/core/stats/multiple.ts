// Adjusted p-values for a family of tests, as statsmodels' multipletests computes them.

export type Correction = 'holm' | 'bh' | 'none';

function order(p: readonly number[]): number[] {
  return p.map((_, i) => i).sort((a, b) => p[a]! - p[b]! || a - b);
}

/** Holm's step-down adjustment (statsmodels `method="holm"`). */
export function holm(p: readonly number[]): number[] {
  const m = p.length;
  const idx = order(p);
  const out = new Array<number>(m);
  let running = 0;
  idx.forEach((i, rank) => {
    running = Math.max(running, (m - rank) * p[i]!);
    out[i] = Math.min(1, running);
  });
  return out;
}

/** Benjamini–Hochberg step-up adjustment (statsmodels `method="fdr_bh"`). */
export function benjaminiHochberg(p: readonly number[]): number[] {
  const m = p.length;
  const idx = order(p);
  const out = new Array<number>(m);
  let running = Infinity;
  for (let rank = m - 1; rank >= 0; rank--) {
    const i = idx[rank]!;
    running = Math.min(running, (p[i]! * m) / (rank + 1));
    out[i] = Math.min(1, running);
  }
  return out;
}

export function adjust(p: readonly number[], method: Correction): number[] {
  if (method === 'holm') return holm(p);
  if (method === 'bh') return benjaminiHochberg(p);
  return p.map((x) => Math.min(1, x));
}
