import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { checkAmount, checkCnId, checkDate, cnIdCheckChar, garbledRatio, guessFormat, parseAmount } from '../../src/core/ct/formats.js';
import { selectForRelabel, type PredictedImage } from '../../src/core/ct/select.js';
import { parseInferenceLine } from '../../src/core/ct/inference-log.js';
import { batchTasks, buildTasks, labelConfig, postTasks, defaultNames } from '../../src/core/ct/label-studio.js';
import { ConfigurationError, ExternalError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { EXAMPLE } from '../support/paths.js';
import { parseLabelConfig, startLabelStudioServer, validateTask, type LabelStudioServer } from '../support/label-studio-server.js';

describe('format checks', () => {
  it.each([
    ['2025-06-12', true],
    ['2025/6/12', true],
    ['2025.06.12', true],
    ['2025年6月12日', true],
    ['20250612', true],
    ['2024-02-29', true],
    ['2025-02-29', false],
    ['98-12-00', false],
    ['2025-13-01', false],
    ['1850-01-01', false],
    ['June 12', false],
  ])('date %s → %s', (v, ok) => expect(checkDate(v) === null).toBe(ok));

  it.each([
    ['11010519491231002X', true],
    ['11010519491231002x', true],
    ['110105194912310021', false],
    ['1101051949123100', false],
    ['110105194902300028', false],
    ['01010519491231002X', false],
    ['11O10519491231002X', false],
  ])('ID number %s → %s', (v, ok) => expect(checkCnId(v) === null).toBe(ok));

  it('the check digit agrees with the example generator (ISO 7064 MOD 11-2) on 300 random numbers', () => {
    const script = ['import random, sys', `sys.path.insert(0, ${JSON.stringify(EXAMPLE)})`, 'from generate_data import id_checksum', 'rng = random.Random(5)', 'for _ in range(300):', '    p = "".join(str(rng.randrange(10)) for _ in range(17))', '    print(p + id_checksum(p))'].join('\n');
    const ids = execFileSync('python3', ['-c', script], { encoding: 'utf8' }).trim().split('\n');
    expect(ids).toHaveLength(300);
    for (const id of ids) expect(cnIdCheckChar(id.slice(0, 17))).toBe(id[17]);
  });

  it.each([
    ['300000.00', 300000],
    ['¥300,000', 300000],
    ['￥1,234,567.89', 1234567.89],
    ['30万', 300000],
    ['RMB 1.5亿元', 150000000],
    ['500元整', 500],
    ['30万x', null],
    ['abc', null],
    ['1,00', null],
    ['12.345', null],
  ])('amount %s → %s', (v, n) => expect(parseAmount(v)).toBe(n));

  it('zero amounts fail', () => expect(checkAmount('0.00')?.why).toMatch(/not positive/));

  it.each([
    ['张三', 0],
    ['Zhang San 2025-06-12', 0],
    ['\uFFFD\uFFFD三', 2 / 3],
    ['å¼ ä¸\u0089', 1],
    ['', 0],
  ])('garbled ratio of %j is %d', (v, r) => expect(garbledRatio(v)).toBeCloseTo(r, 6));

  it.each([
    ['effective_date', 'date'],
    ['id_number', 'cn-id'],
    ['amount', 'amount'],
    ['name', 'none'],
    ['生效日期', 'date'],
  ])('guesses the check of %s: %s', (l, k) => expect(guessFormat(l)).toBe(k));
});

const rec = (file_id: string, confidence_score: number | null, extra: Record<string, unknown> = {}) => parseInferenceLine({ file_id, confidence_score, error: '', status: 'success', model_version: 'v3.2.1', timestamp: '2025-06-12T16:22:10', ...extra }, 1, 'log.jsonl')!;
const img = (image_id: string, fields: [string, string | null, number, [number, number, number, number]?][]): PredictedImage => ({
  image_id,
  fields: fields.map(([label, value, confidence, bbox]) => ({ label, value, confidence, bbox: bbox ?? [100, 100, 300, 140] })),
});
const GOOD: [string, string | null, number][] = [
  ['name', '张三', 0.95],
  ['id_number', '11010519491231002X', 0.93],
  ['effective_date', '2025-06-12', 0.97],
  ['amount', '300000.00', 0.9],
];
const rules = { threshold: 0.6, keyFields: ['name', 'id_number', 'effective_date', 'amount'], formats: {}, maxGarbled: 0.3 };

describe('selection and ranking', () => {
  it.each([
    ['a confident, well-formed file is not selected', rec('a', 0.95), GOOD, []],
    ['confidence below 0.6 (the seed: uuid-998, 0.42)', rec('a', 0.42), GOOD, ['low_confidence']],
    ['no confidence score at all', rec('a', null), GOOD, ['low_confidence']],
    ['an inference error', rec('a', 0.9, { error: 'missing field', status: 'fail' }), GOOD, ['inference_error']],
    ['an empty key field (name is NULL)', rec('a', 0.9), [['name', null, 0.2], ...GOOD.slice(1)], ['empty_field']],
    ['a missing key field', rec('a', 0.9), GOOD.slice(1), ['empty_field']],
    ['a date that is not a day (98-12-00)', rec('a', 0.9), [GOOD[0], GOOD[1], ['effective_date', '98-12-00', 0.8], GOOD[3]], ['bad_format']],
    ['an ID number with a wrong check digit', rec('a', 0.9), [GOOD[0], ['id_number', '110105194912310021', 0.9], GOOD[2], GOOD[3]], ['bad_format']],
    ['an amount that is not a number', rec('a', 0.9), [GOOD[0], GOOD[1], GOOD[2], ['amount', '三十万x', 0.9]], ['bad_format']],
    ['garbled text', rec('a', 0.9), [['name', 'å¼ ä¸\u0089', 0.9], ...GOOD.slice(1)], ['garbled']],
  ] as const)('%s', (_n, r, fields, codes) => {
    const preds = new Map([['a', img('a', (fields as readonly (readonly [string, string | null, number])[]).map((f) => [...f] as [string, string | null, number]))]]);
    const out = selectForRelabel([r], preds, rules);
    expect(out.flatMap((c) => c.reasons.map((x) => x.code)).sort()).toEqual([...codes].sort());
  });

  it('uses the values the inference log recorded when there are no predictions (the seed example)', () => {
    const seed = rec('uuid-998', 0.42, { error: '字段缺失', status: 'fail', fields: { name: null, effective_date: '98-12-00', amount: '30万' } });
    const [c] = selectForRelabel([seed], new Map(), { ...rules, keyFields: ['name', 'effective_date', 'amount'] });
    expect(c!.reasons.map((r) => `${r.code}:${r.field ?? ''}`)).toEqual(['low_confidence:', 'inference_error:', 'empty_field:name', 'bad_format:effective_date']);
    expect(c!.uncertainty).toBeCloseTo(0.58, 10);
  });

  it('ranks by uncertainty, then by number of reasons, then by file id', () => {
    const log = [rec('c', 0.5), rec('a', 0.3), rec('b', 0.5, { error: 'x', status: 'fail' }), rec('d', 0.95), rec('e', 0.5)];
    const preds = new Map([['d', img('d', [['name', '张三', 0.1]])]]);
    const order = selectForRelabel(log, preds, { ...rules, keyFields: [] }).map((c) => c.file_id);
    expect(order).toEqual(['d', 'a', 'b', 'c', 'e']);
  });
});

describe('Label Studio export', () => {
  const size = { width: 1000, height: 2000 };
  const candidates = selectForRelabel([rec('uuid-1', 0.42)], new Map([['uuid-1', img('uuid-1', [['name', '张三', 0.95, [100, 200, 300, 260]], ['amount', '30万x', 0.4, [500, 1000, 700, 1040]]])]]), { ...rules, keyFields: ['name', 'amount'] });
  const tasks = buildTasks(candidates, { imageUrl: (id) => `s3://scans/${id}.png`, sizeOf: () => size });
  const config = labelConfig(['amount', 'name']);

  it('writes boxes as rectangle labels and values as per-region text, in percent of the image, linked by id', () => {
    const [t] = tasks;
    expect(t!.data).toMatchObject({ image: 's3://scans/uuid-1.png', file_id: 'uuid-1' });
    const p = t!.predictions[0]!;
    expect(p.model_version).toBe('v3.2.1');
    expect(p.score).toBeCloseTo(0.4, 10);
    expect(p.result).toHaveLength(4);
    const [rect, text] = p.result;
    expect(rect).toMatchObject({ type: 'rectanglelabels', from_name: 'label', to_name: 'image', original_width: 1000, original_height: 2000, value: { x: 10, y: 10, width: 20, height: 3, rotation: 0, rectanglelabels: ['name'] } });
    expect(text).toMatchObject({ type: 'textarea', from_name: 'transcription', to_name: 'image', value: { x: 10, y: 10, width: 20, height: 3, text: ['张三'] } });
    expect(rect!.id).toBe(text!.id);
    expect(new Set(p.result.map((r) => r.id)).size).toBe(2);
  });

  it('is valid Label Studio import format for the labeling config it comes with', () => {
    const parsed = parseLabelConfig(config);
    expect(parsed.variables).toEqual(['image']);
    for (const t of tasks) expect(validateTask(t, parsed)).toBeNull();
    expect(validateTask(tasks[0], parseLabelConfig(labelConfig(['name'])))).toMatch(/label "amount" is not defined/);
  });

  it('refuses boxes without an image size, saying how to give one', () => {
    expect(() => buildTasks(candidates, { imageUrl: (id) => id, sizeOf: () => undefined })).toThrow(/--docs|--image-size/);
  });

  it('batches within the task and byte limits', () => {
    const many = Array.from({ length: 5 }, () => tasks[0]!);
    expect(batchTasks(many, 2, 1e9).map((b) => JSON.parse(b).length)).toEqual([2, 2, 1]);
    const one = Buffer.byteLength(JSON.stringify(tasks[0]));
    expect(batchTasks(many, 100, one * 2 + 10).map((b) => JSON.parse(b).length)).toEqual([2, 2, 1]);
    expect(() => batchTasks(many, 100, 10)).toThrow(ConfigurationError);
  });
});

describe('posting to the Label Studio import API', () => {
  let ls: LabelStudioServer;
  const tasks = buildTasks(
    selectForRelabel(
      Array.from({ length: 5 }, (_, i) => rec(`uuid-${i}`, 0.1 * i)),
      new Map(Array.from({ length: 5 }, (_, i) => [`uuid-${i}`, img(`uuid-${i}`, GOOD.map((g) => [...g]))])),
      rules,
    ),
    { imageUrl: (id) => `/data/${id}.png`, sizeOf: () => ({ width: 1240, height: 1754 }) },
  );
  beforeAll(async () => {
    ls = await startLabelStudioServer({ projects: [{ id: 7, label_config: labelConfig(rules.keyFields) }] });
  });
  afterAll(() => ls.close());
  const post = (o: Partial<Parameters<typeof postTasks>[0]> = {}) => postTasks({ url: ls.url, project: 7, token: ls.token, scheme: 'Token', tasks, batchSize: 2, log: silentLogger, sleep: async () => {}, ...o });

  it('imports every task in batches with token auth', async () => {
    const before = ls.requests.length;
    const out = await post();
    expect(out).toMatchObject({ batches: 3, task_count: 5, prediction_count: 5 });
    expect(out.task_ids).toHaveLength(5);
    const reqs = ls.requests.slice(before);
    expect(reqs.map((r) => [r.method, r.path, r.authorization, r.tasks, r.status])).toEqual([
      ['POST', '/api/projects/7/import', `Token ${ls.token}`, 2, 201],
      ['POST', '/api/projects/7/import', `Token ${ls.token}`, 2, 201],
      ['POST', '/api/projects/7/import', `Token ${ls.token}`, 1, 201],
    ]);
    const stored = ls.projects.get(7)!.tasks.slice(-5);
    expect(stored.map((t) => t.data.file_id)).toEqual(tasks.map((t) => t.data.file_id));
    expect(stored[0]!.predictions[0]!.result).toHaveLength(8);
  });

  it('retries 503 and 429 (Retry-After) and then succeeds', async () => {
    ls.failNext(503);
    ls.failNext(429, 1, { 'retry-after': '1' });
    const waits: number[] = [];
    const out = await post({ batchSize: 10, sleep: async (ms) => void waits.push(ms) });
    expect(out.task_count).toBe(5);
    expect(waits).toHaveLength(2);
    expect(waits[1]).toBe(1000);
  });

  it('gives up after the retries with an outside failure (exit 3) saying what was already imported', async () => {
    ls.failNext(503, 2);
    const before = ls.projects.get(7)!.tasks.length;
    const err = await post({ batchSize: 3, retries: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExternalError);
    expect((err as Error).message).toMatch(/failed after 2 attempts: HTTP 503/);
    expect(ls.projects.get(7)!.tasks.length).toBe(before);
  });

  it.each([
    ['a wrong token', { token: 'nope-nope' }, /refused the token \(HTTP 401: Invalid token\.\)/],
    ['an unknown project', { project: 99 }, /no project 99/],
    ['tasks that do not fit the labeling config', { tasks: buildTasks([], { imageUrl: (x) => x, sizeOf: () => undefined }).concat([{ ...tasks[0]!, data: { file_id: 'x' } }]) }, /does not contain the "image" variable/],
  ] as const)('%s is the user\'s to fix (exit 2)', async (_n, o, msg) => {
    const waits: number[] = [];
    const err = await post({ ...o, sleep: async (ms) => void waits.push(ms) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigurationError);
    expect((err as Error).message).toMatch(msg);
    expect(waits).toEqual([]);
  });

  it('names the tags the config must have when names differ', async () => {
    const other = buildTasks([], { imageUrl: (x) => x, sizeOf: () => undefined, names: { ...defaultNames, rectangles: 'bbox' } });
    expect(other).toEqual([]);
    const renamed = JSON.parse(JSON.stringify(tasks[0])) as (typeof tasks)[number];
    renamed.predictions[0]!.result[0]!.from_name = 'bbox';
    const err = await post({ tasks: [renamed] }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/from_name "bbox" is not a control tag/);
  });
});
