import { accessSync, constants } from 'node:fs';
import * as path from 'node:path';
import { ConfigurationError, ExternalError, jsonPath } from '../errors.js';

/** The real Helm, as a check of what mlloop writes: `helm template` with the values it is about to write. */

export interface HelmRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `helm` on the PATH of `env`, or undefined. */
export function findHelm(env: Record<string, string | undefined>): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, 'helm');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/**
 * The one place mlloop starts helm, through @actions/exec (quiet: no command echo, output collected, the
 * exit code returned rather than thrown). A helm run is short and leaves no children, so the abort signal
 * is only checked before it starts.
 */
export async function runHelm(helm: string, args: readonly string[], opts: { cwd: string; env: Record<string, string | undefined>; input?: string; signal?: AbortSignal }): Promise<HelmRun> {
  opts.signal?.throwIfAborted();
  const { getExecOutput } = await import('@actions/exec');
  try {
    const r = await getExecOutput(helm, [...args], {
      cwd: opts.cwd,
      env: Object.fromEntries(Object.entries(opts.env).filter((e): e is [string, string] => e[1] !== undefined)),
      input: Buffer.from(opts.input ?? ''),
      silent: true,
      ignoreReturnCode: true,
    });
    return { code: r.exitCode, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    throw new ExternalError(`cannot run ${helm}: ${(e as Error).message}`);
  }
}

export interface TemplateCheck {
  /** Objects helm rendered (documents with content). */
  objects: number;
  /** The templates that rendered something, e.g. templates/rollout.yaml. */
  templates: string[];
  manifest: string;
}

/**
 * `helm template RELEASE CHART --namespace NS -f -` with `valuesYaml` on stdin. A refusal is exit 2 naming the
 * template and line (or the schema path) Helm reports; `chartShown` is the chart folder as the user named it.
 */
export async function helmTemplate(helm: string, o: { chartDir: string; chartShown: string; release: string; namespace: string; valuesYaml: string; cwd: string; env: Record<string, string | undefined>; signal?: AbortSignal }): Promise<TemplateCheck> {
  const r = await runHelm(helm, ['template', o.release, o.chartDir, '--namespace', o.namespace, '--values', '-'], { cwd: o.cwd, env: o.env, input: o.valuesYaml, signal: o.signal });
  if (r.code !== 0) throw helmError(r.stderr || r.stdout, o.chartShown);
  const docs = r.stdout.split(/^---\s*$/m).filter((d) => /^[^#\s]/m.test(d));
  const templates = [...new Set([...r.stdout.matchAll(/^# Source: [^/\n]+\/(.+)$/gm)].map((m) => m[1]!))];
  return { objects: docs.length, templates, manifest: r.stdout };
}

const LOCATION = /([^\s():"]+\/templates\/[^\s():"]+):(\d+)(?::(\d+))?/g;
const HINT = 'the values pass values.schema.json, but the chart cannot render them: fix the value that line uses (helm template CHART -f VALUES --debug shows the output)';

/** Helm's error output (v3 and v4 forms) → one ConfigurationError with the template file, line and reason. */
export function helmError(stderr: string, chartShown: string): ConfigurationError {
  const text = stderr.replace(/^Use --debug flag to render out invalid YAML\s*$/m, '').replace(/^Error: /m, '').trim();
  const inChart = (p: string) => path.join(chartShown, p.replace(/^[^/]+\//, ''));
  if (/values don't meet the specifications of the schema/.test(text)) {
    const problems = text
      .split('\n')
      .map((l) => /^\s*- (?:at '([^']*)': |([^:]+): )?(.*)$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => (m[1] !== undefined ? `${jsonPath(m[1].split('/').filter(Boolean).map((s) => (/^\d+$/.test(s) ? Number(s) : s)))}: ${m[3]}` : m[2] !== undefined ? `$.${m[2]}: ${m[3]}` : m[3]!));
    return new ConfigurationError(`helm refuses the values: ${problems.join('; ') || text}`, { file: path.join(chartShown, 'values.schema.json'), hint: 'change the values so the chart\'s schema accepts them' });
  }
  const yamlError = /YAML parse error on (\S+): (.*)/.exec(text);
  if (yamlError) return new ConfigurationError(`helm template renders invalid YAML with these values (a line of the rendered output): ${yamlError[2]}`, { file: inChart(yamlError[1]!), hint: HINT });
  const locations = [...text.matchAll(LOCATION)];
  const last = locations.at(-1);
  if (last) {
    const where = (m: RegExpMatchArray) => `${inChart(m[1]!)}:${m[2]}${m[3] ? `:${m[3]}` : ''}`;
    const reason = text
      .slice(last.index! + last[0].length)
      .replace(/^\)?:?\s*/, '')
      .replace(/^executing "[^"]*" at <[^>]*>:\s*/, '')
      .replace(/\s+/g, ' ')
      .trim();
    const outer = locations.length > 1 ? ` (from ${where(locations[0]!)})` : '';
    return new ConfigurationError(`helm template fails with these values${outer}: ${reason || text.split('\n')[0]}`, { file: where(last), hint: HINT });
  }
  return new ConfigurationError(`helm template fails with these values: ${text.replace(/\s+/g, ' ')}`, { file: chartShown, hint: HINT });
}
