import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished, TestRunner } from 'vitest';

// Folders made outside a test (at module level, in beforeAll): removed after the test file by test/support/setup.ts.
const fileScoped = new Set<string>();

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 100 });
}

/**
 * A fresh folder `$TMPDIR/mlloop-<prefix>-XXXXXX` that is removed, also when the test fails: after the test
 * that made it, or after the test file when made outside a test, in a concurrent test or with
 * `{ scope: 'file' }` (a folder shared by the file's tests, e.g. one cached by a helper).
 */
export function tempDir(prefix: string, opts: { scope?: 'test' | 'file' } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), `mlloop-${prefix}-`));
  // Concurrent tests share one "current test" across their awaits: their folders wait for the end of the file.
  const test = TestRunner.getCurrentTest();
  if (opts.scope !== 'file' && test && !test.concurrent) {
    onTestFinished(() => removeDir(dir));
    return dir;
  }
  fileScoped.add(dir);
  return dir;
}

/** Removes every file-scoped folder (called once per test file from the setup file). */
export function removeFileTempDirs(): void {
  for (const dir of fileScoped) removeDir(dir);
  fileScoped.clear();
}
