import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { runAction, cli } from '../support/run.js';
import { ROOT } from '../support/paths.js';
import { K8sTestServer } from '../support/k8s-server.js';
import { cloneNode, t4 } from './fixtures.js';
import { tempDir, writeConfig, writeJob } from './helpers.js';

const EXAMPLE = join(ROOT, 'docs/examples/dispatch');
const servers: K8sTestServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close().catch(() => undefined);
});

describe('actions/dispatch (dist/dispatch.cjs as the runner starts it)', () => {
  it('decides from the bundled snapshot of real GPU nodes; the job summary explains every cluster', async () => {
    const r = await runAction('dispatch', {
      request: join(EXAMPLE, 'job.yaml'),
      clusters: join(EXAMPLE, 'clusters.yaml'),
      snapshot: join(EXAMPLE, 'snapshot'),
    });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.outputs.cluster).toBe('a100-bj');
    expect(r.outputs.status).toBe('decided');
    expect(r.outputs['job-name']).toMatch(/^ocr-v3-0-[0-9a-f]{8}$/);
    const result = JSON.parse(r.outputs.result!);
    expect(result.explain).toHaveLength(6);
    expect(r.summary).toContain('### mlloop dispatch: a100-bj/team-ocr (decided)');
    expect(r.summary).toMatch(/\| 1 \| a100-bj \| yes \| ok \| ok \| ok \| ok \| ok \| ok \| 2\.514 \|/);
    expect(r.summary).toMatch(/\| 2 \| a100-gz \| yes \|.*\| 2\.500 \|/);
    expect(r.summary).toContain('gpu_type: no A100 nodes (cluster has 16× H100-80GB)');
  });

  it('submits live with a kubeconfig from an environment variable, masks its token, and fails with exit 1 when nothing fits', async () => {
    const srv = await K8sTestServer.start({ nodes: [cloneNode(t4(), 'n0')] });
    servers.push(srv);
    const dir = tempDir();
    const clusters = writeConfig(dir, { gpu: { nodes: [], kubeconfig: { env: 'KUBECONFIG_GPU' } } }, { pending_timeout: '30s' });
    const env = { KUBECONFIG_GPU: srv.kubeconfig('gpu') };
    const ok = await runAction('dispatch', { request: writeJob(dir, { resources: { gpu: 1, gpu_type: 'T4' } }), clusters, ledger: join(dir, 'ledger') }, { env });
    expect(ok.code, ok.stdout).toBe(0);
    expect(ok.outputs.status).toBe('scheduled');
    expect(ok.masked).toContain(srv.token);
    expect(ok.stdout.replace(/^::add-mask::.*$/gm, '')).not.toContain(srv.token);
    expect(srv.jobs.size).toBe(1);
    const none = await runAction('dispatch', { request: writeJob(dir, { resources: { gpu: 1, gpu_type: 'H100' } }, 'h100.yaml'), clusters }, { env });
    expect(none.code).toBe(1);
    expect(none.stdout).toMatch(/::error::no cluster fits: gpu: gpu_type: no H100 nodes \(cluster has 2× T4-15GB\)/);
    expect(none.outputs.status).toBe('no-fit');
  });

  it('the demo command from the docs works as written', async () => {
    const r = await cli(['dispatch', '--snapshot', 'docs/examples/dispatch/snapshot', '--request', 'docs/examples/dispatch/job.yaml', '--clusters', 'docs/examples/dispatch/clusters.yaml', '--explain'], { cwd: ROOT });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('dispatch ');
    expect(r.stdout).toContain('a100-bj/team-ocr Job ocr-v3-0-');
    expect(r.stdout).toContain('nvidia.com/gpu.product: A100-SXM4-40GB');
    const help = await cli(['dispatch', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--snapshot');
  });
});
