import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from '../support/paths.js';
import { fillPlaceholders } from './helpers.js';
import { lintWorkflow } from './linters.js';

const DIRS = ['.github/workflows', 'workflow-templates', ...readdirSync(join(ROOT, 'examples')).map((e) => `examples/${e}/.github/workflows`)];
const files = DIRS.flatMap((d) => (existsSync(join(ROOT, d)) ? readdirSync(join(ROOT, d)).filter((f) => /\.ya?ml$/.test(f)).map((f) => join(ROOT, d, f)) : []));
const OWN = 'mlloop/mlloop';

interface Step {
  uses?: string;
  with?: Record<string, unknown>;
  run?: string;
}
interface Job {
  uses?: string;
  with?: Record<string, unknown>;
  secrets?: Record<string, unknown> | 'inherit';
  permissions?: unknown;
  steps?: Step[];
}
interface Workflow {
  on: Record<string, unknown> | string | string[];
  permissions?: unknown;
  concurrency?: unknown;
  jobs: Record<string, Job>;
}

function actionInputs(ref: string): Record<string, { required?: boolean; default?: unknown }> {
  const path = ref === '' ? 'action.yml' : `${ref}/action.yml`;
  const meta = parse(readFileSync(join(ROOT, path), 'utf8')) as { inputs?: Record<string, { required?: boolean; default?: unknown }> };
  return meta.inputs ?? {};
}

function actionOutputs(ref: string): Record<string, unknown> {
  const path = ref === '' ? 'action.yml' : `${ref}/action.yml`;
  return (parse(readFileSync(join(ROOT, path), 'utf8')) as { outputs?: Record<string, unknown> }).outputs ?? {};
}

/** Outputs of the third-party actions the workflows read (from their action.yml at the pinned versions). */
const THIRD_PARTY_OUTPUTS: Record<string, Set<string>> = {
  'docker/build-push-action': new Set(['imageid', 'digest', 'metadata']),
  'actions/download-artifact': new Set(['download-path']),
  'actions/upload-artifact': new Set(['artifact-id', 'artifact-url', 'artifact-digest']),
  'actions/cache': new Set(['cache-hit']),
};

function callInputs(file: string): { inputs: Record<string, { required?: boolean; default?: unknown }>; secrets: Record<string, { required?: boolean }> } {
  const wf = parse(readFileSync(join(ROOT, file), 'utf8')) as Workflow;
  const call = (wf.on as Record<string, { inputs?: never; secrets?: never }>).workflow_call ?? {};
  return { inputs: call.inputs ?? {}, secrets: call.secrets ?? {} };
}

