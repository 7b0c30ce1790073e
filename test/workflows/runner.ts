/**
 * A small local runner for mlloop's reusable workflows, enough to run their jobs end to end in tests: it evaluates
 * `${{ }}` expressions (contexts inputs, github, runner, steps, needs, secrets; operators ! == != && || and the
 * functions the workflows use), honours job and step `if:`, `needs:`, `continue-on-error` and step outputs, runs
 * `run:` steps with bash as the runner does, runs mlloop's actions from dist/ through the runner contract
 * (`runAction`), and stands in for the few third-party actions the workflows use (checkout, setup-python,
 * upload-artifact, download-artifact). Anything else fails loudly, so a test never passes by skipping a step.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { basename, isAbsolute, join } from 'node:path';
import { runAction } from '../support/run.js';
import { EXAMPLE } from '../support/paths.js';
import { bash, readWorkflow, type Workflow } from './helpers.js';
import { tempDir } from '../support/tmp.js';

export type Value = string | number | boolean | null | Value[] | { [k: string]: Value };

// ---------------------------------------------------------------------------------------------------- expressions

type Token = { t: 'op' | 'str' | 'num' | 'id'; v: string };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) i++;
    else if (src.startsWith('&&', i) || src.startsWith('||', i) || src.startsWith('==', i) || src.startsWith('!=', i) || src.startsWith('<=', i) || src.startsWith('>=', i)) {
      out.push({ t: 'op', v: src.slice(i, i + 2) });
      i += 2;
    } else if ('!()[],.<>'.includes(c)) {
      out.push({ t: 'op', v: c });
      i++;
    } else if (c === "'") {
      let s = '';
      i++;
      for (;;) {
        if (i >= src.length) throw new Error(`unterminated string in ${src}`);
        if (src[i] === "'" && src[i + 1] === "'") {
          s += "'";
          i += 2;
        } else if (src[i] === "'") {
          i++;
          break;
        } else s += src[i++];
      }
      out.push({ t: 'str', v: s });
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9.]+/.exec(src.slice(i))!;
      out.push({ t: 'num', v: m[0] });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(src.slice(i))!;
      out.push({ t: 'id', v: m[0] });
      i += m[0].length;
    } else throw new Error(`unexpected ${c} in ${src}`);
  }
  return out;
}

export interface Scope {
  contexts: Record<string, Value>;
  status: { failed: boolean };
}

const truthy = (v: Value | undefined) => !(v === null || v === undefined || v === false || v === '' || v === 0);

/** GitHub's loose equality: strings case-insensitively; other mixed types as numbers (null 0, '' 0, NaN never equal). */
function equal(a: Value | undefined, b: Value | undefined): boolean {
  if (typeof a === 'string' && typeof b === 'string') return a.toLowerCase() === b.toLowerCase();
  const num = (v: Value | undefined): number => (v === null || v === undefined ? 0 : typeof v === 'boolean' ? Number(v) : typeof v === 'number' ? v : typeof v === 'string' ? (v.trim() === '' ? 0 : Number(v)) : NaN);
  if (typeof a !== typeof b || a === null || b === null) return num(a) === num(b);
  return a === b;
}

export function toText(v: Value | undefined): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v, null, 2);
  return String(v);
}

