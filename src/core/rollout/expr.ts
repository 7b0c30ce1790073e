/**
 * A subset of expr-lang/expr v1.17.8 (the language of Argo Rollouts' conditions), read the way expr reads it:
 * tokenizer → parser (expr's precedence table) → checker (expr's static type rules, against the types of the
 * actual environment, as expr.Compile(…, expr.Env(env)) does) → evaluation (expr's runtime rules).
 * Sources: expr's docs/language-definition.md, parser/parser.go, parser/operator/operator.go,
 * parser/lexer/state.go, checker/checker.go, builtin/{builtin,lib,validation}.go, vm/runtime/*.go at v1.17.8.
 * Anything outside the subset is refused as unsupported, never read differently.
 */

/** Static types ("natures" in expr's checker). `unknown` is Go's interface{}: checked at run time only. */
export type Type =
  | { k: 'int' }
  | { k: 'float' }
  | { k: 'bool' }
  | { k: 'string' }
  | { k: 'nil' }
  | { k: 'unknown' }
  | { k: 'array'; of: Type };

export const INT: Type = { k: 'int' };
export const FLOAT: Type = { k: 'float' };
export const BOOL: Type = { k: 'bool' };
export const STRING: Type = { k: 'string' };
export const NIL: Type = { k: 'nil' };
export const UNKNOWN: Type = { k: 'unknown' };
export const arrayOf = (of: Type): Type => ({ k: 'array', of });

/** An expr int (Go int); a plain JS number is an expr float (Go float64). */
export class Int {
  constructor(readonly v: number) {}
}

/** A Go slice: []float64 (what Argo passes for a vector) or []interface{} (array literals, filter, map). */
export class List {
  constructor(
    readonly items: readonly Val[],
    readonly elem: 'float64' | 'interface {}',
  ) {}
}

export type Val = null | boolean | string | number | Int | List;

export interface EnvFunction {
  /** Parameter types; `unknown` is Go's `any`. */
  params: Type[];
  out: Type;
  call(args: Val[]): Val;
}

export interface Env {
  vars: Record<string, { type: Type; value: Val }>;
  functions: Record<string, EnvFunction>;
  /**
   * Filled by check, read by run: == and != whose sides are both int or both string, which expr's compiler turns
   * into a typed comparison (OpEqualInt, OpEqualString) that asserts the types at run time — nil fails there.
   */
  typed?: Map<Node, 'int' | 'string'>;
}

/** Where expr rejects an expression: `syntax` and `unsupported` at parse, `check` at compile, `run` at run time. */
export class ExprError extends Error {
  constructor(
    message: string,
    readonly stage: 'syntax' | 'unsupported' | 'check' | 'run',
  ) {
    super(message);
  }
}

export type Node =
  | { k: 'int'; v: number }
  | { k: 'float'; v: number }
  | { k: 'bool'; v: boolean }
  | { k: 'string'; v: string }
  | { k: 'nil' }
  | { k: 'ident'; name: string }
  | { k: 'pointer' }
  | { k: 'member'; of: Node; prop: Node }
  | { k: 'unary'; op: string; of: Node }
  | { k: 'binary'; op: string; a: Node; b: Node }
  | { k: 'cond'; c: Node; a: Node; b: Node }
  | { k: 'call'; fn: string; args: Node[] }
  | { k: 'builtin'; fn: string; args: Node[] }
  | { k: 'predicate'; body: Node }
  | { k: 'array'; items: Node[] };

// ---------------------------------------------------------------------------------------------- tokenizer

interface Token {
  kind: 'number' | 'string' | 'ident' | 'op' | 'bracket' | 'eof';
  v: string;
  at: number;
}

// parser/lexer/state.go: keywords that are operators.
const WORD_OPERATORS = new Set(['in', 'or', 'and', 'not', 'matches', 'contains', 'startsWith', 'endsWith', 'let', 'if', 'else']);
const NUMBER = /(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|[0-9][0-9_]*(?:\.(?!\.)[0-9_]*)?(?:[eE][+-]?[0-9_]*)?|\.[0-9][0-9_]*(?:[eE][+-]?[0-9_]*)?)/y;
const OPERATORS = ['**', '&&', '||', '==', '!=', '<=', '>=', '??', '?.', '..', '::', '+', '-', '*', '/', '%', '^', '<', '>', '!', '?', ':', ',', ';', '|', '#', '.', '='];

