import { mdTable, mdText, textTable, formatNumber } from '../format/markdown.js';
import { displayText } from '../format/text.js';
import type { Check } from './checks.js';
import type { Verdict } from './gate.js';
import { fmtP } from './gate.js';

const num = (v: number | null | undefined) => (v === null || v === undefined ? '—' : formatNumber(v));
const signed = (v: number | null | undefined) => (v === null || v === undefined ? '—' : `${v > 0 ? '+' : ''}${formatNumber(v)}`);

function originText(v: Verdict): string {
  const b = v.baseline;
  if (b.kind === 'gitops') return `release of ${b.app}/${b.env} in ${b.repo} @ ${b.commit?.slice(0, 7) ?? '?'}${b.source_commit ? ` (model commit ${b.source_commit.slice(0, 7)})` : ''}`;
  if (b.kind === 'artifact') return `artifact ${b.artifact_name} of run ${b.run_id}${b.commit ? ` @ ${b.commit.slice(0, 7)}` : ''}`;
  return b.metrics_file;
}

/** One row per check, failures first so a long table still shows what matters. */
function rows(checks: Check[]): string[][] {
  const sorted = [...checks].sort((a, b) => Number(a.pass) - Number(b.pass));
  return sorted.map((c) => [c.pass ? '✅' : '❌', c.id, num(c.baseline), num(c.candidate), signed(c.delta), c.bound === null ? '—' : formatNumber(c.bound), c.reason]);
}

/** A mermaid bar chart of per-field deltas (GitHub renders it in comments and job summaries). */
export function mermaidDeltas(title: string, items: { label: string; delta: number }[]): string {
  if (items.length === 0) return '';
  // Inside a code fence only a backtick run, a quote or a line break could escape the label; < > & are dropped for Mermaid's own HTML labels, mentions neutralised.
  const clean = (s: string) => displayText(s, 40).replace(/["\n\r`]/g, "'").replace(/[<>&]/g, '').replace(/@/g, '@\u200d');
  const max = Math.max(0.001, ...items.map((i) => Math.abs(i.delta)));
  const bound = Number((max * 1.2).toPrecision(2));
  return [
    '```mermaid',
    'xychart-beta',
    `  title "${clean(title)}"`,
    `  x-axis [${items.map((i) => `"${clean(i.label)}"`).join(', ')}]`,
    `  y-axis "delta" ${-bound} --> ${bound}`,
    `  bar [${items.map((i) => Number(i.delta.toPrecision(4))).join(', ')}]`,
    '```',
  ].join('\n');
}

export function perFieldDeltas(v: Verdict): { label: string; delta: number }[] {
  const fromChecks = v.checks.filter((c) => c.metric.startsWith('per_field.') && c.rule !== 'significance' && c.delta !== null);
  const seen = new Set<string>();
  const out: { label: string; delta: number }[] = [];
  for (const c of fromChecks) {
    const label = c.metric.replace(/^per_field\./, '');
    if (seen.has(label)) continue;
    seen.add(label);
    out.push({ label, delta: c.delta! });
  }
  if (out.length === 0 && v.significance) for (const f of v.significance.per_field) out.push({ label: f.field, delta: f.delta });
  return out;
}

/** The Markdown report of a verdict: job summary and PR comment. */
export function verdictMarkdown(v: Verdict): string {
  const failedCount = v.checks.filter((c) => !c.pass).length;
  const head = v.pass ? `### ✅ mlloop gate \`${v.gate}\`: pass` : `### ❌ mlloop gate \`${v.gate}\`: fail (${failedCount} of ${v.checks.length} checks)`;
  const lines = [
    head,
    '',
    `**Candidate** ${mdText(v.candidate.model_version ?? v.candidate.metrics_file)} vs **baseline** ${mdText(v.baseline.model_version ?? '?')} (${mdText(originText(v))}), dataset ${mdText(v.candidate.dataset ?? v.baseline.dataset ?? 'unknown')}.`,
  ];
  if (!v.comparable) lines.push('', `> ⚠️ compared with --allow-incomparable: ${v.incomparable_reasons.map((r) => mdText(r)).join('; ')}`);
  const s = v.significance?.overall;
  if (s) {
    const ci = s.ci ? `, ${Math.round((1 - s.alpha) * 100)}% CI [${s.ci.map((x) => signed(x)).join(', ')}]` : '';
    lines.push('', `**Significance** (${s.method}): Δ${s.metric} = ${signed(s.delta)}, p = ${fmtP(s.p_value)}${ci}; require ${s.require}${s.margin ? ` (margin ${s.margin})` : ''}.`);
  }
  lines.push('', mdTable(['', 'check', 'baseline', 'candidate', 'Δ', 'bound', 'reason'], rows(v.checks), ['c', 'l', 'r', 'r', 'r', 'r', 'l']));
  const deltas = perFieldDeltas(v);
  if (deltas.length) lines.push('', mermaidDeltas('per-field delta (candidate − baseline)', deltas));
  if (v.per_field_skipped.length) lines.push('', `_Not checked (support below min_support): ${v.per_field_skipped.map((f) => `${mdText(f.field)} (${f.support ?? '?'})`).join(', ')}._`);
  if (v.significance?.per_field.length) {
    lines.push(
      '',
      `<details><summary>Per-field significance (${v.significance.correction} correction)</summary>`,
      '',
      mdTable(['field', 'baseline', 'candidate', 'Δ', 'p', 'adjusted p', ''], v.significance.per_field.map((f) => [f.field, num(f.baseline), num(f.candidate), signed(f.delta), fmtP(f.p_value), fmtP(f.p_adjusted), f.pass ? '✅' : '❌']), ['l', 'r', 'r', 'r', 'r', 'r', 'c']),
      '',
      '</details>',
    );
  }
  return `${lines.join('\n')}\n`;
}

/** The terminal form. */
export function verdictText(v: Verdict): string {
  const head = v.pass ? `gate ${v.gate}: PASS` : `gate ${v.gate}: FAIL`;
  const table = textTable(['', 'check', 'baseline', 'candidate', 'delta', 'reason'], [...v.checks].sort((a, b) => Number(a.pass) - Number(b.pass)).map((c) => [c.pass ? 'ok' : 'FAIL', c.id, num(c.baseline), num(c.candidate), signed(c.delta), c.reason]));
  return [head, `baseline: ${originText(v)}`, table].join('\n');
}