function evaluate(src: string, scope: Scope): Value {
  const toks = tokenize(src);
  let p = 0;
  const peek = () => toks[p];
  const take = (v?: string) => {
    const t = toks[p++];
    if (!t || (v !== undefined && t.v !== v)) throw new Error(`expected ${v ?? 'a token'} in ${src}`);
    return t;
  };
  const fns: Record<string, (args: Value[]) => Value> = {
    format: ([f, ...a]) => String(f).replace(/\{(\d+)\}/g, (_, n) => toText(a[Number(n)])),
    tojson: ([v]) => JSON.stringify(v ?? null, null, 2),
    fromjson: ([v]) => JSON.parse(String(v)) as Value,
    contains: ([h, n]) => (Array.isArray(h) ? h.some((x) => equal(x, n)) : String(h).toLowerCase().includes(String(n).toLowerCase())),
    startswith: ([h, n]) => String(h).toLowerCase().startsWith(String(n).toLowerCase()),
    success: () => !scope.status.failed,
    failure: () => scope.status.failed,
    always: () => true,
    cancelled: () => false,
  };
  const primary = (): Value => {
    const t = take();
    if (t.t === 'str') return t.v;
    if (t.t === 'num') return Number(t.v);
    if (t.t === 'op' && t.v === '(') {
      const v = or();
      take(')');
      return v;
    }
    if (t.t !== 'id') throw new Error(`unexpected ${t.v} in ${src}`);
    if (t.v === 'true' || t.v === 'false') return t.v === 'true';
    if (t.v === 'null') return null;
    if (peek()?.v === '(') {
      take('(');
      const args: Value[] = [];
      while (peek()?.v !== ')') {
        args.push(or());
        if (peek()?.v === ',') take(',');
      }
      take(')');
      const fn = fns[t.v.toLowerCase()];
      if (!fn) throw new Error(`function ${t.v} is not supported by the test runner`);
      return fn(args);
    }
    if (!(t.v in scope.contexts)) throw new Error(`unknown context ${t.v} in ${src}`);
    let v: Value | undefined = scope.contexts[t.v];
    for (;;) {
      if (peek()?.v === '.') {
        take('.');
        const key = take().v;
        v = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, Value>)[key] : undefined;
      } else if (peek()?.v === '[') {
        take('[');
        const k = or();
        take(']');
        v = v !== null && typeof v === 'object' ? (v as Record<string, Value>)[String(k)] : undefined;
      } else break;
    }
    return v ?? null;
  };
  const not = (): Value => (peek()?.v === '!' ? (take('!'), !truthy(not())) : primary());
  const cmp = (): Value => {
    const a = not();
    const op = peek()?.v;
    if (op === '==' || op === '!=') {
      take();
      const b = not();
      return op === '==' ? equal(a, b) : !equal(a, b);
    }
    return a;
  };
  const and = (): Value => {
    let a = cmp();
    while (peek()?.v === '&&') {
      take();
      const b = cmp();
      a = truthy(a) ? b : a;
    }
    return a;
  };
  const or = (): Value => {
    let a = and();
    while (peek()?.v === '||') {
      take();
      const b = and();
      a = truthy(a) ? a : b;
    }
    return a;
  };
  const v = or();
  if (p !== toks.length) throw new Error(`trailing tokens in ${src}`);
  return v;
}

/** A string with `${{ }}` parts, as the runner fills `with:`, `env:` and names. */
export function interpolate(text: unknown, scope: Scope): string {
  if (typeof text !== 'string') return toText(text as Value);
  return text.replace(/\$\{\{([\s\S]*?)\}\}/g, (_, e: string) => toText(evaluate(e, scope)));
}