export function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (text.startsWith('//', i) || text.startsWith('/*', i)) throw new ExprError('comments are not supported by mlloop', 'unsupported');
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(text[i + 1] ?? ''))) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text)!;
      const end = i + m[0].length;
      // "Next thing mustn't be alphanumeric."
      if (/[A-Za-z0-9_]/.test(text[end] ?? '')) throw new ExprError(`bad number syntax: "${text.slice(i, end + 1)}" (${i + 1}:${end + 1})`, 'syntax');
      out.push({ kind: 'number', v: m[0], at: i });
      i = end;
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      let s = '';
      for (; j < text.length && text[j] !== c; j++) {
        if (text[j] === '\n') break;
        if (text[j] === '\\') {
          const e = text[++j];
          const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', v: '\v' };
          if (e === undefined || map[e] === undefined) throw new ExprError('mlloop supports only the escapes \\n \\t \\r \\\\ \\\' \\" in strings', 'unsupported');
          s += map[e];
        } else s += text[j];
      }
      if (text[j] !== c) throw new ExprError(`literal not terminated (1:${i + 1})`, 'syntax');
      out.push({ kind: 'string', v: s, at: i });
      i = j + 1;
      continue;
    }
    if (c === '`') throw new ExprError('raw strings are not supported by mlloop', 'unsupported');
    if (/[A-Za-z_$]/.test(c)) {
      let j = i;
      while (j < text.length && /[A-Za-z0-9_$]/.test(text[j]!)) j++;
      const w = text.slice(i, j);
      out.push({ kind: WORD_OPERATORS.has(w) ? 'op' : 'ident', v: w, at: i });
      i = j;
      continue;
    }
    if ('()[]{}'.includes(c)) {
      out.push({ kind: 'bracket', v: c, at: i });
      i++;
      continue;
    }
    const op = OPERATORS.find((o) => text.startsWith(o, i));
    if (!op) throw new ExprError(`unrecognized character: ${JSON.stringify(c)} (1:${i + 1})`, 'syntax');
    out.push({ kind: 'op', v: op, at: i });
    i += op.length;
  }
  out.push({ kind: 'eof', v: '', at: text.length });
  return out;
}

// ---------------------------------------------------------------------------------------------- parser

// parser/operator/operator.go
const BINARY: Record<string, { p: number; right?: boolean }> = {
  or: { p: 10 }, '||': { p: 10 }, and: { p: 15 }, '&&': { p: 15 },
  '==': { p: 20 }, '!=': { p: 20 }, '<': { p: 20 }, '>': { p: 20 }, '>=': { p: 20 }, '<=': { p: 20 }, in: { p: 20 },
  '+': { p: 30 }, '-': { p: 30 }, '*': { p: 60 }, '/': { p: 60 }, '%': { p: 60 },
  '**': { p: 100, right: true }, '^': { p: 100, right: true }, '??': { p: 500 },
};
const UNARY: Record<string, number> = { not: 50, '!': 50, '-': 90, '+': 90 };
const COMPARISON = new Set(['<', '>', '>=', '<=']);
const UNSUPPORTED_OPERATORS = new Set(['matches', 'contains', 'startsWith', 'endsWith', '..', '|', 'let', 'if', 'else', '?.', '::', ';', '=']);

/** parser.go's `predicates`: builtins whose second argument is a predicate. */
const PREDICATES = new Set(['all', 'none', 'any', 'one', 'filter', 'map', 'count', 'sum', 'find', 'findIndex', 'findLast', 'findLastIndex']);
const OPTIONAL_PREDICATE = new Set(['count', 'sum']);
/** The other builtins mlloop evaluates. */
const FUNCTIONS = new Set(['len', 'abs', 'ceil', 'floor', 'round', 'int', 'float', 'max', 'min', 'mean', 'median', 'first', 'last']);
/** expr's remaining builtins (builtin/builtin.go): valid in Argo, not evaluated by mlloop. */
const OTHER_BUILTINS = new Set('groupBy sortBy reduce type string trim trimPrefix trimSuffix upper lower split splitAfter replace repeat join indexOf lastIndexOf hasPrefix hasSuffix toJSON fromJSON toBase64 fromBase64 now duration date timezone get take keys values toPairs fromPairs reverse uniq concat flatten sort bitand bitor bitxor bitnand bitnot bitshl bitshr bitushr'.split(' '));

