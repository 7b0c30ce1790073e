import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { validateSchema, type JsonSchema } from '../../src/core/schema.js';
import { ROOT } from '../support/paths.js';
import { tempDir } from '../support/tmp.js';
// @ts-expect-error: the build script is plain JavaScript
import { common, schemaPlugin } from '../../scripts/build.mjs';

/**
 * The bundles validate mlloop's schemas with validators compiled at build time; the sources (and a chart's
 * schema) compile them at run time. Both must accept and refuse the same documents with the same messages.
 */
const SCHEMAS = readdirSync(join(ROOT, 'schemas')).filter((f) => f.endsWith('.schema.json')).sort();

/** Refused documents: the generic ones, and each schema's example turned wrong in a few ways. */
function documents(schema: JsonSchema): unknown[] {
  const props = Object.keys((schema.properties as Record<string, unknown>) ?? {});
  const docs: unknown[] = [{}, [], 'text', 42, null, { zz_unknown_field: 1 }];
  for (const p of props) {
    docs.push({ [p]: 'not-what-it-wants' }, { [p]: -1 }, { [p]: { nested_unknown: true } }, { [p]: [{ x: 1 }] }, { [p]: '2025-13-45T99:00:00Z' }, { [p]: 'not a uri' });
  }
  return docs;
}

function outcome(fn: () => unknown): { ok: true } | { message: string; path?: string; hint?: string } {
  try {
    fn();
    return { ok: true };
  } catch (e) {
    const err = e as Error & { location?: { path?: string }; hint?: string };
    return { message: err.message, path: err.location?.path, hint: err.hint };
  }
}

describe('schemas compiled at build time give the same verdicts and messages as compiled at run time', () => {
  it(`for every schema in schemas/ (${SCHEMAS.length})`, async () => {
    const dir = tempDir('schema-compiled');
    const outfile = join(dir, 'schemas.cjs');
    const entry = [`export { validateSchema } from './src/core/schema.ts';`, ...SCHEMAS.map((f, i) => `export { default as s${i} } from './schemas/${f}';`)].join('\n');
    await esbuild.build({ ...common, plugins: [schemaPlugin], stdin: { contents: entry, resolveDir: ROOT, sourcefile: 'schemas-entry.ts', loader: 'ts' }, outfile });
    const built = createRequire(import.meta.url)(outfile) as Record<string, unknown> & { validateSchema: typeof validateSchema };
    let compared = 0;
    SCHEMAS.forEach((f, i) => {
      const precompiled = built[`s${i}`] as JsonSchema;
      expect(Object.getOwnPropertySymbols(precompiled).map(String), f).toEqual(['Symbol(mlloop.schema.validate)']);
      const plain = JSON.parse(readFileSync(join(ROOT, 'schemas', f), 'utf8')) as JsonSchema;
      for (const doc of documents(plain)) {
        const runtime = outcome(() => validateSchema(structuredClone(doc), plain, 'f.yaml'));
        const compiled = outcome(() => built.validateSchema(structuredClone(doc), precompiled, 'f.yaml'));
        expect(compiled, `${f}: ${JSON.stringify(doc)}`).toEqual(runtime);
        compared++;
      }
    });
    expect(compared).toBeGreaterThan(100);
  }, 60_000);
});
