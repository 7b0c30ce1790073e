import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ConfigurationError, ExternalError } from '../errors.js';
import { writeJsonAtomic } from '../io/atomic.js';

/**
 * What `mlloop dispatch reclaim` remembers between runs: per cluster, the Jobs the last check found idle and
 * when that first idle check was. A Job is reclaimed only when a later check, at least
 * `policy.reclaim.confirm_after` after the first, finds it idle again. Kept in a JSON file (written
 * atomically) or, with `--state redis://…`, in one Redis hash per cluster.
 *
 * Each run replaces a cluster's entries with the Jobs it found idle (keeping their first check), so a Job
 * found busy, unreadable or gone starts over. Clusters that could not be read keep their entries.
 */
export const RECLAIM_STATE_SCHEMA = 'mlloop/reclaim-state@1';

export interface FirstCheck {
  /** The Job's uid: a Job deleted and created again under the same name starts over. */
  uid: string;
  dispatch_id: string;
  /** When a check first found it idle (ISO 8601). */
  first_check: string;
  utilisation_max: number;
  utilisation_avg: number;
}

/** Entries of one cluster: `<namespace>/<apiVersion>/<name>` → first idle check. */
export type ClusterChecks = Map<string, FirstCheck>;

export interface CheckStore {
  /** Where the state is, for messages (a Redis password masked). */
  readonly where: string;
  load(cluster: string): Promise<ClusterChecks>;
  /** Replaces the cluster's entries. */
  save(cluster: string, checks: ClusterChecks): Promise<void>;
  /** Writes what is pending (the file) and lets go of connections. */
  close(): Promise<void>;
}

interface StateFile {
  schema: typeof RECLAIM_STATE_SCHEMA;
  updated: string;
  clusters: Record<string, Record<string, FirstCheck>>;
}

function isCheck(v: unknown): v is FirstCheck {
  const c = v as FirstCheck;
  return !!c && typeof c === 'object' && typeof c.uid === 'string' && typeof c.dispatch_id === 'string' && typeof c.first_check === 'string' && !Number.isNaN(Date.parse(c.first_check));
}

/**
 * One run at a time: two runs reading the same state and writing it back could bring back a first check that the
 * other run had dropped (the Job was busy in between). Each run holds a lock while it works; a lock older than
 * this was left by a run that died and is taken over.
 */
export const LOCK_STALE_MS = 15 * 60_000;

interface LockInfo {
  token: string;
  host: string;
  pid: number;
  since: string;
}

function lockInfo(now: () => Date): LockInfo {
  return { token: randomBytes(8).toString('hex'), host: os.hostname(), pid: process.pid, since: now().toISOString() };
}

function held(where: string, other: Partial<LockInfo> | undefined): ExternalError {
  const who = other?.since ? ` (pid ${other.pid} on ${other.host}, since ${other.since})` : '';
  return new ExternalError(`another mlloop dispatch reclaim is running${who}: ${where} is locked`, {
    hint: `run one at a time (a CronJob with concurrencyPolicy: Forbid); a lock older than ${LOCK_STALE_MS / 60_000}m is taken over`,
  });
}

/** Takes `<file>.lock` (created exclusively), taking over a stale one. Returns its release. */
async function lockFile(file: string, now: () => Date): Promise<() => Promise<void>> {
  const lock = `${file}.lock`;
  const mine = lockInfo(now);
  await fs.mkdir(path.dirname(file), { recursive: true }).catch(() => undefined);
  for (let attempt = 0; ; attempt++) {
    try {
      await fs.writeFile(lock, JSON.stringify(mine), { flag: 'wx' });
      break;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') throw new ConfigurationError(`cannot create the lock ${lock}: ${(e as Error).message}`, { file, hint: 'give --reclaim-state a file in a folder this user can write to' });
      let other: Partial<LockInfo> | undefined;
      try {
        other = JSON.parse(await fs.readFile(lock, 'utf8')) as LockInfo;
      } catch {
        other = undefined;
      }
      const since = other?.since ? Date.parse(other.since) : Number.NaN;
      const stale = !(now().getTime() - since < LOCK_STALE_MS);
      if (!stale || attempt > 0) throw held(lock, other);
      await fs.rm(lock, { force: true });
    }
  }
  return async () => {
    try {
      const cur = JSON.parse(await fs.readFile(lock, 'utf8')) as LockInfo;
      if (cur.token === mine.token) await fs.rm(lock, { force: true });
    } catch {
      /* gone already */
    }
  };
}

/** The state in one JSON file: read once, written once (atomically) at close(). */
export async function fileStore(file: string, now: () => Date): Promise<CheckStore> {
  const unlock = await lockFile(file, now);
  try {
    return await openFileStore(file, now, unlock);
  } catch (e) {
    await unlock();
    throw e;
  }
}

