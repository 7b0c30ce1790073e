import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { DIST } from '../support/paths.js';

/** `mlloop relay` from dist/ as a real process; resolves once it prints the address it listens on. */
export interface RelayProcess {
  url: string;
  child: ChildProcess;
  stderr(): string;
  /** SIGTERM, then the exit code and what it printed. */
  stop(): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

export function startRelayProcess(config: string, env: Record<string, string>, extra: string[] = []): Promise<RelayProcess> {
  const child = spawn(process.execPath, [join(DIST, 'cli.cjs'), 'relay', '--config', config, '--host', '127.0.0.1', '--port', '0', ...extra], {
    env: { PATH: process.env.PATH, ...env },
    // Next to its config (a test's temp folder): a relative spool.dir never lands in the repository.
    cwd: dirname(config),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  // 'close', not 'exit': the last lines on stdout may arrive after the exit.
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay did not start:\n${stderr}`)), 30_000);
    child.stderr!.on('data', (d) => {
      stderr += d;
      const m = /relay listening on (http:\/\/\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve({
          url: m[1]!,
          child,
          stderr: () => stderr,
          async stop() {
            child.kill('SIGTERM');
            const code = await exit;
            return { code, stdout, stderr };
          },
        });
      }
    });
    void exit.then((code) => {
      clearTimeout(timer);
      reject(new Error(`relay exited with ${code}:\n${stderr}`));
    });
  });
}
