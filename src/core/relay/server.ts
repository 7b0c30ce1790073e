import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../log.js';
import type { RelayConfig } from './config.js';
import {
  alertmanagerDispatches,
  BadPayload,
  batchSize,
  checkBearer,
  checkSignature,
  coalescedPayload,
  notificationDispatches,
  parseAlertmanager,
  parseNotification,
  SIGNATURE_HEADER,
  targetKey,
  type Dispatch,
} from './events.js';
import { FileSpool, newEventId, type EventStore, type StoredEvent } from './spool.js';

/** Sends one repository_dispatch; throws with `status` on an HTTP error. */
export type Deliver = (d: Dispatch, signal: AbortSignal) => Promise<void>;

export interface RelayStats {
  accepted: number;
  suppressed: number;
  /** Events delivered (several may share one repository_dispatch). */
  delivered: number;
  /** repository_dispatch calls GitHub answered 2xx. */
  dispatches: number;
  failed: number;
  /** Accepted but not delivered when the shutdown grace ran out: they stay in the spool for the next start. */
  undelivered: number;
  unauthorized: number;
  rejected: number;
}

/** Accepted events of one target (repository, event type, app, env), delivered in order, merged when several wait. */
interface Lane {
  jobs: StoredEvent[];
  busy: boolean;
  attempt: number;
  notBefore: number;
}

class TooLarge extends Error {}

/** The cause of a failed delivery in words: an HTTP status only when GitHub answered. */
export function deliveryFailure(e: unknown, stopping: boolean): { status?: number; text: string } {
  const err = e as { status?: number; response?: unknown; message?: string; name?: string; cause?: unknown };
  if (err.response !== undefined && typeof err.status === 'number') return { status: err.status, text: `HTTP ${err.status} ${err.message ?? ''}`.trim() };
  // Octokit reports network errors, timeouts and aborts as "status 500" without a response: name the cause.
  const chain: { name?: string; code?: string; message?: string }[] = [];
  for (let c: unknown = e, i = 0; c && typeof c === 'object' && i < 5; c = (c as { cause?: unknown }).cause, i++) chain.push(c as { name?: string; code?: string; message?: string });
  if (chain.some((c) => c.name === 'TimeoutError')) return { text: 'no answer from GitHub before the request timeout' };
  if (chain.some((c) => c.name === 'AbortError')) return { text: stopping ? 'aborted at shutdown' : 'aborted' };
  const coded = chain.find((c) => typeof c.code === 'string');
  const words: Record<string, string> = { ECONNREFUSED: 'connection refused', ECONNRESET: 'connection reset', ETIMEDOUT: 'connection timed out', ENOTFOUND: 'host not found', EAI_AGAIN: 'DNS lookup failed', UND_ERR_SOCKET: 'connection closed by the server', UND_ERR_CONNECT_TIMEOUT: 'connect timeout' };
  if (coded) return { text: `${words[coded.code!] ?? 'network error'} (${coded.code}${coded.message ? `: ${coded.message}` : ''})` };
  return { text: chain.at(-1)?.message ?? String(e) };
}

/**
 * The relay: an HTTP service that turns Alertmanager webhooks and Argo notifications into GitHub
 * repository_dispatch events. An accepted event is on disk (the spool) or in Redis before the sender gets
 * 202, and leaves it only once GitHub answered 2xx, or failed for good; a restart replays what is left.
 * Waiting events of one target are merged into one dispatch, because GitHub allows about one write a second.
 */
export class Relay {
  private server?: Server;
  private readonly lanes = new Map<string, Lane>();
  private waiting = 0;
  private active = 0;
  private inFlightEvents = 0;
  private draining = false;
  private stopping = false;
  private store!: EventStore;
  private readonly stats: RelayStats = { accepted: 0, suppressed: 0, delivered: 0, dispatches: 0, failed: 0, undelivered: 0, unauthorized: 0, rejected: 0 };
  private readonly requests = new Map<string, number>();
  private readonly dispatchCounts = new Map<string, number>();
  private attempts = 0;
  private idle?: () => void;
  private settled?: () => void;
  private readonly stopSignal = new AbortController();
  private timer?: NodeJS.Timeout;
  private nextWriteAt = 0;
  private readonly perClient = new Map<string, number>();
  private reserved = 0;
  private readonly tokens: Map<string, string>;
  private readonly now: () => number;
  url = '';

