import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startPrometheus, eventually, type PrometheusService } from '../support/services.js';
import { startExampleApp, trainedModel, type ExampleApp } from '../support/example-app.js';
import { cli, runAction } from '../support/run.js';
import { EXAMPLE, ROOT } from '../support/paths.js';
import { parseAllDocuments } from 'yaml';
import { parseExposition, bucketsOf, histogramQuantile, bucketBounds, type Sample } from '../../src/core/rollout/exposition.js';
import { tempDir } from '../support/tmp.js';

// Real Prometheus (Debian package) scraping the real example service; `mlloop analyze` runs from dist/.
const REQUEST = join(EXAMPLE, 'test_request.json');
const BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2.5, 5];
const FAST = ['--duration', '6s', '--interval', '2s', '--window', '5s'];

let prom: PrometheusService;
let healthy: ExampleApp;
let slow: ExampleApp;
let failing: ExampleApp;
let idle: ExampleApp;
let histograms: Server;
let histogramPage = '';
const tmp = tempDir('analyze');

/** Random classic histograms, some with non-monotonic counts or no observations, for the quantile cross-check. */
function randomHistograms(n: number, seed: number): string {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const lines: string[] = ['# TYPE rnd histogram'];
  for (let h = 0; h < n; h++) {
    const k = 1 + Math.floor(rnd() * 8);
    let bound = h % 7 === 0 ? -1 : 0;
    let count = 0;
    for (let i = 0; i < k; i++) {
      bound += 0.001 + rnd() * 2;
      count += h % 5 === 0 ? 0 : Math.floor(rnd() * 50) - (h % 11 === 0 ? 20 : 0);
      lines.push(`rnd_bucket{h="${h}",le="${bound}"} ${Math.max(0, count)}`);
    }
    lines.push(`rnd_bucket{h="${h}",le="+Inf"} ${Math.max(0, count + (h % 3 === 0 ? Math.floor(rnd() * 30) : 0))}`);
  }
  return `${lines.join('\n')}\n`;
}

beforeAll(async () => {
  const model = await trainedModel();
  [healthy, slow, failing, idle] = await Promise.all([
    startExampleApp({ model, modelVersion: 'ocr-v3.2' }),
    startExampleApp({ model, modelVersion: 'ocr-v3.3', injectLatencyMs: 600 }),
    startExampleApp({ model, modelVersion: 'ocr-v3.4', injectErrorRate: 0.3, seed: 7 }),
    startExampleApp({ model, modelVersion: 'ocr-v3.5' }),
  ]);
  histogramPage = randomHistograms(60, 42);
  histograms = createServer((_, res) => res.end(histogramPage));
  await new Promise<void>((r) => histograms.listen(0, '127.0.0.1', r));
  const target = (app: { url: string }) => new URL(app.url).host;
  const job = (name: string, host: string, labels: Record<string, string> = {}) => ({ job_name: name, static_configs: [{ targets: [host], labels }] });
  // The shipped SLA rules, with `for:` shortened, evaluated on the same data.
  const rule = parseAllDocuments(readFileSync(join(ROOT, 'manifests/monitoring/prometheus-rule.yaml'), 'utf8'))[0]!.toJS() as { spec: { groups: { rules: { for?: string }[] }[] } };
  for (const g of rule.spec.groups) for (const r of g.rules) if (r.for) r.for = '1s';
  prom = await startPrometheus({
    rules: { 'sla.rules.yml': JSON.stringify({ groups: rule.spec.groups }) },
    scrapeConfigs: [
      // The labels Kubernetes service discovery would give the canary's pods.
      job('healthy', target(healthy), { service: 'ocr-canary', rollouts_pod_template_hash: 'h4ea1thy' }),
      job('slow', target(slow), { service: 'ocr-canary', rollouts_pod_template_hash: 's10w' }),
      job('failing', target(failing)),
      job('idle', target(idle)),
      job('histograms', `127.0.0.1:${(histograms.address() as { port: number }).port}`),
    ],
  });
  await prom.waitForTargets(2);
}, 120_000);

afterAll(async () => {
  await Promise.all([prom?.stop(), healthy?.stop(), slow?.stop(), failing?.stop(), idle?.stop()]);
  histograms?.close();
});

const analyze = (args: string[]) => cli(['analyze', '--prometheus', prom.url, ...FAST, '--request', REQUEST, ...args, '--json'], { timeoutMs: 60_000 });

