import { describe, expect, it } from 'vitest';
import { iou } from '../../src/core/evaluate/match.js';
import { evaluateImages, generateSet, rng, type RawImage } from './helpers.js';
import { python } from './python.js';

/** pycocotools COCOeval (bbox, IoU threshold 0.5, every area, no detection limit) on the same boxes. */
const COCO = `
import sys, json, contextlib, numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
data = json.load(sys.stdin)
labels = sorted({f['label'] for im in data['gt'] for f in im['fields']})
cat = {l: i + 1 for i, l in enumerate(labels)}
img = {im['image_id']: i + 1 for i, im in enumerate(data['gt'])}
xywh = lambda b: [b[0], b[1], b[2] - b[0], b[3] - b[1]]
anns = []
for im in data['gt']:
    for f in im['fields']:
        b = xywh(f['bbox'])
        anns.append({'id': len(anns) + 1, 'image_id': img[im['image_id']], 'category_id': cat[f['label']], 'bbox': b, 'area': b[2] * b[3], 'iscrowd': 0})
dets = [{'image_id': img[im['image_id']], 'category_id': cat[f['label']], 'bbox': xywh(f['bbox']), 'score': f['confidence']}
        for im in data['pred'] for f in im['fields'] if f['label'] in cat]
with contextlib.redirect_stdout(sys.stderr):
    gt = COCO()
    gt.dataset = {'images': [{'id': i} for i in img.values()], 'annotations': anns, 'categories': [{'id': c, 'name': l} for l, c in cat.items()]}
    gt.createIndex()
    dt = gt.loadRes(dets) if dets else COCO()
    E = COCOeval(gt, dt, 'bbox')
    E.params.iouThrs = np.array([0.5])
    E.params.maxDets = [100000]
    E.evaluate(); E.accumulate()
prec = E.eval['precision'][0, :, :, 0, 0]
ap = {l: float(np.mean(prec[:, k])) for l, k in ((l, cat[l] - 1) for l in labels) if (prec[:, k] > -1).all()}
print(json.dumps({'ap': ap, 'map': float(np.mean(prec[prec > -1]))}))
`;

