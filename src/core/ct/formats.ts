/** Format checks for extracted field values: a failed check means a human should look. */

export type FormatKind = 'date' | 'cn-id' | 'amount' | 'none';
export const FORMAT_KINDS: readonly FormatKind[] = ['date', 'cn-id', 'amount', 'none'];

export interface FormatProblem {
  kind: FormatKind;
  why: string;
}

/** A field label → the check its values get, when the user did not say (`--format label=kind`). */
export function guessFormat(label: string): FormatKind {
  const l = label.toLowerCase();
  if (/date|日期|起期|生效/.test(l)) return 'date';
  if (/id_?(number|no|card)|身份证|证件/.test(l)) return 'cn-id';
  if (/amount|sum_insured|premium|金额|保额|保费/.test(l)) return 'amount';
  return 'none';
}

function validDay(y: number, m: number, d: number): boolean {
  if (m < 1 || m > 12 || d < 1) return false;
  const days = new Date(Date.UTC(y, m, 0)).getUTCDate();
  return d <= days;
}

/** Calendar dates as policies print them: 2025-06-12, 2025/6/12, 2025.06.12, 2025年6月12日, 20250612. */
export function checkDate(value: string): FormatProblem | null {
  const v = value.trim();
  const m = /^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$/.exec(v) ?? /^(\d{4})(\d{2})(\d{2})$/.exec(v);
  if (!m) return { kind: 'date', why: `"${value}" is not a date (expected e.g. 2025-06-12)` };
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (y < 1900 || y > 2100) return { kind: 'date', why: `year ${y} is out of range` };
  if (!validDay(y, mo, d)) return { kind: 'date', why: `"${value}" is not a calendar day` };
  return null;
}

const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK = '10X98765432';

/** The check character of an 18-digit resident identity number (GB 11643-1999, ISO 7064 MOD 11-2). */
export function cnIdCheckChar(first17: string): string {
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(first17[i]) * ID_WEIGHTS[i]!;
  return ID_CHECK[sum % 11]!;
}

/** 18-character Chinese resident identity number: region, valid birth date, checksum. */
export function checkCnId(value: string): FormatProblem | null {
  const v = value.replace(/\s+/g, '').toUpperCase();
  if (!/^\d{17}[\dX]$/.test(v)) return { kind: 'cn-id', why: `"${value}" is not 17 digits and a check digit or X (${v.length} characters)` };
  if (v[0] === '0') return { kind: 'cn-id', why: `region code ${v.slice(0, 6)} is not valid` };
  const [y, m, d] = [Number(v.slice(6, 10)), Number(v.slice(10, 12)), Number(v.slice(12, 14))];
  if (y < 1900 || y > 2100 || !validDay(y, m, d)) return { kind: 'cn-id', why: `birth date ${v.slice(6, 14)} is not a calendar day` };
  const want = cnIdCheckChar(v.slice(0, 17));
  if (v[17] !== want) return { kind: 'cn-id', why: `check digit is ${v[17]}, expected ${want}` };
  return null;
}

/** Money amounts: 300000, 300,000.00, ¥300,000, 30万, RMB 1.5亿元; positive, at most two decimals. */
export function parseAmount(value: string): number | null {
  let v = value.normalize('NFKC').replace(/\s+/g, '');
  v = v.replace(/^(RMB|CNY|¥|\$|人民币)/i, '').replace(/(元整|元|整|RMB|CNY)$/i, '');
  let unit = 1;
  if (/万$/.test(v)) {
    unit = 1e4;
    v = v.slice(0, -1);
  } else if (/亿$/.test(v)) {
    unit = 1e8;
    v = v.slice(0, -1);
  }
  if (!/^(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$/.test(v)) return null;
  const n = Number(v.replace(/,/g, '')) * unit;
  if (unit === 1 && /\.\d{3,}$/.test(v)) return null;
  return Number.isFinite(n) ? n : null;
}

export function checkAmount(value: string): FormatProblem | null {
  const n = parseAmount(value);
  if (n === null) return { kind: 'amount', why: `"${value}" is not an amount (expected e.g. 300000.00 or 30万)` };
  if (n <= 0) return { kind: 'amount', why: `amount ${n} is not positive` };
  return null;
}

export function checkFormat(kind: FormatKind, value: string): FormatProblem | null {
  switch (kind) {
    case 'date':
      return checkDate(value);
    case 'cn-id':
      return checkCnId(value);
    case 'amount':
      return checkAmount(value);
    default:
      return null;
  }
}

/**
 * The share of characters that OCR of a Chinese/English policy should not produce: anything outside
 * CJK ideographs, ASCII, CJK and full-width punctuation — replacement characters, control and
 * private-use characters, mojibake (Ã©, å¼ ), box drawing.
 */
export function garbledRatio(value: string): number {
  let total = 0;
  let bad = 0;
  for (let i = 0; i < value.length; i++) {
    const cp = value.codePointAt(i)!;
    if (cp > 0xffff) i++;
    // White space does not count either way.
    if (cp === 0x20 || (cp >= 0x09 && cp <= 0x0d) || cp === 0xa0 || cp === 0x3000 || cp === 0x2028 || cp === 0x2029 || cp === 0xfeff || (cp >= 0x2000 && cp <= 0x200a)) continue;
    total++;
    const ok =
      (cp >= 0x21 && cp <= 0x7e) ||
      (cp >= 0x4e00 && cp <= 0x9fff) ||
      (cp >= 0x3400 && cp <= 0x4dbf) ||
      (cp >= 0x3000 && cp <= 0x303f) ||
      (cp >= 0xff01 && cp <= 0xff5e) ||
      cp === 0x00b7 ||
      cp === 0x00a5 ||
      cp === 0xffe5 ||
      (cp >= 0x2018 && cp <= 0x201d);
    if (!ok) bad++;
  }
  return total ? bad / total : 0;
}