export function parse(text: string, envFunctions: ReadonlySet<string>): Node {
  const toks = tokenize(text);
  let i = 0;
  let depth = 0;
  const cur = () => toks[i]!;
  const is = (kind: Token['kind'], v?: string) => cur().kind === kind && (v === undefined || cur().v === v);
  const where = (t: Token) => `(1:${t.at + 1})`;
  const fail = (msg: string, t = cur()): never => {
    throw new ExprError(`${msg} ${where(t)}`, 'syntax');
  };
  const unexpected = (t = cur()): never => fail(t.kind === 'eof' ? 'unexpected end of the expression' : `unexpected token ${JSON.stringify(t.v)}`, t);
  const expect = (kind: Token['kind'], v: string) => {
    if (!is(kind, v)) fail(`expected ${JSON.stringify(v)}${cur().kind === 'eof' ? ' but the expression ended' : ` but found ${JSON.stringify(cur().v)}`}`);
    i++;
  };
  const unsupported = (what: string): never => {
    throw new ExprError(`${what} is valid expr but not supported by mlloop`, 'unsupported');
  };

  const expression = (precedence: number): Node => {
    if (is('op', 'let') || is('op', 'if')) unsupported(`"${cur().v}"`);
    let left = primary();
    let prev = '';
    for (;;) {
      let t = cur();
      if (t.kind !== 'op') break;
      let negate = false;
      if (t.v === 'not') {
        // "not in" (parser.go: operator.AllowedNegateSuffix)
        const next = toks[i + 1]!;
        if (next.kind === 'op' && ['in', 'matches', 'contains', 'startsWith', 'endsWith'].includes(next.v)) {
          if (BINARY[next.v] && BINARY[next.v]!.p < precedence) break;
          i++;
          t = cur();
          negate = true;
        } else fail(`unexpected token ${JSON.stringify(next.v)}`, next);
      }
      if (UNSUPPORTED_OPERATORS.has(t.v)) unsupported(`the operator "${t.v}"`);
      const op = BINARY[t.v];
      if (!op || op.p < precedence) break;
      i++;
      if (prev === '??' && t.v !== '??') fail(`Operator (${t.v}) and coalesce expressions (??) cannot be mixed. Wrap either by parentheses.`, t);
      if (COMPARISON.has(t.v)) {
        // parseComparison: a < b < c is (a < b) && (b < c)
        let root: Node | undefined;
        let opTok = t;
        for (;;) {
          const right = expression(op.p + 1);
          const cmp: Node = { k: 'binary', op: opTok.v, a: left, b: right };
          root = root ? { k: 'binary', op: '&&', a: root, b: cmp } : cmp;
          left = right;
          if (!(cur().kind === 'op' && COMPARISON.has(cur().v))) break;
          opTok = cur();
          i++;
        }
        left = root;
      } else {
        const right = expression(op.right ? op.p : op.p + 1);
        left = { k: 'binary', op: t.v, a: left, b: right };
        if (negate) left = { k: 'unary', op: 'not', of: left };
      }
      prev = t.v;
    }
    if (precedence === 0) {
      while (is('op', '?')) {
        i++;
        if (is('op', ':')) {
          i++;
          left = { k: 'cond', c: left, a: left, b: expression(0) };
        } else {
          const a = expression(0);
          expect('op', ':');
          left = { k: 'cond', c: left, a, b: expression(0) };
        }
      }
    }
    return left;
  };

  const primary = (): Node => {
    const t = cur();
    if (t.kind === 'op' && UNARY[t.v] !== undefined) {
      i++;
      return postfix({ k: 'unary', op: t.v, of: expression(UNARY[t.v]!) });
    }
    if (is('bracket', '(')) {
      i++;
      const e = expression(0);
      if (is('op', ';')) unsupported('a sequence ";"');
      expect('bracket', ')');
      return postfix(e);
    }
    if (depth > 0 && is('op', '#')) {
      i++;
      if (is('ident')) unsupported(`#${cur().v}`);
      return postfix({ k: 'pointer' });
    }
    if (depth > 0 && is('op', '.')) unsupported('a field of the element (".field")');
    return secondary();
  };

  const secondary = (): Node => {
    const t = cur();
    if (t.kind === 'ident') {
      i++;
      if (t.v === 'true' || t.v === 'false') return { k: 'bool', v: t.v === 'true' };
      if (t.v === 'nil') return { k: 'nil' };
      if (t.v === '$env') unsupported('$env');
      if (is('bracket', '(')) return postfix(call(t));
      return postfix({ k: 'ident', name: t.v });
    }
    if (t.kind === 'number') {
      i++;
      return number(t);
    }
    if (t.kind === 'string') {
      i++;
      return postfix({ k: 'string', v: t.v });
    }
    if (is('bracket', '[')) {
      i++;
      const items: Node[] = [];
      while (!is('bracket', ']')) {
        if (items.length > 0) {
          expect('op', ',');
          if (is('bracket', ']')) break;
        }
        items.push(expression(0));
      }
      expect('bracket', ']');
      return postfix({ k: 'array', items });
    }
    if (is('bracket', '{')) unsupported('a map literal');
    return unexpected();
  };

  const number = (t: Token): Node => {
    const v = t.v.replace(/_/g, '');
    const lower = v.toLowerCase();
    if (/^0[xob]/.test(lower)) {
      const v = Number.parseInt(lower.slice(2), lower[1] === 'x' ? 16 : lower[1] === 'o' ? 8 : 2);
      if (Number.isNaN(v)) fail(`invalid integer literal: ${t.v}`, t);
      return { k: 'int', v };
    }
    if (/[.e]/.test(lower)) {
      const f = Number(v);
      if (Number.isNaN(f)) fail(`invalid float literal: ${t.v}`, t);
      return { k: 'float', v: f };
    }
    return { k: 'int', v: Number.parseInt(v, 10) };
  };

  const args = (): Node[] => {
    expect('bracket', '(');
    const out: Node[] = [];
    while (!is('bracket', ')')) {
      if (out.length > 0) expect('op', ',');
      if (is('bracket', ')')) break;
      out.push(expression(0));
    }
    expect('bracket', ')');
    return out;
  };

  const call = (t: Token): Node => {
    const name = t.v;
    // parseCall: predicates and builtins unless the environment overrides the name.
    if (PREDICATES.has(name) && !envFunctions.has(name)) {
      expect('bracket', '(');
      const out: Node[] = [expression(0)];
      if (!(OPTIONAL_PREDICATE.has(name) && is('bracket', ')'))) {
        expect('op', ',');
        const open = is('bracket', '{');
        if (open) i++;
        depth++;
        const body = expression(0);
        if (is('op', ';')) unsupported('a sequence ";" in a predicate');
        depth--;
        if (open) expect('bracket', '}');
        out.push({ k: 'predicate', body });
      }
      if (is('op', ',')) i++;
      expect('bracket', ')');
      return { k: 'builtin', fn: name, args: out };
    }
    if (!envFunctions.has(name)) {
      if (FUNCTIONS.has(name)) return { k: 'builtin', fn: name, args: args() };
      if (OTHER_BUILTINS.has(name)) unsupported(`${name}()`);
    }
    return { k: 'call', fn: name, args: args() };
  };

  const postfix = (node: Node): Node => {
    for (;;) {
      if (is('op', '.')) {
        i++;
        const p = cur();
        if (p.kind !== 'ident' && !(p.kind === 'op' && /^[A-Za-z_]\w*$/.test(p.v))) fail('expected name');
        i++;
        if (is('bracket', '(')) unsupported('a method call');
        node = { k: 'member', of: node, prop: { k: 'string', v: p.v } };
      } else if (is('op', '?.')) {
        unsupported('optional chaining "?."');
      } else if (is('bracket', '[')) {
        i++;
        if (is('op', ':')) unsupported('a slice [:]');
        const prop = expression(0);
        if (is('op', ':')) unsupported('a slice [:]');
        expect('bracket', ']');
        node = { k: 'member', of: node, prop };
      } else return node;
    }
  };

  if (is('eof')) fail('unexpected end of the expression');
  const node = expression(0);
  if (!is('eof')) unexpected();
  return node;
}

