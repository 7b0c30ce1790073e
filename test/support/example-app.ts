import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { EXAMPLE, ROOT } from './paths.js';
import { run } from './run.js';

/**
 * The example model service (examples/ocr-fields/app.py) for tests: trains a small model once per
 * checkout (cached in node_modules/.cache/mlloop-test, not the temp folder a test run must leave empty;
 * written under a temp name and renamed, so parallel test files share it), starts app.py on a free
 * loopback port and waits until it reports ready.
 */

const PY = process.env.MLLOOP_EXAMPLE_PYTHON ?? 'python3';

export async function trainedModel(epochs = 2): Promise<string> {
  // Keyed by the example's code, so a changed model format never reuses a stale model.
  const code = createHash('sha256');
  for (const f of readdirSync(EXAMPLE).filter((n) => n.endsWith('.py')).sort()) code.update(f).update(readFileSync(join(EXAMPLE, f)));
  const cache = join(ROOT, 'node_modules', '.cache', 'mlloop-test');
  const dir = join(cache, `ocr-model-e${epochs}-${code.digest('hex').slice(0, 12)}`);
  if (existsSync(join(dir, 'model.json'))) return dir;
  mkdirSync(cache, { recursive: true });
  // Staged next to the cache (same filesystem, so the rename is atomic) and removed whatever happens.
  const tmp = mkdtempSync(join(cache, '.train-'));
  try {
    const r = await run(PY, ['train.py', '--epochs', String(epochs), '--data', 'sample_data', '--out', join(tmp, 'out')], { cwd: EXAMPLE, timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`train.py failed (${r.code}): ${r.stderr.slice(-2000)}`);
    try {
      renameSync(join(tmp, 'out'), dir);
    } catch {
      // Another test file won the race; its model is as good.
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}

export interface ExampleAppOptions {
  model?: string;
  injectLatencyMs?: number;
  injectErrorRate?: number;
  modelVersion?: string;
  inferenceLog?: string;
  seed?: number;
  startupDelayMs?: number;
  port?: number;
}

export interface ExampleApp {
  url: string;
  port: number;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export async function startExampleApp(o: ExampleAppOptions = {}): Promise<ExampleApp> {
  const model = o.model ?? (await trainedModel());
  const args = ['app.py', '--model', model, '--port', String(o.port ?? 0), '--host', '127.0.0.1'];
  if (o.injectLatencyMs) args.push('--inject-latency-ms', String(o.injectLatencyMs));
  if (o.injectErrorRate) args.push('--inject-error-rate', String(o.injectErrorRate));
  if (o.modelVersion) args.push('--model-version', o.modelVersion);
  if (o.inferenceLog) args.push('--inference-log', o.inferenceLog);
  if (o.seed !== undefined) args.push('--seed', String(o.seed));
  if (o.startupDelayMs) args.push('--startup-delay-ms', String(o.startupDelayMs));
  const child = spawn(PY, args, { cwd: EXAMPLE, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let exited: number | null | undefined;
  const exit = new Promise<void>((resolve) =>
    child.on('exit', (code) => {
      exited = code;
      resolve();
    }),
  );
  child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-8000)));
  const stop = async () => {
    if (exited === undefined) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exit;
      clearTimeout(t);
    }
  };
  const url = await new Promise<string>((resolve, reject) => {
    let listening: string | undefined;
    const timer = setTimeout(() => reject(new Error(`app.py did not become ready in 60s:\n${out}`)), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      out = (out + d.toString()).slice(-8000);
      listening ??= /listening on (http:\/\/\S+)/.exec(out)?.[1];
      // With a startup delay the caller wants the server before it is ready (readiness probes).
      if (listening && (o.startupDelayMs || /ready model_version=/.test(out))) {
        clearTimeout(timer);
        resolve(listening);
      }
    });
    void exit.then(() => {
      clearTimeout(timer);
      reject(new Error(`app.py exited with code ${exited}:\n${out}`));
    });
  });
  return { url, port: Number(new URL(url).port), child, output: () => out, stop };
}
