// Runs the CLI in-process over src/ (no build needed); temp folders come from the shared tempDir (removed
// after the test whether it passed or not).
import { main } from '../../src/cli/main.js';
import { tempDir } from '../support/tmp.js';

export function tmp(prefix = 'hardening'): string {
  return tempDir(prefix);
}

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

export async function mlloop(argv: readonly string[], cwd: string, env: Record<string, string | undefined> = {}): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  const code = await main({ argv, cwd, env: { PATH: process.env.PATH, ...env }, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), now: () => new Date('2025-06-12T11:05:22Z') });
  return { code, stdout, stderr };
}

/** A bad-input failure: exit 2, a message naming `what`, and no internal error. */
export function expectBadInput(r: Ran, ...mentions: (string | RegExp)[]): void {
  const msg = `exit ${r.code}\n${r.stderr}`;
  if (r.code !== 2) throw new Error(`expected exit 2, got ${msg}`);
  if (/internal error|\n\s+at /.test(r.stderr)) throw new Error(`a stack trace or internal error: ${msg}`);
  for (const m of mentions) {
    const ok = typeof m === 'string' ? r.stderr.includes(m) : m.test(r.stderr);
    if (!ok) throw new Error(`expected the message to mention ${String(m)}: ${msg}`);
  }
}
