import { BleuAccumulator, type BleuScore } from '../bleu/bleu.js';
import type { TokenizerName } from '../bleu/tokenize.js';
import { ApCollector } from './ap.js';
import type { Field, FileMeta, Image } from './fields.js';
import { cocoGreedy, iou, maximumMatching } from './match.js';
import { normalizeValue, sameValue, type NormalizeMode, type NormalizedValue } from './normalize.js';

/**
 * The evaluation of predictions against ground truth, one image at a time (DESIGN.md, "Evaluation
 * rules"). Per image only that image's fields are held; across images only per-label tallies, the
 * ranked confidences AP needs (13 bytes per prediction), the latencies and BLEU's sufficient
 * statistics.
 */

export type MatchMode = 'value' | 'location';

export interface EvaluateConfig {
  /** Minimum IoU for a prediction to match a GT field. */
  iou: number;
  normalize: NormalizeMode;
  match: MatchMode;
  tokenize: TokenizerName;
}

export const DEFAULT_CONFIG: EvaluateConfig = { iou: 0.5, normalize: 'lenient', match: 'value', tokenize: '13a' };
/** AP is reported at IoU 0.5 (`ap50`) whatever --iou says, as its name promises. */
export const AP_IOU = 0.5;

export interface Counts {
  tp: number;
  fp: number;
  fn: number;
}

export interface PrfCounts extends Counts {
  precision: number;
  recall: number;
  f1: number;
}

/** One field's outcome in `mlloop/samples@1`. */
export interface FieldOutcome {
  label: string;
  status: 'tp' | 'fp' | 'fn';
  gt: string | null;
  pred: string | null;
  iou: number | null;
}

/** One line of `mlloop/samples@1`. */
export interface SampleLine extends Counts {
  image_id: string;
  per_field: Record<string, Counts>;
  fields: FieldOutcome[];
}

export interface FieldMetrics extends PrfCounts {
  support: number;
  ap50?: number;
}

export interface MetricsDoc {
  schema: 'mlloop/metrics@1';
  model_version?: string;
  dataset?: string;
  overall: PrfCounts & { exact_match: number; map50?: number };
  per_field: Record<string, FieldMetrics>;
  box_iou_ge_0_8: number;
  image_miss_rate: number;
  images: number;
  images_without_predictions: number;
  images_only_in_predictions: number;
  latency_ms?: { mean: number; p50: number; p95: number; p99: number; images: number };
  bleu: number;
  config: {
    iou_threshold: number;
    normalize: NormalizeMode;
    match: MatchMode;
    matching: 'maximum';
    ap: string;
    tokenize: TokenizerName;
    bleu_signature: string;
  };
}

/** Precision, recall and F1 from counts; 0 where a denominator is 0 (DESIGN.md). */
export function prf({ tp, fp, fn }: Counts): PrfCounts {
  const precision = tp + fp > 0 ? tp / (tp + fp) : 0;
  const recall = tp + fn > 0 ? tp / (tp + fn) : 0;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f1, tp, fp, fn };
}

/** Linear-interpolated percentile of sorted values (numpy's default method). */
export function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (q / 100) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

interface LabelTally {
  tp: number;
  fp: number;
  fn: number;
  exact: number;
  ap: ApCollector;
}

const EMPTY: Field[] = [];
const FIRST: readonly number[] = [0];

/** Reused work buffers: addImage runs synchronously, one image at a time, so one set serves all. */
class Scratch {
  f64a = new Float64Array(256);
  f64b = new Float64Array(256);
  f64c = new Float64Array(256);
  f64d = new Float64Array(256);
  i32a = new Int32Array(256);
  i32b = new Int32Array(256);
  u8 = new Uint8Array(256);
  ensure(n: number): void {
    if (n <= this.f64a.length) return;
    const size = Math.max(n, this.f64a.length * 2);
    this.f64a = new Float64Array(size);
    this.f64b = new Float64Array(size);
    this.f64c = new Float64Array(size);
    this.f64d = new Float64Array(size);
    this.i32a = new Int32Array(size);
    this.i32b = new Int32Array(size);
    this.u8 = new Uint8Array(size);
  }
}
const scratch = new Scratch();

