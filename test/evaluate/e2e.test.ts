import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { cli, run, runAction } from '../support/run.js';
import { EXAMPLE } from '../support/paths.js';
import { tempDir } from './helpers.js';
import { python } from './python.js';

// The example model repository end to end: train briefly, predict the test split, evaluate through
// dist/ as a user (CLI) and as the runner (action) would.
const GT = join(EXAMPLE, 'sample_data', 'test', 'gt.json');
let dir: string;
let pred: string;

beforeAll(async () => {
  dir = tempDir();
  const train = await run('python3', ['train.py', '--epochs', '2', '--data', 'sample_data', '--out', join(dir, 'model')], { cwd: EXAMPLE, timeoutMs: 300_000 });
  expect(train.code, train.stderr).toBe(0);
  pred = join(dir, 'pred.json');
  const p = await run('python3', ['predict.py', '--model', join(dir, 'model'), '--data', 'sample_data/test', '--out', pred], { cwd: EXAMPLE, timeoutMs: 300_000 });
  expect(p.code, p.stderr).toBe(0);
}, 600_000);

describe('mlloop evaluate on the example model (dist/cli.cjs)', () => {
  it('writes metrics.json and samples.jsonl and prints a per-field table', async () => {
    const out = join(dir, 'cli', 'metrics.json');
    const samples = join(dir, 'cli', 'samples.jsonl');
    const r = await cli(['evaluate', '--gt', GT, '--pred', pred, '--out', out, '--samples', samples]);
    expect(r.code, r.stderr).toBe(0);
    const m = JSON.parse(readFileSync(out, 'utf8'));
    expect(m.schema).toBe('mlloop/metrics@1');
    expect(m.dataset).toBe('ocr-fields-sample-test');
    expect(m.model_version).toMatch(/^ocr-fields-/);
    expect(Object.keys(m.per_field).sort()).toEqual(['amount', 'effective_date', 'id_number', 'name']);
    expect(m.images).toBe(200);
    for (const k of ['precision', 'recall', 'f1', 'exact_match', 'map50']) expect(m.overall[k]).toBeGreaterThan(0.2);
    expect(m.latency_ms.p95).toBeGreaterThan(0);
    expect(r.stdout).toMatch(/field\s+support\s+tp\s+fp\s+fn\s+precision\s+recall\s+f1\s+ap50/);
    expect(r.stdout).toMatch(new RegExp(`F1 ${m.overall.f1.toFixed(4)}`));
    const lines = readFileSync(samples, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(200);
    expect(lines[0].image_id).toBe('policy-test-00001');
    expect(lines.reduce((a: number, l: { tp: number }) => a + l.tp, 0)).toBe(m.overall.tp);
    // --json prints the same document.
    const j = await cli(['evaluate', '--gt', GT, '--pred', pred, '--out', join(dir, 'cli', 'm2.json'), '--json']);
    expect(j.code).toBe(0);
    const data = JSON.parse(j.stdout);
    expect({ ...data, metrics_path: undefined, samples_path: undefined }).toEqual({ ...m, metrics_path: undefined, samples_path: undefined });
  });

  it('--match location: mAP50 equals pycocotools on the example', async () => {
    const out = join(dir, 'loc.json');
    const r = await cli(['evaluate', '--gt', GT, '--pred', pred, '--out', out, '--match', 'location']);
    expect(r.code, r.stderr).toBe(0);
    const m = JSON.parse(readFileSync(out, 'utf8'));
    const ref = await python<{ map: number }>(
      `
import sys, json, contextlib, numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
a = json.load(sys.stdin)
gt, pr = json.load(open(a['gt'])), json.load(open(a['pred']))
labels = sorted({f['label'] for im in gt['images'] for f in im['fields']})
cat = {l: i + 1 for i, l in enumerate(labels)}
ids = {im['image_id']: i + 1 for i, im in enumerate(sorted(gt['images'], key=lambda im: im['image_id']))}
xywh = lambda b: [b[0], b[1], b[2] - b[0], b[3] - b[1]]
anns = [{'id': k + 1, 'image_id': ids[im['image_id']], 'category_id': cat[f['label']], 'bbox': xywh(f['bbox']), 'area': xywh(f['bbox'])[2] * xywh(f['bbox'])[3], 'iscrowd': 0}
        for k, (im, f) in enumerate((im, f) for im in gt['images'] for f in im['fields'])]
dets = [{'image_id': ids[im['image_id']], 'category_id': cat[f['label']], 'bbox': xywh(f['bbox']), 'score': f['confidence']} for im in pr['images'] for f in im['fields']]
with contextlib.redirect_stdout(sys.stderr):
    c = COCO(); c.dataset = {'images': [{'id': i} for i in ids.values()], 'annotations': anns, 'categories': [{'id': v, 'name': k} for k, v in cat.items()]}; c.createIndex()
    E = COCOeval(c, c.loadRes(dets), 'bbox'); E.params.iouThrs = np.array([0.5]); E.params.maxDets = [1000]
    E.evaluate(); E.accumulate()
p = E.eval['precision'][0, :, :, 0, 0]
print(json.dumps({'map': float(np.mean(p[p > -1]))}))
`,
      { gt: GT, pred },
    );
    expect(Math.abs(m.overall.map50 - ref.map)).toBeLessThan(1e-12);
  });

  it('bad input exits 2 naming file, image and JSON path, and writes nothing', async () => {
    const bad = join(dir, 'bad.json');
    const doc = JSON.parse(readFileSync(pred, 'utf8'));
    doc.images[3].fields[0].bbox = [100, 50, 40, 80];
    writeFileSync(bad, JSON.stringify(doc));
    const out = join(dir, 'bad-out', 'metrics.json');
    const r = await cli(['evaluate', '--gt', GT, '--pred', bad, '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${bad}: $.images[3].fields[0].bbox: image "${doc.images[3].image_id}": bbox [100,50,40,80] has x2 < x1`);
    expect(r.stderr).toContain('fix: ');
    expect(r.stderr).not.toMatch(/at .*\.cjs/); // no stack trace
    expect(existsSync(out)).toBe(false);
    const r2 = await cli(['evaluate', '--gt', GT, '--pred', pred, '--iou', '1.5']);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain('--iou must be at most 1');
  });
});

describe('actions/evaluate (dist/evaluate.cjs as the runner runs it)', () => {
  it('sets the headline outputs and writes the per-field table to the job summary', async () => {
    const work = tempDir();
    const a = await runAction('evaluate', { gt: GT, pred, out: 'metrics.json', samples: 'samples.jsonl', iou: '0.5', normalize: 'lenient', match: 'value', tokenize: 'zh' }, { cwd: work });
    expect(a.code, a.stdout + a.stderr).toBe(0);
    const m = JSON.parse(readFileSync(join(work, 'metrics.json'), 'utf8'));
    expect(Number(a.outputs.f1)).toBe(m.overall.f1);
    expect(Number(a.outputs.precision)).toBe(m.overall.precision);
    expect(Number(a.outputs.recall)).toBe(m.overall.recall);
    expect(Number(a.outputs.map50)).toBe(m.overall.map50);
    expect(Number(a.outputs.bleu)).toBe(m.bleu);
    expect(Number(a.outputs["latency-p95"])).toBe(m.latency_ms.p95);
    expect(a.outputs['metrics-path']).toBe(join(work, 'metrics.json'));
    expect(a.outputs['samples-path']).toBe(join(work, 'samples.jsonl'));
    expect(JSON.parse(a.outputs.metrics!)).toMatchObject({ f1: m.overall.f1, bleu: m.bleu });
    expect(JSON.parse(a.outputs.result!).overall).toEqual(m.overall);
    expect(m.config.tokenize).toBe('zh');
    expect(a.summary).toContain('### mlloop evaluate: F1');
    expect(a.summary).toMatch(/\| field \| support \| tp \| fp \| fn \| precision \| recall \| f1 \| ap50 \|/);
    for (const label of ['amount', 'effective_date', 'id_number', 'name']) expect(a.summary).toContain(`| ${label} |`);
  });

  it('fails with exit 2 and the message on bad input', async () => {
    const work = tempDir();
    writeFileSync(join(work, 'pred.json'), '{"dataset": "x"}');
    const a = await runAction('evaluate', { gt: GT, pred: 'pred.json' }, { cwd: work });
    expect(a.code).toBe(2);
    expect(a.stdout).toMatch(/::error::.*pred\.json: \$\.images: predictions: "images" is missing/);
    expect(readdirSync(work)).toEqual(['pred.json']);
  });
});

describe('mlloop bleu (dist/cli.cjs) equals sacrebleu', () => {
  it.each(['13a', 'zh', 'char', 'none'])('--tokenize %s, two references', async (tok) => {
    const work = tempDir();
    const gt = JSON.parse(readFileSync(GT, 'utf8'));
    const p = JSON.parse(readFileSync(pred, 'utf8'));
    const refs = gt.images.map((im: { fields: { value: string }[] }) => im.fields.map((f) => f.value).join(' '));
    const hyps = gt.images.map((im: { image_id: string }) => (p.images.find((x: { image_id: string }) => x.image_id === im.image_id)?.fields ?? []).map((f: { value: string }) => f.value).join(' '));
    const refs2 = refs.map((r: string, i: number) => (i % 2 ? r : `保单 ${r}`));
    writeFileSync(join(work, 'hyp.txt'), `${hyps.join('\n')}\n`);
    writeFileSync(join(work, 'ref1.txt'), `${refs.join('\n')}\n`);
    writeFileSync(join(work, 'ref2.txt'), `${refs2.join('\n')}\n`);
    const r = await cli(['bleu', '--hyp', 'hyp.txt', '--ref', 'ref1.txt', '--ref', 'ref2.txt', '--tokenize', tok, '--json'], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    const ours = JSON.parse(r.stdout);
    const ref = await python<{ score: number; sig: string }>(
      'import sys, json, sacrebleu\na = json.load(sys.stdin)\nfrom sacrebleu.metrics import BLEU\nb = BLEU(tokenize=a["tok"])\ns = b.corpus_score(a["h"], a["r"])\nprint(json.dumps({"score": s.score, "sig": str(b.get_signature())}))',
      { tok, h: hyps, r: [refs, refs2] },
    );
    expect(Math.abs(ours.score - ref.score)).toBeLessThan(1e-6);
    expect(ours.signature).toBe(ref.sig);
    expect(ours.score).toBeGreaterThan(10);
    const text = await cli(['bleu', '--hyp', 'hyp.txt', '--ref', 'ref1.txt', '--ref', 'ref2.txt', '--tokenize', tok], { cwd: work });
    expect(text.stdout).toMatch(new RegExp(`^BLEU = ${ref.score.toFixed(2)} `));
  });

  it('a reference file with a different number of lines exits 2', async () => {
    const work = tempDir();
    writeFileSync(join(work, 'hyp.txt'), 'a b c\nd e f\n');
    writeFileSync(join(work, 'ref.txt'), 'a b c\n');
    const r = await cli(['bleu', '--hyp', 'hyp.txt', '--ref', 'ref.txt'], { cwd: work });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('ref.txt: the reference file has 1 line(s) but the hypothesis file hyp.txt has 2');
  });
});
