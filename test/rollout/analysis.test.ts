import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCondition, evaluateCondition, ConditionError } from '../../src/core/rollout/condition.js';
import { judge, runAnalysis, formatValue, ERROR_RETRY_MS, type MetricSpec, type MeasurementSource } from '../../src/core/rollout/analysis.js';
import { parseExposition, histogramQuantile, increases, bucketsOf, parseSelector, selectorText } from '../../src/core/rollout/exposition.js';
import { computeFromScrapes } from '../../src/core/rollout/sources.js';
import { builtinMetrics, loadTemplate } from '../../src/core/rollout/template.js';
import { checkEnvelope } from '../../src/core/rollout/smoke.js';
import { ConfigurationError } from '../../src/core/errors.js';
import type { Value } from '../../src/core/rollout/condition.js';
import { ROOT } from '../support/paths.js';
import { tempDir } from '../support/tmp.js';

const metric = (over: Partial<MetricSpec> = {}): MetricSpec => ({
  name: 'latency_ms.p95',
  query: 'q',
  successCondition: parseCondition('result[0] <= 200'),
  intervalMs: 1,
  count: 3,
  initialDelayMs: 0,
  failureLimit: 0,
  inconclusiveLimit: 0,
  consecutiveErrorLimit: 4,
  ...over,
});

const source = (values: (Value | Error)[]): MeasurementSource => {
  let i = 0;
  return {
    describe: { prometheus: 'test' },
    async measure() {
      const v = values[Math.min(i++, values.length - 1)]!;
      if (v instanceof Error) throw v;
      return v;
    },
  };
};

const run = (metrics: MetricSpec[], src: MeasurementSource, sleeps: number[] = []) => runAnalysis({ metrics, source: src, now: () => new Date(0), sleep: async (ms) => void sleeps.push(ms) });

/** The built-in checks' guarded conditions: no data meets neither, so it is Inconclusive. */
const guarded = (over: Partial<MetricSpec> = {}) => metric({ successCondition: parseCondition('len(result) > 0 && result[0] <= 200'), failureCondition: parseCondition('len(result) > 0 && result[0] > 200'), ...over });

describe('condition language', () => {
  it.each([
    ['result[0] <= 200', [150], true],
    ['result[0] <= 200', [412], false],
    ['result <= 200', 150, true],
    ['isNaN(result[0]) || result[0] > 0.01', [Number.NaN], true],
    ['!isNaN(result[0]) && result[0] <= 0.01', [0.02], false],
    ['max(result) < 250 and min(result) > 0', [10, 240, 3], true],
    ['mean(result) * 1000 < 200', [0.1, 0.2, 0.3], false],
    ['all(result, # < 1000) && result[-1] == 3', [10, 240, 3], true],
    ['len(result) == 0', [], true],
    ['not (result[1] >= 2)', [5, 1], true],
    ['result[0] > -1e-3', [0], true],
  ] as const)('%s on %j is %s', (text, value, expected) => {
    expect(evaluateCondition(parseCondition(text), value as Value)).toBe(expected);
  });

  it('errors where expr errors instead of answering, and refuses what no result can satisfy', () => {
    expect(() => evaluateCondition(parseCondition('result[0] < 1'), [])).toThrow(new ConditionError('index out of range: 0 (array length is 0)'));
    expect(() => evaluateCondition(parseCondition('result >= 0.95'), [0.97])).toThrow(/mismatched types \[\]float64 and float64/);
    expect(() => evaluateCondition(parseCondition('len(result) > 0'), 0.97)).toThrow(/invalid argument for len \(type float64\)/);
    expect(() => parseCondition('result[0] <')).toThrow(/cannot read the condition/);
    expect(() => parseCondition('resultt[0] < 1')).toThrow(/unknown name resultt/);
    expect(() => parseCondition('result[0] + 1')).toThrow(/expected bool, but got float64/);
    expect(() => parseCondition('trim(result) == ""')).toThrow(/trim\(\) is valid expr but not supported by mlloop/);
  });
});

