// Issue 13, "Numbers that cannot be right": ids beyond 2^53, a label named __proto__, boxes and latencies
// at the top of the double range, metrics outside their definition's range and unknown schema versions.
import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { expectBadInput, mlloop, tmp } from './helpers.js';

const field = (label: string, value = 'v', extra: Record<string, unknown> = {}) => ({ label, bbox: [0, 0, 10, 10], value, ...extra });

function writeFields(dir: string, name: string, images: unknown[], meta: Record<string, unknown> = { dataset: 'd' }): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify({ ...meta, images }));
  return file;
}

describe('numeric ids beyond 2^53 are never rounded into another id', () => {
  it('a fields file (JSON): exit 2 naming the file and the JSON path', async () => {
    const d = tmp();
    // Written as raw JSON text: JSON.stringify could not even express these ids.
    writeFileSync(join(d, 'gt.json'), `{"dataset": "d", "images": [{"image_id": 123456789012345678, "fields": []}, {"image_id": 123456789012345679, "fields": []}]}`);
    const pred = writeFields(d, 'pred.json', [{ image_id: 'x', fields: [] }]);
    const r = await mlloop(['evaluate', '--gt', join(d, 'gt.json'), '--pred', pred, '--out', join(d, 'm.json')], d);
    expectBadInput(r, `${join(d, 'gt.json')}: $.images[0].image_id`, /too large to be read exactly/, /as JSON strings/);
    expect(existsSync(join(d, 'm.json'))).toBe(false);
  });

  it('a fields file (JSONL): the line is named', async () => {
    const d = tmp();
    writeFileSync(join(d, 'pred.jsonl'), `{"image_id": "a", "fields": []}\n{"image_id": 123456789012345679, "fields": []}\n`);
    const gt = writeFields(d, 'gt.json', [{ image_id: 'a', fields: [] }]);
    const r = await mlloop(['evaluate', '--gt', gt, '--pred', join(d, 'pred.jsonl')], d);
    expectBadInput(r, `${join(d, 'pred.jsonl')}:2: $.image_id`);
  });

  it('safe numeric ids still work (and match their string form)', async () => {
    const d = tmp();
    writeFileSync(join(d, 'gt.json'), `{"dataset": "d", "images": [{"image_id": 9007199254740991, "fields": [{"label": "a", "bbox": [0, 0, 10, 10], "value": "x"}]}]}`);
    const pred = writeFields(d, 'pred.json', [{ image_id: '9007199254740991', fields: [field('a', 'x')] }]);
    const r = await mlloop(['evaluate', '--gt', join(d, 'gt.json'), '--pred', pred, '--out', join(d, 'm.json')], d);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(d, 'm.json'), 'utf8')).overall.tp).toBe(1);
  });

  it('a samples file: exit 2, never two images paired as one', async () => {
    const d = tmp();
    const line = (id: string) => `{"image_id": ${id}, "tp": 1, "fp": 0, "fn": 0, "per_field": {}}`;
    writeFileSync(join(d, 'c.jsonl'), `${line('123456789012345678')}\n${line('123456789012345679')}\n`);
    writeFileSync(join(d, 'b.jsonl'), `${line('"123456789012345678"')}\n${line('"123456789012345679"')}\n`);
    writeFileSync(join(d, 'm.json'), JSON.stringify({ overall: { f1: 1, tp: 2, fp: 0, fn: 0 } }));
    writeFileSync(join(d, 'gate.yaml'), 'metrics:\n  overall.f1: {direction: higher}\nsignificance: {metric: overall.f1, test: paired-bootstrap, resamples: 100, require: none}\n');
    const r = await mlloop(['gate', '--candidate', join(d, 'm.json'), '--baseline', join(d, 'm.json'), '--candidate-samples', join(d, 'c.jsonl'), '--baseline-samples', join(d, 'b.jsonl'), '--policy', join(d, 'gate.yaml'), '--out', join(d, 'v.json')], d);
    expectBadInput(r, join(d, 'c.jsonl'), '$.image_id', /line 1/);
  });

  it('comment --pr must be a safe positive integer (it was posted to another number)', async () => {
    const d = tmp();
    writeFileSync(join(d, 'body.md'), 'report\n');
    for (const pr of ['123456789012345678', '0', '-3', '1.5', '1e3000']) {
      const r = await mlloop(['comment', '--body', join(d, 'body.md'), '--pr', pr, '--repository', 'o/r', '--token', 't', '--api-url', 'http://127.0.0.1:9'], d);
      expectBadInput(r, /--pr/);
    }
  });

  it('gate --pr likewise', async () => {
    const d = tmp();
    const r = await mlloop(['gate', '--candidate', 'm.json', '--baseline', 'm.json', '--policy', 'p.yaml', '--pr', '123456789012345678'], d);
    expectBadInput(r, /--pr/, /too large to be exact/);
  });

  it('the PR number in the sidecar FILE.json likewise (exit 2 naming it)', async () => {
    const d = tmp();
    writeFileSync(join(d, 'body.md'), 'report\n');
    writeFileSync(join(d, 'body.md.json'), '{"pr": 123456789012345678, "marker": "gate"}');
    const r = await mlloop(['comment', '--body', join(d, 'body.md'), '--repository', 'o/r', '--token', 't', '--api-url', 'http://127.0.0.1:9'], d);
    expectBadInput(r, `${join(d, 'body.md')}.json: $.pr`);
  });
});

