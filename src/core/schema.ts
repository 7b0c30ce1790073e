import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { ConfigurationError, closest, jsonPath } from './errors.js';

/** RFC 3339 date-time, as JSON Schema's `date-time` format defines it. */
const DATE_TIME = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt ]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$/;
let ajv: Ajv | undefined;
const compiled = new WeakMap<object, ValidateFunction>();

function getAjv(): Ajv {
  if (!ajv) {
    // Schemas are compiled once per run and validate a handful of small files: skip the code optimiser.
    ajv = new Ajv({ allErrors: true, strict: false, allowUnionTypes: true, verbose: true, code: { optimize: false } });
    // The formats our schemas use, registered directly (the full ajv-formats set costs start-up time).
    ajv.addFormat('date-time', DATE_TIME);
    ajv.addFormat('uri', (v: string) => {
      try {
        return Boolean(new URL(v).protocol);
      } catch {
        return false;
      }
    });
  }
  return ajv;
}

export type JsonSchema = Record<string, unknown>;

/**
 * Validates a parsed config file against its JSON Schema before any work starts. On failure throws a
 * ConfigurationError naming the file, the JSON path and what to change (exit 2).
 */
export function validateSchema<T>(data: unknown, schema: JsonSchema, file: string): T {
  let validate = compiled.get(schema);
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
