import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ExternalError } from '../errors.js';
import type { Logger } from '../log.js';

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

/** Uploads folders as one workflow artifact through the runner's artifact service. */
export async function uploadFolders(req: { name: string; root: string; folders: string[]; retentionDays?: number; log: Logger }): Promise<number | undefined> {
  const files = (await Promise.all(req.folders.map(filesUnder))).flat().sort();
  if (files.length === 0) {
    req.log.warn(`artifact ${req.name}: nothing to upload`);
    return undefined;
  }
  const { DefaultArtifactClient } = await import('@actions/artifact');
  const client = new DefaultArtifactClient();
  try {
    const res = await client.uploadArtifact(req.name, files, req.root, req.retentionDays ? { retentionDays: req.retentionDays } : {});
    req.log.info(`artifact ${req.name}: uploaded ${files.length} files (${res.size ?? '?'} bytes), id ${res.id}`);
    return res.id;
  } catch (e) {
    throw new ExternalError(`artifact upload failed: ${(e as Error).message}`, { hint: 'artifact uploads work inside a workflow run (they need the runner\'s ACTIONS_RUNTIME_TOKEN and ACTIONS_RESULTS_URL); rerun the job' });
  }
}
