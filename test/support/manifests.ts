import { parseAllDocuments } from 'yaml';

/**
 * Validates Kubernetes objects with kubernetes-models (core API, Argo Rollouts, ArgoCD, Prometheus
 * Operator): the class for apiVersion/kind is looked up and its JSON-Schema `validate()` is run.
 * Unknown kinds are an error, so a typo in apiVersion cannot pass silently.
 */
type ModelClass = new (data: unknown) => { validate(): void };

const GROUP_MODULES: Record<string, () => Promise<Record<string, unknown>>> = {
  'argoproj.io/v1alpha1': async () => ({
    ...(await import('@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1')),
    ...(await import('@kubernetes-models/argo-cd/argoproj.io/v1alpha1')),
  }),
  'monitoring.coreos.com/v1': () => import('@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1'),
};

async function modelFor(apiVersion: string, kind: string): Promise<ModelClass> {
  let mod: Record<string, unknown>;
  if (GROUP_MODULES[apiVersion]) mod = await GROUP_MODULES[apiVersion]!();
  else {
    // kubernetes-models lays out core as `v1`, groups as `<group>/<version>`.
    const spec = apiVersion.includes('/') ? `kubernetes-models/${apiVersion}` : `kubernetes-models/${apiVersion}`;
    mod = (await import(/* @vite-ignore */ spec)) as Record<string, unknown>;
  }
  const cls = mod[kind] as ModelClass | undefined;
  if (!cls) throw new Error(`no kubernetes-models class for ${apiVersion} ${kind}`);
  return cls;
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}

/** Validates one object; throws with the object's kind/name and the schema error. */
export async function validateObject(obj: K8sObject): Promise<void> {
  if (!obj || typeof obj !== 'object' || !obj.apiVersion || !obj.kind) throw new Error(`not a Kubernetes object: ${JSON.stringify(obj).slice(0, 200)}`);
  if (obj.kind === 'List' && Array.isArray(obj.items)) {
    for (const item of obj.items as K8sObject[]) await validateObject(item);
    return;
  }
  const Model = await modelFor(obj.apiVersion, obj.kind);
  try {
    new Model(obj).validate();
  } catch (e) {
    throw new Error(`${obj.kind}/${obj.metadata?.name ?? '?'} (${obj.apiVersion}) is invalid: ${(e as Error).message}`);
  }
}

/** Parses multi-document YAML and validates every object in it; returns the objects. */
export async function validateYamlManifests(text: string): Promise<K8sObject[]> {
  const docs = parseAllDocuments(text);
  const out: K8sObject[] = [];
  for (const d of docs) {
    if (d.errors.length) throw new Error(`YAML error: ${d.errors[0]!.message}`);
    const obj = d.toJS() as K8sObject | null;
    if (obj === null) continue;
    await validateObject(obj);
    out.push(obj);
  }
  return out;
}
