import { describe, expect, it } from 'vitest';
import { a100Dgx, cloneNode, gpuPod, t4, type Obj } from './fixtures.js';
import { crossCheckAllPaths, decideFor } from './helpers.js';

/**
 * The Redis state stores nodes the decision cannot tell apart as one group (count, first list position, image
 * counts, names in name order). Clusters of many alike nodes — some busy, cordoned, not Ready, holding the image,
 * names out of order — decided in-process, from a snapshot, live and from Redis give the same decision, explanation
 * and placement (pack and spread, several replicas).
 */
crossCheckAllPaths();

function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function cluster(seed: number, prefix: string, count: number): { nodes: Obj[]; pods: Obj[] } {
  const r = rng(seed);
  const nodes: Obj[] = [];
  const pods: Obj[] = [];
  for (let i = 0; i < count; i++) {
    // Names not in list order: the placement's tie-break is by name, the explanation's firsts by list order.
    const name = `${prefix}-${String(Math.floor(r() * 1000)).padStart(3, '0')}-${i}`;
    const shape = r() < 0.7 ? t4() : a100Dgx();
    nodes.push(
      cloneNode(shape, name, (n) => {
        const x = r();
        if (x < 0.1) n.spec = { ...(n.spec ?? {}), unschedulable: true };
        else if (x < 0.15) n.status.conditions = (n.status.conditions ?? []).map((c: Obj) => (c.type === 'Ready' ? { ...c, status: 'False' } : c));
        if (r() < 0.3) n.status.images = [{ names: ['registry.example.com/ocr-trainer:latest'], sizeBytes: 1 }];
      }),
    );
    const busy = Math.floor(r() * 3);
    for (let k = 0; k < busy; k++) pods.push(gpuPod(name, 1, `${name}-p${k}`));
  }
  return { nodes, pods };
}

describe('Redis groups decide as the nodes they stand for', () => {
  for (const seed of [1, 2, 3, 4]) {
    it(`seed ${seed}: ${seed % 2 ? 'spread' : 'pack'}, ${seed + 1} replicas`, async () => {
      const clusters = { one: cluster(seed, 'a', 40), two: cluster(seed + 100, 'b', 30) };
      const d = await decideFor(clusters, { job: { nodes: seed + 1, resources: { gpu: 1, gpu_type: 'T4', cpu: '1', memory: '1Gi' } }, policy: { placement: seed % 2 ? 'spread' : 'pack' } });
      // The cross-check (all paths) ran inside decideFor; the case is only useful when something fits.
      expect(d.explain.some((e) => e.placement.length > 0)).toBe(true);
    });
  }
});
