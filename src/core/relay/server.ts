import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../log.js';
import type { RelayConfig } from './config.js';
import {
  alertmanagerDispatches,
  BadPayload,
  checkBearer,
  checkSignature,
  DedupWindow,
  notificationDispatches,
  parseAlertmanager,
  parseNotification,
  SIGNATURE_HEADER,
  type Dispatch,
} from './events.js';

/** Sends one repository_dispatch; throws with `status` on an HTTP error. */
export type Deliver = (d: Dispatch, signal: AbortSignal) => Promise<void>;

export interface RelayStats {
  accepted: number;
  suppressed: number;
  delivered: number;
  failed: number;
  /** Accepted but not delivered when the shutdown grace ran out. */
  undelivered: number;
  unauthorized: number;
  rejected: number;
}

interface Job {
  d: Dispatch;
  acceptedAt: number;
}

class TooLarge extends Error {}

/**
 * The relay: an HTTP service that turns Alertmanager webhooks and Argo notifications into GitHub
 * repository_dispatch events. Accepted events wait in a bounded queue (full → 503, the sender retries)
 * and are delivered by a few workers with retries; on stop() it refuses new work and delivers what it
 * accepted before the grace period ends.
 */
export class Relay {
  private server?: Server;
  private readonly queue: Job[] = [];
  private active = 0;
  private draining = false;
  private readonly dedup: DedupWindow;
  private readonly stats: RelayStats = { accepted: 0, suppressed: 0, delivered: 0, failed: 0, undelivered: 0, unauthorized: 0, rejected: 0 };
  private readonly requests = new Map<string, number>();
  private readonly dispatches = new Map<string, number>();
  private attempts = 0;
  private idle?: () => void;
  private readonly stopSignal = new AbortController();
  private sweeper?: NodeJS.Timeout;
  url = '';

  constructor(
    private readonly cfg: RelayConfig,
    private readonly deliver: Deliver,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.dedup = new DedupWindow(cfg.dedupWindowMs, cfg.dedupMaxKeys);
  }

