import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { ConfigurationError, closest, jsonPath } from './errors.js';
import { AJV_OPTIONS, COMPILED, formats } from './schema-formats.js';

let ajv: Ajv | undefined;
const compiled = new WeakMap<object, ValidateFunction>();

function getAjv(): Ajv {
  if (!ajv) {
    // Schemas are compiled once per run and validate a handful of small files: skip the code optimiser.
    ajv = new Ajv({ ...AJV_OPTIONS, code: { optimize: false } });
    for (const [name, format] of Object.entries(formats)) ajv.addFormat(name, format);
  }
  return ajv;
}

export type JsonSchema = Record<string, unknown>;

/**
 * Validates a parsed config file against its JSON Schema before any work starts. On failure throws a
 * ConfigurationError naming the file, the JSON path and what to change (exit 2).
 */
export function validateSchema<T>(data: unknown, schema: JsonSchema, file: string): T {
  // The bundles carry mlloop's own schemas compiled at build time; a schema read at run time (a chart's) is compiled here.
  let validate = compiled.get(schema) ?? ((schema as Record<symbol, unknown>)[COMPILED] as ValidateFunction | undefined);
  if (!validate) {
    validate = getAjv().compile(schema);
    compiled.set(schema, validate);
  }
  if (validate(data)) return data as T;
  const errors = pickErrors(validate.errors ?? []);
  const first = errors[0]!;
  const more = errors.length > 1 ? `\n${errors.slice(1, 6).map((e) => `  also: ${describe(e).path}: ${describe(e).message}`).join('\n')}` : '';
  const d = describe(first);
  const schemaId = typeof schema.$id === 'string' ? ` (schema ${schema.$id})` : '';
  throw new ConfigurationError(`${d.message}${more}`, { file, path: d.path, hint: `${d.hint ?? 'correct the value'}${schemaId}` });
}

/** Drops the noise ajv produces for unions (anyOf/oneOf) when a more specific error exists. */
function pickErrors(errors: ErrorObject[]): ErrorObject[] {
  const specific = errors.filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'oneOf' && e.keyword !== 'if');
  return specific.length ? specific : errors;
}

function instanceSegments(e: ErrorObject): (string | number)[] {
  if (!e.instancePath) return [];
  return e.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function describe(e: ErrorObject): { path: string; message: string; hint?: string } {
  const segs = instanceSegments(e);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const prop = String(p.additionalProperty);
      const allowed = Object.keys((e.parentSchema as { properties?: Record<string, unknown> })?.properties ?? {});
      const guess = closest(prop, allowed);
      return {
        path: jsonPath([...segs, prop]),
        message: `unknown field "${prop}"`,
        hint: guess ? `did you mean "${guess}"?` : allowed.length ? `allowed fields: ${allowed.join(', ')}` : 'remove it',
      };
    }
    case 'required':
      return { path: jsonPath([...segs, String(p.missingProperty)]), message: `required field "${String(p.missingProperty)}" is missing`, hint: `add "${String(p.missingProperty)}"` };
    case 'enum':
      return { path: jsonPath(segs), message: `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`, hint: 'use one of the allowed values' };
    case 'type':
      return { path: jsonPath(segs), message: `must be ${String(p.type)}` };
    default:
      return { path: jsonPath(segs), message: e.message ?? `fails ${e.keyword}` };
  }
}
