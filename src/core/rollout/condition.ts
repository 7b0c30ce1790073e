/**
 * The condition language of analysis metrics: the subset of Argo Rollouts' expressions that metric
 * checks use, evaluated over `result` (a number, or the list of values a query returned).
 *
 *   result[0] <= 200                 comparisons: < <= > >= == !=
 *   isNaN(result[0]) || result[0] > 0.01
 *   len(result) == 0   max(result) < 250   avg(result) < 0.2   min(result) > 0
 *   !(result[0] > 1) && true         boolean: && || ! (also and, or, not), parentheses
 *   result[0] * 1000 < 200           arithmetic: + - * /
 */

export type Value = number | boolean | readonly number[];

/** Numbers in messages: 412, 3.14, 0.0123 — enough digits to see why, not more. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : '-Inf';
  const a = Math.abs(v);
  if (a >= 100) return String(Math.round(v));
  if (a >= 1) return String(Number(v.toFixed(2)));
  if (a === 0) return '0';
  return String(Number(v.toPrecision(3)));
}


type Node =
  | { k: 'num'; v: number }
  | { k: 'bool'; v: boolean }
  | { k: 'result' }
  | { k: 'index'; of: Node; at: Node }
  | { k: 'call'; fn: string; arg: Node }
  | { k: 'not'; of: Node }
  | { k: 'neg'; of: Node }
  | { k: 'bin'; op: string; a: Node; b: Node };

const FUNCTIONS = ['isNaN', 'isInf', 'len', 'max', 'min', 'avg', 'sum', 'abs'];
const COMPARE = ['<', '<=', '>', '>=', '==', '!='];

/** A measurement whose value is missing (an empty result, an index past its end). */
export class MissingValue extends Error {}

export interface Condition {
  text: string;
  ast: Node;
  /** True when the expression tests for NaN itself, so a NaN value is judged, not inconclusive. */
  handlesNaN: boolean;
}

