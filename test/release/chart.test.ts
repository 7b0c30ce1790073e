import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parse, parseAllDocuments } from 'yaml';
import { HelmSubset } from './helm-subset.js';
import { validateObject, validateYamlManifests, type K8sObject } from '../support/manifests.js';
import { ROOT } from '../support/paths.js';
import { cli } from '../support/run.js';
import { coalesce } from '../../src/core/values/render.js';
import { validateSchema, type JsonSchema } from '../../src/core/schema.js';

const CHART = join(ROOT, 'manifests/charts/model-service');
const chartMeta = parse(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as { name: string; version: string; appVersion: string };
const defaults = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Record<string, any>;
const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as JsonSchema;
const templates = Object.fromEntries(readdirSync(join(CHART, 'templates')).map((f) => [`templates/${f}`, readFileSync(join(CHART, 'templates', f), 'utf8')]));
const chart = new HelmSubset(templates);

/** What `helm template ocr <chart> -f values.yaml` gives, through the subset renderer: the objects. */
function render(user: Record<string, unknown>, release = 'ocr'): K8sObject[] {
  const values = coalesce(defaults, user) as Record<string, unknown>;
  validateSchema(values, schema, 'values');
  const files = chart.render({ Values: values, Release: { Name: release, Namespace: 'ocr-prod', Service: 'Helm' }, Chart: { Name: chartMeta.name, Version: chartMeta.version, AppVersion: chartMeta.appVersion } });
  return Object.values(files).flatMap((text) => parseAllDocuments(text).map((d) => d.toJS() as K8sObject | null)).filter((o): o is K8sObject => o !== null);
}

const kinds = (objs: K8sObject[]) => objs.map((o) => `${o.kind}/${o.metadata?.name}`).sort();
const one = (objs: K8sObject[], kind: string, name?: string) => objs.find((o) => o.kind === kind && (!name || o.metadata?.name === name)) as any;

const VALUE_SETS: [string, Record<string, unknown>][] = [
  ['defaults (Rollout, no GPU)', { model: { version: 'ocr-v3.2' }, image: { tag: 'ocr-v3.2-commit-abc1234-20250612110522' } }],
  ['Rollout with GPU, ServiceMonitor and HPA', { model: { version: 'ocr-v3.2+build.7' }, gpu: { enabled: true, count: 2, nodeSelector: { 'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-40GB' } }, serviceMonitor: { enabled: true, labels: { release: 'prometheus' } }, autoscaling: { enabled: true }, mlloop: { app: 'ocr', env: 'prod' } }],
  ['Deployment with GPU and HPA', { rollout: { enabled: false }, gpu: { enabled: true }, autoscaling: { enabled: true }, env: [{ name: 'LOG_LEVEL', value: 'info' }], args: ['--workers', '2'] }],
  ['Deployment, everything optional off', { rollout: { enabled: false }, podDisruptionBudget: { enabled: false }, resources: { requests: { cpu: '250m' }, limits: null }, tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'ml', effect: 'NoSchedule' }] }],
  ['Rollout without analysis, pinned by digest', { rollout: { analysis: { enabled: false }, notifications: false }, image: { tag: '', digest: `sha256:${'a'.repeat(64)}` }, imagePullSecrets: [{ name: 'registry' }], nameOverride: 'ocr-fields' }],
];

