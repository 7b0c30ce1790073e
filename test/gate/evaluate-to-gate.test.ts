// The loop as users run it: `mlloop evaluate --samples` on two models' predictions, then `gate` and
// `compare` on what evaluate wrote — the contracts between the commands (metrics@1, samples@1) hold.
import { describe, expect, it } from 'vitest';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli } from '../support/run.js';
import { Xoshiro128 } from '../../src/core/stats/prng.js';
import { tempDir } from '../support/tmp.js';

const LABELS = ['name', 'id_number', 'effective_date', 'amount'];

function data(dir: string, images: number) {
  const g = new Xoshiro128(11);
  const gt = { dataset: 'invoice-test-2025Q1', images: [] as unknown[] };
  const pred = (version: string) => ({ dataset: 'invoice-test-2025Q1', model_version: version, images: [] as unknown[] });
  const a = pred('ocr-v2.5');
  const b = pred('ocr-v3.0');
  for (let i = 0; i < images; i++) {
    const fields = LABELS.map((label, k) => ({ label, bbox: [10, 40 * k + 10, 300, 40 * k + 40], value: `${label}-${i}` }));
    gt.images.push({ image_id: `img-${String(i).padStart(4, '0')}`, fields });
    const u = fields.map(() => g.uniform());
    for (const [p, miss] of [[a, 0.12], [b, 0.04]] as const) {
      p.images.push({
        image_id: `img-${String(i).padStart(4, '0')}`,
        latency_ms: 120 + (p === b ? 15 : 0) + (i % 7),
        fields: fields.map((f, k) => ({ ...f, value: u[k]! < miss ? `${f.value}x` : f.value, confidence: 0.9 })),
      });
    }
  }
  writeFileSync(join(dir, 'gt.json'), JSON.stringify(gt));
  writeFileSync(join(dir, 'v25.json'), JSON.stringify(a));
  writeFileSync(join(dir, 'v30.json'), JSON.stringify(b));
}

describe('evaluate → gate → compare', () => {
  it('gates and reports on evaluate\'s own outputs', async () => {
    const dir = tempDir('loop');
    data(dir, 300);
    for (const v of ['v25', 'v30']) {
      const r = await cli(['evaluate', '--gt', 'gt.json', '--pred', `${v}.json`, '--out', `${v}.metrics.json`, '--samples', `${v}.samples.jsonl`], { cwd: dir });
      expect(r.code, r.stderr).toBe(0);
    }
    writeFileSync(join(dir, 'gate.yaml'), 'name: ocr-gate\nmetrics:\n  overall.f1: {direction: higher, max_regression: 0}\n  latency_ms.p95: {direction: lower, max_regression_relative: 0.2}\nper_field: {metric: recall, max_regression: 0.02, min_support: 20}\nsignificance: {test: mcnemar, per_field: true, correction: bh}\n');
    const gate = await cli(['gate', '--candidate', 'v30.metrics.json', '--candidate-samples', 'v30.samples.jsonl', '--baseline', 'v25.metrics.json', '--baseline-samples', 'v25.samples.jsonl', '--json'], { cwd: dir });
    expect(gate.code, gate.stderr).toBe(0);
    const v = JSON.parse(gate.stdout);
    expect(v.significance.overall.images).toBe(300);
    expect(v.significance.overall.p_value).toBeLessThan(0.05);
    expect(v.significance.per_field.map((f: { field: string }) => f.field).sort()).toEqual([...LABELS].sort());
    const compare = await cli(['compare', '--candidate', 'v30.metrics.json', '--candidate-samples', 'v30.samples.jsonl', '--baseline', 'v25.metrics.json', '--baseline-samples', 'v25.samples.jsonl', '--verdict', 'verdict.json', '--no-pdf', '--json'], { cwd: dir });
    expect(compare.code, compare.stderr).toBe(0);
    const c = JSON.parse(compare.stdout);
    expect(c.report_dir).toBe(join(dir, 'compare_reports', 'ocr-v3.0_vs_ocr-v2.5'));
    expect(c.recommendation.level).toBe('warn'); // the gate passed; p95 latency rose
    expect(c.images_differing).toBeGreaterThan(10);
    const html = readFileSync(join(c.report_dir, 'samples_diff.html'), 'utf8');
    expect(html).toContain('fixed by the candidate');
  });
});
