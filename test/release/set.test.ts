import { describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { helm } from '../support/helm.js';
import { tempDir } from '../support/tmp.js';
import { applySetLines, type SetKind } from '../../src/core/values/strvals.js';
import { coalesce } from '../../src/core/values/render.js';
import { ConfigurationError } from '../../src/core/errors.js';

/** A tiny chart whose only template prints .Values as JSON: what helm makes of --set, to compare with mlloop's. */
const chart = tempDir('set-chart', { scope: 'file' });
const DEFAULTS = 'keep: 1\ndrop:\n  me: 2\n  other: 3\nlist: [1, 2]\nnested:\n  a: 1\n  b: {c: 2}\n';
mkdirSync(join(chart, 'templates'));
writeFileSync(join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: dump\nversion: 0.1.0\n');
writeFileSync(join(chart, 'values.yaml'), DEFAULTS);
writeFileSync(join(chart, 'templates', 'values.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: values\ndata:\n  json: {{ .Values | toJson | quote }}\n');
const notes = join(chart, 'notes.txt');
writeFileSync(notes, 'line 1, with a comma\nline 2: {a,b}\n');

type Line = [SetKind, string];

function viaHelm(lines: Line[]): { ok: true; values: unknown } | { ok: false; error: string } {
  const r = helm(['template', 'r', chart, ...lines.flatMap(([k, t]) => [`--${k}`, t])]);
  if (r.code !== 0) return { ok: false, error: r.stderr };
  const cm = parseAllDocuments(r.stdout).map((d) => d.toJS()).find((o) => o?.kind === 'ConfigMap');
  return { ok: true, values: JSON.parse(cm.data.json) };
}

function viaMlloop(lines: Line[]): unknown {
  const user = applySetLines({}, lines.map(([kind, text]) => ({ kind, text })), (f) => {
    if (f !== notes) throw new Error(`unexpected file ${f}`);
    return 'line 1, with a comma\nline 2: {a,b}\n';
  });
  return coalesce(parse(DEFAULTS), user);
}

const CASES: [string, Line[]][] = [
  ['type inference: ints, bools and null in any case, the rest strings', [['set', 'a=1,b=two,c=true,d=FALSE,e=Null,f=0,g=01,h=-01,i=0.5,j=1e3,k=+7,l=-5,m=0x1f']]],
  ['escaped dots in keys', [['set', 'gpu.nodeSelector.nvidia\\.com/gpu\\.product=Tesla-T4,name\\.with\\.dots=1']]],
  ['escaped commas and equals signs in values', [['set', 'v=a\\,b,w=x=y,z=\\{not\\,a\\,list}']]],
  ['{a,b} lists, typed, an empty one and one followed by another pair', [['set', 'tags={a,b,3,true},empty={},after={x},n=1']]],
  ['list indexes with objects, gaps and nesting', [['set', 'servers[0].port=80,servers[0].host=x,servers[2].port=90,m[0][1]=y']]],
  ['a list index replaces the chart default list', [['set', 'list[1]=x']]],
  ['null removes chart defaults; null for a new key stays', [['set', 'drop.me=null,keep=null,nested.b=null,fresh=null']]],
  ['several --set flags, later ones win, maps merge', [['set', 'nested.a=5'], ['set', 'nested.d=6'], ['set', 'nested.a=7,x.y.z=1']]],
  ['--set-string keeps strings and is applied after every --set', [['set-string', 'n=42,t=true,o=s'], ['set', 'o=1,p=2']]],
  ['--set-file reads the value from a file, after --set and --set-string', [['set-file', `notes=${notes}`], ['set', 'notes=x'], ['set-string', 'other=1']]],
  ['empty values, spaces kept, unicode keys', [['set', 'x=,s= a b ,名字=张三']]],
  ['integers beyond int64 stay strings', [['set', 'big=9223372036854775808,safe=9007199254740991']]],
  ['an escaped bracket is part of the key', [['set', 'a\\[0\\]=1']]],
];

const ERRORS: [string, Line[]][] = [
  ['a key without a value', [['set', 'replicaCount']]],
  ['a key ended by a comma', [['set', 'a,b=1']]],
  ['an unterminated list', [['set', 'l={a,b']]],
  ['a non-numeric index', [['set', 'a[x]=1']]],
  ['data after an index', [['set', 'a[0]b=1']]],
  ['a negative index', [['set', 'a[-1]=1']]],
  ['a map key under a scalar', [['set', 'a=1'], ['set', 'a.b=2']]],
];

describe('--set, --set-string, --set-file: mlloop gives what real helm template gives', () => {
  it.each(CASES)('%s', (_name, lines) => {
    const h = viaHelm(lines);
    expect(h.ok, JSON.stringify(h)).toBe(true);
    expect(viaMlloop(lines)).toEqual((h as { values: unknown }).values);
  });

  it.each(ERRORS)('refuses %s, as helm does (exit 2 naming the option and line)', (_name, lines) => {
    const h = viaHelm(lines);
    expect(h.ok, 'helm accepted it').toBe(false);
    let err: unknown;
    try {
      viaMlloop(lines);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigurationError);
    expect((err as Error).message).toContain(`--${lines.at(-1)![0]} "${lines.at(-1)![1]}"`);
  });
});
