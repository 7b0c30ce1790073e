import { esc, FONT_STACK } from './html.js';

// Inline SVG charts. Every number is computed here; every label goes through esc().

/** Rough advance of a character at font size 1: CJK and other wide characters take a full em. */
const advance = (ch: string) => (/[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]|[\u{20000}-\u{3fffd}]/u.test(ch) ? 1 : 0.6);

/** A label as SVG text that fits in `px` at `size`: cut with "…" when longer, the whole label in a tooltip. */
export function fitLabel(label: string, px: number, size: number): string {
  const chars = [...label];
  let w = 0;
  for (let i = 0; i < chars.length; i++) {
    w += advance(chars[i]!) * size;
    if (w > px) return `${esc(chars.slice(0, Math.max(1, i - 1)).join(''))}…<title>${esc(label)}</title>`;
  }
  return esc(label);
}

const svgFont = `font-family="${esc(FONT_STACK)}"`;

const W = 560;
const fmt = (v: number, pct: boolean) => (pct ? `${(v * 100).toFixed(1)}%` : Number(v.toPrecision(4)).toString());

export interface BarItem {
  label: string;
  baseline: number;
  candidate: number;
  percent: boolean;
}

/** Grouped horizontal bars: baseline and candidate per metric (each metric scaled to its own maximum). */
export function metricBars(items: BarItem[], names: { baseline: string; candidate: string }): string {
  const row = 34;
  const left = 170;
  const h = items.length * row + 40;
  const bars = items
    .map((it, i) => {
      const max = Math.max(Math.abs(it.baseline), Math.abs(it.candidate), it.percent ? 1 : 1e-9);
      const scale = (W - left - 70) / max;
      const y = 28 + i * row;
      const wb = Math.max(0.5, Math.abs(it.baseline) * scale);
      const wc = Math.max(0.5, Math.abs(it.candidate) * scale);
      return `<g class="bar-row"><text x="${left - 8}" y="${y + 14}" text-anchor="end" font-size="12">${fitLabel(it.label, left - 12, 12)}</text>
<rect class="bar baseline" x="${left}" y="${y}" width="${wb.toFixed(1)}" height="12" fill="#8c959f"><title>${esc(names.baseline)}: ${esc(fmt(it.baseline, it.percent))}</title></rect>
<text x="${(left + wb + 4).toFixed(1)}" y="${y + 10}" font-size="10" fill="#57606a">${esc(fmt(it.baseline, it.percent))}</text>
<rect class="bar candidate" x="${left}" y="${y + 13}" width="${wc.toFixed(1)}" height="12" fill="#0969da"><title>${esc(names.candidate)}: ${esc(fmt(it.candidate, it.percent))}</title></rect>
<text x="${(left + wc + 4).toFixed(1)}" y="${y + 23}" font-size="10" fill="#0969da">${esc(fmt(it.candidate, it.percent))}</text></g>`;
    })
    .join('\n');
  const legend = `<g font-size="11"><rect x="${left}" y="6" width="10" height="10" fill="#8c959f"/><text x="${left + 14}" y="15">${fitLabel(names.baseline, 132, 11)}</text><rect x="${left + 150}" y="6" width="10" height="10" fill="#0969da"/><text x="${left + 164}" y="15">${fitLabel(names.candidate, W - left - 168, 11)}</text></g>`;
  return `<svg class="chart-svg metric-bars" role="img" aria-label="metric bars" xmlns="http://www.w3.org/2000/svg" ${svgFont} width="${W}" height="${h}" viewBox="0 0 ${W} ${h}">${legend}${bars}</svg>`;
}

/** Diverging bars of deltas (candidate − baseline), green for better, red for worse. */
export function deltaBars(items: { label: string; delta: number; better: boolean; percent: boolean }[]): string {
  const row = 24;
  const left = 170;
  const h = items.length * row + 20;
  const mid = left + (W - left - 20) / 2;
  const max = Math.max(1e-9, ...items.map((i) => Math.abs(i.delta)));
  const scale = (W - left - 80) / 2 / max;
  const bars = items
    .map((it, i) => {
      const y = 10 + i * row;
      const w = Math.max(0.5, Math.abs(it.delta) * scale);
      const x = it.delta >= 0 ? mid : mid - w;
      const text = `${it.delta >= 0 ? '+' : ''}${fmt(it.delta, it.percent)}`;
      const tx = it.delta >= 0 ? mid + w + 4 : mid - w - 4;
      return `<g class="delta-row"><text x="${left - 8}" y="${y + 12}" text-anchor="end" font-size="12">${fitLabel(it.label, left - 12, 12)}</text><rect class="bar delta" x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="14" fill="${it.better ? '#1a7f37' : '#cf222e'}"><title>${esc(it.label)}: ${esc(text)}</title></rect><text x="${tx.toFixed(1)}" y="${y + 11}" font-size="10" text-anchor="${it.delta >= 0 ? 'start' : 'end'}">${esc(text)}</text></g>`;
    })
    .join('\n');
  return `<svg class="chart-svg delta-bars" role="img" aria-label="deltas" xmlns="http://www.w3.org/2000/svg" ${svgFont} width="${W}" height="${h}" viewBox="0 0 ${W} ${h}"><line x1="${mid}" y1="0" x2="${mid}" y2="${h}" stroke="#8c959f"/>${bars}</svg>`;
}

