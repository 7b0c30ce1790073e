import { md, mdTable, mdText } from '../format/markdown.js';
import type { TestResult } from '../stats/tests.js';
import type { FieldOutcome } from '../stats/samples.js';
import { deltaBars, metricBars, radar, trend } from './charts.js';
import type { MetricRow, Recommendation, SampleDiff } from './compare.js';
import { esc, FONT_STACK, page } from './html.js';

export interface ReportModel {
  id: string;
  created_at: string;
  version: string;
  candidate: { name: string; metrics_file: string; samples_file: string | null; dataset: string | null };
  baseline: { name: string; metrics_file: string; samples_file: string | null; dataset: string | null };
  dataset: string | null;
  evaluator: string | null;
  job: { run_id: string | null; run_attempt: string | null; job: string | null; workflow: string | null; run_url: string | null };
  rows: MetricRow[];
  fields: MetricRow[];
  test: TestResult | null;
  recommendation: Recommendation;
  diffs: SampleDiff[];
  diffsTotal: number;
  compared: number;
  history: { label: string; values: Record<string, number> }[];
  trendMetrics: string[];
  /** The language the pages declare (<html lang>): see reportLang. */
  lang: string;
}

export function fmtValue(v: number | null, r: { percent: boolean; unit?: string }): string {
  if (v === null) return '—';
  if (r.percent) return `${(v * 100).toFixed(1)}%`;
  const s = Math.abs(v) >= 100 ? v.toFixed(1) : Number(v.toPrecision(4)).toString();
  return r.unit ? `${s} ${r.unit}` : s;
}

export function fmtDelta(r: MetricRow): string {
  if (r.delta === null) return '—';
  const sign = r.delta > 0 ? '+' : r.delta < 0 ? '−' : '±';
  const abs = Math.abs(r.delta);
  return `${sign}${r.percent ? `${(abs * 100).toFixed(1)}%` : fmtValue(abs, r)}`;
}

const statusText: Record<string, string> = { improved: 'improved', regressed: 'regressed', unchanged: 'unchanged', warning: 'warning', missing: 'missing' };

function table(rows: MetricRow[], m: ReportModel, first = 'Metric'): string {
  const body = rows
    .map(
      (r) => `<tr class="${r.status}"><td>${esc(r.label)} <span class="muted"><code>${esc(r.path)}</code></span></td><td class="num">${esc(fmtValue(r.baseline, r))}</td><td class="num">${esc(fmtValue(r.candidate, r))}</td><td class="num delta">${esc(fmtDelta(r))}</td><td><span class="badge ${r.status}">${esc(statusText[r.status])}</span></td><td>${esc(r.note)}</td></tr>`,
    )
    .join('\n');
  return `<table class="summary"><thead><tr><th>${esc(first)}</th><th>${esc(m.baseline.name)}</th><th>${esc(m.candidate.name)}</th><th>Delta</th><th>Highlight</th><th>Note</th></tr></thead><tbody>${body}</tbody></table>`;
}

function names(m: ReportModel) {
  return { baseline: m.baseline.name, candidate: m.candidate.name };
}

function charts(m: ReportModel): string {
  const ratio = m.rows.filter((r) => r.percent && r.baseline !== null && r.candidate !== null);
  const bars = metricBars(ratio.map((r) => ({ label: r.label, baseline: r.baseline!, candidate: r.candidate!, percent: true })), names(m));
  const fieldDeltas = m.fields.filter((f) => f.delta !== null);
  const deltas = fieldDeltas.length ? deltaBars(fieldDeltas.map((f) => ({ label: f.label, delta: f.delta!, better: f.delta! >= 0, percent: true }))) : '';
  const axes = ratio.map((r) => ({ label: r.label, baseline: r.direction === 'lower' ? 1 - r.baseline! : r.baseline!, candidate: r.direction === 'lower' ? 1 - r.candidate! : r.candidate! }));
  const rad = radar(axes, names(m));
  const tr = trend(m.history, m.trendMetrics);
  const box = (title: string, svg: string, cls: string) => (svg ? `<div class="chart ${cls}"><h3>${esc(title)}</h3>${svg}</div>` : '');
  return `<div class="charts">${box('Metrics (baseline vs candidate)', bars, 'bars')}${box('Per-field F1 delta (candidate − baseline)', deltas, 'deltas')}${box('Radar (higher is better; miss rate shown as 1 − rate)', rad, 'radar')}${box('Trend over versions', tr, 'trend')}</div>`;
}

function header(m: ReportModel, title: string): string {
  return `<h1>${esc(title)}: ${esc(m.candidate.name)} vs ${esc(m.baseline.name)}</h1><p class="muted">Dataset <code>${esc(m.dataset ?? 'unknown')}</code> · ${esc(m.created_at)} · report <code>${esc(m.id)}</code> · mlloop ${esc(m.version)}</p>`;
}

