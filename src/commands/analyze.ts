import { defineCommand } from './define.js';
import { mdTable, mdText, textTable } from '../core/format/markdown.js';
import { checkSource } from '../core/rollout/check.js';

export const command = defineCommand({
  name: 'analyze',
  summary: 'canary analysis: p95 latency and error rate (or any PromQL checks) from Prometheus or /metrics; exit 1 fails the rollout',
  description:
    'Measures a canary the way an Argo Rollouts AnalysisRun does, from the pipeline: every metric is measured --duration / --interval times ' +
    '(the first one interval after the start), each measurement is judged by its success/failure condition, and a metric fails once more than ' +
    'failureLimit measurements failed. Without --template the checks are p95 latency (ms, from the latency histogram) and the ' +
    'error rate (5xx share of the request counter), scoped to the canary by --selector. --template takes an mlloop/analysis@1 ' +
    'file or an Argo Rollouts AnalysisTemplate (Prometheus provider) with any PromQL. An empty result or NaN (no traffic) is ' +
    'inconclusive and fails closed. --scrape computes the same rates and histogram quantiles from scrapes of a /metrics page ' +
    'when no Prometheus is at hand. --load sends requests to the canary during the analysis so there is traffic to judge. ' +
    'Exit 0 when every metric passed, 1 otherwise; the failure message (e.g. "latency_ms.p95=412 > 200") is meant to become ' +
    'the Reason of `mlloop gitops rollback`.',
  options: {
    prometheus: { type: 'string', help: 'Prometheus base URL (HTTP API), e.g. http://prometheus.monitoring:9090', placeholder: 'URL' },
    scrape: { type: 'string', help: 'a /metrics URL to compute the checks from directly, when no Prometheus is at hand', placeholder: 'URL' },
    template: { type: 'path', help: 'analysis template: mlloop/analysis@1 YAML or an Argo Rollouts AnalysisTemplate (--prometheus only)', placeholder: 'FILE' },
    arg: { type: 'string', multiple: true, help: 'a template argument NAME=VALUE filling {{args.NAME}} (repeatable)', placeholder: 'NAME=VALUE' },
    'max-p95-ms': { type: 'number', default: 200, min: 0, help: 'p95 latency budget in milliseconds (also the template argument max-p95-ms)', placeholder: 'MS' },
    'max-error-rate': { type: 'number', default: 0.01, min: 0, max: 1, help: 'highest error rate that passes, as a fraction (also the argument max-error-rate)', placeholder: 'RATE' },
    selector: { type: 'string', help: 'label matchers that scope the built-in checks to the canary, e.g. model_version="ocr-v3.2"', placeholder: 'MATCHERS' },
    duration: { type: 'duration', default: '1m', help: 'how long the analysis runs: count = duration / interval measurements per metric' },
    interval: { type: 'duration', default: '15s', help: 'time between measurements (the first comes one interval after the start)' },
    'initial-delay': { type: 'duration', help: 'wait before the first measurement, e.g. until a new canary has traffic in the rate window [default: one --interval]' },
    window: { type: 'duration', default: '1m', help: 'rate window of the built-in PromQL checks (at least two scrape intervals)' },
    'failure-limit': { type: 'integer', default: 0, min: 0, help: 'failed measurements a built-in metric tolerates (it fails at one more)' },
    'inconclusive-limit': { type: 'integer', default: 0, min: 0, help: 'inconclusive measurements a built-in metric tolerates' },
    load: { type: 'number', min: 0.1, max: 10000, help: 'send this many requests per second to --target during the analysis', placeholder: 'RPS' },
    target: { type: 'string', help: 'URL the load goes to [default: /predict next to --scrape]', placeholder: 'URL' },
    request: { type: 'path', default: 'test_request.json', help: 'JSON body of each load request' },
    'requests-metric': { type: 'string', default: 'ocr_requests_total', help: 'request counter of the serving contract (label code = HTTP status)', placeholder: 'NAME' },
    'latency-metric': { type: 'string', default: 'ocr_request_duration_seconds', help: 'latency histogram (seconds) of the serving contract', placeholder: 'NAME' },
    'error-codes': { type: 'string', default: '5..', help: 'regex over the code label that counts as an error', placeholder: 'REGEX' },
    'prometheus-token': { type: 'string', secret: true, help: 'bearer token for a Prometheus behind an authenticating proxy', placeholder: 'TOKEN' },
    out: { type: 'path', help: 'write the verdict (mlloop/analysis@1 JSON) to this file', placeholder: 'FILE' },
  },
  outputs: {
    phase: 'Successful, Failed, Inconclusive or Error',
    pass: 'true when every metric passed',
    message: 'one line: the failing metric and value, e.g. "canary analysis failed: latency_ms.p95=412 > 200"',
    'verdict-path': 'the --out file, when given',
  },
  examples: [
    {
      command: 'mlloop analyze --prometheus http://prometheus:9090 --selector \'model_version="ocr-v3.2"\' --duration 5m --interval 30s',
      explain: 'p95 ≤ 200 ms and error rate ≤ 1% for the canary pods of ocr-v3.2, measured 10 times over 5 minutes',
    },
    {
      command: 'mlloop analyze --scrape http://localhost:8080/metrics --load 20 --duration 1m --max-p95-ms 250',
      explain: 'no Prometheus: send 20 requests/s to localhost:8080/predict and judge from two-by-two scrapes of /metrics',
    },
    {
      command: 'mlloop analyze --prometheus http://prometheus:9090 --template manifests/rollouts/analysis-templates.yaml --arg service-name=ocr --arg canary-hash=6d5f8c7b9',
      explain: 'run the same AnalysisTemplate that Argo Rollouts runs in the cluster',
    },
  ],
  async run(o, ctx) {
    checkSource(o);
    const { analyze } = await import('../core/rollout/analyze.js');
    const { formatValue, CONDITION_ERROR } = await import('../core/rollout/analysis.js');
    ctx.secret(o.prometheusToken);
    const { verdict } = await analyze({
      prometheus: o.prometheus,
      prometheusToken: o.prometheusToken,
      scrape: o.scrape,
      template: o.template,
      args: o.arg,
      maxP95Ms: o.maxP95Ms,
      maxErrorRate: o.maxErrorRate,
      selector: o.selector,
      durationMs: o.duration,
      intervalMs: o.interval,
      initialDelayMs: o.initialDelay,
      windowMs: o.window,
      failureLimit: o.failureLimit,
      inconclusiveLimit: o.inconclusiveLimit,
      load: o.load,
      target: o.target,
      request: o.request,
      requestsMetric: o.requestsMetric,
      latencyMetric: o.latencyMetric,
      errorCodes: o.errorCodes,
      out: o.out,
      log: ctx.log,
      now: () => ctx.now(),
      signal: ctx.signal,
    });
    if (verdict.phase === 'Error') {
      const { ExternalError, ConfigurationError } = await import('../core/errors.js');
      // A condition that cannot be evaluated on what its query returns is the template's mistake, as in Argo.
      if (verdict.metrics.some((m) => m.phase === 'Error' && m.message?.includes(CONDITION_ERROR)))
        throw new ConfigurationError(verdict.message, { file: o.template, hint: 'make the condition fit the result: result[0] or all(result, …) for a vector query, result for a scalar one, and len(result) == 0 || … where the query may return nothing' });
      throw new ExternalError(verdict.message, { hint: 'the metrics source kept failing; check that it is reachable' });
    }
    const last = (m: (typeof verdict.metrics)[number]) => {
      const v = m.measurements.at(-1)?.value;
      if (v === undefined) return '—';
      if (v === null) return 'NaN';
      if (typeof v === 'number') return formatValue(v);
      return v.length === 0 ? 'empty' : v.map((x) => (x === null ? 'NaN' : formatValue(x))).join(', ');
    };
    const rows = verdict.metrics.map((m) => [m.name, m.phase, last(m), `${m.successful}/${m.failed}/${m.inconclusive}/${m.error}`]);
    const headers = ['metric', 'phase', 'last value', 'ok/failed/inconclusive/error'];
    const load = verdict.load ? `load: ${verdict.load.sent} requests to ${verdict.load.url} (${Object.entries(verdict.load.codes).map(([c, n]) => `${c}×${n}`).join(', ') || 'no answers'}${verdict.load.network_errors ? `, ${verdict.load.network_errors} network errors` : ''})` : '';
    return {
      exitCode: verdict.pass ? 0 : 1,
      failure: verdict.pass ? undefined : verdict.message,
      data: verdict,
      text: [verdict.message, textTable(headers, rows), load].filter(Boolean).join('\n'),
      summary: [`### mlloop analyze: ${verdict.phase}`, '', mdText(verdict.message, 2000), '', mdTable(headers, rows), '', load].join('\n'),
      outputs: { phase: verdict.phase, pass: verdict.pass, message: verdict.message, 'verdict-path': o.out ?? '' },
    };
  },
});
