import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigurationError } from '../errors.js';
import { readConfigText } from '../io/read.js';
import { parseYaml } from '../io/yaml.js';
import { stringify } from 'yaml';
import type { JobRequest, Policy, Toleration } from './config.js';
import type { ClusterExplain } from './decide.js';

/**
 * Renders the Job mlloop submits from a template (manifests/training/job.yaml or volcano-job.yaml, or
 * policy.template): the template's fields are kept, the job-specific ones are set here.
 */
export type Manifest = Record<string, any>;

export const DISPATCH_ID_LABEL = 'mlloop.io/dispatch-id';
export const JOB_NAME_LABEL = 'mlloop.io/job-name';

/** Finds a file shipped with mlloop (next to dist/ in a package or an action checkout, or in the source tree). */
export function shippedFile(rel: string): string | undefined {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = path.join(dir, rel);
    if (existsSync(p)) return p;
    dir = path.dirname(dir);
  }
  return undefined;
}

export async function loadTemplate(policy: Policy, scheduler: 'kubernetes' | 'volcano'): Promise<{ file: string; object: Manifest }> {
  const file = policy.template ?? shippedFile(`manifests/training/${scheduler === 'volcano' ? 'volcano-job.yaml' : 'job.yaml'}`);
  if (!file) throw new ConfigurationError(`the bundled ${scheduler} Job template is missing`, { hint: 'reinstall mlloop, or set policy.template in clusters.yaml' });
  const object = parseYaml(await readConfigText(file, 'Job template'), file) as Manifest;
  const want = scheduler === 'volcano' ? 'batch.volcano.sh/v1alpha1' : 'batch/v1';
  if (!object || object.kind !== 'Job' || object.apiVersion !== want) {
    throw new ConfigurationError(`the template is not a ${want} Job`, { file, path: '$.apiVersion', hint: `policy.scheduler is ${scheduler}: use a ${want} Job template` });
  }
  return { file, object };
}

/** A label value (≤63 chars, alphanumerics, `-_.`, alphanumeric at both ends). */
export function labelValue(text: string): string {
  return text
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
}

function mergeTolerations(...lists: (readonly Toleration[] | undefined)[]): Toleration[] {
  const out: Toleration[] = [];
  const seen = new Set<string>();
  for (const list of lists) {
    for (const t of list ?? []) {
      const k = JSON.stringify([t.key, t.operator, t.value, t.effect]);
      if (!seen.has(k)) {
        seen.add(k);
        out.push({ ...t });
      }
    }
  }
  return out;
}

function setEnv(list: { name: string; value?: string }[] | undefined, name: string, value: string | undefined): { name: string; value?: string }[] {
  const out = (list ?? []).filter((e) => e.name !== name);
  if (value !== undefined) out.push({ name, value });
  return out;
}

export interface RenderInput {
  template: Manifest;
  scheduler: 'kubernetes' | 'volcano';
  request: JobRequest;
  id: string;
  name: string;
  namespace: string;
  target: ClusterExplain;
  policy: Policy;
  queue: string;
}

