import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import { cli, runAction } from '../support/run.js';
import { EXAMPLE } from '../support/paths.js';
import { fileLineage, labelVersion, makeRecord, modelLineage, type LineageRecord, type RecordInput } from '../../src/core/lineage/records.js';
import { tempDir } from '../support/tmp.js';

const base: RecordInput = { kind: 'train', time: '2025-06-01T00:00:00.000Z', actor: 'ci', model_id: 'm1', parent_model: null, mode: 'full', job_id: null, template: null, commit: null, run_url: null, env: null, dataset: null, files: [], samples: [], metrics: {}, extra: {} };
const rec = (o: Partial<RecordInput>): LineageRecord => makeRecord({ ...base, ...o });

describe('lineage records', () => {
  it('label versions depend on the labels, not on their order', () => {
    const a = [{ label: 'name', bbox: [1, 2, 3, 4], value: '张三' }, { label: 'amount', bbox: [5, 6, 7, 8], value: '100.00' }];
    expect(labelVersion(a)).toBe(labelVersion([...a].reverse()));
    expect(labelVersion(a)).not.toBe(labelVersion([{ ...a[0]!, value: '张山' }, a[1]!]));
    expect(labelVersion(a)).toMatch(/^[0-9a-f]{12}$/);
  });

  it('a record id is its content without the time: the same step recorded twice is one record', () => {
    expect(rec({ time: '2025-06-02T00:00:00.000Z' }).id).toBe(rec({}).id);
    expect(rec({ job_id: 'job-2' }).id).not.toBe(rec({}).id);
  });

  it('answers --model with the data and the chain of parent models', () => {
    const records = [
      rec({ model_id: 'v1', samples: [{ file_id: 'a', label_version: 'l1' }], dataset: { id: 'ds', version: '1', sha256: null } }),
      rec({ model_id: 'v2', parent_model: 'v1', mode: 'incremental', time: '2025-06-05T00:00:00.000Z', samples: [{ file_id: 'a', label_version: 'l2' }, { file_id: 'b', label_version: 'l1' }] }),
      rec({ kind: 'deploy', model_id: 'v2', env: 'prod', time: '2025-06-06T00:00:00.000Z' }),
    ];
    const m = modelLineage(records, 'v2');
    expect(m.chain.map((c) => c.model)).toEqual(['v2', 'v1']);
    expect(m.trained_on.samples).toHaveLength(2);
    expect(m.deployed).toEqual([{ env: 'prod', time: '2025-06-06T00:00:00.000Z', actor: 'ci' }]);
  });

  it('answers --file with the models and whether a newer label version exists', () => {
    const records = [
      rec({ model_id: 'v1', samples: [{ file_id: 'a', label_version: 'l1' }] }),
      rec({ kind: 'label', model_id: null, mode: null, time: '2025-06-03T00:00:00.000Z', actor: 'labeler_02', samples: [{ file_id: 'a', label_version: 'l2' }] }),
      rec({ model_id: 'v2', time: '2025-06-05T00:00:00.000Z', samples: [{ file_id: 'a', label_version: 'l2' }] }),
      rec({ kind: 'relabel', model_id: 'v2', time: '2025-06-07T00:00:00.000Z', samples: [{ file_id: 'a', label_version: 'queued' }] }),
    ];
    const f = fileLineage(records, [], 'a');
    expect(f.models.map((x) => [x.model_id, x.label_version, x.newer_label_version])).toEqual([
      ['v1', 'l1', true],
      ['v2', 'l2', false],
    ]);
    expect(f.latest_label_version).toBe('l2');
  });
});

const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();