describe('chart model-service', () => {
  it.each(VALUE_SETS)('%s: every object validates with kubernetes-models and the pieces fit together', async (_name, user) => {
    const objs = render(user);
    for (const o of objs) await validateObject(o);
    const values = coalesce(defaults, user) as any;
    const name = values.nameOverride || 'ocr';
    const rollout = values.rollout.enabled;
    const workload = one(objs, rollout ? 'Rollout' : 'Deployment');
    expect(workload, kinds(objs).join(',')).toBeTruthy();
    expect(one(objs, rollout ? 'Deployment' : 'Rollout')).toBeUndefined();
    const pod = workload.spec.template;
    // The selector selects the pod template; every Service selects those pods.
    for (const [k, v] of Object.entries(workload.spec.selector.matchLabels)) expect(pod.metadata.labels[k]).toBe(v);
    for (const svc of objs.filter((o) => o.kind === 'Service') as any[]) for (const [k, v] of Object.entries(svc.spec.selector)) expect(pod.metadata.labels[k]).toBe(v);
    expect(pod.metadata.labels['ai.mlloop/model-version']).toBe(String(values.model.version).replace('+', '_'));
    expect(workload.metadata.labels['app.kubernetes.io/part-of']).toBe('mlloop');
    const c = pod.spec.containers[0];
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.args.slice(c.args.indexOf('--model-version'), c.args.indexOf('--model-version') + 2)).toEqual(['--model-version', String(values.model.version)]);
    expect(c.image).toBe(values.image.digest ? `${values.image.repository}@${values.image.digest}` : `${values.image.repository}:${values.image.tag}`);
    if (values.gpu.enabled) {
      expect(c.resources.limits['nvidia.com/gpu']).toBe(values.gpu.count);
      expect(pod.spec.tolerations).toContainEqual({ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' });
      for (const [k, v] of Object.entries(values.gpu.nodeSelector)) expect(pod.spec.nodeSelector[k]).toBe(v);
    } else {
      expect(c.resources.limits?.['nvidia.com/gpu']).toBeUndefined();
      expect(JSON.stringify(pod.spec.tolerations ?? [])).not.toContain('nvidia.com/gpu');
    }
    const hpa = one(objs, 'HorizontalPodAutoscaler');
    if (values.autoscaling.enabled) {
      expect(hpa.spec.scaleTargetRef).toEqual(rollout ? { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', name } : { apiVersion: 'apps/v1', kind: 'Deployment', name });
      expect(workload.spec.replicas).toBeUndefined();
    } else {
      expect(hpa).toBeUndefined();
      expect(workload.spec.replicas).toBe(values.replicaCount);
    }
    expect(Boolean(one(objs, 'PodDisruptionBudget'))).toBe(values.podDisruptionBudget.enabled);
    expect(Boolean(one(objs, 'ServiceMonitor'))).toBe(values.serviceMonitor.enabled);
    if (rollout) {
      const canary = workload.spec.strategy.canary;
      expect(canary.steps).toEqual([{ setWeight: 10 }, { pause: { duration: values.rollout.firstPause } }, { setWeight: 30 }, { pause: { duration: values.rollout.secondPause } }, { setWeight: 100 }]);
      expect(one(objs, 'Service', canary.canaryService)).toBeTruthy();
      expect(one(objs, 'Service', canary.stableService)).toBeTruthy();
      if (values.rollout.analysis.enabled) {
        expect(canary.analysis.templates.map((t: any) => t.templateName)).toEqual(['mlloop-p95-latency', 'mlloop-error-rate']);
        expect(canary.analysis.args).toContainEqual({ name: 'service-name', value: canary.canaryService });
        expect(canary.analysis.args).toContainEqual({ name: 'canary-hash', valueFrom: { podTemplateHashValue: 'Latest' } });
        expect(canary.analysis.args).toContainEqual({ name: 'max-p95-ms', value: String(values.rollout.analysis.maxP95Ms) });
      } else expect(canary.analysis).toBeUndefined();
    } else {
      expect(objs.filter((o) => o.kind === 'Service').map((o) => o.metadata?.name)).toEqual([name]);
    }
  });

  it('passes exactly the arguments the AnalysisTemplates of manifests/rollouts declare', () => {
    const file = join(ROOT, 'manifests/rollouts/analysis-templates.yaml');
    const templatesDeclared = parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS()).filter((o: any) => o?.kind === 'AnalysisTemplate');
    const rollout = one(render({}), 'Rollout');
    const passed = new Set<string>(rollout.spec.strategy.canary.analysis.args.map((a: any) => a.name));
    for (const name of ['mlloop-p95-latency', 'mlloop-error-rate']) {
      const t = templatesDeclared.find((x: any) => x.metadata.name === name) as any;
      expect(t, name).toBeTruthy();
      const declared = t.spec.args.map((a: any) => a.name);
      // Every argument without a default is passed; Argo Rollouts rejects arguments a template does not declare
      // only when no template declares them, so each passed one is declared by at least one template.
      for (const a of t.spec.args.filter((x: any) => x.value === undefined && !x.valueFrom)) expect(passed.has(a.name), `${name} needs ${a.name}`).toBe(true);
      void declared;
    }
    const all = new Set(templatesDeclared.flatMap((t: any) => t.spec.args.map((a: any) => a.name)));
    for (const p of passed) expect(all.has(p), p).toBe(true);
  });

  it('values.schema.json accepts the defaults and refuses bad values as Helm would', () => {
    expect(() => validateSchema(defaults, schema, 'values.yaml')).not.toThrow();
    for (const [bad, msg] of [
      [{ replicaCount: 'three' }, /\$\.replicaCount: must be integer/],
      [{ image: { tag: 'has space' } }, /\$\.image\.tag/],
      [{ gpu: { count: 0 } }, /\$\.gpu\.count/],
      [{ rollout: { firstPause: 'soon' } }, /\$\.rollout\.firstPause/],
      [{ rollout: { analysis: { maxErrorRate: 2 } } }, /\$\.rollout\.analysis\.maxErrorRate/],
      [{ probes: { readiness: { path: 'readyz' } } }, /\$\.probes\.readiness\.path/],
      [{ servce: {} }, null],
    ] as const) {
      const run = () => validateSchema(coalesce(defaults, bad), schema, 'values');
      if (msg) expect(run).toThrow(msg);
      else expect(run).not.toThrow();
    }
  });

  it('the subset renderer refuses what it does not implement, so the chart cannot drift outside it', () => {
    expect(() => new HelmSubset({ 't.yaml': '{{ range .Values.x }}{{ end }}' })).toThrow(/outside the supported subset/);
    expect(() => new HelmSubset({ 't.yaml': '{{ lookup "v1" "Secret" "ns" "x" }}' }).render({ Values: {}, Release: { Name: 'r', Namespace: 'n', Service: 'Helm' }, Chart: {} })).toThrow(/outside the supported subset/);
    const h = new HelmSubset({ 't.yaml': 'a:\n  {{- if .Values.on }}\n  b: {{ .Values.n | quote }}\n  {{- else }}\n  c: {{ default "d" .Values.missing }}\n  {{- end }}\nz: {{ printf "%s-%s" "x" "y" }}\n' });
    const ctx = (v: unknown) => ({ Values: v, Release: { Name: 'r', Namespace: 'n', Service: 'Helm' }, Chart: {} });
    expect(h.render(ctx({ on: true, n: 3 }))['t.yaml']).toBe('a:\n  b: "3"\nz: x-y\n');
    expect(h.render(ctx({ on: false }))['t.yaml']).toBe('a:\n  c: d\nz: x-y\n');
  });
});

describe('mlloop values', () => {
  const tmpl = `# {{env}} values of {{app}}
mlloop:
  app: {{app}}
  env: {{env}}
replicaCount: {{#if (eq env "prod")}}4{{else}}1{{/if}}
gpu:
  enabled: {{#if (eq env "prod")}}true{{else}}false{{/if}}
rollout:
  analysis:
    maxP95Ms: {{maxP95}}
`;

  it('renders per-env values from a handlebars template and typed --set overrides, validated by the chart schema', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlloop-values-'));
    writeFileSync(join(dir, 'values.hbs.yaml'), tmpl.replace('{{maxP95}}', '200'));
    const out = join(dir, 'prod.yaml');
    const ran = await cli(['values', '--chart', CHART, '--env', 'prod', '--app', 'ocr', '--template', join(dir, 'values.hbs.yaml'), '--set', 'replicaCount=6', '--set', 'rollout.analysis.maxErrorRate=0.02', '--set', 'gpu.nodeSelector.nvidia\\.com/gpu\\.product=Tesla-T4', '--set-string', 'podAnnotations.team=42', '--out', out, '--json']);
    expect(ran.code, ran.stderr).toBe(0);
    const values = parse(readFileSync(out, 'utf8'));
    expect(values).toEqual({ mlloop: { app: 'ocr', env: 'prod' }, replicaCount: 6, gpu: { enabled: true, nodeSelector: { 'nvidia.com/gpu.product': 'Tesla-T4' } }, rollout: { analysis: { maxP95Ms: 200, maxErrorRate: 0.02 } }, podAnnotations: { team: '42' } });
    expect(readFileSync(out, 'utf8')).toMatch(/^# Helm values of ocr in prod for chart model-service 0\.1\.0/);
    // The file renders a valid GPU Rollout.
    const objs = render(values);
    for (const o of objs) await validateObject(o);
    expect(one(objs, 'Rollout').spec.template.spec.containers[0].resources.limits['nvidia.com/gpu']).toBe(1);
    expect(one(objs, 'Rollout').metadata.labels['mlloop.io/env']).toBe('prod');

    // A later render keeps what gitops deploy set.
    writeFileSync(out, readFileSync(out, 'utf8') + 'image:\n  repository: registry.example.com/ocr-service\n  tag: ocr-v3.2-commit-abc1234-20250612110522\nmodel:\n  version: ocr-v3.2\n');
    const again = await cli(['values', '--chart', CHART, '--env', 'prod', '--app', 'ocr', '--template', join(dir, 'values.hbs.yaml'), '--out', out]);
    expect(again.code, again.stderr).toBe(0);
    expect(parse(readFileSync(out, 'utf8'))).toMatchObject({ replicaCount: 4, image: { tag: 'ocr-v3.2-commit-abc1234-20250612110522' }, model: { version: 'ocr-v3.2' } });
  });

  it.each([
    ['a value the schema refuses', ['--set', 'replicaCount=-1'], /\$\.replicaCount: must be >= 0/],
    ['a string where a number belongs', ['--set-string', 'containerPort=8080'], /\$\.containerPort: must be integer/],
    ['a template variable that does not exist', ['--template', 'MISSING'], /cannot render the template: "maxP95" not defined/],
    ['an env that is not a DNS-1123 label', ['--env', '../prod'], /--env "..\/prod" is not a DNS-1123 label/],
    ['a --set without =', ['--set', 'replicaCount'], /must be key=value/],
  ])('refuses %s with exit 2 and writes nothing', async (_n, args, msg) => {
    const dir = mkdtempSync(join(tmpdir(), 'mlloop-values-'));
    writeFileSync(join(dir, 't.yaml'), tmpl);
    const argv = ['values', '--chart', CHART, '--env', 'prod', '--app', 'ocr', '--out', join(dir, 'out.yaml')];
    const i = args.indexOf('MISSING');
    const extra = i >= 0 ? [...args.slice(0, i), join(dir, 't.yaml')] : args;
    const ran = await cli([...argv, ...extra]);
    expect(ran.code, ran.stderr).toBe(2);
    expect(ran.stderr).toMatch(msg);
    expect(existsSync(join(dir, 'out.yaml'))).toBe(false);
  });
});

describe('ArgoCD and the GitOps repository skeleton', () => {
  it('the ApplicationSet and AppProject validate, and the project admits every kind the chart renders', async () => {
    const objs = [...(await validateYamlManifests(readFileSync(join(ROOT, 'manifests/argocd/applicationset.yaml'), 'utf8'))), ...(await validateYamlManifests(readFileSync(join(ROOT, 'manifests/argocd/appproject.yaml'), 'utf8')))];
    const appset = one(objs, 'ApplicationSet');
    const project = one(objs, 'AppProject');
    expect(appset.spec.generators[0].git.directories).toEqual([{ path: 'apps/*/*' }]);
    const [chartSource, valuesSource] = appset.spec.template.spec.sources;
    expect(chartSource.path).toBe('manifests/charts/model-service');
    expect(chartSource.helm.valueFiles).toEqual(['$values/{{ .path.path }}/values.yaml']);
    expect(valuesSource.ref).toBe('values');
    expect(appset.spec.template.spec.project).toBe(project.metadata.name);
    const allowed = new Set(project.spec.namespaceResourceWhitelist.map((k: any) => `${k.group}/${k.kind}`));
    const rendered = [...render({ serviceMonitor: { enabled: true }, autoscaling: { enabled: true } }), ...render({ rollout: { enabled: false } })];
    for (const o of rendered) {
      const group = o.apiVersion.includes('/') ? o.apiVersion.split('/')[0] : '';
      expect(allowed.has(`${group}/${o.kind}`), `${group}/${o.kind}`).toBe(true);
    }
    for (const s of appset.spec.template.spec.sources) expect(project.spec.sourceRepos).toContain(s.repoURL);
  });

  it.each(['manifests/argocd', 'manifests/gitops-repo/argocd'])('kubectl kustomize %s renders valid objects', async (dir) => {
    const r = spawnSync('kubectl', ['kustomize', join(ROOT, dir)], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const objs = await validateYamlManifests(r.stdout);
    expect(objs.map((o) => o.kind).sort()).toEqual(['AppProject', 'ApplicationSet']);
    if (dir.includes('gitops-repo')) {
      const appset = one(objs, 'ApplicationSet');
      expect(appset.spec.generators[0].git.repoURL).toBe('https://github.com/acme/ocr-gitops.git');
      expect(appset.spec.template.spec.sources[1].repoURL).toBe('https://github.com/acme/ocr-gitops.git');
      expect(one(objs, 'AppProject').spec.sourceRepos).toContain('https://github.com/acme/ocr-gitops.git');
    }
  });

  it.each(['staging', 'prod'])('the skeleton\'s apps/ocr/%s/values.yaml is valid for the chart and renders valid objects', async (env) => {
    const user = parse(readFileSync(join(ROOT, `manifests/gitops-repo/apps/ocr/${env}/values.yaml`), 'utf8'));
    const objs = render(user);
    for (const o of objs) await validateObject(o);
    expect(one(objs, 'Rollout').spec.template.metadata.labels['ai.mlloop/model-version']).toBe('ocr-v3.1');
  });
});
