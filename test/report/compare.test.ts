// `mlloop compare` through dist/: the report folder, opened in real headless Chromium (no console errors,
// no network, non-empty charts, escaped text) and the PDF read back with pdftotext.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { cli, run, runAction } from '../support/run.js';
import { writePair, V25, V30, type ModelSpec } from '../gate/fixtures.js';
import { CHROMIUM_ARGS } from '../../src/core/report/pdf.js';
import { tool } from '../support/tools.js';

// The candidate regresses on one field and is slower: both must show.
const V31: ModelSpec = { ...V30, version: 'ocr-v3.1', miss: { ...V30.miss, amount: 0.2 } };

let browser: Browser;
beforeAll(async () => {
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({ executablePath: tool('chromium'), args: CHROMIUM_ARGS });
});
afterAll(() => browser?.close());

async function open(file: string) {
  const page = await browser.newPage();
  const problems: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('request', (r) => {
    if (!r.url().startsWith('file://')) requests.push(r.url());
  });
  await page.goto(`file://${file}`, { waitUntil: 'load' });
  return { page, problems, requests };
}

function makeReport(extra: string[] = [], cand: ModelSpec = V31) {
  const p = writePair(cand, V25);
  const history = join(p.dir, 'history.jsonl');
  writeFileSync(history, [
    { model_version: 'ocr-v2.3', date: '2025-03-01', metrics: { overall: { f1: 0.9, recall: 0.91, precision: 0.89 }, image_miss_rate: 0.12 } },
    { model_version: 'ocr-v2.4', date: '2025-04-01', metrics: { overall: { f1: 0.92, recall: 0.93, precision: 0.91 }, image_miss_rate: 0.1 } },
  ].map((l) => JSON.stringify(l)).join('\n'));
  return {
    p,
    args: ['compare', '--candidate', 'candidate.metrics.json', '--baseline', 'baseline.metrics.json', '--candidate-samples', 'candidate.samples.jsonl', '--baseline-samples', 'baseline.samples.jsonl', '--history', 'history.jsonl', '--evaluator', 'QA <team>', '--job-id', '777', ...extra],
  };
}

describe('mlloop compare', () => {
  let dir: string;
  let out: { code: number | null; stdout: string; stderr: string };
  beforeAll(async () => {
    const { p, args } = makeReport();
    out = await cli([...args, '--json'], { cwd: p.dir, env: { GITHUB_RUN_ID: '', GITHUB_ACTOR: '' } });
    dir = join(p.dir, 'compare_reports', 'ocr-v3.1_vs_ocr-v2.5');
  });

  it('writes the report folder the seed describes, and metadata with versions, dataset, job and report ids', () => {
    expect(out.code, out.stderr).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['metadata.json', 'report.md', 'report.pdf', 'samples_diff.html', 'summary_metrics.html']);
    const meta = JSON.parse(readFileSync(join(dir, 'metadata.json'), 'utf8'));
    const result = JSON.parse(out.stdout);
    expect(meta).toMatchObject({ schema: 'mlloop/compare@1', report_id: result.report_id, dataset: 'invoice-test-2025Q1', candidate: { model_version: 'ocr-v3.1' }, baseline: { model_version: 'ocr-v2.5' }, job: { run_id: '777' }, evaluator: 'QA <team>' });
    expect(meta.report_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(meta.mlloop_version).toMatch(/^\d+\.\d+\.\d+/);
    expect(meta.images_compared).toBe(400);
    expect(meta.recommendation.level).toBe('no');
    expect(readFileSync(join(dir, 'report.md'), 'utf8')).toMatch(/\| Field recall \| .* \| .* \| [+−]/);
  });

  it('summary_metrics.html opens without console errors or network, highlights the regression and flags the latency increase', async () => {
    const { page, problems, requests } = await open(join(dir, 'summary_metrics.html'));
    expect(problems).toEqual([]);
    expect(requests).toEqual([]);
    const headers = await page.$eval('table.summary', (t) => [...t.querySelectorAll('thead th')].map((th) => th.textContent));
    expect(headers).toEqual(['Metric', 'ocr-v2.5', 'ocr-v3.1', 'Delta', 'Highlight', 'Note']);
    const regressed = await page.$$eval('tr.regressed td:first-child', (tds) => tds.map((t) => t.textContent));
    expect(regressed.join()).toMatch(/amount/);
    const warnings = await page.$$eval('tr.warning td:last-child', (tds) => tds.map((t) => t.textContent));
    expect(warnings.join()).toMatch(/latency increased/);
    // Every chart is drawn: bars with width, polygons with points, a trend line over 4 versions.
    for (const cls of ['metric-bars', 'delta-bars', 'radar', 'trend']) {
      const shapes = await page.$$eval(`svg.${cls} rect.bar, svg.${cls} polygon.series, svg.${cls} polyline.series`, (els) => els.map((e) => (e as unknown as { getBBox(): { width: number; height: number } }).getBBox()).filter((b) => b.width > 0 || b.height > 0).length);
      expect(shapes, cls).toBeGreaterThan(0);
    }
    const trendLabels = await page.$$eval('svg.trend text', (ts) => ts.map((t) => t.textContent));
    expect(trendLabels).toEqual(expect.arrayContaining(['ocr-v2.3', 'ocr-v2.4', 'ocr-v2.5', 'ocr-v3.1']));
    await page.close();
  });

  it('samples_diff.html lists the images where the models differ, broken first, before/after, with every value escaped', async () => {
    const { page, problems, requests } = await open(join(dir, 'samples_diff.html'));
    expect(problems).toEqual([]);
    expect(requests).toEqual([]);
    const badges = await page.$$eval('section.sample h3 .badge', (b) => b.map((x) => x.textContent));
    expect(badges.length).toBeGreaterThan(5);
    expect(badges[0]).toBe('broken by the candidate');
    const firstBroken = badges.indexOf('broken by the candidate');
    const firstFixed = badges.indexOf('fixed by the candidate');
    expect(firstFixed === -1 || firstBroken < firstFixed).toBe(true);
    expect(await page.$$eval('section.sample thead th', (t) => t.slice(0, 4).map((x) => x.textContent))).toEqual(['Field', 'Ground truth', 'Before (baseline)', 'After (candidate)']);
    expect(await page.$$eval('section.sample .wrong', (w) => w.length)).toBeGreaterThan(0);
    // The fixture's name "Zoë <b>Ward</b>" is text, never markup.
    expect(await page.$$eval('section.sample td b', (b) => b.length)).toBe(0);
    expect(await page.textContent('body')).toContain('Zoë <b>Ward</b>');
    await page.close();
  });

  it('report.pdf has the cover, chart and table, typical error samples, recommendation and a footer with versions and ids', async () => {
    const meta = JSON.parse(readFileSync(join(dir, 'metadata.json'), 'utf8'));
    const text = (await run(tool('pdftotext'), ['-layout', join(dir, 'report.pdf'), '-'])).stdout;
    for (const s of ['mlloop model comparison report', 'compared with ocr-v2.5', 'Evaluated by', 'QA <team>', 'Dataset', 'Summary metrics', 'Metric comparison', 'Summary table', 'Typical error samples', 'Recommendation', 'Not recommended for release']) expect(text).toContain(s);
    expect(text).toContain(`report ${meta.report_id}`);
    expect(text).toContain(`mlloop ${meta.mlloop_version}`);
    expect(text).toContain('job 777');
    const info = (await run(tool('pdfinfo'), [join(dir, 'report.pdf')])).stdout;
    expect(Number(/Pages:\s+(\d+)/.exec(info)![1])).toBeGreaterThanOrEqual(3);
  });
});

