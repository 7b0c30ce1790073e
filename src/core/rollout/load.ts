import { httpFetch } from '../http/proxy.js';
/**
 * Traffic for an analysis to judge (`analyze --load RPS`): POSTs the request file to the target at a
 * steady rate (open loop, so a slow canary does not slow the load down and hide its latency), with a
 * bound on requests in flight.
 */
export interface LoadOptions {
  url: string;
  body: string;
  rps: number;
  maxInFlight?: number;
  timeoutMs?: number;
  headers?: Record<string, string>;
}

export interface LoadReport {
  url: string;
  rps: number;
  sent: number;
  /** Requests not sent because maxInFlight were still waiting (the target is slower than the load). */
  skipped: number;
  codes: Record<string, number>;
  network_errors: number;
  latency_ms: { p50: number | null; p95: number | null; max: number | null };
  duration_s: number;
}

export interface Load {
  stop(): Promise<LoadReport>;
}

function quantile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return Math.round((sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo)) * 10) / 10;
}

export function startLoad(o: LoadOptions): Load {
  const started = performance.now();
  const maxInFlight = o.maxInFlight ?? Math.max(16, Math.ceil(o.rps));
  const codes: Record<string, number> = {};
  const latencies: number[] = [];
  let sent = 0;
  let skipped = 0;
  let networkErrors = 0;
  const inFlight = new Set<Promise<void>>();
  const one = async () => {
    const t0 = performance.now();
    try {
      const res = await httpFetch(o.url, { method: 'POST', headers: { 'content-type': 'application/json', ...o.headers }, body: o.body, signal: AbortSignal.timeout(o.timeoutMs ?? 10_000) });
      await res.arrayBuffer();
      codes[res.status] = (codes[res.status] ?? 0) + 1;
      latencies.push(performance.now() - t0);
    } catch {
      networkErrors++;
    }
  };
  const periodMs = 1000 / o.rps;
  let next = performance.now();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const tick = () => {
    if (stopped) return;
    const now = performance.now();
    // Catch up on sends that are due (timers are coarse), never more than a second's worth at once.
    let due = Math.min(Math.ceil(o.rps), Math.floor((now - next) / periodMs) + 1);
    while (due-- > 0) {
      next += periodMs;
      if (inFlight.size >= maxInFlight) {
        skipped++;
        continue;
      }
      sent++;
      const p = one().finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    if (next < now - 1000) next = now;
    timer = setTimeout(tick, Math.max(1, next - performance.now()));
  };
  tick();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await Promise.all(inFlight);
      const sorted = [...latencies].sort((a, b) => a - b);
      return {
        url: o.url,
        rps: o.rps,
        sent,
        skipped,
        codes,
        network_errors: networkErrors,
        latency_ms: { p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95), max: sorted.length ? Math.round(sorted.at(-1)! * 10) / 10 : null },
        duration_s: Math.round((performance.now() - started) / 100) / 10,
      };
    },
  };
}
