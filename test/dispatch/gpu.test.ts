import { describe, expect, it } from 'vitest';
import { formatGpuType, gpuMatches, nodeGpuType, normalizeProduct, parseGpuRequest } from '../../src/core/dispatch/gpu.js';
import { a100Dgx, a100Mig, a16, h100, h100Mig, l40sTainted, t4 } from './fixtures.js';

describe('GPU product names from real node labels', () => {
  it.each([
    ['A100 MIG node (GCP, GFD)', a100Mig, 'nvidia.com/gpu.product', 'NVIDIA-A100-SXM4-40GB', 'A100-40GB'],
    ['T4 node (GCP)', t4, 'nvidia.com/gpu.product', 'Tesla-T4', 'T4-15GB'],
    ['A16 vGPU node (RKE2)', a16, 'nvidia.com/gpu.product', 'NVIDIA-A16-4Q', 'A16 vGPU 4Q'],
    ['H100 node (labels)', h100, 'nvidia.com/gpu.product', 'NVIDIA-H100-80GB-HBM3', 'H100-80GB'],
    ['DGX A100, old GFD format without NVIDIA-', a100Dgx, 'nvidia.com/gpu.product', 'A100-SXM4-40GB', 'A100-40GB'],
    ['L40S node (EKS, describe text)', l40sTainted, 'nvidia.com/gpu.product', 'NVIDIA-L40S', 'L40S-45GB'],
  ])('%s', (_name, load, label, value, formatted) => {
    const found = nodeGpuType(load().metadata.labels)!;
    expect(found.label).toBe(label);
    expect(found.value).toBe(value);
    expect(formatGpuType(found.type)).toBe(formatted);
  });

  it('reads the MIG profile products GFD publishes per profile', () => {
    const labels = h100Mig().metadata.labels as Record<string, string>;
    expect(normalizeProduct(labels['nvidia.com/mig-1g.10gb.product']!)).toEqual({ family: 'H100', memoryGb: 10, mig: '1g.10gb' });
    expect(normalizeProduct(a100Mig().metadata.labels['nvidia.com/mig-2g.10gb.product'])).toEqual({ family: 'A100', memoryGb: 10, mig: '2g.10gb' });
  });

  it.each([
    ['nvidia-tesla-a100', 'A100'],
    ['nvidia-a100-80gb', 'A100-80GB'],
    ['nvidia-l4', 'L4-24GB'],
    ['nvidia-h100-mega-80gb', 'H100-80GB'],
    ['nvidia-tesla-t4', 'T4-16GB'],
    ['nvidia-tesla-v100', 'V100-16GB'],
    ['NVIDIA-L40', 'L40-48GB'],
    ['NVIDIA-A10G', 'A10G-24GB'],
    ['NVIDIA-H100-80GB-HBM3-MIG-3g.40gb', 'H100 MIG 3g.40gb'],
    ['l40s', 'L40S-48GB'],
    ['NVIDIA-GeForce-RTX-3090', 'RTX3090'],
    ['NVIDIA-RTX-A6000', 'A6000'],
  ])('GKE/EKS/other spelling %s → %s', (product, formatted) => {
    expect(formatGpuType(normalizeProduct(product)!)).toBe(formatted);
  });

  it('uses GKE and EKS accelerator labels when GFD is absent', () => {
    expect(nodeGpuType({ 'cloud.google.com/gke-accelerator': 'nvidia-l4' })).toMatchObject({ label: 'cloud.google.com/gke-accelerator', type: { family: 'L4' } });
    expect(nodeGpuType({ 'k8s.amazonaws.com/accelerator': 'nvidia-tesla-v100' })).toMatchObject({ type: { family: 'V100' } });
    expect(nodeGpuType({ 'eks.amazonaws.com/instance-gpu-name': 'l40s', 'eks.amazonaws.com/instance-gpu-memory': '46068' })).toMatchObject({ type: { family: 'L40S', memoryGb: 45 } });
    expect(nodeGpuType({ 'kubernetes.io/os': 'linux' })).toBeUndefined();
  });
});

describe('matching what a job asks for', () => {
  const type = (p: string) => normalizeProduct(p)!;
  it('never confuses L4, L40 and L40S', () => {
    const l4 = parseGpuRequest('L4')!;
    const l40 = parseGpuRequest('L40')!;
    const l40s = parseGpuRequest('L40S')!;
    expect(gpuMatches(l4, type('NVIDIA-L4'))).toBe(true);
    expect(gpuMatches(l4, type('NVIDIA-L40'))).toBe(false);
    expect(gpuMatches(l4, type('NVIDIA-L40S'))).toBe(false);
    expect(gpuMatches(l40, type('NVIDIA-L40S'))).toBe(false);
    expect(gpuMatches(l40s, type('NVIDIA-L40S'))).toBe(true);
    expect(gpuMatches(l40s, type('NVIDIA-L40'))).toBe(false);
  });

  it('matches the memory variant only when the job names it', () => {
    const a100 = parseGpuRequest('A100')!;
    const a100_80 = parseGpuRequest('A100-80GB')!;
    expect(gpuMatches(a100, type('NVIDIA-A100-SXM4-40GB'))).toBe(true);
    expect(gpuMatches(a100, type('NVIDIA-A100-SXM4-80GB'))).toBe(true);
    expect(gpuMatches(a100_80, type('NVIDIA-A100-SXM4-40GB'))).toBe(false);
    expect(gpuMatches(a100_80, type('NVIDIA-A100-SXM4-80GB'))).toBe(true);
    expect(gpuMatches(parseGpuRequest('H100 80GB')!, nodeGpuType(h100().metadata.labels)!.type)).toBe(true);
  });

  it('keeps whole GPUs and MIG slices apart', () => {
    const slice = type('NVIDIA-A100-SXM4-40GB-MIG-1g.5gb');
    expect(gpuMatches(parseGpuRequest('A100')!, slice)).toBe(false);
    expect(gpuMatches(parseGpuRequest('A100 MIG 1g.5gb')!, slice)).toBe(true);
    expect(gpuMatches(parseGpuRequest('mig-1g.5gb')!, slice)).toBe(true);
    expect(gpuMatches(parseGpuRequest('A100 MIG 2g.10gb')!, slice)).toBe(false);
    expect(gpuMatches(parseGpuRequest('H100 MIG 1g.5gb')!, slice)).toBe(false);
    expect(gpuMatches(parseGpuRequest('A100 MIG 1g.5gb')!, type('NVIDIA-A100-SXM4-40GB'))).toBe(false);
  });

  it('treats any (or no type) as every whole GPU', () => {
    expect(gpuMatches(parseGpuRequest(undefined)!, type('Tesla-T4'))).toBe(true);
    expect(gpuMatches(parseGpuRequest('any')!, type('NVIDIA-H100-80GB-HBM3'))).toBe(true);
  });
});
