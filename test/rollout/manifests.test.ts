import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { validateYamlManifests, type K8sObject } from '../support/manifests.js';
import { run } from '../support/run.js';
import { tool } from '../support/tools.js';
import { ROOT } from '../support/paths.js';
import { tempDir } from '../support/tmp.js';

const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');
const load = (p: string) => validateYamlManifests(read(p));
const byKind = (objs: K8sObject[], kind: string, name?: string) => objs.find((o) => o.kind === kind && (!name || o.metadata?.name === name))!;

describe('manifests/rollouts', () => {
  it('ClusterAnalysisTemplates keep the names the chart references, take the documented args, and fail closed on NaN', async () => {
    const objs = await load('manifests/rollouts/analysis-templates.yaml');
    expect(objs.map((o) => `${o.kind}/${o.metadata!.name}`)).toEqual(['ClusterAnalysisTemplate/mlloop-p95-latency', 'ClusterAnalysisTemplate/mlloop-error-rate']);
    for (const [t, limitArg, dflt, metricArg, metric] of [[objs[0]!, 'max-p95-ms', '200', 'latency-metric', 'ocr_request_duration_seconds'], [objs[1]!, 'max-error-rate', '0.01', 'requests-metric', 'ocr_requests_total']] as const) {
      const spec = t.spec as { args: { name: string; value?: string }[]; metrics: Record<string, any>[] };
      expect(t.metadata!.namespace).toBeUndefined();
      expect(spec.args.find((a) => a.name === limitArg)!.value).toBe(dflt);
      // The serving metric is an argument (the chart's metrics.*), defaulting to the OCR example's name.
      expect(spec.args.find((a) => a.name === metricArg)!.value).toBe(metric);
      expect(spec.metrics[0]!.provider.prometheus.query).toContain(`{{args.${metricArg}}}`);
      expect(spec.metrics[0]!.provider.prometheus.query).not.toContain(metric);
      expect(spec.args.filter((a) => a.value === undefined).map((a) => a.name).sort()).toEqual(['canary-hash', 'service-name']);
      const m = spec.metrics[0]!;
      expect(m.failureCondition).toBe(`isNaN(result[0]) || result[0] > {{args.${limitArg}}}`);
      expect(m.successCondition).toBe(`!isNaN(result[0]) && result[0] <= {{args.${limitArg}}}`);
      expect(m.provider.prometheus.query).toContain('rollouts_pod_template_hash="{{args.canary-hash}}"');
      expect(m.provider.prometheus.query).toMatch(/or on\(\) vector\(NaN\)\s*$/);
      expect(m).toMatchObject({ interval: '1m', count: 5, failureLimit: 1, inconclusiveLimit: 1 });
    }
  });

  it('the Rollout canaries 10% → pause → 30% → pause → 100% with both gates in the background', async () => {
    const objs = await load('manifests/rollouts/rollout.yaml');
    const r = byKind(objs, 'Rollout') as any;
    expect(r.spec.strategy.canary.steps.map((s: Record<string, unknown>) => Object.keys(s)[0] === 'setWeight' ? s.setWeight : 'pause')).toEqual([10, 'pause', 30, 'pause', 100]);
    expect(r.spec.strategy.canary.analysis.templates).toEqual([{ templateName: 'mlloop-p95-latency', clusterScope: true }, { templateName: 'mlloop-error-rate', clusterScope: true }]);
    expect(r.spec.strategy.canary.analysis.args.map((a: { name: string }) => a.name).sort()).toEqual(['canary-hash', 'service-name']);
    expect(r.spec.strategy.canary.analysis.args.find((a: { name: string }) => a.name === 'canary-hash').valueFrom).toEqual({ podTemplateHashValue: 'Latest' });
    for (const svc of [r.spec.strategy.canary.canaryService, r.spec.strategy.canary.stableService]) expect(byKind(objs, 'Service', svc)).toBeDefined();
    expect(r.metadata.labels).toMatchObject({ 'mlloop.io/app': 'ocr', 'mlloop.io/env': 'prod' });
  });

  it('notification configs send rollout-aborted as a valid repository_dispatch body through declared services and secrets', async () => {
    const objs = await load('manifests/rollouts/notifications.yaml');
    const rollout = byKind(await load('manifests/rollouts/rollout.yaml'), 'Rollout');
    for (const [cmName, secretName] of [['argo-rollouts-notification-configmap', 'argo-rollouts-notification-secret'], ['argocd-notifications-cm', 'argocd-notifications-secret']]) {
      const cm = byKind(objs, 'ConfigMap', cmName) as unknown as { data: Record<string, string> };
      const secret = byKind(objs, 'Secret', secretName) as unknown as { stringData: Record<string, string> };
      const services = Object.keys(cm.data).filter((k) => k.startsWith('service.webhook.')).map((k) => k.slice('service.webhook.'.length));
      expect(services.sort()).toEqual(['github-dispatch', 'mlloop-relay']);
      for (const s of services) {
        const svc = parse(cm.data[`service.webhook.${s}`]!) as { url: string; headers: { name: string; value: string }[] };
        for (const h of svc.headers) for (const ref of h.value.match(/\$[a-z0-9-]+/g) ?? []) expect(Object.keys(secret.stringData)).toContain(ref.slice(1));
      }
      for (const trig of ['on-rollout-aborted', 'on-analysis-run-failed']) {
        const t = parse(cm.data[`trigger.${trig}`]!) as { send: string[] }[];
        for (const tpl of t[0]!.send) {
          const template = parse(cm.data[`template.${tpl}`]!) as { webhook: Record<string, { method: string; path: string; body: string }> };
          expect(Object.keys(template.webhook).sort()).toEqual(services.sort());
          for (const [svc, w] of Object.entries(template.webhook)) {
            expect(w.method).toBe('POST');
            expect(w.path).toBe(svc === 'mlloop-relay' ? '/v1/notifications' : '/repos/acme/ocr-fields/dispatches');
            // Every Go template action renders a JSON value (toJson); with sample values the body is the API's JSON.
            const sample = JSON.parse(w.body.replace(/\{\{[^}]*\}\}/g, '"sample"')) as { event_type: string; client_payload: Record<string, unknown> };
            expect(sample.event_type).toBe('rollout-aborted');
            expect(sample.event_type.length).toBeLessThanOrEqual(100);
            expect(Object.keys(sample.client_payload).length).toBeLessThanOrEqual(10);
            expect(sample.client_payload).toHaveProperty('reason');
            expect(w.body.match(/\{\{[^}]*\}\}/g)!.every((a) => /^\{\{ toJson /.test(a))).toBe(true);
          }
        }
      }
    }
    // The Rollout subscribes to triggers and a service that exist.
    const cm = byKind(objs, 'ConfigMap', 'argo-rollouts-notification-configmap') as unknown as { data: Record<string, string> };
    for (const key of Object.keys((rollout.metadata as { annotations: Record<string, string> }).annotations).filter((k) => k.startsWith('notifications.argoproj.io/subscribe.'))) {
      const [, trigger, service] = /subscribe\.([^.]+)\.(.+)$/.exec(key)!;
      expect(cm.data).toHaveProperty(`trigger.${trigger}`);
      expect(cm.data).toHaveProperty(`service.webhook.${service}`);
    }
  });
});

