import { describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { ClusterStateBuilder, effectiveRequest, nodeState, normalizeImage, type K8sPod } from '../../src/core/dispatch/state.js';
import { listItems } from '../../src/core/dispatch/json-items.js';
import { parseQuantity, cpuMillis } from '../../src/core/dispatch/quantity.js';
import { a100Mig, a16, gpuPod, h100Mig, l40sTainted, podFraction, podGpuRequest, podMig, t4 } from './fixtures.js';

describe('quantities', () => {
  it.each([
    ['7910m', 7.91],
    ['87425380Ki', 87425380 * 1024],
    ['32Gi', 32 * 2 ** 30],
    ['1e3', 1000],
    ['500M', 5e8],
    ['2', 2],
  ])('%s', (q, v) => expect(parseQuantity(q)).toBeCloseTo(v));
  it('fails closed on nonsense', () => expect(parseQuantity('lots')).toBeNaN());
  it('CPU in millicores', () => expect(cpuMillis('4')).toBe(4000));
});

describe('node state from real nodes', () => {
  it('A100 MIG node: MIG profiles are their own pools, whole GPUs 0', () => {
    const s = nodeState(a100Mig())!;
    expect(s.ready).toBe(true);
    expect(s.pools.map((p) => [p.resource, p.allocatable, p.type.mig])).toEqual([
      ['nvidia.com/mig-1g.5gb', 2, '1g.5gb'],
      ['nvidia.com/mig-2g.10gb', 1, '2g.10gb'],
    ]);
    expect(s.cpu.allocatable).toBe(12000);
    expect(s.productLabel).toEqual({ key: 'nvidia.com/gpu.product', value: 'NVIDIA-A100-SXM4-40GB' });
  });

  it('T4 and A16 vGPU nodes: whole GPUs', () => {
    expect(nodeState(t4())!.pools).toMatchObject([{ resource: 'nvidia.com/gpu', allocatable: 2, type: { family: 'T4' } }]);
    expect(nodeState(a16())!.pools).toMatchObject([{ resource: 'nvidia.com/gpu', allocatable: 1, type: { family: 'A16', vgpu: '4Q' } }]);
  });

  it('H100 in MIG mixed mode exposes its three profiles', () => {
    expect(nodeState(h100Mig())!.pools.map((p) => `${p.allocatable}× ${p.type.family} ${p.type.mig}`).sort()).toEqual(['1× H100 2g.20gb', '1× H100 3g.40gb', '2× H100 1g.10gb']);
  });

  it('L40S node from EKS: taint and allocatable from kubectl describe', () => {
    const s = nodeState(l40sTainted())!;
    expect(s.taints).toEqual([{ key: 'nvidia.com/gpu', effect: 'NoSchedule' }]);
    expect(s.cpu.allocatable).toBe(7910);
    expect(s.pools).toMatchObject([{ allocatable: 1, type: { family: 'L40S' } }]);
  });

  it('a node that is not Ready or is cordoned says so', () => {
    const n = t4();
    n.status.conditions = n.status.conditions.map((c: { type: string }) => (c.type === 'Ready' ? { ...c, status: 'False' } : c));
    n.spec.unschedulable = true;
    const s = nodeState(n)!;
    expect([s.ready, s.unschedulable]).toEqual([false, true]);
  });
});

describe('pods folded into node usage', () => {
  it('counts GPU requests of non-terminal pods per node, so fragmentation is visible', () => {
    const b = new ClusterStateBuilder('c');
    b.addNode(t4());
    b.addPod(gpuPod('qa-mig-worker-gpu-1', 1, 'a'));
    b.addPod(gpuPod('qa-mig-worker-gpu-1', 1, 'done', 'nvidia.com/gpu', 'Succeeded'));
    b.addPod(gpuPod('qa-mig-worker-gpu-1', 1, 'failed', 'nvidia.com/gpu', 'Failed'));
    b.addPod(gpuPod(undefined, 4, 'waiting', 'nvidia.com/gpu', 'Pending'));
    const s = b.build();
    expect(s.nodes[0]!.pools[0]!.used).toBe(1);
    expect(s.pendingGpu.get('nvidia.com/gpu')).toBe(4);
    expect([s.podCount, s.pendingPods]).toEqual([2, 1]);
  });

  it('real run:ai pods: the reservation pod holds the GPU, the fraction and MIG-by-annotation pods request none', () => {
    expect(effectiveRequest(podGpuRequest(), 'nvidia.com/gpu')).toBe(1);
    expect(effectiveRequest(podFraction(), 'nvidia.com/gpu')).toBe(0);
    expect(effectiveRequest(podMig(), 'nvidia.com/mig-1g.5gb')).toBe(0);
    const b = new ClusterStateBuilder('c');
    b.addNode(a100Mig());
    b.addPod(podMig());
    expect(b.build().nodes[0]!.pools.find((p) => p.resource === 'nvidia.com/mig-1g.5gb')!.used).toBe(0);
    expect(b.build().nodes[0]!.cpu.used).toBe(500);
  });

  it('uses the effective request rule: max(largest init container, sum of containers) plus sidecars', () => {
    const pod: K8sPod = {
      spec: {
        initContainers: [
          { resources: { requests: { 'nvidia.com/gpu': '4', cpu: '2' } } },
          { restartPolicy: 'Always', resources: { requests: { cpu: '500m' } } },
          { resources: { requests: { cpu: '3' } } },
        ],
        containers: [{ resources: { limits: { 'nvidia.com/gpu': '2' }, requests: { cpu: '1' } } }, { resources: { requests: { cpu: '1' } } }],
        overhead: { cpu: '100m' },
      },
    };
    expect(effectiveRequest(pod, 'nvidia.com/gpu')).toBe(4);
    // init: max(2, 0.5, 3+0.5) = 3.5; containers 2 + sidecar 0.5 = 2.5; + overhead 0.1
    expect(effectiveRequest(pod, 'cpu')).toBe(3600);
  });
});

describe('streaming kubectl lists', () => {
  it('yields every item whatever the chunk boundaries', async () => {
    const list = { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' }, items: [t4(), a16(), { kind: 'Node', metadata: { name: 'x"}{][' } }] };
    const text = JSON.stringify(list, null, 1);
    for (const size of [1, 7, 64, 4096]) {
      const chunks: string[] = [];
      for (let i = 0; i < text.length; i += size) chunks.push(text.slice(i, i + size));
      const got: any[] = [];
      for await (const item of listItems(Readable.from(chunks))) got.push(item);
      expect(got.map((n) => n.metadata.name)).toEqual(['qa-mig-worker-gpu-1', 'nori', 'x"}{][']);
    }
  });

  it('refuses a truncated file', async () => {
    const text = JSON.stringify({ items: [t4()] }).slice(0, 500);
    await expect(async () => {
      for await (const _ of listItems(Readable.from([text]), 'nodes.json')) void _;
    }).rejects.toThrow(/nodes.json: not a complete JSON document/);
  });
});

describe('image references', () => {
  it.each([
    ['nginx', 'nginx:latest'],
    ['docker.io/library/nginx:1.27', 'nginx:1.27'],
    ['registry.example.com:5000/ocr-trainer', 'registry.example.com:5000/ocr-trainer:latest'],
    ['registry.example.com/ocr-trainer:v3@sha256:abc', 'registry.example.com/ocr-trainer:v3'],
  ])('%s', (a, b) => expect(normalizeImage(a)).toBe(b));
});
