// Small, consistent evaluation outputs for tests: per-image samples (mlloop/samples@1) and the
// metrics.json (mlloop/metrics@1) they sum to, for two models on the same test set.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Xoshiro128 } from '../../src/core/stats/prng.js';
import { tempDir } from '../support/tmp.js';

export const LABELS = ['name', 'id_number', 'effective_date', 'amount'] as const;

export interface ModelSpec {
  version: string;
  /** Probability that a field is missed, per label. */
  miss: Partial<Record<(typeof LABELS)[number], number>>;
  falsePositive: number;
  latencyMs: number;
}

interface Line {
  image_id: string;
  tp: number;
  fp: number;
  fn: number;
  per_field: Record<string, { tp: number; fp: number; fn: number }>;
  fields: { label: string; status: string; gt: string | null; pred: string | null; iou: number | null }[];
}

const VALUES: Record<string, (i: number) => string> = {
  name: (i) => ['张三', '李四', '王五', 'Zoë <b>Ward</b>'][i % 4]!,
  id_number: (i) => `1101011990${String(i).padStart(8, '0')}`,
  effective_date: (i) => `2025-0${(i % 9) + 1}-1${i % 10}`,
  amount: (i) => `¥${(i * 1300 + 12000).toLocaleString('en-US')}.00`,
};

/** Per-image outcomes of a model; `difficulty` is shared so two models err on similar images. */
export function simulate(spec: ModelSpec, images: number, seed: number, difficulty: Float64Array): Line[] {
  const g = new Xoshiro128(seed);
  const lines: Line[] = [];
  for (let i = 0; i < images; i++) {
    const line: Line = { image_id: `policy-test-${String(i).padStart(5, '0')}`, tp: 0, fp: 0, fn: 0, per_field: {}, fields: [] };
    LABELS.forEach((label, k) => {
      const c = { tp: 0, fp: 0, fn: 0 };
      const gt = VALUES[label]!(i);
      const u = 0.75 * difficulty[i * 4 + k]! + 0.25 * g.uniform();
      if (u < (spec.miss[label] ?? 0.05)) {
        c.fn++;
        line.fields.push({ label, status: 'fn', gt, pred: null, iou: null });
        if (g.uniform() < 0.5) {
          c.fp++;
          line.fields.push({ label, status: 'fp', gt: null, pred: gt.slice(0, -1) + '8', iou: 0.9 });
        }
      } else {
        c.tp++;
        line.fields.push({ label, status: 'tp', gt, pred: gt, iou: 0.92 });
      }
      if (g.uniform() < spec.falsePositive) {
        c.fp++;
        line.fields.push({ label, status: 'fp', gt: null, pred: `${gt}?`, iou: 0.3 });
      }
      line.per_field[label] = c;
      line.tp += c.tp;
      line.fp += c.fp;
      line.fn += c.fn;
    });
    lines.push(line);
  }
  return lines;
}

const prf = (tp: number, fp: number, fn: number) => {
  const p = tp + fp ? tp / (tp + fp) : 0;
  const r = tp + fn ? tp / (tp + fn) : 0;
  return { precision: p, recall: r, f1: p + r ? (2 * p * r) / (p + r) : 0, tp, fp, fn };
};

export function metricsOf(lines: Line[], spec: ModelSpec, dataset: string): Record<string, unknown> {
  const sum = (f: (l: Line) => number) => lines.reduce((a, l) => a + f(l), 0);
  const perField: Record<string, unknown> = {};
  for (const label of LABELS) {
    const tp = sum((l) => l.per_field[label]!.tp);
    const fp = sum((l) => l.per_field[label]!.fp);
    const fn = sum((l) => l.per_field[label]!.fn);
    perField[label] = { ...prf(tp, fp, fn), support: tp + fn };
  }
  return {
    schema: 'mlloop/metrics@1',
    model_version: spec.version,
    dataset,
    overall: { ...prf(sum((l) => l.tp), sum((l) => l.fp), sum((l) => l.fn)), exact_match: 0.9 },
    per_field: perField,
    box_iou_ge_0_8: 0.89,
    image_miss_rate: lines.filter((l) => l.fn > 0).length / lines.length,
    images: lines.length,
    latency_ms: { mean: spec.latencyMs, p50: spec.latencyMs * 0.9, p95: spec.latencyMs * 1.6, p99: spec.latencyMs * 2 },
    bleu: 71.2,
    config: { iou_threshold: 0.5, normalize: 'lenient', matching: 'maximum' },
  };
}

export interface Pair {
  dir: string;
  candidate: { metrics: string; samples: string; data: Record<string, unknown> };
  baseline: { metrics: string; samples: string; data: Record<string, unknown> };
}

/** Writes candidate and baseline metrics.json + samples.jsonl into a fresh temp folder. */
export function writePair(cand: ModelSpec, base: ModelSpec, opts: { images?: number; dataset?: string; dir?: string } = {}): Pair {
  const dir = opts.dir ?? tempDir('gate');
  const images = opts.images ?? 400;
  const g = new Xoshiro128(99);
  const difficulty = Float64Array.from({ length: images * 4 }, () => g.uniform());
  const write = (spec: ModelSpec, seed: number, name: string) => {
    const lines = simulate(spec, images, seed, difficulty);
    const data = metricsOf(lines, spec, opts.dataset ?? 'invoice-test-2025Q1');
    const metrics = join(dir, `${name}.metrics.json`);
    const samples = join(dir, `${name}.samples.jsonl`);
    writeFileSync(metrics, JSON.stringify(data, null, 2));
    writeFileSync(samples, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    return { metrics, samples, data };
  };
  return { dir, candidate: write(cand, 1, 'candidate'), baseline: write(base, 2, 'baseline') };
}

export const V25: ModelSpec = { version: 'ocr-v2.5', miss: { name: 0.09, id_number: 0.1, effective_date: 0.08, amount: 0.12 }, falsePositive: 0.06, latencyMs: 126 };
export const V30: ModelSpec = { version: 'ocr-v3.0', miss: { name: 0.05, id_number: 0.06, effective_date: 0.05, amount: 0.07 }, falsePositive: 0.05, latencyMs: 145 };
