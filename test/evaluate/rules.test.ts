import { describe, expect, it } from 'vitest';
import { iou, maximumMatching } from '../../src/core/evaluate/match.js';
import { normalizeValue, sameValue, parseNumber } from '../../src/core/evaluate/normalize.js';
import { evaluateImages, type RawImage } from './helpers.js';

const same = (a: string, b: string) => sameValue(normalizeValue(a), normalizeValue(b));

describe('lenient value normalisation', () => {
  it.each([
    ['张三', '张三', true],
    ['张 三', '张三', true],
    ['ＡＢＣ１２３', 'abc123', true], // NFKC: full-width letters and digits
    ['Policy No.', 'policy no', true],
    ['STRASSE', 'straße', true], // case folding ß → ss
    ['2025-06-12', '2025/06/12', true], // punctuation removed
    ['2025-06-12', '20250612', true],
    ['¥120,000.00', '120000', true], // currency and thousands separators, numbers compared
    ['￥120,000', '12万', true], // 万 = 10⁴
    ['1.2亿', '120,000,000', true], // 亿 = 10⁸
    ['120000元', '¥120,000.00', true],
    ['USD 3,500', '3500', true],
    ['1,000', '1.000', false], // both numbers, different values (stripping would make them equal)
    ['-5', '5', false],
    ['12万', '12', false],
    ['0.50', '.5', true],
    ['张三', '李四', false],
    ['', '', true],
    ['A', '', false],
  ])('%s ~ %s → %s', (a, b, expected) => expect(same(a, b)).toBe(expected));

  it('reads numbers exactly (no floating-point rounding)', () => {
    expect(parseNumber('0.1')).toBe('1e-1');
    expect(parseNumber('1.2亿')).toBe('12e7');
    expect(parseNumber('120,000.00')).toBe('12e4');
    expect(parseNumber('12,34')).toBeNull(); // not a thousands grouping
    expect(parseNumber('abc')).toBeNull();
    expect(parseNumber('0')).toBe('0');
  });

  it('exact mode compares raw strings', () => {
    const gt: RawImage[] = [{ image_id: 'a', fields: [{ label: 'amount', bbox: [0, 0, 10, 10], value: '¥120,000' }] }];
    const pred: RawImage[] = [{ image_id: 'a', fields: [{ label: 'amount', bbox: [0, 0, 10, 10], value: '120000' }] }];
    expect(evaluateImages(gt, pred, { normalize: 'lenient' }).metrics.overall.tp).toBe(1);
    expect(evaluateImages(gt, pred, { normalize: 'exact' }).metrics.overall.tp).toBe(0);
    // exact_match counts identical raw values only, whatever the normalisation.
    expect(evaluateImages(gt, pred).metrics.overall.exact_match).toBe(0);
  });
});

describe('IoU', () => {
  it.each([
    [[0, 0, 10, 10], [0, 0, 10, 10], 1],
    [[0, 0, 10, 10], [5, 0, 15, 10], 50 / 150],
    [[0, 0, 10, 10], [10, 0, 20, 10], 0], // touching edges
    [[0, 0, 10, 10], [20, 20, 30, 30], 0],
    [[0, 0, 0, 0], [0, 0, 0, 0], 0], // empty boxes
    [[0, 0, 4, 4], [1, 1, 3, 3], 4 / 16],
  ] as const)('%j vs %j', (a, b, expected) => expect(iou(a, b)).toBeCloseTo(expected, 12));
});