function significance(m: ReportModel): string {
  const t = m.test;
  if (!t) return '';
  const ci = t.ci ? `, ${Math.round((1 - t.alpha) * 100)}% CI [${t.ci.map((x) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)}`).join(', ')}] points` : '';
  const verdict = t.p_value < t.alpha ? (t.delta > 0 ? 'the candidate is significantly better' : 'the candidate is significantly worse') : 'the difference is not significant';
  return `<p class="significance">Paired bootstrap over ${t.images} images (${t.resamples} resamples, seed ${t.seed}): ΔF1 = ${(t.delta * 100).toFixed(2)} points, <strong>p = ${esc(Number(t.p_value.toPrecision(2)))}</strong>${esc(ci)} — ${esc(verdict)}.</p>`;
}

function recommendationBlock(m: ReportModel): string {
  const r = m.recommendation;
  return `<div class="recommend ${r.level === 'yes' ? '' : r.level}"><strong>${esc(r.text)}</strong>${r.reasons.length ? `<ul>${r.reasons.map((x) => `<li>${esc(x)}</li>`).join('')}</ul>` : ''}</div>`;
}

/** summary_metrics.html: the seed's table (metric, baseline, candidate, delta, highlight, note) and the charts. */
export function summaryHtml(m: ReportModel): string {
  const body = [
    header(m, 'Model comparison'),
    '<h2>Summary</h2>',
    table(m.rows, m),
    significance(m),
    recommendationBlock(m),
    '<h2>Charts</h2>',
    charts(m),
    m.fields.length ? `<h2>Per field (F1)</h2>${table(m.fields, m, 'Field')}` : '',
  ].join('\n');
  return page(`${m.candidate.name} vs ${m.baseline.name}`, body, '', m.lang);
}

function outcomeCell(fields: FieldOutcome[], label: string): string {
  const mine = fields.filter((f) => f.label === label);
  if (mine.length === 0) return '<span class="muted">—</span>';
  return mine
    .map((f) => {
      if (f.status === 'tp') return `<span class="right">✓ ${esc(f.pred)}</span>`;
      if (f.status === 'fn') return `<span class="wrong">missed</span>`;
      return `<span class="wrong">✗ ${esc(f.pred)}</span>`;
    })
    .join('<br>');
}

function gtCell(d: SampleDiff, label: string): string {
  const gt = [...d.baseline.fields, ...d.candidate.fields].find((f) => f.label === label && f.gt !== null)?.gt;
  return gt === undefined || gt === null ? '<span class="muted">—</span>' : esc(gt);
}

/** One differing image: its fields with ground truth, before and after (also used by mlloop site). */
export function diffBlock(d: SampleDiff): string {
  const labels = [...new Set([...d.baseline.fields, ...d.candidate.fields].map((f) => f.label))].sort();
  const rows = labels
    .map((l) => `<tr class="${d.labels.includes(l) ? 'differs' : ''}"><td>${esc(l)}${d.labels.includes(l) ? ' <span class="badge warning">differs</span>' : ''}</td><td>${gtCell(d, l)}</td><td>${outcomeCell(d.baseline.fields, l)}</td><td>${outcomeCell(d.candidate.fields, l)}</td></tr>`)
    .join('');
  const badge = d.change === 'broken' ? '<span class="badge regressed">broken by the candidate</span>' : d.change === 'fixed' ? '<span class="badge improved">fixed by the candidate</span>' : '<span class="badge unchanged">changed</span>';
  return `<section class="sample" data-image="${esc(d.image_id)}"><h3><code>${esc(d.image_id)}</code> ${badge}</h3><p class="muted">before: tp ${d.baseline.tp} fp ${d.baseline.fp} fn ${d.baseline.fn} · after: tp ${d.candidate.tp} fp ${d.candidate.fp} fn ${d.candidate.fn}</p><table><thead><tr><th>Field</th><th>Ground truth</th><th>Before (baseline)</th><th>After (candidate)</th></tr></thead><tbody>${rows}</tbody></table></section>`;
}

/** samples_diff.html: the images where the two models differ, wrong fields highlighted, before/after. */
export function samplesDiffHtml(m: ReportModel): string {
  const counts = { broken: 0, fixed: 0, changed: 0 };
  for (const d of m.diffs) counts[d.change]++;
  const shown = m.diffs.length < m.diffsTotal ? `<p class="muted">Showing ${m.diffs.length} of ${m.diffsTotal} differing images (the ones the candidate broke first).</p>` : '';
  const body = [
    header(m, 'Sample differences'),
    `<p>${m.diffsTotal} of ${m.compared} images differ: <span class="badge regressed">${counts.broken} broken</span> <span class="badge improved">${counts.fixed} fixed</span> <span class="badge unchanged">${counts.changed} changed</span> (counts among those shown).</p>`,
    shown,
    m.diffs.map(diffBlock).join('\n') || '<p>The two models give the same outcome on every image.</p>',
  ].join('\n');
  return page(`Sample differences: ${m.candidate.name} vs ${m.baseline.name}`, body, '.sample { margin: 12px 0 20px; } tr.differs td:first-child { font-weight: 600; }', m.lang);
}

/** report.md: the same summary for people reading Markdown (a PR, a wiki). */
export function reportMarkdown(m: ReportModel): string {
  const lines = [
    `# Model comparison: ${mdText(m.candidate.name)} vs ${mdText(m.baseline.name)}`,
    '',
    `Dataset ${mdText(m.dataset ?? 'unknown')} · ${m.created_at} · report \`${m.id}\` · mlloop ${m.version}`,
    '',
    mdTable(['Metric', m.baseline.name, m.candidate.name, 'Delta', 'Highlight', 'Note'], m.rows.map((r) => [r.label, fmtValue(r.baseline, r), fmtValue(r.candidate, r), fmtDelta(r), r.status === 'regressed' ? md('**regressed**') : r.status, r.note]), ['l', 'r', 'r', 'r', 'l', 'l']),
    '',
  ];
  if (m.test) lines.push(`Paired bootstrap over ${m.test.images} images: ΔF1 = ${(m.test.delta * 100).toFixed(2)} points, p = ${Number(m.test.p_value.toPrecision(2))}.`, '');
  if (m.fields.length) lines.push('## Per field (F1)', '', mdTable(['Field', m.baseline.name, m.candidate.name, 'Delta', 'Note'], m.fields.map((r) => [r.label, fmtValue(r.baseline, r), fmtValue(r.candidate, r), fmtDelta(r), r.note]), ['l', 'r', 'r', 'r', 'l']), '');
  lines.push('## Recommendation', '', `**${mdText(m.recommendation.text, 1000)}**`, '', ...m.recommendation.reasons.map((r) => `- ${mdText(r, 1000)}`), '');
  lines.push(`Images that differ: ${m.diffsTotal} of ${m.compared} (see samples_diff.html).`, '');
  return lines.join('\n');
}

