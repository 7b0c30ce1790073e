import { promises as fs, existsSync } from 'node:fs';
import * as path from 'node:path';
import { ConfigurationError } from '../errors.js';
import { readJson } from '../io/read.js';
import { listItems } from './json-items.js';
import { ClusterStateBuilder, type K8sNode, type K8sPod } from './state.js';
import type { ClusterInput } from './decide.js';

/**
 * Snapshot folders: `<dir>/<cluster>/nodes.json` and `pods.json` in `kubectl get -o json` form,
 * plus an optional `access.json` (the SelfSubjectAccessReview results at capture time) and, at the
 * top, `snapshot.json` naming the clusters that could not be read.
 */
export const SNAPSHOT_SCHEMA = 'mlloop/dispatch-snapshot@1';

export interface AccessRecord {
  namespace: string;
  group: string;
  resource: string;
  verb: string;
  allowed: boolean;
  reason?: string;
}

export interface SnapshotIndex {
  schema: typeof SNAPSHOT_SCHEMA;
  taken_at: string;
  clusters: Record<string, { ok: boolean; error?: string; nodes?: number; pods?: number }>;
}

export function accessDetail(a: { allowed: boolean; reason?: string; namespace: string; group: string; resource: string }): string {
  const what = `create ${a.group ? `${a.resource}.${a.group}` : a.resource} in ${a.namespace}`;
  return a.allowed ? `may ${what}` : `may not ${what}${a.reason ? ` (${a.reason})` : ''}`;
}

/** Streams the items of a kubectl List file, refusing items of another kind. */
async function eachObject(file: string, kind: string, command: string, fn: (item: object) => void): Promise<void> {
  let i = 0;
  for await (const item of listItems(file)) {
    const k = (item as { kind?: unknown } | null)?.kind;
    if (!item || typeof item !== 'object' || (k !== undefined && k !== kind)) {
      throw new ConfigurationError(`items[${i}] is not a ${kind}`, { file, path: `$.items[${i}].kind`, hint: `${path.basename(file)} holds the output of ${command}` });
    }
    fn(item);
    i++;
  }
}

/**
 * Reads one cluster's folder, streaming pods into per-node usage. Missing or malformed state excludes the
 * cluster with its reason (a cluster without its pods would look empty, and be chosen).
 */
export async function loadClusterSnapshot(
  dir: string,
  name: string,
  opts: { image?: string; access?: { namespace: string; group: string; resource: string }; observe?: StateObserver },
): Promise<ClusterInput> {
  const folder = path.join(dir, name);
  const shown = (f: string) => path.join(path.basename(dir), name, f);
  if (!existsSync(folder)) return { name, error: `no snapshot folder ${path.join(path.basename(dir), name)}` };
  for (const f of ['nodes.json', 'pods.json']) {
    if (!existsSync(path.join(folder, f))) return { name, error: `snapshot has no ${shown(f)}: its state is unknown` };
  }
  const builder = new ClusterStateBuilder(name, opts.image);
  try {
    await eachObject(path.join(folder, 'nodes.json'), 'Node', 'kubectl get nodes -o json', (n) => {
      builder.addNode(n as K8sNode);
      opts.observe?.node(n as K8sNode);
    });
    await eachObject(path.join(folder, 'pods.json'), 'Pod', 'kubectl get pods -A -o json', (p) => {
      builder.addPod(p as K8sPod);
      opts.observe?.pod(p as K8sPod);
    });
    const accessFile = path.join(folder, 'access.json');
    if (opts.access && existsSync(accessFile)) {
      const records = (await readJson(accessFile, 'access record')) as AccessRecord[];
      if (!Array.isArray(records)) throw new ConfigurationError('access.json must be a JSON array', { file: accessFile });
      const want = opts.access;
      const rec = records.find((r) => r && r.namespace === want.namespace && r.group === want.group && r.resource === want.resource && r.verb === 'create');
      if (rec) builder.setAccess({ allowed: rec.allowed === true, reason: accessDetail(rec) });
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code && !(e instanceof ConfigurationError)) return { name, error: `unreadable snapshot: ${(e as Error).message.replace(folder + path.sep, '')}` };
    if (!(e instanceof ConfigurationError)) throw e;
    return { name, error: `malformed snapshot: ${e.message.split('\n')[0]!.replace(folder + path.sep, path.join(path.basename(dir), name) + path.sep)}` };
  }
  return { name, state: builder.build() };
}

/** Sees every node and pod a reader folds (the collector keeps image lists and preemptible pods from them). */
export interface StateObserver {
  node(n: K8sNode): void;
  pod(p: K8sPod): void;
}

export async function readSnapshotIndex(dir: string): Promise<SnapshotIndex | undefined> {
  const file = path.join(dir, 'snapshot.json');
  if (!existsSync(file)) {
    const st = await fs.stat(dir).catch(() => undefined);
    if (!st?.isDirectory()) throw new ConfigurationError('snapshot folder not found', { file: dir, hint: 'write one with mlloop dispatch snapshot --clusters clusters.yaml --out DIR' });
    return undefined;
  }
  const index = (await readJson(file, 'snapshot index')) as SnapshotIndex | null;
  const clusters = index?.clusters as unknown;
  if (!index || typeof index !== 'object' || !clusters || typeof clusters !== 'object' || Array.isArray(clusters)) {
    throw new ConfigurationError('"clusters" must map each cluster name to {ok, error}', { file, path: '$.clusters', hint: 'write the snapshot with mlloop dispatch snapshot --clusters clusters.yaml --out DIR' });
  }
  for (const [name, c] of Object.entries(clusters as Record<string, unknown>)) {
    if (!c || typeof c !== 'object' || typeof (c as { ok?: unknown }).ok !== 'boolean') throw new ConfigurationError(`cluster "${name}" needs "ok": true or false`, { file, path: `$.clusters[${JSON.stringify(name)}].ok`, hint: 'write the snapshot with mlloop dispatch snapshot' });
  }
  return index;
}
