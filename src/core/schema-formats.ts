/**
 * The JSON Schema formats mlloop's schemas use, registered directly (the full ajv-formats set costs start-up
 * time). Shared by the validators compiled at run time (src/core/schema.ts) and those compiled into the bundles
 * at build time (scripts/build.mjs), so both accept the same values.
 */
export const formats = {
  /** RFC 3339 date-time, as JSON Schema's `date-time` format defines it. */
  'date-time': /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt ]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$/,
  uri: (v: string): boolean => {
    try {
      return Boolean(new URL(v).protocol);
    } catch {
      return false;
    }
  },
};

/** The Ajv options of every validator, at run time and at build time (the messages depend on them). */
export const AJV_OPTIONS = { allErrors: true, strict: false, allowUnionTypes: true, verbose: true } as const;

/** Where a build-compiled validator hangs on its schema object (see scripts/build.mjs). */
export const COMPILED = Symbol.for('mlloop.schema.validate');
