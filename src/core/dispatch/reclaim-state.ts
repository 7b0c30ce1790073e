import { promises as fs } from 'node:fs';
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

/** The state in one JSON file: read once, written once (atomically) at close(). */
export async function fileStore(file: string, now: () => Date): Promise<CheckStore> {
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
      if (!dirty) return;
      data.updated = now().toISOString();
      await writeJsonAtomic(file, data);
    },
  };
}

export const REDIS_RECLAIM_PREFIX = 'mlloop:reclaim:';

/** The Redis hash of one cluster's checks (hash tag on the cluster, as the collector's keys). */
export const reclaimKey = (cluster: string) => `${REDIS_RECLAIM_PREFIX}{${cluster}}:checks`;

/** The state in Redis: one hash per cluster, each save one MULTI (DEL + HSET). */
export async function redisStore(url: string): Promise<CheckStore> {
  const { openRedis, maskUrl } = await import('./redis-state.js');
  const client = await openRedis(url);
  const failed = (e: unknown) => new ExternalError(`Redis at ${maskUrl(url)} failed: ${String((e as Error)?.message ?? e).replace(url, maskUrl(url))}`, { hint: 'check that Redis runs and that this machine may reach it' });
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
      await client.quit().catch(() => undefined);
    },
  };
}
