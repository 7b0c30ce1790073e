// Issue 13, "Files": folders where a JSONL file belongs, outputs on symlinks, FIFOs, folders and paths under
// a file, and config files too large to parse — each a clear exit 2 naming the path, nothing replaced.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expectBadInput, mlloop, tmp } from './helpers.js';

function fieldsFiles(dir: string): { gt: string; pred: string } {
  const img = (v: string, c?: number) => ({ image_id: 'a', fields: [{ label: 'name', bbox: [0, 0, 10, 10], value: v, ...(c === undefined ? {} : { confidence: c }) }] });
  writeFileSync(join(dir, 'gt.json'), JSON.stringify({ dataset: 'd', images: [img('x')] }));
  writeFileSync(join(dir, 'pred.json'), JSON.stringify({ dataset: 'd', model_version: 'm1', images: [img('x', 0.9)] }));
  return { gt: join(dir, 'gt.json'), pred: join(dir, 'pred.json') };
}

const POLICY = 'metrics:\n  overall.f1: {direction: higher, max_regression: 0}\nsignificance: {metric: overall.f1, test: paired-bootstrap, resamples: 100, require: none}\n';
const RETRAIN = 'triggers:\n  low_confidence: {threshold: 0.6, min_samples: 1}\n';

describe('a folder where a JSONL file belongs is the user\'s mistake (exit 2, the folder named)', () => {
  it.each([
    ['gate --candidate-samples', (d: string, f: { gt: string; pred: string }) => ['gate', '--candidate', join(d, 'm.json'), '--baseline', join(d, 'm.json'), '--policy', join(d, 'gate.yaml'), '--candidate-samples', join(d, 'folder'), '--baseline-samples', join(d, 's.jsonl'), '--out', join(d, 'v.json')]],
    ['gate --baseline-samples', (d: string) => ['gate', '--candidate', join(d, 'm.json'), '--baseline', join(d, 'm.json'), '--policy', join(d, 'gate.yaml'), '--candidate-samples', join(d, 's.jsonl'), '--baseline-samples', join(d, 'folder'), '--out', join(d, 'v.json')]],
    ['compare --history', (d: string) => ['compare', '--candidate', join(d, 'm.json'), '--baseline', join(d, 'm.json'), '--history', join(d, 'folder'), '--no-pdf', '--out-dir', join(d, 'reports')]],
    ['ct check --inference-log', (d: string) => ['ct', 'check', '--policy', join(d, 'retrain.yaml'), '--inference-log', join(d, 'folder')]],
    ['ct check --history', (d: string) => ['ct', 'check', '--policy', join(d, 'retrain.yaml'), '--history', join(d, 'folder')]],
    ['evaluate --gt (JSONL)', (d: string) => ['evaluate', '--gt', join(d, 'folder.jsonl'), '--pred', join(d, 'pred.json')]],
  ])('%s', async (_name, args) => {
    const d = tmp();
    const f = fieldsFiles(d);
    expect((await mlloop(['evaluate', '--gt', f.gt, '--pred', f.pred, '--out', join(d, 'm.json'), '--samples', join(d, 's.jsonl')], d)).code).toBe(0);
    mkdirSync(join(d, 'folder'));
    mkdirSync(join(d, 'folder.jsonl'));
    writeFileSync(join(d, 'gate.yaml'), POLICY);
    writeFileSync(join(d, 'retrain.yaml'), RETRAIN);
    const r = await mlloop(args(d, f), d);
    expectBadInput(r, /folder(\.jsonl)?: .*directory/);
    expect(existsSync(join(d, 'v.json'))).toBe(false);
    expect(existsSync(join(d, 'reports'))).toBe(false);
  });
});

describe('a JSONL file that cannot be read is the user\'s mistake too', () => {
  it('a read that fails part-way (EIO from /proc/self/mem) is exit 2 naming the file', async () => {
    const d = tmp();
    writeFileSync(join(d, 'retrain.yaml'), RETRAIN);
    const r = await mlloop(['ct', 'check', '--policy', join(d, 'retrain.yaml'), '--inference-log', '/proc/self/mem'], d);
    expectBadInput(r, '/proc/self/mem:', /cannot read/);
  });
});

