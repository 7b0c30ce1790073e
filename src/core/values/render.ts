import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { ConfigurationError } from '../errors.js';
import { readText, parseJson } from '../io/read.js';
import { writeFileAtomic } from '../io/atomic.js';
import { validateSchema, type JsonSchema } from '../schema.js';
import { readYamlText } from '../gitops/yaml-edit.js';
import { assertLabel } from '../gitops/names.js';
import { applySetLines, setLinesTouch, type SetLine } from './strvals.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Helm's coalescing of user values over the chart's defaults (pkg/chart/common/util/coalesce.go): maps merge, a null
 * removes the chart's default (a null for a key the chart lacks stays null), the rest replaces.
 */
export function coalesce(defaults: unknown, user: unknown): unknown {
  if (!isObj(defaults) || !isObj(user)) return user === undefined ? defaults : user;
  const out: Obj = { ...defaults };
  for (const [k, v] of Object.entries(user)) {
    if (v === null && Object.hasOwn(defaults, k)) delete out[k];
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
  /** --set, --set-string and --set-file lines (Helm's syntax), applied in Helm's order after the template. */
  sets: SetLine[];
  /** Reads a --set-file value's file. */
  readFile: (file: string) => string;
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
      for (const [a, b] of [['image', 'repository'], ['image', 'tag'], ['image', 'digest'], ['model', 'version']] as const) {
        const v = (prev[a] as Obj | undefined)?.[b];
        const mine = (values[a] as Obj | undefined)?.[b];
        if (v !== undefined && mine === undefined && !setLinesTouch(i.sets, [a, b])) {
          if (!isObj(values[a])) values[a] = {};
          (values[a] as Obj)[b] = v;
          kept.push(`${a}.${b}`);
        }
      }
    }
  }
  applySetLines(values, i.sets, i.readFile);
  const coalesced = coalesce(i.chart.defaults, values) as Obj;
  if (i.chart.schema) validateSchema(coalesced, i.chart.schema, `values for ${i.env} (chart ${i.chart.name} defaults + template + --set)`);
  return { values, coalesced, kept };
}

export async function writeValues(out: string, r: Rendered, header: string): Promise<string> {
  const text = `${header.split('\n').map((l) => `# ${l}`.trimEnd()).join('\n')}\n${stringify(r.values, { lineWidth: 0 })}`;
  await writeFileAtomic(out, text);
  return text;
}

