import * as path from 'node:path';
import { ConfigurationError, ExternalError } from '../errors.js';
import type { ClusterExplain, Decision } from './decide.js';
import type { Attempt, DispatchOptions, DispatchStatus, Loaded } from './dispatch.js';
import type { LedgerEntry } from './ledger.js';
import { DISPATCH_ID_LABEL, type Manifest } from './manifest.js';
import { connect, createJob, deleteJob, describeError, statusOf, suspendJob, UnreachableError, waitGone, waitScheduled, type ClusterClient } from './k8s.js';

/**
 * Submission with failover. Invariant: at most one cluster holds the Job. A cluster is left only
 * after its Job was suspended, deleted and confirmed gone; if that cannot be confirmed (the cluster
 * stopped answering) nothing is submitted elsewhere and the dispatch ends with exit 3.
 */
export interface SubmitInput {
  l: Loaded;
  o: DispatchOptions;
  decision: Decision;
  first: ClusterExplain;
  resume?: { cluster: string; since: string };
  clients: Map<string, ClusterClient>;
  render(target: ClusterExplain): Promise<Manifest>;
  note(entry: Omit<LedgerEntry, 'schema' | 'dispatch_id' | 'time' | 'job_name' | 'tenant'>): Promise<void> | undefined;
  attempts: Attempt[];
}

export interface SubmitResult {
  status: DispatchStatus;
  cluster: string | null;
  namespace: string | null;
  job: Manifest | null;
}

/** How long deleting a Job may take to be confirmed before failover gives up. */
const GONE_TIMEOUT_MS = 120_000;

export async function submitAndWatch(s: SubmitInput): Promise<SubmitResult> {
  const { l, o, decision } = s;
  const policy = l.config.policy;
  const order = [s.first.cluster, ...decision.ranking.filter((c) => c !== s.first.cluster)];
  const selector = `${DISPATCH_ID_LABEL}=${l.id}`;
  let failovers = 0;
  let last: SubmitResult = { status: 'submitted', cluster: null, namespace: null, job: null };
  for (let i = 0; i < order.length; i++) {
    const target = decision.explain.find((e) => e.cluster === order[i])!;
    const job = await s.render(target);
    const name = job.metadata.name as string;
    const client = await clientFor(s, target.cluster);
    const attempt: Attempt = { cluster: target.cluster, namespace: target.namespace, job: name, outcome: 'submitted' };
    s.attempts.push(attempt);
    let startedAt = o.now().getTime();
    try {
      const created = await createJob(client, job);
      if (created.created) {
        o.log.info(`submitted ${job.kind} ${target.namespace}/${name} to ${target.cluster}`);
        await s.note({ event: 'submitted', cluster: target.cluster, namespace: target.namespace, job: name, kind: `${job.apiVersion} ${job.kind}` });
      } else {
        const other = created.existing.metadata?.labels?.[DISPATCH_ID_LABEL];
        if (other !== l.id) {
          throw new ConfigurationError(`a Job named ${name} already exists in ${target.cluster}/${target.namespace} and belongs to ${other ? `dispatch ${other}` : 'something else'}`, {
            file: s.o.requestFile,
            path: '$.job_name',
            hint: 'change job_name, or pass --dispatch-key to make this a different dispatch',
          });
        }
        attempt.outcome = 'already-submitted';
        o.log.info(`${target.cluster}/${target.namespace}/${name} already exists with this dispatch id: the earlier submission stands`);
        await s.note({ event: 'already-submitted', cluster: target.cluster, namespace: target.namespace, job: name });
        if (s.resume?.cluster === target.cluster) startedAt = Date.parse(s.resume.since) || startedAt;
      }
    } catch (e) {
      if (e instanceof ConfigurationError) throw e;
      if (e instanceof UnreachableError) {
        // The request may have reached the cluster: a Job may exist there, so none may be created elsewhere.
        await s.note({ event: 'failover-blocked', cluster: target.cluster, namespace: target.namespace, job: name, detail: `create got no answer: ${e.message}` });
        throw new ExternalError(`${target.cluster} did not answer the create request (${e.message.replace(`${target.cluster}: `, '')}); the Job may exist there, so it is not submitted elsewhere`, {
          hint: `check ${target.cluster} and run the same dispatch again: the deterministic name and the ledger make the retry idempotent`,
        });
      }
      attempt.outcome = 'submit-failed';
      attempt.detail = describeError(e, client);
      o.log.warn(`submitting to ${target.cluster} failed: ${attempt.detail}`);
      await s.note({ event: 'submit-failed', cluster: target.cluster, namespace: target.namespace, job: name, detail: attempt.detail });
      if (statusOf(e) !== undefined && failovers < policy.maxFailovers && i + 1 < order.length) {
        failovers++;
        continue;
      }
      throw new ExternalError(`submission failed on ${s.attempts.map((a) => a.cluster).join(', ')}: ${attempt.detail}`);
    }
    last = { status: 'submitted', cluster: target.cluster, namespace: target.namespace, job };
    if (!o.wait) return last;

    const deadline = startedAt + policy.pendingTimeoutMs;
    o.log.progress(`waiting up to ${Math.round(Math.max(0, deadline - o.now().getTime()) / 1000)}s for ${l.request.replicas} pod(s) of ${name} to be scheduled on ${target.cluster}`);
    const watched = await waitScheduled(client, {
      namespace: target.namespace,
      labelSelector: selector,
      replicas: l.request.replicas,
      deadline,
      now: () => o.now().getTime(),
      onProgress: (p) => o.log.debug(`${target.cluster}: ${p.scheduled}/${l.request.replicas} scheduled`),
    });
    if (watched.scheduled) {
      attempt.outcome = 'scheduled';
      await s.note({ event: 'scheduled', cluster: target.cluster, namespace: target.namespace, job: name });
      return { ...last, status: 'scheduled' };
    }
    attempt.outcome = 'pending-timeout';
    attempt.detail = `${watched.progress.scheduled}/${l.request.replicas} pods scheduled after ${Math.round(policy.pendingTimeoutMs / 1000)}s`;
    await s.note({ event: 'pending-timeout', cluster: target.cluster, namespace: target.namespace, job: name, detail: attempt.detail });
    if (failovers >= policy.maxFailovers || i + 1 >= order.length) {
      attempt.outcome = 'left-pending';
      const why = failovers >= policy.maxFailovers ? `max_failovers (${policy.maxFailovers}) reached` : 'no other cluster fits';
      o.log.warn(`${name} is still pending on ${target.cluster}; ${why}, so it stays queued there`);
      await s.note({ event: 'left-pending', cluster: target.cluster, namespace: target.namespace, job: name, detail: why });
      return { ...last, status: 'pending' };
    }
    o.log.warn(`${name} still pending on ${target.cluster} after ${Math.round(policy.pendingTimeoutMs / 1000)}s: failing over`);
    await withdraw(s, client, job, target, selector);
    failovers++;
  }
  return last;
}