  async start(): Promise<string> {
    const server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000, keepAliveTimeout: 5_000 }, (req, res) => {
      this.handle(req, res).catch((e: unknown) => {
        this.log.warn(`relay: ${req.method} ${req.url}: ${(e as Error).message}`);
        if (!res.headersSent) this.reply(req, res, 500, { error: 'internal error' });
      });
    });
    server.maxHeadersCount = 100;
    // Bounds the memory of bodies being read: at most maxConnections × maxBodyBytes.
    server.maxConnections = this.cfg.maxConnections;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.cfg.port, this.cfg.host, () => resolve());
    });
    const addr = server.address() as { address: string; port: number };
    const host = addr.address.includes(':') ? `[${addr.address}]` : addr.address;
    this.url = `http://${host}:${addr.port}`;
    this.sweeper = setInterval(() => this.dedup.sweep(this.now()), 60_000);
    this.sweeper.unref();
    return this.url;
  }

  /** Stops accepting, delivers what was accepted (up to the grace period), closes the port. */
  async stop(): Promise<RelayStats> {
    this.draining = true;
    const closed = new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeIdleConnections();
    const drained = new Promise<void>((resolve) => {
      if (this.queue.length === 0 && this.active === 0) return resolve();
      this.idle = resolve;
    });
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'grace'>((resolve) => (timer = setTimeout(() => resolve('grace'), this.cfg.shutdownGraceMs)));
    const outcome = await Promise.race([drained.then(() => 'drained' as const), grace]);
    clearTimeout(timer);
    if (outcome === 'grace') {
      this.stats.undelivered = this.queue.length + this.active;
      this.queue.length = 0;
      this.stopSignal.abort();
    }
    if (this.sweeper) clearInterval(this.sweeper);
    this.server?.closeAllConnections();
    await closed;
    return { ...this.stats };
  }

  snapshot(): RelayStats & { queued: number; inFlight: number; dedupKeys: number } {
    return { ...this.stats, queued: this.queue.length, inFlight: this.active, dedupKeys: this.dedup.size };
  }

  private count(map: Map<string, number>, key: string, n = 1) {
    map.set(key, (map.get(key) ?? 0) + n);
  }

  private reply(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    const path = (req.url ?? '').split('?')[0]!;
    const endpoint = ['/v1/alertmanager', '/v1/notifications', '/healthz', '/readyz', '/metrics'].includes(path) ? path : 'other';
    this.count(this.requests, `${endpoint}\u0000${status}`);
    const text = typeof body === 'string' ? body : `${JSON.stringify(body)}\n`;
    res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain; version=0.0.4; charset=utf-8' : 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  /** Refuses without reading the body, and closes the connection so an unread body cannot linger. */
  private refuse(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    this.reply(req, res, status, body, { connection: 'close', ...headers });
    req.resume();
  }

  private readBody(req: IncomingMessage): Promise<Buffer> {
    const max = this.cfg.maxBodyBytes;
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > max) {
          req.removeAllListeners('data');
          req.resume();
          reject(new TooLarge());
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    if (req.method === 'GET' || req.method === 'HEAD') {
      if (path === '/healthz') return this.reply(req, res, 200, { status: 'ok' });
      if (path === '/readyz') return this.reply(req, res, this.draining ? 503 : 200, { status: this.draining ? 'draining' : 'ready' });
      if (path === '/metrics') return this.reply(req, res, 200, this.metricsText());
    }
    const source = path === '/v1/alertmanager' ? 'alertmanager' : path === '/v1/notifications' ? 'notification' : undefined;
    if (!source) return this.refuse(req, res, 404, { error: 'not found; POST /v1/alertmanager or /v1/notifications' });
    if (req.method !== 'POST') return this.refuse(req, res, 405, { error: 'use POST' }, { allow: 'POST' });
    if (this.draining) return this.refuse(req, res, 503, { error: 'shutting down; retry' }, { 'retry-after': '5' });
    const who = `${req.socket.remoteAddress ?? '?'} ${req.method} ${path}`;
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > this.cfg.maxBodyBytes) {
      this.stats.rejected++;
      this.log.warn(`relay: 413 for ${who}: ${declared} bytes declared, limit ${this.cfg.maxBodyBytes}`);
      return this.refuse(req, res, 413, { error: `request body over ${this.cfg.maxBodyBytes} bytes` });
    }
    const bearer = checkBearer(req.headers.authorization, this.cfg.bearerToken);
    if (bearer && !bearer.ok) {
      this.stats.unauthorized++;
      this.log.warn(`relay: 401 for ${who}: ${bearer.reason}`);
      return this.refuse(req, res, 401, { error: 'unauthorized' }, { 'www-authenticate': 'Bearer' });
    }
    let body: Buffer;
    try {
      body = await this.readBody(req);
    } catch (e) {
      if (!(e instanceof TooLarge)) throw e;
      this.stats.rejected++;
      this.log.warn(`relay: 413 for ${who}: body over ${this.cfg.maxBodyBytes} bytes`);
      return this.refuse(req, res, 413, { error: `request body over ${this.cfg.maxBodyBytes} bytes` });
    }
    if (!bearer) {
      const sig = req.headers[SIGNATURE_HEADER];
      const auth = checkSignature(Array.isArray(sig) ? sig[0] : sig, this.cfg.hmacSecret, body);
      if (!auth.ok) {
        this.stats.unauthorized++;
        // Never log the body of an unauthenticated request.
        this.log.warn(`relay: 401 for ${who}: ${auth.reason}`);
        return this.refuse(req, res, 401, { error: 'unauthorized' }, { 'www-authenticate': 'Bearer' });
      }
    }
    let dispatches: Dispatch[];
    try {
      let json: unknown;
      try {
        json = JSON.parse(body.toString('utf8'));
      } catch {
        throw new BadPayload('the body is not JSON');
      }
      dispatches = source === 'alertmanager' ? alertmanagerDispatches(parseAlertmanager(json), this.cfg.routes) : notificationDispatches(parseNotification(json), this.cfg.routes);
    } catch (e) {
      if (!(e instanceof BadPayload)) throw e;
      this.stats.rejected++;
      this.log.warn(`relay: 400 for ${who}: ${e.message}`);
      return this.reply(req, res, 400, { error: e.message });
    }
    if (dispatches.length === 0) {
      this.log.debug(`relay: ${who}: no route matches`);
      return this.reply(req, res, 200, { accepted: 0, suppressed: 0, routes: [] });
    }
    const now = this.now();
    const fresh: Dispatch[] = [];
    for (const d of dispatches) if (!this.dedup.has(d.dedupKey, now) && !fresh.some((f) => f.dedupKey === d.dedupKey)) fresh.push(d);
    const suppressed = dispatches.length - fresh.length;
    if (this.queue.length + fresh.length > this.cfg.maxQueue) {
      this.stats.rejected++;
      this.log.warn(`relay: 503 for ${who}: ${this.queue.length} events waiting (limit ${this.cfg.maxQueue})`);
      return this.reply(req, res, 503, { error: 'queue full; retry later' }, { 'retry-after': '5' });
    }
    for (const d of fresh) {
      this.dedup.admit(d.dedupKey, now);
      this.queue.push({ d, acceptedAt: now });
      this.log.info(`relay: accepted ${d.eventType} for ${d.owner}/${d.repo} (route ${d.route})`);
    }
    this.stats.accepted += fresh.length;
    this.stats.suppressed += suppressed;
    this.pump();
    this.reply(req, res, fresh.length ? 202 : 200, { accepted: fresh.length, suppressed, routes: dispatches.map((d) => d.route) });
  }

  private pump() {
    while (this.active < this.cfg.concurrency && this.queue.length > 0) {
      const job = this.queue.shift()!;
      this.active++;
      void this.run(job).finally(() => {
        this.active--;
        this.pump();
        if (this.queue.length === 0 && this.active === 0 && this.idle) {
          const idle = this.idle;
          this.idle = undefined;
          idle();
        }
      });
    }
  }

  private async run(job: Job): Promise<void> {
    const { d } = job;
    for (let attempt = 0; ; attempt++) {
      if (this.stopSignal.signal.aborted) return;
      this.attempts++;
      try {
        await this.deliver(d, this.stopSignal.signal);
        this.stats.delivered++;
        this.count(this.dispatches, `${d.eventType}\u0000delivered`);
        this.log.info(`relay: delivered ${d.eventType} to ${d.owner}/${d.repo} (route ${d.route}, attempt ${attempt + 1})`);
        return;
      } catch (e) {
        const status = (e as { status?: number }).status;
        const permanent = status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
        if (permanent || attempt >= this.cfg.retries || this.stopSignal.signal.aborted) {
          this.stats.failed++;
          this.count(this.dispatches, `${d.eventType}\u0000failed`);
          // Let the sender's next notification try again.
          this.dedup.forget(d.dedupKey);
          this.log.warn(`relay: could not deliver ${d.eventType} to ${d.owner}/${d.repo} after ${attempt + 1} attempt(s): ${status ? `HTTP ${status} ` : ''}${(e as Error).message}`);
          return;
        }
        const wait = Math.min(30_000, this.cfg.retryBackoffMs * 2 ** attempt) * (0.5 + Math.random() / 2);
        this.log.debug(`relay: ${d.eventType} to ${d.owner}/${d.repo} failed (${status ?? (e as Error).message}); retry in ${Math.round(wait)} ms`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, wait);
          this.stopSignal.signal.addEventListener('abort', () => {
            clearTimeout(t);
            resolve();
          }, { once: true });
        });
      }
    }
  }

  private metricsText(): string {
    const lines: string[] = [];
    const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
    const family = (name: string, type: string, help: string, rows: [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, v] of rows) lines.push(`${name}${labels} ${v}`);
    };
    family('mlloop_relay_requests_total', 'counter', 'HTTP requests by endpoint and status code.', [...this.requests].map(([k, v]) => {
      const [endpoint, code] = k.split('\u0000');
      return [`{endpoint="${esc(endpoint!)}",code="${code}"}`, v];
    }));
    family('mlloop_relay_dispatches_total', 'counter', 'repository_dispatch events by event type and outcome.', [...this.dispatches].map(([k, v]) => {
      const [eventType, outcome] = k.split('\u0000');
      return [`{event_type="${esc(eventType!)}",outcome="${outcome}"}`, v];
    }));
    family('mlloop_relay_accepted_total', 'counter', 'Events accepted for delivery.', [['', this.stats.accepted]]);
    family('mlloop_relay_suppressed_total', 'counter', 'Duplicate events not forwarded (same alert group or notification within the window).', [['', this.stats.suppressed]]);
    family('mlloop_relay_unauthorized_total', 'counter', 'Requests refused with 401.', [['', this.stats.unauthorized]]);
    family('mlloop_relay_delivery_attempts_total', 'counter', 'Calls to the GitHub API, retries included.', [['', this.attempts]]);
    family('mlloop_relay_queue_depth', 'gauge', 'Events waiting for delivery.', [['', this.queue.length]]);
    family('mlloop_relay_queue_limit', 'gauge', 'Queue size beyond which requests get 503.', [['', this.cfg.maxQueue]]);
    family('mlloop_relay_in_flight', 'gauge', 'Deliveries under way.', [['', this.active]]);
    family('mlloop_relay_dedup_keys', 'gauge', 'Keys remembered for duplicate suppression.', [['', this.dedup.size]]);
    family('process_resident_memory_bytes', 'gauge', 'Resident memory of the relay process.', [['', process.memoryUsage().rss]]);
    return `${lines.join('\n')}\n`;
  }
}

/** The production delivery: POST /repos/{owner}/{repo}/dispatches through the shared GitHub client. */
export function githubDeliver(apiUrl: string, log: Logger): Deliver {
  const clients = new Map<string, Promise<import('../github/client.js').GitHub>>();
  return async (d, signal) => {
    let client = clients.get(d.token);
    if (!client) {
      client = import('../github/client.js').then(({ createGitHub }) => createGitHub({ token: d.token, baseUrl: apiUrl, log, retries: 0, userAgent: 'mlloop-relay' }));
      clients.set(d.token, client);
    }
    const gh = await client;
    await gh.rest.repos.createDispatchEvent({
      owner: d.owner,
      repo: d.repo,
      event_type: d.eventType,
      client_payload: d.clientPayload,
      request: { signal: AbortSignal.any([signal, AbortSignal.timeout(15_000)]) },
    });
  };
}
