import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { helm, helmOnPath, helmTemplate } from '../support/helm.js';
import { validateObject, validateYamlManifests, type K8sObject } from '../support/manifests.js';
import { ROOT } from '../support/paths.js';
import { tempDir } from '../support/tmp.js';
import { cli } from '../support/run.js';
import { coalesce } from '../../src/core/values/render.js';
import { helmError } from '../../src/core/values/helm.js';
import { loadTemplate } from '../../src/core/rollout/template.js';
import { validateSchema, type JsonSchema } from '../../src/core/schema.js';

const CHART = join(ROOT, 'manifests/charts/model-service');
const defaults = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Record<string, any>;
const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as JsonSchema;

/** `helm template ocr <chart> -n ocr-prod -f values.yaml` with the real helm: the objects. */
const render = (user: Record<string, unknown>): K8sObject[] => helmTemplate(CHART, user);

/** `helm lint --strict <chart> -f values.yaml`: warnings fail too. */
function lint(user: unknown): void {
  const r = helm(['lint', '--strict', CHART, '--values', '-'], stringify(user ?? {}));
  expect(r.code, r.stdout + r.stderr).toBe(0);
  expect(r.stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
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
  it('helm lint --strict passes with the chart\'s own defaults', () => lint({}));

  it.each(VALUE_SETS)('%s: helm lint --strict passes, every object helm renders validates with kubernetes-models and the pieces fit together', async (_name, user) => {
    lint(user);
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
    expect(pod.metadata.labels['mlloop.io/model-version']).toBe(String(values.model.version).replace('+', '_'));
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
        expect(canary.analysis.templates).toEqual([{ templateName: 'mlloop-p95-latency', clusterScope: true }, { templateName: 'mlloop-error-rate', clusterScope: true }]);
        expect(canary.analysis.args).toContainEqual({ name: 'requests-metric', value: values.metrics.requests });
        expect(canary.analysis.args).toContainEqual({ name: 'latency-metric', value: values.metrics.latency });
        expect(canary.analysis.args).toContainEqual({ name: 'service-name', value: canary.canaryService });
        expect(canary.analysis.args).toContainEqual({ name: 'canary-hash', valueFrom: { podTemplateHashValue: 'Latest' } });
        expect(canary.analysis.args).toContainEqual({ name: 'max-p95-ms', value: String(values.rollout.analysis.maxP95Ms) });
      } else expect(canary.analysis).toBeUndefined();
    } else {
      expect(objs.filter((o) => o.kind === 'Service').map((o) => o.metadata?.name)).toEqual([name]);
    }
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
      const real = helm(['template', 'ocr', CHART, '--values', '-'], stringify(bad));
      if (msg) {
        expect(run).toThrow(msg);
        expect(real.code, `helm accepted ${JSON.stringify(bad)}`).not.toBe(0);
        expect(real.stderr).toMatch(/values don't meet the specifications of the schema/);
      } else {
        expect(run).not.toThrow();
        expect(real.code, real.stderr).toBe(0);
      }
    }
  });

  it('the Rollout refers only to analysis templates of the right scope that the chart or manifests/ install', async () => {
    // What manifests/argocd installs: the chart per app namespace (ApplicationSet) and cluster-scoped objects from the
    // mlloop repository (Applications over manifests/<path>, filtered by directory.include).
    const argocd = await validateYamlManifests(spawnSync('kubectl', ['kustomize', join(ROOT, 'manifests/argocd')], { encoding: 'utf8' }).stdout);
    const project = one(argocd, 'AppProject');
    const installed: K8sObject[] = [];
    for (const app of argocd.filter((o) => o.kind === 'Application') as any[]) {
      expect(app.spec.project).toBe(project.metadata.name);
      const include = new RegExp(`^${String(app.spec.source.directory?.include ?? '*').replace(/\./g, '\\.').replace(/\*/g, '.*')}$`);
      for (const f of readdirSync(join(ROOT, app.spec.source.path)).filter((x) => include.test(x))) {
        const objs = await validateYamlManifests(readFileSync(join(ROOT, app.spec.source.path, f), 'utf8'));
        for (const o of objs) expect(project.spec.clusterResourceWhitelist, `the project must allow ${o.kind}`).toContainEqual({ group: o.apiVersion.split('/')[0], kind: o.kind });
        installed.push(...objs);
      }
    }
    /** Every templateName of a Rollout (canary steps, background analysis, pre/post-promotion) that does not resolve. */
    const unresolved = (rollout: any, chartObjs: K8sObject[]): string[] => {
      const refs: { templateName: string; clusterScope?: boolean; at: string }[] = [];
      const walk = (v: unknown, at: string): void => {
        if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${at}[${i}]`));
        else if (v && typeof v === 'object') {
          for (const [k, x] of Object.entries(v)) {
            if (k === 'templates' && Array.isArray(x)) x.forEach((t: any, i) => refs.push({ ...t, at: `${at}.templates[${i}]` }));
            else walk(x, `${at}.${k}`);
          }
        }
      };
      walk(rollout.spec.strategy, 'spec.strategy');
      return refs
        .filter((r) =>
          r.clusterScope
            ? !installed.some((o) => o.kind === 'ClusterAnalysisTemplate' && o.metadata?.name === r.templateName && !o.metadata?.namespace)
            : !chartObjs.some((o) => o.kind === 'AnalysisTemplate' && o.metadata?.name === r.templateName),
        )
        .map((r) => `${r.at}: ${r.clusterScope ? 'ClusterAnalysisTemplate' : 'AnalysisTemplate'} ${r.templateName}`);
    };
    const ocr = render({});
    const rollout = one(ocr, 'Rollout');
    expect(unresolved(rollout, ocr)).toEqual([]);
    expect(rollout.spec.strategy.canary.analysis.templates.length).toBe(2);
    // A namespaced reference (what the chart had before) resolves to nothing the chart or manifests/ install.
    const namespaced = structuredClone(rollout);
    for (const t of namespaced.spec.strategy.canary.analysis.templates) delete t.clusterScope;
    expect(unresolved(namespaced, ocr)).toEqual(['spec.strategy.canary.analysis.templates[0]: AnalysisTemplate mlloop-p95-latency', 'spec.strategy.canary.analysis.templates[1]: AnalysisTemplate mlloop-error-rate']);

    // The Rollout passes every argument the templates need, and nothing no template declares.
    const templates = installed.filter((o) => o.kind === 'ClusterAnalysisTemplate') as any[];
    expect(templates.map((t) => t.metadata.name).sort()).toEqual(['mlloop-error-rate', 'mlloop-p95-latency']);
    const passed = rollout.spec.strategy.canary.analysis.args as { name: string; value?: string }[];
    for (const t of templates) for (const a of t.spec.args.filter((x: any) => x.value === undefined)) expect(passed.map((p) => p.name), `${t.metadata.name} needs ${a.name}`).toContain(a.name);
    for (const p of passed) expect(templates.some((t) => t.spec.args.some((a: any) => a.name === p.name)), p.name).toBe(true);

    // A model that is not the OCR example: its metric names reach the queries mlloop analyze and Argo Rollouts run.
    const fraud = one(render({ metrics: { requests: 'fraud_http_requests_total', latency: 'fraud_http_latency_seconds' } }), 'Rollout');
    const args = Object.fromEntries(fraud.spec.strategy.canary.analysis.args.filter((a: any) => a.value !== undefined).map((a: any) => [a.name, a.value]));
    const ms = await loadTemplate(join(ROOT, 'manifests/rollouts/analysis-templates.yaml'), { intervalMs: 60_000, count: 5, args: { ...args, 'canary-hash': 'abc123' } });
    expect(ms.map((m) => m.name)).toEqual(['latency_ms.p95', 'error_rate']);
    expect(ms[0]!.query).toContain('rate(fraud_http_latency_seconds_bucket{service="ocr-canary",rollouts_pod_template_hash="abc123"}');
    expect(ms[1]!.query).toContain('rate(fraud_http_requests_total{service="ocr-canary"');
    expect(ms.map((m) => m.query).join('\n')).not.toContain('ocr_request');
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

  it('renders per-env values from a handlebars template and Helm --set/--set-string/--set-file, checked by the schema and helm template', async () => {
    const dir = tempDir('values');
    writeFileSync(join(dir, 'values.hbs.yaml'), tmpl.replace('{{maxP95}}', '200'));
    writeFileSync(join(dir, 'owner.txt'), 'team-ocr, on call');
    const out = join(dir, 'prod.yaml');
    const ran = await cli(['values', '--chart', CHART, '--env', 'prod', '--app', 'ocr', '--template', join(dir, 'values.hbs.yaml'), '--set', 'replicaCount=6', '--set-string', 'args={--workers,2}', '--set', 'gpu.nodeSelector.nvidia\\.com/gpu\\.product=Tesla-T4,resources.limits=null', '--set', 'env[0].name=LOG_LEVEL,env[0].value=info', '--set-string', 'podAnnotations.team=42', '--set-file', `podAnnotations.owner=${join(dir, 'owner.txt')}`, '--out', out, '--json'], { env: helmOnPath() });
    expect(ran.code, ran.stderr).toBe(0);
    const values = parse(readFileSync(out, 'utf8'));
    expect(values).toEqual({ mlloop: { app: 'ocr', env: 'prod' }, replicaCount: 6, args: ['--workers', '2'], gpu: { enabled: true, nodeSelector: { 'nvidia.com/gpu.product': 'Tesla-T4' } }, resources: { limits: null }, env: [{ name: 'LOG_LEVEL', value: 'info' }], rollout: { analysis: { maxP95Ms: 200 } }, podAnnotations: { team: '42', owner: 'team-ocr, on call' } });
    expect(readFileSync(out, 'utf8')).toMatch(/^# Helm values of ocr in prod for chart model-service 0\.1\.0/);
    // helm template rendered the chart with these values before they were written.
    const result = JSON.parse(ran.stdout);
    expect(result.render.objects).toBe(5);
    expect(result.render.templates).toEqual(expect.arrayContaining(['templates/rollout.yaml', 'templates/service.yaml', 'templates/pdb.yaml']));
    // The file passes helm lint --strict and renders a valid GPU Rollout without the default memory limit.
    lint(values);
    const objs = render(values);
    for (const o of objs) await validateObject(o);
    expect(one(objs, 'Rollout').spec.template.spec.containers[0].resources.limits).toEqual({ 'nvidia.com/gpu': 1 });
    expect(one(objs, 'Rollout').spec.template.metadata.annotations.owner).toBe('team-ocr, on call');
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
    ['a --set without =', ['--set', 'replicaCount'], /--set "replicaCount": key "replicaCount" has no value/],
    ['an unterminated {list}', ['--set', 'args={a,b'], /--set "args=\{a,b": list must terminate with '\}'/],
    ['a decimal by --set (Helm keeps it a string)', ['--set', 'rollout.analysis.maxErrorRate=0.02'], /\$\.rollout\.analysis\.maxErrorRate: must be number/],
    ['a --set-file that does not exist', ['--set-file', 'podAnnotations.x=/nonexistent/notes.txt'], /\/nonexistent\/notes\.txt: --set-file cannot read the file: ENOENT/],
  ])('refuses %s with exit 2 and writes nothing', async (_n, args, msg) => {
    const dir = tempDir('values');
    writeFileSync(join(dir, 't.yaml'), tmpl);
    const argv = ['values', '--chart', CHART, '--env', 'prod', '--app', 'ocr', '--out', join(dir, 'out.yaml')];
    const i = args.indexOf('MISSING');
    const extra = i >= 0 ? [...args.slice(0, i), join(dir, 't.yaml')] : args;
    const ran = await cli([...argv, ...extra]);
    expect(ran.code, ran.stderr).toBe(2);
    expect(ran.stderr).toMatch(msg);
    expect(existsSync(join(dir, 'out.yaml'))).toBe(false);
  });

  /** A chart whose values.schema.json is absent, so only helm template can find what its templates refuse. */
  function strictChart(): string {
    const dir = tempDir('values-chart');
    mkdirSync(join(dir, 'chart', 'templates'), { recursive: true });
    writeFileSync(join(dir, 'chart', 'Chart.yaml'), 'apiVersion: v2\nname: strict\nversion: 1.0.0\n');
    writeFileSync(join(dir, 'chart', 'values.yaml'), 'port: 8080\nname: web\n');
    writeFileSync(join(dir, 'chart', 'templates', '_helpers.tpl'), '{{- define "strict.port" -}}\n{{ .Values.ports.http }}\n{{- end -}}\n');
    writeFileSync(join(dir, 'chart', 'templates', 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ required "name is required" .Values.name }}\ndata:\n  port: {{ .Values.port | quote }}\n  {{- if .Values.ports }}\n  http: {{ include "strict.port" . | quote }}\n  {{- end }}\n');
    return dir;
  }

  it.each([
    ['a required value set to null', ['--set', 'name=null'], /chart\/templates\/cm\.yaml:4:\d+: helm template fails with these values: name is required/],
    ['a value an included template cannot use', ['--set', 'ports=x'], /chart\/templates\/_helpers\.tpl:2:\d+: helm template fails with these values \(from .*chart\/templates\/cm\.yaml:8:\d+\): .*can't evaluate field http/],
    ['a value that breaks the rendered YAML', ['--set', 'port=null', '--set-string', 'name=a: b'], /chart\/templates\/cm\.yaml: helm template renders invalid YAML with these values .*mapping values are not allowed/],
  ])('exit 2 when helm template refuses %s, naming the template and line; nothing written', async (_n, args, msg) => {
    const dir = strictChart();
    const out = join(dir, 'out.yaml');
    const ran = await cli(['values', '--chart', join(dir, 'chart'), '--env', 'prod', '--out', out, ...args], { env: helmOnPath() });
    expect(ran.code, ran.stderr).toBe(2);
    expect(ran.stderr).toMatch(msg);
    expect(ran.stderr).toMatch(/fix: the values pass values\.schema\.json, but the chart cannot render them/);
    expect(existsSync(out)).toBe(false);
    // The same values without a broken one pass.
    expect((await cli(['values', '--chart', join(dir, 'chart'), '--env', 'prod', '--out', out, '--set', 'port=9090'], { env: helmOnPath() })).code).toBe(0);
  });

  it('without helm on PATH it says so once, checks the schema only and writes the values', async () => {
    const dir = strictChart();
    const out = join(dir, 'out.yaml');
    const ran = await cli(['values', '--chart', join(dir, 'chart'), '--env', 'prod', '--set', 'name=null', '--out', out, '--json'], { env: { PATH: '/usr/bin:/bin' } });
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stderr.match(/helm is not on PATH/g)).toHaveLength(1);
    expect(JSON.parse(ran.stdout).render).toEqual({ skipped: 'helm is not on PATH' });
    expect(parse(readFileSync(out, 'utf8'))).toEqual({ name: null });
  });

  it.each([
    ['helm 3 execution error', 'Error: template: model-service/templates/rollout.yaml:29:12: executing "model-service/templates/rollout.yaml" at <required "x" .Values.x>: error calling required: x\n', 'charts/ms/templates/rollout.yaml:29:12: helm template fails with these values: error calling required: x'],
    ['helm 3 schema error', "Error: values don't meet the specifications of the schema(s) in the following chart(s):\nmodel-service:\n- replicaCount: Must be greater than or equal to 0\n", 'charts/ms/values.schema.json: helm refuses the values: $.replicaCount: Must be greater than or equal to 0'],
    ['helm 4 schema error', "Error: values don't meet the specifications of the schema(s) in the following chart(s):\nmodel-service:\n- at '/env/0': missing property 'name'\n", "charts/ms/values.schema.json: helm refuses the values: $.env[0]: missing property 'name'"],
    ['helm 4 parse error', 'Error: parse error at (model-service/templates/hpa.yaml:7): function "nope" not defined\n\nUse --debug flag to render out invalid YAML\n', 'charts/ms/templates/hpa.yaml:7: helm template fails with these values: function "nope" not defined'],
  ])('reads %s', (_n, stderr, message) => {
    expect(helmError(stderr, 'charts/ms').message.split('\n')[0]).toBe(message);
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
    expect(objs.map((o) => o.kind).sort()).toEqual(['AppProject', 'Application', 'ApplicationSet']);
    if (dir.includes('gitops-repo')) {
      const appset = one(objs, 'ApplicationSet');
      expect(appset.spec.generators[0].git.repoURL).toBe('https://github.com/acme/ocr-gitops.git');
      expect(appset.spec.template.spec.sources[1].repoURL).toBe('https://github.com/acme/ocr-gitops.git');
      expect(one(objs, 'AppProject').spec.sourceRepos).toContain('https://github.com/acme/ocr-gitops.git');
    }
  });

  it.each(['staging', 'prod'])('the skeleton\'s apps/ocr/%s/values.yaml passes helm lint --strict and renders valid objects', async (env) => {
    const user = parse(readFileSync(join(ROOT, `manifests/gitops-repo/apps/ocr/${env}/values.yaml`), 'utf8'));
    lint(user);
    const objs = render(user);
    for (const o of objs) await validateObject(o);
    expect(one(objs, 'Rollout').spec.template.metadata.labels['mlloop.io/model-version']).toBe('ocr-v3.1');
  });
});
