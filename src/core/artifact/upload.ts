import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ConfigurationError, ExternalError } from '../errors.js';
import type { Logger } from '../log.js';

/** Runner variables that grant access to the job's services; commands mlloop runs for the user never get them. */
export const RUNNER_CREDENTIALS = ['ACTIONS_RUNTIME_TOKEN', 'ACTIONS_RUNTIME_URL', 'ACTIONS_RESULTS_URL', 'ACTIONS_CACHE_URL', 'ACTIONS_ID_TOKEN_REQUEST_TOKEN', 'ACTIONS_ID_TOKEN_REQUEST_URL'] as const;

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(full)));
    else if (e.isFile()) out.push(full);
  }
  return out;
}

/** The deepest folder holding all the given paths (the artifact's root, so entries keep their relative paths). */
export function commonRoot(paths: readonly string[]): string {
  const split = paths.map((p) => path.resolve(p).split(path.sep));
  const first = split[0] ?? [path.sep];
  let n = 0;
  while (n < first.length && split.every((s) => s[n] === first[n])) n++;
  return first.slice(0, n).join(path.sep) || path.sep;
}

export interface UploadRequest {
  name: string;
  /** Entries are named relative to this folder (widened when a folder lies outside it). */
  root: string;
  folders: string[];
  retentionDays?: number;
  /** The runner's environment (ACTIONS_RUNTIME_TOKEN, ACTIONS_RESULTS_URL, GITHUB_*), read by the artifact client. */
  env: Readonly<Record<string, string | undefined>>;
  log: Logger;
}

/**
 * Uploads folders as one workflow artifact (a zip) through the runner's artifact service with
 * `@actions/artifact`: CreateArtifact, the blob upload to the signed URL, FinalizeArtifact with size and sha256.
 * Returns the artifact id, or undefined when there was nothing to upload.
 */
export async function uploadFolders(req: UploadRequest): Promise<number | undefined> {
  const files = [...new Set((await Promise.all(req.folders.map(filesUnder))).flat())].sort();
  if (files.length === 0) {
    req.log.warn(`artifact ${req.name}: nothing to upload`);
    return undefined;
  }
  const hint = 'artifact uploads work inside a workflow run, which provides ACTIONS_RUNTIME_TOKEN and ACTIONS_RESULTS_URL; rerun the job, or set `upload: false`';
  if (!req.env.ACTIONS_RUNTIME_TOKEN || !req.env.ACTIONS_RESULTS_URL) {
    throw new ExternalError(`artifact upload failed: the runner did not provide ${!req.env.ACTIONS_RUNTIME_TOKEN ? 'ACTIONS_RUNTIME_TOKEN' : 'ACTIONS_RESULTS_URL'}`, { hint });
  }
  const root = commonRoot([req.root, ...req.folders]);
  // The artifact service refuses these characters in paths (NTFS cannot hold them): say which file, before any upload.
  for (const f of files) {
    const bad = [...path.relative(root, f)].find((c) => '":<>|*?\r\n'.includes(c));
    if (bad) throw new ConfigurationError(`cannot be uploaded as part of artifact ${req.name}: its name contains ${JSON.stringify(bad)}`, { file: path.relative(req.root, f), hint: 'rename the file (artifact paths may not contain " : < > | * ? or line breaks), e.g. use 2025-06-12T101500 rather than 10:15:00 in checkpoint names' });
  }
  const { DefaultArtifactClient } = await import('@actions/artifact');
  try {
    const res = await new DefaultArtifactClient().uploadArtifact(req.name, files, root, req.retentionDays ? { retentionDays: req.retentionDays } : {});
    req.log.info(`artifact ${req.name}: uploaded ${files.length} files (${res.size ?? '?'} bytes zipped, ${res.digest ? `sha256 ${res.digest}` : 'no digest'}), id ${res.id}`);
    return res.id;
  } catch (e) {
    const message = (e as Error).message;
    const conflict = /already exists/i.test(message);
    throw new ExternalError(`artifact upload of ${req.name} failed: ${message}`, {
      hint: conflict ? 'artifact names are unique within a workflow run: give each job its own artifact-name, e.g. mlloop-train-${{ matrix.name }}' : hint,
    });
  }
}
