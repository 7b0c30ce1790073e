import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ConfigurationError, ExternalError } from '../errors.js';
import type { Logger } from '../log.js';
import { openAtomicStream, writeFileAtomic, type AtomicStream } from '../io/atomic.js';
import { readClusters, schedulerFor, type DispatchConfig } from './config.js';
import { SNAPSHOT_SCHEMA, type AccessRecord, type SnapshotIndex } from './snapshot.js';
import { ACCESS } from './dispatch.js';
import { isTerminal, type K8sNode, type K8sPod } from './state.js';

/**
 * `mlloop dispatch snapshot`: writes `<out>/<cluster>/{nodes.json,pods.json,access.json}` for every
 * reachable cluster and `<out>/snapshot.json`. Lists are streamed page by page to temp files and
 * renamed into place only when every cluster was read, so a snapshot is never half-written.
 */
export interface CaptureOptions {
  clustersFile: string;
  outDir: string;
  env: Readonly<Record<string, string | undefined>>;
  secret(v: string | undefined): void;
  log: Logger;
  now(): Date;
  signal: AbortSignal;
}

export interface CaptureResult {
  index: SnapshotIndex;
  out: string;
}

/** Keeps what the dispatcher and kubectl users read; drops managedFields and other bulk. */
function trimNode(n: K8sNode & { metadata?: Record<string, unknown>; status?: Record<string, unknown> }): unknown {
  const { managedFields: _m, ...metadata } = (n.metadata ?? {}) as Record<string, unknown>;
  return { apiVersion: 'v1', kind: 'Node', metadata, spec: n.spec ?? {}, status: n.status ?? {} };
}

function trimPod(p: K8sPod & { metadata?: Record<string, any>; spec?: Record<string, any>; status?: Record<string, any> }): unknown {
  const slim = (c: Record<string, any>) => ({ name: c.name, image: c.image, ...(c.resources ? { resources: c.resources } : {}), ...(c.restartPolicy ? { restartPolicy: c.restartPolicy } : {}) });
  const spec = p.spec ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: p.metadata?.name, namespace: p.metadata?.namespace, ...(p.metadata?.labels ? { labels: p.metadata.labels } : {}) },
    spec: {
      ...(spec.nodeName ? { nodeName: spec.nodeName } : {}),
      ...(spec.nodeSelector ? { nodeSelector: spec.nodeSelector } : {}),
      ...(spec.priority !== undefined ? { priority: spec.priority } : {}),
      ...(spec.overhead ? { overhead: spec.overhead } : {}),
      ...(spec.initContainers?.length ? { initContainers: spec.initContainers.map(slim) } : {}),
      containers: (spec.containers ?? []).map(slim),
    },
    status: { phase: p.status?.phase },
  };
}

async function writeList(out: AtomicStream, items: AsyncIterable<unknown>): Promise<number> {
  let n = 0;
  await out.write('{"apiVersion":"v1","kind":"List","items":[');
  for await (const item of items) {
    await out.write(`${n ? ',' : ''}\n${JSON.stringify(item)}`);
    n++;
  }
  await out.write('\n],"metadata":{"resourceVersion":""}}\n');
  await out.finish();
  return n;
}

export function accessTargets(config: DispatchConfig, cluster: DispatchConfig['clusters'][number]): { namespace: string; group: string; resource: string }[] {
  const namespaces = new Set<string>([cluster.namespaces?.training ?? 'default']);
  for (const t of Object.values(config.tenants ?? {})) {
    if (t.namespace && (!t.clusters || t.clusters.includes(cluster.name))) namespaces.add(t.namespace);
  }
  const access = ACCESS[schedulerFor(config, cluster)];
  return [...namespaces].sort().map((namespace) => ({ namespace, ...access }));
}

