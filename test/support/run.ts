import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { DIST } from './paths.js';
import { tempDir } from './tmp.js';

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a process to completion, collecting its output. */
export function run(cmd: string, args: readonly string[], opts: { cwd?: string; env?: Record<string, string | undefined>; input?: string; timeoutMs?: number } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env } as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    // Decoded as a stream: a multi-byte character split across two chunks must not become U+FFFD.
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (stdout += d));
    child.stderr.on('data', (d: string) => (stderr += d));
    // A time-out stops the child as CI does (SIGTERM, so it removes its temp folders), then SIGKILL after 10 s.
    let kill: NodeJS.Timeout | undefined;
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          child.kill('SIGTERM');
          kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
        }, opts.timeoutMs)
      : undefined;
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      clearTimeout(kill);
      resolve({ code, stdout, stderr });
    });
    // A child that exits without reading stdin (git, a fast failure) must not crash the test run.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

/** Runs the built CLI exactly as a user does: `node dist/cli.cjs …`. */
export function cli(args: readonly string[], opts: { cwd?: string; env?: Record<string, string | undefined>; timeoutMs?: number } = {}): Promise<Ran> {
  return run(process.execPath, [join(DIST, 'cli.cjs'), ...args], opts);
}

export interface ActionRun extends Ran {
  outputs: Record<string, string>;
  summary: string;
  /** Values the action asked the runner to mask (::add-mask::). */
  masked: string[];
}

/** Parses the heredoc blocks of a GITHUB_OUTPUT file. */
export function parseOutputFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<]+)<<(.+)$/.exec(lines[i]!);
    if (!m) continue;
    const [, name, delim] = m;
    const value: string[] = [];
    for (i++; i < lines.length && lines[i] !== delim; i++) value.push(lines[i]!);
    out[name!] = value.join('\n');
  }
  return out;
}

/**
 * Runs `node dist/<action>.cjs` the way the GitHub runner does: inputs as INPUT_* variables, outputs
 * and the job summary through GITHUB_OUTPUT / GITHUB_STEP_SUMMARY files, the event in GITHUB_EVENT_PATH.
 */
export async function runAction(
  action: string,
  inputs: Record<string, string>,
  opts: { cwd?: string; env?: Record<string, string | undefined>; event?: unknown; eventName?: string; timeoutMs?: number } = {},
): Promise<ActionRun> {
  const dir = tempDir('runner');
  const outputFile = join(dir, 'output');
  const summaryFile = join(dir, 'summary');
  const eventFile = join(dir, 'event.json');
  writeFileSync(outputFile, '');
  writeFileSync(summaryFile, '');
  writeFileSync(eventFile, JSON.stringify(opts.event ?? {}));
  const env: Record<string, string | undefined> = {
    GITHUB_ACTIONS: 'true',
    CI: 'true',
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    GITHUB_EVENT_PATH: eventFile,
    GITHUB_EVENT_NAME: opts.eventName ?? 'pull_request',
    GITHUB_WORKSPACE: opts.cwd ?? process.cwd(),
    GITHUB_REPOSITORY: 'acme/ocr-fields',
    GITHUB_RUN_ID: '1234567890',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_SHA: 'a'.repeat(40),
    RUNNER_TEMP: dir,
    ...opts.env,
  };
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.replace(/ /g, '_').toUpperCase()}`] = v;
  const ran = await run(process.execPath, [join(DIST, `${action}.cjs`)], { cwd: opts.cwd, env, timeoutMs: opts.timeoutMs });
  const masked = [...ran.stdout.matchAll(/^::add-mask::(.*)$/gm)].map((m) => m[1]!);
  return {
    ...ran,
    outputs: parseOutputFile(readFileSync(outputFile, 'utf8')),
    summary: existsSync(summaryFile) ? readFileSync(summaryFile, 'utf8') : '',
    masked,
  };
}

/** Whether a process runs no more: gone, or at most a zombie waiting for its reaper (Linux /proc). */
export function runsNoMore(pid: number): boolean {
  const stat = `/proc/${pid}/stat`;
  if (!existsSync(stat)) return true;
  return readFileSync(stat, 'utf8').replace(/^.*\) /, '')[0] === 'Z';
}
