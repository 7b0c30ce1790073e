/**
 * Box overlap and the two matchings the evaluation uses: the maximum one-to-one matching of eligible
 * (GT, prediction) pairs for TP/FP/FN, and COCO's confidence-ranked greedy matching for AP.
 */

/** A box as [x1, y1, x2, y2] in absolute pixels. */
export type Box = ArrayLike<number>;

/** Intersection over union; 0 when the boxes do not overlap or both are empty (as pycocotools). */
export function iou(a: Box, b: Box): number {
  const iw = Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!);
  if (iw <= 0) return 0;
  const ih = Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!);
  if (ih <= 0) return 0;
  const inter = iw * ih;
  const union = (a[2]! - a[0]!) * (a[3]! - a[1]!) + (b[2]! - b[0]!) * (b[3]! - b[1]!) - inter;
  return union > 0 ? inter / union : 0;
}

/** Above this many nodes on the smaller side of one connected group, Hopcroft–Karp replaces the assignment step. */
const ASSIGNMENT_LIMIT = 300;

/**
 * Maximum one-to-one matching of a bipartite graph given as a dense `nG × nP` weight matrix
 * (weight < 0: not eligible; otherwise the pair's IoU). Among the matchings with the most pairs it
 * returns one with the highest total weight (exactly, for groups up to ASSIGNMENT_LIMIT nodes on the
 * smaller side; larger groups — never seen in practice — keep maximum cardinality and prefer higher
 * IoU edges greedily). Returns, for every GT row, the matched prediction column or -1.
 */
export function maximumMatching(nG: number, nP: number, w: Float64Array, out?: Int32Array): Int32Array {
  const gtMatch = out && out.length >= nG ? out : new Int32Array(nG);
  gtMatch.fill(-1, 0, nG);
  if (nG === 0 || nP === 0) return gtMatch;
  // The common case: one GT and one prediction of a label in an image.
  if (nG === 1 && nP === 1) {
    if (w[0]! >= 0) gtMatch[0] = 0;
    return gtMatch;
  }
  // Split into connected groups (union–find over rows 0..nG-1 and columns nG..nG+nP-1).
  const parent = new Int32Array(nG + nP);
  for (let i = 0; i < parent.length; i++) parent[i] = i;
  const find = (x: number): number => {
    while (parent[x] !== x) {
      parent[x] = parent[parent[x]!]!;
      x = parent[x]!;
    }
    return x;
  };
  let edges = 0;
  for (let g = 0; g < nG; g++) {
    for (let p = 0; p < nP; p++) {
      if (w[g * nP + p]! >= 0) {
        edges++;
        const a = find(g);
        const b = find(nG + p);
        if (a !== b) parent[a] = b;
      }
    }
  }
  if (edges === 0) return gtMatch;
  const groups = new Map<number, { rows: number[]; cols: number[] }>();
  for (let g = 0; g < nG; g++) {
    const r = find(g);
    let grp = groups.get(r);
    if (!grp) groups.set(r, (grp = { rows: [], cols: [] }));
    grp.rows.push(g);
  }
  for (let p = 0; p < nP; p++) {
    const grp = groups.get(find(nG + p));
    if (grp) grp.cols.push(p);
  }
  for (const { rows, cols } of groups.values()) {
    if (cols.length === 0) continue;
    if (rows.length === 1 || cols.length === 1) {
      // A star: the single best edge is the whole answer.
      let best = -1;
      let bg = -1;
      let bp = -1;
      for (const g of rows) {
        for (const p of cols) {
          const x = w[g * nP + p]!;
          if (x > best) {
            best = x;
            bg = g;
            bp = p;
          }
        }
      }
      gtMatch[bg] = bp;
    } else if (Math.min(rows.length, cols.length) <= ASSIGNMENT_LIMIT) {
      assignGroup(rows, cols, nP, w, gtMatch);
    } else {
      hopcroftKarp(rows, cols, nP, w, gtMatch);
    }
  }
  return gtMatch;
}

/**
 * Maximum-weight assignment (Hungarian method, O(n²m)) with weight K + IoU per eligible pair and 0
 * otherwise, where K exceeds any total IoU: so the most pairs win first, then the highest total IoU.
 */
