import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { startExampleApp, trainedModel, type ExampleApp } from '../support/example-app.js';
import { freePort } from '../support/services.js';
import { cli, runAction } from '../support/run.js';
import { EXAMPLE } from '../support/paths.js';
import { tempDir } from '../support/tmp.js';

// `mlloop smoke` (dist/) against the real example service.
const REQUEST = join(EXAMPLE, 'test_request.json');
let app: ExampleApp;
let broken: ExampleApp;

beforeAll(async () => {
  const model = await trainedModel();
  [app, broken] = await Promise.all([startExampleApp({ model, modelVersion: 'ocr-v3.2' }), startExampleApp({ model, modelVersion: 'ocr-v3.2', injectErrorRate: 1 })]);
}, 120_000);
afterAll(async () => {
  await Promise.all([app?.stop(), broken?.stop()]);
});

describe('mlloop smoke', () => {
  it('passes a ready service that serves the expected version, and reports latency', async () => {
    const r = await cli(['smoke', '--url', app.url, '--request', REQUEST, '--expect-model-version', 'ocr-v3.2', '--repeat', '5', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ schema: 'mlloop/smoke@1', pass: true, attempts: 1, model_version: 'ocr-v3.2' });
    expect(out.checks.map((c: { name: string }) => c.name)).toEqual(['healthz', 'readyz', 'predict', 'predict', 'predict', 'predict', 'predict']);
    expect(out.latency_ms.min).toBeGreaterThan(0);
    expect(out.latency_ms.max).toBeGreaterThanOrEqual(out.latency_ms.median);
  });

  it('fails, after retrying until the deadline, when another version serves', async () => {
    const r = await cli(['smoke', '--url', app.url, '--request', REQUEST, '--expect-model-version', 'ocr-v3.3', '--timeout', '3s', '--retry', '1s', '--json']);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.attempts).toBeGreaterThanOrEqual(3);
    expect(r.stderr).toMatch(/smoke test failed after \d+ attempt\(s\) in \d+s: POST \/predict: model_version is "ocr-v3\.2", expected "ocr-v3\.3"/);
  });

  it('fails a service that answers errors, quoting the envelope', async () => {
    const r = await cli(['smoke', '--url', broken.url, '--request', REQUEST, '--timeout', '1s']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/HTTP 500, status "error", error_code "injected_error"/);
  });

  it('waits for readiness: a service still loading its model passes once it is ready', async () => {
    const slowStart = await startExampleApp({ modelVersion: 'ocr-v3.2', startupDelayMs: 2500 });
    try {
      const r = await cli(['smoke', '--url', slowStart.url, '--request', REQUEST, '--expect-model-version', 'ocr-v3.2', '--retry', '500ms', '--timeout', '30s', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.attempts).toBeGreaterThan(1);
      expect(r.stderr).toMatch(/attempt 1: \/readyz answered HTTP 503; retrying/);
    } finally {
      await slowStart.stop();
    }
  });

  it('exits 3 when the service is unreachable until the deadline, and 2 for a bad request file or URL', async () => {
    const port = await freePort();
    const down = await cli(['smoke', '--url', `http://127.0.0.1:${port}`, '--request', REQUEST, '--timeout', '1s', '--retry', '300ms']);
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(/was unreachable for \ds \(\d+ attempts\)/);
    const dir = tempDir('smoke');
    writeFileSync(join(dir, 'bad.json'), '{"image_id": ');
    const bad = await cli(['smoke', '--url', app.url, '--request', join(dir, 'bad.json')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`${join(dir, 'bad.json')}: not valid JSON`);
    expect((await cli(['smoke', '--url', 'ftp://x', '--request', REQUEST])).code).toBe(2);
    expect((await cli(['smoke', '--url', app.url, '--request', join(dir, 'missing.json')])).code).toBe(2);
  });

  it('runs as a GitHub Action with the same checks, outputs and job summary', async () => {
    const r = await runAction('smoke', { url: app.url, request: REQUEST, 'expect-model-version': 'ocr-v3.2' });
    expect(r.code, r.stdout).toBe(0);
    expect(r.outputs.pass).toBe('true');
    expect(r.outputs['model-version']).toBe('ocr-v3.2');
    expect(Number(r.outputs['latency-ms'])).toBeGreaterThan(0);
    expect(JSON.parse(r.outputs.result!).pass).toBe(true);
    expect(r.summary).toContain('### mlloop smoke: passed');
  });

  it("puts the service's own words in the job summary as text: no HTML, links or mentions from a hostile answer", async () => {
    const hostile = '<img src=x onerror=alert(1)> ping @acme/admins, see [docs](https://evil.example) `rm -rf`\n# Approved';
    const server = createServer((req, res) => {
      res.writeHead(req.url === '/predict' ? 500 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(req.url === '/predict' ? { status: 'error', error_code: 'bad_input', message: hostile, result: null, model_version: 'ocr-v3.2' } : { status: 'ok' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      const r = await runAction('smoke', { url, request: REQUEST, timeout: '1s' });
      expect(r.code).toBe(1);
      expect(r.summary).toContain('### mlloop smoke: failed');
      expect(r.summary).toContain('&lt;img src=x onerror=alert(1)&gt;');
      expect(r.summary).not.toMatch(/<img|https:\/\/evil|@acme|^# Approved/m);
      expect(r.summary).toContain('\\[docs\\](https\\://evil.example)');
      expect(r.summary).toContain('@\u200dacme/admins');
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
