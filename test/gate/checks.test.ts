// Gate decisions on tables of cases: each rule, each direction, the boundaries, and every fail-closed input.
import { describe, expect, it } from 'vitest';
import { checkMetric, checkPerField } from '../../src/core/gate/checks.js';
import { incomparability } from '../../src/core/gate/comparability.js';
import { parsePolicy } from '../../src/core/gate/policy.js';
import type { MetricRule } from '../../src/core/gate/policy.js';

const m = (v: unknown) => ({ overall: { f1: v } });
const lat = (v: unknown) => ({ latency_ms: { p95: v } });

type Case = [string, MetricRule, unknown, unknown, boolean[], RegExp?];
const cases: Case[] = [
  ['min met exactly', { direction: 'higher', min: 0.8 }, m(0.8), m(0.7), [true]],
  ['min missed', { direction: 'higher', min: 0.8 }, m(0.7999), m(0.7), [false], /below the minimum 0\.8/],
  ['max met', { direction: 'lower', max: 200 }, lat(200), lat(100), [true]],
  ['max exceeded', { direction: 'lower', max: 200 }, lat(201), lat(100), [false], /above the maximum 200/],
  ['no regression allowed, equal', { direction: 'higher', max_regression: 0 }, m(0.9), m(0.9), [true], /no regression/],
  ['no regression allowed, float noise', { direction: 'higher', max_regression: 0 }, m(0.1 + 0.2), m(0.3), [true]],
  ['no regression allowed, worse', { direction: 'higher', max_regression: 0 }, m(0.899), m(0.9), [false], /regressed by 0\.001/],
  ['within allowed regression', { direction: 'higher', max_regression: 0.005 }, m(0.896), m(0.9), [true], /within 0\.005/],
  ['lower is better: an increase is a regression', { direction: 'lower', max_regression: 10 }, lat(215), lat(200), [false], /regressed by 15/],
  ['lower is better: a decrease is fine', { direction: 'lower', max_regression: 0 }, lat(150), lat(200), [true]],
  ['relative regression within 15%', { direction: 'lower', max_regression_relative: 0.15 }, lat(229), lat(200), [true]],
  ['relative regression over 15%', { direction: 'lower', max_regression_relative: 0.15 }, lat(231), lat(200), [false], /regressed by 15\.5%/],
  ['relative against a zero baseline', { direction: 'lower', max_regression_relative: 0.5 }, lat(1), lat(0), [false], /unbounded share/],
  ['required improvement met', { direction: 'higher', min_improvement: 0.01 }, m(0.91), m(0.9), [true]],
  ['required improvement missed', { direction: 'higher', min_improvement: 0.01 }, m(0.905), m(0.9), [false], /needs at least 0\.01/],
  ['relative improvement', { direction: 'lower', min_improvement_relative: 0.1 }, lat(170), lat(200), [true]],
  ['several rules, one fails', { direction: 'higher', min: 0.8, max_regression: 0 }, m(0.85), m(0.86), [true, false]],
  ['no bound: reported', { direction: 'higher' }, m(0.5), m(0.9), [true], /reported/],
  ['missing in the candidate', { direction: 'higher', min: 0 }, {}, m(0.9), [false], /candidate: missing/],
  ['missing in the baseline', { direction: 'higher', min: 0 }, m(0.9), {}, [false], /baseline: missing/],
  ['null', { direction: 'higher', min: 0 }, m(null), m(0.9), [false], /candidate: null/],
  ['a string', { direction: 'higher', min: 0 }, m('0.9'), m(0.9), [false], /not a number/],
  ['a boolean', { direction: 'higher', min: 0 }, m(true), m(0.9), [false], /not a number/],
  ['an object', { direction: 'higher', min: 0 }, m({ value: 0.9 }), m(0.9), [false], /not a number/],
  ['NaN (from a JS producer)', { direction: 'higher', min: 0 }, m(NaN), m(0.9), [false], /candidate: NaN/],
  ['Infinity', { direction: 'lower', max: 1e9 }, lat(Infinity), lat(1), [false], /candidate: Infinity/],
  ['both sides missing', { direction: 'higher', max_regression: 0 }, {}, {}, [false], /candidate: missing, baseline: missing/],
];