const NONE: number[] = [];

/** Field positions of one image grouped by label: GT labels in order of appearance, then labels only predicted. */
function byLabel(gf: readonly Field[], pf: readonly Field[]): Map<string, { g: number[]; p: number[] }> {
  const m = new Map<string, { g: number[]; p: number[] }>();
  for (let i = 0; i < gf.length; i++) {
    const l = gf[i]!.label;
    const e = m.get(l);
    if (e) e.g.push(i);
    else m.set(l, { g: [i], p: NONE });
  }
  for (let i = 0; i < pf.length; i++) {
    const l = pf[i]!.label;
    const e = m.get(l);
    if (!e) m.set(l, { g: NONE, p: [i] });
    else if (e.p === NONE) e.p = [i];
    else e.p.push(i);
  }
  return m;
}

export class Evaluator {
  readonly config: EvaluateConfig;
  private readonly labels = new Map<string, LabelTally>();
  private readonly bleu: BleuAccumulator;
  private latencies = new Float64Array(1024);
  private latencyCount = 0;
  /** Image ids in the order images with predictions were seen (AP breaks confidence ties by id). */
  private readonly apImages: string[] = [];
  private gtImages = 0;
  private gtFields = 0;
  private missedImages = 0;
  private imagesWithoutPredictions = 0;
  private imagesOnlyInPredictions = 0;
  private boxHits = 0;

  constructor(config: Partial<EvaluateConfig> = {}) {
    this.config = { ...DEFAULT_CONFIG, ...config };
    this.bleu = new BleuAccumulator({ tokenize: this.config.tokenize });
  }

  private tally(label: string): LabelTally {
    let t = this.labels.get(label);
    if (!t) this.labels.set(label, (t = { tp: 0, fp: 0, fn: 0, exact: 0, ap: new ApCollector() }));
    return t;
  }

