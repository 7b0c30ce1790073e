import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { cli, run, runAction, type Ran } from '../support/run.js';
import { EXAMPLE, ROOT } from '../support/paths.js';
import { startExampleApp } from '../support/example-app.js';
import { startLabelStudioServer, type LabelStudioServer } from '../support/label-studio-server.js';
import { GitHubServer } from '../support/github-server.js';
import { labelConfig } from '../../src/core/ct/label-studio.js';
import { tempDir } from '../support/tmp.js';

/**
 * The continuous-training loop on examples/ocr-fields, through dist/ as a workflow runs it: a new issuer's
 * scans degrade accuracy for three days → ct check decides to retrain → ct relabel sends the uncertain
 * scans to Label Studio → the corrected labels and the old data fine-tune the production model
 * (train --init-from) → both models are evaluated on the same test set → the gate requires a significant
 * improvement → ct handoff triggers CD with the candidate's provenance; lineage answers afterwards.
 */

const W = tempDir('ct-e2e');
const repo = join(W, 'ocr-fields');
const gitops = join(W, 'gitops.git');
const ok = (r: Ran, what: string) => expect(r.code, `${what}\n${r.stdout}\n${r.stderr}`).toBe(0);
const py = (args: string[]) => run('python3', args, { cwd: repo, timeoutMs: 300_000 });
const json = (p: string) => JSON.parse(readFileSync(join(repo, p), 'utf8'));

function mix(out: string, ...dirs: string[]) {
  mkdirSync(join(repo, out), { recursive: true });
  const docs: string[] = [];
  const images: unknown[] = [];
  const names: string[] = [];
  for (const d of dirs) {
    docs.push(...readFileSync(join(repo, d, 'docs.jsonl'), 'utf8').trim().split('\n'));
    const gt = json(join(d, 'gt.json'));
    images.push(...gt.images);
    names.push(gt.dataset);
  }
  writeFileSync(join(repo, out, 'docs.jsonl'), `${docs.join('\n')}\n`);
  writeFileSync(join(repo, out, 'gt.json'), JSON.stringify({ dataset: names.join('+'), images }));
}

