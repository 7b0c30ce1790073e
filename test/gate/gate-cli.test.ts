// `mlloop gate` through dist/cli.cjs as a user runs it: decisions, fail-closed cases, the comparability
// guard, policy errors, the verdict file and the significance test on paired samples.
import { describe, expect, it } from 'vitest';
import { writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { cli } from '../support/run.js';
import { writePair, V25, V30 } from './fixtures.js';
import { tempDir } from '../support/tmp.js';

const POLICY = `# yaml-language-server: $schema=../schemas/gate.schema.json
name: ocr-gate
metrics:
  overall.f1:     {direction: higher, min: 0.80, max_regression: 0.0}
  overall.recall: {direction: higher, max_regression: 0.005}
  latency_ms.p95: {direction: lower, max: 400, max_regression_relative: 0.20}
per_field: {metric: recall, max_regression: 0.02, min_support: 20}
significance: {metric: overall.f1, test: paired-bootstrap, resamples: 2000, alpha: 0.05, require: improvement, margin: 0.0, seed: 1, correction: holm, per_field: true}
`;

function setup(policy = POLICY, images = 400) {
  const pair = writePair(V30, V25, { images });
  const policyFile = join(pair.dir, 'gate.yaml');
  writeFileSync(policyFile, policy);
  return { ...pair, policyFile };
}

const args = (p: ReturnType<typeof setup>, extra: string[] = []) => [
  'gate',
  '--candidate', p.candidate.metrics,
  '--baseline', p.baseline.metrics,
  '--candidate-samples', p.candidate.samples,
  '--baseline-samples', p.baseline.samples,
  '--policy', p.policyFile,
  '--out', join(p.dir, 'verdict.json'),
  ...extra,
];

describe('mlloop gate', () => {
  it('passes a better model, writes a verdict that lists every check with the test p-value and CI', async () => {
    const p = setup();
    const r = await cli([...args(p), '--json']);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    const v = JSON.parse(readFileSync(join(p.dir, 'verdict.json'), 'utf8'));
    expect(JSON.parse(r.stdout).pass).toBe(true);
    expect(v.schema).toBe('mlloop/verdict@1');
    expect(v.pass).toBe(true);
    expect(v.baseline.kind).toBe('file');
    expect(v.candidate.model_version).toBe('ocr-v3.0');
    expect(v.baseline.model_version).toBe('ocr-v2.5');
    const ids = v.checks.map((c: { id: string }) => c.id);
    expect(ids).toEqual(expect.arrayContaining(['overall.f1 ≥ min', 'overall.f1 regression', 'overall.recall regression', 'latency_ms.p95 ≤ max', 'latency_ms.p95 relative regression', 'per_field.name.recall regression', 'overall.f1 significance', 'per_field.amount significance']));
    for (const c of v.checks) for (const k of ['candidate', 'baseline', 'delta', 'bound', 'pass', 'reason']) expect(c).toHaveProperty(k);
    expect(v.significance.overall.p_value).toBeLessThan(0.05);
    expect(v.significance.overall.ci[0]).toBeGreaterThan(0);
    expect(v.significance.per_field).toHaveLength(4);
    for (const f of v.significance.per_field) expect(f.p_adjusted).toBeGreaterThanOrEqual(f.p_value);
  });

  it('fails (exit 1) the reverse comparison and says why', async () => {
    const p = setup(POLICY, 1500);
    const r = await cli(['gate', '--candidate', p.baseline.metrics, '--baseline', p.candidate.metrics, '--candidate-samples', p.baseline.samples, '--baseline-samples', p.candidate.samples, '--policy', p.policyFile, '--out', join(p.dir, 'v.json')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/gate ocr-gate: FAIL/);
    expect(r.stdout).toMatch(/overall\.f1 regression/);
    const v = JSON.parse(readFileSync(join(p.dir, 'v.json'), 'utf8'));
    expect(v.pass).toBe(false);
    expect(v.failed.some((f: string) => f.startsWith('overall.f1 significance'))).toBe(true);
    // The per-field tests find the regression the reverse comparison has on every field.
    expect(v.significance.per_field.some((f: { pass: boolean }) => !f.pass)).toBe(true);
  });

  const failClosed: [string, (m: Record<string, any>) => void, RegExp][] = [
    ['a missing metric', (m) => delete m.overall.recall, /overall\.recall is not a usable number \(candidate: missing\)/],
    ['a null metric', (m) => (m.latency_ms.p95 = null), /candidate: null/],
    ['a string metric', (m) => (m.overall.f1 = '0.93'), /candidate: not a number/],
    ['a missing per-field block value', (m) => delete m.per_field.amount.recall, /per_field\.amount\.recall is not a usable number/],
  ];
  it.each(failClosed)('fails closed on %s in the candidate', async (_, mutate, reason) => {
    const p = setup();
    const m = JSON.parse(readFileSync(p.candidate.metrics, 'utf8'));
    mutate(m);
    writeFileSync(p.candidate.metrics, JSON.stringify(m));
    const r = await cli(args(p));
    expect(r.code).toBe(1);
    expect(JSON.parse(readFileSync(join(p.dir, 'verdict.json'), 'utf8')).failed.join('\n')).toMatch(reason);
  });

  it('fails closed on a metric missing from the baseline, and on NaN written as a string', async () => {
    const p = setup();
    const b = JSON.parse(readFileSync(p.baseline.metrics, 'utf8'));
    delete b.latency_ms;
    writeFileSync(p.baseline.metrics, JSON.stringify(b));
    const c = JSON.parse(readFileSync(p.candidate.metrics, 'utf8'));
    c.overall.recall = 'NaN';
    writeFileSync(p.candidate.metrics, JSON.stringify(c));
    const r = await cli(args(p));
    expect(r.code).toBe(1);
    const failed = JSON.parse(readFileSync(join(p.dir, 'verdict.json'), 'utf8')).failed.join('\n');
    expect(failed).toMatch(/latency_ms\.p95 .*baseline: missing/);
    expect(failed).toMatch(/overall\.recall .*candidate: not a number/);
  });

  it('refuses NaN in a metrics file as invalid JSON (exit 2) and writes nothing', async () => {
    const p = setup();
    writeFileSync(p.candidate.metrics, readFileSync(p.candidate.metrics, 'utf8').replace(/"f1": [0-9.]+/, '"f1": NaN'));
    const r = await cli(args(p));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/candidate\.metrics\.json.*not valid JSON.*NaN/s);
    expect(existsSync(join(p.dir, 'verdict.json'))).toBe(false);
  });

  it.each([
    ['datasets', (m: Record<string, any>) => (m.dataset = 'invoice-test-2024Q4'), /different datasets: candidate "invoice-test-2024Q4", baseline "invoice-test-2025Q1"/],
    ['config blocks', (m: Record<string, any>) => (m.config.iou_threshold = 0.3), /different evaluation config: config\.iou_threshold 0\.3 vs 0\.5/],
  ])('refuses (exit 2) different %s unless --allow-incomparable', async (_, mutate, reason) => {
    const p = setup();
    const m = JSON.parse(readFileSync(p.candidate.metrics, 'utf8'));
    mutate(m);
    writeFileSync(p.candidate.metrics, JSON.stringify(m));
    const r = await cli(args(p));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(reason);
    expect(r.stderr).toMatch(/--allow-incomparable/);
    expect(existsSync(join(p.dir, 'verdict.json'))).toBe(false);
    const ok = await cli(args(p, ['--allow-incomparable']));
    expect(ok.code).toBe(0);
    const v = JSON.parse(readFileSync(join(p.dir, 'verdict.json'), 'utf8'));
    expect(v.comparable).toBe(false);
    expect(v.incomparable_reasons.join()).toMatch(reason);
  });

  it('refuses samples files that cover different images', async () => {
    const p = setup();
    writeFileSync(p.baseline.samples, readFileSync(p.baseline.samples, 'utf8').replace('"policy-test-00000"', '"policy-test-99999"'));
    const r = await cli(args(p));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cover different images \(1 only in .*candidate\.samples\.jsonl.*"policy-test-00000"/s);
  });

  it.each([
    ['a missing direction', 'metrics:\n  overall.f1: {min: 0.8}\n', /gate\.yaml: \$\.metrics\["overall\.f1"\]\.direction: required field "direction" is missing/],
    ['a misspelt rule', 'metrics:\n  overall.f1: {direction: higher, max_regresion: 0}\n', /unknown field "max_regresion"[\s\S]*did you mean "max_regression"/],
    ['an unknown test', 'significance: {test: t-test}\n', /\$\.significance\.test: must be one of "paired-bootstrap", "mcnemar", "permutation"/],
    ['min above max', 'metrics:\n  overall.f1: {direction: higher, min: 0.9, max: 0.8}\n', /min \(0\.9\) is above max \(0\.8\)/],
    ['invalid YAML', 'metrics: [\n', /not valid YAML/],
  ])('rejects a policy with %s (exit 2, file and JSON path named)', async (_, policy, message) => {
    const p = setup(policy);
    const r = await cli(args(p));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/at .*\.cjs/);
  });

  it('refuses samples that do not belong to the metrics (another evaluation run)', async () => {
    const p = setup();
    const other = writePair(V30, V25, { images: 300 });
    const r = await cli(args(p).map((a) => (a === p.baseline.samples ? other.baseline.samples : a)));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/the baseline's samples do not belong to its metrics: they sum to tp=\d+, .*baseline\.metrics\.json says overall\.tp=\d+/);
  });

  it('asks for samples when the policy has a significance test', async () => {
    const p = setup();
    const r = await cli(['gate', '--candidate', p.candidate.metrics, '--baseline', p.baseline.metrics, '--policy', p.policyFile]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/\$\.significance: .*needs per-image samples[\s\S]*--candidate-samples/);
  });

  it('reports a malformed samples line with its number and path', async () => {
    const p = setup();
    const lines = readFileSync(p.candidate.samples, 'utf8').trim().split('\n');
    lines[4] = lines[4]!.replace('"fp":', '"fp":-').replace('"fp":-', '"fp":-1,"x":');
    writeFileSync(p.candidate.samples, lines.join('\n'));
    const r = await cli(args(p));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/candidate\.samples\.jsonl: \$\.fp: line 5: must be a non-negative whole number/);
  });

  it('with mcnemar and permutation, the same data gives the same decision', async () => {
    for (const test of ['mcnemar', 'permutation']) {
      const p = setup(POLICY.replace('test: paired-bootstrap', `test: ${test}`));
      const r = await cli([...args(p), '--json']);
      expect(r.code, r.stderr).toBe(0);
      const v = JSON.parse(r.stdout);
      expect(v.significance.overall.test).toBe(test);
      expect(v.significance.overall.p_value).toBeLessThan(0.05);
      if (test === 'mcnemar') expect(v.significance.overall.method).toMatch(/mcnemar chi-square with continuity correction/);
    }
  });

  it('explains itself in --help, with examples', async () => {
    const r = await cli(['gate', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--baseline-gitops/);
    expect(r.stdout).toMatch(/mlloop gate --candidate/);
  });

  it('needs a baseline source', async () => {
    const dir = tempDir('gate');
    writeFileSync(join(dir, 'm.json'), '{"f1": 0.9}');
    writeFileSync(join(dir, 'gate.yaml'), 'metrics:\n  f1: {direction: higher, min: 0.5}\n');
    const r = await cli(['gate', '--candidate', 'm.json'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no baseline given/);
  });
});