describe('a label named __proto__ is a label like any other', () => {
  it('it is kept in per_field of metrics.json and samples.jsonl, and the gate checks it', async () => {
    const d = tmp();
    const gt = writeFields(d, 'gt.json', [{ image_id: 'a', fields: [field('__proto__', 'x'), field('constructor', 'y'), field('name', 'z')] }]);
    const pred = writeFields(d, 'pred.json', [{ image_id: 'a', fields: [field('__proto__', 'x'), field('name', 'wrong')] }], { dataset: 'd', model_version: 'm' });
    const r = await mlloop(['evaluate', '--gt', gt, '--pred', pred, '--out', join(d, 'm.json'), '--samples', join(d, 's.jsonl')], d);
    expect(r.code, r.stderr).toBe(0);
    const text = readFileSync(join(d, 'm.json'), 'utf8');
    const m = JSON.parse(text);
    expect(Object.keys(m.per_field).sort()).toEqual(['__proto__', 'constructor', 'name']);
    expect(m.per_field.__proto__).toMatchObject({ tp: 1, fp: 0, fn: 0, recall: 1, support: 1 });
    expect(m.per_field.constructor).toMatchObject({ tp: 0, fn: 1, support: 1 });
    const line = JSON.parse(readFileSync(join(d, 's.jsonl'), 'utf8').trim());
    expect(Object.keys(line.per_field).sort()).toEqual(['__proto__', 'constructor', 'name']);
    writeFileSync(join(d, 'gate.yaml'), 'metrics:\n  per_field.__proto__.recall: {direction: higher, min: 1}\nper_field: {metric: recall, max_regression: 0, min_support: 0}\n');
    const g = await mlloop(['gate', '--candidate', join(d, 'm.json'), '--baseline', join(d, 'm.json'), '--policy', join(d, 'gate.yaml'), '--out', join(d, 'v.json')], d);
    expect(g.code, g.stderr).toBe(0);
    const v = JSON.parse(readFileSync(join(d, 'v.json'), 'utf8'));
    expect(v.checks.map((c: { id: string }) => c.id)).toEqual(expect.arrayContaining(['per_field.__proto__.recall ≥ min', expect.stringMatching(/^per_field\.__proto__\.recall /), expect.stringMatching(/^per_field\.constructor\.recall /)]));
  });
});

describe('bounds from the contracts are checked at the door', () => {
  it.each([
    ['identical boxes at 1e308 (the IoU overflowed)', [0, 0, 1e308, 1e308]],
    ['a coordinate beyond 1e9', [0, 0, 2e9, 10]],
    ['a negative coordinate beyond -1e9', [-2e9, 0, 10, 10]],
  ])('%s: exit 2 naming the bbox', async (_n, bbox) => {
    const d = tmp();
    const gt = writeFields(d, 'gt.json', [{ image_id: 'a', fields: [{ label: 'n', bbox, value: 'x' }] }]);
    const pred = writeFields(d, 'pred.json', [{ image_id: 'a', fields: [{ label: 'n', bbox, value: 'x' }] }]);
    const r = await mlloop(['evaluate', '--gt', gt, '--pred', pred, '--out', join(d, 'm.json')], d);
    expectBadInput(r, /(gt|pred)\.json: \$\.images\[0\]\.fields\[0\]\.bbox/, /1000000000/);
    expect(existsSync(join(d, 'm.json'))).toBe(false);
  });

  it('latencies of 1e308 give a finite mean (it was null), and 1e400 (Infinity) is refused', async () => {
    const d = tmp();
    const gt = writeFields(d, 'gt.json', [{ image_id: 'a', fields: [] }, { image_id: 'b', fields: [] }]);
    const pred = writeFields(d, 'pred.json', [{ image_id: 'a', latency_ms: 1e308, fields: [] }, { image_id: 'b', latency_ms: 1.7e308, fields: [] }]);
    const r = await mlloop(['evaluate', '--gt', gt, '--pred', pred, '--out', join(d, 'm.json')], d);
    expect(r.code, r.stderr).toBe(0);
    const lat = JSON.parse(readFileSync(join(d, 'm.json'), 'utf8')).latency_ms;
    expect(lat.mean).toBeCloseTo(1.35e308, -300);
    expect(Object.values(lat).every((x) => typeof x === 'number' && Number.isFinite(x))).toBe(true);
    writeFileSync(join(d, 'inf.json'), '{"dataset": "d", "images": [{"image_id": "a", "latency_ms": 1e400, "fields": []}]}');
    expectBadInput(await mlloop(['evaluate', '--gt', gt, '--pred', join(d, 'inf.json')], d), '$.images[0].latency_ms');
  });

  it('train refuses {"f1": 1e400} from the training command', async () => {
    const d = tmp();
    mkdirSync(join(d, 'repo'));
    const script = "require('fs').mkdirSync('outputs',{recursive:true});require('fs').writeFileSync('outputs/metrics.json','{\"overall\": {\"f1\": 1e400}}')";
    writeFileSync(join(d, 'repo', 'train.js'), script);
    const r = await mlloop(['train', '--repo', join(d, 'repo'), '--command', 'node train.js'], d);
    expectBadInput(r, /metrics\.json: \$\.overall\.f1/, /not a finite number/);
  });
});

