// Chinese reports a reader can read: the HTML declares its language and names CJK fonts, the PDF embeds a CJK
// font and gives the Chinese strings back, and no table runs past the right margin of an A4 page.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { cli } from '../support/run.js';
import { ROOT } from '../support/paths.js';
import { tool } from '../support/tools.js';
import { tempDir } from '../support/tmp.js';
import { CHROMIUM_ARGS } from '../../src/core/report/pdf.js';

/** A tool's whole stdout decoded at once (decoding chunk by chunk would split multi-byte characters). */
const toolOut = (name: 'pdffonts' | 'pdftotext', args: string[]) => execFileSync(tool(name), args, { encoding: 'utf8', maxBuffer: 64 << 20 });

const LONG_ADDRESS = '北京市朝阳区建国门外大街甲十二号新华保险大厦第二十八层东侧办公区二八零六室投保人联系地址备注信息需要完整保留以便理赔时核对'.repeat(2);
const LONG_TOKEN = `POLICY-${'7'.repeat(40)}-${'AB'.repeat(30)}`;
const GT: Record<string, string> = { 姓名: '张三', 身份证号: '110101199003071234', 生效日期: '2025年6月12日', 保险金额: '¥1,234.56', 联系地址: LONG_ADDRESS, 保单号: LONG_TOKEN };
const LABELS = Object.keys(GT);

