import { Composer, CST, Parser, isScalar, parse, parseDocument, type Document } from 'yaml';
import { ConfigurationError } from '../errors.js';

export interface ScalarEdit {
  /** Key path, e.g. ['image', 'tag']. */
  path: readonly string[];
  value: string | number | boolean;
}

/**
 * Sets scalar values in a YAML file in place: only the characters of the changed values differ, so
 * comments, key order, quoting of other values, flow collections and blank lines stay byte-identical.
 * Existing scalars are rewritten at their position in the concrete syntax tree (keeping their quote
 * style when they had one); when a key is missing, it is added through the Document API, which keeps
 * comments but lays the file out again. Returns the new text (unchanged text when nothing differs).
 */
export function setYamlScalars(text: string, file: string, edits: readonly ScalarEdit[]): string {
  const tokens = [...new Parser().parse(text)];
  const docs = [...new Composer({ keepSourceTokens: true }).compose(tokens)];
  if (docs.length > 1) throw new ConfigurationError('holds more than one YAML document', { file, hint: 'keep one document in a values file' });
  const doc = docs[0];
  if (doc) checkErrors(doc, file);
  const missing: ScalarEdit[] = [];
  const inFlow = flowScalars(tokens);
  for (const e of edits) {
    const node = doc?.getIn(e.path, true);
    const token = isScalar(node) ? (node.srcToken as CST.FlowScalar | CST.BlockScalar | undefined) : undefined;
    if (!token || !('source' in token) || node === undefined || !isScalar(node) || node.value === null) {
      missing.push(e);
      continue;
    }
    if (node.value === e.value) continue;
    const quoted = token.type === 'single-quoted-scalar' || token.type === 'double-quoted-scalar';
    const newText = String(e.value);
    const plainOk = typeof e.value !== 'string' || (isPlainSafe(newText) && token.type === 'scalar');
    const type = quoted ? (token.type === 'single-quoted-scalar' ? 'QUOTE_SINGLE' : 'QUOTE_DOUBLE') : plainOk ? 'PLAIN' : 'QUOTE_DOUBLE';
    CST.setScalarValue(token, newText, { type, inFlow: inFlow.has(token) });
  }
  let out = tokens.map((t) => CST.stringify(t)).join('');
  if (missing.length) {
    const full = parseDocument(out);
    for (const e of missing) full.setIn(e.path, e.value);
    out = full.toString({ lineWidth: 0 });
  }
  return out;
}

function checkErrors(doc: Document, file: string): void {
  const err = doc.errors[0];
  if (err) {
    const pos = err.linePos?.[0];
    throw new ConfigurationError(`not valid YAML${pos ? ` (line ${pos.line}, column ${pos.col})` : ''}: ${err.message.split('\n')[0]}`, { file, line: pos?.line, column: pos?.col });
  }
}

/** A string YAML reads back as the same string when written without quotes. */
function isPlainSafe(s: string): boolean {
  if (s === '' || /^[\s]|[\s]$/.test(s) || /[#:]\s|[\n\r]/.test(s)) return false;
  try {
    return parse(s) === s;
  } catch {
    return false;
  }
}

/** Scalar tokens that sit inside a flow collection ({…} or […]), where "," and brackets need quoting too. */
function flowScalars(tokens: readonly CST.Token[]): Set<CST.Token> {
  const out = new Set<CST.Token>();
  const walk = (t: CST.Token | undefined, inFlow: boolean): void => {
    if (!t) return;
    if (t.type === 'document') return walk(t.value, false);
    if (t.type === 'block-map' || t.type === 'block-seq' || t.type === 'flow-collection') {
      const flow = inFlow || t.type === 'flow-collection';
      for (const it of t.items) {
        walk(it.key ?? undefined, flow);
        walk(it.value, flow);
      }
      return;
    }
    if (inFlow) out.add(t);
  };
  for (const t of tokens) walk(t, false);
  return out;
}

/** Parses a YAML file into plain data, naming the file on syntax errors. */
export function readYamlText(text: string, file: string): unknown {
  const doc = parseDocument(text, { uniqueKeys: true });
  checkErrors(doc, file);
  return doc.toJS({ maxAliasCount: 100 });
}

/** Appends an item to a top-level sequence (`key:`), creating it when absent; comments survive. */
export function appendToYamlList(text: string, file: string, key: string, item: Record<string, unknown>, header?: string): string {
  const doc = text.trim() ? parseDocument(text) : parseDocument(`${header ? `${header}\n` : ''}${key}: []\n`);
  checkErrors(doc, file);
  const seq = doc.get(key, true);
  if (seq === undefined || seq === null || (isScalar(seq) && seq.value === null)) doc.set(key, doc.createNode([item]));
  else {
    const s = seq as { items?: unknown[]; flow?: boolean };
    if (!Array.isArray(s.items)) throw new ConfigurationError(`"${key}" must be a list`, { file, path: `$.${key}` });
    s.flow = false;
    s.items.push(doc.createNode(item));
  }
  return doc.toString({ lineWidth: 0 });
}
