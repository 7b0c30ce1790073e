import { defineCommand } from './define.js';
import { mdTable, mdText, textTable } from '../core/format/markdown.js';

export const command = defineCommand({
  name: 'smoke',
  summary: 'smoke-test a deployed model service: health, readiness, one real prediction, the right model version',
  description:
    'Checks a freshly deployed model service the way a user meets it: GET /healthz (liveness), GET /readyz (readiness), then ' +
    'POST /predict with the model repo\'s test request. The answer must be the serving envelope {status, result, error_code, ' +
    'model_version} with status "ok", error_code null, a result, and — with --expect-model-version — the version just ' +
    'deployed. Every failure is retried until --timeout (pods may still be switching); then the last failure is reported. ' +
    'Reports the latency of the prediction calls. Exit 0 pass, 1 fail, 2 bad input, 3 when the service was unreachable ' +
    'the whole time.',
  options: {
    url: { type: 'string', required: true, help: 'root URL of the service, e.g. http://ocr.staging.svc:8080', placeholder: 'URL' },
    request: { type: 'path', default: 'test_request.json', help: 'JSON body for POST /predict (the model repo\'s test request)' },
    'expect-model-version': { type: 'string', help: 'model_version the service must report (the one just deployed)', placeholder: 'VERSION' },
    timeout: { type: 'duration', default: '2m', help: 'keep retrying until this deadline' },
    retry: { type: 'duration', default: '2s', help: 'wait between attempts' },
    'request-timeout': { type: 'duration', default: '10s', help: 'time limit of each HTTP call' },
    repeat: { type: 'integer', default: 3, min: 1, max: 1000, help: 'successful predictions required in a row (latency is reported over them)' },
    'health-path': { type: 'string', default: '/healthz', help: 'liveness path', placeholder: 'PATH' },
    'ready-path': { type: 'string', default: '/readyz', help: 'readiness path', placeholder: 'PATH' },
    'predict-path': { type: 'string', default: '/predict', help: 'prediction path', placeholder: 'PATH' },
    token: { type: 'string', secret: true, help: 'bearer token sent with every call, for services behind authentication', placeholder: 'TOKEN' },
  },
  outputs: {
    pass: 'true when the service passed',
    'model-version': 'the model_version the service reported',
    'latency-ms': 'median latency of the prediction calls in ms',
    message: 'one line: what passed, or the last failure',
  },
  examples: [
    {
      command: 'mlloop smoke --url http://ocr.staging.svc:8080 --request test_request.json --expect-model-version ocr-v3.2',
      explain: 'after gitops deploy: wait (up to 2 minutes) until ocr-v3.2 serves a valid prediction',
    },
    {
      command: 'mlloop smoke --url http://localhost:8080 --timeout 20s --repeat 10 --json',
      explain: 'ten predictions in a row against a local app.py; the JSON lists every check and its latency',
    },
  ],
  async run(o, ctx) {
    const { smoke } = await import('../core/rollout/smoke.js');
    ctx.secret(o.token);
    const r = await smoke({
      url: o.url,
      request: o.request,
      expectModelVersion: o.expectModelVersion,
      deadlineMs: o.timeout,
      retryMs: o.retry,
      requestTimeoutMs: o.requestTimeout,
      repeat: o.repeat,
      healthPath: o.healthPath,
      readyPath: o.readyPath,
      predictPath: o.predictPath,
      headers: o.token ? { authorization: `Bearer ${o.token}` } : undefined,
      log: ctx.log,
      signal: ctx.signal,
    });
    const rows = r.checks.map((c) => [c.name, c.ok ? 'ok' : 'FAIL', c.status ?? '—', c.latency_ms, c.message ?? '']);
    const headers = ['check', 'result', 'HTTP', 'ms', 'detail'];
    return {
      exitCode: r.pass ? 0 : 1,
      failure: r.pass ? undefined : r.message,
      data: r,
      text: [r.message, textTable(headers, rows)].join('\n'),
      summary: [`### mlloop smoke: ${r.pass ? 'passed' : 'failed'}`, '', mdText(r.message, 2000), '', mdTable(headers, rows, ['l', 'l', 'r', 'r', 'l'])].join('\n'),
      outputs: { pass: r.pass, 'model-version': r.model_version ?? '', 'latency-ms': r.latency_ms?.median ?? '', message: r.message },
    };
  },
});
