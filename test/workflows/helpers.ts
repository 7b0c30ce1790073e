import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseOutputFile, run } from '../support/run.js';
import { ROOT } from '../support/paths.js';

/** What GitHub substitutes when someone adds a starter workflow to a repository. */
export function fillPlaceholders(text: string): string {
  return text.replaceAll('$default-branch', 'main').replaceAll('$protected-branches', 'main').replaceAll('$cron-daily', "'17 3 * * *'");
}

export interface Step {
  id?: string;
  name?: string;
  uses?: string;
  run?: string;
  env?: Record<string, string>;
  with?: Record<string, unknown>;
}
export interface Job {
  uses?: string;
  with?: Record<string, unknown>;
  secrets?: Record<string, unknown> | 'inherit';
  permissions?: Record<string, string> | 'read-all' | 'write-all';
  steps?: Step[];
}
export interface Workflow {
  name?: string;
  on: Record<string, unknown> | string | string[];
  permissions?: Record<string, string>;
  jobs: Record<string, Job>;
}

export function readWorkflow(rel: string): Workflow {
  return parse(fillPlaceholders(readFileSync(join(ROOT, rel), 'utf8'))) as Workflow;
}

export function step(rel: string, job: string, id: string): Step {
  const s = readWorkflow(rel).jobs[job]?.steps?.find((x) => x.id === id || x.name === id);
  if (!s) throw new Error(`${rel}: no step ${id} in job ${job}`);
  return s;
}

export interface ScriptRun {
  code: number | null;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
}

/**
 * Runs a `run:` step as the runner does (`bash --noprofile --norc -eo pipefail`), with GITHUB_OUTPUT. The step's
 * `env:` is the only way data reaches the script, so `env` must name exactly the variables the step declares.
 */
export async function runStep(s: Step, env: Record<string, string>): Promise<ScriptRun> {
  if (!s.run) throw new Error('not a run step');
  const declared = Object.keys(s.env ?? {}).sort();
  if (JSON.stringify(declared) !== JSON.stringify(Object.keys(env).sort())) throw new Error(`the step declares env ${declared.join(', ')}; the test gave ${Object.keys(env).join(', ')}`);
  const dir = mkdtempSync(join(tmpdir(), 'mlloop-step-'));
  const script = join(dir, 'step.sh');
  const output = join(dir, 'output');
  writeFileSync(script, s.run);
  writeFileSync(output, '');
  const ran = await run('bash', ['--noprofile', '--norc', '-eo', 'pipefail', script], { cwd: dir, env: { ...env, GITHUB_OUTPUT: output, RUNNER_TEMP: dir } });
  const text = readFileSync(output, 'utf8');
  // Plain name=value lines (what these steps write) and heredoc blocks.
  const outputs: Record<string, string> = { ...parseOutputFile(text) };
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z0-9_-]+)=(.*)$/.exec(line);
    if (m) outputs[m[1]!] = m[2]!;
  }
  return { ...ran, outputs };
}
