/**
 * Value normalisation for matching a predicted field's text with the labelled one.
 *
 * `lenient` (default): Unicode NFKC, case folding, then every whitespace, punctuation, symbol and
 * control character removed; when both values read as numbers (thousands separators, currency signs
 * and codes, 万/亿 units) the numbers are compared instead, so "¥120,000.00" equals "12万" but
 * "1,000" does not equal "1.000". `exact` compares the raw strings.
 */
export type NormalizeMode = 'lenient' | 'exact';

export interface NormalizedValue {
  /** The text with case, width, whitespace, punctuation and symbols folded away. */
  text: string;
  /** The exact decimal number the value denotes (canonical `[-]digits e exponent`), or null. */
  number: string | null;
}

const STRIP = /[\p{White_Space}\p{Z}\p{P}\p{S}\p{Cc}\p{Cf}]/gu;
const SPACES = /[\p{White_Space}\p{Z}\p{Cf}]/gu;
const PLAIN = /^[a-z0-9]*$/;

const UNITS: Record<string, number> = { 百: 2, 千: 3, 万: 4, 十万: 5, 百万: 6, 千万: 7, 亿: 8, 十亿: 9, 百亿: 10, 千亿: 11, 万亿: 12 };
const NUMBER =
  /^(?<sign1>[-+\u2212])?(?:[¥$€£₩₹]|rmb|cny|usd|eur|gbp|jpy|hkd|us\$|hk\$|人民币)?(?<sign2>[-+\u2212])?(?<int>\d{1,3}(?:,\d{3})+|\d+)?(?:\.(?<frac>\d+))?(?<unit>万亿|[十百千]?亿|[十百千]?万|[百千])?(?:元整?|圆整?|块|rmb|cny|usd|eur|gbp|jpy|hkd)?$/u;

/** Case folding as Unicode full folding does it for the scripts that matter here (ß → ss, ς → σ). */
function caseFold(s: string): string {
  return s.toUpperCase().toLowerCase().replace(/ς/g, 'σ');
}

/** Reads a folded, space-free value as an exact decimal: `-12e3` style, or null when it is not a number. */
export function parseNumber(s: string): string | null {
  const m = NUMBER.exec(s);
  if (!m?.groups) return null;
  const g = m.groups;
  if (g.int === undefined && g.frac === undefined) return null;
  if (g.sign1 && g.sign2) return null;
  const negative = (g.sign1 ?? g.sign2 ?? '+') !== '+';
  const frac = g.frac ?? '';
  let digits = (g.int ?? '').replace(/,/g, '') + frac;
  let exponent = -frac.length + (g.unit ? UNITS[g.unit]! : 0);
  digits = digits.replace(/^0+/, '');
  if (digits === '') return '0';
  const trailing = /0+$/.exec(digits);
  if (trailing) {
    digits = digits.slice(0, -trailing[0].length);
    exponent += trailing[0].length;
  }
  return `${negative ? '-' : ''}${digits}e${exponent}`;
}

export function normalizeValue(raw: string): NormalizedValue {
  if (PLAIN.test(raw)) return { text: raw, number: /^\d+$/.test(raw) ? parseNumber(raw) : null };
  const folded = caseFold(raw.normalize('NFKC')).normalize('NFKC');
  return { text: folded.replace(STRIP, ''), number: parseNumber(folded.replace(SPACES, '')) };
}

/** True when two normalised values count as the same text. */
export function sameValue(a: NormalizedValue, b: NormalizedValue): boolean {
  if (a.number !== null && b.number !== null) return a.number === b.number;
  return a.text === b.text;
}