// ---------------------------------------------------------------------------------------------- types

export function typeName(t: Type): string {
  switch (t.k) {
    case 'int':
      return 'int';
    case 'float':
      return 'float64';
    case 'unknown':
      return 'interface {}';
    case 'array':
      return `[]${typeName(t.of)}`;
    default:
      return t.k;
  }
}

const isNumber = (t: Type) => t.k === 'int' || t.k === 'float';
const isUnknown = (t: Type) => t.k === 'unknown';
const sameType = (a: Type, b: Type): boolean => a.k === b.k && (a.k !== 'array' || sameType(a.of, (b as { of: Type }).of));
/** nature.go ComparableTo */
const comparable = (a: Type, b: Type) => isUnknown(a) || isUnknown(b) || a.k === 'nil' || b.k === 'nil' || (isNumber(a) && isNumber(b)) || (a.k === 'array' && b.k === 'array') || sameType(a, b);
/** nature.go MaybeCompatible: one side unknown, the other unknown or of an allowed kind. */
const maybe = (a: Type, b: Type, ok: (t: Type) => boolean) => (isUnknown(a) && isUnknown(b)) || (isUnknown(a) && ok(b)) || (isUnknown(b) && ok(a));
const promote = (a: Type, b: Type): Type => (a.k === 'int' && b.k === 'int' ? INT : FLOAT);
const err = (msg: string): never => {
  throw new ExprError(msg, 'check');
};

/** checker.go: the static type of `n`, or the first error expr's checker reports. */
export function check(n: Node, env: Env, elem?: Type): Type {
  const c = (x: Node) => check(x, env, elem);
  switch (n.k) {
    case 'int':
      return INT;
    case 'float':
      return FLOAT;
    case 'bool':
      return BOOL;
    case 'string':
      return STRING;
    case 'nil':
      return NIL;
    case 'array': {
      const ts = n.items.map(c);
      const first = ts[0];
      return first && ts.every((t) => t.k === first.k) ? arrayOf(first) : arrayOf(UNKNOWN);
    }
    case 'pointer':
      if (!elem) return err('cannot use pointer accessor outside predicate');
      return elem;
    case 'ident': {
      const v = env.vars[n.name];
      if (v) return v.type;
      return err(`unknown name ${n.name}`);
    }
    case 'member': {
      const base = c(n.of);
      const prop = c(n.prop);
      if (isUnknown(base)) return UNKNOWN;
      const field = n.prop.k === 'string' ? n.prop.v : undefined;
      if (field !== undefined && base.k === 'nil') return err(`type nil has no field ${field}`);
      if (base.k === 'array') {
        if (prop.k !== 'int' && !isUnknown(prop)) return err(`array elements can only be selected using an integer (got ${typeName(prop)})`);
        return base.of;
      }
      if (field !== undefined) return err(`type ${typeName(base)} has no field ${field}`);
      return err(`type ${typeName(base)}[${typeName(prop)}] is undefined`);
    }
    case 'unary': {
      const t = c(n.of);
      if (n.op === '!' || n.op === 'not') {
        if (t.k === 'bool' || isUnknown(t)) return BOOL;
      } else if (isNumber(t)) return t;
      else if (isUnknown(t)) return UNKNOWN;
      return err(`invalid operation: ${n.op} (mismatched type ${typeName(t)})`);
    }
    case 'binary': {
      const l = c(n.a);
      const r = c(n.b);
      const mismatch = () => err(`invalid operation: ${n.op} (mismatched types ${typeName(l)} and ${typeName(r)})`);
      switch (n.op) {
        case '==':
        case '!=':
          if (!comparable(l, r)) return mismatch();
          if (l.k === r.k && (l.k === 'int' || l.k === 'string')) env.typed?.set(n, l.k);
          return BOOL;
        case 'or':
        case '||':
        case 'and':
        case '&&':
          return (l.k === 'bool' && r.k === 'bool') || maybe(l, r, (t) => t.k === 'bool') ? BOOL : mismatch();
        case '<':
        case '>':
        case '<=':
        case '>=':
          return (isNumber(l) && isNumber(r)) || (l.k === 'string' && r.k === 'string') || maybe(l, r, (t) => isNumber(t) || t.k === 'string') ? BOOL : mismatch();
        case '-':
        case '*':
          if (isNumber(l) && isNumber(r)) return promote(l, r);
          return maybe(l, r, isNumber) ? UNKNOWN : mismatch();
        case '+':
          if (isNumber(l) && isNumber(r)) return promote(l, r);
          if (l.k === 'string' && r.k === 'string') return STRING;
          return maybe(l, r, (t) => isNumber(t) || t.k === 'string') ? UNKNOWN : mismatch();
        case '/':
        case '**':
        case '^':
          return (isNumber(l) && isNumber(r)) || maybe(l, r, isNumber) ? FLOAT : mismatch();
        case '%':
          return (l.k === 'int' && r.k === 'int') || maybe(l, r, (t) => t.k === 'int') ? INT : mismatch();
        case 'in':
          if (r.k === 'array') return comparable(l, r.of) ? BOOL : err(`cannot use ${typeName(l)} as type ${typeName(r.of)} in array`);
          if ((isUnknown(l) && r.k === 'string') || isUnknown(r)) return BOOL;
          return mismatch();
        case '??':
          if (l.k === 'nil') return r;
          if (r.k === 'nil') return l;
          return sameType(r, l) ? l : UNKNOWN;
      }
      return err(`unknown operator (${n.op})`);
    }
    case 'cond': {
      const t = c(n.c);
      if (t.k !== 'bool' && !isUnknown(t)) return err(`non-bool expression (type ${typeName(t)}) used as condition`);
      const a = c(n.a);
      const b = c(n.b);
      if (a.k === 'nil') return b;
      if (b.k === 'nil') return a;
      return sameType(a, b) ? a : UNKNOWN;
    }
    case 'call': {
      const f = env.functions[n.fn];
      if (!f) {
        if (env.vars[n.fn]) return err(`${typeName(env.vars[n.fn]!.type)} is not callable`);
        return err(`unknown name ${n.fn}`);
      }
      // checkArguments
      if (n.args.length !== f.params.length) {
        n.args.forEach(c);
        return err(`${n.args.length > f.params.length ? 'too many' : 'not enough'} arguments to call ${n.fn}`);
      }
      n.args.forEach((a, i) => {
        const t = c(a);
        const want = f.params[i]!;
        if (isUnknown(want) || isUnknown(t) || sameType(t, want) || (want.k === 'float' && t.k === 'int')) return;
        if (t.k === 'nil') err(`cannot use nil as argument (type ${typeName(want)}) to call ${n.fn}`);
        err(`cannot use ${typeName(t)} as argument (type ${typeName(want)}) to call ${n.fn}`);
      });
      return f.out;
    }
    case 'builtin':
      return checkBuiltin(n, env, elem);
    case 'predicate':
      return c(n.body);
  }
}

