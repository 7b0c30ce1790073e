import { describe, expect, it } from 'vitest';
import { cpSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../support/run.js';
import { ROOT } from '../support/paths.js';
import { tempDir } from '../support/tmp.js';

/**
 * On a runner, an action is its repository checkout with no node_modules anywhere above it. These run
 * a copy of what a checkout ships (dist/, manifests/, schemas/, actions/) in an empty folder, so a
 * dependency left outside the bundle fails here.
 */
describe('dist/ runs with no node_modules', () => {
  const checkout = tempDir('isolated');
  for (const part of ['dist', 'manifests', 'schemas', 'actions', 'action.yml']) cpSync(join(ROOT, part), join(checkout, part), { recursive: true });
  const isolated = join(checkout, 'dist');
  const metrics = (f1: number) => ({ schema: 'mlloop/metrics@1', model_version: `m-${f1}`, dataset: 'd', overall: { precision: f1, recall: f1, f1, tp: 1, fp: 0, fn: 0 }, per_field: {}, config: { iou_threshold: 0.5 } });

  it('compare prints its PDF through Chromium (DevTools pipe) from the bundle alone', async () => {
    const dir = tempDir('isolated-run');
    writeFileSync(join(dir, 'c.json'), JSON.stringify(metrics(0.9)));
    writeFileSync(join(dir, 'b.json'), JSON.stringify(metrics(0.8)));
    const r = await run(process.execPath, [join(isolated, 'cli.cjs'), 'compare', '--candidate', 'c.json', '--baseline', 'b.json', '--json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { files: string[] };
    expect(out.files.some((f) => f.endsWith('report.pdf'))).toBe(true);
  });

  it('dispatch loads its Kubernetes client and gitops its git client from dist/vendor', async () => {
    const ex = join(ROOT, 'docs/examples/dispatch');
    const r = await run(process.execPath, [join(isolated, 'cli.cjs'), 'dispatch', '--snapshot', join(ex, 'snapshot'), '--request', join(ROOT, 'examples/ocr-fields/job.yaml'), '--clusters', join(ex, 'clusters.yaml'), '--dry-run', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).cluster).toBeTruthy();
    const h = await run(process.execPath, [join(isolated, 'cli.cjs'), 'gitops', 'history', '--repo', join(tmpdir(), 'no-such-repo.git'), '--app', 'ocr', '--env', 'prod']);
    expect(h.stderr).not.toMatch(/Cannot find module/);
    expect(existsSync(join(isolated, 'vendor'))).toBe(true);
  });
});
