// Issue 13, "Injection into the PR comment and reports": labels, model versions, dataset names and values
// from data go evaluate → gate → PR comment body and evaluate → compare → report.md / HTML; rendered as
// GitHub would (marked, GFM), none of them may come out as markup, a link, an image or a mention.
import { localRunner } from '../../src/core/github/runner-info.js';
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { marked } from 'marked';
import { expectBadInput, mlloop, tmp } from './helpers.js';

const LONG = 'A'.repeat(10_000);
const HOSTILE = [
  '</details><details open><summary>pwned</summary>',
  '![img](http://evil.example/x.png)',
  '[click](https://evil.example/phish)',
  '@org/security-team please approve @octocat',
  '<img src=x onerror=alert(1)>',
  '<script>alert(document.cookie)</script>',
  '<!-- mlloop:other-gate -->',
  'https://evil.example/auto www.evil.example mail@evil.example',
  LONG,
  'invoice\u202Efdp.exe',
  'nul\u0000byte\u001b[31mred',
  '`code` ``` fence',
  'a | b | c',
  'line1\nline2\r\n# heading\n- item',
  '**bold** _em_ ~~strike~~ $x^2$',
  '&lt;b&gt;entity&#60;/b&#62;',
  '# hash',
  '1. one',
  '> quote',
];

/** Tags the reports themselves use: anything else came from data. */
const ALLOWED_TAGS = new Set(['h1', 'h2', 'h3', 'p', 'strong', 'em', 'code', 'pre', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'details', 'summary', 'blockquote', 'br', 'ul', 'li', 'hr', 'sub']);

function tags(html: string): string[] {
  return [...html.matchAll(/<\/?([a-zA-Z][a-zA-Z0-9-]*)/g)].map((m) => m[1]!.toLowerCase());
}

/** Every table's rows have as many cells as its header: no value cut a row with a pipe or a line break. */
function tablesIntact(html: string): void {
  for (const table of html.split('<table>').slice(1)) {
    const rows = table.split('</table>')[0]!.split('<tr>').slice(1);
    const counts = rows.map((r) => (r.match(/<t[hd][ >]/g) ?? []).length);
    expect(new Set(counts).size, `cells per row: ${counts.join(',')}`).toBe(1);
  }
}

/** The checks on Markdown rendered with GFM. */
function checkRenderedMarkdown(markdown: string, name: string, details: number): void {
  const html = marked.parse(markdown, { gfm: true, async: false });
  const unknown = tags(html).filter((t) => !ALLOWED_TAGS.has(t));
  expect(unknown, `${name}: tags from data`).toEqual([]);
  expect(html).not.toMatch(/<img|<a[\s>]|<script|<del/i);
  expect((html.match(/<details/g) ?? []).length, `${name}: <details>`).toBe(details);
  expect((html.match(/<\/details>/g) ?? []).length, `${name}: </details>`).toBe(details);
  // A mention is @ directly followed by a name: neutralised, none is left.
  expect(html.match(/.{0,40}@[A-Za-z0-9].{0,20}/g) ?? [], `${name}: mention`).toEqual([]);
  expect(markdown).not.toMatch(/[\u0000\u202e]/);
  expect(markdown).not.toContain('A'.repeat(400));
  expect(markdown.match(/<!-- mlloop:/g)?.length ?? 0, `${name}: marker comments`).toBeLessThanOrEqual(1);
  tablesIntact(html);
}

function writeInputs(d: string): void {
  const images = HOSTILE.map((label, i) => ({ id: `img-${i}`, label, value: HOSTILE[(i + 3) % HOSTILE.length]! }));
  const gt = { dataset: HOSTILE[1], images: images.map((m) => ({ image_id: m.id, fields: [{ label: m.label, bbox: [0, 0, 10, 10], value: m.value }, { label: 'name', bbox: [20, 20, 30, 30], value: 'n' }] })) };
  // The candidate gets the even images right, the baseline the odd ones: every label changes.
  const pred = (version: string, right: number) => ({
    dataset: HOSTILE[1],
    model_version: version,
    images: images.map((m, i) => ({ image_id: m.id, fields: [{ label: m.label, bbox: [0, 0, 10, 10], value: i % 2 === right ? m.value : HOSTILE[(i + 5) % HOSTILE.length], confidence: 0.9 }, { label: 'name', bbox: [20, 20, 30, 30], value: 'n', confidence: 0.8 }] })),
  });
  writeFileSync(join(d, 'gt.json'), JSON.stringify(gt));
  writeFileSync(join(d, 'cand.json'), JSON.stringify(pred(`${HOSTILE[0]} ${HOSTILE[4]}`, 0)));
  writeFileSync(join(d, 'base.json'), JSON.stringify(pred(`${HOSTILE[3]} ${HOSTILE[9]}`, 1)));
  writeFileSync(join(d, 'gate.yaml'), ['name: ocr-gate', 'metrics:', '  overall.f1: {direction: higher, max_regression: 0}', 'per_field: {metric: recall, max_regression: 0, min_support: 0}', 'significance: {metric: overall.f1, test: paired-bootstrap, resamples: 100, require: none, per_field: true}', ''].join('\n'));
}