/** Samples where the candidate fixes the address on some images and breaks the amount on one. */
function writeEvaluation(dir: string, name: string, version: string, wrong: (image: number, label: string) => boolean, labels = LABELS, gt = GT) {
  type Line = { image_id: string; tp: number; fp: number; fn: number; per_field: Record<string, { tp: number; fp: number; fn: number }>; fields: unknown[] };
  const lines: Line[] = [];
  const perField: Record<string, { tp: number; fp: number; fn: number }> = Object.fromEntries(labels.map((l) => [l, { tp: 0, fp: 0, fn: 0 }]));
  for (let i = 0; i < 30; i++) {
    const line: Line = { image_id: `保单-${String(i).padStart(3, '0')}`, tp: 0, fp: 0, fn: 0, per_field: {}, fields: [] };
    for (const label of labels) {
      const c = { tp: 0, fp: 0, fn: 0 };
      if (wrong(i, label)) {
        c.fn++;
        c.fp++;
        line.fields.push({ label, status: 'fn', gt: gt[label], pred: null, iou: null }, { label, status: 'fp', gt: null, pred: `${gt[label]!.slice(0, -1)}8`, iou: 0.9 });
      } else {
        c.tp++;
        line.fields.push({ label, status: 'tp', gt: gt[label], pred: gt[label], iou: 0.95 });
      }
      line.per_field[label] = c;
      for (const k of ['tp', 'fp', 'fn'] as const) {
        line[k] += c[k];
        perField[label]![k] += c[k];
      }
    }
    lines.push(line);
  }
  const prf = (tp: number, fp: number, fn: number) => ({ precision: tp / (tp + fp || 1), recall: tp / (tp + fn || 1), f1: (2 * tp) / (2 * tp + fp + fn || 1), tp, fp, fn });
  const sum = (k: 'tp' | 'fp' | 'fn') => lines.reduce((a, l) => a + l[k], 0);
  const metrics = {
    schema: 'mlloop/metrics@1',
    model_version: version,
    dataset: '保单测试集-2025Q1',
    overall: { ...prf(sum('tp'), sum('fp'), sum('fn')), exact_match: 0.9 },
    per_field: Object.fromEntries(Object.entries(perField).map(([l, c]) => [l, { ...prf(c.tp, c.fp, c.fn), support: c.tp + c.fn }])),
    image_miss_rate: lines.filter((l) => l.fn > 0).length / lines.length,
    images: lines.length,
    latency_ms: { mean: 120, p50: 110, p95: 180, p99: 200 },
    bleu: 70,
    config: { iou_threshold: 0.5, normalize: 'lenient', matching: 'maximum' },
  };
  writeFileSync(join(dir, `${name}.metrics.json`), JSON.stringify(metrics));
  writeFileSync(join(dir, `${name}.samples.jsonl`), `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
}

const ARGS = ['compare', '--candidate', 'candidate.metrics.json', '--baseline', 'baseline.metrics.json', '--candidate-samples', 'candidate.samples.jsonl', '--baseline-samples', 'baseline.samples.jsonl', '--evaluator', '李四', '--job-id', '42'];
// A4 with the report's print margins (@page 16mm 14mm 18mm): 210 mm − 2 × 14 mm of printable width.
const MM = 96 / 25.4;
const PRINTABLE_PX = (210 - 2 * 14) * MM;

let dir: string;
let report: string;
let chromium: string;
let browser: Browser;

beforeAll(async () => {
  dir = tempDir('cjk', { scope: 'file' });
  writeEvaluation(dir, 'baseline', 'ocr-v3.1', (i, l) => (l === '联系地址' && i % 3 === 0) || (l === '姓名' && i === 5));
  writeEvaluation(dir, 'candidate', 'ocr-v3.2', (i, l) => l === '保险金额' && i === 0);
  chromium = tool('chromium');
  const r = await cli([...ARGS, '--chromium', chromium, '--json'], { cwd: dir });
  expect(r.code, r.stderr).toBe(0);
  report = JSON.parse(r.stdout).report_dir;
  const { chromium: pw } = await import('playwright-core');
  browser = await pw.launch({ executablePath: chromium, args: CHROMIUM_ARGS });
});
afterAll(() => browser?.close());

describe('a report of Chinese policies', () => {
  it('declares zh-CN and names CJK fonts after the Latin ones, in the pages and the SVG charts', () => {
    for (const f of ['summary_metrics.html', 'samples_diff.html']) {
      const html = readFileSync(join(report, f), 'utf8');
      expect(html, f).toMatch(/^<!DOCTYPE html>\n<html lang="zh-CN">/);
      const body = /body \{ font: [^;]*?px\/[\d.]+ ([^;]+);/.exec(html)![1]!;
      const fonts = body.split(',').map((s) => s.trim().replace(/"/g, ''));
      for (const cjk of ['Noto Sans CJK SC', 'Source Han Sans SC', 'WenQuanYi Micro Hei', 'PingFang SC', 'Microsoft YaHei']) expect(fonts, f).toContain(cjk);
      expect(fonts.indexOf('Noto Sans CJK SC')).toBeGreaterThan(fonts.indexOf('Arial'));
      expect(fonts.at(-1)).toBe('sans-serif');
    }
    const svg = readFileSync(join(report, 'summary_metrics.html'), 'utf8').match(/<svg [^>]*>/g)!;
    expect(svg.length).toBeGreaterThan(2);
    for (const s of svg) expect(s).toMatch(/font-family="[^"]*Noto Sans CJK SC/);
  });

  it('Chromium draws the Chinese text with Noto Sans CJK (the font the PDF embeds)', async () => {
    const page = await browser.newPage();
    try {
      await page.emulateMedia({ media: 'print' });
      await page.goto(`file://${join(report, 'samples_diff.html')}`, { waitUntil: 'load' });
      const cdp = await page.context().newCDPSession(page);
      await cdp.send('DOM.enable');
      await cdp.send('CSS.enable');
      for (const value of ['张三', '2025年6月12日', '¥1,234.56']) {
        await page.$$eval('section.sample td', (tds, v) => tds.find((td) => td.textContent === v)?.setAttribute('data-probe', v), value);
        const { root } = await cdp.send('DOM.getDocument');
        const { nodeId } = await cdp.send('DOM.querySelector', { nodeId: root.nodeId, selector: `td[data-probe="${value}"]` });
        expect(nodeId, value).toBeGreaterThan(0);
        const { fonts } = await cdp.send('CSS.getPlatformFontsForNode', { nodeId });
        const families = fonts.map((f) => f.familyName);
        if (/\p{Script=Han}/u.test(value)) expect(families, value).toContain('Noto Sans CJK SC');
        // Nothing is drawn from a last-resort font that lacks the glyphs.
        expect(fonts.every((f) => f.glyphCount > 0)).toBe(true);
      }
    } finally {
      await page.close();
    }
  });

  it('report.pdf embeds every font and gives the Chinese labels and values back exactly', async () => {
    const pdf = join(report, 'report.pdf');
    const fonts = toolOut('pdffonts', [pdf]).split('\n').slice(2).filter(Boolean);
    // Chromium writes CFF-outline fonts such as Noto Sans CJK as (unnamed) Type 3 fonts, TrueType ones as CID fonts:
    // the Chinese glyphs are there as Type 3 fonts, and every font is embedded (column "emb"), with a Unicode map.
    expect(fonts.some((l) => /Type 3/.test(l)), fonts.join('\n')).toBe(true);
    for (const l of fonts) {
      const [emb, , uni] = l.trim().split(/\s+/).slice(-5, -2);
      expect([emb, uni], l).toEqual(['yes', 'yes']);
    }
    const text = toolOut('pdftotext', [pdf, '-']);
    for (const s of ['姓名', '身份证号', '生效日期', '保险金额', '联系地址', '张三', '¥1,234.56', '110101199003071234', '2025年6月12日', '保单测试集-2025Q1', '李四']) expect(text).toContain(s);
    // The long value is all there, wrapped over lines rather than cut at the margin.
    expect(text.replace(/\s+/g, '')).toContain(LONG_ADDRESS.slice(0, 40));
    expect(/.{0,20}[\uFFFD□].{0,20}/.exec(text)?.[0]).toBeUndefined();
  });

  it('nothing in report.pdf runs past the right margin of the A4 page', async () => {
    const xml = toolOut('pdftotext', ['-bbox', join(report, 'report.pdf'), '-']);
    const pages = [...xml.matchAll(/<page width="([\d.]+)" height="([\d.]+)">([\s\S]*?)<\/page>/g)];
    expect(pages.length).toBeGreaterThanOrEqual(3);
    const words = pages.flatMap(([, w, , body]) => [...body!.matchAll(/<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)"[^>]*>([^<]*)<\/word>/g)].map((m) => ({ page: Number(w), xMin: Number(m[1]), xMax: Number(m[2]), text: m[3]! })));
    expect(words.length).toBeGreaterThan(100);
    const right = (w: number) => w - (14 / 25.4) * 72 + 1; // the right margin is 14 mm; 1 pt of rounding
    const over = words.filter((w) => w.xMax > right(w.page) || w.xMin < 0);
    expect(over, JSON.stringify(over.slice(0, 5))).toEqual([]);
  });

  it('every table fits the printable width of A4 in print media; samples_diff.html is kept as a screenshot', async () => {
    const context = await browser.newContext({ viewport: { width: Math.floor(PRINTABLE_PX), height: 1000 } });
    try {
      const page = await context.newPage();
      await page.emulateMedia({ media: 'print' });
      for (const f of ['summary_metrics.html', 'samples_diff.html']) {
        await page.goto(`file://${join(report, f)}`, { waitUntil: 'load' });
        expect(await page.$eval('html', (h) => h.getAttribute('lang'))).toBe('zh-CN');
        const widths = await page.$$eval('table', (ts) => ts.map((t) => t.scrollWidth));
        expect(widths.length, f).toBeGreaterThan(0);
        for (const w of widths) expect(w, f).toBeLessThanOrEqual(PRINTABLE_PX);
        expect(await page.$eval('html', (h) => h.scrollWidth), f).toBeLessThanOrEqual(PRINTABLE_PX);
        // The long value is in the page, whole, and wraps inside its cell.
        if (f === 'samples_diff.html') {
          const cell = await page.$$eval('section.sample td', (tds, v) => tds.filter((td) => td.textContent === v).map((td) => ({ sw: td.scrollWidth, cw: td.clientWidth, h: td.clientHeight })), LONG_ADDRESS);
          expect(cell.length).toBeGreaterThan(0);
          for (const c of cell) {
            expect(c.sw).toBeLessThanOrEqual(c.cw);
            expect(c.h).toBeGreaterThan(40);
          }
        }
      }
      // The screenshot a reviewer looks at (uploaded by CI from test-artifacts/, which git ignores).
      await page.emulateMedia({ media: 'screen' });
      await page.setViewportSize({ width: 1000, height: 800 });
      await page.goto(`file://${join(report, 'samples_diff.html')}`, { waitUntil: 'load' });
      const shots = join(ROOT, 'test-artifacts');
      mkdirSync(shots, { recursive: true });
      const png = join(shots, 'samples_diff-zh-CN.png');
      const buf = await page.screenshot({ path: png, fullPage: true });
      expect(buf.subarray(1, 4).toString()).toBe('PNG');
      expect(readFileSync(png).length).toBeGreaterThan(10_000);
    } finally {
      await context.close();
    }
  });
});

