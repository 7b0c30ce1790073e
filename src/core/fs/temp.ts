import { mkdtempSync, rmSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

/**
 * The one way mlloop makes temporary folders (git clones, downloads, browser profiles): each folder is
 * registered when made and removed by its owner when done — and, should the process end first, on exit
 * and on SIGINT/SIGTERM/SIGHUP, so no clone of a GitOps repository is left behind. Only a SIGKILL can
 * leave one, which is why nothing secret is ever written into them (tokens travel in the environment).
 */
export interface TempDir {
  readonly dir: string;
  /** Removes the folder (idempotent) and forgets it. */
  remove(): Promise<void>;
}

const registered = new Set<string>();
let installed = false;
const watchers: ((dirs: string[]) => void)[] = [];

/**
 * Told the folders still registered after each change: an action records them for its post step, which
 * removes what a killed process (SIGKILL after a cancelled job) could not.
 */
export function onTempDirsChange(watch: (dirs: string[]) => void): void {
  watchers.push(watch);
}

function changed(): void {
  for (const w of watchers) w([...registered]);
}
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function removeAllSync(): void {
  for (const dir of registered) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 2, retryDelay: 50 });
    } catch {
      /* best effort while exiting */
    }
  }
  registered.clear();
}

let shutdown: AbortController | undefined;

/**
 * Aborted when the process gets SIGINT/SIGTERM/SIGHUP: work that writes into a temp folder (a git clone)
 * listens to it, so it stops instead of writing on into a folder that is being removed.
 */
export function shutdownSignal(): AbortSignal {
  install();
  shutdown ??= new AbortController();
  return shutdown.signal;
}

function onSignal(signal: NodeJS.Signals): void {
  shutdown?.abort(new Error(`received ${signal}`));
  removeAllSync();
  // Someone else handles this signal (the CLI aborts its work, then exits 130): leave the exit to them.
  if (process.listenerCount(signal) > 1) return;
  // Otherwise die of the signal as the process would have without us (exit status 128 + signal number).
  for (const s of SIGNALS) process.removeListener(s, onSignal);
  process.kill(process.pid, signal);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', removeAllSync);
  for (const s of SIGNALS) process.on(s, onSignal);
}

function handle(dir: string): TempDir {
  registered.add(dir);
  install();
  changed();
  return {
    dir,
    async remove() {
      if (registered.delete(dir)) changed();
      await fs.rm(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 100 });
    },
  };
}

/** A fresh folder `$TMPDIR/mlloop-<prefix>-XXXXXX`, removed by `remove()` or when the process ends. */
export async function makeTempDir(prefix: string): Promise<TempDir> {
  return handle(await fs.mkdtemp(path.join(tmpdir(), `mlloop-${prefix}-`)));
}

export function makeTempDirSync(prefix: string): TempDir {
  return handle(mkdtempSync(path.join(tmpdir(), `mlloop-${prefix}-`)));
}

/** Folders made and not yet removed (for tests and diagnostics). */
export function registeredTempDirs(): string[] {
  return [...registered];
}
