import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { ConfigurationError } from '../errors.js';
import { readYaml } from '../io/yaml.js';
import { validateSchema, type JsonSchema } from '../schema.js';
import { parseDuration } from '../duration.js';
import { parseQuantity, cpuMillis } from './quantity.js';
import { parseGpuRequest, type GpuRequest } from './gpu.js';
import jobSchema from '../../../schemas/job.schema.json';
import clustersSchema from '../../../schemas/clusters.schema.json';

export interface Toleration {
  key?: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

/** job.yaml as written (DESIGN.md "Training job request and clusters"). */
export interface JobRequestFile {
  job_name: string;
  image: string;
  dataset?: string;
  tenant: string;
  priority?: 'high' | 'normal' | 'low';
  resources: { gpu: number; gpu_type?: string; memory?: string; cpu?: string | number };
  nodes?: number;
  entrypoint: string | string[];
  env?: Record<string, string>;
  backoff_limit?: number;
  ttl_seconds_after_finished?: number;
  tolerations?: Toleration[];
  labels?: Record<string, string>;
}

/** The request with quantities parsed. */
export interface JobRequest {
  file: JobRequestFile;
  gpu: GpuRequest;
  gpus: number;
  cpuMillis: number;
  memoryBytes: number;
  replicas: number;
}

export interface ClusterConfig {
  name: string;
  kubeconfig?: { path?: string; env?: string; context?: string };
  namespaces?: { training?: string; serving?: string };
  labels?: Record<string, string>;
  datasets?: string[];
  scheduler?: 'kubernetes' | 'volcano';
  queue?: string;
}

export interface Weights {
  free_gpus: number;
  queue_delay: number;
  locality: number;
  image_locality: number;
  failure_rate: number;
}

export interface Policy {
  weights: Weights;
  placement: 'spread' | 'pack';
  pendingTimeoutMs: number;
  maxFailovers: number;
  scheduler: 'kubernetes' | 'volcano';
  queue: string;
  requestTimeoutMs: number;
  /** With --state redis://…: older collected state excludes its cluster. */
  maxStateAgeMs: number;
  meanJobDurationMs: number;
  failureWindowMs: number;
  tolerations: Toleration[];
  priorityClasses: Partial<Record<'high' | 'normal' | 'low', string>>;
  ledger?: string;
  template?: string;
  datasetSource?: { url: string; endpoint?: string; credentials_secret?: string; pvc?: string; image?: string };
  /** `mlloop dispatch reclaim`: when a running Job counts as idle. */
  reclaim: ReclaimPolicy;
}

/** policy.reclaim in clusters.yaml (docs/dispatch.md, "Reclaiming idle GPUs"). */
export interface ReclaimPolicy {
  /** A GPU is idle while DCGM_FI_DEV_GPU_UTIL stays below this (percent, 0–100). */
  maxUtilisation: number;
  /** How long the GPUs must stay idle, and the pods silent, before a check counts it idle. */
  idleForMs: number;
  /** The second check that confirms an idle Job comes at least this long after the first. */
  confirmAfterMs: number;
  /** The longest gap between samples (and from the window's start and end) that still counts as covered. */
  maxGapMs: number;
  /** The labels of the DCGM exporter's series naming the pod (exported_namespace/exported_pod when Prometheus renamed them). */
  labels: { namespace: string; pod: string };
}

export interface ClustersFile {
  clusters: ClusterConfig[];
  tenants?: Record<string, { namespace?: string; clusters?: string[] }>;
  policy?: Record<string, unknown>;
}

export interface DispatchConfig {
  file: string;
  clusters: ClusterConfig[];
  tenants?: ClustersFile['tenants'];
  policy: Policy;
}

export const DEFAULT_WEIGHTS: Weights = { free_gpus: 1, queue_delay: 1, locality: 0.5, image_locality: 0.25, failure_rate: 1 };
/** The toleration NVIDIA's device plugin and the cloud GPU node pools expect on GPU pods. */
export const DEFAULT_TOLERATIONS: Toleration[] = [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }];

