import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateYamlManifests, type K8sObject } from '../support/manifests.js';
import { ROOT } from '../support/paths.js';
import { readClusters } from '../../src/core/dispatch/config.js';
import { tempDir } from './helpers.js';

/** manifests/dispatcher: the collector as a Deployment with its RBAC, and Redis, validated with kubernetes-models. */
const load = async (f: string) => validateYamlManifests(readFileSync(join(ROOT, 'manifests/dispatcher', f), 'utf8'));
const byKind = (objs: K8sObject[], kind: string) => objs.filter((o) => o.kind === kind) as any[];

describe('manifests/dispatcher', () => {
  it('the ClusterRole lets the collector list and watch nodes, pods and PriorityClasses, and nothing else', async () => {
    const objs = await load('rbac.yaml');
    const [role] = byKind(objs, 'ClusterRole');
    const grants = role.rules.flatMap((r: any) => r.resources.flatMap((res: string) => r.apiGroups.map((g: string) => `${g || 'core'}/${res}:${[...r.verbs].sort().join(',')}`))).sort();
    expect(grants).toEqual(['core/nodes:list,watch', 'core/pods:list,watch', 'scheduling.k8s.io/priorityclasses:list,watch']);
    const [binding] = byKind(objs, 'ClusterRoleBinding');
    const [sa] = byKind(objs, 'ServiceAccount');
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace }]);
  });

  it('the Deployment runs dispatch collect with the clusters file from the ConfigMap and kubeconfigs from the Secret; Redis is a StatefulSet behind the URL it uses', async () => {
    const objs = await load('collector.yaml');
    const [dep] = byKind(objs, 'Deployment');
    const spec = dep.spec.template.spec;
    expect(spec.serviceAccountName).toBe('mlloop-dispatch-collector');
    const c = spec.containers[0];
    expect(c.args.slice(0, 2)).toEqual(['dispatch', 'collect']);
    const url = c.env.find((e: any) => e.name === 'REDIS_URL').value as string;
    expect(c.args).toEqual(['dispatch', 'collect', '--clusters', '/etc/mlloop/clusters.yaml', '--redis', '$(REDIS_URL)']);
    const kubeconfigs = spec.volumes.find((v: any) => v.secret);
    expect(kubeconfigs.secret.secretName).toBe('mlloop-dispatcher-kubeconfigs');
    const mount = c.volumeMounts.find((m: any) => m.name === kubeconfigs.name).mountPath;
    // The clusters file validates, and names kubeconfigs inside the mounted Secret.
    const [cm] = byKind(objs, 'ConfigMap');
    const file = join(tempDir(), 'clusters.yaml');
    writeFileSync(file, cm.data['clusters.yaml']);
    const config = await readClusters(file);
    expect(config.policy.maxStateAgeMs).toBe(60_000);
    for (const cl of config.clusters) expect(cl.kubeconfig!.path!.startsWith(`${mount}/`)).toBe(true);
    const redis = await load('redis.yaml');
    const [svc] = byKind(redis, 'Service');
    expect(byKind(redis, 'StatefulSet')).toHaveLength(1);
    expect(url).toBe(`redis://${svc.metadata.name}.${svc.metadata.namespace}.svc.cluster.local:${svc.spec.ports[0].port}/0`);
  });
});