describe('judging measurements (Argo semantics, failing closed)', () => {
  it('names the metric, value and bound when a success condition breaks', () => {
    expect(judge(metric(), [412.3])).toEqual({ phase: 'Failed', message: 'latency_ms.p95=412 > 200' });
    expect(judge(metric(), [150])).toEqual({ phase: 'Successful' });
    expect(judge(metric({ name: 'error_rate', successCondition: parseCondition('result[0] <= 0.01') }), [0.0234])).toEqual({ phase: 'Failed', message: 'error_rate=0.0234 > 0.01' });
  });

  it('judges an empty result and NaN by the conditions, as Argo does: no special case', () => {
    expect(judge(metric(), [])).toEqual({ phase: 'Error', message: 'latency_ms.p95: could not evaluate successCondition "result[0] <= 200": metric result is nil or empty: no data returned from the metric provider' });
    expect(judge(metric(), [Number.NaN])).toEqual({ phase: 'Failed', message: 'latency_ms.p95=NaN > 200' });
    expect(judge(guarded(), [])).toEqual({ phase: 'Inconclusive', message: 'latency_ms.p95 has no data (the query returned an empty result)' });
    expect(judge(guarded(), [Number.NaN])).toEqual({ phase: 'Inconclusive', message: 'latency_ms.p95=NaN (no data to judge: no traffic, or a 0/0 ratio)' });
    expect(judge(metric({ successCondition: parseCondition('all(result, # < 1000)') }), [5, 1200, 7])).toEqual({ phase: 'Failed', message: 'latency_ms.p95[1]=1200 >= 1000' });
    expect(judge(metric({ successCondition: parseCondition('result >= 0.95') }), 0.5)).toEqual({ phase: 'Failed', message: 'latency_ms.p95=0.5 < 0.95' });
    const explicit = metric({ successCondition: parseCondition('!isNaN(result[0]) && result[0] <= 200'), failureCondition: parseCondition('isNaN(result[0]) || result[0] > 200') });
    expect(judge(explicit, [Number.NaN])).toEqual({ phase: 'Failed', message: 'latency_ms.p95=NaN (no data)' });
    expect(judge(explicit, [412])).toEqual({ phase: 'Failed', message: 'latency_ms.p95=412 > 200' });
    expect(judge(metric({ successCondition: parseCondition('!isNaN(result[0]) && !(result[0] > 200)') }), [300])).toEqual({ phase: 'Failed', message: 'latency_ms.p95=300 > 200' });
    expect(judge(metric({ successCondition: parseCondition('max(result) <= 200') }), [120, 250.4, 90])).toEqual({ phase: 'Failed', message: 'max(latency_ms.p95)=250 > 200' });
    expect(judge(metric({ successCondition: parseCondition('result[0] * 2 < 5') }), [3])).toEqual({ phase: 'Failed', message: 'latency_ms.p95=3 (successCondition "result[0] * 2 < 5" is false)' });
    expect(judge(explicit, [199]).phase).toBe('Successful');
  });

  it('applies Argo’s rule for both conditions: neither holds → inconclusive', () => {
    const both = metric({ successCondition: parseCondition('result[0] < 100'), failureCondition: parseCondition('result[0] > 300') });
    expect(judge(both, [200]).phase).toBe('Inconclusive');
    expect(judge(both, [50]).phase).toBe('Successful');
    expect(judge(both, [400])).toEqual({ phase: 'Failed', message: 'latency_ms.p95=400 > 300' });
  });
});