  /**
   * Evaluates one image (GT, predictions, or both for the same image_id) and folds it into the
   * tallies. Returns its samples line when `withSample` is set.
   */
  addImage(gt: Image | null, pred: Image | null, withSample: boolean): SampleLine | undefined {
    const id = (gt ?? pred)!.id;
    const gf = gt?.fields ?? EMPTY;
    const pf = pred?.fields ?? EMPTY;
    if (gt) {
      this.gtImages++;
      this.gtFields += gf.length;
      if (!pred) this.imagesWithoutPredictions++;
    } else this.imagesOnlyInPredictions++;
    if (pred?.latency !== undefined) this.pushLatency(pred.latency);
    const imageNo = pf.length ? this.apImages.push(id) - 1 : -1;

    const { iou: thr, match, normalize } = this.config;
    const byValue = match === 'value';
    const lenient = normalize === 'lenient';
    // Per-field outcomes, in file positions (work buffers, valid for this call only).
    let cells = 0;
    const groups = byLabel(gf, pf);
    for (const { g, p } of groups.values()) cells = Math.max(cells, g.length * (p.length || 1));
    scratch.ensure(Math.max(gf.length, pf.length, cells, 1));
    const { i32a: gtPred, f64a: gtIou, u8: predMatched, f64b: predBest, f64c: ious, f64d: w, i32b: matchBuf } = scratch;
    gtPred.fill(-1, 0, gf.length);
    predMatched.fill(0, 0, pf.length);
    predBest.fill(-1, 0, pf.length);
    const gNorm: (NormalizedValue | undefined)[] = [];
    const pNorm: (NormalizedValue | undefined)[] = [];
    const sameText = (g: number, p: number): boolean => {
      const a = gf[g]!.value;
      const b = pf[p]!.value;
      if (a === b) return true;
      if (!lenient) return false;
      return sameValue((gNorm[g] ??= normalizeValue(a)), (pNorm[p] ??= normalizeValue(b)));
    };
    let fnInImage = 0;
    const sample: SampleLine | undefined = withSample ? { image_id: id, tp: 0, fp: 0, fn: 0, per_field: Object.create(null) as SampleLine['per_field'], fields: [] } : undefined;

    for (const [label, { g: gi, p: pi }] of groups) {
      const t = this.tally(label);
      if (gi.length === 0) {
        t.fp += pi.length;
        if (sample) sample.per_field[label] = { tp: 0, fp: pi.length, fn: 0 };
        for (const b of rankByConfidence(pi, pf)) t.ap.add(pf[pi[b]!]!.confidence, false, imageNo);
        continue;
      }
      const nG = gi.length;
      const nP = pi.length;
      t.ap.gtCount += nG;
      for (let a = 0; a < nG; a++) {
        const g = gi[a]!;
        let best = 0;
        let bestP = -1;
        for (let b = 0; b < nP; b++) {
          const p = pi[b]!;
          const x = iou(gf[g]!.bbox, pf[p]!.bbox);
          ious[a * nP + b] = x;
          if (x > predBest[p]!) predBest[p] = x;
          // BLEU's hypothesis: the best-IoU prediction; ties go to higher confidence, then the smaller value, so file order never matters.
          if (x > best || (x === best && x > 0 && (pf[p]!.confidence > pf[bestP]!.confidence || (pf[p]!.confidence === pf[bestP]!.confidence && pf[p]!.value < pf[bestP]!.value)))) {
            best = x;
            bestP = p;
          }
          w[a * nP + b] = x >= thr && (!byValue || sameText(g, p)) ? x : -1;
        }
        if (best >= 0.8) this.boxHits++;
        this.bleu.addPair(bestP >= 0 ? pf[bestP]!.value : '', gf[g]!.value);
      }
      const gm = maximumMatching(nG, nP, w, matchBuf);
      let tp = 0;
      for (let a = 0; a < nG; a++) {
        const b = gm[a]!;
        if (b < 0) continue;
        tp++;
        const g = gi[a]!;
        const p = pi[b]!;
        gtPred[g] = p;
        gtIou[g] = ious[a * nP + b]!;
        predMatched[p] = 1;
        if (gf[g]!.value === pf[p]!.value) t.exact++;
      }
      t.tp += tp;
      t.fp += nP - tp;
      t.fn += nG - tp;
      if (nG - tp > 0) fnInImage++;
      if (sample) sample.per_field[label] = { tp, fp: nP - tp, fn: nG - tp };
      if (nP === 1) {
        // One prediction: a TP for AP when any GT is eligible at IoU 0.5 (cocoGreedy's answer, without its buffers).
        let hit = false;
        for (let a = 0; a < nG && !hit; a++) hit = ious[a]! >= AP_IOU && (!byValue || sameText(gi[a]!, pi[0]!));
        t.ap.add(pf[pi[0]!]!.confidence, hit, imageNo);
      } else if (nP) {
        const order = rankByConfidence(pi, pf);
        const flags = cocoGreedy(nG, order, nP, ious, byValue ? (a, b) => sameText(gi[a]!, pi[b]!) : () => true, AP_IOU);
        for (let k = 0; k < order.length; k++) t.ap.add(pf[pi[order[k]!]!]!.confidence, flags[k] === 1, imageNo);
      }
    }
    if (fnInImage > 0) this.missedImages++;
    if (sample) {
      for (let g = 0; g < gf.length; g++) {
        const p = gtPred[g]!;
        sample.fields.push(
          p >= 0
            ? { label: gf[g]!.label, status: 'tp', gt: gf[g]!.value, pred: pf[p]!.value, iou: gtIou[g]! }
            : { label: gf[g]!.label, status: 'fn', gt: gf[g]!.value, pred: null, iou: null },
        );
      }
      for (let p = 0; p < pf.length; p++) {
        if (predMatched[p]) continue;
        sample.fields.push({ label: pf[p]!.label, status: 'fp', gt: null, pred: pf[p]!.value, iou: predBest[p]! >= 0 ? predBest[p]! : null });
      }
      for (const c of Object.values(sample.per_field)) {
        sample.tp += c.tp;
        sample.fp += c.fp;
        sample.fn += c.fn;
      }
    }
    return sample;
  }

