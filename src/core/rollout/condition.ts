/**
 * Conditions of analysis metrics, evaluated as Argo Rollouts' utils/evaluate/evaluate.go EvalCondition does:
 * an expr-lang/expr expression (./expr.ts) compiled against an environment holding `result` and Argo's own
 * functions (asInt, asFloat, isNaN, isInf, isNil, default). The Prometheus provider passes a scalar query's
 * value as a float64 and a vector (or matrix) as a []float64, so whether a condition compiles depends on the
 * shape of the result: `result[0] >= 0.95` is an error on a scalar, `result >= 0.95` on a vector.
 */
import { BOOL, FLOAT, INT, UNKNOWN, arrayOf, check, ExprError, fold, goType, Int, int64, List, parse, parseNumber, run, type Env, type EnvFunction, type Node, type Type, type Val } from './expr.js';

/** What a Prometheus query gives a condition: a scalar, or the values of a vector / matrix. */
export type Value = number | readonly number[];

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

type Shape = 'scalar' | 'vector';

export interface Condition {
  text: string;
  ast: Node;
  /** What expr's compiler makes of it per shape — folded by its optimiser, with its typed comparisons — to run. */
  program: Record<Shape, Node>;
  typed: Record<Shape, Map<Node, 'int' | 'string'>>;
  /** Why expr's compiler rejects the condition for a result of that shape (Argo's measurement is then an Error). */
  rejects: Partial<Record<Shape, string>>;
}

/** A condition Argo cannot evaluate on this result: the measurement's phase is Error. */
export class ConditionError extends Error {}

const panicOn = (fn: string, v: Val): never => {
  throw new ExprError(`${fn}() not supported on ${goType(v)} ${shownVal(v)}`, 'run');
};
const shownVal = (v: Val): string => (v instanceof List ? `[${v.items.map(shownVal).join(' ')}]` : v instanceof Int ? String(v.v) : String(v));

function toNumber(fn: 'asInt' | 'asFloat', v: Val): number {
  if (typeof v === 'number') return v;
  if (v instanceof Int) return v.v;
  if (typeof v === 'string') return parseNumber(fn === 'asInt' ? 'Int' : 'Float', v);
  return panicOn(fn, v);
}

/** evaluate.go's env: the functions Argo adds to expr's builtins. `isNil` and `default` look at `result`, not their argument. */
const ARGO_FUNCTIONS = (result: Val): Record<string, EnvFunction> => ({
  asInt: { params: [UNKNOWN], out: INT, call: ([v]) => new Int(int64(toNumber('asInt', v!))) },
  asFloat: { params: [UNKNOWN], out: FLOAT, call: ([v]) => toNumber('asFloat', v!) },
  isNaN: { params: [FLOAT], out: BOOL, call: ([v]) => Number.isNaN(float(v!, 'isNaN')) },
  isInf: { params: [FLOAT], out: BOOL, call: ([v]) => !Number.isFinite(float(v!, 'isInf')) && !Number.isNaN(v) },
  // A Prometheus result is never nil (an empty vector is a non-nil empty slice).
  isNil: { params: [UNKNOWN], out: BOOL, call: () => result === null },
  default: { params: [UNKNOWN, UNKNOWN], out: UNKNOWN, call: ([, d]) => (result === null ? d! : result) },
});
const FUNCTION_NAMES = new Set(Object.keys(ARGO_FUNCTIONS(null)));

function float(v: Val, fn: string): number {
  if (typeof v === 'number') return v;
  throw new ExprError(`reflect: Call using ${goType(v)} as type float64 (${fn})`, 'run');
}

function environment(shape: Shape, result: Val, typed?: Map<Node, 'int' | 'string'>): Env {
  const type: Type = shape === 'scalar' ? FLOAT : arrayOf(FLOAT);
  return { vars: { result: { type, value: result } }, functions: ARGO_FUNCTIONS(result), typed };
}

const toVal = (v: Value): Val => (typeof v === 'number' ? v : new List(v, 'float64'));

/**
 * Reads a condition and type-checks it for both result shapes. A condition that expr cannot read, that uses
 * something mlloop does not evaluate, or that compiles for neither shape is refused here (the template is wrong
 * wherever it runs); one that compiles for a single shape is kept, and errors on a result of the other shape.
 */
export function parseCondition(text: string): Condition {
  let ast: Node;
  try {
    ast = parse(text, FUNCTION_NAMES);
  } catch (e) {
    if (e instanceof ExprError) throw new Error(`cannot read the condition "${text}": ${e.message}`);
    throw e;
  }
  const rejects: Condition['rejects'] = {};
  const typed: Condition['typed'] = { vector: new Map(), scalar: new Map() };
  const program: Condition['program'] = { vector: ast, scalar: ast };
  for (const shape of ['vector', 'scalar'] as const) {
    try {
      const t = check(ast, environment(shape, null, typed[shape]));
      program[shape] = fold(ast, typed[shape]);
      if (t.k !== 'bool' && t.k !== 'unknown') rejects[shape] = `expected bool, but got ${goTypeOf(t)}`;
    } catch (e) {
      if (!(e instanceof ExprError)) throw e;
      rejects[shape] = e.message;
    }
  }
  if (rejects.vector !== undefined && rejects.scalar !== undefined) {
    const why = rejects.vector === rejects.scalar ? rejects.vector : `${rejects.vector} (on a vector result); ${rejects.scalar} (on a scalar result)`;
    throw new Error(`the condition "${text}" cannot be evaluated on any Prometheus result: ${why}`);
  }
  return { text, ast, rejects, program, typed };
}

