import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXAMPLE, ROOT } from '../support/paths.js';
import { readWorkflow, type Job, type Workflow } from './helpers.js';

const TEMPLATES = 'workflow-templates';
const EXAMPLE_WF = 'examples/ocr-fields/.github/workflows';
const templates = readdirSync(join(ROOT, TEMPLATES)).filter((f) => f.endsWith('.yml')).map((f) => f.replace(/\.yml$/, ''));
const REUSABLE = /^mlloop\/mlloop\/(\.github\/workflows\/[\w.-]+\.yml)@v0$/;

const LEVEL: Record<string, number> = { none: 0, read: 1, write: 2 };

/** The permissions a job's token gets, as a map (GitHub's shorthands expanded). */
function grants(p: Job['permissions'] | Workflow['permissions']): Record<string, number> {
  if (p === 'write-all' || p === 'read-all') throw new Error('use explicit permissions');
  return Object.fromEntries(Object.entries(p ?? {}).map(([k, v]) => [k, LEVEL[v] ?? -1]));
}

function callerJob(wf: Workflow): [string, Job] {
  const jobs = Object.entries(wf.jobs).filter(([, j]) => j.uses);
  expect(jobs, 'one job that calls a reusable workflow').toHaveLength(1);
  return jobs[0]!;
}

describe.each(templates)('starter workflow %s', (name) => {
  const wf = readWorkflow(`${TEMPLATES}/${name}.yml`);
  const [, job] = callerJob(wf);

  it('has the metadata GitHub reads from <name>.properties.json', () => {
    const props = JSON.parse(readFileSync(join(ROOT, TEMPLATES, `${name}.properties.json`), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(props).sort()).toEqual(['categories', 'description', 'filePatterns', 'iconName', 'name']);
    expect(typeof props.name).toBe('string');
    expect((props.description as string).length).toBeGreaterThan(40);
    const icon = props.iconName as string;
    if (!icon.startsWith('octicon ')) expect(existsSync(join(ROOT, TEMPLATES, `${icon}.svg`)), `${icon}.svg next to the templates`).toBe(true);
    expect(Array.isArray(props.categories) && props.categories.length > 0).toBe(true);
    // GitHub offers the template to repositories with a root file matching a pattern: the example must be one.
    const patterns = (props.filePatterns as string[]).map((p) => new RegExp(p));
    const rootFiles = readdirSync(EXAMPLE);
    for (const re of patterns) expect(rootFiles.some((f) => re.test(f)), `${re} matches a file of examples/ocr-fields`).toBe(true);
  });

  it("calls one of mlloop's reusable workflows and grants every permission its jobs ask for", () => {
    const m = REUSABLE.exec(job.uses!);
    expect(m, job.uses).not.toBeNull();
    const called = readWorkflow(m![1]!);
    expect(Object.keys(called.on as object)).toEqual(['workflow_call']);
    // A called workflow can only keep or lower the caller's permissions: a missing grant fails the run at start.
    const given = grants(job.permissions);
    for (const [id, j] of Object.entries(called.jobs)) {
      for (const [scope, level] of Object.entries(grants(j.permissions))) expect(given[scope] ?? 0, `${m![1]} job ${id} needs ${scope}`).toBeGreaterThanOrEqual(level);
    }
    // ...and asks for no more than they use.
    const needed = new Set(Object.values(called.jobs).flatMap((j) => Object.keys(grants(j.permissions))));
    for (const scope of Object.keys(given)) expect(needed.has(scope), `${scope} is granted but no job of ${m![1]} uses it`).toBe(true);
  });

  it('passes every required secret of the reusable workflow', () => {
    const called = readWorkflow(REUSABLE.exec(job.uses!)![1]!);
    const declared = (called.on as Record<string, { secrets?: Record<string, { required?: boolean }> } | undefined>).workflow_call?.secrets ?? {};
    const passed = job.secrets === 'inherit' ? Object.keys(declared) : Object.keys(job.secrets ?? {});
    for (const [k, v] of Object.entries(declared)) if (v.required) expect(passed, `secret ${k}`).toContain(k);
  });

  it('is what examples/ocr-fields uses: same triggers, workflow, permissions and secrets; at least the same inputs', () => {
    const example = readWorkflow(`${EXAMPLE_WF}/${name.replace(/^mlloop-/, '')}.yml`);
    expect(example.name).toBe(wf.name);
    expect(example.on).toEqual(wf.on);
    expect(example.permissions).toEqual(wf.permissions);
    const [, ej] = callerJob(example);
    expect(ej.uses).toBe(job.uses);
    expect(ej.permissions).toEqual(job.permissions);
    expect(Object.keys(ej.secrets ?? {})).toEqual(expect.arrayContaining(Object.keys(job.secrets ?? {})));
    expect(Object.keys(ej.with ?? {})).toEqual(expect.arrayContaining(Object.keys(job.with ?? {})));
  });
});

it('there is a starter workflow for each reusable workflow, and the example has nothing else', () => {
  const reusable = readdirSync(join(ROOT, '.github/workflows')).filter((f) => Object.keys(readWorkflow(`.github/workflows/${f}`).on as object).includes('workflow_call'));
  const called = templates.map((t) => REUSABLE.exec(callerJob(readWorkflow(`${TEMPLATES}/${t}.yml`))[1].uses!)![1]!.replace('.github/workflows/', ''));
  expect(called.sort()).toEqual(reusable.sort());
  expect(readdirSync(join(ROOT, EXAMPLE_WF)).sort()).toEqual(templates.map((t) => `${t.replace(/^mlloop-/, '')}.yml`).sort());
});

it('the comment workflow follows the CI workflow by its name', () => {
  for (const dir of [TEMPLATES, EXAMPLE_WF]) {
    const prefix = dir === TEMPLATES ? 'mlloop-' : '';
    const ci = readWorkflow(`${dir}/${prefix}model-ci.yml`);
    const comment = readWorkflow(`${dir}/${prefix}model-ci-comment.yml`);
    expect((comment.on as { workflow_run: { workflows: string[] } }).workflow_run.workflows).toEqual([ci.name]);
  }
});

it("the example's workflows name files the example has", () => {
  const files: [string, string][] = [];
  for (const f of readdirSync(join(ROOT, EXAMPLE_WF))) {
    const [, job] = callerJob(readWorkflow(`${EXAMPLE_WF}/${f}`));
    const w = (job.with ?? {}) as Record<string, unknown>;
    for (const key of ['policy', 'ground-truth', 'request', 'gate-policy', 'smoke-request', 'dockerfile']) if (typeof w[key] === 'string' && !String(w[key]).includes('${{')) files.push([`${f}: ${key}`, String(w[key])]);
  }
  expect(files.length).toBeGreaterThanOrEqual(6);
  for (const [where, file] of files) expect(existsSync(join(EXAMPLE, file)), `${where} → ${file}`).toBe(true);
});
