/**
 * sacrebleu's tokenizers, reproduced character for character so scores match sacrebleu to 1e-6:
 * `13a` (mteval-v13a, sacrebleu's default), `zh` (every CJK character is a token, the rest as 13a),
 * `char` (every character is a token) and `none` (whitespace only).
 */
export const TOKENIZERS = ['13a', 'zh', 'char', 'none'] as const;
export type TokenizerName = (typeof TOKENIZERS)[number];

/** Python's str.split()/str.strip() whitespace (str.isspace), which differs from JavaScript's \s. */
const PY_WS = '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_WS_RUN = new RegExp(`[${PY_WS}]+`, 'u');
const PY_WS_START = new RegExp(`^[${PY_WS}]+`, 'u');
const PY_WS_END = new RegExp(`[${PY_WS}]+$`, 'u');

/** Python's `line.split()`: tokens separated by runs of Unicode whitespace, no empty tokens. */
export function pySplit(line: string): string[] {
  const out = line.split(PY_WS_RUN);
  if (out.length && out[0] === '') out.shift();
  if (out.length && out[out.length - 1] === '') out.pop();
  return out;
}

export function pyRstrip(s: string): string {
  const last = s.charCodeAt(s.length - 1);
  // Most lines end in a character that is plainly not whitespace.
  if ((last > 0x20 && last < 0x85) || last > 0x3000) return s;
  return s.replace(PY_WS_END, '');
}

export function pyStrip(s: string): string {
  return s.replace(PY_WS_START, '').replace(PY_WS_END, '');
}

