/**
 * Kubernetes resource quantities (`7910m`, `87425380Ki`, `32Gi`, `1e3`, `"2"`) as numbers: CPU in
 * millicores, everything else in base units (bytes, devices). Follows apimachinery's resource.Quantity
 * suffixes; an unparsable quantity yields NaN so callers can fail closed.
 */
const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
// <signedNumber><suffix>; suffix: binary SI, decimal SI, or an exponent "e"/"E" <signedNumber> (apimachinery).
const QUANTITY = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:(Ki|Mi|Gi|Ti|Pi|Ei)|([numkMGTPE]?)|[eE]([+-]?\d+))$/;

/** Parses a quantity exactly as written (no surrounding space); anything else, or a non-finite number, is NaN. */
export function parseQuantity(value: unknown): number {
  if (typeof value === 'number') return Number.isFinite(value) ? value : Number.NaN;
  if (typeof value !== 'string') return Number.NaN;
  const m = QUANTITY.exec(value);
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  if (m[2]) return n * BINARY[m[2]]!;
  if (m[4] !== undefined) return n * 10 ** Number(m[4]);
  return n * DECIMAL[m[3] ?? '']!;
}

/** The most devices of one GPU resource a node may report; more is a broken device plugin or a forged state. */
export const MAX_GPUS_PER_NODE = 1024;
const MAX_CPU_MILLIS = 100_000 * 1000;
const MAX_MEMORY_BYTES = 2 ** 60;
const MAX_PODS_PER_NODE = 100_000;

/**
 * Why a node's allocatable value cannot be trusted, or undefined when it is a quantity within bounds:
 * GPUs whole and ≤ MAX_GPUS_PER_NODE, CPU ≤ 100,000 cores, memory ≤ 1Ei, pods whole and ≤ 100,000.
 */
export function allocatableProblem(resource: string, value: unknown, kind: 'gpu' | 'cpu' | 'memory' | 'pods'): string | undefined {
  const shown = JSON.stringify(value)?.slice(0, 40);
  const n = kind === 'cpu' ? parseQuantity(value) * 1000 : parseQuantity(value);
  if (!Number.isFinite(n)) return `allocatable ${resource} ${shown} is not a Kubernetes quantity`;
  if (n < 0) return `allocatable ${resource} ${shown} is negative`;
  if ((kind === 'gpu' || kind === 'pods') && !Number.isInteger(n)) return `allocatable ${resource} ${shown} is not a whole number`;
  const max = kind === 'gpu' ? MAX_GPUS_PER_NODE : kind === 'cpu' ? MAX_CPU_MILLIS : kind === 'memory' ? MAX_MEMORY_BYTES : MAX_PODS_PER_NODE;
  if (n > max) return `allocatable ${resource} ${shown} is more than ${kind === 'gpu' ? `${max} GPUs` : kind === 'cpu' ? '100000 CPUs' : kind === 'memory' ? '1Ei' : `${max} pods`} per node`;
  return undefined;
}

/** CPU quantity in whole millicores (`"4"` → 4000, `7910m` → 7910). */
export function cpuMillis(value: unknown): number {
  return Math.round(parseQuantity(value) * 1000);
}

/** Formats bytes the way people read memory: `32Gi`, `1.5Gi`, `512Mi`. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  for (const [unit, size] of [['Ti', 2 ** 40], ['Gi', 2 ** 30], ['Mi', 2 ** 20], ['Ki', 2 ** 10]] as const) {
    if (Math.abs(bytes) >= size) return `${Number((bytes / size).toFixed(1))}${unit}`;
  }
  return `${bytes}`;
}

export function formatMillis(millis: number): string {
  return millis % 1000 === 0 ? String(millis / 1000) : `${millis}m`;
}
