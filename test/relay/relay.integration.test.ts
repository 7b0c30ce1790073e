import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { GitHubServer } from '../support/github-server.js';
import { startAlertmanager, startPrometheus, eventually, type AlertmanagerService, type PrometheusService } from '../support/services.js';
import { startExampleApp, type ExampleApp } from '../support/example-app.js';
import { EXAMPLE, ROOT } from '../support/paths.js';
import { startLoad, type Load } from '../../src/core/rollout/load.js';
import { startRelayProcess, type RelayProcess } from './relay-process.js';
import { tempDir } from '../support/tmp.js';

// The whole alert path with real parts: the example service answers errors, a real Prometheus evaluates
// the shipped SLA rules, a real Alertmanager (configured from the shipped receiver) posts to `mlloop relay`
// (dist/), which forwards to the in-repo GitHub API that checks requests against GitHub's OpenAPI.
const BEARER = 'relay-bearer-0123456789abcdef';
const TOKEN = 'ghs_relaytoken000000000000000';
const dir = tempDir('relay-int');

let gh: GitHubServer;
let relay: RelayProcess;
let app: ExampleApp;
let prom: PrometheusService;
let am: AlertmanagerService;
let load: Load;

beforeAll(async () => {
  gh = await GitHubServer.start({ tokens: { [TOKEN]: { login: 'mlloop-relay[bot]' } } });
  const cfg = parse(readFileSync(join(ROOT, 'manifests/relay/relay.yaml'), 'utf8')) as Record<string, any>;
  cfg.github.api_url = gh.url;
  cfg.limits.retry_backoff = '200ms';
  cfg.spool = { dir: join(dir, 'spool') };
  writeFileSync(join(dir, 'relay.yaml'), JSON.stringify(cfg));
  relay = await startRelayProcess(join(dir, 'relay.yaml'), { RELAY_BEARER_TOKEN: BEARER, RELAY_HMAC_SECRET: 'hmac-secret-0123456789abcdef', GITHUB_TOKEN: TOKEN });

  app = await startExampleApp({ modelVersion: 'ocr-v3.4', injectErrorRate: 0.5, seed: 3 });
  load = startLoad({ url: `${app.url}/predict`, body: readFileSync(join(EXAMPLE, 'test_request.json'), 'utf8'), rps: 10 });

  // The shipped Alertmanager receiver, pointed at this relay, with test timings.
  const amCfg = parse(readFileSync(join(ROOT, 'manifests/monitoring/alertmanager-receiver.yaml'), 'utf8')) as Record<string, any>;
  writeFileSync(join(dir, 'bearer-token'), BEARER);
  const webhook = amCfg.receivers[1].webhook_configs[0];
  webhook.url = `${relay.url}/v1/alertmanager`;
  webhook.http_config.authorization.credentials_file = join(dir, 'bearer-token');
  Object.assign(amCfg.route.routes[0], { group_wait: '1s', group_interval: '1s', repeat_interval: '2s' });
  am = await startAlertmanager({ config: amCfg });

  // The shipped PrometheusRule's groups as a rule file, with `for:` shortened.
  const rule = parseAllDocuments(readFileSync(join(ROOT, 'manifests/monitoring/prometheus-rule.yaml'), 'utf8'))[0]!.toJS() as { spec: { groups: { rules: { for?: string }[] }[] } };
  for (const g of rule.spec.groups) for (const r of g.rules) if (r.for) r.for = '1s';
  prom = await startPrometheus({
    scrapeConfigs: [{ job_name: 'ocr', static_configs: [{ targets: [new URL(app.url).host], labels: { service: 'ocr' } }] }],
    rules: { 'sla.rules.yml': JSON.stringify({ groups: rule.spec.groups }) },
    alertmanagers: [am.url],
  });
}, 120_000);

afterAll(async () => {
  await load?.stop();
  await Promise.all([prom?.stop(), am?.stop(), app?.stop()]);
  if (relay && relay.child.exitCode === null) await relay.stop();
  await gh?.close();
});

/** Each event GitHub received, with its dispatch's event type: the relay merges waiting events for one target (client_payload.events). */
const received = () =>
  gh.state.repositoryDispatches.flatMap((d) => {
    const p = d.client_payload as { schema?: string; events?: unknown[] };
    return (p.schema === 'mlloop/relay-batch@1' ? p.events! : [p]).map((e) => ({ repo: d.repo, event_type: d.event_type, client_payload: e }));
  });

const relayMetric = async (re: RegExp) => Number(re.exec(await (await fetch(`${relay.url}/metrics`)).text())?.[1] ?? 0);

