// The GitLab CI/CD component gitlab/templates/model-ci.yml run for real with gitlab-ci-local (shell executor) on a
// copy of examples/ocr-fields: a default-branch pipeline makes the baseline, merge request pipelines gate against it
// and keep one sticky note on the merge request of the in-repo GitLab API test server (test/support/gitlab-server.ts).
// gitlab-ci-local needs Node ≥ 22: it runs with $MLLOOP_NODE22, the binary scripts/tools.sh unpacks from the npm
// registry's node-linux-<arch> package (not a devDependency: its `node` bin would shadow the machine's Node).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { parse } from 'yaml';
import { GitLabServer } from '../support/gitlab-server.js';
import { closeApi } from '../support/api-server.js';
import { DIST, EXAMPLE, PYTHON, ROOT } from '../support/paths.js';
import { run, type Ran } from '../support/run.js';
import { tempDir } from '../support/tmp.js';
import { tool } from '../support/tools.js';

const NODE22 = process.env.MLLOOP_NODE22 ?? join(ROOT, 'node_modules', '.cache', 'mlloop-tools', 'node22', 'bin', 'node');
const GCL = join(ROOT, 'node_modules', 'gitlab-ci-local', 'dist', 'index.js');
const TEMPLATES = join(ROOT, 'gitlab', 'templates');
const BOT = 'mlloop-bot';
const TOKEN = 'glpat-Rw0123456789abcdefXYZ';
const PROJECT = 'acme/ml/ocr-fields';
const MR = 7;

let gl: GitLabServer;
let front: Server;
let frontUrl = '';
let projectId: number;
let repo: string;
let bare: string;
/** The artifacts of the default branch's latest successful `mlloop-evaluate` (what GitLab serves as `jobs/artifacts/main/raw`). */
let baselineDir: string;

