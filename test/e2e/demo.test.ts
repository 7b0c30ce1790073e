import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { cli } from '../support/run.js';
import { tempDir } from '../support/tmp.js';

describe('mlloop demo: the whole loop on one machine', () => {
  it('runs every step, twice in the same folder, and leaves each artifact and decision', async () => {
    const keep = join(tempDir('demo-test'), 'demo');
    for (let run = 1; run <= 2; run++) {
      const r = await cli(['demo', '--keep', keep, '--json'], { timeoutMs: 300_000 });
      expect(r.code, r.stderr.slice(-3000)).toBe(0);
      const out = JSON.parse(r.stdout) as { steps: { step: string; decision: string; artifact: string }[] };
      expect(out.steps).toHaveLength(19);
      // Progress is shown step by step on stderr.
      expect(r.stderr).toMatch(/\[ 1\/19\] prepare the model repository/);
      expect(r.stderr).toMatch(/\[19\/19\] export the samples/);
      // While the candidate trains, its epochs are shown as they come (indented under the step), not ~40 s of silence.
      const training = r.stderr.slice(r.stderr.indexOf('] train the candidate'), r.stderr.indexOf('[ 4/19]'));
      expect(training.match(/^\[\s*[\d.]+s\]\s+│ epoch=\d+\/\d+ loss=/gm)?.length ?? 0, training).toBeGreaterThanOrEqual(3);
    }

    // The gate verdict: the candidate passed, with a significance test against what production ran.
    const verdict = JSON.parse(readFileSync(join(keep, 'gate/verdict.json'), 'utf8'));
    expect(verdict.schema).toBe('mlloop/verdict@1');
    expect(JSON.stringify(verdict)).toMatch(/paired-bootstrap/);
    expect(verdict.pass ?? verdict.passed).toBe(true);

    // The PR report, named by the model versions, follows the gate's verdict (which passed).
    const report = join(keep, 'compare_reports', 'ocr-v3.2_vs_ocr-v3.1');
    for (const f of ['report.md', 'summary_metrics.html', 'samples_diff.html']) expect(existsSync(join(report, f)), f).toBe(true);
    const md = readFileSync(join(report, 'report.md'), 'utf8');
    expect(md).toMatch(/^# Model comparison: ocr-v3\.2 vs ocr-v3\.1$/m);
    expect(md).toContain('**Recommended for release');
    expect(md).not.toMatch(/Not recommended/);
    expect(JSON.parse(readFileSync(join(report, 'metadata.json'), 'utf8')).recommendation.level).toMatch(/^(yes|warn)$/);
    // Versions, never the training's hash names, wherever a version is known.
    expect(verdict.candidate.model_version).toBe('ocr-v3.2');
    expect(verdict.baseline.model_version).toBe('ocr-v3.1');
    expect(JSON.parse(readFileSync(join(keep, 'model-repo/outputs-candidate/run.json'), 'utf8')).model_version).toBe('ocr-v3.2');
    for (const f of [join(report, 'report.md'), join(report, 'summary_metrics.html'), join(keep, 'gate/verdict.json'), join(keep, 'eval/candidate/metrics.json')]) {
      expect(readFileSync(f, 'utf8'), f).not.toMatch(/ocr-fields-[0-9a-f]{12}/);
    }

    // The canary analysis failed on latency, and production was rolled back by a commit.
    const analysis = JSON.parse(readFileSync(join(keep, 'canary/analysis.json'), 'utf8'));
    expect(analysis.pass).toBe(false);
    const clone = tempDir('demo-gitops');
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
    // Two whole demos (each about a minute, more on a busy machine) exceed the default per-test limit.
  }, 600_000);
});
