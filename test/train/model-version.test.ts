// A model is named by its version all the way from training to the reports: `mlloop train --model-version`
// hands it to the training (MLLOOP_MODEL_VERSION) and records it in run.json, the example's train.py builds the
// model as that version, predict.py writes it, evaluate keeps it (or `--model-version` sets it), a release names
// what production runs, and the gate and the comparison report name the models by version, never by the hash
// name a training given no version makes up.
import { beforeAll, describe, expect, it } from 'vitest';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { cli } from '../support/run.js';
import { EXAMPLE } from '../support/paths.js';
import { tempDir } from '../support/tmp.js';

const HASH_NAME = /ocr-fields-[0-9a-f]{12}/;
let dir: string;
let repo: string;
const json = (f: string) => JSON.parse(readFileSync(f, 'utf8'));

beforeAll(() => {
  dir = tempDir('model-version', { scope: 'file' });
  repo = join(dir, 'repo');
  cpSync(EXAMPLE, repo, { recursive: true, filter: (src) => !/\/(outputs[^/]*|logs|__pycache__)(\/|$)/.test(src) });
});

async function train(out: string, extra: string[]) {
  const r = await cli(['train', '--repo', repo, '--command', `python3 train.py --epochs 1 --data sample_data --out ${out} --seed 1`, '--outputs', out, '--logs', `logs-${out}`, '--no-upload', '--json', ...extra], { timeoutMs: 120_000 });
  expect(r.code, r.stderr).toBe(0);
  return json(join(repo, out, 'run.json'));
}

function predict(out: string): string {
  const pred = join(dir, `${out}.pred.json`);
  execFileSync('python3', ['predict.py', '--model', out, '--data', 'sample_data/test', '--out', pred], { cwd: repo });
  return pred;
}

async function evaluate(pred: string, name: string, extra: string[] = []) {
  const out = join(dir, `${name}.metrics.json`);
  const samples = join(dir, `${name}.samples.jsonl`);
  const r = await cli(['evaluate', '--gt', join(repo, 'sample_data/test/gt.json'), '--pred', pred, '--out', out, '--samples', samples, '--json', ...extra]);
  expect(r.code, r.stderr).toBe(0);
  return { metrics: out, samples, doc: json(out) };
}

describe('the model version, from training to the reports', () => {
  it('train --model-version reaches the training and run.json; predictions, metrics, gate and report carry it', async () => {
    const run = await train('outputs-v32', ['--model-version', 'ocr-v3.2']);
    expect(run.model_version).toBe('ocr-v3.2');
    expect(json(join(repo, 'outputs-v32/model.json')).model_version).toBe('ocr-v3.2');
    const pred = predict('outputs-v32');
    expect(json(pred).model_version).toBe('ocr-v3.2');
    const cand = await evaluate(pred, 'candidate');
    expect(cand.doc.model_version).toBe('ocr-v3.2');

    // A baseline trained without a version: its predictions and metrics carry the training's hash name ...
    const hashed = await train('outputs-hash', []);
    expect(hashed.model_version).toMatch(HASH_NAME);
    const hashPred = predict('outputs-hash');
    const base = await evaluate(hashPred, 'baseline');
    expect(base.doc.model_version).toMatch(HASH_NAME);
    // ... which evaluate --model-version replaces,
    expect((await evaluate(hashPred, 'renamed', ['--model-version', 'ocr-v3.1'])).doc.model_version).toBe('ocr-v3.1');
    // and which the release names when production runs it: the gate takes the version from release.json.
    const gitops = join(dir, 'gitops.git');
    execFileSync('git', ['init', '-q', '--bare', '-b', 'main', gitops]);
    const deploy = await cli(['gitops', 'deploy', '--repo', gitops, '--app', 'ocr', '--env', 'prod', '--image', 'registry.example.com/ocr-service:ocr-v3.1-commit-abc1234-20250601090000', '--model-version', 'ocr-v3.1', '--metrics', base.metrics, '--samples', base.samples]);
    expect(deploy.code, deploy.stderr).toBe(0);

    const policy = join(dir, 'gate.yaml');
    writeFileSync(policy, 'metrics:\n  overall.f1: {direction: higher, min: 0.0}\n');
    const verdictFile = join(dir, 'verdict.json');
    const gate = await cli(['gate', '--candidate', cand.metrics, '--baseline-gitops', gitops, '--app', 'ocr', '--env', 'prod', '--policy', policy, '--out', verdictFile, '--json']);
    expect(gate.code, gate.stderr).toBe(0);
    expect(json(verdictFile)).toMatchObject({ candidate: { model_version: 'ocr-v3.2' }, baseline: { model_version: 'ocr-v3.1' } });
    expect(gate.stdout + gate.stderr).not.toMatch(HASH_NAME);

    // The report after the gate names both models as the verdict does, though the baseline's metrics file says a hash.
    const cmp = await cli(['compare', '--candidate', cand.metrics, '--baseline', base.metrics, '--candidate-samples', cand.samples, '--baseline-samples', base.samples, '--verdict', verdictFile, '--out-dir', join(dir, 'reports'), '--no-pdf', '--json']);
    expect(cmp.code, cmp.stderr).toBe(0);
    const reportDir = JSON.parse(cmp.stdout).report_dir as string;
    expect(reportDir).toBe(join(dir, 'reports', 'ocr-v3.2_vs_ocr-v3.1'));
    for (const f of ['report.md', 'summary_metrics.html', 'samples_diff.html', 'metadata.json']) expect(readFileSync(join(reportDir, f), 'utf8'), f).not.toMatch(HASH_NAME);
  });
});
