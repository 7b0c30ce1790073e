import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { evaluateImages, type RawField, type RawImage } from './helpers.js';

/**
 * Random sets laid out as forms: each field sits in its own slot of a grid, so same-label GT boxes
 * never overlap each other; predictions are jittered copies, spurious boxes, or wrong values.
 */
const field = (slot: number, label: string, value: string, jitter: [number, number, number, number], confidence: number): RawField => {
  const x = (slot % 4) * 100;
  const y = Math.floor(slot / 4) * 40;
  return { label, bbox: [x + jitter[0], y + jitter[1], x + 80 + jitter[2], y + 30 + jitter[3]], value, confidence };
};
const jitter = fc.tuple(fc.integer({ min: -12, max: 12 }), fc.integer({ min: -6, max: 6 }), fc.integer({ min: -12, max: 12 }), fc.integer({ min: -6, max: 6 }));
const image = fc
  .record({
    slots: fc.uniqueArray(fc.integer({ min: 0, max: 15 }), { maxLength: 8 }),
    labels: fc.array(fc.constantFrom('name', 'amount', 'date'), { minLength: 8, maxLength: 8 }),
    values: fc.array(fc.constantFrom('Policy No. 2025 06', 'zhang san li si', '¥ 120,000 . 00'), { minLength: 8, maxLength: 8 }), // ≥ 4 tokens: BLEU of identical text is 100
    preds: fc.array(fc.record({ of: fc.integer({ min: 0, max: 7 }), kind: fc.constantFrom('copy', 'copy', 'copy', 'wrong', 'spurious'), j: jitter }), { maxLength: 10 }),
    latency: fc.option(fc.integer({ min: 1, max: 500 }), { nil: undefined }),
  })
  .map(({ slots, labels, values, preds, latency }) => {
    const gt = slots.map((s, i) => field(s, labels[i]!, values[i]!, [0, 0, 0, 0], 1));
    const pred = preds.flatMap(({ of, kind, j }) => {
      if (kind === 'spurious') return [field((of + 7) % 16, labels[of]!, 'a', j, 0)];
      const g = gt[of % Math.max(1, gt.length)];
      if (!g) return [];
      return [{ ...g, bbox: g.bbox.map((c, k) => c + j[k]!) as RawField['bbox'], value: kind === 'wrong' ? `${g.value}x` : g.value }];
    });
    return { gt, pred, latency };
  });
const dataset = fc.array(image, { minLength: 1, maxLength: 12 }).map((imgs) => {
  // Distinct confidences, so AP's ranking never depends on file order.
  let c = 0;
  const n = imgs.reduce((a, i) => a + i.pred.length, 0) + 1;
  const gt: RawImage[] = imgs.map((im, i) => ({ image_id: `img-${i}`, fields: im.gt }));
  const pred: RawImage[] = imgs.map((im, i) => ({ image_id: `img-${i}`, latency_ms: im.latency, fields: im.pred.map((f) => ({ ...f, confidence: ++c / n })) }));
  return { gt, pred };
});

function shuffle<T>(xs: readonly T[], seed: number): T[] {
  const a = [...xs];
  let s = seed;
  for (let i = a.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const j = s % (i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

describe('evaluation properties', () => {
  it('ground truth against itself: P = R = F1 = exact match = mAP = 1, BLEU = 100', () => {
    fc.assert(
      fc.property(dataset, ({ gt }) => {
        const fields = gt.reduce((a, g) => a + g.fields.length, 0);
        fc.pre(fields > 0);
        const m = evaluateImages(gt, gt).metrics;
        expect(m.overall).toMatchObject({ precision: 1, recall: 1, f1: 1, exact_match: 1, fp: 0, fn: 0, tp: fields });
        // 1 up to pycocotools' own epsilon in precision = tp / (tp + fp + eps).
        expect(m.overall.map50).toBeCloseTo(1, 12);
        expect(m.bleu).toBeCloseTo(100, 9);
        expect(m.image_miss_rate).toBe(0);
        expect(m.box_iou_ge_0_8).toBe(1);
      }),
      { numRuns: 200, seed: 1 },
    );
  });

  it('shuffling images and the fields inside them changes no number', () => {
    fc.assert(
      fc.property(dataset, fc.integer({ min: 1, max: 1e9 }), ({ gt, pred }, seed) => {
        const base = evaluateImages(gt, pred).metrics;
        const g2 = shuffle(gt, seed).map((im, i) => ({ ...im, fields: shuffle(im.fields, seed + i) }));
        const p2 = shuffle(pred, seed + 7).map((im, i) => ({ ...im, fields: shuffle(im.fields, seed + 100 + i) }));
        const m = evaluateImages(g2, p2).metrics;
        expect(m.overall).toEqual(base.overall);
        expect(m.per_field).toEqual(base.per_field);
        expect([m.bleu, m.box_iou_ge_0_8, m.image_miss_rate, m.latency_ms]).toEqual([base.bleu, base.box_iou_ge_0_8, base.image_miss_rate, base.latency_ms]);
      }),
      { numRuns: 200, seed: 2 },
    );
  });

  it('an exact duplicate of a prediction adds exactly one FP and changes no TP or FN', () => {
    fc.assert(
      fc.property(dataset, fc.nat(), fc.nat(), ({ gt, pred }, a, b) => {
        const withPreds = pred.filter((p) => p.fields.length > 0);
        fc.pre(withPreds.length > 0);
        const target = withPreds[a % withPreds.length]!;
        const dup = target.fields[b % target.fields.length]!;
        const pred2 = pred.map((p) => (p === target ? { ...p, fields: [...p.fields, { ...dup }] } : p));
        const before = evaluateImages(gt, pred).metrics.overall;
        const after = evaluateImages(gt, pred2).metrics.overall;
        expect([after.tp, after.fp, after.fn]).toEqual([before.tp, before.fp + 1, before.fn]);
      }),
      { numRuns: 300, seed: 3 },
    );
  });

  it('TP ≤ min(#predictions, #GT) per label, and per-image lines sum to the totals', () => {
    fc.assert(
      fc.property(dataset, fc.constantFrom('value', 'location'), ({ gt, pred }, match) => {
        const { metrics, samples } = evaluateImages(gt, pred, { match: match as 'value' | 'location' });
        const count = (imgs: RawImage[], l: string) => imgs.reduce((a, im) => a + im.fields.filter((f) => f.label === l).length, 0);
        for (const [label, f] of Object.entries(metrics.per_field)) {
          expect(f.tp).toBeLessThanOrEqual(Math.min(count(pred, label), count(gt, label)));
          expect(f.tp + f.fp).toBe(count(pred, label));
          expect(f.tp + f.fn).toBe(count(gt, label));
        }
        const sum = samples.reduce((a, s) => ({ tp: a.tp + s.tp, fp: a.fp + s.fp, fn: a.fn + s.fn }), { tp: 0, fp: 0, fn: 0 });
        expect(sum).toEqual({ tp: metrics.overall.tp, fp: metrics.overall.fp, fn: metrics.overall.fn });
      }),
      { numRuns: 200, seed: 4 },
    );
  });

  it('location matching finds at least as many TPs as value matching', () => {
    fc.assert(
      fc.property(dataset, ({ gt, pred }) => {
        expect(evaluateImages(gt, pred, { match: 'location' }).metrics.overall.tp).toBeGreaterThanOrEqual(evaluateImages(gt, pred).metrics.overall.tp);
      }),
      { numRuns: 100, seed: 5 },
    );
  });
});
