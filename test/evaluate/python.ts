import { run } from '../support/run.js';
import { PYTHON } from '../support/paths.js';

/** Runs a Python snippet of the reference tools with JSON on stdin; returns the JSON it prints. */
export async function python<T = unknown>(script: string, input: unknown): Promise<T> {
  const r = await run(PYTHON, ['-c', script], { input: JSON.stringify(input), timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`python failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