describe('running an analysis', () => {
  it('passes when every measurement passes', async () => {
    const v = await run([metric()], source([[120], [130], [140]]));
    expect(v.phase).toBe('Successful');
    expect(v.pass).toBe(true);
    expect(v.metrics[0]!.successful).toBe(3);
  });

  it('fails at failureLimit + 1 failures and stops early', async () => {
    const v = await run([metric({ count: 10, failureLimit: 1 })], source([[100], [300], [150], [500], [100]]));
    expect(v.phase).toBe('Failed');
    expect(v.metrics[0]!.measurements).toHaveLength(4);
    expect(v.message).toBe('canary analysis failed: latency_ms.p95=500 > 200');
  });

  it('tolerates failures up to failureLimit', async () => {
    const v = await run([metric({ count: 4, failureLimit: 1 })], source([[100], [300], [150], [100]]));
    expect(v.phase).toBe('Successful');
  });

  it('no traffic (NaN throughout) is inconclusive with guarded conditions and does not pass', async () => {
    const v = await run([guarded()], source([[Number.NaN]]));
    expect(v.phase).toBe('Inconclusive');
    expect(v.pass).toBe(false);
    expect(v.message).toMatch(/^canary analysis inconclusive \(failing closed\): latency_ms\.p95=NaN/);
  });

  it('tolerates inconclusive measurements up to inconclusiveLimit: count reached without passing a limit is Successful (Argo)', async () => {
    expect((await run([guarded({ count: 3, inconclusiveLimit: 1 })], source([[], [100], [110]]))).phase).toBe('Successful');
    expect((await run([guarded({ count: 3, inconclusiveLimit: 1 })], source([[], [100], []]))).phase).toBe('Inconclusive');
    expect((await run([guarded({ count: 1, inconclusiveLimit: 5 })], source([[]]))).phase).toBe('Successful');
  });

  it('succeeds after consecutiveSuccessLimit successes in a row, and without them at count is Inconclusive, or Failed when failureLimit is -1 (Argo)', async () => {
    const streak = await run([metric({ count: 5, failureLimit: 3, consecutiveSuccessLimit: 2 })], source([[300], [100], [100], [300]]));
    expect(streak.phase).toBe('Successful');
    expect(streak.metrics[0]!.measurements).toHaveLength(3);
    expect((await run([metric({ count: 3, failureLimit: 1, consecutiveSuccessLimit: 3 })], source([[100], [300], [100]]))).phase).toBe('Inconclusive');
    expect((await run([metric({ count: 3, failureLimit: -1, consecutiveSuccessLimit: 3 })], source([[300], [300], [100]]))).phase).toBe('Failed');
    expect((await run([metric({ count: 3, failureLimit: -1, consecutiveSuccessLimit: 2 })], source([[300], [100], [100]]))).phase).toBe('Successful');
  });

  it('does not count errors towards count, and retries them after 10 s', async () => {
    const sleeps: number[] = [];
    const v = await run([metric({ count: 2, intervalMs: 30_000, initialDelayMs: 5 })], source([[], [100], new Error('connection refused'), [120]]), sleeps);
    expect(v.phase).toBe('Successful');
    expect(v.metrics[0]).toMatchObject({ successful: 2, error: 2 });
    expect(v.metrics[0]!.measurements.map((m) => m.phase)).toEqual(['Error', 'Successful', 'Error', 'Successful']);
    expect(sleeps).toEqual([5, ERROR_RETRY_MS, 30_000, ERROR_RETRY_MS]);
  });

  it('errors after more than consecutiveErrorLimit errors in a row', async () => {
    const v = await run([metric({ count: 10, consecutiveErrorLimit: 2 })], source([new Error('connection refused')]));
    expect(v.phase).toBe('Error');
    expect(v.metrics[0]!.error).toBe(3);
  });

  it('one failing metric stops the others and decides the verdict', async () => {
    const a = metric({ name: 'a', count: 50 });
    const b = metric({ name: 'b', count: 50 });
    let calls = 0;
    const src: MeasurementSource = { describe: {}, measure: async (m) => (m.name === 'b' && ++calls >= 3 ? [900] : [10]) };
    const v = await run([a, b], src);
    expect(v.phase).toBe('Failed');
    expect(v.metrics.find((m) => m.name === 'a')!.measurements.length).toBeLessThan(50);
    expect(v.message).toContain('b=900 > 200');
    // Argo terminates the run: a metric stopped before its count without passing a limit is Successful.
    expect(v.metrics.find((m) => m.name === 'a')!.phase).toBe('Successful');
  });

  it('an interrupted analysis does not pass (mlloop fails closed where Argo would call a terminated run Successful)', async () => {
    const stop = new AbortController();
    const src: MeasurementSource = { describe: {}, measure: async () => (stop.abort(), [10]) };
    const v = await runAnalysis({ metrics: [metric({ count: 5 })], source: src, now: () => new Date(0), signal: stop.signal, sleep: async () => {} });
    expect(v.phase).toBe('Inconclusive');
    expect(v.pass).toBe(false);
    expect(v.message).toBe('canary analysis inconclusive (failing closed): latency_ms.p95: interrupted after 1 of 5 measurements');
  });

  it('formats values for messages', () => {
    expect([412.34, 3.14159, 0.012345, 0, Number.NaN].map(formatValue)).toEqual(['412', '3.14', '0.0123', '0', 'NaN']);
  });
});