async function openFileStore(file: string, now: () => Date, unlock: () => Promise<void>): Promise<CheckStore> {
  let data: StateFile = { schema: RECLAIM_STATE_SCHEMA, updated: now().toISOString(), clusters: {} };
  let text: string | undefined;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EISDIR') throw new ConfigurationError('the reclaim state path is a folder', { file, hint: 'name a file, e.g. mlloop-reclaim-state.json' });
    if (code !== 'ENOENT') throw new ConfigurationError(`cannot read the reclaim state: ${(e as Error).message}`, { file, hint: 'give --reclaim-state a file this user can read and write' });
  }
  if (text !== undefined) {
    let parsed: StateFile;
    try {
      parsed = JSON.parse(text) as StateFile;
    } catch {
      throw new ConfigurationError('the reclaim state is not valid JSON', { file, hint: 'it is written by mlloop dispatch reclaim; delete it to start the checks over' });
    }
    if (parsed?.schema !== RECLAIM_STATE_SCHEMA || !parsed.clusters || typeof parsed.clusters !== 'object') {
      throw new ConfigurationError(`the reclaim state is not ${RECLAIM_STATE_SCHEMA}`, { file, path: '$.schema', hint: 'point --reclaim-state at the file mlloop dispatch reclaim writes, or delete it to start the checks over' });
    }
    data = parsed;
  }
  let dirty = false;
  return {
    where: file,
    async load(cluster) {
      const out: ClusterChecks = new Map();
      for (const [k, v] of Object.entries(data.clusters[cluster] ?? {})) if (isCheck(v)) out.set(k, v);
      return out;
    },
    async save(cluster, checks) {
      if (checks.size) data.clusters[cluster] = Object.fromEntries(checks);
      else delete data.clusters[cluster];
      dirty = true;
    },
    async close() {
      try {
        if (!dirty) return;
        data.updated = now().toISOString();
        await writeJsonAtomic(file, data);
      } finally {
        await unlock();
      }
    },
  };
}

export const REDIS_RECLAIM_PREFIX = 'mlloop:reclaim:';

/** The Redis hash of one cluster's checks (hash tag on the cluster, as the collector's keys). */
export const reclaimKey = (cluster: string) => `${REDIS_RECLAIM_PREFIX}{${cluster}}:checks`;

/** The lock of the runs that share one Redis (SET NX with an expiry, so a run that died frees it). */
export const REDIS_RECLAIM_LOCK = `${REDIS_RECLAIM_PREFIX}lock`;

/** Deletes the lock only while it is still this run's. */
const UNLOCK = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/** The state in Redis: one hash per cluster, each save one MULTI (DEL + HSET). */
export async function redisStore(url: string, now: () => Date = () => new Date()): Promise<CheckStore> {
  const { openRedis, maskUrl } = await import('./redis-state.js');
  const client = await openRedis(url);
  const failed = (e: unknown) => new ExternalError(`Redis at ${maskUrl(url)} failed: ${String((e as Error)?.message ?? e).replace(url, maskUrl(url))}`, { hint: 'check that Redis runs and that this machine may reach it' });
  const mine = lockInfo(now);
  try {
    const ok = await client.set(REDIS_RECLAIM_LOCK, JSON.stringify(mine), { condition: 'NX', expiration: { type: 'PX', value: LOCK_STALE_MS } });
    if (ok === null) {
      let other: Partial<LockInfo> | undefined;
      try {
        other = JSON.parse(String(await client.get(REDIS_RECLAIM_LOCK))) as LockInfo;
      } catch {
        other = undefined;
      }
      throw held(`${maskUrl(url)} key ${REDIS_RECLAIM_LOCK}`, other);
    }
  } catch (e) {
    await client.quit().catch(() => undefined);
    throw e instanceof ExternalError ? e : failed(e);
  }
  return {
    where: maskUrl(url),
    async load(cluster) {
      const out: ClusterChecks = new Map();
      const raw = await client.hGetAll(reclaimKey(cluster)).catch((e: unknown) => {
        throw failed(e);
      });
      for (const [k, v] of Object.entries(raw)) {
        try {
          const c = JSON.parse(String(v)) as unknown;
          if (isCheck(c)) out.set(k, c);
        } catch {
          /* an entry this version cannot read: the Job starts over */
        }
      }
      return out;
    },
    async save(cluster, checks) {
      const key = reclaimKey(cluster);
      const multi = client.multi().del(key);
      if (checks.size) multi.hSet(key, Object.fromEntries([...checks].map(([k, v]) => [k, JSON.stringify(v)])));
      await multi.exec().catch((e: unknown) => {
        throw failed(e);
      });
    },
    async close() {
      try {
        await client.eval(UNLOCK, { keys: [REDIS_RECLAIM_LOCK], arguments: [JSON.stringify(mine)] });
      } catch {
        /* the lock expires by itself */
      }
      await client.quit().catch(() => undefined);
    },
  };
}
