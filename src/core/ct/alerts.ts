import { ConfigurationError, jsonPath } from '../errors.js';
import type { AlertsTrigger } from './policy.js';

/** One alert, whichever Alertmanager interface it came from (webhook payload or API v2). */
export interface Alert {
  name: string;
  labels: Record<string, string>;
  fingerprint: string;
  status: 'firing' | 'resolved';
  startsAt: string;
  endsAt?: string;
  annotations?: Record<string, string>;
}

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK = 0xffffffffffffffffn;

/**
 * The fingerprint Prometheus and Alertmanager give a label set: FNV-1a 64 over the label names in
 * byte order, each name and value followed by the separator byte 0xff, printed as 16 hex digits.
 * Used when an alert arrives without one, so duplicates are still recognised.
 */
export function labelsFingerprint(labels: Record<string, string>): string {
  let h = FNV_OFFSET;
  const add = (bytes: Uint8Array) => {
    for (const b of bytes) h = ((h ^ BigInt(b)) * FNV_PRIME) & MASK;
  };
  const sep = new Uint8Array([0xff]);
  const enc = new TextEncoder();
  const names = Object.keys(labels).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (const n of names) {
    add(enc.encode(n));
    add(sep);
    add(enc.encode(labels[n]!));
    add(sep);
  }
  return h.toString(16).padStart(16, '0');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function stringMap(v: unknown, file: string, segs: (string | number)[]): Record<string, string> {
  if (v === undefined) return {};
  if (!isRecord(v)) throw new ConfigurationError('must be an object of strings', { file, path: jsonPath(segs) });
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string') throw new ConfigurationError('label values must be strings', { file, path: jsonPath([...segs, k]) });
    out[k] = x;
  }
  return out;
}

/** Reads one alert of a webhook payload (`status: firing|resolved`) or of `GET /api/v2/alerts` (`status.state`). */
function parseAlert(raw: unknown, file: string, segs: (string | number)[]): Alert {
  if (!isRecord(raw)) throw new ConfigurationError('an alert must be an object', { file, path: jsonPath(segs) });
  const labels = stringMap(raw.labels, file, [...segs, 'labels']);
  if (!labels.alertname) {
    throw new ConfigurationError('alert has no "alertname" label', { file, path: jsonPath([...segs, 'labels']), hint: 'pass the Alertmanager webhook payload or the output of GET /api/v2/alerts' });
  }
  let status: 'firing' | 'resolved';
  if (raw.status === 'firing' || raw.status === 'resolved') status = raw.status;
  else if (isRecord(raw.status) && typeof raw.status.state === 'string') status = raw.status.state === 'active' ? 'firing' : 'resolved';
  else throw new ConfigurationError('alert "status" must be "firing", "resolved" or {"state": …}', { file, path: jsonPath([...segs, 'status']) });
  const startsAt = typeof raw.startsAt === 'string' ? raw.startsAt : '';
  const fingerprint = typeof raw.fingerprint === 'string' && /^[0-9a-f]{16}$/.test(raw.fingerprint) ? raw.fingerprint : labelsFingerprint(labels);
  return {
    name: labels.alertname,
    labels,
    fingerprint,
    status,
    startsAt,
    endsAt: typeof raw.endsAt === 'string' ? raw.endsAt : undefined,
    annotations: stringMap(raw.annotations, file, [...segs, 'annotations']),
  };
}

/**
 * Accepts what Alertmanager produces: one webhook payload (`{"version": "4", "alerts": […]}`), several
 * (a JSON array of payloads, or JSONL as a webhook receiver logs them), or the alert list of
 * `GET /api/v2/alerts`. Returns the alerts in the order they were notified.
 */
export function parseAlertDocuments(docs: readonly unknown[], file: string): Alert[] {
  const out: Alert[] = [];
  const walk = (doc: unknown, segs: (string | number)[]) => {
    if (Array.isArray(doc)) {
      doc.forEach((d, i) => walk(d, [...segs, i]));
      return;
    }
    if (isRecord(doc) && Array.isArray(doc.alerts)) {
      doc.alerts.forEach((a, i) => out.push(parseAlert(a, file, [...segs, 'alerts', i])));
      return;
    }
    if (isRecord(doc) && isRecord(doc.labels)) {
      out.push(parseAlert(doc, file, segs));
      return;
    }
    throw new ConfigurationError('not an Alertmanager webhook payload or alert', { file, path: jsonPath(segs), hint: 'expected {"alerts": [...]} (webhook) or [{"labels": …, "status": …}] (GET /api/v2/alerts)' });
  };
  docs.forEach((d, i) => walk(d, docs.length > 1 ? [i] : []));
  return out;
}

export interface AlertsOutcome {
  holds: boolean;
  evidence: {
    names: string[];
    firing: { name: string; fingerprint: string; startsAt: string; labels: Record<string, string>; summary?: string }[];
    duplicates: number;
    already_handled: { name: string; fingerprint: string; startsAt: string }[];
    ignored: number;
  };
}

/**
 * De-duplicates alerts by fingerprint (the latest notification of each wins, so a resolved alert no
 * longer counts), keeps the firing ones the policy names (and whose labels match, including `model`),
 * and drops those already acted on: same fingerprint and same start as a past retrain.
 */
export function evaluateAlerts(alerts: readonly Alert[], trigger: AlertsTrigger, model: string | undefined, handled: Readonly<Record<string, string>>): AlertsOutcome {
  const latest = new Map<string, Alert>();
  for (const a of alerts) latest.set(a.fingerprint, a);
  const duplicates = alerts.length - latest.size;
  const names = new Set(trigger.names);
  const firing: AlertsOutcome['evidence']['firing'] = [];
  const already: AlertsOutcome['evidence']['already_handled'] = [];
  let ignored = 0;
  for (const a of latest.values()) {
    const wanted =
      a.status === 'firing' &&
      names.has(a.name) &&
      Object.entries(trigger.labels ?? {}).every(([k, v]) => a.labels[k] === v) &&
      (model === undefined || a.labels.model === undefined || a.labels.model === model);
    if (!wanted) {
      ignored++;
      continue;
    }
    if (handled[a.fingerprint] !== undefined && handled[a.fingerprint] === a.startsAt) {
      already.push({ name: a.name, fingerprint: a.fingerprint, startsAt: a.startsAt });
      continue;
    }
    firing.push({ name: a.name, fingerprint: a.fingerprint, startsAt: a.startsAt, labels: a.labels, ...(a.annotations?.summary ? { summary: a.annotations.summary } : {}) });
  }
  firing.sort((x, y) => x.startsAt.localeCompare(y.startsAt) || x.fingerprint.localeCompare(y.fingerprint));
  return { holds: firing.length > 0, evidence: { names: [...names], firing, duplicates, already_handled: already, ignored } };
}
