import { ConfigurationError } from '../errors.js';

/**
 * Helm's `--set` language, ported from helm/helm pkg/strvals/parser.go (v4) so that `mlloop values --set` means
 * exactly what `helm template --set` means: `a.b=1,c[0].d=x`, `\` escapes the next character (`a\.b=1`, `v=a\,b`),
 * `{a,b}` is a list, `--set` types `true`/`false`/`null` (any case) and integers not starting with 0, everything
 * else (decimals too) stays a string; `--set-string` keeps every value a string; `--set-file` reads each value
 * from the named file. Lines are parsed into one map, in Helm's order: all --set, then --set-string, then --set-file.
 */

type Obj = Record<string, unknown>;
export type SetKind = 'set' | 'set-string' | 'set-file';

const MAX_INDEX = 65536;
const MAX_NESTED_NAME_LEVEL = 30;
/** Keys that would reach Object.prototype through a plain object (Helm has no such hazard). */
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

class ParseError extends Error {}
const EOF = Symbol('eof');

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The value reader: --set types the value, --set-string does not, --set-file reads the file it names. */
type Reader = (text: string) => unknown;

function typedVal(val: string): unknown {
  const lower = val.toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  if (lower === 'null') return null;
  if (val === '0') return 0;
  // strconv.ParseInt(val, 10, 64) for values that do not start with 0.
  if (val !== '' && val[0] !== '0' && /^[+-]?[0-9]+$/.test(val)) {
    const big = BigInt(val);
    if (big >= -(2n ** 63n) && big < 2n ** 63n) {
      const n = Number(big);
      if (!Number.isSafeInteger(n)) throw new ParseError(`${val} is an integer beyond 2^53, which mlloop cannot keep exactly (use --set-string)`);
      return n === 0 ? 0 : n;
    }
  }
  return val;
}

class Scanner {
  private i = 0;
  private readonly runes: string[];
  constructor(text: string) {
    this.runes = [...text];
  }
  read(): string | typeof EOF {
    return this.i < this.runes.length ? this.runes[this.i++]! : EOF;
  }
  unread(): void {
    this.i--;
  }
  /** Runes up to one of `stop` (consumed, returned as `last`); `\x` is x. */
  until(stop: string): { text: string; last: string | typeof EOF } {
    let text = '';
    for (;;) {
      const r = this.read();
      if (r === EOF) return { text, last: EOF };
      if (stop.includes(r)) return { text, last: r };
      if (r === '\\') {
        const next = this.read();
        if (next === EOF) return { text, last: EOF };
        text += next;
      } else text += r;
    }
  }
}

function setKey(data: Obj, key: string, val: unknown): void {
  if (key === '') return;
  if (FORBIDDEN.has(key)) throw new ParseError(`"${key}" cannot be a key`);
  data[key] = val;
}

function setIndex(list: unknown[], index: number, val: unknown): unknown[] {
  if (index < 0) throw new ParseError(`negative ${index} index not allowed`);
  if (index > MAX_INDEX) throw new ParseError(`index of ${index} is greater than maximum supported index of ${MAX_INDEX}`);
  while (list.length <= index) list.push(null);
  list[index] = val;
  return list;
}

class Parser {
  constructor(
    private readonly sc: Scanner,
    private readonly data: Obj,
    private readonly reader: Reader,
  ) {}

  parse(): void {
    while (this.key(this.data, 0) !== EOF);
  }

  /** One `key…=value` assignment into `data`; EOF when the line is used up. */
  private key(data: Obj, level: number): typeof EOF | undefined {
    const { text: k, last } = this.sc.until('=[,.');
    if (last === EOF) {
      if (k.length === 0) return EOF;
      throw new ParseError(`key "${k}" has no value`);
    }
    if (last === '[') {
      const i = this.keyIndex();
      const existing = Object.hasOwn(data, k) ? data[k] : undefined;
      if (existing !== undefined && !Array.isArray(existing)) throw new ParseError(`"${k}" is not a list (it holds ${JSON.stringify(existing)})`);
      const { list, eof } = this.listItem(existing === undefined ? [] : (existing as unknown[]), i, level);
      setKey(data, k, list);
      return eof ? EOF : undefined;
    }
    if (last === '=') {
      const vl = this.valList();
      if (vl === EOF) {
        setKey(data, k, '');
        return EOF;
      }
      if (vl !== undefined) {
        setKey(data, k, vl);
        return undefined;
      }
      const { text, eof } = this.val();
      setKey(data, k, this.reader(text));
      return eof ? EOF : undefined;
    }
    if (last === ',') throw new ParseError(`key "${k}" has no value (cannot end with ,)`);
    // last === '.'
    if (++level > MAX_NESTED_NAME_LEVEL) throw new ParseError(`value name nested level is greater than maximum supported nested level of ${MAX_NESTED_NAME_LEVEL}`);
    const existing = Object.hasOwn(data, k) ? data[k] : undefined;
    if (existing !== undefined && !isObj(existing)) throw new ParseError(`"${k}" is not a map (it holds ${JSON.stringify(existing)})`);
    if (FORBIDDEN.has(k)) throw new ParseError(`"${k}" cannot be a key`);
    const inner: Obj = existing === undefined ? {} : existing;
    const e = this.key(inner, level);
    if (e === undefined && Object.keys(inner).length === 0) throw new ParseError(`key map "${k}" has no value`);
    if (Object.keys(inner).length !== 0) setKey(data, k, inner);
    return e;
  }

