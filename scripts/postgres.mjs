// A throwaway PostgreSQL server for tests and benchmarks (Debian's `postgresql`): initdb and pg_ctl in a temp
// folder, a free loopback port, password (scram) authentication for the user `mlloop`. Run as root, the server
// runs as the `postgres` user (PostgreSQL refuses root), owner of the temp folder. stop() stops it and removes
// the folder. test/support/postgres.ts finds the binaries; bench/history.mjs uses findPostgresBin.
import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, chmodSync, chownSync, constants, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** A PostgreSQL program: on PATH first, else the newest /usr/lib/postgresql/<major>/bin. */
export function findPostgresBin(name) {
  const ok = (p) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  for (const d of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) if (ok(join(d, name))) return join(d, name);
  let majors = [];
  try {
    majors = readdirSync('/usr/lib/postgresql').sort((a, b) => b.localeCompare(a, 'en', { numeric: true }));
  } catch {}
  for (const m of majors) if (ok(join('/usr/lib/postgresql', m, 'bin', name))) return join('/usr/lib/postgresql', m, 'bin', name);
  throw new Error(`${name} not found on PATH or in /usr/lib/postgresql/*/bin: apt-get install postgresql`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const p = srv.address().port;
      srv.close(() => resolve(p));
    });
  });
}

export async function startPostgres({ initdb = findPostgresBin('initdb'), pgCtl = findPostgresBin('pg_ctl') } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'mlloop-postgres-'));
  const data = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const password = 'pw-Secret-4-tests';
  const user = 'mlloop';
  const owner = process.getuid?.() === 0 ? { uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })), gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' })) } : {};
  const run = (cmd, args) => {
    const r = spawnSync(cmd, args, { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH, LANG: 'C.UTF-8' }, ...owner });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
  };
  const log = () => {
    try {
      return readFileSync(logFile, 'utf8').slice(-8000);
    } catch {
      return '';
    }
  };
  const stop = () => {
    spawnSync(pgCtl, ['-D', data, '-m', 'immediate', '-w', 'stop'], { cwd: dir, stdio: 'ignore', ...owner });
    rmSync(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 100 });
  };
  try {
    writeFileSync(join(dir, 'pwfile'), `${password}\n`);
    if (owner.uid !== undefined) {
      chmodSync(dir, 0o700);
      chownSync(dir, owner.uid, owner.gid);
      chownSync(join(dir, 'pwfile'), owner.uid, owner.gid);
    }
    run(initdb, ['-D', data, '-U', user, '--pwfile', join(dir, 'pwfile'), '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-sync']);
    for (let attempt = 0; ; attempt++) {
      const port = await freePort();
      try {
        run(pgCtl, ['-D', data, '-l', logFile, '-w', '-t', '120', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`, 'start']);
      } catch (e) {
        if (attempt < 2 && /could not bind|already in use/i.test(log())) continue;
        throw new Error(`${e.message}\n${log()}`);
      }
      const url = (database = 'postgres') => `postgres://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
      return { host: '127.0.0.1', port, user, password, dir, url, log, stop: async () => stop() };
    }
  } catch (e) {
    stop();
    throw e;
  }
}