export async function capture(o: CaptureOptions): Promise<CaptureResult> {
  const config = await readClusters(o.clustersFile);
  const { connect, closeClient, pagedNodes, pagedPods, accessReview, NON_TERMINAL, describeError, KubeconfigError, UnreachableError } = await import('./k8s.js');
  const index: SnapshotIndex = { schema: SNAPSHOT_SCHEMA, taken_at: o.now().toISOString(), clusters: {} };
  // Every file of every cluster is written to a temp name and renamed only when the whole capture finished.
  const staged: AtomicStream[] = [];
  const baseDir = path.dirname(path.resolve(o.clustersFile));
  let done = 0;
  const badKubeconfig: string[] = [];
  try {
    await Promise.all(
      config.clusters.map(async (c) => {
        const dir = path.join(o.outDir, c.name);
        const files: AtomicStream[] = [];
        let client: Awaited<ReturnType<typeof connect>> | undefined;
        try {
          client = await connect(c, { env: o.env, baseDir, secret: o.secret, timeoutMs: config.policy.requestTimeoutMs, signal: o.signal });
          const cc = client;
          for (const f of ['nodes.json', 'pods.json', 'access.json']) files.push(await openAtomicStream(path.join(dir, f)));
          const nodes = await writeList(files[0]!, (async function* () {
            for await (const n of pagedNodes(cc)) yield trimNode(n as never);
          })());
          const pods = await writeList(files[1]!, (async function* () {
            for await (const p of pagedPods(cc, { fieldSelector: NON_TERMINAL })) if (!isTerminal(p)) yield trimPod(p as never);
          })());
          const records: AccessRecord[] = [];
          for (const a of accessTargets(config, c)) {
            const r = await accessReview(cc, a);
            records.push({ ...a, verb: 'create', allowed: r.allowed, reason: r.reason });
          }
          await files[2]!.write(`${JSON.stringify(records, null, 2)}\n`);
          await files[2]!.finish();
          staged.push(...files);
          index.clusters[c.name] = { ok: true, nodes, pods };
          o.log.progress(`[${++done}/${config.clusters.length}] ${c.name}: ${nodes} nodes, ${pods} pods`);
        } catch (e) {
          await Promise.all(files.map((f) => f.abort()));
          if (e instanceof KubeconfigError) badKubeconfig.push(c.name);
          const reason = e instanceof KubeconfigError || e instanceof UnreachableError ? e.message.replace(`${c.name}: `, '') : describeError(e, { name: c.name, timeoutMs: config.policy.requestTimeoutMs });
          index.clusters[c.name] = { ok: false, error: reason };
          o.log.warn(`${c.name} not captured: ${reason}`);
          done++;
        } finally {
          if (client) closeClient(client);
        }
      }),
    );
  } catch (e) {
    await Promise.all(staged.map((f) => f.abort()));
    throw e;
  }
  const ok = Object.values(index.clusters).filter((c) => c.ok).length;
  if (ok === 0 && badKubeconfig.length === config.clusters.length) {
    // Every kubeconfig is wrong: the user's input, not an outage (as `mlloop dispatch` says).
    const first = Math.min(...badKubeconfig.map((n) => config.clusters.findIndex((c) => c.name === n)));
    throw new ConfigurationError(`no cluster could be used: ${Object.entries(index.clusters).map(([n, c]) => `${n}: ${c.error}`).join('; ')}`, {
      file: o.clustersFile,
      path: `$.clusters[${first}].kubeconfig`,
      hint: 'point kubeconfig at a valid file ({path, context}) or an environment variable holding one ({env}), with a context it defines',
    });
  }
  if (ok === 0) {
    throw new ExternalError(`no cluster could be read: ${Object.entries(index.clusters).map(([n, c]) => `${n}: ${c.error}`).join('; ')}`);
  }
  for (const f of staged) await f.rename();
  // A cluster that failed this time must not leave an older capture behind that looks current.
  for (const [name, c] of Object.entries(index.clusters)) {
    if (!c.ok) await fs.rm(path.join(o.outDir, name), { recursive: true, force: true });
  }
  await writeFileAtomic(path.join(o.outDir, 'snapshot.json'), `${JSON.stringify(index, null, 2)}\n`);
  return { index, out: o.outDir };
}