describe('metric checks', () => {
  it.each(cases)('%s', (_, rule, cand, base, expected, reason) => {
    const path = 'latency_ms' in (cand as object) || 'latency_ms' in (base as object) || rule.direction === 'lower' ? 'latency_ms.p95' : 'overall.f1';
    const checks = checkMetric(path, rule, cand, base);
    expect(checks.map((c) => c.pass)).toEqual(expected);
    if (reason) expect(checks.map((c) => c.reason).join('\n')).toMatch(reason);
  });

  it('addresses labels that contain dots', () => {
    const c = { per_field: { 'policy.no': { recall: 0.9 } } };
    const b = { per_field: { 'policy.no': { recall: 0.95 } } };
    expect(checkMetric('per_field.policy.no.recall', { direction: 'higher', max_regression: 0.01 }, c, b)[0]!.pass).toBe(false);
  });
});

describe('per-field checks', () => {
  const base = { per_field: { name: { recall: 0.9, support: 100 }, rare: { recall: 0.9, tp: 3, fn: 2 }, amount: { recall: 0.8, support: 50 } } };
  it('applies the limit to every field with enough support and reports the rest as skipped', () => {
    const cand = { per_field: { name: { recall: 0.89 }, rare: { recall: 0.1 }, amount: { recall: 0.7 } } };
    const r = checkPerField({ metric: 'recall', max_regression: 0.02, min_support: 20 }, cand, base);
    expect(r.checks.map((c) => [c.metric, c.pass])).toEqual([['per_field.name.recall', true], ['per_field.amount.recall', false]]);
    expect(r.skipped).toEqual([{ field: 'rare', support: 5 }]);
  });
  it('fails closed when a checked field is missing from the candidate, or the baseline has no fields', () => {
    expect(checkPerField({ metric: 'recall', max_regression: 0.02 }, { per_field: { name: { recall: 0.9 } } }, base).checks.filter((c) => !c.pass).map((c) => c.metric)).toEqual(['per_field.rare.recall', 'per_field.amount.recall']);
    expect(checkPerField({ metric: 'recall', max_regression: 0.02 }, {}, {}).checks[0]!.pass).toBe(false);
  });
});

describe('comparability guard', () => {
  const cfg = { iou_threshold: 0.5, normalize: 'lenient' };
  it.each([
    ['same dataset and config', { dataset: 'a', config: cfg }, { dataset: 'a', config: { ...cfg } }, 0],
    ['neither names a dataset (any metrics.json)', { f1: 1 }, { f1: 1 }, 0],
    ['different datasets', { dataset: 'a' }, { dataset: 'b' }, 1],
    ['only one side names its dataset', { dataset: 'a' }, {}, 1],
    ['a different config value', { config: cfg }, { config: { ...cfg, normalize: 'exact' } }, 1],
    ['an extra config key', { config: { ...cfg, tokenize: '13a' } }, { config: cfg }, 1],
    ['only one side has a config', { config: cfg }, {}, 1],
  ])('%s', (_, c, b, n) => {
    expect(incomparability(c, b)).toHaveLength(n);
  });
});

describe('policy', () => {
  it('accepts the design\'s example and applies defaults', () => {
    const p = parsePolicy(
      {
        metrics: { 'overall.f1': { direction: 'higher', min: 0.8, max_regression: 0.0 }, 'overall.recall': { direction: 'higher', max_regression: 0.005 }, 'latency_ms.p95': { direction: 'lower', max: 200, max_regression_relative: 0.15 } },
        per_field: { metric: 'recall', max_regression: 0.02, min_support: 20 },
        significance: { metric: 'overall.f1', test: 'paired-bootstrap', resamples: 10000, alpha: 0.05, require: 'improvement', margin: 0.0, seed: 1, correction: 'holm' },
      },
      'gate.yaml',
    );
    expect(p.name).toBe('gate');
    expect(p.significance).toMatchObject({ per_field: false, correction: 'holm' });
    expect(parsePolicy({ significance: {} }, 'g.yaml').significance).toMatchObject({ test: 'paired-bootstrap', resamples: 10000, alpha: 0.05, require: 'improvement', seed: 1 });
  });
  it.each([
    [{}, /required field/],
    [{ metrics: { f1: { direction: 'up' } } }, /\$\.metrics\.f1\.direction: must be one of "higher", "lower"/],
    [{ metrics: { f1: { direction: 'higher', max_regression: -1 } } }, /must be >= 0/],
    [{ significance: { alpha: 0.7 } }, /\$\.significance\.alpha/],
    [{ metrics: { f1: { direction: 'higher', max_regression: 0, min_improvement: 0.01 } } }, /both an allowed regression and a required improvement/],
    [{ name: 'has space' }, /\$\.name/],
  ])('refuses %j', (policy, message) => {
    expect(() => parsePolicy(policy, 'gate.yaml')).toThrow(message);
  });
});
