import * as path from 'node:path';
import { ConfigurationError } from '../errors.js';
import { parseJson } from '../io/read.js';
import type { JsonSchema } from '../schema.js';
import releaseSchema from '../../../schemas/release.schema.json';
import quarantineSchema from '../../../schemas/quarantine.schema.json';
import { assertLabel, compareVersions, parseImageRef } from './names.js';
import { formatCommitMessage, fsTree, type RepoTree, type Trailers } from './git.js';
import { appendToYamlList, readYamlText, setYamlScalars, type ScalarEdit } from './yaml-edit.js';

/** `mlloop/release@1`: apps/<app>/<env>/release.json (docs/contracts.md). */
export interface Release {
  schema: 'mlloop/release@1';
  app: string;
  env: string;
  action: 'deploy' | 'promote' | 'rollback';
  model_version: string;
  image: string;
  source_commit: string | null;
  dataset: string | null;
  run_url: string | null;
  metrics: Record<string, number>;
  metrics_file: 'metrics.json' | null;
  samples_file: 'samples.jsonl' | null;
  deployed_at: string;
  promoted_from: string | null;
  rollback_of: string | null;
  reason: string | null;
}

export interface QuarantineEntry {
  model_version: string;
  image?: string;
  reason?: string;
  commit?: string;
  at?: string;
}

export const RELEASE_FILE = 'release.json';
export const VALUES_FILE = 'values.yaml';
export const QUARANTINE_FILE = 'quarantine.yaml';
export const METRICS_FILE = 'metrics.json';
export const SAMPLES_FILE = 'samples.jsonl';

/** `apps/<app>/<env>` relative to the repository root, after checking both names. */
export function envPath(app: string, env: string): string {
  return `apps/${assertLabel(app, 'app')}/${assertLabel(env, 'environment')}`;
}

export interface EnvState {
  /** The environment folder: absolute in a checkout, `rel` when read from a commit (readEnvStateFrom). */
  dir: string;
  rel: string;
  release?: Release;
  quarantine: QuarantineEntry[];
  valuesText?: string;
  quarantineText?: string;
}

/**
 * Reads what an environment runs now in a checkout; a malformed release.json or quarantine.yaml is exit 2, naming
 * the file. The names are DNS labels (envPath) and no component may be a symbolic link (readEnvStateFrom), so `dir`
 * stays inside `root`.
 */
export async function readEnvState(root: string, app: string, env: string): Promise<EnvState> {
  const state = await readEnvStateFrom(fsTree(root), app, env);
  return { ...state, dir: path.join(path.resolve(root), ...state.rel.split('/')) };
}

/**
 * readEnvState from any tree (a checkout or a commit): no component of apps/<app>/<env> may be a symbolic
 * link, so a repository cannot redirect mlloop's reads or writes.
 */
export async function readEnvStateFrom(tree: RepoTree, app: string, env: string): Promise<EnvState> {
  const rel = envPath(app, env);
  let cur = '';
  for (const part of rel.split('/')) {
    cur = cur ? `${cur}/${part}` : part;
    if ((await tree.kind(cur)) === 'link') throw new ConfigurationError(`${cur} is a symbolic link in the GitOps repository`, { hint: 'replace it with a real folder; mlloop never writes through links' });
  }
  const text = async (name: string) => (await tree.read(`${rel}/${name}`))?.toString('utf8');
  const releaseText = await text(RELEASE_FILE);
  const valuesText = await text(VALUES_FILE);
  const quarantineText = await text(QUARANTINE_FILE);
  const release = releaseText === undefined ? undefined : await parseRelease(releaseText, `${rel}/${RELEASE_FILE}`);
  let quarantine: QuarantineEntry[] = [];
  if (quarantineText !== undefined) {
    const data = (readYamlText(quarantineText, `${rel}/${QUARANTINE_FILE}`) ?? {}) as { quarantine?: QuarantineEntry[] | null };
    const { validateSchema } = await import('../schema.js');
    validateSchema(data, quarantineSchema as JsonSchema, `${rel}/${QUARANTINE_FILE}`);
    quarantine = data.quarantine ?? [];
  }
  return { dir: rel, rel, release, quarantine, valuesText, quarantineText };
}

/** Parses and checks a release.json (the schema validator is loaded on first use: a first deploy needs none). */
export async function parseRelease(text: string, file: string): Promise<Release> {
  const { validateSchema } = await import('../schema.js');
  return validateSchema<Release>(parseJson(text, file), releaseSchema as JsonSchema, file);
}

export function quarantined(state: Pick<EnvState, 'quarantine'>, modelVersion: string, image?: string): QuarantineEntry | undefined {
  return state.quarantine.find((q) => q.model_version === modelVersion || (image !== undefined && q.image !== undefined && q.image === image));
}

