import { ConfigurationError } from './errors.js';

/** Parses `15m`, `90s`, `1h30m`, `500ms`, `2d`, or a bare number of seconds, into milliseconds. */
export function parseDuration(text: string, what: string): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  let total = 0;
  let consumed = 0;
  for (const m of t.matchAll(re)) {
    if (m.index !== consumed) break;
    total += Number(m[1]) * units[m[2]!]!;
    consumed += m[0].length;
  }
  if (consumed !== t.length || t.length === 0) {
    throw new ConfigurationError(`${what}: "${text}" is not a duration`, { hint: 'write it like 90s, 15m, 1h30m or 500ms' });
  }
  return total;
}
