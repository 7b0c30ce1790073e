import { describe, expect, it } from 'vitest';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { spawn, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { cli, runsNoMore } from '../support/run.js';
import { DIST, EXAMPLE, ROOT } from '../support/paths.js';
import { sha256Tree } from '../../src/core/fs/hash.js';
import { tempDir } from '../support/tmp.js';

const TINY = join(ROOT, 'test/fixtures/tiny-train');

function tinyRepo(): string {
  const dir = tempDir('tiny');
  cpSync(TINY, dir, { recursive: true });
  execFileSync('git', ['init', '-q'], { cwd: dir });
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', 'add', '.'], { cwd: dir });
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-qm', 'init'], { cwd: dir });
  return dir;
}

const runJson = (file: string) => JSON.parse(readFileSync(file, 'utf8'));

describe('mlloop train (CLI) on a small real training script', () => {
  it('runs install, test and training; logs with timestamps; records the run', async () => {
    const repo = tinyRepo();
    const r = await cli(['train', '--repo', repo, '--install', 'echo installing', '--test', 'python3 -c "print(42)"', '--command', 'python3 train.py --epochs 3 --data data --out outputs', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.status).toBe('succeeded');
    expect(out.metrics.f1).toBeCloseTo(1 - 0.5 / 3, 4);
    const run = runJson(join(repo, 'outputs/run.json'));
    expect(run.schema).toBe('mlloop/run@1');
    expect(run.phases.map((p: { name: string }) => p.name)).toEqual(['install', 'test', 'train']);
    expect(run.exit_code).toBe(0);
    expect(run.git_commit).toMatch(/^[0-9a-f]{40}$/);
    expect(run.git_commit).toBe(execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repo, encoding: 'utf8' }).trim());
    expect(run.data.sha256).toBe((await sha256Tree(join(repo, 'data'))).sha256);
    expect(run.data.files).toBe(2);
    expect(run.resumed_from_epoch).toBeNull();
    const log = readFileSync(join(repo, 'logs/train.log'), 'utf8');
    expect(log).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[install\] installing$/m);
    expect(log).toMatch(/\[test\] 42$/m);
    expect(log).toMatch(/\[train\] epoch=3\/3 f1=0\.8333$/m);
    expect(log).toMatch(/\[train!\] warning line 2$/m);
    // Logs go to stderr, so --json output stays machine-readable.
    expect(r.stderr).toContain('[train] epoch=1/3');
  });

  it('the data hash does not depend on file times, and changes with content', async () => {
    const a = tinyRepo();
    const b = tinyRepo();
    expect((await sha256Tree(join(a, 'data'))).sha256).toBe((await sha256Tree(join(b, 'data'))).sha256);
    writeFileSync(join(b, 'data/part-1.csv'), 'y\n');
    expect((await sha256Tree(join(a, 'data'))).sha256).not.toBe((await sha256Tree(join(b, 'data'))).sha256);
  });

  it.each([
    ['missing', /outputs\/metrics\.json: training finished but wrote no metrics file/],
    ['nan', /outputs\/metrics\.json: not valid JSON at line 1, column \d+ near "NaN[\s\S]*NaN and Infinity are not JSON/],
    ['string', /metrics\.json: \$\.overall\.recall: metric is not a number: "0\.8"/],
  ])('metrics fault "%s" exits 2 naming the file and field', async (fault, message) => {
    const repo = tinyRepo();
    const r = await cli(['train', '--repo', repo, '--command', `python3 train.py --epochs 1 --data data --out outputs --fault ${fault}`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/at .*\.cjs:\d+/); // no stack trace for a user error
    expect(runJson(join(repo, 'outputs/run.json')).status).toBe('failed');
  });

  it('a failing training command is a failed run (exit 1) with its exit code recorded', async () => {
    const repo = tinyRepo();
    const r = await cli(['train', '--repo', repo, '--command', 'python3 train.py --epochs 1 --data data --fault fail']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/training failed: train exited with code 3/);
    expect(runJson(join(repo, 'outputs/run.json'))).toMatchObject({ status: 'failed', exit_code: 3 });
  });

  it('a time-out kills the whole process tree and exits 3', async () => {
    const repo = tinyRepo();
    const r = await cli(['train', '--repo', repo, '--timeout', '3s', '--command', 'python3 train.py --data data --fault hang']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/train timed out after 3s; its whole process tree was killed/);
    expect(runJson(join(repo, 'outputs/run.json')).status).toBe('timed-out');
    // The grandchild `sleep 300` the script started must be gone too (this one, by its pid: other tests run beside it).
    const log = readFileSync(join(repo, 'logs/train.log'), 'utf8');
    const pid = Number(/grandchild started (\d+)/.exec(log)?.[1]);
    expect(pid).toBeGreaterThan(1);
    expect(runsNoMore(pid)).toBe(true);
  });

  it.each([
    [['train'], /missing required option --command/],
    [['train', '--command', 'x', '--repo', '/nonexistent/repo'], /\/nonexistent\/repo: repository folder not found/],
    [['train', '--command', 'python3 train.py --data nodata', '--repo', TINY], /nodata: data folder not found/],
    [['train', '--command', 'x', '--timeout', 'soon'], /not a duration/],
  ])('bad input %j exits 2', async (args, message) => {
    const r = await cli(args as string[]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});

describe('mlloop train on examples/ocr-fields', () => {
  it('a run killed mid-training resumes from its last checkpoint, not from epoch 0', async () => {
    const repo = tempDir('ocr');
    cpSync(EXAMPLE, repo, { recursive: true, filter: (src) => !/\/(outputs|logs|__pycache__)(\/|$)/.test(src) });
    const command = 'python3 train.py --epochs 8 --data sample_data --out outputs --seed 1';
    // Start a run and stop it (SIGTERM, as a cancelled CI job gets) once a checkpoint exists.
    const child = spawn(process.execPath, [join(DIST, 'cli.cjs'), 'train', '--repo', repo, '--command', command], { stdio: 'ignore' });
    const latest = join(repo, 'outputs/checkpoints/latest.json');
    const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
    for (let i = 0; i < 600 && !existsSync(latest); i++) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(latest)).toBe(true);
    child.kill('SIGTERM');
    expect(await exited).not.toBe(0);
    const stopped = JSON.parse(readFileSync(latest, 'utf8')).epoch as number;
    expect(stopped).toBeGreaterThanOrEqual(1);
    expect(stopped).toBeLessThan(8);

    const r = await cli(['train', '--repo', repo, '--command', command, '--resume', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(r.stdout);
    expect(run.resumed_from_epoch).toBeGreaterThanOrEqual(stopped);
    expect(run.command).toBe(`${command} --resume`);
    const log = readFileSync(join(repo, 'logs/train.log'), 'utf8');
    expect(log).toMatch(/resumed from epoch \d+/);
    // The resumed run trains only the remaining epochs: epoch 1 appears once (first run), never after resuming.
    const afterResume = log.slice(log.lastIndexOf('resuming: last checkpoint'));
    expect(afterResume).not.toMatch(/epoch=1\//);
    expect(afterResume).toMatch(/epoch=8\/8/);
    expect(typeof run.metrics.f1).toBe('number');
  });
});