describe('metrics outside their definition\'s range, and unknown schemas, are refused by gate and compare', () => {
  const good = { schema: 'mlloop/metrics@1', dataset: 'd', overall: { precision: 0.9, recall: 0.8, f1: 0.85, tp: 8, fp: 1, fn: 2 }, per_field: { name: { precision: 0.9, recall: 0.8, f1: 0.85, tp: 8, fp: 1, fn: 2, support: 10 } }, bleu: 70, images: 10 };
  const cases: [string, (m: any) => void, string][] = [
    ['overall.f1: 1.5', (m) => (m.overall.f1 = 1.5), '$.overall.f1'],
    ['a negative recall', (m) => (m.overall.recall = -0.1), '$.overall.recall'],
    ['per-field precision above 1', (m) => (m.per_field.name.precision = 1.01), '$.per_field.name.precision'],
    ['a fractional count', (m) => (m.overall.tp = 2.5), '$.overall.tp'],
    ['a negative count', (m) => (m.per_field.name.support = -1), '$.per_field.name.support'],
    ['bleu above 100', (m) => (m.bleu = 100.5), '$.bleu'],
    ['an unknown schema version', (m) => (m.schema = 'mlloop/metrics@9'), '$.schema'],
    ['another schema', (m) => (m.schema = 'mlloop/verdict@1'), '$.schema'],
  ];
  it.each(cases)('%s', async (_n, spoil, at) => {
    const d = tmp();
    const bad = structuredClone(good);
    spoil(bad);
    writeFileSync(join(d, 'good.json'), JSON.stringify(good));
    writeFileSync(join(d, 'bad.json'), JSON.stringify(bad));
    writeFileSync(join(d, 'gate.yaml'), 'metrics:\n  overall.f1: {direction: higher, max_regression: 0.5}\n');
    for (const [c, b] of [['bad.json', 'good.json'], ['good.json', 'bad.json']] as const) {
      const g = await mlloop(['gate', '--candidate', join(d, c), '--baseline', join(d, b), '--policy', join(d, 'gate.yaml'), '--out', join(d, 'v.json')], d);
      expectBadInput(g, `${join(d, 'bad.json')}: ${at}`);
      expect(existsSync(join(d, 'v.json'))).toBe(false);
    }
    const r = await mlloop(['compare', '--candidate', join(d, 'bad.json'), '--baseline', join(d, 'good.json'), '--no-pdf', '--out-dir', join(d, 'reports')], d);
    expectBadInput(r, `${join(d, 'bad.json')}: ${at}`);
    expect(existsSync(join(d, 'reports'))).toBe(false);
  });

  it('the same file within range passes, and a metrics file without a schema keeps its own scales', async () => {
    const d = tmp();
    writeFileSync(join(d, 'good.json'), JSON.stringify(good));
    writeFileSync(join(d, 'dvc.json'), JSON.stringify({ dataset: 'd', accuracy: 97.5, loss: 1.5 }));
    writeFileSync(join(d, 'gate.yaml'), 'metrics:\n  overall.f1: {direction: higher, max_regression: 0}\n');
    expect((await mlloop(['gate', '--candidate', join(d, 'good.json'), '--baseline', join(d, 'good.json'), '--policy', join(d, 'gate.yaml'), '--out', join(d, 'v.json')], d)).code).toBe(0);
    writeFileSync(join(d, 'gate2.yaml'), 'metrics:\n  accuracy: {direction: higher, min: 90}\n');
    const r = await mlloop(['gate', '--candidate', join(d, 'dvc.json'), '--baseline', join(d, 'dvc.json'), '--policy', join(d, 'gate2.yaml'), '--out', join(d, 'v2.json')], d);
    expect(r.code, r.stderr).toBe(0);
  });
});
