import { existsSync, mkdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { ConfigurationError, ExternalError } from '../errors.js';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations/index.js';

/**
 * Where the evaluation history lives: a PostgreSQL server (`postgres://…`, through node-postgres) or a folder
 * holding an embedded PostgreSQL (PGlite). Both speak the same SQL, so everything above this module is one code path.
 */
export type StoreTarget = { kind: 'postgres'; url: string; display: string; host: string; port: number } | { kind: 'pglite'; dir: string; display: string };

export const DEFAULT_STORE = '.mlloop/history';

export function isPostgresUrl(text: string): boolean {
  return /^postgres(ql)?:\/\//i.test(text.trim());
}

/** A folder that already holds a PGlite store (PostgreSQL's data directory has a PG_VERSION file). */
export function isStoreDir(dir: string): boolean {
  try {
    return statSync(dir).isDirectory() && existsSync(path.join(dir, 'PG_VERSION'));
  } catch {
    return false;
  }
}

/** `--db` (or $MLLOOP_HISTORY_DB, or .mlloop/history) as a target; the password is handed to `secret` for masking. */
export function storeTarget(arg: string | undefined, cwd: string, secret: (v: string | undefined) => void): StoreTarget {
  const text = (arg ?? '').trim() || DEFAULT_STORE;
  if (!isPostgresUrl(text)) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
      throw new ConfigurationError(`--db ${text.replace(/\/\/[^@/]*@/, '//***@')}: not a PostgreSQL URL or a folder`, { hint: 'give postgres://user:password@host:5432/db, or a folder for the embedded store (default .mlloop/history)' });
    }
    const dir = path.resolve(cwd, text);
    return { kind: 'pglite', dir, display: dir };
  }
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new ConfigurationError('--db: the PostgreSQL URL cannot be parsed', { hint: 'write it as postgres://user:password@host:5432/database (percent-encode special characters in the password)' });
  }
  secret(decodeURIComponent(u.password));
  secret(u.password);
  const port = Number(u.port || 5432);
  const host = u.hostname.replace(/^\[|\]$/g, '') || 'localhost';
  const display = `postgres://${u.username ? `${u.username}${u.password ? ':***' : ''}@` : ''}${u.host}${u.pathname}`;
  return { kind: 'postgres', url: text, display, host, port };
}

/** The few operations the history needs, over either driver. Rows come back as plain objects. */
export interface Db {
  readonly target: StoreTarget;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Several statements without parameters (a migration). */
  exec(sql: string): Promise<void>;
  /** `COPY table (cols) FROM STDIN` fed with text-format chunks (each a whole number of lines). */
  copyFrom(table: string, columns: readonly string[], chunks: AsyncIterable<string>): Promise<void>;
  close(): Promise<void>;
}

/** Opens the store, creating an embedded one when `create` is set, and brings its schema up to date. */
export async function openStore(target: StoreTarget, opts: { create: boolean; migrate?: boolean }): Promise<Db> {
  const db = target.kind === 'postgres' ? await openPostgres(target) : await openPglite(target, opts.create);
  try {
    if (opts.migrate !== false) await migrate(db);
    return db;
  } catch (e) {
    await db.close().catch(() => undefined);
    throw e;
  }
}

async function openPglite(target: Extract<StoreTarget, { kind: 'pglite' }>, create: boolean): Promise<Db> {
  let PGlite: typeof import('@electric-sql/pglite').PGlite;
  try {
    ({ PGlite } = await import('@electric-sql/pglite'));
  } catch (e) {
    throw new ConfigurationError(`the embedded history store needs the npm package @electric-sql/pglite, which is not installed here (${(e as Error).message.split('\n')[0]})`, {
      hint: 'run npm ci in mlloop\'s folder (or npm install @electric-sql/pglite next to it), or pass --db postgres://… to use a PostgreSQL server',
    });
  }
  if (!isStoreDir(target.dir)) {
    if (existsSync(target.dir) && !statSync(target.dir).isDirectory()) {
      throw new ConfigurationError('is a file, not a history store folder', { file: target.dir, hint: 'give a folder for the embedded store, or postgres://… for a server' });
    }
    if (!create) throw new ConfigurationError('no evaluation history here', { file: target.dir, hint: 'push an evaluation first (mlloop history push --metrics metrics.json), or pass --db with the store to read' });
    mkdirSync(target.dir, { recursive: true });
  }
  const pg = new PGlite(target.dir);
  try {
    await pg.waitReady;
  } catch (e) {
    throw new ConfigurationError(`cannot open the embedded history store: ${(e as Error).message}`, { file: target.dir, hint: 'is another process using it, or is the folder not a PGlite store?' });
  }
  return {
    target,
    async query<T>(sql: string, params: unknown[] = []) {
      return (await pg.query<T>(sql, params)).rows;
    },
    async exec(sql: string) {
      await pg.exec(sql);
    },
    async copyFrom(table, columns, chunks) {
      // PGlite has no COPY protocol: each chunk is handed over as a blob that COPY reads as /dev/blob.
      for await (const chunk of chunks) {
        if (chunk.length) await pg.query(`COPY ${table} (${columns.join(', ')}) FROM '/dev/blob'`, [], { blob: new Blob([chunk]) });
      }
    },
    close: () => pg.close(),
  };
}

