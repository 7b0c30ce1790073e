import { spawn } from 'node:child_process';

export interface RunOptions {
  command: string;
  cwd: string;
  env: Record<string, string | undefined>;
  /** Absolute time (ms since epoch) after which the whole process tree is killed. */
  deadline?: number;
  /** Grace between SIGTERM and SIGKILL. */
  killGraceMs?: number;
  signal?: AbortSignal;
  /** Called once per complete output line. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
}

export interface RunResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  aborted: boolean;
  durationMs: number;
}

/**
 * Runs a shell command in its own process group, streaming its output line by line. On the deadline
 * (or an abort) the whole group is sent SIGTERM, then SIGKILL after a grace period, so no grandchild
 * (a data loader worker, a pip subprocess) outlives it.
 */
export function runShell(opts: RunOptions): Promise<RunResult> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', opts.command], {
      cwd: opts.cwd,
      env: opts.env as NodeJS.ProcessEnv,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let timedOut = false;
    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;
    const killGroup = (sig: NodeJS.Signals) => {
      try {
        if (child.pid) process.kill(-child.pid, sig);
      } catch {
        /* already gone */
      }
    };
    const stop = () => {
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), opts.killGraceMs ?? 5000);
      killTimer.unref();
    };
    let deadlineTimer: NodeJS.Timeout | undefined;
    if (opts.deadline !== undefined) {
      deadlineTimer = setTimeout(() => {
        timedOut = true;
        stop();
      }, Math.max(0, opts.deadline - Date.now()));
    }
    const onAbort = () => {
      aborted = true;
      stop();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    for (const stream of ['stdout', 'stderr'] as const) {
      let buf = '';
      child[stream]!.setEncoding('utf8');
      child[stream]!.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          opts.onLine?.(buf.slice(0, nl).replace(/\r$/, ''), stream);
          buf = buf.slice(nl + 1);
        }
      });
      child[stream]!.on('end', () => {
        if (buf) opts.onLine?.(buf, stream);
        buf = '';
      });
    }
    child.on('error', reject);
    child.on('close', (code, sig) => {
      if (deadlineTimer) clearTimeout(deadlineTimer);
      if (killTimer) clearTimeout(killTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      // The leader is gone; make sure nothing of its group lingers.
      if (timedOut || aborted) killGroup('SIGKILL');
      resolve({ exitCode: code, signal: sig, timedOut, aborted, durationMs: Date.now() - start });
    });
  });
}