export function renderJob(input: RenderInput): Manifest {
  const { request, policy } = input;
  const file = request.file;
  const job: Manifest = structuredClone(input.template);
  const labels: Record<string, string> = {
    ...(job.metadata?.labels ?? {}),
    ...(file.labels ?? {}),
    'app.kubernetes.io/managed-by': 'mlloop',
    [DISPATCH_ID_LABEL]: input.id,
    [JOB_NAME_LABEL]: labelValue(file.job_name),
    'mlloop.io/tenant': labelValue(file.tenant),
  };
  job.metadata = {
    ...(job.metadata ?? {}),
    name: input.name,
    namespace: input.namespace,
    labels,
    annotations: {
      ...(job.metadata?.annotations ?? {}),
      'mlloop.io/job-name': file.job_name,
      'mlloop.io/gpu-type': request.gpu.text,
      ...(file.dataset ? { 'mlloop.io/dataset': file.dataset } : {}),
    },
  };
  const retries = file.backoff_limit ?? 3;
  const ttl = file.ttl_seconds_after_finished ?? job.spec?.ttlSecondsAfterFinished ?? 86400;
  let pod: Manifest;
  if (input.scheduler === 'volcano') {
    job.spec ??= {};
    job.spec.queue = input.queue;
    job.spec.minAvailable = request.replicas;
    job.spec.maxRetry = retries;
    job.spec.ttlSecondsAfterFinished = ttl;
    const tasks: Manifest[] = job.spec.tasks ?? [];
    let task = tasks.find((t) => t.name === 'trainer') ?? tasks[0];
    if (!task) tasks.push((task = { name: 'trainer', template: { spec: { containers: [{ name: 'trainer' }] } } }));
    job.spec.tasks = [task];
    task.replicas = request.replicas;
    task.minAvailable = request.replicas;
    task.template ??= {};
    pod = task.template;
  } else {
    job.spec ??= {};
    job.spec.backoffLimit = retries;
    job.spec.ttlSecondsAfterFinished = ttl;
    if (request.replicas > 1) {
      job.spec.completions = request.replicas;
      job.spec.parallelism = request.replicas;
      job.spec.completionMode = 'Indexed';
    }
    job.spec.template ??= {};
    pod = job.spec.template;
  }
  pod.metadata = { ...(pod.metadata ?? {}), labels: { ...(pod.metadata?.labels ?? {}), ...labels } };
  const spec: Manifest = (pod.spec ??= {});
  spec.restartPolicy ??= 'Never';
  const priorityClass = policy.priorityClasses[file.priority ?? 'normal'];
  if (priorityClass) spec.priorityClassName = priorityClass;
  spec.tolerations = mergeTolerations(spec.tolerations, policy.tolerations, file.tolerations);

  // Pin the GPU product the decision counted on.
  const product = input.target.product;
  const pinned = request.gpu.family || request.gpu.mig;
  if (pinned && product && product.values.length === 1) {
    spec.nodeSelector = { ...(spec.nodeSelector ?? {}), [product.label]: product.values[0]! };
  } else if (pinned && product && product.values.length > 1) {
    spec.affinity = {
      ...(spec.affinity ?? {}),
      nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: product.label, operator: 'In', values: product.values }] }] } },
    };
  }

  const containers: Manifest[] = (spec.containers ??= []);
  let trainer = containers.find((c) => c.name === 'trainer') ?? containers[0];
  if (!trainer) containers.push((trainer = { name: 'trainer' }));
  trainer.image = file.image;
  if (Array.isArray(file.entrypoint)) {
    trainer.command = [...file.entrypoint];
    delete trainer.args;
  } else {
    trainer.command = ['/bin/sh', '-c'];
    trainer.args = [file.entrypoint];
  }
  const gpuResource = input.target.gpu_resource ?? (request.gpu.mig ? `nvidia.com/mig-${request.gpu.mig}` : 'nvidia.com/gpu');
  const requests: Record<string, string> = { ...(trainer.resources?.requests ?? {}) };
  const limits: Record<string, string> = { ...(trainer.resources?.limits ?? {}) };
  if (file.resources.cpu !== undefined) requests.cpu = String(file.resources.cpu);
  if (file.resources.memory !== undefined) {
    requests.memory = file.resources.memory;
    limits.memory = file.resources.memory;
  }
  requests[gpuResource] = String(request.gpus);
  limits[gpuResource] = String(request.gpus);
  trainer.resources = { ...(trainer.resources ?? {}), requests, limits };
  let env = trainer.env as { name: string; value?: string }[] | undefined;
  for (const [k, v] of Object.entries(file.env ?? {})) env = setEnv(env, k, v);

  // The dataset: fetched by the init container into the cache volume, mounted read-only at /data.
  const initContainers: Manifest[] = spec.initContainers ?? [];
  const fetchIdx = initContainers.findIndex((c) => c.name === 'dataset-fetch');
  const source = policy.datasetSource;
  if (file.dataset) {
    env = setEnv(env, 'DATA_DIR', `/data/${file.dataset}`);
    const cacheVolume = (spec.volumes ?? []).find((v: Manifest) => v.name === 'dataset-cache');
    if (cacheVolume?.persistentVolumeClaim && source?.pvc) cacheVolume.persistentVolumeClaim.claimName = source.pvc;
    if (fetchIdx >= 0 && source) {
      const fetch = initContainers[fetchIdx]!;
      const url = source.url.includes('{dataset}') ? source.url.replaceAll('{dataset}', file.dataset) : `${source.url.replace(/\/?$/, '/')}${file.dataset}/`;
      let fenv = setEnv(fetch.env, 'DATASET', file.dataset);
      fenv = setEnv(fenv, 'DATASET_URL', url);
      fenv = setEnv(fenv, 'S3_ENDPOINT', source.endpoint);
      fetch.env = fenv;
      if (source.image) fetch.image = source.image;
      if (source.credentials_secret) fetch.envFrom = [{ secretRef: { name: source.credentials_secret } }];
    } else if (fetchIdx >= 0) initContainers.splice(fetchIdx, 1);
  } else {
    env = setEnv(env, 'DATA_DIR', undefined);
    if (fetchIdx >= 0) initContainers.splice(fetchIdx, 1);
    spec.volumes = (spec.volumes ?? []).filter((v: Manifest) => v.name !== 'dataset-cache');
    trainer.volumeMounts = (trainer.volumeMounts ?? []).filter((m: Manifest) => m.name !== 'dataset-cache');
    if (!trainer.volumeMounts.length) delete trainer.volumeMounts;
    if (!spec.volumes.length) delete spec.volumes;
  }
  if (initContainers.length) spec.initContainers = initContainers;
  else delete spec.initContainers;
  if (env && env.length) trainer.env = env;
  else delete trainer.env;
  return job;
}

/** The Job as YAML, as `kubectl apply -f` takes it. */
export function manifestYaml(job: Manifest): string {
  return stringify(job, { lineWidth: 0 });
}