/** The deploy rules: never a quarantined version, never an older release over a newer one. */
export function checkDeployable(state: EnvState, modelVersion: string, image: string, warn: (m: string) => void): void {
  const q = quarantined(state, modelVersion, image);
  if (q) {
    throw new ConfigurationError(`${q.model_version === modelVersion ? `model version ${modelVersion}` : `image ${image}`} is quarantined in ${state.rel}${q.reason ? ` (${q.reason})` : ''}`, {
      file: `${state.rel}/${QUARANTINE_FILE}`,
      hint: 'deploy a fixed, newer version; to allow it again, remove its entry from quarantine.yaml in a reviewed commit',
    });
  }
  const cur = state.release;
  if (!cur) return;
  const cmp = compareVersions(modelVersion, cur.model_version);
  if (cmp === undefined) warn(`cannot order model versions "${modelVersion}" and "${cur.model_version}" (different names or not versions); deploying anyway`);
  else if (cmp < 0) {
    throw new ConfigurationError(`refusing to deploy ${modelVersion} over the newer ${cur.model_version} in ${state.rel}`, {
      file: `${state.rel}/${RELEASE_FILE}`,
      hint: `to go back on purpose use: mlloop gitops rollback --app ${cur.app} --env ${cur.env} --to ${modelVersion} --reason "…"`,
    });
  }
}

/** The values mlloop owns in values.yaml: the image and the model version. */
export function imageEdits(image: string, modelVersion: string, valuesText: string | undefined): ScalarEdit[] {
  const ref = parseImageRef(image);
  const edits: ScalarEdit[] = [
    { path: ['image', 'repository'], value: ref.repository },
    { path: ['image', 'tag'], value: ref.tag ?? '' },
    { path: ['model', 'version'], value: modelVersion },
  ];
  // A digest pins the image; an old digest must not outlive a new tag.
  if (ref.digest || (valuesText !== undefined && /^\s+digest:/m.test(valuesText))) edits.push({ path: ['image', 'digest'], value: ref.digest ?? '' });
  return edits;
}

export function newValuesFile(app: string, env: string): string {
  return [
    `# Helm values of ${app} in ${env} (chart: model-service). Written by mlloop: gitops deploy, promote and`,
    '# rollback change only image.repository, image.tag, image.digest and model.version, in place; edit the rest',
    '# freely (comments and layout are kept).',
    'image:',
    '  repository: ""',
    '  tag: ""',
    'model:',
    '  version: ""',
    '',
  ].join('\n');
}

export function editValues(state: EnvState, image: string, modelVersion: string, app: string, env: string): string {
  const text = state.valuesText ?? newValuesFile(app, env);
  return setYamlScalars(text, `${state.rel}/${VALUES_FILE}`, imageEdits(image, modelVersion, state.valuesText));
}

export function addQuarantine(state: EnvState, entry: QuarantineEntry): string {
  const header = '# Model versions and images that must never be deployed to this environment again (mlloop gitops).\n# Remove an entry only in a reviewed commit.';
  return appendToYamlList(state.quarantineText ?? '', `${state.rel}/${QUARANTINE_FILE}`, 'quarantine', { ...entry }, header);
}

/** Headline metrics for the trailer and release.json: the usual keys when present, else the first numbers. */
export function headline(flat: Record<string, number>): Record<string, number> {
  const keys = ['overall.f1', 'overall.precision', 'overall.recall', 'overall.map50', 'overall.accuracy', 'accuracy', 'f1', 'bleu', 'latency_ms.p95'];
  const out: Record<string, number> = {};
  for (const k of keys) if (typeof flat[k] === 'number') out[k] = flat[k]!;
  if (Object.keys(out).length === 0) for (const [k, v] of Object.entries(flat).filter(([k]) => !k.startsWith('config.')).slice(0, 6)) out[k] = v;
  return out;
}

export function formatMetrics(m: Record<string, number>): string {
  return Object.entries(m)
    .map(([k, v]) => `${k}=${Number(v.toPrecision(6))}`)
    .join(' ');
}

/** The commit message with the trailers DESIGN.md lists. */
export function releaseMessage(r: Release): string {
  const verb = r.action;
  const subject = r.action === 'promote' ? `promote(${r.app}/${r.env}): ${r.model_version} from ${r.promoted_from}` : r.action === 'rollback' ? `rollback(${r.app}/${r.env}): ${r.model_version}` : `deploy(${r.app}/${r.env}): ${r.model_version}`;
  const trailers: Trailers = [
    ['Mlloop-Action', verb],
    ['Mlloop-App', r.app],
    ['Mlloop-Env', r.env],
    ['Model-Version', r.model_version],
    ['Image', r.image],
    ['Source-Commit', r.source_commit ?? ''],
    ['Dataset', r.dataset ?? ''],
    ['Metrics', formatMetrics(r.metrics)],
    ['Run-Url', r.run_url ?? ''],
    ['Promoted-From', r.promoted_from ?? ''],
    ['Rollback-Of', r.rollback_of ?? ''],
    ['Reason', r.reason ?? ''],
  ];
  return formatCommitMessage(subject, trailers);
}

/** Same release apart from its time stamp: an identical rerun keeps the old file, so nothing changes. */
export function sameRelease(a: Release | undefined, b: Release): boolean {
  if (!a) return false;
  const strip = (r: Release) => JSON.stringify({ ...r, deployed_at: undefined });
  return strip(a) === strip(b);
}

export function releaseJson(r: Release): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}
