import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { tempDir } from './tmp.js';
import { tool } from './tools.js';

/**
 * Real Prometheus and Alertmanager (Debian's packages) for integration tests: each started on a free
 * loopback port with its own temp data folder and config file, awaited until /-/ready answers, and
 * stopped (SIGTERM, then SIGKILL) with its folder removed. Share one instance per test file.
 */


/** A free TCP port on 127.0.0.1 (bound and released; good enough for tests on one machine). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface Service {
  name: string;
  url: string;
  port: number;
  dir: string;
  child: ChildProcess;
  /** The last lines the process wrote (for failure messages). */
  output(): string;
  stop(): Promise<void>;
}

export interface StartOptions {
  name: string;
  command: string;
  /** Arguments; `{port}` and `{dir}` are replaced. */
  args: string[];
  /** Path polled until it answers 200, e.g. /-/ready. */
  readyPath: string;
  /** Files written into the service's temp folder before start (name → content). */
  files?: Record<string, string>;
  timeoutMs?: number;
}

/** Starts any HTTP service on a free loopback port and waits until it is ready. */
export async function startService(o: StartOptions): Promise<Service> {
  const dir = tempDir(o.name);
  for (const [name, text] of Object.entries(o.files ?? {})) writeFileSync(join(dir, name), text);
  const port = await freePort();
  const args = o.args.map((a) => a.replace(/\{port\}/g, String(port)).replace(/\{dir\}/g, dir));
  const child = spawn(o.command, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  const keep = (d: Buffer) => {
    tail = (tail + d.toString()).slice(-8000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let exited: number | null | undefined;
  const exit = new Promise<void>((resolve) =>
    child.on('exit', (code) => {
      exited = code;
      resolve();
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const service: Service = {
    name: o.name,
    url,
    port,
    dir,
    child,
    output: () => tail,
    async stop() {
      if (exited === undefined) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exit;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + (o.timeoutMs ?? 30_000);
  for (;;) {
    if (exited !== undefined) {
      await service.stop();
      throw new Error(`${o.name} exited with code ${exited} before it was ready:\n${tail}`);
    }
    try {
      const res = await fetch(`${url}${o.readyPath}`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return service;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) {
      await service.stop();
      throw new Error(`${o.name} was not ready after ${o.timeoutMs ?? 30_000} ms:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface PrometheusOptions {
  /** Scrape targets as host:port, each becomes its own job unless `jobs` is given. */
  targets?: string[];
  /** Full scrape_configs (YAML-compatible objects) instead of `targets`. */
  scrapeConfigs?: unknown[];
  /** Rule files: name → YAML text. */
  rules?: Record<string, string>;
  /** Alertmanager base URLs (http://127.0.0.1:PORT) to send alerts to. */
  alertmanagers?: string[];
  scrapeInterval?: string;
  evaluationInterval?: string;
}

export interface PrometheusService extends Service {
  /** Instant query; returns the API's `data` (resultType, result). */
  query(promql: string, time?: number): Promise<{ resultType: string; result: unknown }>;
  /** Active alerts (GET /api/v1/alerts): name, labels, state (pending | firing). */
  alerts(): Promise<{ labels: Record<string, string>; annotations: Record<string, string>; state: string; value: string }[]>;
  /** Waits until every scrape target is up and has been scraped at least `scrapes` times. */
  waitForTargets(scrapes?: number, timeoutMs?: number): Promise<void>;
}

export async function startPrometheus(o: PrometheusOptions = {}): Promise<PrometheusService> {
  const scrapeConfigs = o.scrapeConfigs ?? (o.targets ?? []).map((t, i) => ({ job_name: `target-${i}`, static_configs: [{ targets: [t] }] }));
  const config = {
    global: { scrape_interval: o.scrapeInterval ?? '1s', evaluation_interval: o.evaluationInterval ?? '1s', scrape_timeout: '1s' },
    rule_files: Object.keys(o.rules ?? {}),
    ...(o.alertmanagers?.length ? { alerting: { alertmanagers: [{ static_configs: [{ targets: o.alertmanagers.map((u) => new URL(u).host) }] }] } } : {}),
    scrape_configs: scrapeConfigs,
  };
  const svc = await startService({
    name: 'prometheus',
    command: tool('prometheus'),
    args: ['--config.file={dir}/prometheus.yml', '--storage.tsdb.path={dir}/data', '--web.listen-address=127.0.0.1:{port}', '--web.enable-lifecycle', '--log.level=warn'],
    readyPath: '/-/ready',
    // JSON is YAML: no YAML writer needed here.
    files: { 'prometheus.yml': JSON.stringify(config, null, 2), ...(o.rules ?? {}) },
  });
  const query: PrometheusService['query'] = async (promql, time) => {
    const params = new URLSearchParams({ query: promql, ...(time !== undefined ? { time: String(time) } : {}) });
    const res = await fetch(`${svc.url}/api/v1/query?${params}`);
    const body = (await res.json()) as { status: string; error?: string; data: { resultType: string; result: unknown } };
    if (body.status !== 'success') throw new Error(`query ${promql} failed: ${body.error}`);
    return body.data;
  };
  return {
    ...svc,
    query,
    async alerts() {
      const body = (await (await fetch(`${svc.url}/api/v1/alerts`)).json()) as { data: { alerts: Awaited<ReturnType<PrometheusService['alerts']>> } };
      return body.data.alerts;
    },
    async waitForTargets(scrapes = 2, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      const expected = scrapeConfigs.length;
      for (;;) {
        const r = (await query(`count_over_time(up[1m])`)) as { result: { value: [number, string] }[] };
        const up = (await query('up == 1')) as { result: unknown[] };
        if (expected > 0 && up.result.length >= expected && r.result.length >= expected && r.result.every((s) => Number(s.value[1]) >= scrapes)) return;
        if (Date.now() > deadline) throw new Error(`Prometheus targets not up after ${timeoutMs} ms: ${JSON.stringify(r.result)}\n${svc.output()}`);
        await new Promise((res) => setTimeout(res, 200));
      }
    },
  };
}

export interface AlertmanagerOptions {
  /** The alertmanager.yml content (JSON or YAML text, or an object). */
  config: string | Record<string, unknown>;
}

export interface AlertmanagerService extends Service {
  /** Sends alerts as Prometheus does (POST /api/v2/alerts), e.g. to test a receiver without rule evaluation. */
  postAlerts(alerts: { labels: Record<string, string>; annotations?: Record<string, string>; startsAt?: string; endsAt?: string }[]): Promise<void>;
  /** The alerts Alertmanager holds (GET /api/v2/alerts). */
  alerts(): Promise<{ labels: Record<string, string>; fingerprint: string; status: { state: string } }[]>;
}

export async function startAlertmanager(o: AlertmanagerOptions): Promise<AlertmanagerService> {
  const text = typeof o.config === 'string' ? o.config : JSON.stringify(o.config, null, 2);
  const svc = await startService({
    name: 'alertmanager',
    command: tool('alertmanager'),
    // An empty cluster address turns off clustering (which would otherwise bind 0.0.0.0:9094).
    args: ['--config.file={dir}/alertmanager.yml', '--storage.path={dir}/data', '--web.listen-address=127.0.0.1:{port}', '--cluster.listen-address=', '--log.level=warn'],
    readyPath: '/-/ready',
    files: { 'alertmanager.yml': text },
  });
  return {
    ...svc,
    async postAlerts(alerts) {
      const res = await fetch(`${svc.url}/api/v2/alerts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(alerts) });
      if (!res.ok) throw new Error(`POST /api/v2/alerts: HTTP ${res.status} ${await res.text()}`);
    },
    async alerts() {
      return (await (await fetch(`${svc.url}/api/v2/alerts`)).json()) as Awaited<ReturnType<AlertmanagerService['alerts']>>;
    },
  };
}

/** Polls `check` until it returns a value (not undefined) or the time runs out. */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
