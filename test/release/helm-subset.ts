import { stringify } from 'yaml';

/**
 * A renderer for the subset of Helm's template language the model-service chart is written in (see
 * manifests/charts/model-service/README.md). There is no helm binary on the test machines; this lets the
 * tests render the chart with many value sets and validate every object with kubernetes-models.
 *
 * Supported: {{ }} with {{- -}} trimming, {{/* comments *\/}}, pipelines with "|", parentheses,
 * .Values/.Release/.Chart/.Capabilities fields and ".", string/number/bool literals, if / else if / else / end,
 * define / end, and the functions include, default, quote, toYaml, indent, nindent, trunc, trimSuffix,
 * replace, printf (%s %d %v), required, not, and, or, eq, ne, empty. Anything else throws.
 */

type Node =
  | { t: 'text'; v: string }
  | { t: 'out'; p: Expr }
  | { t: 'if'; branches: { cond: Expr | null; body: Node[] }[] };

type Expr =
  | { k: 'pipe'; cmds: Expr[][] }
  | { k: 'field'; path: string[] }
  | { k: 'lit'; v: unknown }
  | { k: 'ident'; name: string };

export interface RenderContext {
  Values: unknown;
  Release: { Name: string; Namespace: string; Service: string };
  Chart: Record<string, unknown>;
}

const ACTION = /\{\{(-?)(\s*)([\s\S]*?)(\s*)(-?)\}\}/g;

function lex(src: string): string[] {
  const out: string[] = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|\(|\)|\||[^\s()|]+)/gy;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(src))) {
    out.push(m[1]!);
    end = re.lastIndex;
  }
  if (src.slice(end).trim()) throw new Error(`cannot lex: ${src}`);
  return out;
}

function parseExpr(src: string): Expr {
  const toks = lex(src);
  let i = 0;
  const pipeline = (): Expr => {
    const cmds: Expr[][] = [[]];
    while (i < toks.length && toks[i] !== ')') {
      const t = toks[i++]!;
      if (t === '|') cmds.push([]);
      else if (t === '(') {
        cmds.at(-1)!.push(pipeline());
        if (toks[i++] !== ')') throw new Error(`missing ) in ${src}`);
      } else cmds.at(-1)!.push(operand(t));
    }
    return { k: 'pipe', cmds };
  };
  const operand = (t: string): Expr => {
    if (t.startsWith('"')) return { k: 'lit', v: JSON.parse(t) };
    if (/^-?\d+(\.\d+)?$/.test(t)) return { k: 'lit', v: Number(t) };
    if (t === 'true' || t === 'false') return { k: 'lit', v: t === 'true' };
    if (t === 'nil') return { k: 'lit', v: null };
    if (t === '.') return { k: 'field', path: [] };
    if (t.startsWith('.')) return { k: 'field', path: t.slice(1).split('.') };
    if (/^[A-Za-z]\w*$/.test(t)) return { k: 'ident', name: t };
    throw new Error(`unsupported token ${t}`);
  };
  const e = pipeline();
  if (i !== toks.length) throw new Error(`unexpected ) in ${src}`);
  return e;
}

interface Parsed {
  body: Node[];
  defines: Map<string, Node[]>;
}

function parse(src: string, defines: Map<string, Node[]>): Node[] {
  // Tokenize into text and actions, applying the trim markers.
  const parts: ({ t: 'text'; v: string } | { t: 'act'; v: string })[] = [];
  let last = 0;
  for (const m of src.matchAll(ACTION)) {
    let text = src.slice(last, m.index);
    if (m[1] === '-') text = text.replace(/\s+$/, '');
    parts.push({ t: 'text', v: text });
    parts.push({ t: 'act', v: m[3]! });
    last = m.index! + m[0].length;
    if (m[5] === '-') {
      const rest = src.slice(last);
      last += rest.length - rest.replace(/^\s+/, '').length;
    }
  }
  parts.push({ t: 'text', v: src.slice(last) });
  let i = 0;
  const block = (stop: string[]): { nodes: Node[]; end: string } => {
    const nodes: Node[] = [];
    while (i < parts.length) {
      const p = parts[i++]!;
      if (p.t === 'text') {
        if (p.v) nodes.push({ t: 'text', v: p.v });
        continue;
      }
      const a = p.v.trim();
      if (a.startsWith('/*')) continue;
      const word = a.split(/\s+/)[0]!;
      if (stop.includes(word)) return { nodes, end: a };
      if (word === 'if') {
        const branches: { cond: Expr | null; body: Node[] }[] = [];
        let cond: Expr | null = parseExpr(a.slice(2));
        for (;;) {
          const b = block(['else', 'end']);
          branches.push({ cond, body: b.nodes });
          if (b.end === 'end') break;
          const rest = b.end.slice(4).trim();
          cond = rest.startsWith('if ') ? parseExpr(rest.slice(3)) : null;
        }
        nodes.push({ t: 'if', branches });
      } else if (word === 'define') {
        const name = JSON.parse(a.slice(6).trim()) as string;
        defines.set(name, block(['end']).nodes);
      } else if (['range', 'with', 'template', 'block', 'tpl'].includes(word)) {
        throw new Error(`"${word}" is outside the supported subset`);
      } else nodes.push({ t: 'out', p: parseExpr(a) });
    }
    if (stop.length) throw new Error(`missing {{ end }}`);
    return { nodes, end: '' };
  };
  return block([]).nodes;
}