describe('strings from data are rendered as text in the PR comment and the reports', () => {
  it('evaluate → gate → comment body: no markup, links, images, mentions or broken tables from data', async () => {
    const d = tmp();
    writeInputs(d);
    for (const [side, file] of [['c', 'cand.json'], ['b', 'base.json']]) {
      const r = await mlloop(['evaluate', '--gt', join(d, 'gt.json'), '--pred', join(d, file!), '--out', join(d, `${side}.metrics.json`), '--samples', join(d, `${side}.samples.jsonl`)], d);
      expect(r.code, r.stderr).toBe(0);
    }
    const metrics = JSON.parse(readFileSync(join(d, 'c.metrics.json'), 'utf8'));
    // The data itself is kept exactly (the JSON is the record); only rendering escapes.
    expect(Object.keys(metrics.per_field)).toEqual(expect.arrayContaining(HOSTILE));
    const g = await mlloop(['gate', '--candidate', join(d, 'c.metrics.json'), '--baseline', join(d, 'b.metrics.json'), '--candidate-samples', join(d, 'c.samples.jsonl'), '--baseline-samples', join(d, 'b.samples.jsonl'), '--policy', join(d, 'gate.yaml'), '--out', join(d, 'verdict.json'), '--comment-file', join(d, 'comment.md')], d);
    expect([0, 1], g.stderr).toContain(g.code);
    const body = readFileSync(join(d, 'comment.md'), 'utf8');
    expect(body.startsWith('<!-- mlloop:ocr-gate -->\n')).toBe(true);
    // Every hostile label made it into the comment (as text), so the checks below are about them.
    expect(body).toContain('per_field.invoice');
    checkRenderedMarkdown(body, 'comment', 1);
  });

  it('evaluate → compare → report.md and the HTML reports', async () => {
    const d = tmp();
    writeInputs(d);
    for (const [side, file] of [['c', 'cand.json'], ['b', 'base.json']]) {
      expect((await mlloop(['evaluate', '--gt', join(d, 'gt.json'), '--pred', join(d, file!), '--out', join(d, `${side}.metrics.json`), '--samples', join(d, `${side}.samples.jsonl`)], d)).code).toBe(0);
    }
    const r = await mlloop(['compare', '--candidate', join(d, 'c.metrics.json'), '--baseline', join(d, 'b.metrics.json'), '--candidate-samples', join(d, 'c.samples.jsonl'), '--baseline-samples', join(d, 'b.samples.jsonl'), '--no-pdf', '--out-dir', join(d, 'reports')], d);
    expect(r.code, r.stderr).toBe(0);
    const [folder] = readdirSync(join(d, 'reports'));
    const dir = join(d, 'reports', folder!);
    checkRenderedMarkdown(readFileSync(join(dir, 'report.md'), 'utf8'), 'report.md', 0);
    for (const name of ['summary_metrics.html', 'samples_diff.html']) {
      const html = readFileSync(join(dir, name), 'utf8');
      for (const h of HOSTILE) if (/[<>]/.test(h)) expect(html, `${name}: ${h}`).not.toContain(h);
      expect(html.match(/.{0,30}(<img|<a[\s>]|<script|<iframe|<details).{0,30}/gi) ?? [], name).toEqual([]);
      expect(html).not.toMatch(/[\u0000\u202e\u001b]/);
      // The escaped text is there, visible: the data is shown, not dropped.
      expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    }
  });
});

describe('the evaluate job summary', () => {
  it('shows the model version and dataset as text', async () => {
    const d = tmp();
    writeInputs(d);
    const { command } = await import('../../src/commands/evaluate.js');
    const { Masker } = await import('../../src/core/mask.js');
    const { silentLogger } = await import('../../src/core/log.js');
    const masker = new Masker();
    const ctx = { cwd: d, env: {}, runner: localRunner(), log: silentLogger, masker, secret: () => undefined, mode: 'action' as const, json: false, now: () => new Date(0), signal: new AbortController().signal };
    const options = { gt: join(d, 'gt.json'), pred: join(d, 'cand.json'), out: join(d, 'm.json'), iou: 0.5, normalize: 'lenient', match: 'value', tokenize: '13a' };
    const r = await command.run(options as never, ctx);
    checkRenderedMarkdown(r.summary!, 'evaluate summary', 0);
    expect(r.summary).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });
});

describe('comment refuses bodies with nothing to post (exit 2 naming the file)', () => {
  it.each([
    ['empty', ''],
    ['blank', '  \n\n\t\n'],
    ['only the marker', '<!-- mlloop:gate -->\n\n'],
    ['binary (NUL bytes)', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d])],
    ['not UTF-8', Buffer.from([0x72, 0x65, 0xff, 0xfe, 0x70])],
  ])('%s', async (_n, content) => {
    const d = tmp();
    writeFileSync(join(d, 'body.md'), content);
    const r = await mlloop(['comment', '--body', join(d, 'body.md'), '--pr', '7', '--repository', 'o/r', '--token', 't', '--api-url', 'http://127.0.0.1:9'], d);
    expectBadInput(r, `${join(d, 'body.md')}:`);
  });
});