describe('/metrics text and histogram_quantile', () => {
  const page = `# HELP ocr_requests_total x
# TYPE ocr_requests_total counter
ocr_requests_total{code="200",model_version="v1"} 90
ocr_requests_total{code="500",model_version="v1"} 10
ocr_request_duration_seconds_bucket{model_version="v1",le="0.1"} 50
ocr_request_duration_seconds_bucket{model_version="v1",le="0.2"} 80
ocr_request_duration_seconds_bucket{model_version="v1",le="0.5"} 95
ocr_request_duration_seconds_bucket{model_version="v1",le="+Inf"} 100
ocr_request_duration_seconds_sum{model_version="v1"} 12.5
weird{a="x\\"y",b="line\\nbreak"} NaN 1700000000000
`;
  it('parses samples, escapes, NaN and timestamps', () => {
    const s = parseExposition(page);
    expect(s).toHaveLength(8);
    expect(s[7]!.labels).toEqual({ a: 'x"y', b: 'line\nbreak' });
    expect(Number.isNaN(s[7]!.value)).toBe(true);
    expect(() => parseExposition('ok 1\nbroken{a="x} 1')).toThrow(/line 2/);
  });

  it('interpolates linearly inside the bucket holding the rank, as Prometheus does', () => {
    const b = bucketsOf(parseExposition(page), 'ocr_request_duration_seconds');
    expect(histogramQuantile(0.5, b)).toBeCloseTo(0.1, 12);
    expect(histogramQuantile(0.9, b)).toBeCloseTo(0.2 + 0.3 * (10 / 15), 12);
    expect(histogramQuantile(0.99, b)).toBe(0.5); // rank in +Inf → the highest finite bound
    expect(histogramQuantile(0.25, b)).toBeCloseTo(0.05, 12);
    expect(histogramQuantile(1.5, b)).toBe(Number.POSITIVE_INFINITY);
    expect(histogramQuantile(-1, b)).toBe(Number.NEGATIVE_INFINITY);
    expect(histogramQuantile(0.5, [{ upperBound: 1, count: 3 }])).toBeNaN(); // no +Inf bucket
    expect(histogramQuantile(0.5, b.map((x) => ({ ...x, count: 0 })))).toBeNaN(); // no observations
  });

  it('computes rates and quantiles between two scrapes, counting a counter reset as a fresh start', () => {
    const before = { at: 0, samples: parseExposition(page) };
    const after = {
      at: 10_000,
      samples: parseExposition(page.replace('} 90', '} 180').replace('} 10\n', '} 12\n').replace('le="0.1"} 50', 'le="0.1"} 60').replace('le="0.2"} 80', 'le="0.2"} 90').replace('le="0.5"} 95', 'le="0.5"} 105').replace('le="+Inf"} 100', 'le="+Inf"} 110')),
    };
    expect(increases(before.samples, after.samples, 'ocr_requests_total').map((s) => s.value)).toEqual([90, 2]);
    const m = builtinMetrics({ maxP95Ms: 200, maxErrorRate: 0.01, matchers: { model_version: 'v1' }, requestsMetric: 'ocr_requests_total', latencyMetric: 'ocr_request_duration_seconds', errorCodes: '5..', windowMs: 60_000, intervalMs: 1000, count: 1, initialDelayMs: 0, failureLimit: 0, inconclusiveLimit: 0 });
    expect((computeFromScrapes(m[1]!, before, after) as number[])[0]).toBeCloseTo(2 / 92, 12);
    // 10 new observations, all ≤ 0.1: p95 = 0.095 s
    expect((computeFromScrapes(m[0]!, before, after) as number[])[0]).toBeCloseTo(95, 9);
    const reset = { at: 20_000, samples: parseExposition(page.replace('} 90', '} 5')) };
    expect(increases(after.samples, reset.samples, 'ocr_requests_total').map((s) => s.value)).toEqual([5, 10]);
    expect(computeFromScrapes(m[0]!, before, { at: 1, samples: [] })).toEqual([]);
  });

  it('reads and writes label selectors', () => {
    expect(parseSelector('{model_version="ocr-v3.2", pod="a\\"b"}')).toEqual({ model_version: 'ocr-v3.2', pod: 'a"b' });
    expect(selectorText({ model_version: 'ocr-v3.2' })).toBe('model_version="ocr-v3.2"');
    expect(() => parseSelector('model_version=ocr')).toThrow(/not a label selector/);
  });
});