describe('continuous training end to end on examples/ocr-fields', () => {
  let ls: LabelStudioServer;
  let gh: GitHubServer;
  const state: Record<string, unknown> = {};

  beforeAll(async () => {
    cpSync(EXAMPLE, repo, { recursive: true, filter: (s) => !/\/(outputs|logs|__pycache__)(\/|$)/.test(s) });
    cpSync(join(ROOT, 'test/ct/fixtures/new_issuer.py'), join(repo, 'new_issuer.py'));
    execFileSync('git', ['init', '-q', '--bare', '-b', 'main', gitops]);
    ls = await startLabelStudioServer({ projects: [{ id: 12, title: 'policy relabel', label_config: labelConfig(['amount', 'effective_date', 'id_number', 'name']) }] });
    gh = await GitHubServer.start({ tokens: { ghs_cd_token_0123: { login: 'github-actions[bot]', app: true } } });
  });
  afterAll(async () => {
    await ls?.close();
    await gh?.close();
  });

  it('1. trains the production baseline and records its lineage', async () => {
    ok(await cli(['train', '--repo', repo, '--outputs', 'baseline', '--command', 'python3 train.py --epochs 8 --data sample_data --out baseline']), 'train baseline');
    ok(await cli(['lineage', 'record', '--repo', gitops, '--kind', 'train', '--model', 'ocr-v1', '--dataset', 'policies@2025Q1', '--data', 'sample_data/train', '--gt', 'sample_data/train/gt.json', '--run', 'baseline/run.json', '--template', 'ocr-train@1.0', '--job-id', 'train-ocr-v1', '--actor', 'trainer_01', '--time', '2025-06-01T02:00:00Z'], { cwd: repo }), 'lineage record baseline');
    ok(await py(['predict.py', '--model', 'baseline', '--data', 'sample_data/test', '--out', 'baseline-test-pred.json', '--model-version', 'ocr-v1']), 'predict');
    ok(await cli(['evaluate', '--gt', 'sample_data/test/gt.json', '--pred', 'baseline-test-pred.json', '--out', 'baseline-test-metrics.json'], { cwd: repo }), 'evaluate');
    state.baselineF1 = json('baseline-test-metrics.json').overall.f1;
    expect(state.baselineF1).toBeGreaterThan(0.85);
  });

  it('2. production: a new issuer\'s scans degrade accuracy three days in a row; the app logs every inference', async () => {
    const history: string[] = [];
    // Two healthy days on the familiar layout, then three days of the new issuer.
    for (const date of ['2025-06-08', '2025-06-09']) history.push(JSON.stringify({ date, model_version: 'ocr-v1', metrics: json('baseline-test-metrics.json') }));
    const log = join(repo, 'inference.jsonl');
    const app = await startExampleApp({ model: join(repo, 'baseline'), inferenceLog: log, modelVersion: 'ocr-v1' });
    try {
      for (const [i, date] of ['2025-06-10', '2025-06-11', '2025-06-12'].entries()) {
        ok(await py(['new_issuer.py', String(301 + i), 'test', '60', `prod/${date}`]), 'new issuer scans');
        const day = `prod/${date}/test`;
        for (const line of readFileSync(join(repo, day, 'docs.jsonl'), 'utf8').trim().split('\n')) {
          const r = await fetch(`${app.url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: line });
          expect(r.status).toBe(200);
        }
        // The daily accuracy job: the model's predictions on the day's audited sample, evaluated by mlloop.
        ok(await py(['predict.py', '--model', 'baseline', '--data', day, '--out', `${day}/pred.json`, '--model-version', 'ocr-v1']), 'predict day');
        ok(await cli(['evaluate', '--gt', `${day}/gt.json`, '--pred', `${day}/pred.json`, '--out', `${day}/metrics.json`], { cwd: repo }), 'evaluate day');
        history.push(JSON.stringify({ date, model_version: 'ocr-v1', metrics: json(`${day}/metrics.json`) }));
      }
    } finally {
      await app.stop();
    }
    writeFileSync(join(repo, 'metrics_history.jsonl'), `${history.join('\n')}\n`);
    const f1s = history.map((l) => JSON.parse(l).metrics.overall.f1 as number);
    for (const f of f1s.slice(2)) expect(f).toBeLessThan((state.baselineF1 as number) * 0.9);
    expect(readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(180);
  });

  it('3. ct check decides to retrain incrementally, with the evidence', async () => {
    writeFileSync(
      join(repo, 'retrain_policy.yaml'),
      [
        '# yaml-language-server: $schema=../../schemas/retrain-policy.schema.json',
        'model: ocr',
        'triggers:',
        `  metric_drop: {metric: overall.f1, baseline: ${state.baselineF1}, max_drop_relative: 0.10, consecutive: 3, period: 1d}`,
        '  low_confidence: {threshold: 0.6, min_samples: 500}',
        '  corrected: {min_samples: 200}',
        'mode: incremental',
        'cooldown: 24h',
        '',
      ].join('\n'),
    );
    const r = await runAction('ct-check', { history: 'metrics_history.jsonl', 'inference-log': 'inference.jsonl' }, { cwd: repo, eventName: 'schedule' });
    ok(r, 'ct check');
    expect(r.outputs).toMatchObject({ retrain: 'true', mode: 'incremental', triggers: 'metric_drop' });
    const d = json('ct-decision.json');
    expect(d.reasons[0].evidence.periods.map((p: { date: string; degraded: boolean }) => [p.date, p.degraded])).toEqual([
      ['2025-06-10', true],
      ['2025-06-11', true],
      ['2025-06-12', true],
    ]);
    expect(d.checked.find((c: { trigger: string }) => c.trigger === 'corrected').evidence.not_checked).toMatch(/--corrected/);
    // The same signal an hour later: held back by the cooldown, not a second retrain.
    const again = await cli(['ct', 'check', '--history', 'metrics_history.jsonl', '--out', 'again.json', '--json'], { cwd: repo });
    expect(JSON.parse(again.stdout)).toMatchObject({ retrain: false, suppressed: { by: 'cooldown' } });
  });

  it('4. ct relabel posts the most uncertain scans, pre-labelled, to Label Studio and records it', async () => {
    mix('prod/all', 'prod/2025-06-10/test', 'prod/2025-06-11/test', 'prod/2025-06-12/test');
    const preds = ['2025-06-10', '2025-06-11', '2025-06-12'].map((d) => readFileSync(join(repo, `prod/${d}/test/pred.json`), 'utf8'));
    const images = preds.flatMap((p) => JSON.parse(p).images);
    writeFileSync(join(repo, 'prod/all/pred.json'), JSON.stringify({ dataset: 'prod', model_version: 'ocr-v1', images }));
    const r = await cli(
      ['ct', 'relabel', '--inference-log', 'inference.jsonl', '--predictions', 'prod/all/pred.json', '--docs', 'prod/all/docs.jsonl', '--limit', '120', '--image-url', 's3://scans/{file_id}.png', '--out', 'relabel-tasks.json', '--label-studio', ls.url, '--project', '12', '--token', ls.token, '--batch-size', '50', '--lineage-repo', gitops, '--json'],
      { cwd: repo, env: { GITHUB_ACTOR: 'mlloop-ct' } },
    );
    ok(r, 'ct relabel');
    expect(r.stdout).not.toContain(ls.token);
    const out = JSON.parse(r.stdout);
    expect(out.selected.length).toBeGreaterThan(40);
    expect(out.posted).toMatchObject({ batches: Math.ceil(out.selected.length / 50), task_count: out.selected.length });
    const stored = ls.projects.get(12)!.tasks;
    expect(stored.length).toBe(out.selected.length);
    // Scans where the model found fields come pre-labelled (boxes + values) with the model version and score.
    const prelabelled = stored.filter((t) => t.predictions.length);
    expect(prelabelled.length).toBeGreaterThan(stored.length / 2);
    for (const t of prelabelled) {
      expect(t.predictions[0]).toMatchObject({ model_version: 'ocr-v1', score: expect.any(Number) });
      expect(t.predictions[0]!.result.length % 2).toBe(0);
    }
    state.selected = out.selected.map((s: { file_id: string }) => s.file_id);
    expect(out.lineage).toMatchObject({ record: expect.stringMatching(/^[0-9a-f]{16}$/), changed: true });
  });

  it('5. the corrected labels fine-tune the production model (train --init-from)', async () => {
    // The labelers' answers: the true fields of the selected scans.
    const selected = new Set(state.selected as string[]);
    const all = json('prod/all/gt.json');
    const docs = readFileSync(join(repo, 'prod/all/docs.jsonl'), 'utf8').trim().split('\n').filter((l) => selected.has(JSON.parse(l).image_id));
    mkdirSync(join(repo, 'corrected'), { recursive: true });
    writeFileSync(join(repo, 'corrected/docs.jsonl'), `${docs.join('\n')}\n`);
    writeFileSync(join(repo, 'corrected/gt.json'), JSON.stringify({ dataset: 'policies-corrected-2025-06-12', images: all.images.filter((i: { image_id: string }) => selected.has(i.image_id)) }));
    ok(await cli(['lineage', 'record', '--repo', gitops, '--kind', 'label', '--gt', 'corrected/gt.json', '--actor', 'labeler_02', '--time', '2025-06-13T09:00:00Z'], { cwd: repo }), 'lineage label');
    const c = await cli(['ct', 'check', '--corrected', String(selected.size), '--state', 'other-state.json', '--out', 'decision-corrected.json', '--json'], { cwd: repo });
    expect(JSON.parse(c.stdout).checked.find((x: { trigger: string }) => x.trigger === 'corrected').holds).toBe(selected.size >= 200);

    mix('new_data/train', 'corrected', 'sample_data/train');
    ok(await py(['new_issuer.py', '402', 'val', '60', 'new_data_val']), 'val');
    mix('new_data/val', 'new_data_val/val', 'sample_data/val');
    const t = await cli(['train', '--repo', repo, '--outputs', 'candidate', '--command', 'python3 train.py --epochs 3 --data new_data --out candidate --init-from baseline']);
    ok(t, 'incremental training');
    expect(readFileSync(join(repo, 'logs/train.log'), 'utf8')).toMatch(/init.?from/i);
  });

  it('6. both models on the same test set; the gate requires a significant improvement; ct handoff triggers CD', async () => {
    ok(await py(['new_issuer.py', '403', 'test', '200', 'holdout']), 'holdout');
    mix('review-test', 'sample_data/test', 'holdout/test');
    for (const [m, v] of [['baseline', 'ocr-v1'], ['candidate', 'ocr-v2']] as const) {
      ok(await py(['predict.py', '--model', m, '--data', 'review-test', '--out', `${m}-review-pred.json`, '--model-version', v]), `predict ${m}`);
      ok(await cli(['evaluate', '--gt', 'review-test/gt.json', '--pred', `${m}-review-pred.json`, '--out', `${m}-review-metrics.json`, '--samples', `${m}-review-samples.jsonl`], { cwd: repo }), `evaluate ${m}`);
    }
    writeFileSync(
      join(repo, 'gate.yaml'),
      'metrics:\n  overall.f1: {direction: higher, min: 0.80, max_regression: 0.0}\nper_field: {metric: recall, max_regression: 0.02, min_support: 20}\nsignificance: {metric: overall.f1, test: paired-bootstrap, resamples: 2000, alpha: 0.05, require: improvement, seed: 1, correction: holm}\n',
    );
    const g = await cli(['gate', '--candidate', 'candidate-review-metrics.json', '--baseline', 'baseline-review-metrics.json', '--candidate-samples', 'candidate-review-samples.jsonl', '--baseline-samples', 'baseline-review-samples.jsonl', '--policy', 'gate.yaml', '--out', 'verdict.json'], { cwd: repo });
    ok(g, 'gate');
    expect(json('verdict.json')).toMatchObject({ pass: true, significance: { overall: { require: 'improvement', significant: true } } });

    const h = await runAction(
      'ct-handoff',
      { verdict: 'verdict.json', metrics: 'candidate-review-metrics.json', decision: 'ct-decision.json', image: 'registry.example.com/ocr-service:ocr-v2-commit-abc1234-20250613120000', 'api-url': gh.url, token: 'ghs_cd_token_0123' },
      { cwd: repo, eventName: 'workflow_dispatch' },
    );
    ok(h, 'ct handoff');
    expect(h.outputs['handed-off']).toBe('true');
    expect(h.masked).toContain('ghs_cd_token_0123');
    expect(h.stdout.split('\n').filter((l) => !l.startsWith('::add-mask::')).join('\n')).not.toContain('ghs_cd_token_0123');
    const sent = gh.state.repositoryDispatches;
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      repo: 'acme/ocr-fields',
      event_type: 'mlloop-candidate',
      client_payload: { schema: 'mlloop/candidate@1', model_version: 'ocr-v2', parent_model: 'ocr-v1', source_commit: 'a'.repeat(40), gate: { pass: true, require: 'improvement', baseline: 'ocr-v1' }, ct: { mode: 'incremental', triggers: ['metric_drop'] } },
    });
    expect(Object.keys(sent[0]!.client_payload as object).length).toBeLessThanOrEqual(10);
    ok(await cli(['lineage', 'record', '--repo', gitops, '--kind', 'train', '--model', 'ocr-v2', '--parent-model', 'ocr-v1', '--dataset', 'policies@2025Q2', '--data', 'new_data', '--gt', 'new_data/train/gt.json', '--run', 'candidate/run.json', '--template', 'ocr-train@1.0', '--job-id', 'train-ocr-v2', '--actor', 'trainer_01', '--time', '2025-06-13T12:00:00Z'], { cwd: repo }), 'lineage candidate');
    ok(await cli(['lineage', 'record', '--repo', gitops, '--kind', 'evaluate', '--model', 'ocr-v2', '--dataset', 'review-test', '--gt', 'review-test/gt.json', '--metrics', 'candidate-review-metrics.json', '--time', '2025-06-13T12:30:00Z'], { cwd: repo }), 'lineage evaluate');
  });

  it('7. a refused gate is never handed off (exit 1)', async () => {
    const v = json('verdict.json');
    writeFileSync(join(repo, 'verdict-failed.json'), JSON.stringify({ ...v, pass: false, failed: ['overall.f1 regression'] }));
    const r = await cli(['ct', 'handoff', '--verdict', 'verdict-failed.json', '--repository', 'acme/ocr-fields', '--api-url', gh.url, '--token', 'ghs_cd_token_0123'], { cwd: repo });
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/not handed off to CD: the gate did not pass: overall.f1 regression/);
    expect(gh.state.repositoryDispatches).toHaveLength(1);
  });

  it('8. lineage answers: the data behind ocr-v2, and the models a scan trained', async () => {
    const m = await cli(['lineage', '--repo', gitops, '--model', 'ocr-v2', '--json'], { cwd: repo });
    ok(m, 'lineage --model');
    const ml = JSON.parse(m.stdout);
    expect(ml.chain.map((c: { model: string; mode: string }) => [c.model, c.mode])).toEqual([
      ['ocr-v2', 'incremental'],
      ['ocr-v1', 'full'],
    ]);
    const ids = new Set(ml.trained_on.samples.map((s: { file_id: string }) => s.file_id));
    for (const id of state.selected as string[]) expect(ids.has(id)).toBe(true);
    expect(ids.has('policy-train-00001')).toBe(true);
    expect(ml.trained_on.files.map((f: { path: string }) => f.path)).toContain('new_data/train/gt.json');
    expect(ml.evaluated_on).toHaveLength(1);

    const scan = (state.selected as string[])[0]!;
    const f = await cli(['lineage', '--repo', gitops, '--file', scan, '--json'], { cwd: repo });
    const fl = JSON.parse(f.stdout);
    expect(fl.models.map((x: { model_id: string; newer_label_version: boolean }) => [x.model_id, x.newer_label_version])).toEqual([['ocr-v2', false]]);
    // In time order: ct relabel recorded its step at the real clock time, after the scripted 2025 dates.
    expect(fl.audit.map((a: { actor: string; action: string }) => `${a.actor}:${a.action}`)).toEqual(['labeler_02:confirm_label', 'trainer_01:used_in_model', 'mlloop-ct:queued_for_relabel']);

    // A labeler corrects that scan again after ocr-v2 was trained: ocr-v2 now rests on superseded labels.
    const gt = json('corrected/gt.json');
    const img = gt.images.find((i: { image_id: string }) => i.image_id === scan);
    img.fields[0].value = `${img.fields[0].value}·`;
    writeFileSync(join(repo, 'recorrected.json'), JSON.stringify({ dataset: 'recorrected', images: [img] }));
    ok(await cli(['lineage', 'record', '--repo', gitops, '--kind', 'label', '--gt', 'recorrected.json', '--actor', 'reviewer_01', '--time', '2025-06-14T08:00:00Z'], { cwd: repo }), 'lineage re-label');
    const after = await runAction('lineage', { repo: gitops, file: scan }, { cwd: repo });
    ok(after, 'lineage action');
    expect(after.outputs).toMatchObject({ models: 'ocr-v2', 'newer-label': 'true' });
    const old = await cli(['lineage', '--repo', gitops, '--file', 'policy-train-00001', '--json'], { cwd: repo });
    expect(JSON.parse(old.stdout).models.map((x: { model_id: string; newer_label_version: boolean }) => [x.model_id, x.newer_label_version])).toEqual([
      ['ocr-v1', false],
      ['ocr-v2', false],
    ]);
  });
});
