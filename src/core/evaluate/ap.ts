/**
 * Average precision at one IoU threshold with COCO's rules (pycocotools COCOeval.accumulate):
 * detections of a label ranked by confidence over the whole set (a stable sort; ties keep image order
 * — pycocotools sorts image ids — and, inside an image, the order of the predictions file), precision
 * made monotone from the right, read at 101 recall points and averaged.
 */

const EPS = 2.220446049250313e-16; // np.spacing(1)
/** np.linspace(0, 1, 101), bit for bit: i * 0.01 with the end point exactly 1. */
export const RECALL_THRESHOLDS: readonly number[] = Array.from({ length: 101 }, (_, i) => (i === 100 ? 1 : i * 0.01));

/** The ranked detections of one label: confidence, TP flag and the image they belong to. */
export class ApCollector {
  private scores = new Float64Array(64);
  private flags = new Uint8Array(64);
  private images = new Int32Array(64);
  length = 0;
  /** GT fields of this label (pycocotools' npig). */
  gtCount = 0;

  add(score: number, tp: boolean, image: number): void {
    if (this.length === this.scores.length) {
      const grow = <T extends Float64Array | Uint8Array | Int32Array>(a: T): T => {
        const b = new (a.constructor as new (n: number) => T)(a.length * 2);
        b.set(a);
        return b;
      };
      this.scores = grow(this.scores);
      this.flags = grow(this.flags);
      this.images = grow(this.images);
    }
    this.scores[this.length] = score + 0; // -0 → +0, so the bit patterns order like the numbers
    this.flags[this.length] = tp ? 1 : 0;
    this.images[this.length] = image;
    this.length++;
  }

  /**
   * Detection positions by confidence, high to low; ties by image rank, then insertion order. Stable
   * LSD radix sorts, no comparator: first by image rank (skipped when images came in rank order),
   * then by the confidence's IEEE-754 bits (non-negative doubles order like their bit patterns).
   */
  ranked(imageRank: Int32Array | null): Uint32Array {
    const n = this.length;
    const img = this.images;
    let order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    let monotone = true;
    if (imageRank) for (let i = 1; i < n && monotone; i++) monotone = imageRank[img[i]!]! >= imageRank[img[i - 1]!]!;
    if (!monotone) {
      let max = 0;
      for (let i = 0; i < n; i++) max = Math.max(max, imageRank![img[i]!]!);
      const count = new Uint32Array(max + 2);
      for (let i = 0; i < n; i++) count[imageRank![img[i]!]! + 1]!++;
      for (let r = 0; r <= max; r++) count[r + 1]! += count[r]!;
      const next = new Uint32Array(n);
      for (let i = 0; i < n; i++) next[count[imageRank![img[i]!]!]!++] = i;
      order = next;
    }
    // Descending confidence = ascending complement of the bit pattern; four 16-bit digits, low first.
    const words = new Uint32Array(this.scores.buffer, 0, n * 2);
    const little = new Uint8Array(Float64Array.of(1).buffer)[7] === 0x3f;
    const count = new Uint32Array(65537);
    let tmp = new Uint32Array(n);
    for (let pass = 0; pass < 4; pass++) {
      const word = little ? (pass < 2 ? 0 : 1) : pass < 2 ? 1 : 0;
      const shift = pass % 2 === 0 ? 0 : 16;
      count.fill(0);
      for (let i = 0; i < n; i++) count[((~words[order[i]! * 2 + word]! >>> shift) & 0xffff) + 1]!++;
      if (count[(((~words[order[0]! * 2 + word]! >>> shift) & 0xffff) + 1)] === n) continue; // one digit value: nothing moves
      for (let d = 0; d < 65536; d++) count[d + 1]! += count[d]!;
      for (let i = 0; i < n; i++) {
        const k = order[i]!;
        tmp[count[(~words[k * 2 + word]! >>> shift) & 0xffff]!++] = k;
      }
      [order, tmp] = [tmp, order];
    }
    return order;
  }

  /**
   * AP over 101 recall points, or null when the label has no GT field (pycocotools leaves such a
   * category out of the mean). `imageRank[i]` is the position of image i in image-id order.
   */
  ap(imageRank: Int32Array | null): number | null {
    if (this.gtCount === 0) return null;
    const n = this.length;
    const order = this.ranked(imageRank);
    const pr = new Float64Array(n);
    const rc = new Float64Array(n);
    let tp = 0;
    let fp = 0;
    for (let k = 0; k < n; k++) {
      if (this.flags[order[k]!]) tp++;
      else fp++;
      rc[k] = tp / this.gtCount;
      pr[k] = tp / (fp + tp + EPS);
    }
    for (let k = n - 1; k > 0; k--) if (pr[k]! > pr[k - 1]!) pr[k - 1] = pr[k]!;
    let sum = 0;
    let k = 0;
    for (const t of RECALL_THRESHOLDS) {
      while (k < n && rc[k]! < t) k++;
      if (k >= n) break;
      sum += pr[k]!;
    }
    return sum / RECALL_THRESHOLDS.length;
  }
}