  constructor(
    private readonly cfg: RelayConfig,
    private readonly deliver: Deliver,
    private readonly log: Logger,
    private readonly opts: { now?: () => number; store?: EventStore } = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.tokens = new Map(cfg.routes.map((r) => [r.name, r.token]));
  }

  /** Opens the store (replaying what an earlier run left), then the port. */
  async start(): Promise<string> {
    this.store = this.opts.store ?? (this.cfg.redis ? await this.redisStore() : new FileSpool(this.cfg.spoolDir, this.cfg.dedupWindowMs, this.cfg.dedupMaxKeys, this.log, this.now));
    try {
      await this.store.open((events) => this.enqueue(events));
    } catch (e) {
      throw Object.assign(new Error(`cannot open the ${this.store.describe}: ${(e as Error).message}`), { store: true });
    }
    const server = createServer({ requestTimeout: this.cfg.requestTimeoutMs, headersTimeout: this.cfg.headersTimeoutMs, keepAliveTimeout: 5_000, connectionsCheckingInterval: Math.min(1000, this.cfg.headersTimeoutMs) }, (req, res) => {
      this.handle(req, res).catch((e: unknown) => {
        this.log.warn(`relay: ${req.method} ${req.url}: ${(e as Error).message}`);
        if (!res.headersSent) this.reply(req, res, 500, { error: 'internal error' });
      });
    });
    server.maxHeadersCount = 100;
    // Bounds the memory of bodies being read: at most maxConnections × maxBodyBytes.
    server.maxConnections = this.cfg.maxConnections;
    // One address cannot take every connection (slow senders holding headers open): /healthz stays reachable.
    server.on('connection', (socket: Socket) => {
      const who = socket.remoteAddress ?? '?';
      const n = (this.perClient.get(who) ?? 0) + 1;
      if (n > this.cfg.maxConnectionsPerClient) {
        this.stats.rejected++;
        socket.destroy();
        return;
      }
      this.perClient.set(who, n);
      socket.once('close', () => {
        const left = (this.perClient.get(who) ?? 1) - 1;
        if (left > 0) this.perClient.set(who, left);
        else this.perClient.delete(who);
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.cfg.port, this.cfg.host, () => resolve());
    });
    const addr = server.address() as { address: string; port: number };
    const host = addr.address.includes(':') ? `[${addr.address}]` : addr.address;
    this.url = `http://${host}:${addr.port}`;
    return this.url;
  }

  private async redisStore(): Promise<EventStore> {
    const { RedisQueue } = await import('./redis-queue.js');
    return new RedisQueue(this.cfg.redis!, this.cfg.dedupWindowMs, this.log);
  }

  /**
   * Stops accepting, delivers what it can within the grace period, closes the port and the store. What is
   * not delivered by then stays in the spool (or the Redis stream) for the next start.
   */
  async stop(): Promise<RelayStats> {
    this.draining = true;
    const closed = new Promise<void>((resolve) => (this.server?.listening ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeIdleConnections();
    const drained = new Promise<void>((resolve) => {
      if (this.waiting === 0 && this.active === 0) return resolve();
      this.idle = resolve;
    });
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'grace'>((resolve) => (timer = setTimeout(() => resolve('grace'), this.cfg.shutdownGraceMs)));
    const outcome = await Promise.race([drained.then(() => 'drained' as const), grace]);
    clearTimeout(timer);
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    if (outcome === 'grace') {
      this.stopSignal.abort();
      // Let aborted deliveries settle, so the store is closed after their last write.
      await new Promise<void>((resolve) => {
        if (this.active === 0) return resolve();
        this.settled = resolve;
      });
    }
    this.stats.undelivered = this.waiting;
    this.server?.closeAllConnections();
    await closed;
    await this.store?.close();
    return { ...this.stats };
  }

  /** Where accepted events are kept (for messages). */
  get storeName(): string {
    return this.store?.describe ?? 'spool';
  }

  snapshot(): RelayStats & { queued: number; inFlight: number; dedupKeys: number; connections: number } {
    return { ...this.stats, queued: this.waiting, inFlight: this.inFlightEvents, dedupKeys: this.store?.dedupKeys() ?? 0, connections: this.openConnections() };
  }

  private openConnections(): number {
    let n = 0;
    for (const c of this.perClient.values()) n += c;
    return n;
  }

  /** Events to deliver (accepted here, replayed, or read from the shared stream) join their target's lane. */
  private enqueue(events: StoredEvent[]) {
    for (const e of events) {
      const key = targetKey(e.d);
      let lane = this.lanes.get(key);
      if (!lane) this.lanes.set(key, (lane = { jobs: [], busy: false, attempt: 0, notBefore: 0 }));
      lane.jobs.push(e);
      this.waiting++;
    }
    this.pump();
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
    const unique: StoredEvent[] = [];
    for (const d of dispatches) {
      if (unique.some((u) => u.d.dedupKey === d.dedupKey)) continue;
      const { token: _token, ...stored } = d;
      unique.push({ id: newEventId(), d: stored, acceptedAt: now });
    }
    let fresh: StoredEvent[];
    this.reserved += unique.length;
    try {
      const backlog = await this.store.backlog(this.waiting);
      if (backlog + this.reserved > this.cfg.maxQueue) {
        this.stats.rejected++;
        this.log.warn(`relay: 503 for ${who}: ${backlog} events waiting (limit ${this.cfg.maxQueue})`);
        return this.reply(req, res, 503, { error: 'queue full; retry later' }, { 'retry-after': '5' });
      }
      fresh = await this.store.accept(unique, now);
    } catch (e) {
      this.stats.rejected++;
      this.log.warn(`relay: 503 for ${who}: could not record the event(s) in the ${this.store.describe}: ${(e as Error).message}`);
      return this.reply(req, res, 503, { error: 'cannot store events; retry later' }, { 'retry-after': '5' });
    } finally {
      this.reserved -= unique.length;
    }
    for (const e of fresh) this.log.info(`relay: accepted ${e.d.eventType} for ${e.d.owner}/${e.d.repo} (route ${e.d.route})`);
    const suppressed = dispatches.length - fresh.length;
    this.stats.accepted += fresh.length;
    this.stats.suppressed += suppressed;
    this.reply(req, res, fresh.length ? 202 : 200, { accepted: fresh.length, suppressed, routes: dispatches.map((d) => d.route) });
  }

  /**
   * Starts deliveries: the lane whose oldest event waited longest goes first, with every event waiting in it
   * (up to coalesce_max). Calls are spaced by write_interval, so the batch is chosen when the call can go
   * out rather than queued inside the GitHub client's throttling while more events arrive.
   */
  private pump() {
    if (this.stopping) return;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (this.active < this.cfg.concurrency) {
      const now = Date.now();
      let best: Lane | undefined;
      let wake = Infinity;
      for (const lane of this.lanes.values()) {
        if (lane.busy || lane.jobs.length === 0) continue;
        if (lane.notBefore > now) {
          wake = Math.min(wake, lane.notBefore);
          continue;
        }
        if (!best || lane.jobs[0]!.acceptedAt < best.jobs[0]!.acceptedAt) best = lane;
      }
      if (best && this.nextWriteAt > now) wake = Math.min(wake, this.nextWriteAt);
      else if (best) {
        this.nextWriteAt = now + this.cfg.writeIntervalMs;
        const sizes = best.jobs.slice(0, this.cfg.coalesceMax).map((j) => JSON.stringify(j.d.clientPayload).length);
        const batch = best.jobs.splice(0, batchSize(sizes, this.cfg.coalesceMax, this.cfg.coalesceMaxBytes));
        best.busy = true;
        this.waiting -= batch.length;
        this.inFlightEvents += batch.length;
        this.active++;
        const lane = best;
        void this.run(lane, batch).finally(() => {
          lane.busy = false;
          this.active--;
          this.inFlightEvents -= batch.length;
          if (lane.jobs.length === 0) for (const [k, l] of this.lanes) if (l === lane) this.lanes.delete(k);
          if (this.active === 0 && this.settled) this.settled();
          if (this.waiting === 0 && this.active === 0 && this.idle) {
            const idle = this.idle;
            this.idle = undefined;
            idle();
          }
          this.pump();
        });
        continue;
      }
      if (wake !== Infinity) {
        this.timer = setTimeout(() => this.pump(), Math.max(1, wake - now));
        this.timer.unref();
      }
      return;
    }
  }

  private async run(lane: Lane, batch: StoredEvent[]): Promise<void> {
    const first = batch[0]!.d;
    const d: Dispatch = { ...first, token: this.tokens.get(first.route) ?? this.cfg.githubToken, clientPayload: coalescedPayload(batch.map((j) => j.d.clientPayload)) };
    const what = `${d.eventType} to ${d.owner}/${d.repo}${batch.length > 1 ? ` (${batch.length} events merged)` : ''} (route ${d.route})`;
    this.attempts++;
    try {
      await this.store.touch(batch);
      await this.deliver(d, this.stopSignal.signal);
    } catch (e) {
      const { status, text } = deliveryFailure(e, this.stopSignal.signal.aborted);
      if (this.stopSignal.signal.aborted) {
        // Still in the spool: the next start delivers them.
        lane.jobs.unshift(...batch);
        this.waiting += batch.length;
        this.log.warn(`relay: ${what}: ${text}; ${batch.length} event(s) stay in the ${this.store.describe} for the next start`);
        return;
      }
      const permanent = status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
      if (permanent) {
        this.stats.failed += batch.length;
        this.count(this.dispatchCounts, `${d.eventType}\u0000failed`, batch.length);
        this.log.warn(`relay: could not deliver ${what} after ${lane.attempt + 1} attempt(s): ${text}`);
        lane.attempt = 0;
        await this.store.dropped(batch).catch((err: Error) => this.log.warn(`relay: ${this.store.describe}: ${err.message}`));
        return;
      }
      // A transient failure never drops an accepted event: it waits in its lane, backing off up to 30 s.
      const wait = Math.min(30_000, this.cfg.retryBackoffMs * 2 ** Math.min(lane.attempt, 20)) * (0.5 + Math.random() / 2);
      lane.attempt++;
      lane.notBefore = Date.now() + wait;
      lane.jobs.unshift(...batch);
      this.waiting += batch.length;
      const message = `relay: ${what} failed (attempt ${lane.attempt}): ${text}; retry in ${Math.round(wait)} ms`;
      if (lane.attempt === 1 || lane.attempt > this.cfg.retries) this.log.warn(message);
      else this.log.debug(message);
      return;
    }
    this.stats.delivered += batch.length;
    this.stats.dispatches++;
    this.count(this.dispatchCounts, `${d.eventType}\u0000delivered`, batch.length);
    this.log.info(`relay: delivered ${what}, attempt ${lane.attempt + 1}`);
    lane.attempt = 0;
    lane.notBefore = 0;
    await this.store.delivered(batch).catch((err: Error) => this.log.warn(`relay: ${this.store.describe}: ${err.message} (the events may be delivered again after a restart)`));
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
    family('mlloop_relay_dispatches_total', 'counter', 'Accepted events by event type and outcome (delivered, failed for good).', [...this.dispatchCounts].map(([k, v]) => {
      const [eventType, outcome] = k.split('\u0000');
      return [`{event_type="${esc(eventType!)}",outcome="${outcome}"}`, v];
    }));
    family('mlloop_relay_accepted_total', 'counter', 'Events accepted for delivery.', [['', this.stats.accepted]]);
    family('mlloop_relay_suppressed_total', 'counter', 'Duplicate events not forwarded (same alert group or notification within the window).', [['', this.stats.suppressed]]);
    family('mlloop_relay_unauthorized_total', 'counter', 'Requests refused with 401.', [['', this.stats.unauthorized]]);
    family('mlloop_relay_delivery_attempts_total', 'counter', 'Calls to the GitHub API, retries included.', [['', this.attempts]]);
    family('mlloop_relay_github_dispatches_total', 'counter', 'repository_dispatch calls GitHub accepted (each may carry several merged events).', [['', this.stats.dispatches]]);
    family('mlloop_relay_queue_depth', 'gauge', 'Events waiting for delivery.', [['', this.waiting]]);
    family('mlloop_relay_queue_limit', 'gauge', 'Queue size beyond which requests get 503.', [['', this.cfg.maxQueue]]);
    family('mlloop_relay_in_flight', 'gauge', 'Events in deliveries under way.', [['', this.inFlightEvents]]);
    family('mlloop_relay_open_connections', 'gauge', 'Open client connections (at most limits.max_connections_per_client per address).', [['', this.openConnections()]]);
    family('mlloop_relay_dedup_keys', 'gauge', 'Keys remembered for duplicate suppression.', [['', this.store?.dedupKeys() ?? 0]]);
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
