import { ConfigurationError, ExternalError } from '../errors.js';
import { looksLikeJsonl, parseJson, readJson, readJsonl, readText } from '../io/read.js';
import { writeFilesAtomic, type PendingFile } from '../io/atomic.js';
import type { Logger } from '../log.js';
import { parseAlertDocuments, type Alert } from './alerts.js';
import { decide, emptyState, type CtState, type Decision, type Signals } from './decide.js';
import { parseHistoryLine, type HistoryPeriod } from './history.js';
import { readInferenceLog } from './inference-log.js';
import { readPolicy } from './policy.js';
import { httpFetch } from '../http/proxy.js';

export interface CheckOptions {
  policy: string;
  alerts: string[];
  alertmanager?: string;
  /** A JSONL file, or a history store (postgres URL or embedded store folder). */
  history?: string;
  inferenceLog?: string;
  corrected?: number;
  state?: string;
  out?: string;
  dryRun: boolean;
  now: Date;
  log: Logger;
  signal?: AbortSignal;
  /** Masks a history store's password. */
  secret?: (v: string | undefined) => void;
}

async function readAlertsFile(file: string): Promise<Alert[]> {
  const text = await readText(file, 'alerts file');
  const trimmed = text.trim();
  // A webhook receiver that logs payloads writes one JSON document per line.
  if (looksLikeJsonl(file) || (trimmed.startsWith('{') && /}\s*\n\s*{/.test(trimmed))) {
    const docs: unknown[] = [];
    for await (const { value } of readJsonl(file)) docs.push(value);
    return parseAlertDocuments(docs, file);
  }
  return parseAlertDocuments([parseJson(text, file)], file);
}

/** Reads the active, unsilenced, uninhibited alerts of a running Alertmanager (API v2). */
export async function fetchAlertmanagerAlerts(base: string, signal?: AbortSignal): Promise<Alert[]> {
  let url: URL;
  try {
    url = new URL('api/v2/alerts', base.endsWith('/') ? base : `${base}/`);
  } catch {
    throw new ConfigurationError(`--alertmanager "${base}" is not a URL`, { hint: 'e.g. http://alertmanager:9093' });
  }
  url.search = 'active=true&silenced=false&inhibited=false';
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    if (attempt) await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
    try {
      const res = await httpFetch(url, { headers: { accept: 'application/json' }, signal });
      if (res.ok) return parseAlertDocuments([await res.json()], url.toString());
      lastError = `HTTP ${res.status}`;
      if (res.status < 500) break;
    } catch (e) {
      lastError = (e as Error).message;
    }
  }
  throw new ExternalError(`cannot read alerts from Alertmanager at ${url.origin}: ${lastError}`, { hint: 'check --alertmanager and that Alertmanager is reachable from here' });
}

async function readHistory(file: string, secret: (v: string | undefined) => void): Promise<HistoryPeriod[]> {
  const out: HistoryPeriod[] = [];
  // A history store (postgres URL or embedded store folder) reads as the same lines, one per evaluation.
  const { isHistoryStore, historyLines } = await import('../history/history.js');
  const lines = isHistoryStore(file) ? await historyLines(file, secret) : readJsonl(file);
  for await (const { value, line } of lines) out.push(parseHistoryLine(value, line, file));
  return out;
}

export async function readState(file: string | undefined): Promise<CtState> {
  if (!file) return emptyState();
  let raw: unknown;
  try {
    raw = await readJson(file, 'state file');
  } catch (e) {
    if (e instanceof ConfigurationError && /not found/.test(e.message)) return emptyState();
    throw e;
  }
  const s = raw as Partial<CtState> | null;
  if (!s || s.schema !== 'mlloop/ct-state@1' || !Array.isArray(s.retrains) || typeof s.handled_alerts !== 'object' || s.handled_alerts === null) {
    throw new ConfigurationError('not an mlloop/ct-state@1 file', { file, hint: 'pass the state file a previous `mlloop ct check` wrote, or a new path' });
  }
  return s as CtState;
}

/** Reads every signal given, decides, and writes the decision and the new state as one unit. */
export async function ctCheck(o: CheckOptions): Promise<{ decision: Decision; stateWritten: boolean }> {
  const { policy, durations } = await readPolicy(o.policy);
  const state = await readState(o.state);
  const signals: Signals = {};
  if (o.alerts.length || o.alertmanager) {
    signals.alerts = [];
    for (const f of o.alerts) signals.alerts.push(...(await readAlertsFile(f)));
    if (o.alertmanager) signals.alerts.push(...(await fetchAlertmanagerAlerts(o.alertmanager, o.signal)));
    o.log.debug(`${signals.alerts.length} alert notification(s) read`);
  }
  if (o.history) signals.history = await readHistory(o.history, o.secret ?? (() => undefined));
  if (o.inferenceLog) {
    o.log.progress(`reading inference log ${o.inferenceLog}`);
    const { records, lines } = await readInferenceLog(o.inferenceLog);
    o.log.debug(`${lines} inference record(s), ${records.length} distinct file(s)`);
    signals.inference = records;
  }
  if (o.corrected !== undefined) signals.corrected = o.corrected;
  const unused = (['metric_drop', 'alerts', 'low_confidence', 'corrected'] as const).filter((k) => !policy.triggers[k]);
  const given = { metric_drop: o.history, alerts: o.alerts.length || o.alertmanager, low_confidence: o.inferenceLog, corrected: o.corrected !== undefined };
  for (const k of unused) if (given[k]) o.log.warn(`the policy has no ${k} trigger: that input is ignored`);

  const { decision, state: next } = decide(policy, durations, signals, state, o.now, o.history);
  const files: PendingFile[] = [];
  if (o.out) files.push({ path: o.out, data: `${JSON.stringify(decision, null, 2)}\n` });
  const stateWritten = decision.retrain && !!o.state && !o.dryRun;
  if (stateWritten) files.push({ path: o.state!, data: `${JSON.stringify(next, null, 2)}\n` });
  if (files.length) await writeFilesAtomic(files);
  return { decision, stateWritten };
}