const truthy = (v: unknown): boolean => !(v === undefined || v === null || v === false || v === 0 || v === '' || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0));

const str = (v: unknown): string => (v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));

export class HelmSubset {
  private readonly defines = new Map<string, Node[]>();
  private readonly files = new Map<string, Node[]>();

  constructor(templates: Record<string, string>) {
    for (const [name, src] of Object.entries(templates)) this.files.set(name, parse(src, this.defines));
  }

  /** Renders every template that is not a helper (`_*.tpl`), as Helm does; returns name → text. */
  render(ctx: RenderContext): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, nodes] of this.files) if (!name.split('/').pop()!.startsWith('_')) out[name] = this.run(nodes, ctx);
    return out;
  }

  private run(nodes: Node[], dot: unknown): string {
    let s = '';
    for (const n of nodes) {
      if (n.t === 'text') s += n.v;
      else if (n.t === 'out') s += str(this.eval(n.p, dot));
      else {
        for (const b of n.branches) {
          if (b.cond === null || truthy(this.eval(b.cond, dot))) {
            s += this.run(b.body, dot);
            break;
          }
        }
      }
    }
    return s;
  }

  private eval(e: Expr, dot: unknown): unknown {
    if (e.k === 'lit') return e.v;
    if (e.k === 'field') {
      let cur: unknown = dot;
      for (const p of e.path) cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[p] : undefined;
      return cur;
    }
    if (e.k === 'ident') return this.call(e.name, [], dot);
    let value: unknown;
    let first = true;
    for (const cmd of e.cmds) {
      const [head, ...rest] = cmd;
      if (!head) throw new Error('empty command');
      const args = rest.map((x) => this.eval(x, dot));
      if (!first) args.push(value);
      if (head.k === 'ident') value = this.call(head.name, args, dot);
      else if (args.length) throw new Error('a value cannot take arguments');
      else value = this.eval(head, dot);
      first = false;
    }
    return value;
  }

  private call(name: string, a: unknown[], dot: unknown): unknown {
    switch (name) {
      case 'include': {
        const body = this.defines.get(String(a[0]));
        if (!body) throw new Error(`no template named ${String(a[0])}`);
        return this.run(body, a[1]);
      }
      case 'default':
        return truthy(a[1]) ? a[1] : a[0];
      case 'quote':
        return JSON.stringify(str(a[0]));
      case 'toYaml':
        return a[0] === undefined || a[0] === null ? '' : stringify(a[0], { lineWidth: 0 }).replace(/\n$/, '');
      case 'indent':
        return str(a[1]).split('\n').map((l) => ' '.repeat(Number(a[0])) + l).join('\n');
      case 'nindent':
        return `\n${str(a[1]).split('\n').map((l) => ' '.repeat(Number(a[0])) + l).join('\n')}`;
      case 'trunc':
        return str(a[1]).slice(0, Number(a[0]));
      case 'trimSuffix':
        return str(a[1]).endsWith(String(a[0])) ? str(a[1]).slice(0, -String(a[0]).length) : str(a[1]);
      case 'replace':
        return str(a[2]).split(String(a[0])).join(String(a[1]));
      case 'printf': {
        let k = 1;
        return String(a[0]).replace(/%[sdv]/g, () => str(a[k++]));
      }
      case 'required':
        if (!truthy(a[1])) throw new Error(String(a[0]));
        return a[1];
      case 'not':
        return !truthy(a[0]);
      case 'and':
        return a.reduce((x, y) => (truthy(x) ? y : x));
      case 'or':
        return a.reduce((x, y) => (truthy(x) ? x : y));
      case 'eq':
        return a[0] === a[1];
      case 'ne':
        return a[0] !== a[1];
      case 'empty':
        return !truthy(a[0]);
      default:
        void dot;
        throw new Error(`function "${name}" is outside the supported subset`);
    }
  }
}

export type { Parsed };