function checkBuiltin(n: Extract<Node, { k: 'builtin' }>, env: Env, elem: Type | undefined): Type {
  const c = (x: Node) => check(x, env, elem);
  if (PREDICATES.has(n.fn)) {
    const coll = c(n.args[0]!);
    if (coll.k !== 'array' && !isUnknown(coll)) return err(`builtin ${n.fn} takes only array (got ${typeName(coll)})`);
    const el = coll.k === 'array' ? coll.of : UNKNOWN;
    const pred = n.args[1];
    if (!pred) return n.fn === 'count' ? INT : el; // count(array), sum(array)
    const out = check(pred, env, el);
    const boolean = () => {
      if (out.k !== 'bool' && !isUnknown(out)) err(`predicate should return boolean (got ${typeName(out)})`);
    };
    switch (n.fn) {
      case 'map':
        return arrayOf(out);
      case 'sum':
        return out;
      case 'filter':
        boolean();
        return coll.k === 'array' ? arrayOf(el) : arrayOf(UNKNOWN);
      case 'count':
      case 'findIndex':
      case 'findLastIndex':
        boolean();
        return INT;
      case 'find':
      case 'findLast':
        boolean();
        return el;
      default:
        boolean();
        return BOOL;
    }
  }
  const ts = n.args.map(c);
  const one = () => {
    if (ts.length !== 1) err(`invalid number of arguments (expected 1, got ${ts.length})`);
    return ts[0]!;
  };
  switch (n.fn) {
    case 'len': {
      const t = one();
      if (t.k === 'array' || t.k === 'string' || isUnknown(t)) return INT;
      return err(`invalid argument for len (type ${typeName(t)})`);
    }
    case 'abs': {
      const t = one();
      if (isNumber(t) || isUnknown(t)) return t;
      return err(`invalid argument for abs (type ${typeName(t)})`);
    }
    case 'ceil':
    case 'floor':
    case 'round': {
      const t = one();
      if (isNumber(t) || isUnknown(t)) return FLOAT;
      return err(`invalid argument for ${n.fn} (type ${typeName(t)})`);
    }
    case 'int':
    case 'float': {
      const t = one();
      if (isNumber(t) || isUnknown(t) || t.k === 'string') return n.fn === 'int' ? INT : FLOAT;
      return err(`invalid argument for ${n.fn} (type ${typeName(t)})`);
    }
    case 'first':
    case 'last': {
      const t = one();
      if (isUnknown(t)) return UNKNOWN;
      if (t.k === 'array') return t.of;
      return err(`cannot get ${n.fn} element from ${typeName(t)}`);
    }
    default: {
      // max, min, mean, median: validateAggregateFunc
      if (ts.length === 0) return err(`not enough arguments to call ${n.fn}`);
      for (const t of ts) {
        if (t.k === 'array' || isUnknown(t)) return UNKNOWN;
        if (!isNumber(t)) return err(`invalid argument for ${n.fn} (type ${typeName(t)})`);
      }
      return ts[0]!;
    }
  }
}

// ---------------------------------------------------------------------------------------------- optimiser

type Typed = Map<Node, 'int' | 'string'>;

