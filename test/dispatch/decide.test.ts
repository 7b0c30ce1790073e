import { describe, expect, it } from 'vitest';
import { a100Dgx, a100Mig, cloneNode, gpuPod, h100, l40sTainted, t4 } from './fixtures.js';
import { decideFor } from './helpers.js';

const t4s = (prefix: string, n: number, used: number[] = []) => {
  const nodes = Array.from({ length: n }, (_, i) => cloneNode(t4(), `${prefix}-${i}`));
  const pods = used.flatMap((u, i) => (u ? [gpuPod(`${prefix}-${i}`, u, `${prefix}-load-${i}`)] : []));
  return { nodes, pods };
};

describe('filter', () => {
  it('GPU type mismatch: an L4 job fits neither the L40S nor the T4 cluster, and says what each has', async () => {
    const d = await decideFor({ l40s: { nodes: [l40sTainted()] }, t4: t4s('t4', 2) }, { job: { resources: { gpu: 1, gpu_type: 'L4' } } });
    expect(d.cluster).toBeNull();
    const l40s = d.explain.find((e) => e.cluster === 'l40s')!;
    expect(l40s.checks.gpu_type).toEqual({ pass: false, detail: 'no L4 nodes (cluster has 1× L40S-45GB)' });
    expect(d.explain.find((e) => e.cluster === 't4')!.reasons).toEqual(['gpu_type: no L4 nodes (cluster has 4× T4-15GB)']);
  });

  it('L40S fits the tainted EKS node because GPU pods tolerate nvidia.com/gpu by default', async () => {
    const d = await decideFor({ l40s: { nodes: [l40sTainted()] }, t4: t4s('t4', 2) }, { job: { resources: { gpu: 1, gpu_type: 'L40S', cpu: '4', memory: '32Gi' } } });
    expect(d.cluster).toBe('l40s');
    expect(d.explain.find((e) => e.cluster === 'l40s')!.product).toEqual({ label: 'nvidia.com/gpu.product', values: ['NVIDIA-L40S'] });
  });

  it('untolerated taint: without the toleration the L40S node is excluded, with a reason', async () => {
    const d = await decideFor({ l40s: { nodes: [l40sTainted()] } }, { job: { resources: { gpu: 1, gpu_type: 'L40S', cpu: '2', memory: '8Gi' } }, policy: { tolerations: [] } });
    expect(d.cluster).toBeNull();
    expect(d.explain[0]!.checks.schedulable).toEqual({ pass: false, detail: 'no L40S node the job may use: 1 tainted nvidia.com/gpu:NoSchedule (not tolerated)' });
    const ok = await decideFor({ l40s: { nodes: [l40sTainted()] } }, { job: { resources: { gpu: 1, gpu_type: 'L40S', cpu: '2', memory: '8Gi' }, tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }] }, policy: { tolerations: [] } });
    expect(ok.cluster).toBe('l40s');
  });

  it('fragmentation: 3 free T4s spread over 3 nodes cannot hold a 2-GPU job', async () => {
    const d = await decideFor({ frag: t4s('f', 3, [1, 1, 1]), whole: t4s('w', 1) }, { job: { resources: { gpu: 2, gpu_type: 'T4', cpu: '4', memory: '8Gi' } } });
    const frag = d.explain.find((e) => e.cluster === 'frag')!;
    expect(frag.fits).toBe(false);
    expect(frag.gpus).toEqual({ free: 3, total: 6, largest_free_on_one_node: 1 });
    expect(frag.checks.capacity.detail).toBe('3 free T4 across 3 nodes, at most 1 on one node; needs 2 on one node (fragmented)');
    expect(d.cluster).toBe('whole');
  });

  it('CPU and memory count too: free GPUs on a node without the memory do not fit', async () => {
    const d = await decideFor({ c: t4s('t', 1) }, { job: { resources: { gpu: 1, gpu_type: 'T4', cpu: '4', memory: '512Gi' } } });
    expect(d.explain[0]!.checks.capacity.detail).toBe('1 node has 1 free T4 but not the CPU/memory (1× T4, 4 CPU, 512Gi)');
  });

  it('permission denied: the SelfSubjectAccessReview answer excludes the cluster', async () => {
    const d = await decideFor({ denied: t4s('d', 2), allowed: t4s('a', 1) }, { job: { resources: { gpu: 1, gpu_type: 'T4' } }, access: { denied: false } });
    expect(d.cluster).toBe('allowed');
    const denied = d.explain.find((e) => e.cluster === 'denied')!;
    expect(denied.fits).toBe(false);
    expect(denied.reasons).toContain('permission: may not create jobs.batch in team-ocr');
  });

  it("the tenant's allowed clusters: others are excluded", async () => {
    const d = await decideFor({ a: t4s('a', 4), b: t4s('b', 1) }, { job: { resources: { gpu: 1, gpu_type: 'T4' } }, tenants: { u123: { namespace: 'team-ocr', clusters: ['b'] } } });
    expect(d.cluster).toBe('b');
    expect(d.explain.find((e) => e.cluster === 'a')!.reasons[0]).toBe('tenant: tenant u123 may use b');
    expect(d.namespace).toBe('team-ocr');
  });

  it('MIG request: A100 MIG 1g.5gb fits the MIG node and asks for the MIG resource', async () => {
    const d = await decideFor({ mig: { nodes: [a100Mig()] }, t4: t4s('t', 2) }, { job: { resources: { gpu: 2, gpu_type: 'A100 MIG 1g.5gb', cpu: '2', memory: '8Gi' } } });
    expect(d.cluster).toBe('mig');
    const e = d.explain.find((x) => x.cluster === 'mig')!;
    expect(e.gpu_resource).toBe('nvidia.com/mig-1g.5gb');
    expect(e.gpus).toEqual({ free: 2, total: 2, largest_free_on_one_node: 2 });
    const whole = await decideFor({ mig: { nodes: [a100Mig()] } }, { job: { resources: { gpu: 1, gpu_type: 'A100', cpu: '2', memory: '8Gi' } } });
    expect(whole.explain[0]!.checks.gpu_type.detail).toMatch(/^no A100 nodes \(cluster has 2× A100 MIG 1g.5gb, 1× A100 MIG 2g.10gb\)$/);
    const tooMany = await decideFor({ mig: { nodes: [a100Mig()] } }, { job: { resources: { gpu: 3, gpu_type: 'mig-1g.5gb', cpu: '1', memory: '1Gi' } } });
    expect(tooMany.explain[0]!.checks.capacity.pass).toBe(false);
  });

  it('MIG single strategy: the slices are nvidia.com/gpu and the product names the profile', async () => {
    const single = cloneNode(a100Mig(), 'single', (n) => {
      n.metadata.labels['nvidia.com/mig.strategy'] = 'single';
      n.metadata.labels['nvidia.com/gpu.product'] = 'NVIDIA-A100-SXM4-40GB-MIG-1g.5gb';
      n.status.allocatable = { ...n.status.allocatable, 'nvidia.com/gpu': '7', 'nvidia.com/mig-1g.5gb': '0', 'nvidia.com/mig-2g.10gb': '0' };
    });
    const d = await decideFor({ c: { nodes: [single] } }, { job: { resources: { gpu: 3, gpu_type: 'A100 MIG 1g.5gb', cpu: '1', memory: '1Gi' } } });
    expect(d.cluster).toBe('c');
    expect(d.explain[0]!.gpu_resource).toBe('nvidia.com/gpu');
    expect(d.explain[0]!.product).toEqual({ label: 'nvidia.com/gpu.product', values: ['NVIDIA-A100-SXM4-40GB-MIG-1g.5gb'] });
    const whole = await decideFor({ c: { nodes: [single] } }, { job: { resources: { gpu: 1, gpu_type: 'A100', cpu: '1', memory: '1Gi' } } });
    expect(whole.cluster).toBeNull();
  });

  it('GKE nodes without GFD are matched and pinned by their accelerator label', async () => {
    const gke = cloneNode(t4(), 'gke-l4', (n) => {
      for (const k of Object.keys(n.metadata.labels)) if (k.startsWith('nvidia.com/')) delete n.metadata.labels[k];
      n.metadata.labels['cloud.google.com/gke-accelerator'] = 'nvidia-l4';
    });
    const d = await decideFor({ gke: { nodes: [gke] } }, { job: { resources: { gpu: 1, gpu_type: 'L4', cpu: '1', memory: '1Gi' } } });
    expect(d.cluster).toBe('gke');
    expect(d.explain[0]!.product).toEqual({ label: 'cloud.google.com/gke-accelerator', values: ['nvidia-l4'] });
  });

  it('A100-80GB does not take a 40 GB A100; H100 80GB matches the GFD memory', async () => {
    const d = await decideFor({ dgx: { nodes: [a100Dgx()] }, h100: { nodes: [h100()] } }, { job: { resources: { gpu: 1, gpu_type: 'A100-80GB', cpu: '1', memory: '1Gi' } } });
    expect(d.cluster).toBeNull();
    const h = await decideFor({ dgx: { nodes: [a100Dgx()] }, h100: { nodes: [h100()] } }, { job: { resources: { gpu: 1, gpu_type: 'H100-80GB', cpu: '1', memory: '1Gi' } } });
    expect(h.cluster).toBe('h100');
  });

  it('multi-node jobs need enough nodes', async () => {
    const job = { nodes: 3, resources: { gpu: 2, gpu_type: 'T4', cpu: '8', memory: '64Gi' } };
    const no = await decideFor({ c: t4s('t', 3, [0, 0, 1]) }, { job });
    expect(no.explain[0]!.checks.capacity.detail).toBe('room for 2 of 3 replicas (2× T4, 8 CPU, 64Gi each)');
    const yes = await decideFor({ c: t4s('t', 4, [0, 0, 1, 0]) }, { job });
    expect(yes.cluster).toBe('c');
    expect(yes.explain[0]!.placement).toEqual(['t-0', 't-1', 't-3']);
  });

  it('nodes that are not Ready or cordoned are not used', async () => {
    const down = cloneNode(t4(), 'down', (n) => (n.status.conditions = n.status.conditions.map((c: any) => (c.type === 'Ready' ? { ...c, status: 'Unknown' } : c))));
    const cordoned = cloneNode(t4(), 'cordoned', (n) => (n.spec.unschedulable = true));
    const d = await decideFor({ c: { nodes: [down, cordoned] } }, { job: { resources: { gpu: 1, gpu_type: 'T4' } } });
    expect(d.explain[0]!.checks.schedulable.detail).toBe('no T4 node the job may use: 1 not Ready, 1 cordoned');
  });
});

