import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { cli, parseOutputFile, run } from '../support/run.js';
import { EXAMPLE, ROOT } from '../support/paths.js';
import { alertmanagerDispatches, parseAlertmanager } from '../../src/core/relay/events.js';
import type { Route } from '../../src/core/relay/config.js';
import { tempDir } from '../support/tmp.js';

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
  const dir = tempDir('step');
  return bash(s.run, dir, { ...env, RUNNER_TEMP: dir });
}

/** Runs a script as the runner runs a `run:` step (`bash --noprofile --norc -eo pipefail`), collecting GITHUB_OUTPUT. */
export async function bash(script: string, cwd: string, env: Record<string, string>): Promise<ScriptRun> {
  const dir = tempDir('bash');
  const file = join(dir, 'step.sh');
  const output = join(dir, 'output');
  writeFileSync(file, script);
  writeFileSync(output, '');
  const ran = await run('bash', ['--noprofile', '--norc', '-eo', 'pipefail', file], { cwd, env: { ...env, GITHUB_OUTPUT: output } });
  const text = readFileSync(output, 'utf8');
  // Plain name=value lines (what these steps write) and heredoc blocks.
  const outputs: Record<string, string> = { ...parseOutputFile(text) };
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z0-9_-]+)=(.*)$/.exec(line);
    if (m) outputs[m[1]!] = m[2]!;
  }
  return { ...ran, outputs };
}

const cell = (s: unknown) => String(s ?? '').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ').trim();

export const DOC_START = (file: string) => `<!-- workflow-io:start ${file} (generated from the workflow by test/workflows/docs.test.ts; do not edit) -->`;
export const DOC_END = '<!-- workflow-io:end -->';

interface CallSpec {
  inputs?: Record<string, { description?: string; type?: string; required?: boolean; default?: unknown }>;
  secrets?: Record<string, { description?: string; required?: boolean }>;
  outputs?: Record<string, { description?: string }>;
}

/** The inputs, secrets and outputs tables of a reusable workflow, from its `on.workflow_call`. */
export function workflowTables(rel: string): string {
  const call = ((readWorkflow(rel).on as Record<string, CallSpec>).workflow_call ?? {}) as CallSpec;
  const lines = [DOC_START(rel), ''];
  lines.push('| input | type | required | default | description |', '| :-- | :-- | :-: | :-- | :-- |');
  for (const [k, v] of Object.entries(call.inputs ?? {})) {
    const def = v.default === undefined || v.default === '' ? '' : `\`${cell(v.default)}\``;
    lines.push(`| \`${k}\` | ${v.type ?? 'string'} | ${v.required ? 'yes' : 'no'} | ${def} | ${cell(v.description)} |`);
  }
  if (Object.keys(call.secrets ?? {}).length) {
    lines.push('', '| secret | required | description |', '| :-- | :-: | :-- |');
    for (const [k, v] of Object.entries(call.secrets ?? {})) lines.push(`| \`${k}\` | ${v.required ? 'yes' : 'no'} | ${cell(v.description)} |`);
  }
  if (Object.keys(call.outputs ?? {}).length) {
    lines.push('', '| output | description |', '| :-- | :-- |');
    for (const [k, v] of Object.entries(call.outputs ?? {})) lines.push(`| \`${k}\` | ${cell(v.description)} |`);
  }
  lines.push('', DOC_END);
  return lines.join('\n');
}

/** The client_payload `mlloop relay` sends as ct-retrain for the example's Alertmanager webhook payload. */
export function relayRetrainPayload(): Record<string, unknown> {
  const route: Route = { name: 'retrain', source: 'alertmanager', match: {}, eventType: 'ct-retrain', owner: 'acme', repo: 'ocr-fields', sendResolved: false, token: 'unused' };
  const [dispatch] = alertmanagerDispatches(parseAlertmanager(JSON.parse(readFileSync(join(EXAMPLE, 'monitoring_alerts.json'), 'utf8'))), [route]);
  if (!dispatch) throw new Error('the relay sends nothing for monitoring_alerts.json');
  return dispatch.clientPayload;
}

/** Predicts the example's test set with `model` and evaluates it: dir/metrics.json and dir/samples.jsonl. */
export async function evaluateModel(model: string, dir: string): Promise<{ metrics: string; samples: string }> {
  const pred = join(dir, 'pred.json');
  const p = await run('python3', ['predict.py', '--model', model, '--data', 'sample_data/test', '--out', pred], { cwd: EXAMPLE });
  if (p.code !== 0) throw new Error(p.stderr);
  const out = { metrics: join(dir, 'metrics.json'), samples: join(dir, 'samples.jsonl') };
  // Evaluated as the example's model-cd.yml evaluates what it releases (its BLEU tokenizer), so later gates compare like with like.
  const tokenize = String(readWorkflow('examples/ocr-fields/.github/workflows/model-cd.yml').jobs['model-cd']!.with!.tokenize ?? '13a');
  const e = await cli(['evaluate', '--gt', join(EXAMPLE, 'sample_data/test/gt.json'), '--pred', pred, '--out', out.metrics, '--samples', out.samples, '--tokenize', tokenize]);
  if (e.code !== 0) throw new Error(e.stderr);
  return out;
}