describe('AP50 with --match location equals pycocotools COCOeval', () => {
  it.each([
    [1, 40, 6],
    [2, 200, 4],
    [3, 25, 14],
    [4, 300, 3],
  ])('generated set %i: %i images, up to %i fields each', async (seed, images, maxFields) => {
    const { gt, pred } = generateSet(seed, images, { maxFields });
    const ours = evaluateImages(gt, pred, { match: 'location' }).metrics;
    const ref = await python<{ ap: Record<string, number>; map: number }>(COCO, { gt, pred });
    const aps = Object.fromEntries(Object.entries(ours.per_field).filter(([, f]) => f.ap50 !== undefined).map(([l, f]) => [l, f.ap50]));
    expect(Object.keys(aps).sort()).toEqual(Object.keys(ref.ap).sort());
    for (const [l, v] of Object.entries(ref.ap)) expect(Math.abs(aps[l]! - v), l).toBeLessThan(1e-12);
    expect(Math.abs(ours.overall.map50! - ref.map)).toBeLessThan(1e-12);
    expect(ref.map).toBeGreaterThan(0.3);
  });

  it('ties in confidence and crowded images rank exactly as pycocotools does', async () => {
    // Rounded confidences (many ties), many overlapping boxes of one label per image.
    const r = rng(99);
    const gt: RawImage[] = [];
    const pred: RawImage[] = [];
    for (let i = 0; i < 60; i++) {
      const id = `doc-${String(i).padStart(3, '0')}`;
      const g = Array.from({ length: 1 + Math.floor(r() * 8) }, () => {
        const x = Math.floor(r() * 60);
        const y = Math.floor(r() * 20);
        return { label: r() < 0.5 ? 'name' : 'amount', bbox: [x, y, x + 20 + Math.floor(r() * 10), y + 10] as [number, number, number, number], value: 'v' };
      });
      const p = g.flatMap((f) =>
        Array.from({ length: Math.floor(r() * 3) }, () => ({ ...f, bbox: f.bbox.map((c) => c + Math.floor(r() * 7) - 3) as [number, number, number, number], confidence: Math.round(r() * 4) / 4 })),
      );
      gt.push({ image_id: id, fields: g });
      pred.push({ image_id: id, fields: p });
    }
    // Shuffled image order in the files: pycocotools sorts image ids, and so do we for ties.
    const shuffled = [...pred].reverse();
    const ours = evaluateImages(gt, shuffled, { match: 'location' }).metrics;
    const ref = await python<{ ap: Record<string, number>; map: number }>(COCO, { gt, pred });
    for (const [l, v] of Object.entries(ref.ap)) expect(Math.abs(ours.per_field[l]!.ap50! - v), l).toBeLessThan(1e-12);
    expect(Math.abs(ours.overall.map50! - ref.map)).toBeLessThan(1e-12);
  });

  it('IoU equals pycocotools maskUtils.iou on [x, y, w, h] boxes', async () => {
    const r = rng(5);
    const boxes = Array.from({ length: 60 }, () => {
      const x = Math.round(r() * 800) / 4;
      const y = Math.round(r() * 800) / 4;
      return [x, y, x + Math.round(r() * 400) / 4, y + Math.round(r() * 400) / 4];
    });
    const ref = await python<number[][]>(
      'import sys, json, numpy as np\nfrom pycocotools import mask\nb = np.array(json.load(sys.stdin), dtype=float)\nb[:, 2:] -= b[:, :2]\nprint(json.dumps(mask.iou(b.tolist(), b.tolist(), [0] * len(b)).tolist()))',
      boxes,
    );
    let overlapping = 0;
    boxes.forEach((a, i) =>
      boxes.forEach((b, j) => {
        expect(Math.abs(iou(a, b) - ref[i]![j]!)).toBeLessThan(1e-12);
        if (ref[i]![j]! > 0 && i !== j) overlapping++;
      }),
    );
    expect(overlapping).toBeGreaterThan(100);
  });
});

describe('precision, recall and F1 equal scikit-learn on the same per-field outcomes', () => {
  const SKLEARN = `
import sys, json
from sklearn.metrics import precision_recall_fscore_support
samples = json.load(sys.stdin)
def prf(fields):
    t = [1 if f['status'] in ('tp', 'fn') else 0 for f in fields]
    p = [1 if f['status'] in ('tp', 'fp') else 0 for f in fields]
    if not fields:
        return [0, 0, 0]
    pr, rc, f1, _ = precision_recall_fscore_support(t, p, average='binary', zero_division=0)
    return [float(pr), float(rc), float(f1)]
fields = [f for s in samples for f in s['fields']]
labels = sorted({f['label'] for f in fields})
print(json.dumps({'overall': prf(fields), 'per_field': {l: prf([f for f in fields if f['label'] == l]) for l in labels}}))
`;
  it.each([
    [11, 'value'],
    [12, 'location'],
    [13, 'value'],
  ] as const)('generated set %i, --match %s', async (seed, match) => {
    const { gt, pred } = generateSet(seed, 300);
    const { metrics, samples } = evaluateImages(gt, pred, { match });
    const ref = await python<{ overall: number[]; per_field: Record<string, number[]> }>(SKLEARN, samples);
    const close = (a: number[], b: number[]) => a.forEach((x, i) => expect(Math.abs(x - b[i]!)).toBeLessThan(1e-12));
    close([metrics.overall.precision, metrics.overall.recall, metrics.overall.f1], ref.overall);
    expect(Object.keys(metrics.per_field).sort()).toEqual(Object.keys(ref.per_field));
    for (const [l, f] of Object.entries(metrics.per_field)) close([f.precision, f.recall, f.f1], ref.per_field[l]!);
    expect(metrics.overall.f1).toBeGreaterThan(0.5);
    expect(metrics.overall.f1).toBeLessThan(1);
  });
});