describe.each(files.map((f) => [relative(ROOT, f), f]))('%s', (_name, file) => {
  const text = fillPlaceholders(readFileSync(file, 'utf8'));
  const wf = parse(text) as Workflow;
  const triggers = typeof wf.on === 'string' ? [wf.on] : Array.isArray(wf.on) ? wf.on : Object.keys(wf.on);

  it('passes actionlint and shellcheck (every run: block)', async () => {
    expect(await lintWorkflow(text, file)).toEqual([]);
  });

  it('pins every third-party action to a full commit SHA with its version in a comment', () => {
    const lines = text.split('\n').filter((l) => /^\s*(-\s+)?uses:\s/.test(l));
    for (const l of lines) {
      const ref = l.replace(/^\s*(-\s+)?uses:\s*/, '').split(/\s+#/)[0]!.trim().replace(/^["']|["']$/g, '');
      if (ref.startsWith('./') || ref.startsWith(`${OWN}/`) || ref.startsWith(`${OWN}@`)) continue;
      expect(ref, l).toMatch(/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/);
      expect(l, 'version comment').toMatch(/#\s*v\d+(\.\d+)*/);
    }
  });

  it('is least-privilege and safe with untrusted input', () => {
    expect(triggers).not.toContain('pull_request_target');
    if (!triggers.includes('workflow_call')) {
      expect(wf.permissions, 'workflow-level permissions: {} (jobs ask for what they need)').toEqual({});
      expect(wf.concurrency, 'a concurrency group').toBeDefined();
    }
    for (const [id, job] of Object.entries(wf.jobs)) {
      expect(job.permissions, `job ${id} declares its permissions`).toBeDefined();
      for (const s of job.steps ?? []) {
        if (s.uses?.startsWith('actions/checkout@')) expect(s.with?.['persist-credentials'], `job ${id}: checkout without persisted credentials`).toBe(false);
        if (s.run) expect(s.run, `job ${id}: event data only through env:`).not.toMatch(/\$\{\{\s*(github\.event|inputs)\./);
      }
    }
    // Every granted permission says why, in a comment on its line.
    const granted = text.split('\n').filter((l) => /^\s+(actions|checks|contents|deployments|id-token|issues|packages|pages|pull-requests|repository-projects|security-events|statuses|attestations):\s*(read|write)\b/.test(l));
    for (const l of granted) expect(l, 'permission comment').toMatch(/#\s*\S/);
  });

  it("passes only known inputs to mlloop's actions and reusable workflows, and every required one", () => {
    const check = (where: string, given: Record<string, unknown>, declared: Record<string, { required?: boolean; default?: unknown }>) => {
      for (const k of Object.keys(given)) expect(Object.keys(declared), `${where}: unknown input "${k}"`).toContain(k);
      for (const [k, v] of Object.entries(declared)) if (v.required && v.default === undefined) expect(Object.keys(given), `${where}: required input "${k}"`).toContain(k);
    };
    for (const [id, job] of Object.entries(wf.jobs)) {
      const ju = job.uses ?? '';
      const reusable = new RegExp(`^(?:${OWN}/|\\./)(\\.github/workflows/[\\w.-]+\\.ya?ml)(?:@.+)?$`).exec(ju);
      if (reusable) {
        const decl = callInputs(reusable[1]!);
        check(`job ${id}`, job.with ?? {}, decl.inputs);
        if (job.secrets && job.secrets !== 'inherit') for (const k of Object.keys(job.secrets)) expect(Object.keys(decl.secrets), `job ${id}: unknown secret ${k}`).toContain(k);
      }
      for (const s of job.steps ?? []) {
        const m = new RegExp(`^${OWN}(?:/(actions/[\\w-]+))?@`).exec(s.uses ?? '') ?? /^\.\/(actions\/[\w-]+)$/.exec(s.uses ?? '');
        if (m) check(`job ${id} step ${s.uses}`, s.with ?? {}, actionInputs(m[1] ?? ''));
      }
    }
  });

  // actionlint cannot see the outputs of actions referenced by a remote ref: check every steps.<id>.outputs.<name>
  // against what that step can set (an mlloop action's action.yml, a run step's `name=` lines, known actions).
  it('reads only outputs that the referenced step sets', () => {
    for (const [id, job] of Object.entries(wf.jobs)) {
      const produced = new Map<string, Set<string> | null>();
      for (const s of (job.steps ?? []) as (Step & { id?: string })[]) {
        if (!s.id) continue;
        const m = new RegExp(`^${OWN}(?:/(actions/[\\w-]+))?@`).exec(s.uses ?? '');
        if (m) produced.set(s.id, new Set([...Object.keys(actionOutputs(m[1] ?? '')), 'result']));
        else if (s.run) produced.set(s.id, new Set([...s.run.matchAll(/echo\s+"([\w-]+)=/g)].map((x) => x[1]!)));
        else produced.set(s.id, THIRD_PARTY_OUTPUTS[(s.uses ?? '').split('@')[0]!] ?? null);
      }
      const jobText = JSON.stringify(job);
      for (const [, step, output] of jobText.matchAll(/steps\.([\w-]+)\.outputs\.([\w-]+)/g)) {
        expect(produced.has(step!), `job ${id}: steps.${step} is not a step with an id in this job`).toBe(true);
        const outs = produced.get(step!);
        if (outs) expect([...outs], `job ${id}: steps.${step}.outputs.${output}`).toContain(output);
      }
    }
  });
});

it('there are workflows to check', () => {
  expect(files.length).toBeGreaterThan(0);
});

// The linters can fail: a workflow with one mistake of each kind, at known lines and columns.
it('reports actionlint and shellcheck findings at their line and column of the workflow', async () => {
  const bad = [
    'on:', //                                                       1
    '  push:', //                                                   2
    '    branches: [$default-branch]', //                           3
    'permissions: {}', //                                           4
    'jobs:', //                                                     5
    '  build:', //                                                  6
    '    runs-on: ubuntu-latest', //                                7
    '    needs: [missing]', //                                      8
    '    steps:', //                                                9
    '      - env:', //                                              10
    '          FILES: a b', //                                      11
    '        run: |', //                                            12
    '          echo "start"', //                                    13
    '          cp "$FILES" /tmp/${{ github.sha }}/$FILES', //        14
    '      - run: echo `date`', //                                  15
    '      - shell: pwsh', //                                       16
    '        run: echo $x', //                                      17
    '  powershell:', //                                             18
    '    runs-on: ubuntu-latest', //                                19
    '    defaults: {run: {shell: pwsh}}', //                        20
    '    steps:', //                                                21
    '      - run: echo $x', //                                      22
    '      - shell: bash', //                                       23
    '        run: echo $x', //                                      24
    '',
  ].join('\n');
  const findings = await lintWorkflow(fillPlaceholders(bad), 'bad.yml');
  expect(findings).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/^6:3 \[job-needs\] .*"missing"/),
      // the ${{ }} before it became a placeholder of its own length, so the column is the file's
      expect.stringMatching(/^14:46 \[shellcheck\] SC2086 /),
      expect.stringMatching(/^15:19 \[shellcheck\] SC2006 /),
      // a job whose default shell is PowerShell: only its bash step is shellcheck's
      expect.stringMatching(/^24:19 \[shellcheck\] SC2086 /),
    ]),
  );
  // Nothing else: the quoted "$FILES", echo "start" and the PowerShell steps (lines 17 and 22) are clean.
  expect(new Set(findings.map((f) => f.split(':')[0]))).toEqual(new Set(['6', '14', '15', '24']));
});

it('starter workflows use only the placeholders GitHub fills in, and are linted with them filled', () => {
  for (const f of files.filter((x) => relative(ROOT, x).startsWith('workflow-templates/'))) {
    const used = [...readFileSync(f, 'utf8').matchAll(/\$([a-z]+(?:-[a-z]+)+)/g)].map((m) => m[1]);
    for (const p of used) expect(['default-branch', 'protected-branches', 'cron-daily'], `${relative(ROOT, f)}: $${p}`).toContain(p);
    expect(fillPlaceholders(readFileSync(f, 'utf8'))).not.toMatch(/\$(default-branch|protected-branches|cron-daily)/);
  }
});
