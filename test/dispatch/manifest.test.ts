import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadTemplate, renderJob, labelValue } from '../../src/core/dispatch/manifest.js';
import { readClusters, readJobRequest, dispatchId, jobObjectName } from '../../src/core/dispatch/config.js';
import { validate } from '../support/k8s-server.js';
import { validateYamlManifests } from '../support/manifests.js';
import { ROOT } from '../support/paths.js';
import { a100Mig, cloneNode, t4, e2eJob } from './fixtures.js';
import { decideFor, tempDir, writeConfig, writeJob } from './helpers.js';

async function render(opts: { job?: Record<string, any>; policy?: Record<string, any>; scheduler?: 'kubernetes' | 'volcano'; nodes?: any[] } = {}) {
  const clusters = { c: { nodes: opts.nodes ?? [cloneNode(t4(), 'n0')], ...(opts.scheduler ? { scheduler: opts.scheduler } : {}) } };
  const d = await decideFor(clusters, { job: opts.job, policy: opts.policy });
  expect(d.cluster).toBe('c');
  const dir = tempDir();
  const config = await readClusters(writeConfig(dir, clusters, opts.policy));
  const request = await readJobRequest(writeJob(dir, opts.job));
  const scheduler = opts.scheduler ?? 'kubernetes';
  const { object } = await loadTemplate(config.policy, scheduler);
  const id = dispatchId(request.file);
  return renderJob({ template: object, scheduler, request, id, name: jobObjectName(request.file.job_name, id), namespace: d.namespace!, target: d.explain[0]!, policy: config.policy, queue: 'gpu-queue' });
}

describe('the shipped templates', () => {
  it('are valid Kubernetes objects', async () => {
    for (const f of ['job.yaml', 'dataset-cache-pvc.yaml', 'dispatcher-rbac.yaml']) await validateYamlManifests(readFileSync(join(ROOT, 'manifests/training', f), 'utf8'));
    await validate(parse(readFileSync(join(ROOT, 'manifests/training/volcano-job.yaml'), 'utf8')));
  });
});

