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
    this.scores[this.length] = score;
    this.flags[this.length] = tp ? 1 : 0;
    this.images[this.length] = image;
    this.length++;
  }

  /**
   * AP over 101 recall points, or null when the label has no GT field (pycocotools leaves such a
   * category out of the mean). `imageRank[i]` is the position of image i in image-id order.
   */
  ap(imageRank: Int32Array | null): number | null {
    if (this.gtCount === 0) return null;
    const n = this.length;
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    const s = this.scores;
    const img = this.images;
    order.sort((a, b) => s[b]! - s[a]! || (imageRank ? imageRank[img[a]!]! - imageRank[img[b]!]! : 0) || a - b);
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