/**
 * expr's optimizer/fold.go, which runs after the checker: literal arithmetic and comparisons are computed, and
 * `x && false`, `x || true` become constants — so `x` is never evaluated and cannot fail. `%` by a literal 0 is
 * a compile error. Typed comparisons keep their mark on rebuilt nodes.
 */
export function fold(n: Node, typed?: Typed): Node {
  const f = (x: Node) => fold(x, typed);
  let m: Node = n;
  switch (n.k) {
    case 'unary': {
      const of = f(n.of);
      if (of !== n.of) m = { ...n, of };
      break;
    }
    case 'binary': {
      const a = f(n.a);
      const b = f(n.b);
      if (a !== n.a || b !== n.b) m = { ...n, a, b };
      break;
    }
    case 'member': {
      const of = f(n.of);
      const prop = f(n.prop);
      if (of !== n.of || prop !== n.prop) m = { ...n, of, prop };
      break;
    }
    case 'cond': {
      const [c, a, b] = [f(n.c), f(n.a), f(n.b)];
      if (c !== n.c || a !== n.a || b !== n.b) m = { ...n, c, a, b };
      break;
    }
    case 'call':
    case 'builtin':
    case 'array': {
      const list = n.k === 'array' ? n.items : n.args;
      const next = list.map(f);
      if (next.some((x, i) => x !== list[i])) m = n.k === 'array' ? { ...n, items: next } : { ...n, args: next };
      break;
    }
    case 'predicate': {
      const body = f(n.body);
      if (body !== n.body) m = { ...n, body };
      break;
    }
  }
  if (m !== n && typed?.has(n)) typed.set(m, typed.get(n)!);
  return foldNode(m);
}

function foldNode(n: Node): Node {
  const lit = (x: Node) => (x.k === 'int' || x.k === 'float' ? x : undefined);
  if (n.k === 'unary') {
    const x = lit(n.of);
    if (x && (n.op === '-' || n.op === '+')) return { k: x.k, v: n.op === '-' ? -x.v : x.v };
    if (n.of.k === 'bool' && (n.op === '!' || n.op === 'not')) return { k: 'bool', v: !n.of.v };
    return n;
  }
  if (n.k !== 'binary') return n;
  const a = lit(n.a);
  const b = lit(n.b);
  const ints = a?.k === 'int' && b?.k === 'int';
  if (a && b) {
    switch (n.op) {
      case '+':
        return { k: ints ? 'int' : 'float', v: a.v + b.v };
      case '-':
        return { k: ints ? 'int' : 'float', v: a.v - b.v };
      case '*':
        return { k: ints ? 'int' : 'float', v: a.v * b.v };
      case '/':
        return { k: 'float', v: a.v / b.v };
      case '**':
      case '^':
        return { k: 'float', v: Math.pow(a.v, b.v) };
      case '%':
        if (!ints) return n;
        if (b.v === 0) throw new ExprError('integer divide by zero', 'check');
        return { k: 'int', v: a.v % b.v };
      case '==':
        return ints ? { k: 'bool', v: a.v === b.v } : n;
    }
  }
  if (n.op === '+' && n.a.k === 'string' && n.b.k === 'string') return { k: 'string', v: n.a.v + n.b.v };
  if (n.op === '==' && ((n.a.k === 'string' && n.b.k === 'string') || (n.a.k === 'bool' && n.b.k === 'bool'))) return { k: 'bool', v: n.a.v === n.b.v };
  const l = n.a.k === 'bool' ? n.a.v : undefined;
  const r = n.b.k === 'bool' ? n.b.v : undefined;
  if (n.op === '&&' || n.op === 'and') {
    if (l === true) return n.b;
    if (r === true) return n.a;
    if (l === false || r === false) return { k: 'bool', v: false };
  }
  if (n.op === '||' || n.op === 'or') {
    if (l === false) return n.b;
    if (r === false) return n.a;
    if (l === true || r === true) return { k: 'bool', v: true };
  }
  return n;
}

// ---------------------------------------------------------------------------------------------- evaluation

/** fmt's %T of a value. */
export function goType(v: Val): string {
  if (v === null) return '<nil>';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return 'float64';
  if (v instanceof Int) return 'int';
  return `[]${v.elem}`;
}

const fail = (msg: string): never => {
  throw new ExprError(msg, 'run');
};
const num = (v: Val): number | undefined => (typeof v === 'number' ? v : v instanceof Int ? v.v : undefined);

/** runtime.Equal: numbers of any kind compare by value, lists element by element; other kinds must match. */
export function equal(a: Val, b: Val): boolean {
  const x = num(a);
  const y = num(b);
  if (x !== undefined && y !== undefined) return x === y;
  if (a instanceof List && b instanceof List) return a.items.length === b.items.length && a.items.every((v, i) => equal(v, b.items[i]!));
  return a === b;
}

function compare(op: string, a: Val, b: Val): boolean {
  const x = num(a);
  const y = num(b);
  let l: number | string;
  let r: number | string;
  if (x !== undefined && y !== undefined) [l, r] = [x, y];
  else if (typeof a === 'string' && typeof b === 'string') [l, r] = [a, b];
  else return fail(`invalid operation: ${goType(a)} ${op} ${goType(b)}`);
  return op === '<' ? l < r : op === '>' ? l > r : op === '<=' ? l <= r : l >= r;
}