/** An `if:` condition: an expression with or without `${{ }}`, `success()` when absent. */
export function condition(cond: unknown, scope: Scope): boolean {
  if (cond === undefined) return !scope.status.failed;
  if (typeof cond === 'boolean') return cond;
  const s = String(cond).trim();
  const m = /^\$\{\{([\s\S]*)\}\}$/.exec(s);
  const expr = m ? m[1]! : s;
  // GitHub adds success() to a condition that calls no status function.
  const hasStatus = /\b(success|failure|always|cancelled)\s*\(/.test(expr);
  const v = truthy(evaluate(expr, scope));
  return hasStatus ? v : v && !scope.status.failed;
}

// ---------------------------------------------------------------------------------------------------- runs

export interface Artifacts {
  /** name → folder holding the artifact's files */
  [name: string]: string;
}

export interface RunOptions {
  /** The reusable workflow, e.g. .github/workflows/model-ci.yml */
  workflow: string;
  /** The caller's `with:` (defaults come from on.workflow_call.inputs). */
  with: Record<string, Value>;
  secrets?: Record<string, string>;
  eventName: string;
  event: Record<string, Value>;
  github: { repository: string; sha: string; run_id: string; token: string; ref: string; workflow_ref: string; actor?: string; server_url?: string };
  /** Fills the workspace for actions/checkout (`ref` as given to checkout). */
  checkout(dir: string, ref: string): void;
  /** Artifacts of other runs (download-artifact with run-id). */
  otherRun?(runId: string, name: string): string | undefined;
  /** The runner's extra environment, for every step (GITHUB_API_URL, the artifact service, PATH). */
  env?: Record<string, string>;
  /** Run only these jobs (the others are reported skipped), for jobs the test machine cannot run. */
  only?: string[];
  /** The repository's actions/cache entries, key → folder; shared between runs like GitHub's cache. */
  cache?: Map<string, string>;
  /**
   * Stand-ins for third-party actions this machine cannot run (Docker's): they receive the evaluated `with:` and
   * return the outputs, so a test sees exactly what the workflow hands them.
   */
  stubs?: Record<string, (w: Record<string, string>, workspace: string) => Record<string, string>>;
  /** Called before each job starts, after the jobs it needs have finished (e.g. to start a service). */
  beforeJob?(id: string, done: Readonly<Record<string, JobResult>>): Promise<void>;
}

export interface StepResult {
  id?: string;
  name: string;
  outcome: 'success' | 'failure' | 'skipped';
  outputs: Record<string, string>;
  stdout: string;
  stderr: string;
}

export interface JobResult {
  result: 'success' | 'failure' | 'skipped';
  /** The job's checkout folder (empty for a skipped job). */
  workspace: string;
  outputs: Record<string, string>;
  steps: StepResult[];
  summary: string;
}

export interface RunResult {
  jobs: Record<string, JobResult>;
  artifacts: Artifacts;
  outputs: Record<string, string>;
}

function copyInto(src: string, dest: string): void {
  mkdirSync(dest, { recursive: true });
  if (statSync(src).isDirectory()) for (const f of readdirSync(src)) cpSync(join(src, f), join(dest, f), { recursive: true });
  else cpSync(src, join(dest, basename(src)));
}

export async function runWorkflow(o: RunOptions): Promise<RunResult> {
  const wf: Workflow = readWorkflow(o.workflow);
  const call = (wf.on as Record<string, { inputs?: Record<string, { default?: Value; required?: boolean }>; outputs?: Record<string, { value: string }> }>).workflow_call!;
  const inputs: Record<string, Value> = {};
  for (const [k, v] of Object.entries(call.inputs ?? {})) {
    if (k in o.with) inputs[k] = o.with[k]!;
    else if (v.required) throw new Error(`${o.workflow}: required input ${k} not given`);
    else inputs[k] = v.default ?? '';
  }
  for (const k of Object.keys(o.with)) if (!(k in (call.inputs ?? {}))) throw new Error(`${o.workflow}: unknown input ${k}`);
  const artifacts: Artifacts = {};
  const store = tempDir('wf-artifacts', { scope: 'file' });
  const jobs: Record<string, JobResult> = {};
  const github: Record<string, Value> = { ...o.github, server_url: o.github.server_url ?? 'https://github.com', actor: o.github.actor ?? 'octocat', event_name: o.eventName, event: o.event };
  const pending = Object.keys(wf.jobs);
  while (pending.length) {
    const id = pending.find((j) => ([] as string[]).concat((wf.jobs[j] as { needs?: string | string[] }).needs ?? []).every((n) => jobs[n]));
    if (!id) throw new Error('job dependencies cannot be satisfied');
    pending.splice(pending.indexOf(id), 1);
    const job = wf.jobs[id] as { needs?: string | string[]; if?: unknown; steps?: Record<string, unknown>[]; outputs?: Record<string, string> };
    const needsIds = ([] as string[]).concat(job.needs ?? []);
    const needs: Record<string, Value> = Object.fromEntries(needsIds.map((n) => [n, { result: jobs[n]!.result, outputs: jobs[n]!.outputs }]));
    const temp = tempDir(`wf-${id}`, { scope: 'file' });
    const workspace = join(temp, 'workspace');
    mkdirSync(workspace);
    const steps: Record<string, Value> = {};
    const scope: Scope = {
      contexts: { inputs, github, needs, steps, secrets: o.secrets ?? {}, runner: { temp: join(temp, 'runner-temp'), os: 'Linux' }, env: {}, vars: {} },
      status: { failed: needsIds.some((n) => jobs[n]!.result !== 'success') },
    };
    mkdirSync(join(temp, 'runner-temp'));
    if ((o.only && !o.only.includes(id)) || !condition(job.if, scope)) {
      jobs[id] = { result: 'skipped', workspace: '', outputs: {}, steps: [], summary: '' };
      continue;
    }
    await o.beforeJob?.(id, jobs);
    scope.status.failed = false;
    const results: StepResult[] = [];
    const post: (() => void)[] = [];
    let summary = '';
    for (const s of job.steps ?? []) {
      const name = interpolate(s.name ?? s.uses ?? 'run', scope);
      const sid = s.id as string | undefined;
      if (!condition(s.if, scope)) {
        results.push({ id: sid, name, outcome: 'skipped', outputs: {}, stdout: '', stderr: '' });
        if (sid) steps[sid] = { outcome: 'skipped', conclusion: 'skipped', outputs: {} };
        continue;
      }
      const w = Object.fromEntries(Object.entries((s.with ?? {}) as Record<string, unknown>).map(([k, v]) => [k, interpolate(v, scope)]));
      const env = Object.fromEntries(Object.entries((s.env ?? {}) as Record<string, unknown>).map(([k, v]) => [k, interpolate(v, scope)]));
      const r = await runStep(s, w, env, workspace, scope, o, artifacts, store, post);
      summary += r.summary ?? '';
      results.push({ id: sid, name, ...r });
      const conclusion = r.outcome === 'failure' && s['continue-on-error'] === true ? 'success' : r.outcome;
      if (sid) steps[sid] = { outcome: r.outcome, conclusion, outputs: r.outputs };
      if (conclusion === 'failure') scope.status.failed = true;
    }
    // actions/cache saves in its post step, and only when the job succeeded.
    if (!scope.status.failed) for (const f of post) f();
    const outputs = Object.fromEntries(Object.entries(job.outputs ?? {}).map(([k, v]) => [k, interpolate(v, scope)]));
    jobs[id] = { result: scope.status.failed ? 'failure' : 'success', workspace, outputs, steps: results, summary };
  }
  const scope: Scope = { contexts: { jobs: jobs as unknown as Value }, status: { failed: false } };
  const outputs = Object.fromEntries(Object.entries(call.outputs ?? {}).map(([k, v]) => [k, interpolate(v.value, scope)]));
  return { jobs, artifacts, outputs };
}

async function runStep(
  s: Record<string, unknown>,
  w: Record<string, string>,
  env: Record<string, string>,
  workspace: string,
  scope: Scope,
  o: RunOptions,
  artifacts: Artifacts,
  store: string,
  post: (() => void)[],
): Promise<{ outcome: 'success' | 'failure'; outputs: Record<string, string>; stdout: string; stderr: string; summary?: string }> {
  const ok = (outputs: Record<string, string> = {}) => ({ outcome: 'success' as const, outputs, stdout: '', stderr: '' });
  const fail = (why: string) => ({ outcome: 'failure' as const, outputs: {}, stdout: '', stderr: why });
  const abs = (p: string) => (isAbsolute(p) ? p : join(workspace, p));
  const uses = (s.uses as string | undefined) ?? '';
  const action = uses.split('@')[0]!;
  const base = { GITHUB_REPOSITORY: o.github.repository, GITHUB_SHA: o.github.sha, GITHUB_RUN_ID: o.github.run_id, GITHUB_REF: o.github.ref, GITHUB_WORKFLOW_REF: o.github.workflow_ref, GITHUB_EVENT_NAME: o.eventName, GITHUB_SERVER_URL: 'https://github.com', GITHUB_WORKSPACE: workspace };
  if (s.run !== undefined) {
    const dir = s['working-directory'] ? abs(interpolate(s['working-directory'], scope)) : workspace;
    const r = await bash(String(s.run), dir, { ...base, ...o.env, ...env, RUNNER_TEMP: (scope.contexts.runner as { temp: string }).temp });
    return { outcome: r.code === 0 ? 'success' : 'failure', outputs: r.outputs, stdout: r.stdout, stderr: r.stderr };
  }
  const own = /^mlloop\/mlloop\/actions\/([\w-]+)$/.exec(action);
  if (own) {
    const inputs = Object.fromEntries(Object.entries(w).filter(([, v]) => v !== ''));
    const r = await runAction(own[1]!, inputs, { cwd: workspace, event: o.event, eventName: o.eventName, env: { ...base, ...o.env, ...env }, timeoutMs: 120_000 });
    return { outcome: r.code === 0 ? 'success' : 'failure', outputs: r.outputs, stdout: r.stdout, stderr: r.stderr, summary: r.summary };
  }
  const stub = o.stubs?.[action];
  if (stub) return ok(stub(w, workspace));
  switch (action) {
    case 'actions/checkout':
      if (w['persist-credentials'] !== 'false') return fail('checkout must not persist credentials');
      o.checkout(workspace, w.ref ?? '');
      return ok();
    case 'actions/setup-python':
      return ok();
    case 'actions/cache': {
      const cache = o.cache ?? new Map<string, string>();
      const path = abs(w.path!);
      const prefixes = (w['restore-keys'] ?? '').split('\n').map((x) => x.trim()).filter(Boolean);
      const hit = cache.get(w.key!) ?? [...cache.entries()].reverse().find(([k]) => prefixes.some((p) => k.startsWith(p)))?.[1];
      if (hit) copyInto(hit, path);
      if (!cache.has(w.key!))
        post.push(() => {
          if (!existsSync(path)) return;
          const saved = tempDir('wf-cache', { scope: 'file' });
          copyInto(path, saved);
          cache.set(w.key!, saved);
        });
      return ok({ 'cache-hit': String(cache.has(w.key!)) });
    }
    case 'actions/upload-artifact': {
      const paths = w.path!.split('\n').map((x) => x.trim()).filter(Boolean).map(abs);
      const present = paths.filter((p) => existsSync(p));
      if (present.length === 0 && w['if-no-files-found'] === 'error') return fail(`no files found at ${paths.join(', ')}`);
      if (artifacts[w.name!] && w.overwrite !== 'true') return fail(`an artifact named ${w.name} already exists`);
      const dest = join(store, w.name!);
      rmSync(dest, { recursive: true, force: true });
      for (const p of present) copyInto(p, dest);
      artifacts[w.name!] = dest;
      return ok({ 'artifact-id': String(Object.keys(artifacts).length) });
    }
    case 'actions/download-artifact': {
      const from = w['run-id'] ? o.otherRun?.(w['run-id'], w.name!) : artifacts[w.name!];
      if (w['run-id'] && !w['github-token']) return fail('download-artifact from another run needs github-token');
      if (!from) return fail(`Artifact not found for name: ${w.name}`);
      copyInto(from, abs(w.path ?? '.'));
      return ok({ 'download-path': abs(w.path ?? '.') });
    }
    default:
      throw new Error(`the test runner cannot run ${uses}`);
  }
}

/** actions/checkout of the example model repository: its files as committed (no build outputs, no workflows). */
export function checkoutExample(dir: string): void {
  cpSync(EXAMPLE, dir, { recursive: true, filter: (p) => !/\/(\.github|outputs|logs|__pycache__)(\/|$)/.test(p.slice(EXAMPLE.length)) });
}

/** The steps that failed, with the end of their output, for an assertion message worth reading. */
export function failedSteps(r: RunResult, job?: string): string[] {
  const jobs = job ? [r.jobs[job]!] : Object.values(r.jobs);
  return jobs.flatMap((j) => j.steps.filter((s) => s.outcome === 'failure').map((s) => `${s.name}: ${(s.stdout + s.stderr).slice(-1500)}`));
}
