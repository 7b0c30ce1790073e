/**
 * GPU product names as clusters publish them (NVIDIA GPU feature discovery `nvidia.com/gpu.product`,
 * GKE `cloud.google.com/gke-accelerator`, EKS `k8s.amazonaws.com/accelerator`, Karpenter/EKS Auto Mode
 * `instance-gpu-name`) normalised to one comparable type: family (A100, H100, L4, L40, L40S, T4…),
 * memory variant, MIG profile or vGPU profile. Families compare exactly, so L4 ≠ L40 ≠ L40S.
 */
export interface GpuType {
  family: string;
  /** Memory of one device (or of the MIG slice / vGPU profile) in GB, when known. */
  memoryGb?: number;
  /** MIG profile, e.g. `1g.5gb`. */
  mig?: string;
  /** vGPU profile, e.g. `4Q`. */
  vgpu?: string;
}

export interface GpuRequest {
  /** undefined: any family. */
  family?: string;
  memoryGb?: number;
  mig?: string;
  text: string;
}

const VENDOR_WORDS = new Set(['NVIDIA', 'TESLA', 'GEFORCE', 'QUADRO', 'TITAN']);
const FAMILY = /^[A-Z]{1,2}\d{1,4}[A-Z]{0,2}$/;
const NOT_FAMILY = /^(SXM\d*|PCIE\d*|HBM\d*[A-Z]?|NVL\d*|MEGA|MIG|DGX\w*)$/;
const MIG_SUFFIX = /(?:^|[-_\s])MIG[-_\s]?(\d+g\.\d+gb)$/i;
/** Memory a product implies when its name does not say (GKE and EKS accelerator names). */
const DEFAULT_MEMORY_GB: Record<string, number> = { T4: 16, L4: 24, L40: 48, L40S: 48, V100: 16, P100: 16, P4: 8, K80: 12, A10: 24, A10G: 24, A16: 16, A30: 24, A40: 48, H200: 141, B200: 180 };

const cache = new Map<string, GpuType | undefined>();

/** Normalises one product name; undefined when it names no GPU (empty, "none"). */
export function normalizeProduct(product: string): GpuType | undefined {
  const key = product.trim();
  if (cache.has(key)) return cache.get(key);
  const t = parse(key);
  if (cache.size < 10_000) cache.set(key, t);
  return t;
}

function parse(text: string): GpuType | undefined {
  if (!text || /^(none|false|unknown)$/i.test(text)) return undefined;
  let rest = text;
  let mig: string | undefined;
  const m = MIG_SUFFIX.exec(rest);
  if (m) {
    mig = m[1]!.toLowerCase();
    rest = rest.slice(0, m.index);
  }
  const tokens = rest
    .toUpperCase()
    .split(/[-_\s]+/)
    .filter((t) => t && !VENDOR_WORDS.has(t));
  let family: string | undefined;
  let memoryGb: number | undefined;
  let vgpu: string | undefined;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const mem = /^(\d+)GB$/.exec(t);
    if (mem) {
      memoryGb ??= Number(mem[1]);
      continue;
    }
    const profile = /^(\d+)([QABC])$/.exec(t);
    if (profile && family) {
      vgpu = t;
      memoryGb = Number(profile[1]);
      continue;
    }
    if (!family && t === 'RTX' && /^\d{3,4}$/.test(tokens[i + 1] ?? '')) {
      family = `RTX${tokens[++i]}`;
      continue;
    }
    if (!family && FAMILY.test(t) && !NOT_FAMILY.test(t)) family = t;
  }
  if (!family) {
    if (mig) return { family: '', mig };
    return tokens.length ? { family: tokens.join('-') } : undefined;
  }
  if (mig) memoryGb = Number(/\.(\d+)gb$/.exec(mig)![1]);
  else memoryGb ??= DEFAULT_MEMORY_GB[family];
  const out: GpuType = { family };
  if (memoryGb !== undefined) out.memoryGb = memoryGb;
  if (mig) out.mig = mig;
  if (vgpu) out.vgpu = vgpu;
  return out;
}

