import { spawn } from 'node:child_process';
import type { Service } from './services.js';
import { rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tempDir } from './tmp.js';
import { resolveTool, TOOLS } from './tools.js';

/**
 * A real redis-server (Debian's package; scripts/test.sh installs it) for tests: a free loopback port, its own
 * temp folder as working directory, no persistence (`--save "" --appendonly no`). stop() kills it and removes
 * the folder; call it in afterAll. One instance per test file is enough: tests use their own key prefixes.
 */
export const REDIS_BIN = resolveTool(TOOLS.redisServer) ?? 'redis-server';

/** A started service (test/support/services.ts), without the HTTP readiness a Redis server has no use for. */
export type RedisServer = Omit<Service, 'name'>;

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' }, () => s.write('PING\r\n'));
    s.setTimeout(1000, () => s.destroy());
    s.on('data', (d) => {
      resolve(d.toString().startsWith('+PONG'));
      s.destroy();
    });
    s.on('error', () => resolve(false));
    s.on('close', () => resolve(false));
  });
}

export async function startRedis(opts: { args?: string[]; timeoutMs?: number } = {}): Promise<RedisServer> {
  const dir = tempDir('redis', { scope: 'file' });
  // Port 0 would disable TCP in redis-server: ask the kernel for a free one and retry on a race.
  for (let attempt = 0; ; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.on('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const child = spawn(REDIS_BIN, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', ...(opts.args ?? [])], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d) => (out = (out + d).slice(-8000)));
    child.stderr!.on('data', (d) => (out = (out + d).slice(-8000)));
    let exited = false;
    const exit = new Promise<void>((resolve) => child.on('exit', () => ((exited = true), resolve())));
    child.on('error', () => (exited = true));
    const server: RedisServer = {
      url: `redis://127.0.0.1:${port}`,
      port,
      dir,
      child,
      output: () => out,
      async stop() {
        if (!exited) {
          child.kill('SIGKILL');
          await exit;
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
    const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
    while (!exited && Date.now() < deadline && !(await ping(port))) await new Promise((r) => setTimeout(r, 50));
    if (!exited && Date.now() < deadline) return server;
    if (!exited) child.kill('SIGKILL');
    await exit;
    if (attempt < 2 && /Address already in use/.test(out)) continue;
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`redis-server did not start on port ${port}:\n${out}`);
  }
}