describe('manifests/monitoring', () => {
  it('the PrometheusRule is valid for the operator and for promtool, with the SLA alerts', async () => {
    const [rule] = await load('manifests/monitoring/prometheus-rule.yaml');
    const groups = (rule!.spec as { groups: { rules: { alert: string; expr: string; for: string; labels: Record<string, string> }[] }[] }).groups;
    const alerts = Object.fromEntries(groups[0]!.rules.map((r) => [r.alert, r]));
    expect(Object.keys(alerts)).toEqual(['ModelHighErrorRate', 'ModelLatencyP95OverBudget', 'ModelNoTraffic', 'LowConfidenceSpike']);
    expect(alerts.ModelHighErrorRate!.for).toBe('5m');
    expect(alerts.ModelHighErrorRate!.expr).toMatch(/> 0\.05\s*$/);
    expect(alerts.ModelLatencyP95OverBudget!.expr).toMatch(/\* 1000 > 200\s*$/);
    expect(alerts.LowConfidenceSpike!.labels.mlloop_route).toBe('retrain');
    const dir = tempDir('rules');
    writeFileSync(join(dir, 'rules.yml'), JSON.stringify({ groups }));
    const r = await run(tool('promtool'), ['check', 'rules', join(dir, 'rules.yml')]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/SUCCESS: 4 rules found/);
    // promtool does catch a broken expression.
    writeFileSync(join(dir, 'bad.yml'), JSON.stringify({ groups: [{ name: 'x', rules: [{ alert: 'X', expr: 'sum(rate(x[5m])' }] }] }));
    expect((await run(tool('promtool'), ['check', 'rules', join(dir, 'bad.yml')])).code).not.toBe(0);
  });

  it('the ServiceMonitor keeps the pod label the AnalysisTemplates select on', async () => {
    const [sm] = await load('manifests/monitoring/servicemonitor.yaml');
    expect((sm!.spec as { podTargetLabels: string[] }).podTargetLabels).toEqual(['rollouts-pod-template-hash']);
  });

  it('the Grafana dashboard is well formed: unique ids, grid inside 24 columns, QPS, latency quantiles and error rate per model version', () => {
    const d = JSON.parse(read('manifests/monitoring/grafana-dashboard.json')) as { uid: string; schemaVersion: number; panels: { id: number; type: string; title: string; gridPos: { x: number; y: number; w: number; h: number }; targets: { expr: string; refId: string; legendFormat: string }[] }[]; templating: { list: { name: string }[] } };
    expect(d.uid).toBe('mlloop-model-service');
    expect(d.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(new Set(d.panels.map((p) => p.id)).size).toBe(d.panels.length);
    for (const p of d.panels) {
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      expect(p.type).toBe('timeseries');
      expect(new Set(p.targets.map((t) => t.refId)).size).toBe(p.targets.length);
      for (const t of p.targets) {
        expect(t.expr).toContain('model_version=~"$model_version"');
        expect(t.expr).toMatch(/by \((le, )?model_version/);
        expect(t.legendFormat).toContain('{{model_version}}');
      }
    }
    const exprs = d.panels.flatMap((p) => p.targets.map((t) => t.expr)).join('\n');
    expect(exprs).toContain('rate(ocr_requests_total{');
    for (const q of ['0.5', '0.95', '0.99']) expect(exprs).toContain(`histogram_quantile(${q}, sum by (le, model_version) (rate(ocr_request_duration_seconds_bucket`);
    expect(exprs).toMatch(/code=~"5\.\."/);
    expect(d.templating.list.map((v) => v.name)).toEqual(['datasource', 'model_version']);
  });
});

describe('manifests/relay', () => {
  it('the Deployment runs relay with its config mounted and secrets from the Secret', async () => {
    const objs = await load('manifests/relay/deployment.yaml');
    const dep = byKind(objs, 'Deployment') as any;
    const c = dep.spec.template.spec.containers[0];
    expect(c.args).toEqual(['relay', '--config', '/etc/mlloop/relay.yaml']);
    expect(c.volumeMounts[0].mountPath).toBe('/etc/mlloop');
    const cfg = parse(read('manifests/relay/relay.yaml')) as { auth: Record<string, string>; github: { token_env: string } };
    const envNames = c.env.filter((e: { valueFrom?: unknown }) => e.valueFrom).map((e: { name: string }) => e.name).sort();
    expect(envNames).toEqual([cfg.auth.bearer_token_env, cfg.auth.hmac_secret_env, cfg.github.token_env].sort());
    expect(c.readinessProbe.httpGet.path).toBe('/readyz');
    expect(dep.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(25);
    const svc = byKind(objs, 'Service') as any;
    expect(svc.metadata.name).toBe('mlloop-relay');
    // The notification services point at this Service.
    expect(read('manifests/rollouts/notifications.yaml')).toContain('url: http://mlloop-relay.mlloop.svc.cluster.local:8080');
  });
});
