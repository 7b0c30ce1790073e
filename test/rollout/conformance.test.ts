import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { judge } from '../../src/core/rollout/analysis.js';
import { loadTemplate } from '../../src/core/rollout/template.js';
import { ConfigurationError } from '../../src/core/errors.js';
import type { Value } from '../../src/core/rollout/condition.js';
import { tempDir } from '../support/tmp.js';

/**
 * mlloop analyze --template judges a measurement as Argo Rollouts' AnalysisRun does: every row of
 * conformance.yaml (conditions from Argo's docs, examples and tests, with the phase Argo gives on each
 * Prometheus result shape and the rule it follows) goes through the template loader and the evaluator.
 */

interface Row {
  success?: string;
  failure?: string;
  source: string;
  expect: string[] | 'Refused';
  extra?: Record<string, string>;
}

const table = parse(readFileSync(join(import.meta.dirname, 'conformance.yaml'), 'utf8')) as { shapes: string[]; rows: Row[] };

/** '[0.02, 10, 1200]' → a vector, '10' → a scalar, with NaN and ±Inf. */
function result(text: string): Value {
  const n = (s: string) => (s === 'NaN' ? Number.NaN : s === '+Inf' ? Infinity : s === '-Inf' ? -Infinity : Number(s));
  const t = text.trim();
  if (!t.startsWith('[')) return n(t);
  const inner = t.slice(1, -1).trim();
  return inner === '' ? [] : inner.split(',').map((x) => n(x.trim()));
}

const dir = tempDir('conformance');

async function load(row: Row, i: number) {
  const metric: Record<string, unknown> = { name: `m${i}`, provider: { prometheus: { address: 'http://prometheus:9090', query: 'up' } } };
  if (row.success !== undefined) metric.successCondition = row.success;
  if (row.failure !== undefined) metric.failureCondition = row.failure;
  const file = join(dir, `row-${i}.yaml`);
  writeFileSync(file, stringify({ apiVersion: 'argoproj.io/v1alpha1', kind: 'AnalysisTemplate', metadata: { name: `row-${i}` }, spec: { metrics: [metric] } }));
  return { file, load: () => loadTemplate(file, { intervalMs: 1000, count: 1, args: {} }) };
}

const label = (row: Row) => [row.success !== undefined ? `success: ${row.success}` : '', row.failure !== undefined ? `failure: ${row.failure}` : ''].filter(Boolean).join(', ') || 'no condition';

describe('conformance with Argo Rollouts (conformance.yaml)', () => {
  it('holds every condition of Argo’s Prometheus docs and a shape for each column', () => {
    for (const c of ['result[0] >= 0.95', 'all(result, # < 1000)', 'result[0] < 1000']) expect(table.rows.some((r) => r.success === c)).toBe(true);
    for (const r of table.rows) if (r.expect !== 'Refused') expect(r.expect, label(r)).toHaveLength(table.shapes.length);
  });

  it.each(table.rows.map((r, i) => [label(r), r, i] as const))('%s', async (_, row, i) => {
    const { file, load: read } = await load(row, i);
    if (row.expect === 'Refused') {
      const err = await read().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigurationError);
      expect((err as Error).message).toContain(file);
      expect((err as Error).message).toMatch(new RegExp(`metric "m${i}"`));
      return;
    }
    const [metric] = await read();
    const cases: [string, string][] = [...table.shapes.map((s, k) => [s, (row.expect as string[])[k]!] as [string, string]), ...Object.entries(row.extra ?? {})];
    const got = cases.map(([shape]) => judge(metric!, result(shape)));
    expect(Object.fromEntries(cases.map(([shape], k) => [shape, got[k]!.phase]))).toEqual(Object.fromEntries(cases));
    // An Error names the metric and the condition it could not evaluate, as Argo's formatEvalError does.
    for (const g of got) if (g.phase === 'Error') expect(g.message).toMatch(new RegExp(`^m${i}: could not evaluate (success|failure)Condition "`));
  });
});
