import pg from 'pg';
// @ts-expect-error plain ESM script without types (shared with bench/history.mjs)
import { startPostgres as start } from '../../scripts/postgres.mjs';
import { tool } from './tools.js';

/**
 * A real PostgreSQL server (Debian's `postgresql`; scripts/test.sh installs it) for tests, started by
 * scripts/postgres.mjs: initdb and pg_ctl (found by test/support/tools.ts) in a temp folder, a free loopback
 * port, password authentication for the user `mlloop`, run as the `postgres` user when tests run as root.
 * stop() stops it and removes the folder; call it in afterAll.
 */
export interface PostgresServer {
  host: string;
  port: number;
  user: string;
  password: string;
  dir: string;
  /** A URL for `database` (default `postgres`). */
  url(database?: string): string;
  /** Creates a fresh database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** What the server logged (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

export async function startPostgres(): Promise<PostgresServer> {
  const s = (await start({ initdb: tool('initdb'), pgCtl: tool('pgCtl') })) as Omit<PostgresServer, 'createDatabase'>;
  return {
    ...s,
    async createDatabase(name: string) {
      const c = new pg.Client({ connectionString: s.url() });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
      } finally {
        await c.end();
      }
      return s.url(name);
    },
  };
}
