import { promises as fs, constants, createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import * as path from 'node:path';
import { ConfigurationError } from '../errors.js';
import type { FailureStats } from './decide.js';

/**
 * The dispatch ledger: one JSON line per decision and attempt, appended, never rewritten. A `.jsonl`
 * path is one shared file; any other path is a folder (e.g. in the GitOps repository) holding one
 * file per dispatch, so concurrent dispatches never write the same file. It is the audit trail and
 * the input of the failure-rate score.
 */
export const LEDGER_SCHEMA = 'mlloop/dispatch-ledger@1';

export type LedgerEvent =
  | 'decided'
  | 'no-fit'
  | 'submitted'
  | 'already-submitted'
  | 'submit-failed'
  | 'scheduled'
  | 'pending-timeout'
  | 'suspended'
  | 'deleted'
  | 'gone'
  | 'failover-blocked'
  | 'left-pending'
  /** A pod evicted to make room (--allow-preemption); detail names it. */
  | 'preempted'
  /** `mlloop dispatch reclaim` suspended (batch/v1) or deleted (Volcano) an idle Job; `reclaim` holds the figures. */
  | 'reclaimed'
  /** Written by other tooling when a dispatched job fails later; counted as a failure. */
  | 'job-failed'
  | 'job-succeeded';

export interface LedgerEntry {
  schema: typeof LEDGER_SCHEMA;
  time: string;
  dispatch_id: string;
  job_name: string;
  tenant: string;
  event: LedgerEvent;
  cluster: string | null;
  namespace?: string | null;
  job?: string;
  kind?: string;
  detail?: string;
  score?: number | null;
  ranking?: string[];
  /** With `reclaimed`: what decided it. */
  reclaim?: ReclaimRecord;
}

/** The figures behind a reclaim, as the ledger keeps them. */
export interface ReclaimRecord {
  action: 'suspended' | 'deleted';
  gpus: number;
  /** DCGM_FI_DEV_GPU_UTIL over the window of the second check, percent. */
  utilisation_max: number;
  utilisation_avg: number;
  /** The window looked at, e.g. "15m". */
  window: string;
  max_utilisation: number;
  /** The newest log line of the Job's pods within the window: its time, or "none". */
  last_log: string;
  first_check: string;
  second_check: string;
}

const FAILURE_EVENTS = new Set<string>(['pending-timeout', 'submit-failed', 'job-failed']);
const ATTEMPT_EVENTS = new Set<string>(['submitted']);

/** A `.jsonl` location is one shared file; any other is a folder of one file per dispatch. */
const isLedgerFile = (location: string) => /\.jsonl$/i.test(location);

/** Makes the ledger's folder and checks that a line can be appended, before anything that must be recorded is done. */
export async function checkLedgerWritable(location: string): Promise<void> {
  const dir = isLedgerFile(location) ? path.dirname(location) : location;
  try {
    await fs.mkdir(dir, { recursive: true });
    await fs.access(dir, constants.W_OK);
    if (dir !== location) {
      // An existing ledger file must be writable; a new one is created by the first line.
      await fs.access(location, constants.W_OK).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e;
      });
    }
  } catch (e) {
    throw new ConfigurationError(`cannot write the ledger: ${(e as Error).message}`, { file: location, hint: 'give --ledger (or policy.ledger) a writable .jsonl file or folder' });
  }
}

export class Ledger {
  constructor(
    readonly location: string,
    private readonly dispatchId: string,
  ) {}

  get isFolder(): boolean {
    return !isLedgerFile(this.location);
  }

  private fileFor(): string {
    return this.isFolder ? path.join(this.location, `${this.dispatchId}.jsonl`) : this.location;
  }

  /** Appends one entry as a single write of one complete line. */
  async append(entry: Omit<LedgerEntry, 'schema' | 'dispatch_id'>): Promise<void> {
    const file = this.fileFor();
    const line = `${JSON.stringify({ schema: LEDGER_SCHEMA, dispatch_id: this.dispatchId, ...entry })}\n`;
    try {
      await fs.mkdir(path.dirname(file), { recursive: true });
      await fs.appendFile(file, line, { encoding: 'utf8', flag: 'a' });
    } catch (e) {
      throw new ConfigurationError(`cannot append to the ledger: ${(e as Error).message}`, { file, hint: 'give --ledger (or policy.ledger) a writable .jsonl file or folder' });
    }
  }
}

async function* ledgerFiles(location: string): AsyncGenerator<string> {
  if (isLedgerFile(location)) {
    try {
      await fs.access(location);
      yield location;
    } catch {
      /* no ledger yet */
    }
    return;
  }
  let names: string[];
  try {
    names = await fs.readdir(location);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new ConfigurationError(`cannot read the ledger folder: ${(e as Error).message}`, { file: location });
  }
  for (const n of names.sort()) if (n.endsWith('.jsonl')) yield path.join(location, n);
}

export interface LedgerSummary {
  failures: Map<string, FailureStats>;
  /** The cluster this dispatch id was last submitted to and not yet confirmed gone, if any. */
  live?: { cluster: string; namespace: string | null; job?: string; since: string };
  entries: number;
}

/**
 * Streams the ledger once: failure statistics per cluster within the window, and whether this
 * dispatch id already has a live submission (a retried dispatch resumes it instead of deciding anew).
 */
export async function readLedger(location: string | undefined, dispatchId: string, now: Date, windowMs: number): Promise<LedgerSummary> {
  const out: LedgerSummary = { failures: new Map(), entries: 0 };
  if (!location) return out;
  const since = now.getTime() - windowMs;
  for await (const file of ledgerFiles(location)) {
    const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
    let n = 0;
    for await (const raw of lines) {
      n++;
      if (!raw.trim()) continue;
      let e: LedgerEntry;
      try {
        e = JSON.parse(raw) as LedgerEntry;
      } catch {
        throw new ConfigurationError(`line ${n} is not valid JSON`, { file, hint: 'the ledger is JSON Lines written by mlloop dispatch; remove or fix the broken line' });
      }
      out.entries++;
      if (e.dispatch_id === dispatchId && e.cluster) {
        if (e.event === 'submitted' || e.event === 'already-submitted') out.live = { cluster: e.cluster, namespace: e.namespace ?? null, job: e.job, since: out.live?.cluster === e.cluster ? out.live.since : e.time };
        else if (e.event === 'gone' && out.live?.cluster === e.cluster) out.live = undefined;
      }
      if (!e.cluster) continue;
      const t = Date.parse(e.time);
      if (!(t >= since)) continue;
      const isFailure = FAILURE_EVENTS.has(e.event);
      if (!isFailure && !ATTEMPT_EVENTS.has(e.event)) continue;
      const s = out.failures.get(e.cluster) ?? { attempts: 0, failures: 0 };
      if (ATTEMPT_EVENTS.has(e.event) || e.event === 'submit-failed') s.attempts++;
      if (isFailure) s.failures++;
      out.failures.set(e.cluster, s);
    }
  }
  return out;
}
