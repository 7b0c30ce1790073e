import { describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Ledger, readLedger } from '../../src/core/dispatch/ledger.js';
import { readClusters, readJobRequest } from '../../src/core/dispatch/config.js';
import { connect, KubeconfigError } from '../../src/core/dispatch/k8s.js';
import { K8sTestServer } from '../support/k8s-server.js';
import { cloneNode, t4 } from './fixtures.js';
import { tempDir, writeJob } from './helpers.js';

const now = new Date('2025-06-12T12:00:00Z');
const line = (e: Record<string, unknown>) => `${JSON.stringify({ schema: 'mlloop/dispatch-ledger@1', job_name: 'j', tenant: 't', ...e })}\n`;

describe('ledger', () => {
  it('counts attempts and failures per cluster within the window, and finds a live submission of this dispatch', async () => {
    const dir = tempDir();
    const file = join(dir, 'ledger.jsonl');
    writeFileSync(
      file,
      [
        line({ time: '2025-06-11T10:00:00Z', dispatch_id: 'd1', event: 'submitted', cluster: 'a' }),
        line({ time: '2025-06-11T10:10:00Z', dispatch_id: 'd1', event: 'pending-timeout', cluster: 'a' }),
        line({ time: '2025-06-11T10:11:00Z', dispatch_id: 'd1', event: 'gone', cluster: 'a' }),
        line({ time: '2025-06-11T10:12:00Z', dispatch_id: 'd1', event: 'submitted', cluster: 'b' }),
        line({ time: '2025-06-11T11:00:00Z', dispatch_id: 'd2', event: 'submit-failed', cluster: 'a' }),
        line({ time: '2025-06-12T09:00:00Z', dispatch_id: 'd3', event: 'job-failed', cluster: 'b' }),
        line({ time: '2025-01-01T00:00:00Z', dispatch_id: 'old', event: 'pending-timeout', cluster: 'b' }),
        '\n',
      ].join(''),
    );
    const r = await readLedger(file, 'd1', now, 30 * 86_400_000);
    expect(r.entries).toBe(7);
    expect(Object.fromEntries(r.failures)).toEqual({ a: { attempts: 2, failures: 2 }, b: { attempts: 1, failures: 1 } });
    expect(r.live).toEqual({ cluster: 'b', namespace: null, job: undefined, since: '2025-06-11T10:12:00Z' });
    expect((await readLedger(file, 'd2', now, 30 * 86_400_000)).live).toBeUndefined();
  });

  it('a folder ledger writes one file per dispatch and reads them all', async () => {
    const dir = join(tempDir(), 'gitops', 'dispatch-ledger');
    await new Ledger(dir, 'aaa').append({ time: now.toISOString(), job_name: 'j', tenant: 't', event: 'submitted', cluster: 'x' });
    await new Ledger(dir, 'bbb').append({ time: now.toISOString(), job_name: 'j', tenant: 't', event: 'pending-timeout', cluster: 'x' });
    expect(readdirSync(dir).sort()).toEqual(['aaa.jsonl', 'bbb.jsonl']);
    expect(JSON.parse(readFileSync(join(dir, 'aaa.jsonl'), 'utf8'))).toMatchObject({ schema: 'mlloop/dispatch-ledger@1', dispatch_id: 'aaa', event: 'submitted' });
    const r = await readLedger(dir, 'aaa', now, 86_400_000);
    expect(r.failures.get('x')).toEqual({ attempts: 1, failures: 1 });
    expect(r.live?.cluster).toBe('x');
  });

  it('a missing ledger is empty; a broken line is bad input naming the file and line', async () => {
    const dir = tempDir();
    expect((await readLedger(join(dir, 'none.jsonl'), 'x', now, 1)).entries).toBe(0);
    const file = join(dir, 'bad.jsonl');
    writeFileSync(file, `${line({ time: now.toISOString(), dispatch_id: 'x', event: 'submitted', cluster: 'a' })}{not json\n`);
    await expect(readLedger(file, 'x', now, 1)).rejects.toThrow(/bad\.jsonl: line 2 is not valid JSON/);
  });
});

