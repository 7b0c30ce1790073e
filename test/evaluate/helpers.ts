import { writeFileSync } from 'node:fs';
import { tempDir as supportTempDir } from '../support/tmp.js';
import { join } from 'node:path';
import { Evaluator, type EvaluateConfig, type MetricsDoc, type SampleLine } from '../../src/core/evaluate/evaluate.js';
import type { Image } from '../../src/core/evaluate/fields.js';
// @ts-expect-error plain ESM module without types
import { rng as benchRng } from '../../bench/_util.mjs';

export interface RawField {
  label: string;
  bbox: [number, number, number, number];
  value: string;
  confidence?: number;
}
export interface RawImage {
  image_id: string;
  latency_ms?: number;
  fields: RawField[];
}

export function toImage(r: RawImage): Image {
  return { id: r.image_id, latency: r.latency_ms, fields: r.fields.map((f) => ({ label: f.label, bbox: [...f.bbox], value: f.value, confidence: f.confidence ?? 1 })) };
}

/** Evaluates in memory, joining by image_id in GT order (predictions-only images last). */
export function evaluateImages(gt: RawImage[], pred: RawImage[], config: Partial<EvaluateConfig> = {}): { metrics: MetricsDoc; samples: SampleLine[] } {
  const ev = new Evaluator(config);
  const preds = new Map(pred.map((p) => [p.image_id, p]));
  const samples: SampleLine[] = [];
  for (const g of gt) {
    const p = preds.get(g.image_id);
    preds.delete(g.image_id);
    samples.push(ev.addImage(toImage(g), p ? toImage(p) : null, true)!);
  }
  for (const p of preds.values()) samples.push(ev.addImage(null, toImage(p), true)!);
  return { metrics: ev.metrics(), samples };
}

export function tempDir(): string {
  return supportTempDir('eval');
}

export function writeFields(dir: string, name: string, images: RawImage[], extra: Record<string, unknown> = {}): string {
  const file = join(dir, name);
  if (name.endsWith('.jsonl')) writeFileSync(file, images.map((i) => JSON.stringify({ ...extra, ...i })).join('\n') + '\n');
  else writeFileSync(file, JSON.stringify({ ...extra, images }));
  return file;
}

/** A small deterministic PRNG (mulberry32) for generated sets, shared with the benchmarks. */
export const rng = benchRng as (seed: number) => () => number;

const LABELS = ['name', 'id_number', 'effective_date', 'amount'];
const VALUES: Record<string, string[]> = {
  name: ['张三', '李四', '王五', 'Zhao Liu'],
  id_number: ['11010519491231002X', '440301199001011234', '310101198512127890'],
  effective_date: ['2025-06-12', '2024-01-01', '2025/03/15'],
  amount: ['¥120,000.00', '12万', '3,500', '80000'],
};

/**
 * A generated evaluation set shaped like OCR field extraction: GT fields on a page, predictions with
 * jittered boxes, misses, spurious fields, wrong values and duplicate detections. Boxes are on a
 * 1/8-pixel grid so corner arithmetic is exact in every tool.
 */
export function generateSet(seed: number, images: number, opts: { maxFields?: number; labels?: string[] } = {}): { gt: RawImage[]; pred: RawImage[] } {
  const r = rng(seed);
  const labels = opts.labels ?? LABELS;
  const q = (x: number) => Math.round(x * 8) / 8;
  const gt: RawImage[] = [];
  const pred: RawImage[] = [];
  for (let i = 0; i < images; i++) {
    const id = `img-${String(i).padStart(6, '0')}`;
    const g: RawField[] = [];
    const p: RawField[] = [];
    const n = Math.floor(r() * ((opts.maxFields ?? 6) + 1));
    for (let k = 0; k < n; k++) {
      const label = labels[Math.floor(r() * labels.length)]!;
      const x = q(r() * 500);
      const y = q(r() * 700);
      const w = q(20 + r() * 200);
      const h = q(10 + r() * 40);
      const vals = VALUES[label] ?? ['a', 'b', 'c'];
      const value = vals[Math.floor(r() * vals.length)]!;
      g.push({ label, bbox: [x, y, x + w, y + h], value });
      const roll = r();
      if (roll < 0.12) continue; // missed
      const jx = () => q((r() - 0.5) * w * 0.3);
      const jy = () => q((r() - 0.5) * h * 0.3);
      const conf = Math.round(r() * 1000) / 1000;
      const pv = roll < 0.25 ? vals[Math.floor(r() * vals.length)]! : value;
      p.push({ label, bbox: [x + jx(), y + jy(), x + w + jx(), y + h + jy()], value: pv, confidence: conf });
      if (roll > 0.93) p.push({ label, bbox: [x + jx(), y + jy(), x + w + jx(), y + h + jy()], value: pv, confidence: Math.round(r() * 1000) / 1000 });
    }
    if (r() < 0.2) {
      const label = labels[Math.floor(r() * labels.length)]!;
      const x = q(r() * 500);
      const y = q(r() * 700);
      p.push({ label, bbox: [x, y, x + 50, y + 20], value: 'noise', confidence: Math.round(r() * 1000) / 1000 });
    }
    gt.push({ image_id: id, fields: g });
    if (r() < 0.97) pred.push({ image_id: id, latency_ms: Math.round(50 + r() * 300), fields: p });
  }
  return { gt, pred };
}
