import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { ConfigurationError } from '../errors.js';
import { readText, parseJson } from '../io/read.js';
import { writeFileAtomic } from '../io/atomic.js';
import { validateSchema, type JsonSchema } from '../schema.js';
import { readYamlText } from '../gitops/yaml-edit.js';
import { assertLabel } from '../gitops/names.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

export interface SetOverride {
  path: string[];
  value: unknown;
}

/**
 * `--set a.b=1`: the key is a dotted path (`\.` for a literal dot); the value is typed — integers and
 * decimals become numbers, true/false booleans, null deletes the key, anything else is a string.
 * `--set-string` keeps the value a string. Unlike Helm, one --set is one assignment (no comma lists),
 * so values may contain commas.
 */
export function parseSet(text: string, typed: boolean, what = '--set'): SetOverride {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new ConfigurationError(`${what} "${text}" must be key=value`, { hint: 'e.g. --set replicaCount=3 --set gpu.enabled=true' });
  const key = text.slice(0, eq);
  const raw = text.slice(eq + 1);
  if (/[[\]]/.test(key)) throw new ConfigurationError(`${what} "${key}": list indexes are not supported`, { hint: 'set the whole list in the --template file instead' });
  const parts = key.split(/(?<!\\)\./).map((p) => p.replace(/\\\./g, '.'));
  if (parts.some((p) => p === '' || p === '__proto__' || p === 'constructor' || p === 'prototype')) throw new ConfigurationError(`${what} "${key}" is not a valid key path`);
  let value: unknown = raw;
  if (typed) {
    if (raw === 'true' || raw === 'false') value = raw === 'true';
    else if (raw === 'null') value = null;
    else if (/^-?(0|[1-9]\d*)$/.test(raw) && Number.isSafeInteger(Number(raw))) value = Number(raw);
    else if (/^-?(0|[1-9]\d*)?\.\d+([eE][-+]?\d+)?$/.test(raw)) value = Number(raw);
  }
  return { path: parts, value };
}

export function applySet(values: Obj, s: SetOverride): void {
  let cur = values;
  for (const p of s.path.slice(0, -1)) {
    if (!isObj(cur[p])) cur[p] = {};
    cur = cur[p] as Obj;
  }
  const last = s.path.at(-1)!;
  if (s.value === null) delete cur[last];
  else cur[last] = s.value;
}

/** Helm's coalescing of user values over the chart's defaults: maps merge, null deletes, the rest replaces. */
export function coalesce(defaults: unknown, user: unknown): unknown {
  if (!isObj(defaults) || !isObj(user)) return user === undefined ? defaults : user;
  const out: Obj = { ...defaults };
  for (const [k, v] of Object.entries(user)) {
    if (v === null) delete out[k];
    else out[k] = coalesce(defaults[k], v);
  }
  return out;
}

export interface Chart {
  dir: string;
  name: string;
  version: string;
  appVersion?: string;
  defaults: Obj;
  schema?: JsonSchema;
}

export async function readChart(dir: string, shown: string): Promise<Chart> {
  const chartFile = path.join(dir, 'Chart.yaml');
  const meta = readYamlText(await readText(chartFile, 'Chart.yaml'), path.join(shown, 'Chart.yaml'));
  if (!isObj(meta) || typeof meta.name !== 'string' || typeof meta.version !== 'string') throw new ConfigurationError('Chart.yaml needs name and version', { file: path.join(shown, 'Chart.yaml') });
  const valuesText = await fs.readFile(path.join(dir, 'values.yaml'), 'utf8').catch(() => '');
  const defaults = (readYamlText(valuesText, path.join(shown, 'values.yaml')) ?? {}) as Obj;
  const schemaText = await fs.readFile(path.join(dir, 'values.schema.json'), 'utf8').catch(() => undefined);
  const schema = schemaText === undefined ? undefined : (parseJson(schemaText, path.join(shown, 'values.schema.json')) as JsonSchema);
  return { dir, name: meta.name, version: meta.version, appVersion: typeof meta.appVersion === 'string' ? meta.appVersion : undefined, defaults, schema };
}

export interface RenderInput {
  chart: Chart;
  env: string;
  app?: string;
  /** Handlebars template of the environment's values (YAML), and its name for messages. */
  template?: { text: string; file: string };
  sets: SetOverride[];
  /** The values file written before (its image and model version are kept unless set again). */
  previous?: { text: string; file: string };
}

export interface Rendered {
  values: Obj;
  /** What Helm would validate and use: chart defaults with these values over them. */
  coalesced: Obj;
  kept: string[];
}

export async function renderValues(i: RenderInput): Promise<Rendered> {
  assertLabel(i.env, '--env');
  if (i.app) assertLabel(i.app, '--app');
  let values: Obj = {};
  if (i.template) {
    const Handlebars = (await import('handlebars')).default;
    const hb = Handlebars.create();
    hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
    hb.registerHelper('ne', (a: unknown, b: unknown) => a !== b);
    hb.registerHelper('default', (v: unknown, d: unknown) => (v === undefined || v === null || v === '' ? d : v));
    // {{json x}} writes a value as a YAML-safe JSON scalar or flow collection.
    hb.registerHelper('json', (v: unknown) => JSON.stringify(v));
    let text: string;
    try {
      text = hb.compile(i.template.text, { strict: true, noEscape: true })({ env: i.env, app: i.app ?? '', chart: { name: i.chart.name, version: i.chart.version, appVersion: i.chart.appVersion ?? '' }, defaults: i.chart.defaults });
    } catch (e) {
      throw new ConfigurationError(`cannot render the template: ${(e as Error).message.split('\n')[0]}`, { file: i.template.file, hint: 'the template sees env, app, chart.{name,version,appVersion} and defaults (the chart values); helpers: eq, ne, default, json' });
    }
    const parsed = readYamlText(text, `${i.template.file} (rendered for env ${i.env})`);
    if (parsed !== null && parsed !== undefined && !isObj(parsed)) throw new ConfigurationError('the rendered template is not a YAML mapping', { file: i.template.file });
    values = (parsed ?? {}) as Obj;
  }
  const kept: string[] = [];
  if (i.previous) {
    // Rendering values never undoes a deploy: image and model version stay what gitops deploy set.
    const prev = readYamlText(i.previous.text, i.previous.file);
    if (isObj(prev)) {
      const setPaths = new Set(i.sets.map((s) => s.path.join('.')));
      for (const p of [['image', 'repository'], ['image', 'tag'], ['image', 'digest'], ['model', 'version']]) {
        const v = (prev[p[0]!] as Obj | undefined)?.[p[1]!];
        const mine = (values[p[0]!] as Obj | undefined)?.[p[1]!];
        if (v !== undefined && mine === undefined && !setPaths.has(p.join('.'))) {
          applySet(values, { path: p, value: v });
          kept.push(p.join('.'));
        }
      }
    }
  }
  for (const s of i.sets) applySet(values, s);
  const coalesced = coalesce(i.chart.defaults, values) as Obj;
  if (i.chart.schema) validateSchema(coalesced, i.chart.schema, `values for ${i.env} (chart ${i.chart.name} defaults + template + --set)`);
  return { values, coalesced, kept };
}

export async function writeValues(out: string, r: Rendered, header: string): Promise<string> {
  const text = `${header.split('\n').map((l) => `# ${l}`.trimEnd()).join('\n')}\n${stringify(r.values, { lineWidth: 0 })}`;
  await writeFileAtomic(out, text);
  return text;
}