/** Radar of metrics in [0, 1] (higher is better after orienting lower-is-better metrics as 1 − v). */
export function radar(axes: { label: string; baseline: number; candidate: number }[], names: { baseline: string; candidate: string }): string {
  const size = 360;
  const c = size / 2;
  const r = 120;
  const n = axes.length;
  if (n < 3) return '';
  const pt = (i: number, v: number) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / n;
    const rr = r * Math.max(0, Math.min(1, v));
    return [c + rr * Math.cos(a), c + rr * Math.sin(a)] as const;
  };
  const poly = (vals: number[]) => vals.map((v, i) => pt(i, v).map((x) => x.toFixed(1)).join(',')).join(' ');
  const rings = [0.25, 0.5, 0.75, 1].map((k) => `<polygon points="${poly(axes.map(() => k))}" fill="none" stroke="#d0d7de"/>`).join('');
  const spokes = axes
    .map((a, i) => {
      const [x, y] = pt(i, 1);
      const [lx, ly] = pt(i, 1.18);
      return `<line x1="${c}" y1="${c}" x2="${x.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#d0d7de"/><text x="${lx.toFixed(1)}" y="${ly.toFixed(1)}" font-size="11" text-anchor="middle">${fitLabel(a.label, 150, 11)}</text>`;
    })
    .join('');
  return `<svg class="chart-svg radar" role="img" aria-label="radar" xmlns="http://www.w3.org/2000/svg" ${svgFont} width="${size + 80}" height="${size}" viewBox="-40 0 ${size + 80} ${size}">${rings}${spokes}
<polygon class="series baseline" points="${poly(axes.map((a) => a.baseline))}" fill="#8c959f" fill-opacity="0.25" stroke="#8c959f"><title>${esc(names.baseline)}</title></polygon>
<polygon class="series candidate" points="${poly(axes.map((a) => a.candidate))}" fill="#0969da" fill-opacity="0.25" stroke="#0969da"><title>${esc(names.candidate)}</title></polygon></svg>`;
}

/** A line per metric over versions (history JSONL plus the two models compared). */
export function trend(points: { label: string; values: Record<string, number> }[], metrics: string[]): string {
  const h = 260;
  const left = 50;
  const right = 150;
  const top = 16;
  const bottom = 50;
  if (points.length < 2 || metrics.length === 0) return '';
  const all = points.flatMap((p) => metrics.map((m) => p.values[m]).filter((v): v is number => typeof v === 'number'));
  if (all.length === 0) return '';
  let lo = Math.min(...all);
  let hi = Math.max(...all);
  if (hi - lo < 1e-9) {
    lo -= 0.01;
    hi += 0.01;
  }
  const pad = (hi - lo) * 0.1;
  lo -= pad;
  hi += pad;
  const x = (i: number) => left + ((W - left - right) * i) / (points.length - 1);
  const y = (v: number) => top + (h - top - bottom) * (1 - (v - lo) / (hi - lo));
  const colors = ['#0969da', '#1a7f37', '#cf222e', '#8250df', '#9a6700', '#57606a'];
  const lines = metrics
    .map((m, k) => {
      const pts = points.map((p, i) => (typeof p.values[m] === 'number' ? [x(i), y(p.values[m]!)] : null)).filter((q): q is number[] => q !== null);
      if (pts.length === 0) return '';
      const color = colors[k % colors.length]!;
      return `<polyline class="series" fill="none" stroke="${color}" stroke-width="2" points="${pts.map((q) => q.map((v) => v.toFixed(1)).join(',')).join(' ')}"/>${pts.map((q) => `<circle cx="${q[0]!.toFixed(1)}" cy="${q[1]!.toFixed(1)}" r="3" fill="${color}"/>`).join('')}<text x="${W - right + 10}" y="${top + 14 * k + 10}" font-size="11" fill="${color}">${fitLabel(m, right - 14, 11)}</text>`;
    })
    .join('');
  const ticks = points.map((p, i) => `<text x="${x(i).toFixed(1)}" y="${h - bottom + 16}" font-size="10" text-anchor="end" transform="rotate(-30 ${x(i).toFixed(1)} ${h - bottom + 16})">${fitLabel(p.label, 80, 10)}</text>`).join('');
  const yTicks = [lo + pad, (lo + hi) / 2, hi - pad].map((v) => `<text x="${left - 6}" y="${y(v).toFixed(1)}" font-size="10" text-anchor="end">${esc(Number(v.toPrecision(3)))}</text><line x1="${left}" x2="${W - right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#eaeef2"/>`).join('');
  return `<svg class="chart-svg trend" role="img" aria-label="trend" xmlns="http://www.w3.org/2000/svg" ${svgFont} width="${W}" height="${h}" viewBox="0 0 ${W} ${h}">${yTicks}${lines}${ticks}</svg>`;
}