describe('score', () => {
  const job = { resources: { gpu: 1, gpu_type: 'T4', cpu: '2', memory: '8Gi' } };

  it('data locality decides a tie', async () => {
    const tie = await decideFor({ a: t4s('a', 2), b: t4s('b', 2) }, { job });
    expect(tie.explain[0]!.score).toBe(tie.explain[1]!.score);
    expect(tie.cluster).toBe('a'); // deterministic: clusters.yaml order
    const d = await decideFor({ a: t4s('a', 2), b: { ...t4s('b', 2), datasets: ['invoice-clean-2025Q1'] } }, { job });
    expect(d.cluster).toBe('b');
    expect(d.explain.find((e) => e.cluster === 'b')!.terms.locality).toBe(1);
    expect(d.explain.find((e) => e.cluster === 'a')!.terms.locality).toBe(0);
  });

  it('failure history from the ledger shifts the choice', async () => {
    const failures = new Map([['a', { attempts: 3, failures: 3 }]]);
    const d = await decideFor({ a: t4s('a', 2), b: t4s('b', 2) }, { job, failures });
    expect(d.cluster).toBe('b');
    expect(d.explain.find((e) => e.cluster === 'a')!.terms.failure_rate).toBe(0.25);
    expect(d.ranking).toEqual(['b', 'a']);
  });

  it('spread prefers the most GPUs left, pack the fewest', async () => {
    const clusters = { big: t4s('big', 2), small: t4s('small', 1) };
    expect((await decideFor(clusters, { job })).cluster).toBe('big');
    expect((await decideFor(clusters, { job, policy: { placement: 'pack' } })).cluster).toBe('small');
  });

  it('pending GPU demand ahead of the job predicts a queue delay', async () => {
    const busy = t4s('busy', 2);
    busy.pods.push(gpuPod(undefined, 8, 'queued', 'nvidia.com/gpu', 'Pending'));
    const d = await decideFor({ busy, idle: t4s('idle', 2) }, { job });
    expect(d.cluster).toBe('idle');
    const e = d.explain.find((x) => x.cluster === 'busy')!;
    expect(e.predicted_wait_minutes).toBe(75); // (8 + 1 − 4) / 4 GPUs × 60 min
    expect(e.terms.queue_delay).toBeCloseTo(1 / 2.25, 6);
  });

  it('image locality counts the nodes that already hold the image', async () => {
    const withImage = cloneNode(t4(), 'img', (n) => (n.status.images = [{ names: ['registry.example.com/ocr-trainer:latest'], sizeBytes: 1 }]));
    const d = await decideFor({ cold: t4s('cold', 1), warm: { nodes: [withImage] } }, { job });
    expect(d.explain.find((e) => e.cluster === 'warm')!.terms.image_locality).toBe(1);
    expect(d.cluster).toBe('warm');
  });

  it('explains every cluster: checks and terms', async () => {
    const d = await decideFor({ a: t4s('a', 2), b: { nodes: [l40sTainted()] } }, { job });
    expect(d.explain.map((e) => [e.cluster, e.fits])).toEqual([
      ['a', true],
      ['b', false],
    ]);
    expect(Object.keys(d.explain[0]!.terms).sort()).toEqual(['failure_rate', 'free_gpus', 'image_locality', 'locality', 'queue_delay']);
    expect(d.explain[0]!.checks.capacity.pass).toBe(true);
    expect(d.explain[1]!.terms).toEqual({});
  });
});