/** Fails with what is missing when gitlab-ci-local cannot run here: never a skip. */
function checkRunner(): void {
  const missing = [
    [NODE22, 'a Node 22 binary: `source scripts/tools.sh` unpacks one and sets MLLOOP_NODE22'],
    [GCL, 'the devDependency gitlab-ci-local (npm ci)'],
  ].filter(([p]) => !existsSync(p!));
  if (missing.length) throw new Error(`gitlab-ci-local cannot run: missing ${missing.map(([p, what]) => `${p} (${what})`).join(', ')}`);
  try {
    execFileSync('rsync', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('gitlab-ci-local cannot run: rsync is not installed (apt-get install rsync)');
  }
}

const git = (cwd: string, ...a: string[]) => execFileSync(tool('git'), ['-c', 'user.name=dev', '-c', 'user.email=dev@example.com', ...a], { cwd, encoding: 'utf8' });

/** The component included as a model repository would, with this checkout's CLI and the tests' python. */
function ciFile(inputs: Record<string, unknown> = {}): string {
  return [
    'include:',
    '  - local: .mlloop/model-ci.yml',
    '    inputs:',
    ...Object.entries({
      mlloop: `node ${join(DIST, 'cli.cjs')}`,
      python: PYTHON,
      // The quick unit tests of the example (the whole suite takes a minute and pins config.yaml's lr).
      test: 'python -m unittest tests.test_features tests.test_generate',
      'train-command': 'python train.py --epochs 1 --data sample_data --out outputs',
      'predict-command': 'python predict.py --model outputs --data sample_data/test --out "$MLLOOP_PREDICTIONS"',
      ...inputs,
    }).map(([k, v]) => `      ${k}: ${JSON.stringify(v)}`),
    '',
  ].join('\n');
}

function setLr(lr: string): void {
  const f = join(repo, 'config.yaml');
  writeFileSync(f, readFileSync(f, 'utf8').replace(/^(\s*lr:\s*)[0-9.]+/m, `$1${lr}`));
}

/** One gitlab-ci-local pipeline in `repo`: a merge request pipeline when `mr` is given, else a default-branch one. */
async function pipeline(mr?: number, opts: { token?: boolean } = {}): Promise<Ran & { log: string }> {
  const v: Record<string, string> = {
    CI_DEFAULT_BRANCH: 'main',
    CI_SERVER_URL: frontUrl,
    CI_API_V4_URL: `${frontUrl}/api/v4`,
    CI_PROJECT_ID: String(projectId),
    CI_PROJECT_PATH: PROJECT,
    CI_JOB_TOKEN: 'job-token-1234',
    ...(opts.token === false ? {} : { GITLAB_TOKEN: TOKEN }),
    // The jobs' git reaches "origin" (the project's https URL) in the bare repository.
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: `url.${bare}.insteadOf`,
    GIT_CONFIG_VALUE_0: `${frontUrl}/${PROJECT}.git`,
    ...(mr
      ? {
          CI_PIPELINE_SOURCE: 'merge_request_event',
          CI_MERGE_REQUEST_IID: String(mr),
          CI_MERGE_REQUEST_PROJECT_ID: String(projectId),
          CI_MERGE_REQUEST_TARGET_BRANCH_NAME: 'main',
          CI_MERGE_REQUEST_SOURCE_BRANCH_NAME: git(repo, 'branch', '--show-current').trim(),
        }
      : { CI_PIPELINE_SOURCE: 'push', CI_COMMIT_BRANCH: 'main' }),
  };
  const args = [GCL, '--force-shell-executor', '--no-color', '--json-schema-validation', ...Object.entries(v).flatMap(([k, x]) => ['--variable', `${k}=${x}`])];
  if (mr) args.push('--unset-variable', 'CI_COMMIT_BRANCH');
  // Overriding GitLab's predefined variables is the point here: they describe the pipeline being simulated.
  args.push('--ignore-predefined-vars', Object.keys(v).filter((k) => k.startsWith('CI_')).join(','));
  const r = await run(NODE22, args, { cwd: repo, timeoutMs: 300_000, env: { GITLAB_TOKEN: undefined, CI_API_V4_URL: undefined, CI_SERVER_URL: undefined, CI_PROJECT_ID: undefined } });
  return { ...r, log: r.stdout + r.stderr };
}

function artifact(job: string, path: string): string {
  return readFileSync(join(repo, '.gitlab-ci-local', 'artifacts', job, path), 'utf8');
}

const mine = () => gl.notes(projectId, MR).filter((n) => n.author.username === BOT);

beforeAll(async () => {
  checkRunner();
  gl = await GitLabServer.start({ tokens: { [TOKEN]: { username: BOT, scopes: ['api'] } } });
  projectId = gl.addProject(PROJECT).id;
  gl.addMergeRequest(projectId, MR);
  baselineDir = tempDir('gitlab-baseline', { scope: 'file' });
  // GitLab's job artifacts API (jobs/artifacts/:ref/raw/*path?job=) from baselineDir, everything else to the test server.
  front = createServer((req, res) => {
    const m = /^\/api\/v4\/projects\/(\d+)\/jobs\/artifacts\/main\/raw\/mlloop-eval\/([\w.]+)\?job=mlloop-evaluate$/.exec(req.url ?? '');
    if (m) {
      const f = join(baselineDir, m[2]!);
      const ok = m[1] === String(projectId) && req.headers['job-token'] === 'job-token-1234' && existsSync(f);
      res.writeHead(ok ? 200 : 404).end(ok ? readFileSync(f) : '{"message":"404 Not found"}');
      return;
    }
    const target = new URL(req.url ?? '/', gl.url);
    const up = request(target, { method: req.method, headers: { ...req.headers, host: target.host } }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  frontUrl = `http://127.0.0.1:${(front.address() as { port: number }).port}`;

  repo = tempDir('gitlab-repo', { scope: 'file' });
  bare = tempDir('gitlab-origin', { scope: 'file' });
  cpSync(EXAMPLE, repo, { recursive: true, filter: (s) => !/[/\\](outputs|logs|__pycache__|\.github)$/.test(s) });
  mkdirSync(join(repo, '.mlloop'));
  cpSync(join(TEMPLATES, 'model-ci.yml'), join(repo, '.mlloop', 'model-ci.yml'));
  writeFileSync(join(repo, '.gitlab-ci.yml'), ciFile());
  writeFileSync(join(repo, '.gitignore'), '.gitlab-ci-local/\n.mlloop-venv/\noutputs/\nlogs/\nmlloop-*/\n__pycache__/\n');
  git(repo, 'init', '-q', '-b', 'main');
  git(repo, 'add', '.');
  git(repo, 'commit', '-qm', 'model');
  git(bare, 'init', '-q', '--bare');
  git(repo, 'remote', 'add', 'origin', `${frontUrl}/${PROJECT}.git`);
  git(repo, 'push', '-q', bare, 'main:main');
}, 60_000);

afterAll(async () => {
  if (front) await closeApi(front);
  if (gl) await gl.close();
});

describe('gitlab/templates (CI/CD components) under gitlab-ci-local', () => {
  it('every template is a component: a spec with described inputs, jobs that pass GitLab\'s schema (--preview)', async () => {
    const files = readdirSync(TEMPLATES).filter((f) => f.endsWith('.yml'));
    expect(files).toContain('model-ci.yml');
    for (const f of files) {
      const [spec, jobs] = readFileSync(join(TEMPLATES, f), 'utf8').split(/^---$/m);
      const inputs = parse(spec!).spec.inputs as Record<string, { description?: string }>;
      for (const [name, i] of Object.entries(inputs)) expect(i.description, `${f}: input ${name} has a description`).toBeTruthy();
      expect(jobs).not.toMatch(/\$\[\[\s*inputs\.(?!(\w|-)+\s*\]\])/);
      const dir = tempDir('gitlab-preview');
      cpSync(join(TEMPLATES, f), join(dir, 'component.yml'));
      writeFileSync(join(dir, '.gitlab-ci.yml'), `include:\n  - local: component.yml\n    inputs:\n      train-command: python train.py\n      predict-command: python predict.py\n`);
      git(dir, 'init', '-q', '-b', 'main');
      git(dir, 'remote', 'add', 'origin', `https://gitlab.example.com/${PROJECT}.git`);
      git(dir, 'add', '.');
      git(dir, 'commit', '-qm', 'x');
      const r = await run(NODE22, [GCL, '--preview', '--json-schema-validation', '--no-color'], { cwd: dir, timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr, f).toContain('json schema validated');
      const expanded = parse(r.stdout) as Record<string, { script?: string[] }>;
      expect(Object.keys(expanded)).toEqual(expect.arrayContaining(['mlloop-evaluate']));
      expect(JSON.stringify(expanded)).not.toContain('$[[');
    }
  });

  it('a default-branch pipeline evaluates and keeps the evaluation as the artifact, with no gate and no note', async () => {
    const r = await pipeline();
    expect(r.code, r.log).toBe(0);
    expect(r.log).toMatch(/PASS\s+mlloop-evaluate/);
    expect(r.log).not.toContain('mlloop-gate');
    const metrics = JSON.parse(artifact('mlloop-evaluate', 'mlloop-eval/metrics.json'));
    expect(metrics.overall.f1).toBeGreaterThan(0);
    expect(JSON.parse(artifact('mlloop-evaluate', './outputs/run.json')).exit_code).toBe(0);
    expect(artifact('mlloop-evaluate', './logs/train.log')).toContain('train.py');
    for (const f of ['metrics.json', 'samples.jsonl']) cpSync(join(repo, '.gitlab-ci-local', 'artifacts', 'mlloop-evaluate', 'mlloop-eval', f), join(baselineDir, f));
    expect(gl.notes(projectId, MR)).toHaveLength(0);
  });

  it('a merge request that trains better passes the gate and leaves one note; a second run updates it', async () => {
    git(repo, 'checkout', '-q', '-b', 'faster-lr');
    setLr('0.1');
    git(repo, 'commit', '-qam', 'lr 0.1');
    const r = await pipeline(MR);
    expect(r.code, r.log).toBe(0);
    expect(JSON.parse(artifact('mlloop-gate', 'mlloop-report/verdict.json')).pass).toBe(true);
    expect(mine()).toHaveLength(1);
    const first = mine()[0]!;
    expect(first.body).toMatch(/pass/i);

    const again = await pipeline(MR);
    expect(again.code, again.log).toBe(0);
    expect(mine()).toHaveLength(1);
    expect(mine()[0]!.id).toBe(first.id);
  });

  it('a merge request that trains worse fails the pipeline, and the one note says so', async () => {
    setLr('0.001');
    git(repo, 'commit', '-qam', 'lr 0.001');
    const r = await pipeline(MR);
    expect(r.code, r.log).not.toBe(0);
    expect(JSON.parse(artifact('mlloop-gate', 'mlloop-report/verdict.json')).pass).toBe(false);
    expect(mine()).toHaveLength(1);
    expect(mine()[0]!.body).toMatch(/fail/i);
  });

  it('the gate takes the policy from the target branch: a merge request that loosens gate.yaml is still gated', async () => {
    writeFileSync(join(repo, 'gate.yaml'), 'metrics:\n  overall.f1: {direction: higher, min: 0.0}\n');
    git(repo, 'commit', '-qam', 'loosen the gate');
    const r = await pipeline(MR);
    expect(r.code, r.log).not.toBe(0);
    expect(artifact('mlloop-gate', 'mlloop-report/policy.yaml')).toContain('significance');
    expect(JSON.parse(artifact('mlloop-gate', 'mlloop-report/verdict.json')).pass).toBe(false);
  });

  it('a merge request pipeline without GITLAB_TOKEN (a fork\'s) is gated all the same and leaves the note alone', async () => {
    const before = structuredClone(mine()[0]!);
    const r = await pipeline(MR, { token: false });
    expect(r.code, r.log).not.toBe(0);
    expect(r.log).toContain('not writing the merge request note: no token (set GITLAB_TOKEN or pass --token)');
    expect(JSON.parse(artifact('mlloop-gate', 'mlloop-report/verdict.json')).pass).toBe(false);
    expect(mine()).toEqual([before]);
  });
});