describe('--out follows symlinks to regular files and never replaces anything else (docs/contracts.md, "Output files")', () => {
  it('a symlink to a file: the file gets the new content, the link stays a link', async () => {
    const d = tmp();
    const f = fieldsFiles(d);
    mkdirSync(join(d, 'real'));
    writeFileSync(join(d, 'real', 'metrics.json'), 'old');
    symlinkSync(join('real', 'metrics.json'), join(d, 'link.json'));
    const r = await mlloop(['evaluate', '--gt', f.gt, '--pred', f.pred, '--out', join(d, 'link.json')], d);
    expect(r.code, r.stderr).toBe(0);
    expect(lstatSync(join(d, 'link.json')).isSymbolicLink()).toBe(true);
    expect(JSON.parse(readFileSync(join(d, 'real', 'metrics.json'), 'utf8')).schema).toBe('mlloop/metrics@1');
    // Written next to the target: no temp file is left in either folder.
    expect(readdirSync(join(d, 'real'))).toEqual(['metrics.json']);
  });

  it('a dangling symlink: the file it names is created', async () => {
    const d = tmp();
    const f = fieldsFiles(d);
    symlinkSync(join(d, 'sub', 'new.json'), join(d, 'link.json'));
    const r = await mlloop(['evaluate', '--gt', f.gt, '--pred', f.pred, '--out', join(d, 'link.json')], d);
    expect(r.code, r.stderr).toBe(0);
    expect(lstatSync(join(d, 'link.json')).isSymbolicLink()).toBe(true);
    expect(JSON.parse(readFileSync(join(d, 'sub', 'new.json'), 'utf8')).schema).toBe('mlloop/metrics@1');
  });

  it('the mode of a replaced file is kept', async () => {
    const d = tmp();
    const f = fieldsFiles(d);
    writeFileSync(join(d, 'm.json'), 'old', { mode: 0o640 });
    expect((await mlloop(['evaluate', '--gt', f.gt, '--pred', f.pred, '--out', join(d, 'm.json')], d)).code).toBe(0);
    expect(statSync(join(d, 'm.json')).mode & 0o777).toBe(0o640);
  });

  it('a FIFO is refused and stays a FIFO (a device such as /dev/full likewise)', async () => {
    const d = tmp();
    const f = fieldsFiles(d);
    execFileSync('mkfifo', [join(d, 'pipe')]);
    symlinkSync(join(d, 'pipe'), join(d, 'to-pipe'));
    for (const out of ['pipe', 'to-pipe']) {
      const r = await mlloop(['evaluate', '--gt', f.gt, '--pred', f.pred, '--out', join(d, out)], d);
      expectBadInput(r, `${join(d, out)}:`, /FIFO/, /never replaces/);
      expect(lstatSync(join(d, 'pipe')).isFIFO()).toBe(true);
    }
    expect(readdirSync(d).sort()).toEqual(['gt.json', 'pipe', 'pred.json', 'to-pipe']);
  });

  it('a folder as --out or --samples is refused', async () => {
    const d = tmp();
    const f = fieldsFiles(d);
    mkdirSync(join(d, 'out'));
    for (const opt of ['--out', '--samples']) {
      const r = await mlloop(['evaluate', '--gt', f.gt, '--pred', f.pred, opt, join(d, 'out')], d);
      expectBadInput(r, `${join(d, 'out')}:`, /a folder/);
      expect(statSync(join(d, 'out')).isDirectory()).toBe(true);
      expect(readdirSync(join(d, 'out'))).toEqual([]);
    }
  });

  it('a path under a regular file is refused, naming it; nothing is written', async () => {
    const d = tmp();
    const f = fieldsFiles(d);
    const r = await mlloop(['evaluate', '--gt', f.gt, '--pred', f.pred, '--out', join(d, 'gt.json', 'm.json'), '--samples', join(d, 's.jsonl')], d);
    expectBadInput(r, `${join(d, 'gt.json', 'm.json')}:`, /not a folder/);
    expect(readdirSync(d).sort()).toEqual(['gt.json', 'pred.json']);
  });

  it('compare --out-dir under a regular file is exit 2 naming it', async () => {
    const d = tmp();
    writeFileSync(join(d, 'm.json'), JSON.stringify({ schema: 'mlloop/metrics@1', overall: { f1: 0.5 } }));
    const r = await mlloop(['compare', '--candidate', join(d, 'm.json'), '--baseline', join(d, 'm.json'), '--no-pdf', '--out-dir', join(d, 'm.json', 'reports')], d);
    expectBadInput(r, join(d, 'm.json', 'reports'), /not a folder/);
  });

  it('a folder that refuses new files is exit 2 naming the path (root may not create files in /sys or /proc either)', async () => {
    const d = tmp();
    const f = fieldsFiles(d);
    for (const out of ['/sys/mlloop-hardening-out.json', '/proc/mlloop-hardening-out.json']) {
      const r = await mlloop(['evaluate', '--gt', f.gt, '--pred', f.pred, '--out', out], d);
      expectBadInput(r, `${out}: cannot write here`);
    }
  });

  it('gate writes its verdict and comment body through the same rules', async () => {
    const d = tmp();
    const f = fieldsFiles(d);
    expect((await mlloop(['evaluate', '--gt', f.gt, '--pred', f.pred, '--out', join(d, 'm.json')], d)).code).toBe(0);
    writeFileSync(join(d, 'gate.yaml'), 'metrics:\n  overall.f1: {direction: higher, max_regression: 0}\n');
    execFileSync('mkfifo', [join(d, 'comment.md')]);
    const r = await mlloop(['gate', '--candidate', join(d, 'm.json'), '--baseline', join(d, 'm.json'), '--policy', join(d, 'gate.yaml'), '--out', join(d, 'v.json'), '--comment-file', join(d, 'comment.md')], d);
    expectBadInput(r, /comment\.md/, /FIFO/);
    expect(existsSync(join(d, 'v.json'))).toBe(false);
    expect(lstatSync(join(d, 'comment.md')).isFIFO()).toBe(true);
  });
});

