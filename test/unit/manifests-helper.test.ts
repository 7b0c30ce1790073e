import { describe, expect, it } from 'vitest';
import { validateObject, validateYamlManifests } from '../support/manifests.js';

describe('kubernetes-models validation helper', () => {
  it('accepts a valid Deployment and rejects a wrong field type', async () => {
    const ok = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'i' }] } } } };
    await expect(validateObject(ok)).resolves.toBeUndefined();
    const bad = { ...ok, spec: { ...ok.spec, replicas: 'three' } };
    await expect(validateObject(bad)).rejects.toThrow(/Deployment\/x/);
  });

  it('validates Argo Rollouts, ArgoCD and Prometheus Operator kinds, and refuses unknown kinds', async () => {
    const objs = await validateYamlManifests(`
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: t}
spec:
  metrics:
    - name: m
      provider: {prometheus: {address: "http://p:9090", query: "up"}}
      successCondition: "result[0] < 1"
---
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: p}
spec: {}
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: r}
spec: {groups: [{name: g, rules: [{alert: A, expr: up == 0}]}]}
`);
    expect(objs.map((o) => o.kind)).toEqual(['AnalysisTemplate', 'AppProject', 'PrometheusRule']);
    await expect(validateObject({ apiVersion: 'apps/v1', kind: 'Deploymnet', metadata: { name: 'x' } })).rejects.toThrow(/no kubernetes-models class/);
  });
});