/**
 * Parses what a job asks for: `A100`, `A100-80GB`, `H100`, `L40S`, `A100 MIG 1g.5gb`, `mig-1g.5gb`,
 * or `any`. Returns undefined when the text names no GPU type.
 */
export function parseGpuRequest(text: string | undefined): GpuRequest | undefined {
  const t = (text ?? '').trim();
  if (!t || /^any$/i.test(t)) return { text: t || 'any' };
  const bare = /^mig[-_\s]?(\d+g\.\d+gb)$/i.exec(t);
  if (bare) return { mig: bare[1]!.toLowerCase(), text: t };
  const type = parse(t);
  if (!type || !type.family) return type?.mig ? { mig: type.mig, text: t } : undefined;
  // Memory is a constraint only when the user wrote it (A100-80GB), not when it is a family default.
  const req: GpuRequest = { family: type.family, text: t };
  if (type.mig) req.mig = type.mig;
  else if (/\d+\s*GB/i.test(t)) req.memoryGb = type.memoryGb;
  return req;
}

/** Memory variants match within 10% (GFD reports 81559 MiB for an 80 GB H100). */
export function gpuMatches(req: GpuRequest, type: GpuType): boolean {
  if (req.mig !== type.mig) return false;
  if (req.family && req.family !== type.family) return false;
  if (req.memoryGb !== undefined) {
    if (type.memoryGb === undefined) return false;
    if (Math.abs(type.memoryGb - req.memoryGb) > 0.1 * req.memoryGb) return false;
  }
  return true;
}

export function formatGpuType(t: GpuType): string {
  if (t.mig) return `${t.family ? `${t.family} ` : ''}MIG ${t.mig}`;
  if (t.vgpu) return `${t.family} vGPU ${t.vgpu}`;
  return t.memoryGb !== undefined ? `${t.family}-${t.memoryGb}GB` : t.family;
}

export function formatGpuRequest(r: GpuRequest): string {
  if (r.mig) return `${r.family ? `${r.family} ` : ''}MIG ${r.mig}`;
  if (!r.family) return 'any GPU';
  return r.memoryGb !== undefined ? `${r.family}-${r.memoryGb}GB` : r.family;
}

/** Node labels that name the GPU product, most specific first. */
export const PRODUCT_LABELS = [
  'nvidia.com/gpu.product',
  'cloud.google.com/gke-accelerator',
  'k8s.amazonaws.com/accelerator',
  'eks.amazonaws.com/instance-gpu-name',
  'karpenter.k8s.aws/instance-gpu-name',
] as const;

const withMemory = new Map<string, GpuType>();
const MEMORY_LABELS = ['nvidia.com/gpu.memory', 'eks.amazonaws.com/instance-gpu-memory', 'karpenter.k8s.aws/instance-gpu-memory'] as const;

/**
 * The GPU type of a node's whole GPUs and the label a nodeSelector can pin it with. The memory
 * label (MiB) fills in the memory when the product name does not carry it.
 */
export function nodeGpuType(labels: Record<string, string> | undefined): { type: GpuType; label: string; value: string } | undefined {
  if (!labels) return undefined;
  for (const label of PRODUCT_LABELS) {
    const value = labels[label];
    if (!value) continue;
    const base = normalizeProduct(value);
    if (!base) continue;
    let type = base;
    if (!/\d+GB/i.test(value) && !base.mig && !base.vgpu) {
      for (const ml of MEMORY_LABELS) {
        const mib = Number(labels[ml]);
        if (Number.isFinite(mib) && mib > 0) {
          // One object per product and memory, so 100,000 identical nodes share one type.
          const key = `${value}|${mib}`;
          let t = withMemory.get(key);
          if (!t) {
            t = { ...base, memoryGb: Math.round(mib / 1024) };
            if (withMemory.size < 10_000) withMemory.set(key, t);
          }
          type = t;
          break;
        }
      }
    }
    return { type, label, value };
  }
  return undefined;
}