export async function readJobRequest(file: string): Promise<JobRequest> {
  const data = validateSchema<JobRequestFile>(await readYaml(file, 'job request'), jobSchema as JsonSchema, file);
  const gpu = parseGpuRequest(data.resources.gpu_type);
  if (!gpu) {
    throw new ConfigurationError(`"${data.resources.gpu_type}" names no GPU type`, { file, path: '$.resources.gpu_type', hint: 'write a product like A100, A100-80GB, H100, L4, L40S, T4, "A100 MIG 1g.5gb", or any' });
  }
  checkContainerInput(data, file);
  const memoryBytes = data.resources.memory === undefined ? 0 : parseQuantity(data.resources.memory);
  const cpu = data.resources.cpu === undefined ? 0 : cpuMillis(data.resources.cpu);
  if (!Number.isFinite(memoryBytes)) throw new ConfigurationError(`memory "${data.resources.memory}" is not a quantity`, { file, path: '$.resources.memory', hint: 'write it like 32Gi' });
  if (!Number.isFinite(cpu)) throw new ConfigurationError(`cpu "${data.resources.cpu}" is not a quantity`, { file, path: '$.resources.cpu', hint: 'write it like "4" or 500m' });
  return { file: data, gpu, gpus: data.resources.gpu, cpuMillis: cpu, memoryBytes, replicas: data.nodes ?? 1 };
}

const CONTROL = /[\u0000-\u001f\u007f\u2028\u2029]/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The image and env go into the Job's container as written: refused here, before any Job is rendered. */
function checkContainerInput(data: JobRequestFile, file: string): void {
  const shown = (v: string) => JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v);
  if (CONTROL.test(data.image) || /\s/.test(data.image)) {
    throw new ConfigurationError(`image ${shown(data.image)} contains white space, a newline or another control character`, { file, path: '$.image', hint: 'write one image reference, e.g. registry.example.com/ocr-trainer:v3' });
  }
  for (const [name, value] of Object.entries(data.env ?? {})) {
    const at = `$.env[${JSON.stringify(name)}]`;
    if (!ENV_NAME.test(name)) throw new ConfigurationError(`env name ${shown(name)} is not a C identifier`, { file, path: at, hint: 'use letters, digits and "_", not starting with a digit (e.g. LEARNING_RATE)' });
    if (CONTROL.test(value)) throw new ConfigurationError(`env ${name} contains a newline or another control character`, { file, path: at, hint: 'pass one line; put longer text in a file the job reads' });
  }
}

function duration(value: unknown, fallback: string, file: string, at: string): number {
  try {
    return parseDuration(String(value ?? fallback), at);
  } catch (e) {
    throw new ConfigurationError((e as Error).message.split('\n')[0]!, { file, path: at, hint: 'write it like 90s, 10m or 1h30m' });
  }
}

function reclaimPolicy(r: Record<string, any>, file: string): ReclaimPolicy {
  const at = '$.policy.reclaim';
  const idleForMs = duration(r.idle_for, '15m', file, `${at}.idle_for`);
  const confirmAfterMs = duration(r.confirm_after, '5m', file, `${at}.confirm_after`);
  const maxGapMs = duration(r.max_gap, '2m', file, `${at}.max_gap`);
  // The pods' logs are asked for with sinceSeconds, a whole number of seconds.
  if (idleForMs < 1000) throw new ConfigurationError(`idle_for ${r.idle_for} is shorter than one second`, { file, path: `${at}.idle_for`, hint: 'write how long a Job must stay idle, e.g. 15m' });
  if (confirmAfterMs <= 0) throw new ConfigurationError('confirm_after must be longer than 0', { file, path: `${at}.confirm_after`, hint: 'two checks this far apart must both find a Job idle, e.g. 5m' });
  if (maxGapMs <= 0 || maxGapMs >= idleForMs) {
    throw new ConfigurationError(`max_gap ${r.max_gap ?? '2m'} must be longer than 0 and shorter than idle_for (${r.idle_for ?? '15m'})`, { file, path: `${at}.max_gap`, hint: 'a few scrape intervals of the DCGM exporter, e.g. 2m' });
  }
  const maxUtilisation = r.max_utilisation ?? 10;
  if (typeof maxUtilisation !== 'number' || !(maxUtilisation > 0 && maxUtilisation <= 100)) {
    throw new ConfigurationError(`max_utilisation ${JSON.stringify(maxUtilisation)} is not a percentage above 0`, { file, path: `${at}.max_utilisation`, hint: 'write the GPU utilisation (percent) below which a GPU counts as idle, e.g. 10' });
  }
  const labels = { namespace: r.labels?.namespace ?? 'namespace', pod: r.labels?.pod ?? 'pod' };
  return { maxUtilisation, idleForMs, confirmAfterMs, maxGapMs, labels };
}