/** The Go type Argo's "expected bool, but got %T" prints: `result` is a []float64, other lists are []interface {}. */
function goTypeOf(t: Type): string {
  return t.k === 'int' ? 'int' : t.k === 'float' ? 'float64' : t.k === 'array' ? (t.of.k === 'float' ? '[]float64' : '[]interface {}') : t.k;
}

/** Evaluates a condition on a measured value; throws ConditionError where Argo's EvalCondition returns an error. */
export function evaluateCondition(c: Condition, value: Value): boolean {
  const shape: Shape = typeof value === 'number' ? 'scalar' : 'vector';
  const rejected = c.rejects[shape];
  if (rejected !== undefined) throw new ConditionError(rejected);
  let out: Val;
  try {
    out = run(c.program[shape], environment(shape, toVal(value), c.typed[shape]));
  } catch (e) {
    if (e instanceof ExprError) throw new ConditionError(e.message);
    throw e;
  }
  if (typeof out !== 'boolean') throw new ConditionError(`expected bool, but got ${goType(out)}`);
  return out;
}

const NEGATE: Record<string, string> = { '<': '>=', '<=': '>', '>': '<=', '>=': '<', '==': '!=', '!=': '==' };
const FLIP: Record<string, string> = { '<': '>', '<=': '>=', '>': '<', '>=': '<=', '==': '==', '!=': '!=' };
const REDUCERS = new Set(['max', 'min', 'mean', 'median', 'sum', 'first', 'last']);

const literal = (n: Node): number | undefined =>
  n.k === 'int' || n.k === 'float' ? n.v : n.k === 'unary' && n.op === '-' && (n.of.k === 'int' || n.of.k === 'float') ? -n.of.v : undefined;

/** How a side of a comparison that reads the measurement is named: `result[0]` is the metric, `max(result)` is `max(metric)`. */
function valueName(n: Node, name: string): string | undefined {
  if (n.k === 'ident' && n.name === 'result') return name;
  if (n.k === 'member' && n.of.k === 'ident' && n.of.name === 'result' && literal(n.prop) !== undefined) {
    const i = literal(n.prop)!;
    return i === 0 ? name : `${name}[${i}]`;
  }
  if (n.k === 'builtin' && REDUCERS.has(n.fn) && n.args.length === 1 && n.args[0]!.k === 'ident' && n.args[0]!.name === 'result') return `${n.fn}(${name})`;
  return undefined;
}

/**
 * Why a condition came out as it did, in the user's terms — `latency_ms.p95=412 > 200` rather than the
 * expression — by walking to the part that decided it. Falls back to quoting the condition.
 */
export function describeOutcome(name: string, c: Condition, value: Value, held: boolean, kind: 'success' | 'failure'): string {
  const shape: Shape = typeof value === 'number' ? 'scalar' : 'vector';
  const env = environment(shape, toVal(value), c.typed[shape]);
  // `at` is the element a predicate is looking at (`#`), when explaining all() / any().
  const evalTo = (n: Node, at?: number): Val | undefined => {
    try {
      return run(n, env, at === undefined ? undefined : (value as readonly number[])[at]);
    } catch {
      return undefined;
    }
  };
  const explain = (n: Node, h: boolean, at?: number): string | undefined => {
    if (n.k === 'binary' && ['&&', 'and', '||', 'or'].includes(n.op)) {
      const or = n.op === '||' || n.op === 'or';
      // `a || b` held by a disjunct that held, `a && b` failed by a conjunct that failed; otherwise both sides
      // agree and the last one that names a value explains it (the first is usually a guard like !isNaN).
      if (or === h) return [n.a, n.b].filter((x) => evalTo(x, at) === h).map((x) => explain(x, h, at)).find(Boolean);
      return [n.b, n.a].map((x) => explain(x, h, at)).find(Boolean);
    }
    if (n.k === 'unary' && (n.op === '!' || n.op === 'not')) return explain(n.of, !h, at);
    if (n.k === 'call' && n.fn === 'isNaN' && h) return `${n.args[0]?.k === 'pointer' ? `${name}[${at}]` : name}=NaN (no data)`;
    if (n.k === 'binary' && NEGATE[n.op]) {
      const [side, bound, op] = literal(n.b) !== undefined ? [n.a, literal(n.b)!, n.op] : literal(n.a) !== undefined ? [n.b, literal(n.a)!, FLIP[n.op]!] : [];
      const shownName = side && (side.k === 'pointer' ? `${name}[${at}]` : valueName(side, name));
      const v = side && evalTo(side, at);
      if (!shownName || typeof v !== 'number') return undefined;
      return `${shownName}=${formatValue(v)} ${h ? op : NEGATE[op!]} ${bound}`;
    }
    if (n.k === 'builtin' && (n.fn === 'all' || n.fn === 'any') && n.args[0]?.k === 'ident' && n.args[1]?.k === 'predicate' && Array.isArray(value) && at === undefined) {
      // all(result, # < 1000) failed by the first value that breaks it; any(result, # > 5) held by the first that meets it.
      if ((n.fn === 'all') === h) return undefined;
      const body = n.args[1].body;
      const k = value.findIndex((_, i) => evalTo(body, i) === h);
      return k < 0 ? undefined : explain(body, h, k);
    }
    return undefined;
  };
  const shown = typeof value === 'number' ? formatValue(value) : value.length === 1 ? formatValue(value[0]!) : `[${value.slice(0, 5).map(formatValue).join(', ')}${value.length > 5 ? ', …' : ''}]`;
  return explain(c.ast, held) ?? `${name}=${shown} (${kind}Condition "${c.text}" is ${held})`;
}
