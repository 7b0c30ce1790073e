import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../support/run.js';

describe('mlloop demo: the whole loop on one machine', () => {
  it('runs every step, twice in the same folder, and leaves each artifact and decision', async () => {
    const keep = join(mkdtempSync(join(tmpdir(), 'mlloop-demo-test-')), 'demo');
    for (let run = 1; run <= 2; run++) {
      const r = await cli(['demo', '--keep', keep, '--json'], { timeoutMs: 300_000 });
      expect(r.code, r.stderr.slice(-3000)).toBe(0);
      const out = JSON.parse(r.stdout) as { steps: { step: string; decision: string; artifact: string }[] };
      expect(out.steps).toHaveLength(19);
      // Progress is shown step by step on stderr.
      expect(r.stderr).toMatch(/\[ 1\/19\] prepare the model repository/);
      expect(r.stderr).toMatch(/\[19\/19\] export the samples/);
    }

    // The gate verdict: the candidate passed, with a significance test against what production ran.
    const verdict = JSON.parse(readFileSync(join(keep, 'gate/verdict.json'), 'utf8'));
    expect(verdict.schema).toBe('mlloop/verdict@1');
    expect(JSON.stringify(verdict)).toMatch(/paired-bootstrap/);
    expect(verdict.pass ?? verdict.passed).toBe(true);

    // The PR report.
    for (const f of ['report.md', 'summary_metrics.html', 'samples_diff.html']) {
      const found = execFileSync('find', [join(keep, 'compare_reports'), '-name', f], { encoding: 'utf8' }).trim();
      expect(found, f).not.toBe('');
    }

    // The canary analysis failed on latency, and production was rolled back by a commit.
    const analysis = JSON.parse(readFileSync(join(keep, 'canary/analysis.json'), 'utf8'));
    expect(analysis.pass).toBe(false);
    const clone = mkdtempSync(join(tmpdir(), 'mlloop-demo-gitops-'));
    execFileSync('git', ['clone', '-q', join(keep, 'gitops.git'), clone]);
    const head = execFileSync('git', ['log', '-1', '--format=%B'], { cwd: clone, encoding: 'utf8' });
    expect(head).toMatch(/^Mlloop-Action: rollback$/m);
    expect(head).toMatch(/^Rollback-Of: [0-9a-f]{40}$/m);
    expect(head).toMatch(/^Reason: canary analysis failed: latency_ms\.p95=\d+(\.\d+)? > 200$/m);
    expect(head).toMatch(/^Model-Version: ocr-v3\.1$/m);
    expect(readFileSync(join(clone, 'apps/ocr/prod/quarantine.yaml'), 'utf8')).toContain('ocr-v3.2');
    expect(JSON.parse(readFileSync(join(clone, 'apps/ocr/prod/release.json'), 'utf8')).model_version).toBe('ocr-v3.1');

    // The dispatch decision, explained per cluster.
    const decision = JSON.parse(readFileSync(join(keep, 'dispatch/decision.json'), 'utf8'));
    expect(decision.cluster).toBeTruthy();
    expect(decision.explain.length).toBeGreaterThan(1);
    expect(decision.job.kind).toMatch(/Job/);

    // The retrain decision and the relabel export.
    const ct = JSON.parse(readFileSync(join(keep, 'ct/decision.json'), 'utf8'));
    expect(ct.retrain).toBe(true);
    expect(ct.reasons.map((x: { trigger: string }) => x.trigger)).toContain('alerts');
    const tasks = JSON.parse(readFileSync(join(keep, 'ct/relabel-tasks.json'), 'utf8'));
    expect(Array.isArray(tasks) && tasks.length).toBeGreaterThan(0);
    expect(tasks[0].predictions[0].result.length).toBeGreaterThan(0);
    expect(existsSync(join(keep, 'model-repo/outputs-candidate/run.json'))).toBe(true);
  });
});