describe('config files', () => {
  const write = (dir: string, text: string) => {
    const f = join(dir, 'clusters.yaml');
    writeFileSync(f, text);
    return f;
  };

  it('refuses duplicate clusters, unknown clusters in a tenant, bad durations and unknown fields, with the JSON path', async () => {
    const dir = tempDir();
    await expect(readClusters(write(dir, 'clusters: [{name: a}, {name: a}]\n'))).rejects.toThrow(/\$\.clusters\[1\]\.name: cluster "a" is listed twice/);
    await expect(readClusters(write(dir, 'clusters: [{name: a}]\ntenants: {u1: {clusters: [b]}}\n'))).rejects.toThrow(/\$\.tenants\.u1\.clusters\[0\]: tenant "u1" allows unknown cluster "b"/);
    await expect(readClusters(write(dir, 'clusters: [{name: a}]\npolicy: {pending_timeout: soon}\n'))).rejects.toThrow(/\$\.policy\.pending_timeout/);
    await expect(readClusters(write(dir, 'clusters: [{name: a}]\npolicy: {wieghts: {}}\n'))).rejects.toThrow(/unknown field "wieghts"[\s\S]*did you mean "weights"/);
    await expect(readClusters(write(dir, 'clusters: [{name: A_1}]\n'))).rejects.toThrow(/\$\.clusters\[0\]\.name/);
  });

  it('refuses a GPU type that names no GPU and quantities that are not quantities', async () => {
    const dir = tempDir();
    await expect(readJobRequest(writeJob(dir, { resources: { gpu: 1, gpu_type: 'none' } }))).rejects.toThrow(/\$\.resources\.gpu_type: "none" names no GPU type/);
    expect((await readJobRequest(writeJob(dir, { resources: { gpu: 1, gpu_type: '' } }))).gpu).toEqual({ text: 'any' });
    await expect(readJobRequest(writeJob(dir, { resources: { gpu: 1, memory: 'lots' } }))).rejects.toThrow(/\$\.resources\.memory/);
    await expect(readJobRequest(writeJob(dir, { job_name: 'bad name!' }))).rejects.toThrow(/\$\.job_name/);
  });
});

describe('kubeconfigs', () => {
  const opts = (env: Record<string, string>) => ({ env, baseDir: tempDir(), secret: () => {}, timeoutMs: 1000, signal: new AbortController().signal });

  it('says what is wrong without quoting the kubeconfig, and registers its token as a secret', async () => {
    await expect(connect({ name: 'a', kubeconfig: { env: 'KC' } }, opts({}))).rejects.toThrow(new KubeconfigError('environment variable KC is not set'));
    await expect(connect({ name: 'a', kubeconfig: { path: '/nonexistent/kubeconfig' } }, opts({}))).rejects.toThrow(/kubeconfig \/nonexistent\/kubeconfig not found/);
    await expect(connect({ name: 'a', kubeconfig: { env: 'KC' } }, opts({ KC: 'apiVersion: v1\nkind: Config\nusers: [{name: u, user: {token: s3cr3t-t0ken}}]\n  bad: [' }))).rejects.toThrow(/^kubeconfig in \$KC is not a valid kubeconfig$/);
    const srv = await K8sTestServer.start({ nodes: [cloneNode(t4(), 'n')] });
    try {
      const secrets: string[] = [];
      await expect(connect({ name: 'a', kubeconfig: { env: 'KC', context: 'other' } }, { ...opts({ KC: srv.kubeconfig('a') }), secret: (v) => v && secrets.push(v) })).rejects.toThrow(/context "other" is not in kubeconfig \$KC/);
      expect(secrets).toContain(srv.token);
      const dir = tempDir();
      mkdirSync(join(dir, '.kube'));
      writeFileSync(join(dir, '.kube', 'config'), srv.kubeconfig('a'));
      const c = await connect({ name: 'a', kubeconfig: { path: '~/.kube/config', context: 'a' } }, { ...opts({ HOME: dir }) });
      expect(c.kc.getCurrentCluster()?.server).toBe(srv.url);
    } finally {
      await srv.close();
    }
  });
});
