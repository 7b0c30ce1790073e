// HTML building blocks for the reports: one escape function used for every piece of text, and one page
// shell with inline CSS. Reports load nothing from outside (no fonts, scripts or images from the network).

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function esc(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ESC[c]!);
}

export const CSS = `
:root { --good: #1a7f37; --bad: #cf222e; --warn: #9a6700; --muted: #57606a; --line: #d0d7de; --cand: #0969da; --base: #8c959f; }
* { box-sizing: border-box; }
body { font: 14px/1.45 -apple-system, "Segoe UI", "Noto Sans", "Noto Sans CJK SC", "PingFang SC", sans-serif; color: #1f2328; margin: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.muted { color: var(--muted); }
table { border-collapse: collapse; width: 100%; margin: 8px 0; }
th, td { border: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.regressed td { background: #ffebe9; } tr.improved td.delta { color: var(--good); font-weight: 600; } tr.regressed td.delta { color: var(--bad); font-weight: 600; }
tr.warning td { background: #fff8c5; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; }
.badge.improved { background: #dafbe1; color: var(--good); } .badge.regressed { background: #ffebe9; color: var(--bad); }
.badge.warning { background: #fff8c5; color: var(--warn); } .badge.unchanged { background: #eaeef2; color: var(--muted); }
.charts { display: flex; flex-wrap: wrap; gap: 16px; } .chart { border: 1px solid var(--line); border-radius: 6px; padding: 8px; }
.chart h3 { font-size: 13px; margin: 0 0 4px; }
.wrong { background: #ffebe9; color: var(--bad); font-weight: 600; } .right { color: var(--good); }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
.recommend { border-left: 4px solid var(--good); padding: 8px 12px; background: #f6fff8; }
.recommend.no { border-color: var(--bad); background: #fff6f6; } .recommend.warn { border-color: var(--warn); background: #fffbea; }
@media print { body { margin: 0; } .page { page-break-after: always; } h2 { page-break-after: avoid; } tr { page-break-inside: avoid; } }
`;

export function page(title: string, body: string, extraCss = ''): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title><style>${CSS}${extraCss}</style></head>
<body>
${body}
</body></html>
`;
}
