import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { main } from '../../src/cli/main.js';
import { CHROMIUM_ARGS } from '../../src/core/report/pdf.js';
import { startPostgres, type PostgresServer } from '../support/postgres.js';
import { tempDir } from '../support/tmp.js';
import { tool } from '../support/tools.js';
import { ROOT } from '../support/paths.js';
import { makeRemote } from '../gitops/git-fixture.js';

async function mlloop(args: string[], cwd: string) {
  let stdout = '';
  let stderr = '';
  const code = await main({ argv: args, env: { PATH: process.env.PATH, HOME: process.env.HOME }, cwd, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

const EVIL = '<img src=x onerror="document.title=1">';
const DATASET = '保单-test-2025Q1';
const IMAGES = 12;

/** One version's metrics and samples: `wrongAmount(i)` says on which images the amount field is missed. */
function evaluation(dir: string, version: string, f1: number, wrongAmount: (i: number) => boolean) {
  const lines = Array.from({ length: IMAGES }, (_, i) => {
    const bad = wrongAmount(i);
    return {
      image_id: `policy-${String(i).padStart(3, '0')}`,
      tp: bad ? 1 : 2,
      fp: 0,
      fn: bad ? 1 : 0,
      per_field: { 姓名: { tp: 1, fp: 0, fn: 0 }, 保险金额: { tp: bad ? 0 : 1, fp: 0, fn: bad ? 1 : 0 } },
      fields: [
        { label: '姓名', status: 'tp', gt: '张三', pred: '张三', iou: 0.93 },
        bad ? { label: '保险金额', status: 'fn', gt: '¥120,000.00', pred: null, iou: null } : { label: '保险金额', status: 'tp', gt: '¥120,000.00', pred: '¥120,000.00', iou: 0.9 },
      ],
    };
  });
  const metrics = {
    schema: 'mlloop/metrics@1',
    model_version: version,
    dataset: DATASET,
    overall: { precision: f1 + 0.02, recall: f1 - 0.02, f1, tp: 20, fp: 1, fn: 2, exact_match: f1 - 0.05, map50: f1 - 0.1 },
    per_field: { 姓名: { precision: 1, recall: 1, f1: 1, tp: 12, fp: 0, fn: 0, support: 12 }, 保险金额: { precision: f1, recall: f1 - 0.05, f1: f1 - 0.02, tp: 8, fp: 1, fn: 2, support: 12 }, [EVIL]: { precision: 0.5, recall: 0.5, f1: 0.5, tp: 1, fp: 1, fn: 1, support: 2 } },
    box_iou_ge_0_8: 0.9,
    image_miss_rate: 0.1,
    images: IMAGES,
    latency_ms: { mean: 100, p50: 90, p95: 180, p99: 240 },
    config: { iou_threshold: 0.5 },
  };
  writeFileSync(join(dir, `${version}.json`), JSON.stringify(metrics));
  writeFileSync(join(dir, `${version}.jsonl`), `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
}

let server: PostgresServer;
let browser: Browser;
let site: string;
const ARTIFACTS = join(ROOT, 'test-artifacts');

beforeAll(async () => {
  server = await startPostgres();
  const db = await server.createDatabase('site');
  const dir = tempDir('site', { scope: 'file' });
  const versions = [
    ['ocr-v3.1', 0.85, (i: number) => i % 3 === 0, '2026-10-02T08:00:00Z'],
    ['ocr-v3.2', 0.9, (i: number) => i === 0, '2026-11-03T08:00:00Z'],
    ['ocr-v3.3', 0.8, (i: number) => i < 4, '2026-11-20T08:00:00Z'],
  ] as const;
  for (const [v, f1, bad, at] of versions) {
    evaluation(dir, v, f1, bad);
    const r = await mlloop(['history', 'push', '--metrics', `${v}.json`, '--samples', `${v}.jsonl`, '--db', db, '--created-at', at, '--source-commit', 'c'.repeat(40), '--run-url', `https://github.com/acme/ocr/actions/runs/${v.slice(-1)}`], dir);
    expect(r.code, r.stderr).toBe(0);
  }
  const remote = makeRemote();
  const image = (v: string) => `registry.example.com/ocr-service:${v}-commit-abc1234-20261101080000`;
  for (const v of ['ocr-v3.2', 'ocr-v3.3']) {
    const r = await mlloop(['gitops', 'deploy', '--repo', remote.bare, '--app', 'ocr', '--env', 'prod', '--image', image(v), '--model-version', v, '--dataset', DATASET], dir);
    expect(r.code, r.stderr).toBe(0);
  }
  const rb = await mlloop(['gitops', 'rollback', '--repo', remote.bare, '--app', 'ocr', '--env', 'prod', '--reason', 'canary analysis failed: latency_ms.p95=412 > 200'], dir);
  expect(rb.code, rb.stderr).toBe(0);
  site = join(dir, 'site');
  const r = await mlloop(['site', '--db', db, '--gitops', remote.bare, '--out', site, '--json'], dir);
  expect(r.code, r.stderr).toBe(0);
  expect(JSON.parse(r.stdout)).toMatchObject({ versions: 3, environments: 1 });
  mkdirSync(ARTIFACTS, { recursive: true });
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({ executablePath: tool('chromium'), args: CHROMIUM_ARGS });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe('mlloop site in Chromium', () => {
  it('lists every version with where it runs; a version page tells its deploys, the rollback reason and the quarantine', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`file://${join(site, 'index.html')}`);
      expect(await page.getAttribute('html', 'lang')).toBe('zh-CN');
      const rows = page.locator('table.versions tbody tr');
      expect(await rows.count()).toBe(3);
      expect(await rows.nth(1).innerText()).toContain('90.0%');
      // After the rollback prod runs ocr-v3.2 again, not ocr-v3.3.
      expect(await page.locator('tr[data-version="ocr-v3.2"] .env').innerText()).toBe('ocr/prod');
      expect(await page.locator('tr[data-version="ocr-v3.3"] .env').count()).toBe(0);
      expect(await page.locator('.chart.trend[data-metric="overall.f1"] svg polyline').count()).toBe(1);
      // This month against last month: the best F1 of November is 5 points above October's.
      expect(await page.locator('table.months tbody tr').nth(1).innerText()).toMatch(/2026-11[\s\S]*90\.0%[\s\S]*\+5\.0 pts[\s\S]*ocr-v3\.3/);
      expect(await page.locator('body').innerText()).not.toContain(server.password);
      await page.screenshot({ path: join(ARTIFACTS, 'site-index.png'), fullPage: true });

      await page.click('table.versions a:text-is("ocr-v3.3")');
      await page.waitForURL(/versions\/ocr-v3\.3\.html$/);
      const text = await page.locator('body').innerText();
      expect(text).toContain('canary analysis failed: latency_ms.p95=412 > 200');
      expect(await page.locator('table.deploys tr.regressed').count()).toBe(1);
      expect(await page.locator('ul.quarantine li').innerText()).toContain('ocr/prod');
      expect(await page.locator('tr[data-metric="per_field.保险金额.f1"] td.num').innerText()).toBe('78.0%');
      expect(text).toContain('registry.example.com/ocr-service:ocr-v3.3-commit-abc1234-20261101080000');
      await page.screenshot({ path: join(ARTIFACTS, 'site-version.png'), fullPage: true });
    } finally {
      await page.close();
    }
  });

  it('switches the compared versions with the pickers and shows radar, per-field changes and the images that differ', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`file://${join(site, 'compare.html')}`);
      await page.selectOption('form.pick select[name=candidate]', 'ocr-v3.3');
      await page.selectOption('form.pick select[name=baseline]', 'ocr-v3.1');
      await page.click('form.pick button');
      await page.waitForURL(/ocr-v3\.3__ocr-v3\.1\.html$/);
      expect(await page.locator('h1').innerText()).toContain('ocr-v3.3');
      expect(await page.locator('h1').innerText()).toContain('ocr-v3.1');
      expect(await page.locator('.chart.radar svg polygon.series').count()).toBe(2);
      expect(await page.locator('table.fields tr[data-metric="per_field.保险金额.f1"] .badge').innerText()).toBe('regressed');
      // Images 1 and 2 broke (v3.1 got them right), image 3 was fixed... v3.1 missed 0, 3, 6, 9; v3.3 misses 0–3.
      expect(await page.locator('section.sample .badge.regressed').count()).toBe(2);
      expect(await page.locator('section.sample .badge.improved').count()).toBe(2);
      await page.screenshot({ path: join(ARTIFACTS, 'site-compare.png'), fullPage: true });

      // Switch again from the compare page itself.
      await page.selectOption('form.pick select[name=baseline]', 'ocr-v3.2');
      await page.click('form.pick button');
      await page.waitForURL(/ocr-v3\.3__ocr-v3\.2\.html$/);
      expect(await page.locator('.recommend.no').innerText()).toContain('ocr-v3.3 is worse than ocr-v3.2');
      await page.selectOption('form.pick select[name=baseline]', 'ocr-v3.3');
      await page.click('form.pick button');
      expect(await page.locator('.pick-msg').innerText()).toContain('两个不同的版本');
    } finally {
      await page.close();
    }
  });

  it('reads without JavaScript, and data cannot inject markup', async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    try {
      const page = await context.newPage();
      await page.goto(`file://${join(site, 'compare.html')}`);
      await page.click('ul.pairs a:text-is("ocr-v3.2 vs ocr-v3.1")');
      await page.waitForURL(/ocr-v3\.2__ocr-v3\.1\.html$/);
      expect(await page.locator('table.summary').count()).toBe(1);
      expect(await page.locator(`td:text-is('${EVIL}')`).count()).toBeGreaterThan(0);
      expect(await page.locator('img').count()).toBe(0);
      const html = readFileSync(join(site, 'index.html'), 'utf8');
      expect(html).not.toMatch(/https?:\/\/(?!github\.com\/acme)[^"'\s]*\.(js|css|woff2?)/);
    } finally {
      await context.close();
    }
  });
});
