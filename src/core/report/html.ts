// HTML building blocks for the reports: one escape function used for every piece of text, and one page
// shell with inline CSS. Reports load nothing from outside (no fonts, scripts or images from the network).
import { createHash } from 'node:crypto';
import { displayText } from '../format/text.js';

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** The one escaping of data for HTML (text and attribute values), after displayText (no NUL, no bidi overrides). */
export function esc(v: unknown): string {
  return displayText(v).replace(/[&<>"']/g, (c) => ESC[c]!);
}

/** CJK fonts after the Latin ones: Latin text keeps its face, Chinese falls back to a font that has the glyphs. */
export const CJK_FONTS = '"Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "PingFang SC", "Microsoft YaHei"';
export const FONT_STACK = `-apple-system, "Segoe UI", Roboto, "Noto Sans", "Helvetica Neue", Arial, ${CJK_FONTS}, sans-serif`;

const SCRIPTS: [RegExp, string][] = [
  [/[\p{Script=Hiragana}\p{Script=Katakana}]/u, 'ja'],
  [/\p{Script=Hangul}/u, 'ko'],
  [/\p{Script=Han}/u, 'zh-CN'],
];

/**
 * The language a report declares: an explicit --lang wins; otherwise zh-CN when its data (labels, values,
 * model and dataset names) holds Chinese characters (ja with kana, ko with Hangul), else en. The prose is
 * English either way; the tag picks the CJK glyph forms and line breaking for the data.
 */
export function reportLang(texts: Iterable<string | null | undefined>, explicit?: string): string {
  if (explicit && explicit !== 'auto') return explicit;
  const all = [...texts].filter(Boolean).join('\n');
  return SCRIPTS.find(([re]) => re.test(all))?.[1] ?? 'en';
}

export const CSS = `
:root { --good: #1a7f37; --bad: #cf222e; --warn: #9a6700; --muted: #57606a; --line: #d0d7de; --cand: #0969da; --base: #8c959f; }
* { box-sizing: border-box; }
body { font: 14px/1.45 ${FONT_STACK}; color: #1f2328; margin: 24px; overflow-wrap: anywhere; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.muted { color: var(--muted); }
table { border-collapse: collapse; width: 100%; max-width: 100%; margin: 8px 0; table-layout: fixed; }
th, td { border: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; overflow-wrap: anywhere; word-break: break-word; }
th { background: #f6f8fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.summary th:first-child { width: 28%; } table.summary th:nth-child(4) { width: 11%; } table.summary th:nth-child(5) { width: 14%; }
table.facts th { width: 30%; } section.sample th:first-child { width: 18%; }
svg.chart-svg { max-width: 100%; height: auto; font-family: ${FONT_STACK}; }
tr.regressed td { background: #ffebe9; } tr.improved td.delta { color: var(--good); font-weight: 600; } tr.regressed td.delta { color: var(--bad); font-weight: 600; }
tr.warning td { background: #fff8c5; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; }
.badge.improved { background: #dafbe1; color: var(--good); } .badge.regressed { background: #ffebe9; color: var(--bad); }
.badge.warning { background: #fff8c5; color: var(--warn); } .badge.unchanged { background: #eaeef2; color: var(--muted); }
.charts { display: flex; flex-wrap: wrap; gap: 16px; } .chart { border: 1px solid var(--line); border-radius: 6px; padding: 8px; }
.chart h3 { font-size: 13px; margin: 0 0 4px; }
.wrong { background: #ffebe9; color: var(--bad); font-weight: 600; } .right { color: var(--good); }
code { font-family: ui-monospace, SFMono-Regular, Menlo, "Noto Sans Mono CJK SC", ${CJK_FONTS}, monospace; font-size: 12px; }
.recommend { border-left: 4px solid var(--good); padding: 8px 12px; background: #f6fff8; }
.recommend.no { border-color: var(--bad); background: #fff6f6; } .recommend.warn { border-color: var(--warn); background: #fffbea; }
@media print { body { margin: 0; } .page { page-break-after: always; } h2 { page-break-after: avoid; } tr { page-break-inside: avoid; } }
`;

/** A page; `script` (inline, allowed by its hash and nothing else) only enhances what reads without it (mlloop site). */
export function page(title: string, body: string, extraCss = '', lang = 'en', script?: string): string {
  const scriptSrc = script ? `; script-src 'sha256-${createHash('sha256').update(script).digest('base64')}'` : '';
  return `<!DOCTYPE html>
<html lang="${esc(lang)}"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:${scriptSrc}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title><style>${CSS}${extraCss}</style></head>
<body>
${body}${script ? `\n<script>${script}</script>` : ''}
</body></html>
`;
}