export async function readClusters(file: string): Promise<DispatchConfig> {
  const data = validateSchema<ClustersFile>(await readYaml(file, 'clusters file'), clustersSchema as JsonSchema, file);
  const seen = new Set<string>();
  data.clusters.forEach((c, i) => {
    if (seen.has(c.name)) throw new ConfigurationError(`cluster "${c.name}" is listed twice`, { file, path: `$.clusters[${i}].name`, hint: 'give every cluster its own name' });
    seen.add(c.name);
  });
  for (const [tenant, t] of Object.entries(data.tenants ?? {})) {
    (t.clusters ?? []).forEach((c, i) => {
      if (!seen.has(c)) throw new ConfigurationError(`tenant "${tenant}" allows unknown cluster "${c}"`, { file, path: `$.tenants.${tenant}.clusters[${i}]`, hint: `clusters are: ${[...seen].join(', ')}` });
    });
  }
  const p = (data.policy ?? {}) as Record<string, any>;
  const dir = path.dirname(path.resolve(file));
  const policy: Policy = {
    weights: { ...DEFAULT_WEIGHTS, ...(p.weights ?? {}) },
    placement: p.placement ?? 'spread',
    pendingTimeoutMs: duration(p.pending_timeout, '10m', file, '$.policy.pending_timeout'),
    maxFailovers: p.max_failovers ?? 2,
    scheduler: p.scheduler ?? 'kubernetes',
    queue: p.queue ?? 'default',
    requestTimeoutMs: duration(p.request_timeout, '20s', file, '$.policy.request_timeout'),
    maxStateAgeMs: duration(p.max_state_age, '60s', file, '$.policy.max_state_age'),
    meanJobDurationMs: duration(p.mean_job_duration, '1h', file, '$.policy.mean_job_duration'),
    failureWindowMs: duration(p.failure_window, '30d', file, '$.policy.failure_window'),
    tolerations: p.tolerations ?? DEFAULT_TOLERATIONS,
    priorityClasses: p.priority_classes ?? {},
    ...(p.ledger ? { ledger: path.resolve(dir, p.ledger) } : {}),
    ...(p.template ? { template: path.resolve(dir, p.template) } : {}),
    ...(p.dataset_source ? { datasetSource: p.dataset_source } : {}),
    reclaim: reclaimPolicy(p.reclaim ?? {}, file),
  };
  return { file, clusters: data.clusters, tenants: data.tenants, policy };
}

/** The tenant's namespace and allowed clusters; an unknown tenant is refused when tenants are listed. */
export function tenantOf(config: DispatchConfig, tenant: string, requestFile: string): { namespace?: string; clusters?: string[] } {
  if (!config.tenants) return {};
  const t = config.tenants[tenant];
  if (!t) {
    throw new ConfigurationError(`tenant "${tenant}" is not in ${config.file}`, {
      file: requestFile,
      path: '$.tenant',
      hint: `use one of ${Object.keys(config.tenants).join(', ') || '(none)'} or add the tenant under tenants: in ${config.file}`,
    });
  }
  return t;
}

export function namespaceFor(config: DispatchConfig, cluster: ClusterConfig, tenant: string, requestFile: string): string {
  return tenantOf(config, tenant, requestFile).namespace ?? cluster.namespaces?.training ?? 'default';
}

export function schedulerFor(config: DispatchConfig, cluster: ClusterConfig): 'kubernetes' | 'volcano' {
  return cluster.scheduler ?? config.policy.scheduler;
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The dispatch id: a hash of the request (and an optional salt such as a CI run id), so submitting
 * the same request again names the same Job and is recognised as the same dispatch.
 */
export function dispatchId(request: JobRequestFile, salt = ''): string {
  return createHash('sha256').update(canonical(request)).update('\0').update(salt).digest('hex').slice(0, 16);
}

/** A DNS-1123 Job name from the job name and the dispatch id (`ocr-v3.0` → `ocr-v3-0-1a2b3c4d`). */
export function jobObjectName(jobName: string, id: string): string {
  const base = jobName
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 50)
    .replace(/-$/, '');
  return `${base || 'job'}-${id.slice(0, 8)}`;
}