  private keyIndex(): number {
    const { text, last } = this.sc.until(']');
    if (last === EOF) throw new ParseError(`error parsing index: "[${text}" has no closing ]`);
    if (!/^[+-]?[0-9]+$/.test(text)) throw new ParseError(`error parsing index: "${text}" is not a number`);
    return Number(text);
  }

  /** The rest after `name[i]`: `=value`, `[j]…` or `.key…`. */
  private listItem(list: unknown[], i: number, level: number): { list: unknown[]; eof: boolean } {
    if (i < 0) throw new ParseError(`negative ${i} index not allowed`);
    const { text, last } = this.sc.until('[.=');
    if (text.length > 0) throw new ParseError(`unexpected data at end of array index: "${text}"`);
    if (last === EOF) throw new ParseError('a list index must be followed by =, [ or .');
    if (last === '=') {
      const vl = this.valList();
      if (vl === EOF) return { list: setIndex(list, i, ''), eof: true };
      if (vl !== undefined) return { list: setIndex(list, i, vl), eof: false };
      const { text: v, eof } = this.val();
      return { list: setIndex(list, i, this.reader(v)), eof };
    }
    if (last === '[') {
      const next = this.keyIndex();
      const existing = list.length > i ? list[i] : undefined;
      if (existing !== undefined && existing !== null && !Array.isArray(existing)) throw new ParseError(`index ${i} is not a list`);
      const inner = this.listItem(Array.isArray(existing) ? existing : [], next, level);
      return { list: setIndex(list, i, inner.list), eof: inner.eof };
    }
    // last === '.': an object in the list (a non-object there is replaced, as Helm does).
    let inner: Obj = {};
    if (list.length > i && isObj(list[i])) inner = list[i] as Obj;
    const e = this.key(inner, level);
    return { list: setIndex(list, i, inner), eof: e === EOF };
  }

  /** The value up to the next unescaped comma. */
  private val(): { text: string; eof: boolean } {
    const { text, last } = this.sc.until(',');
    return { text, eof: last === EOF };
  }

  /** `{a,b}`: a list; undefined when the value is not a list; EOF when nothing follows `=`. */
  private valList(): unknown[] | undefined | typeof EOF {
    const r = this.sc.read();
    if (r === EOF) return EOF;
    if (r !== '{') {
      this.sc.unread();
      return undefined;
    }
    const list: unknown[] = [];
    for (;;) {
      const { text, last } = this.sc.until(',}');
      if (last === EOF) throw new ParseError("list must terminate with '}'");
      list.push(this.reader(text));
      if (last === '}') {
        const after = this.sc.read();
        if (after !== EOF && after !== ',') this.sc.unread();
        return list;
      }
    }
  }
}

export interface SetLine {
  kind: SetKind;
  text: string;
}

/**
 * Applies --set / --set-string / --set-file lines to `values` (changed in place) in Helm's order; `readFile` reads a
 * --set-file path. A line Helm would refuse is exit 2 naming the option, the line and Helm's reason.
 */
export function applySetLines(values: Obj, lines: readonly SetLine[], readFile: (file: string) => string): Obj {
  const order: SetKind[] = ['set', 'set-string', 'set-file'];
  const readers: Record<SetKind, Reader> = {
    set: typedVal,
    'set-string': (t) => t,
    'set-file': (t) => readFile(t),
  };
  for (const kind of order) {
    for (const line of lines.filter((l) => l.kind === kind)) {
      try {
        new Parser(new Scanner(line.text), values, readers[kind]).parse();
      } catch (e) {
        if (!(e instanceof ParseError)) throw e;
        throw new ConfigurationError(`--${kind} "${line.text}": ${e.message}`, {
          hint: 'Helm\'s syntax: a.b=1,list[0].name=x,tags={a,b}; a backslash escapes . , [ = (a\\.b=1); --set types only integers, true/false and null (set decimals in --template)',
        });
      }
    }
  }
  return values;
}

/** Whether a --set/--set-string/--set-file line assigns `path` (or something under it). */
export function setLinesTouch(lines: readonly SetLine[], path: readonly string[]): boolean {
  const probe: Obj = {};
  applySetLines(probe, lines, () => '');
  let cur: unknown = probe;
  for (const p of path) {
    if (!isObj(cur) || !Object.hasOwn(cur, p)) return false;
    cur = cur[p];
  }
  return true;
}
