import * as path from 'node:path';
import { defineCommand } from './define.js';
import { mdTable, mdText, textTable, formatNumber } from '../core/format/markdown.js';
import { TOKENIZERS } from '../core/bleu/tokenize.js';
import type { MetricsDoc } from '../core/evaluate/evaluate.js';

export const command = defineCommand({
  name: 'evaluate',
  summary: 'score predictions against ground truth field by field: P/R/F1, exact match, AP50, BLEU, latency',
  description:
    'Compares predictions with ground truth (both mlloop/fields@1, JSON or JSONL) image by image. A prediction and a GT ' +
    'field are eligible when the label is equal, IoU ≥ --iou and the values are equal after --normalize; TP/FP/FN come ' +
    'from a maximum one-to-one matching of eligible pairs per image and label (not greedy; ties go to higher IoU). ' +
    'Writes mlloop/metrics@1 with precision/recall/F1 overall (micro) and per field, exact_match, box_iou_ge_0_8, ' +
    'image_miss_rate, latency percentiles, corpus BLEU (as sacrebleu) and AP at IoU 0.5 per field with COCO\'s rules ' +
    '(equal to pycocotools with --match location), plus a config block recording every setting. With --samples, one ' +
    'JSON line per image with its tp/fp/fn and per-field outcomes (the paired data for the gate\'s significance tests). ' +
    'JSONL inputs sorted by image_id are streamed together (memory: one image); otherwise the smaller side is indexed.',
  options: {
    gt: { type: 'path', required: true, help: 'ground truth, mlloop/fields@1 (.json, or .jsonl with one image per line)', placeholder: 'FILE' },
    pred: { type: 'path', required: true, help: 'predictions, mlloop/fields@1 with confidence and latency_ms', placeholder: 'FILE' },
    out: { type: 'path', default: 'metrics.json', help: 'where to write the metrics (mlloop/metrics@1)', placeholder: 'FILE' },
    samples: { type: 'path', help: 'also write one JSON line per image with its tp/fp/fn and field outcomes (mlloop/samples@1)', placeholder: 'FILE' },
    iou: { type: 'number', default: 0.5, min: 0, max: 1, help: 'minimum IoU for a prediction to match a GT field' },
    normalize: { type: 'enum', choices: ['lenient', 'exact'], default: 'lenient', help: 'value comparison: lenient (NFKC, case-fold, no whitespace/punctuation, numbers as numbers) or exact (raw strings)' },
    match: { type: 'enum', choices: ['value', 'location'], default: 'value', help: 'value: label, IoU and value must agree; location: label and IoU only (detection metrics)' },
    tokenize: { type: 'enum', choices: TOKENIZERS, default: '13a', help: 'sacrebleu tokenizer for the BLEU of field values (zh for Chinese text)' },
    'model-version': { type: 'string', help: 'the model version recorded in metrics.json (and so named by gate and compare), e.g. ocr-v3.2 [default: the predictions\' model_version]', placeholder: 'V' },
  },
  outputs: {
    f1: 'overall.f1 (micro over all fields)',
    precision: 'overall.precision',
    recall: 'overall.recall',
    'exact-match': 'overall.exact_match',
    map50: 'overall.map50 (mean AP at IoU 0.5 over the labels in the ground truth)',
    bleu: 'corpus BLEU of the field values, 0–100',
    'image-miss-rate': 'share of GT images with at least one missed field',
    'latency-p95': 'latency_ms.p95 of the predictions (empty when they carry no latency_ms)',
    'metrics-path': 'path of the metrics file written',
    'samples-path': 'path of the samples file written (empty without samples)',
    metrics: 'the headline metrics as JSON',
  },
  examples: [
    { command: 'mlloop evaluate --gt sample_data/test/gt.json --pred pred.json --out metrics.json', explain: 'the seed\'s evaluation step: field-level metrics of a model\'s predictions' },
    { command: 'mlloop evaluate --gt gt.jsonl --pred pred.jsonl --samples samples.jsonl --tokenize zh', explain: 'stream large JSONL sets, keep per-image outcomes for `mlloop gate --candidate-samples`, BLEU on Chinese text' },
    { command: 'mlloop evaluate --gt gt.json --pred pred.json --match location --iou 0.7 --json', explain: 'detection quality only (values ignored), stricter boxes, result as JSON' },
  ],
  async run(o, ctx) {
    const { evaluateFiles } = await import('../core/evaluate/run.js');
    const resolve = (f: string) => path.resolve(ctx.cwd, f);
    const out = resolve(o.out);
    const samples = o.samples ? resolve(o.samples) : undefined;
    ctx.log.progress(`evaluating ${o.pred} against ${o.gt}`);
    const { metrics: m, join } = await evaluateFiles({
      gt: resolve(o.gt),
      pred: resolve(o.pred),
      out,
      samples,
      iou: o.iou,
      normalize: o.normalize,
      match: o.match,
      tokenize: o.tokenize,
      modelVersion: o.modelVersion,
      log: ctx.log,
    });
    ctx.log.debug(`join: ${join}`);
    const headline = headlineOf(m);
    return {
      exitCode: 0,
      data: { ...m, metrics_path: out, samples_path: samples ?? null },
      text: [formatHeadline(m), '', textTable(...perFieldTable(m)), '', `metrics: ${shown(ctx.cwd, out)}${samples ? `\nsamples: ${shown(ctx.cwd, samples)}` : ''}`].join('\n'),
      summary: [`### mlloop evaluate: F1 ${formatNumber(m.overall.f1)}`, '', formatHeadline(m, (s) => mdText(s)).replace(/^/gm, '> '), '', mdTable(...perFieldTable(m), ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r']), '', `<sub>${mdText(configLine(m), Infinity)}</sub>`, ''].join('\n'),
      outputs: {
        f1: m.overall.f1,
        precision: m.overall.precision,
        recall: m.overall.recall,
        'exact-match': m.overall.exact_match,
        map50: m.overall.map50 ?? '',
        bleu: m.bleu,
        'image-miss-rate': m.image_miss_rate,
        'latency-p95': m.latency_ms?.p95 ?? '',
        'metrics-path': out,
        'samples-path': samples ?? '',
        metrics: JSON.stringify(headline),
      },
    };
  },
});

/** A path as people want to read it: relative below the working directory, absolute elsewhere. */
function shown(cwd: string, file: string): string {
  const rel = path.relative(cwd, file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

function headlineOf(m: MetricsDoc): Record<string, number> {
  const h: Record<string, number> = { f1: m.overall.f1, precision: m.overall.precision, recall: m.overall.recall, exact_match: m.overall.exact_match };
  if (m.overall.map50 !== undefined) h.map50 = m.overall.map50;
  h.bleu = m.bleu;
  h.image_miss_rate = m.image_miss_rate;
  h.box_iou_ge_0_8 = m.box_iou_ge_0_8;
  if (m.latency_ms) h['latency_ms.p95'] = m.latency_ms.p95;
  return h;
}

/** The headline; `text` escapes the names from data for the target format (mdText in the job summary). */
function formatHeadline(m: MetricsDoc, text: (s: string) => string = (s) => s): string {
  const o = m.overall;
  const lat = m.latency_ms ? `latency p50/p95/p99 ${formatNumber(m.latency_ms.p50, 1)}/${formatNumber(m.latency_ms.p95, 1)}/${formatNumber(m.latency_ms.p99, 1)} ms` : 'no latency_ms in the predictions';
  const missing = m.images_without_predictions ? `, ${m.images_without_predictions} without predictions` : '';
  const extra = m.images_only_in_predictions ? `, ${m.images_only_in_predictions} only in predictions` : '';
  return [
    `${text(m.model_version ?? 'predictions')} on ${text(m.dataset ?? 'ground truth')}: ${m.images} images${missing}${extra}`,
    `F1 ${formatNumber(o.f1)}  precision ${formatNumber(o.precision)}  recall ${formatNumber(o.recall)}  (TP ${o.tp}, FP ${o.fp}, FN ${o.fn})`,
    `exact match ${formatNumber(o.exact_match)}  mAP50 ${formatNumber(o.map50)}  BLEU ${formatNumber(m.bleu, 2)}  box IoU≥0.8 ${formatNumber(m.box_iou_ge_0_8)}  image miss rate ${formatNumber(m.image_miss_rate)}`,
    lat,
  ].join('\n');
}

function perFieldTable(m: MetricsDoc): [string[], (string | number)[][]] {
  const rows = Object.entries(m.per_field).map(([label, f]) => [label, f.support, f.tp, f.fp, f.fn, formatNumber(f.precision), formatNumber(f.recall), formatNumber(f.f1), formatNumber(f.ap50)]);
  return [['field', 'support', 'tp', 'fp', 'fn', 'precision', 'recall', 'f1', 'ap50'], rows];
}

function configLine(m: MetricsDoc): string {
  const c = m.config;
  return `IoU ≥ ${c.iou_threshold}, normalize ${c.normalize}, match ${c.match}, ${c.matching} matching, AP ${c.ap}, BLEU ${c.bleu_signature}`;
}
