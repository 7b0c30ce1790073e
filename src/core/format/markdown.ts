import { displayText } from './text.js';

/** Markdown written by mlloop itself (not data): passed through as it is. */
export class Markdown {
  constructor(readonly text: string) {}
}

/** Marks trusted Markdown (mlloop's own emphasis or code), e.g. a table cell `md('**regressed**')`. */
export const md = (text: string): Markdown => new Markdown(text);

/** Strings from data are cut here in Markdown (a PR comment has a size limit; the full text is in the JSON). */
export const MD_TEXT_MAX = 300;

/**
 * The one escaping of data for Markdown (PR comments, job summaries, report.md): the text renders as the
 * same text on GitHub and in any CommonMark/GFM renderer. HTML is entity-escaped (no tags, no comments),
 * Markdown punctuation is backslash-escaped (no emphasis, links, images, code, tables cut by `|`, math),
 * URLs and e-mail addresses are not auto-linked, `@team` mentions notify nobody (a zero-width joiner
 * after the @), line breaks become spaces, and a line-start marker (`# `, `- `, `1. `) stays text.
 */
export function mdText(v: unknown, max = MD_TEXT_MAX): string {
  return displayText(v, max)
    .replace(/[\r\n\t]+/g, ' ')
    .replace(/^\s+/, '')
    .replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'))
    .replace(/[\\`*[\]|~$!]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])/g, '\\$&')
    .replace(/:\/\//g, '\\://')
    .replace(/\b(www)\./gi, '$1\\.')
    .replace(/@/g, '@\u200d')
    .replace(/^([#+=-])(?!\d)/, '\\$1')
    .replace(/^(\d+)([.)])(?=\s|$)/, '$1\\$2');
}

/** A table cell: data through mdText; mlloop's own Markdown kept, made safe for one cell. */
export function mdCell(v: unknown): string {
  if (v instanceof Markdown) return v.text.replace(/\|/g, '\\|').replace(/\r?\n/g, '<br>');
  return mdText(v);
}

export function mdTable(headers: readonly string[], rows: readonly (readonly unknown[])[], align?: readonly ('l' | 'r' | 'c')[]): string {
  const sep = headers.map((_, i) => ({ l: ':--', r: '--:', c: ':-:' })[align?.[i] ?? 'l']);
  return [`| ${headers.map(mdCell).join(' | ')} |`, `| ${sep.join(' | ')} |`, ...rows.map((r) => `| ${r.map(mdCell).join(' | ')} |`)].join('\n');
}

/** A plain-text table for terminals (columns padded, numbers right-aligned). */
export function textTable(headers: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const cells = [headers, ...rows].map((r) => r.map((c) => String(c ?? '')));
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => [...(r[i] ?? '')].length)));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number' || /^-?[\d.]+%?$/.test(String(r[i] ?? ''))));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => {
        const pad = ' '.repeat(Math.max(0, widths[i]! - [...c].length));
        return numeric[i] ? pad + c : c + pad;
      })
      .join('  ')
      .trimEnd();
  return [fmt(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(fmt)].join('\n');
}

/** Formats a metric for people: ratios with 4 decimals, other numbers compactly. */
export function formatNumber(v: number | undefined | null, digits = 4): string {
  if (v === undefined || v === null || Number.isNaN(v)) return '—';
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(digits);
}
