import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Route } from './config.js';

/** What the relay forwards: one GitHub repository_dispatch. */
export interface Dispatch {
  route: string;
  owner: string;
  repo: string;
  token: string;
  eventType: string;
  clientPayload: Record<string, unknown>;
  /** Same key within the dedup window → forwarded once. */
  dedupKey: string;
}

/** GitHub's limits on POST /repos/{owner}/{repo}/dispatches. */
export const MAX_EVENT_TYPE = 100;
export const MAX_PAYLOAD_KEYS = 10;

export class BadPayload extends Error {}

// ---------------------------------------------------------------- authentication

export type AuthResult = { ok: true; how: 'bearer' | 'hmac' } | { ok: false; reason: string };

function safeEqual(a: string, b: string): boolean {
  // Compare digests so neither the length nor the content leaks through timing.
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

/** The header an HMAC sender sets: `sha256=<hex of HMAC-SHA256(secret, raw body)>` (GitHub's form). */
export const SIGNATURE_HEADER = 'x-mlloop-signature-256';

export function sign(secret: string, body: Buffer | string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Checks a bearer token, which needs no body (so a wrong one is refused before reading it). */
export function checkBearer(header: string | undefined, token: string | undefined): AuthResult | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(header.trim());
  if (!m || !token) return { ok: false, reason: 'unsupported or unconfigured Authorization scheme' };
  return safeEqual(m[1]!, token) ? { ok: true, how: 'bearer' } : { ok: false, reason: 'wrong bearer token' };
}

export function checkSignature(header: string | undefined, secret: string | undefined, body: Buffer): AuthResult {
  if (!header) return { ok: false, reason: 'no credentials (Authorization: Bearer or X-Mlloop-Signature-256)' };
  if (!secret) return { ok: false, reason: 'signature sent but no HMAC secret is configured' };
  return safeEqual(header.trim().toLowerCase(), sign(secret, body)) ? { ok: true, how: 'hmac' } : { ok: false, reason: 'bad signature' };
}

// ---------------------------------------------------------------- routing

function matches(route: Route, get: (key: string) => unknown): boolean {
  for (const [k, allowed] of Object.entries(route.match)) {
    const v = get(k);
    if (typeof v !== 'string' || !allowed.includes(v)) return false;
  }
  return true;
}

/** Where a route sends its events. */
function target(route: Route): Pick<Dispatch, 'route' | 'owner' | 'repo' | 'token' | 'eventType'> {
  return { route: route.name, owner: route.owner, repo: route.repo, token: route.token, eventType: route.eventType };
}

function digest(parts: readonly unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}

interface AmAlert {
  status: string;
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  fingerprint?: string;
  startsAt?: string;
}

interface AmPayload {
  version: string;
  groupKey: string;
  status: 'firing' | 'resolved';
  receiver?: string;
  groupLabels?: Record<string, string>;
  commonLabels?: Record<string, string>;
  commonAnnotations?: Record<string, string>;
  externalURL?: string;
  truncatedAlerts?: number;
  alerts: AmAlert[];
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

export function parseAlertmanager(body: unknown): AmPayload {
  if (!isObj(body)) throw new BadPayload('the body is not a JSON object');
  if (body.version !== '4') throw new BadPayload(`webhook payload version ${JSON.stringify(body.version)} is not supported (Alertmanager sends "4")`);
  if (typeof body.groupKey !== 'string' || !body.groupKey) throw new BadPayload('groupKey is missing');
  if (body.status !== 'firing' && body.status !== 'resolved') throw new BadPayload('status must be firing or resolved');
  if (!Array.isArray(body.alerts) || !body.alerts.every((a) => isObj(a) && isObj(a.labels))) throw new BadPayload('alerts must be a list of alerts with labels');
  return body as unknown as AmPayload;
}

/**
 * One dispatch per matching route and alert group: Alertmanager re-sends a group on every
 * group_interval/repeat_interval and on every change, and the key (route, groupKey, status) makes
 * all of those one event within the window.
 */
export function alertmanagerDispatches(p: AmPayload, routes: readonly Route[]): Dispatch[] {
  const out: Dispatch[] = [];
  for (const route of routes) {
    if (route.source !== 'alertmanager') continue;
    if (p.status === 'resolved' && !route.sendResolved) continue;
    const alerts = p.alerts.filter((a) => a.status === p.status && matches(route, (k) => a.labels[k]));
    if (alerts.length === 0) continue;
    const common = p.commonLabels ?? {};
    const first = alerts[0]!;
    out.push({
      ...target(route),
      // GitHub allows 10 top-level keys; app, env and reason are what the rollback workflow reads.
      clientPayload: {
        source: 'alertmanager',
        route: route.name,
        status: p.status,
        alertname: common.alertname ?? first.labels.alertname ?? null,
        app: common.app ?? first.labels.app ?? route.app ?? null,
        env: common.env ?? first.labels.env ?? route.env ?? null,
        reason: p.commonAnnotations?.summary ?? first.annotations?.summary ?? `${common.alertname ?? first.labels.alertname ?? 'alert'} ${p.status}`,
        group_key: p.groupKey.length > 500 ? `${p.groupKey.slice(0, 500)}…` : p.groupKey,
        labels: Object.keys(common).length ? common : first.labels,
        alerts: { count: alerts.length + (p.truncatedAlerts ?? 0), fingerprints: alerts.map((a) => a.fingerprint ?? null).slice(0, 20), external_url: p.externalURL ?? null },
      },
      dedupKey: digest(['am', route.name, p.groupKey, p.status]),
    });
  }
  return out;
}

/** Fields that identify a notification (which rollout, which revision), when the payload has them. */
const IDENTITY = ['trigger', 'app', 'env', 'application', 'rollout', 'namespace', 'revision', 'pod_hash'];

export function parseNotification(body: unknown): { eventType: string; clientPayload: Record<string, unknown> } {
  if (!isObj(body)) throw new BadPayload('the body is not a JSON object');
  const t = body.event_type;
  if (typeof t !== 'string' || t.length === 0 || t.length > MAX_EVENT_TYPE) throw new BadPayload(`event_type must be a string of 1 to ${MAX_EVENT_TYPE} characters`);
  const cp = body.client_payload ?? {};
  if (!isObj(cp)) throw new BadPayload('client_payload must be a JSON object');
  if (Object.keys(cp).length > MAX_PAYLOAD_KEYS) throw new BadPayload(`client_payload has ${Object.keys(cp).length} top-level keys; GitHub allows at most ${MAX_PAYLOAD_KEYS}`);
  return { eventType: t, clientPayload: cp };
}

export function notificationDispatches(n: { eventType: string; clientPayload: Record<string, unknown> }, routes: readonly Route[]): Dispatch[] {
  const out: Dispatch[] = [];
  for (const route of routes) {
    if (route.source !== 'notification') continue;
    if (!matches(route, (k) => (k === 'event_type' ? n.eventType : n.clientPayload[k]))) continue;
    const identity = IDENTITY.filter((k) => n.clientPayload[k] !== undefined && n.clientPayload[k] !== null).map((k) => [k, n.clientPayload[k]]);
    out.push({
      ...target(route),
      clientPayload: n.clientPayload,
      dedupKey: digest(['n', route.name, n.eventType, identity.length ? identity : n.clientPayload]),
    });
  }
  return out;
}

// ---------------------------------------------------------------- coalescing

/** Events for the same target may be merged into one repository_dispatch: same repository, event type, app, env. */
export function targetKey(d: Pick<Dispatch, 'owner' | 'repo' | 'eventType' | 'clientPayload'>): string {
  return JSON.stringify([d.owner.toLowerCase(), d.repo.toLowerCase(), d.eventType, d.clientPayload.app ?? null, d.clientPayload.env ?? null]);
}

export const BATCH_SCHEMA = 'mlloop/relay-batch@1';

/**
 * The client_payload of one repository_dispatch for events of one target: a single event's payload as it
 * is; several as `{schema, count, source, trigger, app, env, reason, events}` (8 of GitHub's 10 keys), where
 * the top-level fields are the first event's — so `client_payload.app/env/reason` read the same in both
 * shapes — and `events` lists every payload in the order accepted.
 */
export function coalescedPayload(payloads: readonly Record<string, unknown>[]): Record<string, unknown> {
  if (payloads.length === 1) return payloads[0]!;
  const first = payloads[0]!;
  const top = (k: string) => first[k] ?? null;
  return { schema: BATCH_SCHEMA, count: payloads.length, source: top('source'), trigger: top('trigger'), app: top('app'), env: top('env'), reason: top('reason'), events: payloads };
}

/** How many of the waiting payloads (oldest first) go into the next dispatch: at least one, within both bounds. */
export function batchSize(sizes: readonly number[], maxEvents: number, maxBytes: number): number {
  let n = 0;
  let bytes = 0;
  for (const size of sizes) {
    if (n >= maxEvents || (n > 0 && bytes + size > maxBytes)) break;
    bytes += size;
    n++;
  }
  return n;
}

// ---------------------------------------------------------------- duplicate suppression

/** Keys seen within a window, bounded in number (the oldest are forgotten first). */
export class DedupWindow {
  private readonly seen = new Map<string, number>();
  constructor(
    private readonly windowMs: number,
    private readonly maxKeys: number,
  ) {}

  /** True (and remembered) when the key is new within the window; false for a duplicate. */
  admit(key: string, now: number): boolean {
    const at = this.seen.get(key);
    if (at !== undefined && now - at < this.windowMs) return false;
    this.remember(key, now);
    return true;
  }

  /** Remembers a key seen at `at` (replaying a spool: oldest first). */
  remember(key: string, at: number): void {
    this.seen.delete(key);
    this.seen.set(key, at);
    while (this.seen.size > this.maxKeys) this.seen.delete(this.seen.keys().next().value!);
  }

  seenAt(key: string): number | undefined {
    return this.seen.get(key);
  }

  entries(): IterableIterator<[string, number]> {
    return this.seen.entries();
  }

  /** Forgets a key, so the next identical event is forwarded (after a delivery that failed for good). */
  forget(key: string): void {
    this.seen.delete(key);
  }

  get size(): number {
    return this.seen.size;
  }

  /** Drops expired keys (insertion order is time order, so stop at the first live one). */
  sweep(now: number): void {
    for (const [k, at] of this.seen) {
      if (now - at < this.windowMs) break;
      this.seen.delete(k);
    }
  }
}