describe('the language a report declares', () => {
  it('is en for Latin-only data, follows --lang, and a malformed --lang is bad input (exit 2)', async () => {
    const latin = tempDir('cjk-en');
    const labels = ['name', 'amount'];
    const gt = { name: 'Zoe Ward', amount: '1,234.56' };
    writeEvaluation(latin, 'baseline', 'ocr-v3.1', (i, l) => l === 'name' && i % 4 === 0, labels, gt);
    writeEvaluation(latin, 'candidate', 'ocr-v3.2', () => false, labels, gt);
    // The dataset name of the fixture is Chinese: make it Latin for this case.
    for (const side of ['baseline', 'candidate']) {
      const f = join(latin, `${side}.metrics.json`);
      writeFileSync(f, readFileSync(f, 'utf8').replace('保单测试集-2025Q1', 'policies-2025Q1'));
      const s = join(latin, `${side}.samples.jsonl`);
      writeFileSync(s, readFileSync(s, 'utf8').replace(/保单-/g, 'policy-'));
    }
    const lang = async (extra: string[]) => {
      const out = join(latin, `out-${extra.join('') || 'auto'}`);
      const r = await cli([...ARGS, '--no-pdf', '--out-dir', out, '--json', ...extra], { cwd: latin });
      expect(r.code, r.stderr).toBe(0);
      return /<html lang="([^"]+)">/.exec(readFileSync(join(JSON.parse(r.stdout).report_dir, 'summary_metrics.html'), 'utf8'))![1];
    };
    expect(await lang([])).toBe('en');
    expect(await lang(['--lang', 'zh-CN'])).toBe('zh-CN');
    const bad = await cli([...ARGS, '--no-pdf', '--lang', 'zh"CN'], { cwd: latin });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--lang must be a language tag/);
  });
});