/** Suspend (batch/v1), delete, confirm gone — or stop everything (exit 3). */
async function withdraw(s: SubmitInput, client: ClusterClient, job: Manifest, target: ClusterExplain, selector: string): Promise<void> {
  const name = job.metadata.name as string;
  const blocked = async (why: string) => {
    await s.note({ event: 'failover-blocked', cluster: target.cluster, namespace: target.namespace, job: name, detail: why });
    return new ExternalError(`cannot confirm that ${name} is gone from ${target.cluster} (${why}); not submitting it elsewhere, so it never runs twice`, {
      hint: `delete it there when the cluster answers (kubectl -n ${target.namespace} delete job ${name}), then run the dispatch again`,
    });
  };
  try {
    if (job.apiVersion === 'batch/v1') {
      try {
        await suspendJob(client, job);
        await s.note({ event: 'suspended', cluster: target.cluster, namespace: target.namespace, job: name });
      } catch (e) {
        // 404: the Job is already gone (deleted by a person or its TTL); the deletion below confirms it.
        if (statusOf(e) !== 404) throw e;
      }
    }
    await deleteJob(client, job);
    await s.note({ event: 'deleted', cluster: target.cluster, namespace: target.namespace, job: name });
    const now = () => s.o.now().getTime();
    const gone = await waitGone(client, job, selector, now() + GONE_TIMEOUT_MS, now);
    if (!gone) throw await blocked(`still present ${GONE_TIMEOUT_MS / 1000}s after deletion`);
  } catch (e) {
    if (e instanceof ExternalError) throw e;
    throw await blocked(e instanceof UnreachableError ? e.message.replace(`${target.cluster}: `, '') : describeError(e, client));
  }
  await s.note({ event: 'gone', cluster: target.cluster, namespace: target.namespace, job: name });
}

async function clientFor(s: SubmitInput, cluster: string): Promise<ClusterClient> {
  const existing = s.clients.get(cluster);
  if (existing) return existing;
  const cfg = s.l.config.clusters.find((c) => c.name === cluster)!;
  try {
    const c = await connect(cfg, { env: s.o.env, baseDir: path.dirname(path.resolve(s.o.clustersFile)), secret: s.o.secret, timeoutMs: s.l.config.policy.requestTimeoutMs, signal: s.o.signal });
    s.clients.set(cluster, c);
    return c;
  } catch (e) {
    throw new ExternalError(`cannot connect to ${cluster}: ${(e as Error).message}`);
  }
}