// sacrebleu's TokenizerRegexp (tokenizer_re.py), the part 13a and zh share.
const RE_PUNCT = /([{-~[-` -&(-+:-@/])/gu;
const RE_PERIOD_COMMA_AFTER_NON_DIGIT = /([^0-9])([.,])/gu;
const RE_PERIOD_COMMA_BEFORE_NON_DIGIT = /([.,])([^0-9])/gu;
const RE_DASH_AFTER_DIGIT = /([0-9])(-)/gu;

/** Characters that make the regex tokenizer do more than split on whitespace (the space itself aside). */
const NEEDS_REGEX = /[!-&(-+:-@/{-~[-`.,-]/u;

/** sacrebleu's TokenizerRegexp, returning the tokens (what `' '.join(line.split())` separates by spaces). */
function postTokens(line: string): string[] {
  if (NEEDS_REGEX.test(line)) {
    line = line
      .replace(RE_PUNCT, ' $1 ')
      .replace(RE_PERIOD_COMMA_AFTER_NON_DIGIT, '$1 $2 ')
      .replace(RE_PERIOD_COMMA_BEFORE_NON_DIGIT, ' $1 $2')
      .replace(RE_DASH_AFTER_DIGIT, '$1 $2 ');
  }
  return pySplit(line);
}

export function tokens13a(line: string): string[] {
  if (line.includes('<skipped>')) line = line.replaceAll('<skipped>', '');
  if (line.includes('\n')) line = line.replaceAll('-\n', '').replaceAll('\n', ' ');
  if (line.includes('&')) {
    line = line.replaceAll('&quot;', '"').replaceAll('&amp;', '&').replaceAll('&lt;', '<').replaceAll('&gt;', '>');
  }
  // sacrebleu pads with spaces, which lets a leading "." or "," split off.
  return postTokens(` ${line} `);
}

function isPyWs(c: number): boolean {
  return c <= 0x20 ? c === 0x20 || (c >= 0x09 && c <= 0x0d) || c >= 0x1c : c === 0x85 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000;
}

let bufA = new Uint16Array(256);
let bufB = new Uint16Array(256);

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
/** The characters TokenizerRegexp's first rule pads with spaces: [{-~[-` -&(-+:-@/]. */
const isPunct = (c: number) => (c >= 0x7b && c <= 0x7e) || (c >= 0x5b && c <= 0x60) || (c >= 0x20 && c <= 0x26) || (c >= 0x28 && c <= 0x2b) || (c >= 0x3a && c <= 0x40) || c === 0x2f;
const isPeriodComma = (c: number) => c === 0x2e || c === 0x2c;

/**
 * Number of tokens 13a makes of a line, computed without building strings: the four substitutions of
 * TokenizerRegexp replayed over UTF-16 code units (each rule is a two-character pattern applied left
 * to right without overlap, which a scan reproduces exactly; the rules only test ASCII characters), then
 * the runs of non-whitespace counted. Equal to tokens13a(line).length (tested on random text).
 */
export function count13a(line: string): number {
  if (line.includes('<skipped>') || line.includes('\n') || line.includes('&')) return tokens13a(line).length;
  if (!NEEDS_REGEX.test(line)) return countRuns(line);
  const n = line.length + 2;
  if (bufA.length < n * 24) {
    bufA = new Uint16Array(n * 24);
    bufB = new Uint16Array(n * 24);
  }
  let a = bufA;
  let b = bufB;
  // Rule 1 on ` ${line} `: pad every punctuation character with spaces.
  let len = 0;
  a[len++] = 0x20;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (isPunct(c)) {
      a[len++] = 0x20;
      a[len++] = c;
      a[len++] = 0x20;
    } else a[len++] = c;
  }
  a[len++] = 0x20;
  // Rule 2: ([^0-9])([.,]) → "$1 $2 ".
  let out = 0;
  for (let i = 0; i < len; ) {
    if (i + 1 < len && !isDigit(a[i]!) && isPeriodComma(a[i + 1]!)) {
      b[out++] = a[i]!;
      b[out++] = 0x20;
      b[out++] = a[i + 1]!;
      b[out++] = 0x20;
      i += 2;
    } else b[out++] = a[i++]!;
  }
  [a, b, len] = [b, a, out];
  // Rule 3: ([.,])([^0-9]) → " $1 $2".
  out = 0;
  for (let i = 0; i < len; ) {
    if (i + 1 < len && isPeriodComma(a[i]!) && !isDigit(a[i + 1]!)) {
      b[out++] = 0x20;
      b[out++] = a[i]!;
      b[out++] = 0x20;
      b[out++] = a[i + 1]!;
      i += 2;
    } else b[out++] = a[i++]!;
  }
  [a, b, len] = [b, a, out];
  // Rule 4: ([0-9])(-) → "$1 $2 ".
  let tokens = 0;
  let inToken = false;
  const see = (c: number) => {
    const ws = isPyWs(c);
    if (!ws && !inToken) tokens++;
    inToken = !ws;
  };
  for (let i = 0; i < len; ) {
    if (i + 1 < len && isDigit(a[i]!) && a[i + 1] === 0x2d) {
      see(a[i]!);
      see(0x20);
      see(0x2d);
      see(0x20);
      i += 2;
    } else see(a[i++]!);
  }
  return tokens;
}

/** Runs of non-whitespace (Python's str.split) in a line. */
function countRuns(line: string): number {
  let n = 0;
  let inToken = false;
  for (let i = 0; i < line.length; i++) {
    const ws = isPyWs(line.charCodeAt(i));
    if (!ws && !inToken) n++;
    inToken = !ws;
  }
  return n;
}

export function tokenize13a(line: string): string {
  return tokens13a(line).join(' ');
}

/**
 * The code point ranges of sacrebleu's TokenizerZh._is_chinese_char. sacrebleu writes two of them as
 * '\u20000'–'\u2a6d6' and '\u2f800'–'\u2fa1d', which Python reads as two-character strings; compared
 * with a single character they select U+2001–U+2A6D and U+2F81–U+2FA1. Those effective ranges are
 * kept here, because they are what sacrebleu's scores are computed with.
 */
export const ZH_RANGES: readonly (readonly [number, number])[] = [
  [0x3400, 0x4db5],
  [0x4e00, 0x9fa5],
  [0x9fa6, 0x9fbb],
  [0xf900, 0xfa2d],
  [0xfa30, 0xfa6a],
  [0xfa70, 0xfad9],
  [0x2001, 0x2a6d],
  [0x2f81, 0x2fa1],
  [0xff00, 0xffef],
  [0x2e80, 0x2eff],
  [0x3000, 0x303f],
  [0x31c0, 0x31ef],
  [0x2f00, 0x2fdf],
  [0x2ff0, 0x2fff],
  [0x3100, 0x312f],
  [0x31a0, 0x31bf],
  [0xfe10, 0xfe1f],
  [0xfe30, 0xfe4f],
  [0x2600, 0x26ff],
  [0x2700, 0x27bf],
  [0x3200, 0x32ff],
  [0x3300, 0x33ff],
];

export function isZhChar(cp: number): boolean {
  if (cp < 0x2001) return false;
  for (const [lo, hi] of ZH_RANGES) if (cp >= lo && cp <= hi) return true;
  return false;
}

export function tokensZh(line: string): string[] {
  line = pyStrip(line);
  let out = '';
  for (const ch of line) out += isZhChar(ch.codePointAt(0)!) ? ` ${ch} ` : ch;
  return postTokens(out);
}

export function tokenizeZh(line: string): string {
  return tokensZh(line).join(' ');
}

export function tokenizeChar(line: string): string {
  return Array.from(line).join(' ');
}

/** The tokens BLEU counts for a line: the tokenizer's output split on whitespace, as sacrebleu does. */
export function tokenizer(name: TokenizerName): (line: string) => string[] {
  switch (name) {
    case '13a':
      return tokens13a;
    case 'zh':
      return tokensZh;
    case 'char':
      return (l) => pySplit(tokenizeChar(l));
    case 'none':
      return pySplit;
  }
}