describe('mlloop analyze against a real Prometheus', () => {
  it('passes a healthy canary under load', async () => {
    // 500 ms: a busy two-core test machine must not fail the healthy canary; the slow one has 600 ms injected.
    // The first measurement waits until Prometheus has scraped the new traffic a few times.
    const r = await analyze(['--selector', 'model_version="ocr-v3.2"', '--load', '20', '--target', `${healthy.url}/predict`, '--max-p95-ms', '500', '--initial-delay', '3s']);
    expect(r.code, r.stderr).toBe(0);
    const v = JSON.parse(r.stdout);
    expect(v).toMatchObject({ schema: 'mlloop/analysis@1', phase: 'Successful', pass: true });
    expect(v.metrics.map((m: { name: string; successful: number }) => [m.name, m.successful])).toEqual([['latency_ms.p95', 3], ['error_rate', 3]]);
    expect(v.metrics[1].measurements.at(-1).value).toEqual([0]);
    expect(v.load.codes['200']).toBeGreaterThan(60);
    expect(v.message).toMatch(/^canary analysis passed: latency_ms\.p95=[\d.]+, error_rate=0$/);
  });

  it('fails a canary with injected latency, naming the metric and its value', async () => {
    const r = await analyze(['--selector', 'model_version="ocr-v3.3"', '--load', '10', '--target', `${slow.url}/predict`]);
    expect(r.code).toBe(1);
    const m = /canary analysis failed: latency_ms\.p95=(\d+) > 200/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    // 600 ms injected: every request lands in the (0.5, 1] s bucket, so the p95 interpolates inside it.
    expect(Number(m![1])).toBeGreaterThan(500);
    expect(Number(m![1])).toBeLessThanOrEqual(1000);
    expect(JSON.parse(r.stdout).phase).toBe('Failed');
  });

  it('fails a canary that answers errors, naming the error rate', async () => {
    const r = await analyze(['--selector', 'model_version="ocr-v3.4"', '--load', '20', '--target', `${failing.url}/predict`]);
    expect(r.code).toBe(1);
    const m = /error_rate=([\d.]+) > 0\.01/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(0.1);
    expect(Number(m![1])).toBeLessThan(0.6);
  });

  it('is inconclusive without traffic and fails closed', async () => {
    const out = join(tmp, 'verdicts', 'idle.json');
    const r = await analyze(['--selector', 'model_version="ocr-v3.5"', '--out', out]);
    expect(r.code).toBe(1);
    const v = JSON.parse(r.stdout);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(v);
    expect(v.phase).toBe('Inconclusive');
    expect(v.pass).toBe(false);
    expect(r.stderr).toMatch(/canary analysis inconclusive \(failing closed\): latency_ms\.p95=NaN/);
  });

  it('is inconclusive for a selector that matches nothing (an empty result)', async () => {
    const r = await analyze(['--selector', 'model_version="no-such-version"', '--duration', '2s']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/has no data \(the query returned an empty result\)/);
  });

  it('runs the shipped AnalysisTemplates (canary pods by rollouts_pod_template_hash) and fails the slow canary', async () => {
    // The same templates with test timings: 2 s apart, a 5 s rate window.
    const text = readFileSync(join(ROOT, 'manifests/rollouts/analysis-templates.yaml'), 'utf8').replace(/interval: 1m/g, 'interval: 2s').replace(/count: 5/g, 'count: 3');
    const file = join(tmp, 'templates.yaml');
    writeFileSync(file, text);
    const args = ['--template', file, '--arg', 'service-name=ocr-canary', '--arg', 'window=5s'];
    const bad = await analyze([...args, '--arg', 'canary-hash=s10w', '--load', '10', '--target', `${slow.url}/predict`]);
    expect(bad.code, bad.stderr).toBe(1);
    expect(bad.stderr).toMatch(/latency_ms\.p95=\d+ > 200/);
    const good = await analyze([...args, '--arg', 'canary-hash=h4ea1thy', '--arg', 'max-p95-ms=500', '--initial-delay', '3s', '--load', '20', '--target', `${healthy.url}/predict`]);
    expect(good.code, good.stderr).toBe(0);
    // No pods with that hash: the explicit NaN handling fails the measurement (failureLimit 1 → fails at the 2nd).
    const none = await analyze([...args, '--arg', 'canary-hash=nothing']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/canary analysis failed: latency_ms\.p95=NaN \(no data\)/);
  });

  it('judges range queries over every point, NaN points included, as Argo does', async () => {
    const file = join(tmp, 'range.yaml');
    writeFileSync(file, [
      'metrics:',
      '  - name: latency_ms.p95_over_time',
      '    query: histogram_quantile(0.95, sum by (le) (rate(ocr_request_duration_seconds_bucket{model_version="{{args.version}}"}[3s]))) * 1000',
      '    range: {duration: 6s, step: 1s}',
      // Points from before the load are NaN (0/0): the condition says what they mean, as in Argo.
      '    successCondition: "all(result, isNaN(#) || # <= {{args.max-p95-ms}})"',
      '    interval: 4s',
      '    count: 1',
      '',
    ].join('\n'));
    const r = await analyze(['--template', file, '--arg', 'version=ocr-v3.3', '--load', '10', '--target', `${slow.url}/predict`]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/canary analysis failed: latency_ms\.p95_over_time\[\d+\]=\d+ > 200/);
    const v = JSON.parse(r.stdout);
    expect(v.metrics[0].measurements[0].value.length).toBeGreaterThan(1);
  });

  it('refuses a query Prometheus rejects before measuring (exit 2), a condition that does not fit its query (exit 2), and an unreachable Prometheus (exit 3)', async () => {
    const file = join(tmp, 'bad.yaml');
    writeFileSync(file, 'metrics:\n  - name: broken\n    query: sum(rate(x[5m])\n    successCondition: result[0] < 1\n');
    const r = await analyze(['--template', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/metric "broken": Prometheus rejected the query/);
    // A condition Argo cannot evaluate on what the query returns (a vector compared as a number) is an Error
    // naming the metric and condition, never a verdict; it is the template's mistake: exit 2.
    const shape = join(tmp, 'shape.yaml');
    writeFileSync(shape, 'metrics:\n  - name: up_share\n    query: vector(1)\n    successCondition: result >= 0.5\n    interval: 1s\n    count: 1\n    consecutiveErrorLimit: 0\n');
    const wrong = await analyze(['--template', shape]);
    expect(wrong.code, wrong.stderr).toBe(2);
    expect(wrong.stderr).toContain('up_share: could not evaluate successCondition "result >= 0.5": invalid operation: >= (mismatched types []float64 and float64)');
    const down = await cli(['analyze', '--prometheus', 'http://127.0.0.1:9', '--duration', '1s', '--interval', '1s'], { timeoutMs: 60_000 });
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(/did not answer after 4 attempts/);
  });
});

describe('the shipped monitoring on real data', () => {
  it('fires the SLA alerts for the versions that break them, and only for those', async () => {
    const firing = await eventually(async () => {
      const r = (await prom.query('ALERTS{alertstate="firing"}')) as { result: { metric: Record<string, string> }[] };
      const set = new Set(r.result.map((x) => `${x.metric.alertname}/${x.metric.model_version}`));
      return ['ModelLatencyP95OverBudget/ocr-v3.3', 'ModelHighErrorRate/ocr-v3.4', 'ModelNoTraffic/ocr-v3.5'].every((a) => set.has(a)) ? set : undefined;
    }, 30_000, 'the SLA alerts');
    for (const ok of ['ModelLatencyP95OverBudget/ocr-v3.2', 'ModelHighErrorRate/ocr-v3.2', 'ModelHighErrorRate/ocr-v3.3', 'ModelNoTraffic/ocr-v3.2']) expect(firing.has(ok), ok).toBe(false);
  });

  it('every dashboard query runs on Prometheus and the QPS panel sees each version that had traffic', async () => {
    const d = JSON.parse(readFileSync(join(ROOT, 'manifests/monitoring/grafana-dashboard.json'), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
    for (const p of d.panels) {
      for (const t of p.targets) {
        const r = (await prom.query(t.expr.replace(/\$model_version/g, '.*').replace(/\$__rate_interval/g, '5m'))) as { resultType: string; result: { metric: Record<string, string> }[] };
        expect(r.resultType, p.title).toBe('vector');
        if (p.title.startsWith('Requests per second')) expect(r.result.map((x) => x.metric.model_version).sort()).toEqual(['ocr-v3.2', 'ocr-v3.3', 'ocr-v3.4', 'ocr-v3.5']);
      }
    }
  });
});

describe('--scrape computes what Prometheus computes', () => {
  it('gives histogram_quantile and the error ratio exactly as Prometheus does on the same counts', async () => {
    // Traffic has stopped; wait until Prometheus has scraped the latest counts.
    const page = await (await fetch(`${failing.url}/metrics`)).text();
    const samples = parseExposition(page);
    const total = samples.filter((s) => s.name === 'ocr_requests_total').reduce((a, s) => a + s.value, 0);
    // The analysis stopped at its first failed measurement, and the load with it.
    expect(total).toBeGreaterThan(20);
    await eventually(async () => {
      const r = (await prom.query('sum(ocr_requests_total{model_version="ocr-v3.4"})')) as { result: { value: [number, string] }[] };
      return Number(r.result[0]?.value[1]) === total ? true : undefined;
    }, 20_000, 'Prometheus to scrape the final counts');
    for (const q of [0.5, 0.9, 0.95, 0.99]) {
      const r = (await prom.query(`histogram_quantile(${q}, sum by (le) (ocr_request_duration_seconds_bucket{model_version="ocr-v3.4"}))`)) as { result: { value: [number, string] }[] };
      expect(histogramQuantile(q, bucketsOf(samples, 'ocr_request_duration_seconds'))).toBeCloseTo(Number(r.result[0]!.value[1]), 12);
    }
    const errors = samples.filter((s: Sample) => s.name === 'ocr_requests_total' && /^5/.test(s.labels.code!)).reduce((a, s) => a + s.value, 0);
    const ratio = (await prom.query('sum(ocr_requests_total{model_version="ocr-v3.4",code=~"5.."}) / sum(ocr_requests_total{model_version="ocr-v3.4"})')) as { result: { value: [number, string] }[] };
    expect(errors / total).toBeCloseTo(Number(ratio.result[0]!.value[1]), 12);
  });

  it('agrees with Prometheus’ histogram_quantile on 60 random histograms (merged, non-monotonic and empty ones included)', async () => {
    const samples = parseExposition(histogramPage);
    for (const q of [0, 0.1, 0.5, 0.9, 0.99, 1]) {
      const r = (await prom.query(`histogram_quantile(${q}, rnd_bucket)`)) as { result: { metric: { h: string }; value: [number, string] }[] };
      expect(r.result).toHaveLength(60);
      for (const s of r.result) {
        const mine = histogramQuantile(q, bucketsOf(samples, 'rnd', { h: s.metric.h }));
        const theirs = Number(s.value[1] === 'NaN' ? Number.NaN : s.value[1]);
        if (Number.isNaN(theirs)) expect(mine, `h=${s.metric.h} q=${q}`).toBeNaN();
        else expect(mine, `h=${s.metric.h} q=${q}`).toBeCloseTo(theirs, 9);
      }
    }
  });

  it('fails the slow canary from /metrics alone, with a p95 in the same bucket Prometheus reports', async () => {
    const r = await cli(['analyze', '--scrape', `${slow.url}/metrics`, '--load', '10', '--request', REQUEST, '--duration', '4s', '--interval', '2s', '--json'], { timeoutMs: 60_000 });
    expect(r.code).toBe(1);
    const m = /latency_ms\.p95=(\d+) > 200/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    const p = (await prom.query('histogram_quantile(0.95, sum by (le) (rate(ocr_request_duration_seconds_bucket{model_version="ocr-v3.3"}[10s]))) * 1000')) as { result: { value: [number, string] }[] };
    const fromPrometheus = Number(p.result[0]!.value[1]);
    expect(bucketBounds(Number(m![1]) / 1000, BOUNDS)).toEqual(bucketBounds(fromPrometheus / 1000, BOUNDS));
    expect(JSON.parse(r.stdout).source).toEqual({ scrape: `${slow.url}/metrics` });
  });

  it('runs as a GitHub Action: outputs, job summary and the failure message', async () => {
    const r = await runAction('analyze', { scrape: `${slow.url}/metrics`, load: '10', request: REQUEST, duration: '2s', interval: '2s' }, { timeoutMs: 60_000 });
    expect(r.code).toBe(1);
    expect(r.outputs.phase).toBe('Failed');
    expect(r.outputs.pass).toBe('false');
    expect(r.outputs.message).toMatch(/^canary analysis failed: latency_ms\.p95=\d+ > 200$/);
    expect(r.stdout).toContain(`::error::${r.outputs.message}`);
    expect(r.summary).toContain('### mlloop analyze: Failed');
  });

  it('passes the healthy canary from /metrics alone', async () => {
    const r = await cli(['analyze', '--scrape', `${healthy.url}/metrics`, '--load', '20', '--request', REQUEST, '--duration', '4s', '--interval', '2s', '--max-p95-ms', '500', '--json'], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).metrics.every((m: { phase: string }) => m.phase === 'Successful')).toBe(true);
  });
});