describe('analysis templates', () => {
  const dir = tempDir('analysis');
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const defaults = { intervalMs: 15_000, count: 4, args: { 'max-p95-ms': '200' } };

  it('reads Argo’s consecutiveSuccessLimit and failureLimit -1', async () => {
    const [m] = await loadTemplate(file('csl.yaml', 'metrics:\n  - {name: a, query: up, count: 4, failureLimit: -1, consecutiveSuccessLimit: "3"}\n'), defaults);
    expect(m).toMatchObject({ count: 4, failureLimit: -1, consecutiveSuccessLimit: 3 });
  });

  it('reads an mlloop/analysis@1 file and fills arguments', async () => {
    const [m] = await loadTemplate(file('a.yaml', 'args: {svc: ocr}\nmetrics:\n  - name: p99\n    query: q{service="{{args.svc}}"}\n    successCondition: result[0] <= {{ args.max-p95-ms }}\n    interval: 30s\n    count: 2\n    failureLimit: "1"\n'), defaults);
    expect(m).toMatchObject({ name: 'p99', query: 'q{service="ocr"}', intervalMs: 30_000, count: 2, failureLimit: 1, initialDelayMs: 30_000 });
    expect(m!.successCondition!.text).toBe('result[0] <= 200');
  });

  it('reads the shipped Argo AnalysisTemplates (both documents) with their own argument defaults', async () => {
    const ms = await loadTemplate(join(ROOT, 'manifests/rollouts/analysis-templates.yaml'), { ...defaults, args: { 'service-name': 'ocr-canary', 'canary-hash': 'abc123' } });
    expect(ms.map((m) => m.name)).toEqual(['latency_ms.p95', 'error_rate']);
    expect(ms[0]!.query).toContain('service="ocr-canary",rollouts_pod_template_hash="abc123"}[2m]');
    expect(ms[0]!.failureCondition!.text).toBe('isNaN(result[0]) || result[0] > 200');
    expect(ms[1]!.successCondition!.text).toBe('!isNaN(result[0]) && result[0] <= 0.01');
    expect(ms[0]).toMatchObject({ intervalMs: 60_000, count: 5, failureLimit: 1, inconclusiveLimit: 1, consecutiveErrorLimit: 3 });
    const missing = await loadTemplate(join(ROOT, 'manifests/rollouts/analysis-templates.yaml'), defaults).catch((e) => e);
    expect(missing.message).toMatch(/document 1\): \$\.spec\.metrics\[0\]\.query: \{\{args\.service-name\}\} has no value/);
  });

  it.each([
    ['missing metrics', 'args: {}\n', /required field "metrics"/],
    ['unknown field', 'metrics:\n  - name: a\n    query: up\n    sucessCondition: result[0] > 0\n', /\$\.metrics\[0\]\.sucessCondition.*\n.*did you mean "successCondition"/],
    ['bad condition', 'metrics:\n  - name: a\n    query: up\n    successCondition: result[0] >< 1\n', /\$\.metrics\[0\]\.successCondition: metric "a": cannot read the condition/],
    ['condition no result satisfies', 'metrics:\n  - name: a\n    query: up\n    failureCondition: avg(result) > 1\n', /\$\.metrics\[0\]\.failureCondition: metric "a": the condition "avg\(result\) > 1" cannot be evaluated on any Prometheus result: unknown name avg/],
    ['argument without a value', 'metrics:\n  - name: a\n    query: up{x="{{args.nope}}"}\n', /\$\.metrics\[0\]\.query: \{\{args\.nope\}\} has no value\n.*--arg nope=VALUE/],
    ['duplicate names', 'metrics:\n  - {name: a, query: up}\n  - {name: a, query: up}\n', /\$\.metrics\[1\]\.name: metric name "a" is used twice/],
    ['bad interval', 'metrics:\n  - {name: a, query: up, interval: soon}\n', /\$\.metrics\[0\]\.interval/],
    ['failures and successes both off', 'metrics:\n  - {name: a, query: up, failureLimit: -1}\n', /\$\.metrics\[0\]\.failureLimit: failureLimit and consecutiveSuccessLimit cannot both be disabled/],
    ['a count too small for its limits', 'metrics:\n  - {name: a, query: up, count: 2, failureLimit: 1, consecutiveSuccessLimit: 2}\n', /\$\.metrics\[0\]\.count: count \(2\) must be >= failureLimit \+ consecutiveSuccessLimit \(1 \+ 2\)/],
  ])('refuses a template with %s, naming the file and JSON path', async (_, text, re) => {
    const p = file(`bad-${Math.random()}.yaml`, text);
    const err = await loadTemplate(p, defaults).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigurationError);
    expect(err.message).toContain(p);
    expect(err.message).toMatch(re);
  });
});

describe('smoke envelope', () => {
  const ok = JSON.stringify({ status: 'ok', result: { fields: [] }, error_code: null, model_version: 'ocr-v3.2' });
  it.each([
    [200, ok, 'ocr-v3.2', undefined],
    [200, ok, 'ocr-v3.3', /model_version is "ocr-v3.2", expected "ocr-v3.3"/],
    [500, JSON.stringify({ status: 'error', result: null, error_code: 'injected_error', model_version: 'x' }), undefined, /HTTP 500, status "error", error_code "injected_error"/],
    [200, JSON.stringify({ status: 'ok', result: {} }), undefined, /lacks error_code, model_version/],
    [200, 'not json', undefined, /not JSON/],
    [200, JSON.stringify({ status: 'ok', result: null, error_code: null, model_version: 'x' }), undefined, /result is empty/],
  ])('HTTP %s %s (expect %s)', (status, body, expect_, problem) => {
    const r = checkEnvelope(status, body, expect_);
    if (problem) expect(r.problem).toMatch(problem);
    else expect(r.problem).toBeUndefined();
  });
});