describe('mlloop lineage record / mlloop lineage on a real GitOps repository', () => {
  const dir = tempDir('lineage');
  const remote = join(dir, 'gitops.git');
  const work = join(dir, 'model-repo');
  const corrected = join(work, 'corrected-gt.json');
  const file = 'policy-train-00001';

  beforeAll(() => {
    git(dir, 'init', '-q', '--bare', '-b', 'main', remote);
    mkdirSync(work);
    cpSync(join(EXAMPLE, 'sample_data/train'), join(work, 'sample_data/train'), { recursive: true });
    const gt = JSON.parse(readFileSync(join(work, 'sample_data/train/gt.json'), 'utf8'));
    const first = gt.images.find((i: { image_id: string }) => i.image_id === file);
    first.fields[0].value = `${first.fields[0].value}x`;
    writeFileSync(corrected, JSON.stringify({ dataset: gt.dataset, images: [first] }));
  });

  it('records training, a label correction and an incremental retraining, and answers both questions', async () => {
    const common = ['--repo', remote, '--json'];
    const t1 = await cli(['lineage', 'record', ...common, '--kind', 'train', '--model', 'ocr-v1', '--dataset', 'policies@2025Q1', '--data', 'sample_data/train', '--gt', 'sample_data/train/gt.json', '--job-id', 'job-1', '--template', 'ocr-train@1.2', '--commit', 'a'.repeat(40), '--actor', 'trainer_01', '--time', '2025-06-01T10:00:00Z'], { cwd: work });
    expect(t1.code, t1.stderr).toBe(0);
    expect(JSON.parse(t1.stdout)).toMatchObject({ changed: true, pushed: true, record: { kind: 'train', model_id: 'ocr-v1', files: [{ path: 'sample_data/train/docs.jsonl' }, { path: 'sample_data/train/gt.json' }] } });

    const again = await cli(['lineage', 'record', ...common, '--kind', 'train', '--model', 'ocr-v1', '--dataset', 'policies@2025Q1', '--data', 'sample_data/train', '--gt', 'sample_data/train/gt.json', '--job-id', 'job-1', '--template', 'ocr-train@1.2', '--commit', 'a'.repeat(40), '--actor', 'trainer_01', '--time', '2025-06-01T10:05:00Z'], { cwd: work });
    expect(JSON.parse(again.stdout).changed).toBe(false);

    const label = await cli(['lineage', 'record', ...common, '--kind', 'label', '--gt', 'corrected-gt.json', '--actor', 'labeler_02', '--time', '2025-06-03T09:00:00Z'], { cwd: work });
    expect(label.code, label.stderr).toBe(0);
    const t2 = await runAction('lineage-record', { repo: remote, kind: 'train', model: 'ocr-v2', 'parent-model': 'ocr-v1', dataset: 'policies@2025Q2', gt: 'sample_data/train/gt.json\ncorrected-gt.json', time: '2025-06-05T10:00:00Z' }, { cwd: work, env: { GITHUB_ACTOR: 'octocat' } });
    expect(t2.code, t2.stdout).toBe(0);
    expect(t2.outputs.changed).toBe('true');

    const m = await cli(['lineage', '--repo', remote, '--model', 'ocr-v2', '--json'], { cwd: work });
    expect(m.code, m.stderr).toBe(0);
    const ml = JSON.parse(m.stdout);
    expect(ml.chain).toEqual([{ model: 'ocr-v2', mode: 'incremental', time: '2025-06-05T10:00:00.000Z' }, { model: 'ocr-v1', mode: 'full', time: '2025-06-01T10:00:00.000Z' }]);
    const gtCount = JSON.parse(readFileSync(join(work, 'sample_data/train/gt.json'), 'utf8')).images.length;
    expect(ml.trained_on.samples).toHaveLength(gtCount);
    expect(ml.trained_on.samples.find((s: { file_id: string }) => s.file_id === file).label_version).not.toBe(JSON.parse(t1.stdout).record.samples[0].label_version);
    expect(ml.records[0].actor).toBe('octocat');

    const f = await runAction('lineage', { repo: remote, file }, { cwd: work });
    expect(f.code, f.stdout).toBe(0);
    expect(f.outputs).toMatchObject({ models: 'ocr-v1,ocr-v2', 'newer-label': 'true' });
    const fl = JSON.parse(f.outputs.result!);
    expect(fl.models.map((x: { model_id: string; newer_label_version: boolean }) => [x.model_id, x.newer_label_version])).toEqual([
      ['ocr-v1', true],
      ['ocr-v2', false],
    ]);
    expect(fl.audit.map((a: { actor: string; action: string }) => `${a.actor}:${a.action}`)).toEqual(['trainer_01:used_in_model', 'labeler_02:confirm_label', 'octocat:used_in_model']);
    const other = await cli(['lineage', '--repo', remote, '--file', 'policy-train-00002', '--json'], { cwd: work });
    expect(JSON.parse(other.stdout).models.map((x: { newer_label_version: boolean }) => x.newer_label_version)).toEqual([false, false]);

    const log = git(remote, 'log', '--format=%s%n%(trailers:only,unfold)', '-n', '1', 'main');
    expect(log).toContain('lineage(train): ocr-v2');
    expect(log).toMatch(/Mlloop-Action: lineage/);
    expect(log).toMatch(/Model-Version: ocr-v2/);
    expect(git(remote, 'rev-list', '--count', 'main')).toBe('3');
  });

  it('concurrent writers lose no record', async () => {
    const runs = await Promise.all(
      Array.from({ length: 6 }, (_, i) => cli(['lineage', 'record', '--repo', remote, '--kind', 'evaluate', '--model', `ocr-c${i}`, '--gt', 'corrected-gt.json', '--time', '2025-06-10T00:00:00Z'], { cwd: work })),
    );
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const checkout = join(dir, 'check');
    git(dir, 'clone', '-q', remote, checkout);
    const lines = readFileSync(join(checkout, 'lineage/records/2025-06.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.kind === 'evaluate').map((l) => l.model_id).sort()).toEqual(['ocr-c0', 'ocr-c1', 'ocr-c2', 'ocr-c3', 'ocr-c4', 'ocr-c5']);
  });

  it('refuses bad input before writing anything (exit 2)', async () => {
    const before = git(remote, 'rev-parse', 'main');
    const r = await cli(['lineage', 'record', '--repo', remote, '--kind', 'train', '--gt', 'sample_data/train/gt.json'], { cwd: work });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--kind train needs --model/);
    const q = await cli(['lineage', '--repo', remote], { cwd: work });
    expect(q.code).toBe(2);
    expect(q.stderr).toMatch(/exactly one of --model or --file/);
    expect(git(remote, 'rev-parse', 'main')).toBe(before);
  });
});