  private pushLatency(x: number): void {
    if (this.latencyCount === this.latencies.length) {
      const next = new Float64Array(this.latencies.length * 2);
      next.set(this.latencies);
      this.latencies = next;
    }
    this.latencies[this.latencyCount++] = x;
  }

  get imagesSeen(): number {
    return this.gtImages + this.imagesOnlyInPredictions;
  }

  bleuScore(): BleuScore {
    return this.bleu.score();
  }

  /** The `mlloop/metrics@1` document for everything added so far. */
  metrics(meta: FileMeta = {}): MetricsDoc {
    // Rank of each image id, for AP's tie-break (pycocotools orders images by sorted id).
    const ids = this.apImages;
    const byId = Array.from(ids.keys()).sort((a, b) => (ids[a]! < ids[b]! ? -1 : ids[a]! > ids[b]! ? 1 : a - b));
    const rank = new Int32Array(ids.length);
    byId.forEach((img, r) => (rank[img] = r));
    // Keyed by labels from the data: no prototype, so a label "__proto__" is a key like any other.
    const per_field: Record<string, FieldMetrics> = Object.create(null) as Record<string, FieldMetrics>;
    const total: Counts = { tp: 0, fp: 0, fn: 0 };
    let exact = 0;
    const aps: number[] = [];
    for (const label of [...this.labels.keys()].sort()) {
      const t = this.labels.get(label)!;
      const entry: FieldMetrics = { ...prf(t), support: t.tp + t.fn };
      const ap = t.ap.ap(rank);
      if (ap !== null) {
        entry.ap50 = ap;
        aps.push(ap);
      }
      per_field[label] = entry;
      total.tp += t.tp;
      total.fp += t.fp;
      total.fn += t.fn;
      exact += t.exact;
    }
    const bleu = this.bleu.score();
    const doc: MetricsDoc = {
      schema: 'mlloop/metrics@1',
      ...(meta.model_version !== undefined ? { model_version: meta.model_version } : {}),
      ...(meta.dataset !== undefined ? { dataset: meta.dataset } : {}),
      overall: { ...prf(total), exact_match: this.gtFields ? exact / this.gtFields : 0, ...(aps.length ? { map50: aps.reduce((a, b) => a + b, 0) / aps.length } : {}) },
      per_field,
      box_iou_ge_0_8: this.gtFields ? this.boxHits / this.gtFields : 0,
      image_miss_rate: this.gtImages ? this.missedImages / this.gtImages : 0,
      images: this.gtImages,
      images_without_predictions: this.imagesWithoutPredictions,
      images_only_in_predictions: this.imagesOnlyInPredictions,
      bleu: bleu.score,
      config: {
        iou_threshold: this.config.iou,
        normalize: this.config.normalize,
        match: this.config.match,
        matching: 'maximum',
        ap: 'coco-101-point@iou0.5',
        tokenize: this.config.tokenize,
        bleu_signature: bleu.signature,
      },
    };
    if (this.latencyCount) {
      const s = this.latencies.slice(0, this.latencyCount).sort();
      let sum = 0;
      for (const x of s) sum += x;
      // Near the top of the double range the sum overflows where the mean does not: divide first then.
      let mean = sum / s.length;
      if (!Number.isFinite(mean)) {
        mean = 0;
        for (const x of s) mean += x / s.length;
      }
      doc.latency_ms = { mean, p50: percentile(s, 50), p95: percentile(s, 95), p99: percentile(s, 99), images: s.length };
    }
    return doc;
  }
}

/** Positions in `pi` ranked by confidence, ties in file order (numpy's stable mergesort). */
function rankByConfidence(pi: readonly number[], pf: readonly Field[]): readonly number[] {
  if (pi.length === 1) return FIRST;
  return pi.map((_, b) => b).sort((a, b) => pf[pi[b]!]!.confidence - pf[pi[a]!]!.confidence || a - b);
}
