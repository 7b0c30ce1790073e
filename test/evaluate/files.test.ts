import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { evaluateFiles } from '../../src/core/evaluate/run.js';
import { ConfigurationError } from '../../src/core/errors.js';
import { evaluateImages, generateSet, tempDir, writeFields, type RawImage } from './helpers.js';

const { gt, pred } = generateSet(21, 400);

describe('JSON and JSONL, sorted and unsorted: the same numbers', () => {
  const expected = evaluateImages(gt, pred);

  it.each([
    ['gt.json', 'pred.json', false, 'index:pred'],
    ['gt.jsonl', 'pred.jsonl', false, 'merge'],
    ['gt.jsonl', 'pred.jsonl', true, 'index:gt'], // the smaller file (GT: no confidences) is held
    ['gt.json', 'pred.jsonl', true, 'index:gt'],
    ['gt.jsonl', 'pred.json', true, 'index:pred'],
  ] as const)('%s + %s (predictions shuffled: %s) → join %s', async (gtName, predName, shuffled, join) => {
    const dir = tempDir();
    const p = shuffled ? [...pred].sort((a, b) => (a.image_id.split('').reverse().join('') < b.image_id.split('').reverse().join('') ? -1 : 1)) : pred;
    const out = join_(dir, 'metrics.json');
    const samples = join_(dir, 'samples.jsonl');
    const r = await evaluateFiles({
      gt: writeFields(dir, gtName, gt, { dataset: 'policies-test' }),
      pred: writeFields(dir, predName, p, { model_version: 'ocr-v3.0' }),
      out,
      samples,
    });
    expect(r.join).toBe(join);
    const m = JSON.parse(readFileSync(out, 'utf8'));
    expect(m).toEqual({ ...JSON.parse(JSON.stringify(expected.metrics)), model_version: 'ocr-v3.0', dataset: 'policies-test' });
    // Samples: one line per GT image in GT order (images only in predictions last), same outcomes.
    const lines = readFileSync(samples, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(lines).toEqual(JSON.parse(JSON.stringify(expected.samples)));
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('a JSONL file named .json is read as JSONL', async () => {
    const dir = tempDir();
    const file = join_(dir, 'pred.json');
    writeFileSync(file, pred.map((p) => JSON.stringify(p)).join('\n'));
    const r = await evaluateFiles({ gt: writeFields(dir, 'gt.json', gt), pred: file });
    expect(r.metrics.overall).toEqual(expected.metrics.overall);
  });

  it('images missing from the predictions count as all missed; images only in predictions as false positives', async () => {
    const dir = tempDir();
    const extra: RawImage = { image_id: 'zzz-extra', fields: [{ label: 'name', bbox: [0, 0, 10, 10], value: 'x', confidence: 0.5 }] };
    const kept = new Set(gt.slice(0, 100).map((g) => g.image_id));
    const predSub = pred.filter((p) => kept.has(p.image_id));
    const r = await evaluateFiles({ gt: writeFields(dir, 'gt.jsonl', gt), pred: writeFields(dir, 'pred.jsonl', [...predSub, extra]) });
    const part = evaluateImages(gt.slice(0, 100), predSub).metrics;
    const gtFieldsMissed = gt.slice(100).reduce((a, g) => a + g.fields.length, 0);
    expect(r.metrics.images_without_predictions).toBe(400 - predSub.length);
    expect(r.metrics.images_only_in_predictions).toBe(1);
    expect(r.metrics.overall.tp).toBe(part.overall.tp);
    expect(r.metrics.overall.fn).toBe(part.overall.fn + gtFieldsMissed);
    expect(r.metrics.overall.fp).toBe(part.overall.fp + 1);
  });
});

function join_(...p: string[]): string {
  return join(...p);
}

async function badInput(gtDoc: string, predDoc: string, names: [string, string] = ['gt.json', 'pred.json']): Promise<{ error: ConfigurationError; dir: string }> {
  const dir = tempDir();
  writeFileSync(join(dir, names[0]), gtDoc);
  writeFileSync(join(dir, names[1]), predDoc);
  try {
    await evaluateFiles({ gt: join(dir, names[0]), pred: join(dir, names[1]), out: join(dir, 'metrics.json'), samples: join(dir, 'samples.jsonl') });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigurationError);
    // Nothing half-written.
    expect(existsSync(join(dir, 'metrics.json')) || existsSync(join(dir, 'samples.jsonl'))).toBe(false);
    expect(readdirSync(dir).sort()).toEqual([...names].sort());
    return { error: e as ConfigurationError, dir };
  }
  throw new Error('expected a ConfigurationError');
}

const okGt = JSON.stringify({ images: [{ image_id: 'a', fields: [{ label: 'name', bbox: [0, 0, 10, 10], value: '张三' }] }] });
const img = (field: Record<string, unknown>, extra: Record<string, unknown> = {}) => JSON.stringify({ images: [{ image_id: 'a', fields: [{ label: 'name', bbox: [0, 0, 10, 10], value: 'v', ...field }] }, { image_id: 'b', fields: [], ...extra }] });

describe('bad input is exit 2 naming the file, the image and the JSON path', () => {
  it.each([
    ['not JSON', okGt, '{"images": [', /pred\.json: not valid JSON at line 1/],
    ['missing images', okGt, '{"dataset": "x"}', /pred\.json: \$\.images: predictions: "images" is missing/],
    ['images not a list', okGt, '{"images": {}}', /\$\.images: "images" must be a list/],
    ['duplicate image_id', okGt, JSON.stringify({ images: [{ image_id: 'a', fields: [] }, { image_id: 'a', fields: [] }] }), /image_id "a" appears more than once/],
    ['bbox with three numbers', okGt, img({ bbox: [0, 0, 10] }), /\$\.images\[0\]\.fields\[0\]\.bbox: image "a": bbox must be four finite numbers/],
    ['bbox with a string', okGt, img({ bbox: [0, 0, '10', 10] }), /fields\[0\]\.bbox: image "a": bbox must be four finite numbers/],
    ['bbox with x2 < x1', okGt, img({ bbox: [10, 0, 5, 10] }), /fields\[0\]\.bbox: image "a": bbox \[10,0,5,10\] has x2 < x1/],
    ['bbox with y2 < y1', okGt, img({ bbox: [0, 10, 5, 0] }), /has y2 < y1/],
    ['numeric value', okGt, img({ value: 120000 }), /\$\.images\[0\]\.fields\[0\]\.value: image "a": value must be a string, not 120000/],
    ['missing value', okGt, img({ value: undefined }), /fields\[0\]\.value: image "a": value is missing/],
    ['confidence above 1', okGt, img({ confidence: 1.5 }), /fields\[0\]\.confidence: image "a": confidence must be a number in \[0, 1\], not 1.5/],
    ['confidence negative', okGt, img({ confidence: -0.1 }), /confidence must be a number in \[0, 1\]/],
    ['confidence a string', okGt, img({ confidence: '0.9' }), /confidence must be a number in \[0, 1\], not "0.9"/],
    ['missing label', okGt, img({ label: undefined }), /fields\[0\]\.label: image "a": label is missing/],
    ['missing image_id', okGt, JSON.stringify({ images: [{ fields: [] }] }), /\$\.images\[0\]\.image_id: image_id is missing/],
    ['negative latency', okGt, img({}, { latency_ms: -3 }), /\$\.images\[1\]\.latency_ms: image "b": latency_ms must be a finite number ≥ 0/],
  ])('%s', async (_name, gtDoc, predDoc, message) => {
    const { error } = await badInput(gtDoc, predDoc);
    expect(error.message).toMatch(message);
    expect(error.message).toMatch(/pred\.json/);
    expect(error.message).toMatch(/\n {2}fix: /);
  });

  it('JSONL errors name the line', async () => {
    const gtl = `{"image_id": "a", "fields": []}\n{"image_id": "b", "fields": [{"label": "name", "bbox": [0, 0, 1], "value": "x"}]}\n`;
    const { error } = await badInput(gtl, '{"image_id": "a", "fields": []}\n', ['gt.jsonl', 'pred.jsonl']);
    expect(error.message).toMatch(/gt\.jsonl:2: \$\.fields\[0\]\.bbox: image "b": bbox must be four finite numbers/);
    const { error: e2 } = await badInput(okGt, '{"image_id": "a", "fields": []}\n{"image_id": "b", "fields": [\n', ['gt.json', 'pred.jsonl']);
    expect(e2.message).toMatch(/pred\.jsonl: line 2 is not valid JSON/);
  });

  it('duplicate image_id in sorted JSONL (merged streams) and in unsorted JSONL', async () => {
    const dup = '{"image_id": "a", "fields": []}\n{"image_id": "b", "fields": []}\n{"image_id": "b", "fields": []}\n';
    expect((await badInput(dup, '{"image_id": "a", "fields": []}\n', ['gt.jsonl', 'pred.jsonl'])).error.message).toMatch(/gt\.jsonl: \$\.image_id: image_id "b" appears more than once/);
    const dupUnsorted = '{"image_id": "c", "fields": []}\n{"image_id": "a", "fields": []}\n{"image_id": "c", "fields": []}\n';
    expect((await badInput('{"image_id": "a", "fields": []}\n', dupUnsorted, ['gt.jsonl', 'pred.jsonl'])).error.message).toMatch(/pred\.jsonl: \$\.image_id: image_id "c" appears more than once/);
  });

  it('a missing file', async () => {
    await expect(evaluateFiles({ gt: '/nonexistent/gt.json', pred: '/nonexistent/pred.json' })).rejects.toThrow(/\/nonexistent\/gt\.json: ground truth file not found/);
  });
});

describe('reading JSONL in 1 MiB batches', () => {
  it('line numbers count blank lines, CRLF and lone CR as readline does', async () => {
    const { readJsonl } = await import('../../src/core/io/read.js');
    const f = join(tempDir(), 'x.jsonl');
    writeFileSync(f, '\n{"a":1}\r\n\n{"b":"张三"}\r{"c":3}\n  \n{"d":4}');
    const out = [];
    for await (const x of readJsonl(f)) out.push(x);
    expect(out).toEqual([{ value: { a: 1 }, line: 2 }, { value: { b: '张三' }, line: 4 }, { value: { c: 3 }, line: 5 }, { value: { d: 4 }, line: 7 }]);
  });

  it('multi-byte characters split across reads and lines longer than one read arrive intact', async () => {
    const { readJsonl } = await import('../../src/core/io/read.js');
    const f = join(tempDir(), 'big.jsonl');
    const lines = Array.from({ length: 3000 }, (_, i) => ({ i, v: '张三李四王五保险有限公司'.repeat(1 + (i % 40)) }));
    lines.push({ i: 3000, v: '长'.repeat(800_000) }); // one line of 2.4 MB
    lines.push({ i: 3001, v: 'end' });
    writeFileSync(f, lines.map((l) => JSON.stringify(l)).join('\n'));
    const got = [];
    for await (const x of readJsonl(f)) got.push(x.value);
    expect(got).toEqual(lines);
  });
});