/** The print layout behind report.pdf: cover, charts and table, typical error samples, recommendation. */
export function pdfHtml(m: ReportModel, typical = 6): string {
  const top = m.rows.filter((r) => r.status !== 'missing').slice(0, 5);
  const cover = `<section class="page cover"><p class="muted">mlloop model comparison report</p><h1 style="font-size:30px;margin-top:80px">${esc(m.candidate.name)}</h1><p style="font-size:18px">compared with <strong>${esc(m.baseline.name)}</strong></p>
<table class="facts" style="margin-top:40px"><tr><th>Model</th><td>${esc(m.candidate.name)}</td></tr><tr><th>Compared with</th><td>${esc(m.baseline.name)}</td></tr><tr><th>Evaluated by</th><td>${esc(m.evaluator ?? 'unknown')}</td></tr><tr><th>Evaluated at</th><td>${esc(m.created_at)}</td></tr><tr><th>Dataset</th><td>${esc(m.dataset ?? 'unknown')}</td></tr></table>
<h2>Summary metrics</h2>${table(top, m)}${recommendationBlock(m)}</section>`;
  const ratio = m.rows.filter((r) => r.percent && r.baseline !== null && r.candidate !== null);
  const content = `<section class="page"><h2>Metric comparison</h2>${metricBars(ratio.map((r) => ({ label: r.label, baseline: r.baseline!, candidate: r.candidate!, percent: true })), names(m))}
${m.fields.some((f) => f.delta !== null) ? deltaBars(m.fields.filter((f) => f.delta !== null).map((f) => ({ label: f.label, delta: f.delta!, better: f.delta! >= 0, percent: true }))) : ''}
<h2>Summary table</h2>${table(m.rows, m)}${significance(m)}</section>`;
  const samples = `<section class="page"><h2>Typical error samples</h2>${m.diffs.length ? m.diffs.slice(0, typical).map(diffBlock).join('\n') : '<p>No per-image samples were given (pass --candidate-samples and --baseline-samples), or the models agree on every image.</p>'}</section>`;
  const rec = `<section><h2>Recommendation</h2>${recommendationBlock(m)}</section>`;
  return page(`Report ${m.id}`, `${cover}\n${content}\n${samples}\n${rec}`, '@page { size: A4; margin: 16mm 14mm 18mm; } .cover h1 { border: 0; }', m.lang);
}

/** The footer Chromium prints on every page: versions and ids. */
export function pdfFooter(m: ReportModel): string {
  const job = m.job.run_id ? `job ${m.job.run_id}${m.job.run_attempt ? `.${m.job.run_attempt}` : ''}` : 'job local';
  return `<div lang="${esc(m.lang)}" style="font-size:8px;width:100%;padding:0 14mm;color:#57606a;display:flex;justify-content:space-between;gap:8px;font-family:${esc(FONT_STACK)}"><span style="overflow-wrap:anywhere">mlloop ${esc(m.version)} · ${esc(m.candidate.name)} vs ${esc(m.baseline.name)} · ${esc(job)} · dataset ${esc(m.dataset ?? 'unknown')} · report ${esc(m.id)}</span><span style="white-space:nowrap">page <span class="pageNumber"></span>/<span class="totalPages"></span></span></div>`;
}
