/**
 * Kubernetes resource quantities (`7910m`, `87425380Ki`, `32Gi`, `1e3`, `"2"`) as numbers: CPU in
 * millicores, everything else in base units (bytes, devices). Follows apimachinery's resource.Quantity
 * suffixes; an unparsable quantity yields NaN so callers can fail closed.
 */
const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
const QUANTITY = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:(Ki|Mi|Gi|Ti|Pi|Ei)|([numkMGTPE]?)|[eE]([+-]?\d+))$/;

export function parseQuantity(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return Number.NaN;
  const m = QUANTITY.exec(value.trim());
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  if (m[2]) return n * BINARY[m[2]]!;
  if (m[4] !== undefined) return n * 10 ** Number(m[4]);
  return n * DECIMAL[m[3] ?? '']!;
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