describe('rendering the batch/v1 Job', () => {
  const source = { url: 's3://ml-datasets/{dataset}/', endpoint: 'http://minio.storage:9000', credentials_secret: 'minio-creds', pvc: 'dataset-cache' };

  it('has GPU limits, tolerations, the product nodeSelector, retries, TTL and the dispatch id', async () => {
    const job = await render({ job: { resources: { gpu: 2, gpu_type: 'T4', cpu: '4', memory: '32Gi' }, backoff_limit: 5 }, policy: { dataset_source: source } });
    await validate(job);
    expect(job.metadata.name).toMatch(/^ocr-v3-0-[0-9a-f]{8}$/);
    expect(job.metadata.namespace).toBe('team-ocr');
    expect(job.metadata.labels['mlloop.io/dispatch-id']).toMatch(/^[0-9a-f]{16}$/);
    expect(job.spec.template.metadata.labels['mlloop.io/dispatch-id']).toBe(job.metadata.labels['mlloop.io/dispatch-id']);
    expect(job.spec.backoffLimit).toBe(5);
    expect(job.spec.ttlSecondsAfterFinished).toBe(86400);
    const pod = job.spec.template.spec;
    expect(pod.restartPolicy).toBe('Never');
    expect(pod.nodeSelector).toEqual({ 'nvidia.com/gpu.product': 'Tesla-T4' });
    expect(pod.tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
    const trainer = pod.containers.find((c: any) => c.name === 'trainer');
    expect(trainer.image).toBe('registry.example.com/ocr-trainer:latest');
    expect(trainer.args).toEqual(['python train.py --epochs 30 --lr 1e-4']);
    expect(trainer.resources).toEqual({ requests: { cpu: '4', memory: '32Gi', 'nvidia.com/gpu': '2' }, limits: { memory: '32Gi', 'nvidia.com/gpu': '2' } });
    expect(trainer.env).toContainEqual({ name: 'DATA_DIR', value: '/data/invoice-clean-2025Q1' });
  });

  it('mounts the dataset: an init container fetches the shards from object storage into the cache PVC', async () => {
    const job = await render({ job: { resources: { gpu: 1, gpu_type: 'T4' } }, policy: { dataset_source: source } });
    const pod = job.spec.template.spec;
    const fetch = pod.initContainers.find((c: any) => c.name === 'dataset-fetch');
    expect(fetch.env).toEqual(
      expect.arrayContaining([
        { name: 'DATASET', value: 'invoice-clean-2025Q1' },
        { name: 'DATASET_URL', value: 's3://ml-datasets/invoice-clean-2025Q1/' },
        { name: 'S3_ENDPOINT', value: 'http://minio.storage:9000' },
      ]),
    );
    expect(fetch.envFrom).toEqual([{ secretRef: { name: 'minio-creds' } }]);
    expect(fetch.args[0]).toContain('.mlloop-complete');
    expect(pod.volumes).toEqual([{ name: 'dataset-cache', persistentVolumeClaim: { claimName: 'dataset-cache' } }]);
  });

  it('maps the job priority to the policy\'s PriorityClass', async () => {
    const job = await render({ job: { resources: { gpu: 1, gpu_type: 'T4' } }, policy: { priority_classes: { high: 'training-high', low: 'training-low' } } });
    await validate(job);
    expect(job.spec.template.spec.priorityClassName).toBe('training-high');
    const normal = await render({ job: { priority: 'normal', resources: { gpu: 1, gpu_type: 'T4' } }, policy: { priority_classes: { high: 'training-high' } } });
    expect(normal.spec.template.spec.priorityClassName).toBeUndefined();
  });

  it('without a dataset there is no init container and no cache volume', async () => {
    const job = await render({ job: { dataset: undefined, resources: { gpu: 1, gpu_type: 'T4' } } });
    await validate(job);
    const pod = job.spec.template.spec;
    expect(pod.initContainers).toBeUndefined();
    expect(pod.volumes).toBeUndefined();
    expect(pod.containers[0].volumeMounts).toBeUndefined();
  });

  it('a MIG job asks for the MIG resource', async () => {
    const job = await render({ job: { resources: { gpu: 1, gpu_type: 'A100 MIG 1g.5gb', cpu: '1', memory: '4Gi' } }, nodes: [a100Mig()] });
    await validate(job);
    const trainer = job.spec.template.spec.containers[0];
    expect(trainer.resources.limits).toEqual({ memory: '4Gi', 'nvidia.com/mig-1g.5gb': '1' });
    expect(job.spec.template.spec.nodeSelector).toEqual({ 'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-40GB' });
  });

  it('several products of the family become a node affinity; multi-node is an Indexed Job', async () => {
    const a = cloneNode(t4(), 'a');
    const b = cloneNode(t4(), 'b', (n) => (n.metadata.labels['nvidia.com/gpu.product'] = 'NVIDIA-T4-PCIE-16GB'));
    const job = await render({ job: { nodes: 2, entrypoint: ['torchrun', 'train.py'], resources: { gpu: 2, gpu_type: 'T4', cpu: '4', memory: '16Gi' } }, nodes: [a, b] });
    await validate(job);
    expect(job.spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions).toEqual([
      { key: 'nvidia.com/gpu.product', operator: 'In', values: ['NVIDIA-T4-PCIE-16GB', 'Tesla-T4'] },
    ]);
    expect([job.spec.completions, job.spec.parallelism, job.spec.completionMode]).toEqual([2, 2, 'Indexed']);
    expect(job.spec.template.spec.containers[0].command).toEqual(['torchrun', 'train.py']);
  });

  it('asks for what the real device-plugin e2e Job asks for', async () => {
    const ref = e2eJob();
    const job = await render({ job: { resources: { gpu: 1, gpu_type: 'T4' } } });
    expect(job.spec.template.spec.tolerations).toEqual(ref.spec.template.spec.tolerations);
    expect(job.spec.template.spec.containers[0].resources.limits['nvidia.com/gpu']).toBe(ref.spec.template.spec.containers[0].resources.limits['nvidia.com/gpu']);
    expect(job.spec.template.spec.restartPolicy).toBe(ref.spec.template.spec.restartPolicy);
  });
});

describe('rendering the Volcano Job', () => {
  it('gangs the replicas (minAvailable), sets queue, maxRetry and policies, and passes the CRD schema', async () => {
    const job = await render({ scheduler: 'volcano', job: { nodes: 2, backoff_limit: 2, resources: { gpu: 1, gpu_type: 'T4', cpu: '2', memory: '8Gi' } }, nodes: [cloneNode(t4(), 'a'), cloneNode(t4(), 'b')] });
    await validate(job);
    expect(job.apiVersion).toBe('batch.volcano.sh/v1alpha1');
    expect(job.spec.minAvailable).toBe(2);
    expect(job.spec.queue).toBe('gpu-queue');
    expect(job.spec.maxRetry).toBe(2);
    expect(job.spec.schedulerName).toBe('volcano');
    expect(job.spec.policies).toContainEqual({ event: 'PodEvicted', action: 'RestartJob' });
    expect(job.spec.tasks).toHaveLength(1);
    expect(job.spec.tasks[0].replicas).toBe(2);
    expect(job.spec.tasks[0].template.metadata.labels['mlloop.io/dispatch-id']).toBe(job.metadata.labels['mlloop.io/dispatch-id']);
  });

  it('the test server would refuse an invalid Volcano Job (the check can fail)', async () => {
    const job = await render({ scheduler: 'volcano', job: { resources: { gpu: 1, gpu_type: 'T4' } } });
    job.spec.queue = 'Not A Valid Queue';
    await expect(validate(job)).rejects.toThrow(/queue/);
    delete job.spec.queue;
    job.spec.tasks[0].unknownField = 1;
    await expect(validate(job)).rejects.toThrow(/unknownField/);
  });
});

describe('names', () => {
  it('the dispatch id depends on the request only, and on the key', () => {
    const req = { job_name: 'a', image: 'i', tenant: 't', resources: { gpu: 1 }, entrypoint: 'x' };
    expect(dispatchId(req)).toBe(dispatchId({ entrypoint: 'x', resources: { gpu: 1 }, tenant: 't', image: 'i', job_name: 'a' }));
    expect(dispatchId(req, 'run-1')).not.toBe(dispatchId(req));
    expect(jobObjectName('OCR_v3.0 final!!', 'abcdef0123456789')).toBe('ocr-v3-0-final-abcdef01');
    expect(jobObjectName('x'.repeat(100), 'abcdef0123456789').length).toBeLessThanOrEqual(63);
    expect(labelValue('-team/ocr@prod-')).toBe('team-ocr-prod');
  });
});