function arith(op: string, a: Val, b: Val): Val {
  const x = num(a);
  const y = num(b);
  if (x === undefined || y === undefined) {
    if (op === '+' && typeof a === 'string' && typeof b === 'string') return a + b;
    return fail(`invalid operation: ${goType(a)} ${op} ${goType(b)}`);
  }
  const ints = a instanceof Int && b instanceof Int;
  switch (op) {
    case '+':
      return ints ? new Int(x + y) : x + y;
    case '-':
      return ints ? new Int(x - y) : x - y;
    case '*':
      return ints ? new Int(x * y) : x * y;
    case '/':
      return x / y;
    case '%':
      if (!ints) return fail(`invalid operation: ${goType(a)} % ${goType(b)}`);
      if (y === 0) return fail('runtime error: integer divide by zero');
      return new Int(x % y);
    default:
      return Math.pow(x, y);
  }
}

/** The VM's jumps assert a bool: Go's "interface conversion" panic otherwise. */
const truth = (v: Val): boolean => {
  if (typeof v !== 'boolean') fail(`interface conversion: interface {} is ${goType(v)}, not bool`);
  return v as boolean;
};

const items = (v: Val, fn: string): readonly Val[] => {
  if (v instanceof List) return v.items;
  return fail(`builtin ${fn} takes only array (got ${goType(v)})`);
};

/** Runs a checked expression: expr's VM semantics (short-circuit &&, ||, ?:, ??; errors where expr panics). */
export function run(n: Node, env: Env, elem?: Val): Val {
  const r = (x: Node) => run(x, env, elem);
  switch (n.k) {
    case 'int':
      return new Int(n.v);
    case 'float':
    case 'bool':
    case 'string':
      return n.v;
    case 'nil':
      return null;
    case 'array':
      return new List(n.items.map(r), 'interface {}');
    case 'pointer':
      return elem ?? null;
    case 'ident':
      return env.vars[n.name]!.value;
    case 'member': {
      const base = r(n.of);
      const at = r(n.prop);
      if (!(base instanceof List)) return fail(`cannot fetch ${String(at instanceof Int ? at.v : at)} from ${goType(base)}`);
      const i = num(at);
      if (i === undefined) return fail(`cannot fetch ${String(at)} from ${goType(base)}`);
      const l = base.items.length;
      const index = Math.trunc(i) < 0 ? l + Math.trunc(i) : Math.trunc(i);
      if (index < 0 || index >= l) return fail(`index out of range: ${index} (array length is ${l})`);
      return base.items[index]!;
    }
    case 'unary': {
      const v = r(n.of);
      if (n.op === '!' || n.op === 'not') return !truth(v);
      if (v instanceof Int) return new Int(n.op === '-' ? -v.v : v.v);
      if (typeof v === 'number') return n.op === '-' ? -v : v;
      return fail(`invalid operation: ${n.op}${goType(v)}`);
    }
    case 'binary': {
      if (n.op === '&&' || n.op === 'and') return truth(r(n.a)) ? truth(r(n.b)) : false;
      if (n.op === '||' || n.op === 'or') return truth(r(n.a)) ? true : truth(r(n.b));
      if (n.op === '??') {
        const a = r(n.a);
        return a === null ? r(n.b) : a;
      }
      const a = r(n.a);
      const b = r(n.b);
      switch (n.op) {
        case '==':
        case '!=': {
          const typed = env.typed?.get(n);
          if (typed) for (const v of [a, b]) if (goType(v) !== typed) fail(`interface conversion: interface {} is ${v === null ? 'nil' : goType(v)}, not ${typed}`);
          return equal(a, b) === (n.op === '==');
        }
        case '<':
        case '>':
        case '<=':
        case '>=':
          return compare(n.op, a, b);
        case 'in':
          if (b instanceof List) return b.items.some((x) => equal(x, a));
          return fail(`cannot use ${goType(a)} as type ${goType(b)} in array`);
        default:
          return arith(n.op, a, b);
      }
    }
    case 'cond':
      return truth(r(n.c)) ? r(n.a) : r(n.b);
    case 'call': {
      const f = env.functions[n.fn]!;
      return f.call(n.args.map((a, i) => r(f.params[i]!.k === 'float' ? floatLiterals(a) : a)));
    }
    case 'builtin':
      return runBuiltin(n, env, elem);
    case 'predicate':
      return r(n.body);
  }
}

/**
 * checker.go traverseAndReplaceIntegerNodesWithFloatNodes: integer literals passed to a float parameter become
 * floats (through unary operators and + - *); any other int reaches the function as an int, and fails there.
 */
function floatLiterals(n: Node): Node {
  if (n.k === 'int') return { k: 'float', v: n.v };
  if (n.k === 'unary') return { ...n, of: floatLiterals(n.of) };
  if (n.k === 'binary' && ['+', '-', '*'].includes(n.op)) return { ...n, a: floatLiterals(n.a), b: floatLiterals(n.b) };
  return n;
}

