import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, startAlertmanager, type Service } from '../support/services.js';
import { startExampleApp, trainedModel } from '../support/example-app.js';
import { startLabelStudioServer, type LabelStudioServer } from '../support/label-studio-server.js';
import { cli, run, runAction } from '../support/run.js';
import { EXAMPLE } from '../support/paths.js';
import { labelsFingerprint } from '../../src/core/ct/alerts.js';
import { labelConfig } from '../../src/core/ct/label-studio.js';
import { tempDir } from '../support/tmp.js';

const dir = tempDir('ct');
const write = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('ct check on alerts from a real Alertmanager', () => {
  let am: Service;
  let hook: Server;
  const payloads: { alerts: { labels: Record<string, string>; fingerprint: string; status: string }[] }[] = [];

  beforeAll(async () => {
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        payloads.push(JSON.parse(body));
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alerts`;
    am = await startAlertmanager({
      config: {
        route: { receiver: 'mlloop', group_by: ['alertname'], group_wait: '1s', group_interval: '1s', repeat_interval: '1h' },
        receivers: [{ name: 'mlloop', webhook_configs: [{ url: hookUrl, send_resolved: true }] }],
      },
    });
    const now = new Date().toISOString();
    const res = await fetch(`${am.url}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        { labels: { alertname: 'ModelAccuracyDrop', model: 'ocr', severity: 'page', team: '识别组' }, annotations: { summary: 'accuracy of ocr dropped below 0.83' }, startsAt: now },
        { labels: { alertname: 'HighLatency', model: 'ocr', severity: 'ticket' }, annotations: {}, startsAt: now },
        { labels: { alertname: 'ModelAccuracyDrop', model: 'asr', severity: 'page' }, annotations: {}, startsAt: now },
      ]),
    });
    expect(res.status).toBe(200);
    await eventually(() => (payloads.some((p) => p.alerts.some((a) => a.labels.alertname === 'ModelAccuracyDrop')) ? true : undefined), 30_000, 'the webhook notification');
  });
  afterAll(async () => {
    await am?.stop();
    await new Promise((r) => hook?.close(r));
  });

  it('computes the same fingerprints as Alertmanager', async () => {
    const active = (await (await fetch(`${am.url}/api/v2/alerts`)).json()) as { labels: Record<string, string>; fingerprint: string }[];
    expect(active).toHaveLength(3);
    for (const a of active) expect(labelsFingerprint(a.labels)).toBe(a.fingerprint);
  });

  it('decides to retrain from the webhook payloads, once per alert, and the action outputs say so', async () => {
    const policy = write('policy-alerts.yaml', 'model: ocr\ntriggers:\n  alerts: {names: [ModelAccuracyDrop, LowConfidenceSpike]}\nmode: incremental\n');
    // The same notification twice, as a receiver that logs every delivery would have it.
    const file = write('payloads.jsonl', [...payloads, ...payloads].map((p) => JSON.stringify(p)).join('\n') + '\n');
    const state = join(dir, 'state-alerts.json');
    const first = await cli(['ct', 'check', '--policy', policy, '--alerts', file, '--state', state, '--out', join(dir, 'd1.json'), '--json']);
    expect(first.code, first.stderr).toBe(0);
    const d = JSON.parse(first.stdout);
    expect(d).toMatchObject({ retrain: true, mode: 'incremental' });
    expect(d.reasons).toHaveLength(1);
    const ev = d.reasons[0].evidence;
    expect(ev.firing.map((f: { name: string; labels: { model: string } }) => [f.name, f.labels.model])).toEqual([['ModelAccuracyDrop', 'ocr']]);
    expect(ev.duplicates).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(readFileSync(join(dir, 'd1.json'), 'utf8')).retrain).toBe(true);

    const again = await runAction('ct-check', { policy, alerts: file, state, out: join(dir, 'd2.json') }, { cwd: dir });
    expect(again.code, again.stdout).toBe(0);
    expect(again.outputs.retrain).toBe('false');
    expect(again.outputs.mode).toBe('incremental');
    expect(JSON.parse(again.outputs.result!).checked[0].evidence.already_handled).toHaveLength(1);
    expect(again.summary).toContain('no retrain');
  });

  it('reads the alerts firing now from a live Alertmanager (API v2), with a cooldown kept in the state file', async () => {
    const policy = write('policy-live.yaml', 'model: ocr\ntriggers:\n  alerts: {names: [ModelAccuracyDrop, LowConfidenceSpike]}\nmode: full\ncooldown: 24h\n');
    const state = join(dir, 'state-live.json');
    const a = await runAction('ct-check', { policy, alertmanager: am.url, state, out: join(dir, 'd3.json') }, { cwd: dir });
    expect(a.code, a.stdout).toBe(0);
    expect(a.outputs).toMatchObject({ retrain: 'true', mode: 'full', triggers: 'alerts' });
    expect(existsSync(state)).toBe(true);
    // A new alert fires within the cooldown: it holds, but the retrain is held back.
    const posted = await fetch(`${am.url}/api/v2/alerts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ labels: { alertname: 'LowConfidenceSpike', model: 'ocr' }, startsAt: new Date().toISOString() }]) });
    expect(posted.status).toBe(200);
    const b = await cli(['ct', 'check', '--policy', policy, '--alertmanager', am.url, '--state', state, '--out', join(dir, 'd4.json')]);
    expect(b.code).toBe(0);
    expect(b.stdout).toMatch(/retrain: no — alerts held, but cooldown until/);
  });

  it('an unreachable Alertmanager is an outside failure (exit 3), not a silent "no"', async () => {
    const policy = write('policy-x.yaml', 'triggers:\n  alerts: {names: [ModelAccuracyDrop]}\n');
    const r = await cli(['ct', 'check', '--policy', policy, '--alertmanager', 'http://127.0.0.1:9', '--out', join(dir, 'dx.json')]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/cannot read alerts from Alertmanager/);
  });
});

describe('ct check and ct relabel on the inference log of the example app.py', () => {
  let ls: LabelStudioServer;
  const log = join(dir, 'inference.jsonl');
  let low = 0;

  beforeAll(async () => {
    // A weakly trained model serves the test documents and logs every inference, as in production.
    const model = await trainedModel(1);
    const app = await startExampleApp({ model, inferenceLog: log, modelVersion: 'ocr-v3.2.1' });
    try {
      const docs = readFileSync(join(EXAMPLE, 'sample_data/test/docs.jsonl'), 'utf8').trim().split('\n').slice(0, 120);
      for (const d of docs) {
        const r = await fetch(`${app.url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: d });
        expect(r.status).toBe(200);
      }
    } finally {
      await app.stop();
    }
    // Independent count of distinct files below 0.6, in Python.
    const py = await run('python3', ['-c', 'import json,sys\nlatest={}\nfor l in open(sys.argv[1]):\n  r=json.loads(l); latest[r["file_id"]]=r\nprint(sum(1 for r in latest.values() if r["confidence_score"] is None or r["confidence_score"]<0.6))', log]);
    low = Number(py.stdout.trim());
    ls = await startLabelStudioServer({ projects: [{ id: 3, label_config: labelConfig(['amount', 'effective_date', 'id_number', 'name']) }] });
  });
  afterAll(() => ls?.close());

  it('the log has the seed\'s model_inference_log fields', () => {
    const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(120);
    expect(Object.keys(lines[0]).sort()).toEqual(['confidence_score', 'error', 'fields', 'file_id', 'model_version', 'status', 'timestamp']);
    expect(low).toBeGreaterThan(0);
  });

  it.each([
    ['exactly min_samples low-confidence files: retrain', 0, true],
    ['one fewer than min_samples: no retrain', 1, false],
  ])('%s', async (_n, extra, retrain) => {
    const policy = write(`policy-low-${extra}.yaml`, `triggers:\n  low_confidence: {threshold: 0.6, min_samples: ${low + extra}}\n`);
    const r = await cli(['ct', 'check', '--policy', policy, '--inference-log', log, '--state', join(dir, `s-low-${extra}.json`), '--out', join(dir, `d-low-${extra}.json`), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout);
    expect(d.retrain).toBe(retrain);
    expect(d.checked[0].evidence).toMatchObject({ low, total: 120, model_version: 'ocr-v3.2.1' });
  });

  it('relabel selects at least every low-confidence file and posts Label Studio tasks the import API accepts', async () => {
    const out = join(dir, 'tasks.json');
    const r = await cli(
      ['ct', 'relabel', '--inference-log', log, '--docs', join(EXAMPLE, 'sample_data/test/docs.jsonl'), '--out', out, '--image-url', 's3://scans/{file_id}.png', '--label-studio', ls.url, '--project', '3', '--batch-size', '25', '--json'],
      { env: { LABEL_STUDIO_API_KEY: ls.token } },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toContain(ls.token);
    const res = JSON.parse(r.stdout);
    const tasks = JSON.parse(readFileSync(out, 'utf8'));
    expect(tasks.length).toBe(res.selected.length);
    expect(res.selected.filter((s: { reasons: { code: string }[] }) => s.reasons.some((x) => x.code === 'low_confidence'))).toHaveLength(low);
    expect(res.posted.task_count).toBe(tasks.length);
    expect(ls.projects.get(3)!.tasks.map((t) => t.data.file_id)).toEqual(tasks.map((t: { data: { file_id: string } }) => t.data.file_id));
    const u = res.selected.map((s: { uncertainty: number }) => s.uncertainty);
    expect(u).toEqual([...u].sort((a, b) => b - a));
    expect(tasks[0].data.image).toMatch(/^s3:\/\/scans\/policy-test-\d+\.png$/);
  });

  it('as an action: inputs, outputs, job summary, the token masked', async () => {
    const before = ls.projects.get(3)!.tasks.length;
    const a = await runAction(
      'ct-relabel',
      { 'inference-log': log, docs: join(EXAMPLE, 'sample_data/test/docs.jsonl'), limit: '10', 'key-fields': 'name\nid_number,amount', format: 'effective_date=date', out: join(dir, 'action-tasks.json'), 'label-studio': ls.url, project: '3', token: ls.token },
      { cwd: dir },
    );
    expect(a.code, a.stdout).toBe(0);
    expect(a.outputs).toMatchObject({ selected: '10', posted: '10', 'tasks-path': join(dir, 'action-tasks.json') });
    expect(a.masked).toContain(ls.token);
    expect(a.summary).toMatch(/mlloop ct relabel: 10 file\(s\) selected/);
    expect(ls.projects.get(3)!.tasks.length).toBe(before + 10);
    const bad = await runAction('ct-relabel', { 'inference-log': log, format: 'amount=money', out: join(dir, 'x.json') }, { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stdout).toMatch(/::error::.*--format "amount=money" must be LABEL=date\|cn-id\|amount\|none/);
  });
});