describe('maximum one-to-one matching', () => {
  it('finds more TPs than greedy matching where greedy takes the wrong pair first', () => {
    // GT A overlaps P1 (0.8) and P2 (0.6); GT B overlaps only P1 (0.55). Greedy by IoU: A–P1, then B
    // has nothing left (1 TP). Maximum matching: A–P2, B–P1 (2 TP).
    const w = Float64Array.from([0.8, 0.6, 0.55, -1]); // rows A, B; columns P1, P2
    expect(Array.from(maximumMatching(2, 2, w))).toEqual([1, 0]);
    const gt: RawImage[] = [{ image_id: 'x', fields: [
      { label: 'name', bbox: [0, 0, 10, 10], value: 'v' },
      { label: 'name', bbox: [2, 0, 12, 10], value: 'v' },
    ] }];
    const pred: RawImage[] = [{ image_id: 'x', fields: [
      { label: 'name', bbox: [0.5, 0, 10.5, 10], value: 'v', confidence: 0.9 }, // IoU 0.905 with the first GT, 0.739 with the second
      { label: 'name', bbox: [-3, 0, 7, 10], value: 'v', confidence: 0.8 }, // IoU 0.538 with the first, 0.333 with the second
    ] }];
    const m = evaluateImages(gt, pred).metrics;
    expect([m.overall.tp, m.overall.fp, m.overall.fn]).toEqual([2, 0, 0]);
    // COCO's greedy AP matching (ranked by confidence, best IoU first) gives P1 the first GT and P2 nothing.
    expect(m.per_field.name!.ap50).toBeCloseTo(51 / 101, 12);
  });

  it('prefers the higher total IoU among matchings with the same number of pairs', () => {
    // Both perfect matchings have 2 pairs: {A–P1, B–P2} = 0.9 + 0.9, {A–P2, B–P1} = 0.6 + 0.6.
    expect(Array.from(maximumMatching(2, 2, Float64Array.from([0.9, 0.6, 0.6, 0.9])))).toEqual([0, 1]);
    expect(Array.from(maximumMatching(2, 2, Float64Array.from([0.6, 0.9, 0.9, 0.6])))).toEqual([1, 0]);
    // 3×3 where the cardinality-3 matching has a lower total than a 2-pair one: cardinality wins.
    const w = Float64Array.from([0.99, 0.5, -1, 0.98, -1, -1, -1, -1, 0.5]);
    expect(Array.from(maximumMatching(3, 3, w))).toEqual([1, 0, 2]);
  });

  it('matches a large connected group (Hopcroft–Karp beyond the assignment limit) to full cardinality', () => {
    const n = 400;
    // A chain: GT i may match prediction i or i+1. Greedy on the higher IoU (i+1) strands the last GT.
    const w = new Float64Array(n * n).fill(-1);
    for (let i = 0; i < n; i++) {
      w[i * n + i] = 0.6;
      if (i + 1 < n) w[i * n + i + 1] = 0.9;
    }
    const m = maximumMatching(n, n, w);
    expect(Array.from(m).filter((x) => x >= 0)).toHaveLength(n);
    expect(new Set(m).size).toBe(n);
  });

  it('never matches ineligible pairs: label, IoU threshold, value', () => {
    const gt: RawImage[] = [{ image_id: 'x', fields: [{ label: 'name', bbox: [0, 0, 10, 10], value: '张三' }] }];
    const variants: [RawImage['fields'][number], boolean][] = [
      [{ label: 'name', bbox: [0, 0, 10, 10], value: '张三' }, true],
      [{ label: 'id_number', bbox: [0, 0, 10, 10], value: '张三' }, false],
      [{ label: 'name', bbox: [5, 0, 15, 10], value: '张三' }, false], // IoU 1/3
      [{ label: 'name', bbox: [0, 0, 10, 10], value: '李四' }, false],
    ];
    for (const [field, ok] of variants) {
      expect(evaluateImages(gt, [{ image_id: 'x', fields: [field] }]).metrics.overall.tp, JSON.stringify(field)).toBe(ok ? 1 : 0);
    }
    // --iou 0.3 admits the IoU-1/3 box; --match location admits the wrong value.
    expect(evaluateImages(gt, [{ image_id: 'x', fields: [variants[2]![0]] }], { iou: 0.3 }).metrics.overall.tp).toBe(1);
    expect(evaluateImages(gt, [{ image_id: 'x', fields: [variants[3]![0]] }], { match: 'location' }).metrics.overall.tp).toBe(1);
  });
});