function assignGroup(rows: number[], cols: number[], nP: number, w: Float64Array, gtMatch: Int32Array): void {
  const transpose = rows.length > cols.length;
  const R = transpose ? cols : rows;
  const C = transpose ? rows : cols;
  const n = R.length;
  const m = C.length;
  const K = n + 1;
  const weight = (i: number, j: number): number => (transpose ? w[C[j]! * nP + R[i]!]! : w[R[i]! * nP + C[j]!]!);
  const cost = new Float64Array((n + 1) * (m + 1));
  for (let i = 1; i <= n; i++) {
    for (let j = 1; j <= m; j++) {
      const x = weight(i - 1, j - 1);
      cost[i * (m + 1) + j] = x >= 0 ? -(K + x) : 0;
    }
  }
  const u = new Float64Array(n + 1);
  const v = new Float64Array(m + 1);
  const p = new Int32Array(m + 1);
  const way = new Int32Array(m + 1);
  const minv = new Float64Array(m + 1);
  const used = new Uint8Array(m + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    minv.fill(Infinity);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = p[j0]!;
      let delta = Infinity;
      let j1 = 0;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = cost[i0 * (m + 1) + j]! - u[i0]! - v[j]!;
        if (cur < minv[j]!) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j]! < delta) {
          delta = minv[j]!;
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          u[p[j]!]! += delta;
          v[j]! -= delta;
        } else minv[j]! -= delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0]!;
      p[j0] = p[j1]!;
      j0 = j1;
    } while (j0 !== 0);
  }
  for (let j = 1; j <= m; j++) {
    const i = p[j]!;
    if (i === 0 || weight(i - 1, j - 1) < 0) continue;
    if (transpose) gtMatch[C[j - 1]!] = R[i - 1]!;
    else gtMatch[R[i - 1]!] = C[j - 1]!;
  }
}

/** Hopcroft–Karp maximum-cardinality matching; each row tries its higher-IoU edges first. */
function hopcroftKarp(rows: number[], cols: number[], nP: number, w: Float64Array, gtMatch: Int32Array): void {
  const adj: number[][] = rows.map((g) =>
    cols
      .map((p, j) => [j, w[g * nP + p]!] as const)
      .filter(([, x]) => x >= 0)
      .sort((a, b) => b[1] - a[1])
      .map(([j]) => j),
  );
  const n = rows.length;
  const matchR = new Int32Array(n).fill(-1);
  const matchC = new Int32Array(cols.length).fill(-1);
  const dist = new Int32Array(n);
  const bfs = (): boolean => {
    const queue: number[] = [];
    let found = false;
    for (let i = 0; i < n; i++) {
      if (matchR[i] === -1) {
        dist[i] = 0;
        queue.push(i);
      } else dist[i] = -1;
    }
    for (let q = 0; q < queue.length; q++) {
      const i = queue[q]!;
      for (const j of adj[i]!) {
        const k = matchC[j]!;
        if (k === -1) found = true;
        else if (dist[k] === -1) {
          dist[k] = dist[i]! + 1;
          queue.push(k);
        }
      }
    }
    return found;
  };
  const dfs = (i: number): boolean => {
    for (const j of adj[i]!) {
      const k = matchC[j]!;
      if (k === -1 || (dist[k] === dist[i]! + 1 && dfs(k))) {
        matchR[i] = j;
        matchC[j] = i;
        return true;
      }
    }
    dist[i] = -1;
    return false;
  };
  while (bfs()) for (let i = 0; i < n; i++) if (matchR[i] === -1) dfs(i);
  for (let i = 0; i < n; i++) if (matchR[i]! >= 0) gtMatch[rows[i]!] = cols[matchR[i]!]!;
}

/**
 * COCO's per-image matching for AP (pycocotools COCOeval.evaluateImg): predictions in the given
 * (confidence-ranked) order each take the unmatched eligible GT with the highest IoU ≥ threshold,
 * a later GT winning ties, exactly as pycocotools does. Returns a TP flag per ranked prediction.
 */
export function cocoGreedy(nG: number, order: readonly number[], nP: number, ious: Float64Array, eligible: (g: number, p: number) => boolean, threshold: number): Uint8Array {
  const tp = new Uint8Array(order.length);
  const taken = new Uint8Array(nG);
  for (let k = 0; k < order.length; k++) {
    const p = order[k]!;
    let best = Math.min(threshold, 1 - 1e-10);
    let m = -1;
    for (let g = 0; g < nG; g++) {
      if (taken[g]) continue;
      const x = ious[g * nP + p]!;
      if (x < best || !eligible(g, p)) continue;
      best = x;
      m = g;
    }
    if (m >= 0) {
      taken[m] = 1;
      tp[k] = 1;
    }
  }
  return tp;
}