describe('mlloop compare, other cases', () => {
  it('a better model with a passing verdict is recommended; --no-pdf skips Chromium', async () => {
    const { p, args } = makeReport(['--no-pdf', '--verdict', 'verdict.json'], { ...V30, latencyMs: V25.latencyMs });
    writeFileSync(join(p.dir, 'verdict.json'), JSON.stringify({ schema: 'mlloop/verdict@1', pass: true, failed: [] }));
    const r = await cli([...args, '--json'], { cwd: p.dir });
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res.recommendation.level).toBe('yes');
    expect(existsSync(join(res.report_dir, 'report.pdf'))).toBe(false);
    expect(res.files.some((f: string) => f.endsWith('report.pdf'))).toBe(false);
  });

  it('draws the trend of a CT-style history over its own metric when it has none of the headline ones', async () => {
    const { p, args } = makeReport(['--no-pdf']);
    writeFileSync(join(p.dir, 'history.jsonl'), ['{"date": "2025-06-10", "model_version": "ocr-v3.2", "metrics": {"accuracy": 0.93}}', '{"date": "2025-06-11", "model_version": "ocr-v3.2.1", "metrics": {"accuracy": 0.91}}'].join('\n'));
    const r = await cli([...args, '--json'], { cwd: p.dir });
    expect(r.code, r.stderr).toBe(0);
    const { page, problems } = await open(join(JSON.parse(r.stdout).report_dir, 'summary_metrics.html'));
    expect(problems).toEqual([]);
    expect(await page.$$eval('svg.trend polyline.series', (l) => l.length)).toBe(1);
    expect(await page.$$eval('svg.trend text', (t) => t.map((x) => x.textContent))).toEqual(expect.arrayContaining(['accuracy', 'ocr-v3.2', 'ocr-v3.2.1']));
    await page.close();
  });

  it('refuses different datasets (exit 2) and writes nothing', async () => {
    const { p, args } = makeReport(['--no-pdf']);
    const m = JSON.parse(readFileSync(join(p.dir, 'candidate.metrics.json'), 'utf8'));
    m.dataset = 'other-set';
    writeFileSync(join(p.dir, 'candidate.metrics.json'), JSON.stringify(m));
    const r = await cli(args, { cwd: p.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/different datasets/);
    expect(existsSync(join(p.dir, 'compare_reports'))).toBe(false);
  });

  it('a missing Chromium is a clear error (exit 2) and nothing is half-written', async () => {
    const { p, args } = makeReport(['--chromium', '/nonexistent/chromium']);
    const r = await cli(args, { cwd: p.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Chromium not found at \/nonexistent\/chromium[\s\S]*--no-pdf/);
    expect(existsSync(join(p.dir, 'compare_reports'))).toBe(false);
  });

  it('runs as an action: outputs and the job summary', async () => {
    const { p } = makeReport();
    const r = await runAction('compare', { candidate: 'candidate.metrics.json', baseline: 'baseline.metrics.json', pdf: 'false' }, { cwd: p.dir });
    expect(r.code, r.stdout).toBe(0);
    expect(r.outputs['report-dir']).toBe(join(p.dir, 'compare_reports', 'ocr-v3.1_vs_ocr-v2.5'));
    expect(r.outputs.recommendation).toBe('no');
    expect(r.outputs['report-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.summary).toMatch(/# Model comparison: ocr-v3.1 vs ocr-v2.5/);
    const meta = JSON.parse(readFileSync(join(r.outputs['report-dir']!, 'metadata.json'), 'utf8'));
    expect(meta.job.run_id).toBe('1234567890');
  });
});