describe('Prometheus → Alertmanager → mlloop relay → GitHub', () => {
  it('turns the firing SLA alert into exactly one repository_dispatch per alert group', async () => {
    await eventually(() => received().find((d) => d.event_type === 'rollout-aborted'), 60_000, 'the rollout-aborted dispatch');
    // Let Alertmanager re-send the same groups a few times (repeat_interval 2s).
    await eventually(async () => ((await relayMetric(/mlloop_relay_suppressed_total (\d+)/)) >= 3 ? true : undefined), 60_000, 'repeated notifications');
    const byGroup = new Map<string, number>();
    for (const d of received()) {
      const key = (d.client_payload as { group_key: string }).group_key;
      byGroup.set(key, (byGroup.get(key) ?? 0) + 1);
    }
    expect([...byGroup.values()].every((n) => n === 1), JSON.stringify([...byGroup])).toBe(true);
    const abort = received().filter((d) => d.event_type === 'rollout-aborted');
    expect(abort).toHaveLength(1);
    expect(abort[0]).toMatchObject({ repo: 'acme/ocr-fields' });
    expect(abort[0]!.client_payload).toMatchObject({
      source: 'alertmanager',
      route: 'sla-rollback',
      status: 'firing',
      alertname: 'ModelHighErrorRate',
      labels: { alertname: 'ModelHighErrorRate', model_version: 'ocr-v3.4', service: 'ocr', severity: 'critical', mlloop_route: 'rollback' },
    });
    expect(abort[0]!.client_payload).toMatchObject({ app: 'ocr', env: 'prod' });
    expect((abort[0]!.client_payload as { reason: string }).reason).toMatch(/^ocr-v3\.4: \d+(\.\d+)?% of predictions fail \(SLA 5%\)$/);
    expect(gh.requests.filter((r) => r.operationId === 'repos/create-dispatch-event').every((r) => r.status === 204 && r.token === TOKEN)).toBe(true);
  });

  it('routes a drift alert to ct-retrain for the model repo', async () => {
    await am.postAlerts([{ labels: { alertname: 'LowConfidenceSpike', mlloop_route: 'retrain', service: 'ocr', model_version: 'ocr-v9.9', severity: 'warning' }, annotations: { summary: 'ocr-v9.9: 31% of extracted fields are low-confidence' } }]);
    const d = await eventually(() => received().find((x) => x.event_type === 'ct-retrain' && (x.client_payload as { labels: Record<string, string> }).labels.model_version === 'ocr-v9.9'), 30_000, 'the ct-retrain dispatch');
    expect(d.client_payload).toMatchObject({ route: 'retrain', alertname: 'LowConfidenceSpike', reason: 'ocr-v9.9: 31% of extracted fields are low-confidence', app: null, env: null });
    expect((await am.alerts()).some((a) => a.labels.model_version === 'ocr-v9.9')).toBe(true);
  });

  it('refuses unauthenticated and oversized requests', async () => {
    const body = JSON.stringify({ event_type: 'rollout-aborted', client_payload: { app: 'ocr' } });
    const none = await fetch(`${relay.url}/v1/notifications`, { method: 'POST', body });
    expect(none.status).toBe(401);
    const wrong = await fetch(`${relay.url}/v1/notifications`, { method: 'POST', body, headers: { authorization: 'Bearer not-the-token-at-all' } });
    expect(wrong.status).toBe(401);
    const big = await fetch(`${relay.url}/v1/notifications`, { method: 'POST', body: 'x'.repeat(300_000), headers: { authorization: `Bearer ${BEARER}` } });
    expect(big.status).toBe(413);
    // The relay's log reaches this process a moment after the answers.
    await eventually(() => (/413 for 127\.0\.0\.1 POST \/v1\/notifications/.test(relay.stderr()) ? true : undefined), 10_000, 'the 413 log line');
    expect(relay.stderr()).toMatch(/401 for 127\.0\.0\.1 POST \/v1\/notifications: no credentials/);
    expect(relay.stderr()).toMatch(/401 for 127\.0\.0\.1 POST \/v1\/notifications: wrong bearer token/);
    expect(relay.stderr()).not.toContain(BEARER);
  });

  it('on SIGTERM delivers what it accepted, through GitHub errors, then exits 0', async () => {
    gh.failNext(2, 503, (m, p) => m === 'POST' && p.endsWith('/dispatches'));
    const n = { event_type: 'rollout-aborted', client_payload: { source: 'argo-rollouts', trigger: 'on-rollout-aborted', app: 'ocr', env: 'prod', rollout: 'ocr', revision: '12' } };
    const r = await fetch(`${relay.url}/v1/notifications`, { method: 'POST', body: JSON.stringify(n), headers: { authorization: `Bearer ${BEARER}` } });
    expect(r.status).toBe(202);
    const before = received().length;
    const out = await relay.stop();
    expect(out.code, out.stderr).toBe(0);
    expect(received().length).toBe(before + 1);
    expect(received().at(-1)).toMatchObject({ event_type: 'rollout-aborted', client_payload: n.client_payload });
    expect(out.stdout).toMatch(/relay stopped: \d+ accepted, \d+ delivered in \d+ dispatch\(es\), 0 failed/);
  });
});