describe('config files have a size limit (1 MiB); data files keep streaming', () => {
  const big = (head: string) => `${head}# ${'x'.repeat(1 << 20)}\n`;
  it('a gate policy over 1 MiB is refused before it is parsed', async () => {
    const d = tmp();
    writeFileSync(join(d, 'gate.yaml'), big('metrics:\n  overall.f1: {direction: higher}\n'));
    writeFileSync(join(d, 'm.json'), '{"overall": {"f1": 0.5}}');
    const r = await mlloop(['gate', '--candidate', join(d, 'm.json'), '--baseline', join(d, 'm.json'), '--policy', join(d, 'gate.yaml'), '--out', join(d, 'v.json')], d);
    expectBadInput(r, `${join(d, 'gate.yaml')}:`, /1 MiB limit/);
    expect(existsSync(join(d, 'v.json'))).toBe(false);
  });

  it('a retrain policy over 1 MiB likewise', async () => {
    const d = tmp();
    writeFileSync(join(d, 'retrain.yaml'), big(RETRAIN));
    const r = await mlloop(['ct', 'check', '--policy', join(d, 'retrain.yaml')], d);
    expectBadInput(r, `${join(d, 'retrain.yaml')}:`, /1 MiB limit/);
  });

  it('a clusters file over 1 MiB likewise', async () => {
    const d = tmp();
    writeFileSync(join(d, 'clusters.yaml'), big('clusters: []\n'));
    writeFileSync(join(d, 'job.yaml'), 'job_name: j\nimage: i\nresources: {gpu: 1}\n');
    const r = await mlloop(['dispatch', '--request', join(d, 'job.yaml'), '--clusters', join(d, 'clusters.yaml'), '--dry-run'], d);
    expectBadInput(r, /clusters\.yaml/, /1 MiB limit/);
  });

  it('a Job template over 1 MiB likewise', async () => {
    const d = tmp();
    const ex = join(process.cwd(), 'docs', 'examples', 'dispatch');
    writeFileSync(join(d, 'job-template.yaml'), big('apiVersion: batch/v1\nkind: Job\n'));
    writeFileSync(join(d, 'clusters.yaml'), readFileSync(join(ex, 'clusters.yaml'), 'utf8').replace(/^policy:\n/m, `policy:\n  template: ${join(d, 'job-template.yaml')}\n`));
    const r = await mlloop(['dispatch', '--snapshot', join(ex, 'snapshot'), '--request', join(ex, 'job.yaml'), '--clusters', join(d, 'clusters.yaml'), '--dry-run'], d);
    expectBadInput(r, /job-template\.yaml/, /1 MiB limit/);
  });

  it('an analysis template and a comment body over 1 MiB likewise', async () => {
    const d = tmp();
    writeFileSync(join(d, 'analysis.yaml'), big('metrics: []\n'));
    const a = await mlloop(['analyze', '--scrape', 'http://127.0.0.1:9/metrics', '--template', join(d, 'analysis.yaml')], d);
    expectBadInput(a, /analysis\.yaml/, /1 MiB limit/);
    writeFileSync(join(d, 'body.md'), big('report\n'));
    const c = await mlloop(['comment', '--body', join(d, 'body.md'), '--pr', '1', '--repository', 'o/r', '--token', 't', '--api-url', 'http://127.0.0.1:9'], d);
    expectBadInput(c, /body\.md/, /1 MiB limit/);
  });

  it('a values template over 1 MiB likewise; values --out on a FIFO is refused before the old content is read (it blocked)', async () => {
    const d = tmp();
    const chart = join(process.cwd(), 'manifests', 'charts', 'model-service');
    writeFileSync(join(d, 'tpl.yaml'), big('image: {tag: x}\n'));
    const t = await mlloop(['values', '--chart', chart, '--env', 'staging', '--template', join(d, 'tpl.yaml'), '--out', join(d, 'v.yaml')], d);
    expectBadInput(t, /tpl\.yaml/, /1 MiB limit/);
    execFileSync('mkfifo', [join(d, 'v.yaml')]);
    const f = await mlloop(['values', '--chart', chart, '--env', 'staging', '--out', join(d, 'v.yaml')], d);
    expectBadInput(f, /v\.yaml/, /FIFO/);
    expect(lstatSync(join(d, 'v.yaml')).isFIFO()).toBe(true);
  });

  it('a data file over 1 MiB is read as before', async () => {
    const d = tmp();
    const f = fieldsFiles(d);
    const lines = Array.from({ length: 12000 }, (_, i) => JSON.stringify({ image_id: `img-${String(i).padStart(6, '0')}`, fields: [{ label: 'name', bbox: [0, 0, 10, 10], value: 'some value text' }] }));
    writeFileSync(join(d, 'gt.jsonl'), `${lines.join('\n')}\n`);
    expect(statSync(join(d, 'gt.jsonl')).size).toBeGreaterThan(1 << 20);
    const r = await mlloop(['evaluate', '--gt', join(d, 'gt.jsonl'), '--pred', f.pred, '--out', join(d, 'm.json')], d);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(d, 'm.json'), 'utf8')).images).toBe(12000);
  });
});