type PgClient = import('pg').Client;

const RETRYABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', '57P03']);

async function openPostgres(target: Extract<StoreTarget, { kind: 'postgres' }>): Promise<Db> {
  const pg = await import('pg');
  const Client = (pg.default ?? pg).Client;
  const where = `PostgreSQL at ${target.host}:${target.port}`;
  let client: PgClient | undefined;
  let last: Error & { code?: string } = new Error('not tried');
  for (let attempt = 0; attempt < 3; attempt++) {
    if (attempt) await new Promise((r) => setTimeout(r, 400 * 2 ** attempt));
    const c = new Client({ connectionString: target.url, connectionTimeoutMillis: 5000, application_name: 'mlloop' });
    c.on('error', () => undefined);
    try {
      await c.connect();
      client = c;
      break;
    } catch (e) {
      last = e as Error & { code?: string };
      await c.end().catch(() => undefined);
      if (last.code === '28P01' || last.code === '28000') throw new ConfigurationError(`${where} refused the login: ${last.message}`, { hint: `check the user and password in --db ${target.display}` });
      if (last.code === '3D000') throw new ConfigurationError(`${where}: ${last.message}`, { hint: `create the database first (createdb), or fix its name in --db ${target.display}` });
      if (!RETRYABLE.has(last.code ?? '') && !/timeout|terminated/i.test(last.message)) break;
    }
  }
  if (!client) throw new ExternalError(`cannot reach the history database, ${where} (${target.display}), after 3 attempts: ${last.message}`, { hint: 'is the server running and reachable from here? check host, port and firewall' });
  const c = client;
  const fail = (e: unknown): never => {
    const err = e as Error & { code?: string };
    if (err.code && /^(08|57P)/.test(err.code)) throw new ExternalError(`${where}: the connection failed: ${err.message}`);
    throw e;
  };
  return {
    target,
    async query<T>(sql: string, params: unknown[] = []) {
      return (await c.query(sql, params).catch(fail)).rows as T[];
    },
    async exec(sql: string) {
      await c.query(sql).catch(fail);
    },
    async copyFrom(table, columns, chunks) {
      const { from } = await import('pg-copy-streams');
      const { pipeline } = await import('node:stream/promises');
      const { Readable } = await import('node:stream');
      const stream = c.query(from(`COPY ${table} (${columns.join(', ')}) FROM STDIN`));
      await pipeline(Readable.from(chunks), stream);
    },
    close: () => c.end(),
  };
}

/**
 * Applies the migrations the store lacks, each in its own transaction, recorded in schema_migrations. A session
 * advisory lock serializes first uses (two CI jobs creating the schema at once). A schema newer than this
 * mlloop's is refused (exit 2).
 */
export async function migrate(db: Db): Promise<number> {
  const LOCK = 7426518;
  await db.query('SELECT pg_advisory_lock($1)', [LOCK]);
  try {
    await db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
    const done = new Set((await db.query<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => Number(r.version)));
    const newest = Math.max(0, ...done);
    if (newest > SCHEMA_VERSION) {
      throw new ConfigurationError(`the history database has schema version ${newest}, newer than this mlloop knows (${SCHEMA_VERSION})`, {
        file: db.target.display,
        hint: 'it was written by a newer mlloop: upgrade mlloop to read or write it',
      });
    }
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      await db.exec('BEGIN');
      try {
        await db.exec(m.sql);
        await db.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
        await db.exec('COMMIT');
      } catch (e) {
        await db.exec('ROLLBACK').catch(() => undefined);
        throw e;
      }
    }
    return SCHEMA_VERSION;
  } finally {
    await db.query('SELECT pg_advisory_unlock($1)', [LOCK]).catch(() => undefined);
  }
}