export function parseCondition(text: string): Condition {
  const tokens = tokenize(text);
  let i = 0;
  const peek = () => tokens[i];
  const take = (t?: string) => {
    const tok = tokens[i];
    if (t !== undefined && tok !== t) throw new Error(`expected "${t}" but found ${tok === undefined ? 'the end' : `"${tok}"`}`);
    i++;
    return tok!;
  };
  const or = (): Node => {
    let a = and();
    while (peek() === '||' || peek() === 'or') {
      take();
      a = { k: 'bin', op: '||', a, b: and() };
    }
    return a;
  };
  const and = (): Node => {
    let a = not();
    while (peek() === '&&' || peek() === 'and') {
      take();
      a = { k: 'bin', op: '&&', a, b: not() };
    }
    return a;
  };
  const not = (): Node => {
    if (peek() === '!' || peek() === 'not') {
      take();
      return { k: 'not', of: not() };
    }
    return cmp();
  };
  const cmp = (): Node => {
    const a = add();
    const op = peek();
    if (op !== undefined && COMPARE.includes(op)) {
      take();
      return { k: 'bin', op, a, b: add() };
    }
    return a;
  };
  const add = (): Node => {
    let a = mul();
    while (peek() === '+' || peek() === '-') a = { k: 'bin', op: take(), a, b: mul() };
    return a;
  };
  const mul = (): Node => {
    let a = unary();
    while (peek() === '*' || peek() === '/') a = { k: 'bin', op: take(), a, b: unary() };
    return a;
  };
  const unary = (): Node => {
    if (peek() === '-') {
      take();
      return { k: 'neg', of: unary() };
    }
    let node = primary();
    while (peek() === '[') {
      take();
      const at = or();
      take(']');
      node = { k: 'index', of: node, at };
    }
    return node;
  };
  const primary = (): Node => {
    const t = take();
    if (t === undefined) throw new Error('unexpected end of the expression');
    if (t === '(') {
      const e = or();
      take(')');
      return e;
    }
    if (t === 'result') return { k: 'result' };
    if (t === 'true' || t === 'false') return { k: 'bool', v: t === 'true' };
    if (/^(\d+\.?\d*(e[+-]?\d+)?|\.\d+(e[+-]?\d+)?)$/i.test(t)) return { k: 'num', v: Number(t) };
    if (t === 'NaN') return { k: 'num', v: Number.NaN };
    if (FUNCTIONS.includes(t)) {
      take('(');
      const arg = or();
      take(')');
      return { k: 'call', fn: t, arg };
    }
    throw new Error(`unknown word "${t}" (the language knows result, numbers, true/false, ${FUNCTIONS.join(', ')})`);
  };
  let ast: Node;
  try {
    ast = or();
    if (i < tokens.length) throw new Error(`unexpected "${tokens[i]}"`);
  } catch (e) {
    throw new Error(`cannot read the condition "${text}": ${(e as Error).message}`);
  }
  return { text, ast, handlesNaN: /\bisNaN\s*\(/.test(text) };
}

function tokenize(text: string): string[] {
  const re = /\s*(\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|[A-Za-z_][A-Za-z0-9_]*|<=|>=|==|!=|&&|\|\||[<>!()[\]+\-*/])\s*/y;
  const out: string[] = [];
  let pos = 0;
  const t = text.trim();
  while (pos < t.length) {
    re.lastIndex = pos;
    const m = re.exec(t);
    if (!m) throw new Error(`cannot read the condition "${text}": unexpected character "${t[pos]}" at position ${pos + 1}`);
    out.push(m[1]!);
    pos = re.lastIndex;
  }
  return out;
}

function num(v: Value, what: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') throw new Error(`${what} is true/false, not a number`);
  if (v.length === 1) return v[0]!;
  if (v.length === 0) throw new MissingValue('the result is empty');
  throw new Error(`${what} is a list of ${v.length} values; pick one with result[0] or reduce it with max(), min() or avg()`);
}

function list(v: Value): readonly number[] {
  if (typeof v === 'number') return [v];
  if (typeof v === 'boolean') throw new Error('expected a list of numbers, got true/false');
  return v;
}

function bool(v: Value, what: string): boolean {
  if (typeof v === 'boolean') return v;
  throw new Error(`${what} is a number, not a condition (compare it, e.g. result[0] < 200)`);
}

function evalNode(n: Node, result: Value): Value {
  switch (n.k) {
    case 'num':
    case 'bool':
      return n.v;
    case 'result':
      return result;
    case 'index': {
      const of = list(evalNode(n.of, result));
      const at = num(evalNode(n.at, result), 'an index');
      if (!Number.isInteger(at) || at < 0) throw new Error(`index ${at} is not a whole number ≥ 0`);
      if (at >= of.length) throw new MissingValue(of.length === 0 ? 'the result is empty' : `result has ${of.length} value(s), no [${at}]`);
      return of[at]!;
    }
    case 'call': {
      const v = evalNode(n.arg, result);
      switch (n.fn) {
        case 'isNaN':
          return Number.isNaN(num(v, 'isNaN()'));
        case 'isInf':
          return Math.abs(num(v, 'isInf()')) === Number.POSITIVE_INFINITY;
        case 'len':
          return list(v).length;
        case 'abs':
          return Math.abs(num(v, 'abs()'));
        default: {
          const xs = list(v);
          if (xs.length === 0) throw new MissingValue('the result is empty');
          if (n.fn === 'max') return Math.max(...xs);
          if (n.fn === 'min') return Math.min(...xs);
          const s = xs.reduce((a, b) => a + b, 0);
          return n.fn === 'sum' ? s : s / xs.length;
        }
      }
    }
    case 'not':
      return !bool(evalNode(n.of, result), 'the operand of !');
    case 'neg':
      return -num(evalNode(n.of, result), 'the operand of -');
    case 'bin': {
      if (n.op === '&&') return bool(evalNode(n.a, result), 'the left of &&') && bool(evalNode(n.b, result), 'the right of &&');
      if (n.op === '||') return bool(evalNode(n.a, result), 'the left of ||') || bool(evalNode(n.b, result), 'the right of ||');
      const a = evalNode(n.a, result);
      const b = evalNode(n.b, result);
      if (n.op === '==' && typeof a === 'boolean') return a === b;
      if (n.op === '!=' && typeof a === 'boolean') return a !== b;
      const x = num(a, `the left of ${n.op}`);
      const y = num(b, `the right of ${n.op}`);
      switch (n.op) {
        case '<': return x < y;
        case '<=': return x <= y;
        case '>': return x > y;
        case '>=': return x >= y;
        case '==': return x === y;
        case '!=': return x !== y;
        case '+': return x + y;
        case '-': return x - y;
        case '*': return x * y;
        case '/': return x / y;
      }
      throw new Error(`unknown operator ${n.op}`);
    }
  }
}

/** Evaluates a condition; throws MissingValue when the value it needs is not there. */
export function evaluateCondition(c: Condition, result: Value): boolean {
  const v = evalNode(c.ast, result);
  if (typeof v !== 'boolean') throw new Error(`the condition "${c.text}" gives a number, not true/false (compare it, e.g. result[0] < 200)`);
  return v;
}

const NEGATE: Record<string, string> = { '<': '>=', '<=': '>', '>': '<=', '>=': '<', '==': '!=', '!=': '==' };

/**
 * The bound a simple comparison states (`result[0] <= 200` → {op: '<=', bound: 200}), so failures read
 * `latency_ms.p95=412 > 200` instead of quoting the expression.
 */
export function simpleBound(c: Condition): { op: string; bound: number } | undefined {
  const n = c.ast;
  if (n.k !== 'bin' || !COMPARE.includes(n.op)) return undefined;
  const isValue = (x: Node): boolean => x.k === 'result' || (x.k === 'index' && x.of.k === 'result' && x.at.k === 'num') || (x.k === 'call' && ['max', 'min', 'avg'].includes(x.fn) && x.arg.k === 'result');
  if (isValue(n.a) && n.b.k === 'num') return { op: n.op, bound: n.b.v };
  if (n.a.k === 'num' && isValue(n.b)) {
    const flip: Record<string, string> = { '<': '>', '<=': '>=', '>': '<', '>=': '<=', '==': '==', '!=': '!=' };
    return { op: flip[n.op]!, bound: n.a.v };
  }
  return undefined;
}

/**
 * Why a condition came out as it did, in the user's terms: `latency_ms.p95=412 > 200` rather than the
 * expression. Walks to the part that decided it (the disjunct that held, the conjunct that did not).
 */
export function describeOutcome(name: string, value: string, c: Condition, result: Value, held: boolean, kind: 'success' | 'failure'): string {
  const why = explain(c.ast, result, held, name, value);
  return why ?? `${name}=${value} (${kind}Condition "${c.text}" is ${held})`;
}

function explain(n: Node, result: Value, held: boolean, name: string, value: string): string | undefined {
  const holds = (x: Node) => {
    try {
      return evalNode(x, result) === true;
    } catch {
      return false;
    }
  };
  if (n.k === 'bin' && (n.op === '||' || n.op === '&&')) {
    // `a || b` held because of a disjunct that held; `a && b` failed because of a conjunct that failed.
    const decisive = (n.op === '||') === held;
    const child = [n.a, n.b].find((x) => holds(x) === held);
    return decisive && child ? explain(child, result, held, name, value) : undefined;
  }
  if (n.k === 'not') return explain(n.of, result, !held, name, value);
  if (n.k === 'call' && n.fn === 'isNaN') return held ? `${name}=NaN (no data)` : undefined;
  const simple = simpleBound({ text: '', ast: n, handlesNaN: false });
  if (simple && n.k === 'bin') {
    // A reduced list reads as `max(latency_ms.p95)=490 > 200`; a single value as `latency_ms.p95=490 > 200`.
    const side = n.a.k === 'num' ? n.b : n.a;
    let shownValue = value;
    let shownName = name;
    if (side.k === 'call') {
      shownName = `${side.fn}(${name})`;
      try {
        shownValue = formatValue(evalNode(side, result) as number);
      } catch {
        /* keep the raw value */
      }
    }
    return `${shownName}=${shownValue} ${held ? simple.op : NEGATE[simple.op]!} ${simple.bound}`;
  }
  return undefined;
}