describe('metrics and samples', () => {
  const gt: RawImage[] = [
    { image_id: 'p1', fields: [
      { label: 'name', bbox: [10, 10, 110, 40], value: '张三' },
      { label: 'amount', bbox: [10, 100, 210, 130], value: '¥120,000.00' },
    ] },
    { image_id: 'p2', fields: [{ label: 'name', bbox: [10, 10, 110, 40], value: '李四' }] },
    { image_id: 'p3', fields: [{ label: 'name', bbox: [0, 0, 50, 20], value: '王五' }] },
  ];
  const pred: RawImage[] = [
    { image_id: 'p1', latency_ms: 100, fields: [
      { label: 'name', bbox: [12, 10, 110, 41], value: '张三', confidence: 0.9 },
      { label: 'amount', bbox: [10, 100, 210, 130], value: '¥12,000.00', confidence: 0.7 },
    ] },
    { image_id: 'p2', latency_ms: 300, fields: [{ label: 'name', bbox: [10, 10, 110, 40], value: '李 四', confidence: 0.8 }] },
    { image_id: 'p9', latency_ms: 200, fields: [{ label: 'name', bbox: [0, 0, 5, 5], value: 'x', confidence: 0.1 }] },
  ];
  const { metrics: m, samples } = evaluateImages(gt, pred);

  it('counts TP/FP/FN, P/R/F1 micro and per field', () => {
    expect(m.overall).toMatchObject({ tp: 2, fp: 2, fn: 2, precision: 0.5, recall: 0.5, f1: 0.5 });
    expect(m.per_field.name).toMatchObject({ tp: 2, fp: 1, fn: 1, support: 3 });
    expect(m.per_field.amount).toMatchObject({ tp: 0, fp: 1, fn: 1, support: 1, precision: 0, recall: 0, f1: 0 });
    expect(m.images).toBe(3);
    expect(m.images_without_predictions).toBe(1);
    expect(m.images_only_in_predictions).toBe(1);
    expect(m.image_miss_rate).toBeCloseTo(2 / 3, 12); // p1 (amount) and p3 (everything)
    expect(m.overall.exact_match).toBeCloseTo(1 / 4, 12); // 张三 identical; 李 四 matched leniently but not identical
    expect(m.box_iou_ge_0_8).toBeCloseTo(3 / 4, 12);
    expect(m.latency_ms).toEqual({ mean: 200, p50: 200, p95: 290, p99: 298, images: 3 });
    expect(m.config).toMatchObject({ iou_threshold: 0.5, normalize: 'lenient', match: 'value', matching: 'maximum', tokenize: '13a' });
  });

  it('writes per-image samples in the mlloop/samples@1 form', () => {
    expect(samples.map((s) => s.image_id)).toEqual(['p1', 'p2', 'p3', 'p9']);
    expect(samples[0]).toEqual({
      image_id: 'p1', tp: 1, fp: 1, fn: 1,
      per_field: { name: { tp: 1, fp: 0, fn: 0 }, amount: { tp: 0, fp: 1, fn: 1 } },
      fields: [
        { label: 'name', status: 'tp', gt: '张三', pred: '张三', iou: samples[0]!.fields[0]!.iou },
        { label: 'amount', status: 'fn', gt: '¥120,000.00', pred: null, iou: null },
        { label: 'amount', status: 'fp', gt: null, pred: '¥12,000.00', iou: 1 },
      ],
    });
    expect(samples[0]!.fields[0]!.iou).toBeCloseTo((98 * 30) / (100 * 30 + 98 * 31 - 98 * 30), 12);
    expect(samples[2]).toEqual({ image_id: 'p3', tp: 0, fp: 0, fn: 1, per_field: { name: { tp: 0, fp: 0, fn: 1 } }, fields: [{ label: 'name', status: 'fn', gt: '王五', pred: null, iou: null }] });
    expect(samples[3]).toMatchObject({ image_id: 'p9', tp: 0, fp: 1, fn: 0, fields: [{ status: 'fp', gt: null, iou: null }] });
    // Summed over lines, the per-image counts are the overall counts (what the gate resamples).
    const sum = samples.reduce((a, s) => ({ tp: a.tp + s.tp, fp: a.fp + s.fp, fn: a.fn + s.fn }), { tp: 0, fp: 0, fn: 0 });
    expect(sum).toEqual({ tp: m.overall.tp, fp: m.overall.fp, fn: m.overall.fn });
  });

  it('BLEU pairs each GT value with its best-IoU same-label prediction ("" when none)', async () => {
    const { corpusBleu } = await import('../../src/core/bleu/bleu.js');
    // GT order: 张三 / ¥120,000.00 / 李四 / 王五 against 张三 / ¥12,000.00 / 李 四 / "".
    const expected = corpusBleu(['张三', '¥12,000.00', '李 四', ''], [['张三', '¥120,000.00', '李四', '王五']]);
    expect(m.bleu).toBeCloseTo(expected.score, 12);
    expect(m.config.bleu_signature).toBe(expected.signature);
  });

  it('an empty evaluation is all zeros, not NaN, and has no map50 or latency', () => {
    const e = evaluateImages([{ image_id: 'a', fields: [] }], []).metrics;
    expect(e.overall).toMatchObject({ precision: 0, recall: 0, f1: 0, tp: 0, fp: 0, fn: 0, exact_match: 0 });
    expect(e.overall.map50).toBeUndefined();
    expect(e.latency_ms).toBeUndefined();
    expect(JSON.stringify(e)).not.toMatch(/NaN|null/);
  });
});