function runBuiltin(n: Extract<Node, { k: 'builtin' }>, env: Env, elem: Val | undefined): Val {
  const r = (x: Node) => run(x, env, elem);
  if (PREDICATES.has(n.fn)) {
    const xs = items(r(n.args[0]!), n.fn);
    const pred = n.args[1];
    const p = (x: Val) => run(pred!, env, x);
    const test = (x: Val) => truth(p(x));
    switch (n.fn) {
      case 'all':
        return xs.every(test);
      case 'any':
        return xs.some(test);
      case 'none':
        return !xs.some(test);
      case 'one':
        return xs.filter(test).length === 1;
      case 'filter':
        return new List(xs.filter(test), 'interface {}');
      case 'map':
        return new List(xs.map(p), 'interface {}');
      case 'count':
        return new Int(pred ? xs.filter(test).length : xs.filter((x) => truth(x)).length);
      case 'sum':
        // compiler.go: the accumulator starts at int 0
        return xs.reduce<Val>((acc, x) => arith('+', pred ? p(x) : x, acc), new Int(0));
      case 'find':
        return xs.find(test) ?? null;
      case 'findLast':
        return [...xs].reverse().find(test) ?? null;
      // compiler.go: not found is nil (OpNil), not -1
      case 'findIndex': {
        const k = xs.findIndex(test);
        return k < 0 ? null : new Int(k);
      }
      default:
        for (let k = xs.length - 1; k >= 0; k--) if (test(xs[k]!)) return new Int(k);
        return null;
    }
  }
  const vs = n.args.map(r);
  const v = vs[0]!;
  switch (n.fn) {
    case 'len':
      if (v instanceof List) return new Int(v.items.length);
      if (typeof v === 'string') return new Int([...v].length);
      return fail(`invalid argument for len (type ${goType(v)})`);
    case 'abs':
      if (v instanceof Int) return new Int(Math.abs(v.v));
      if (typeof v === 'number') return v < 0 ? -v : v;
      return fail(`invalid argument for abs (type ${goType(v)})`);
    case 'ceil':
    case 'floor':
    case 'round': {
      const x = num(v);
      if (x === undefined) return fail(`invalid argument for ${n.fn} (type ${goType(v)})`);
      // Go's math.Round rounds half away from zero
      return n.fn === 'ceil' ? Math.ceil(x) : n.fn === 'floor' ? Math.floor(x) : Math.sign(x) * Math.round(Math.abs(x));
    }
    case 'int':
    case 'float': {
      const x = typeof v === 'string' ? parseNumber(n.fn === 'int' ? 'Int' : 'Float', v) : num(v);
      if (x === undefined) return fail(`invalid operation: ${n.fn}(${goType(v)})`);
      return n.fn === 'int' ? new Int(int64(x)) : x;
    }
    case 'first':
    case 'last':
      if (v instanceof List) return v.items.length === 0 ? null : v.items[n.fn === 'first' ? 0 : v.items.length - 1]!;
      return fail(`cannot fetch ${n.fn === 'first' ? 0 : -1} from ${goType(v)}`);
    case 'max':
    case 'min':
      return minMax(n.fn, vs);
    case 'mean': {
      const xs = numbers(n.fn, vs);
      return xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length;
    }
    default: {
      // median: Go's sort.Float64s orders NaN first
      const xs = numbers(n.fn, vs).sort((a, b) => (Number.isNaN(a) ? (Number.isNaN(b) ? 0 : -1) : Number.isNaN(b) ? 1 : a - b));
      const k = xs.length;
      if (k === 0) return 0;
      return k % 2 === 1 ? xs[(k - 1) / 2]! : (xs[k / 2 - 1]! + xs[k / 2]!) / 2;
    }
  }
}

/** Go's int64(f): NaN, ±Inf and values out of range give the minimum int64 on amd64 (Argo's release images). */
export function int64(f: number): number {
  return Number.isFinite(f) && Math.abs(f) < 2 ** 63 ? Math.trunc(f) : -(2 ** 63);
}

/** strconv.ParseInt / ParseFloat of a decimal string (no spaces, as Go). */
export function parseNumber(kind: 'Int' | 'Float', s: string): number {
  const ok = kind === 'Int' ? /^[+-]?\d+$/.test(s) : /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s) || /^[+-]?(inf|infinity|nan)$/i.test(s);
  if (!ok) throw new ExprError(`strconv.Parse${kind}: parsing ${JSON.stringify(s)}: invalid syntax`, 'run');
  return /nan/i.test(s) ? Number.NaN : /inf/i.test(s) ? (s.startsWith('-') ? -Infinity : Infinity) : Number(s);
}

function numbers(fn: string, vs: readonly Val[]): number[] {
  return vs.flatMap((v) => {
    if (v instanceof List) return numbers(fn, v.items);
    const x = num(v);
    if (x === undefined) return fail(`invalid argument for ${fn} (type ${goType(v)})`);
    return [x];
  });
}

/** builtin/lib.go minMax: keeps the first value unless a later one compares greater (max) or less (min), so NaN sticks only in front. */
function minMax(fn: string, vs: readonly Val[]): Val {
  const better = (cur: Val, x: Val) => (fn === 'max' ? compare('<', cur, x) : compare('>', cur, x));
  let val: Val = null;
  for (const v of vs) {
    if (v instanceof List) {
      if (v.elem === 'float64') {
        if (v.items.length === 0) continue;
        let m: Val = v.items[0]!;
        for (const x of v.items.slice(1)) if (better(m, x)) m = x;
        if (val === null || better(val, m)) val = m;
        continue;
      }
      for (const e of v.items) {
        const x = e instanceof List ? minMax(fn, [e]) : e;
        if (x === null && e instanceof List) continue;
        if (num(x) === undefined) return fail(`invalid argument for ${fn} (type ${goType(x)})`);
        if (val === null || better(val, x)) val = x;
      }
    } else if (num(v) !== undefined) {
      if (val === null || better(val, v)) val = v;
    } else return vs.length === 1 ? v : fail(`invalid argument for ${fn} (type ${goType(v)})`);
  }
  return val;
}
