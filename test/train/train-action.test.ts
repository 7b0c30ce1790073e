/**
 * The `train` action as the GitHub runner runs it: `node dist/train.cjs` with INPUT_* variables, GITHUB_OUTPUT,
 * GITHUB_STEP_SUMMARY and GITHUB_EVENT_PATH holding a real event payload, and the artifact service the real
 * `@actions/artifact` client talks to (test/support/artifact-server.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { run as runProcess, runAction, runsNoMore, type ActionRun } from '../support/run.js';
import { DIST, EXAMPLE, PYTHON, ROOT } from '../support/paths.js';
import { startArtifactService, unzip, type ArtifactService } from '../support/artifact-server.js';
import { tempDir } from '../support/tmp.js';

const FIXTURES = join(ROOT, 'test/train/fixtures');
const TINY = join(ROOT, 'test/fixtures/tiny-train');
const PULL_REQUEST = JSON.parse(readFileSync(join(FIXTURES, 'pull_request.opened.json'), 'utf8'));
const PUSH = JSON.parse(readFileSync(join(FIXTURES, 'push.main.json'), 'utf8'));


// Closed once at the end: tests run concurrently, so no test may close a service another one is using.
const services: ArtifactService[] = [];
afterAll(() => Promise.all(services.map((s) => s.close())));

beforeAll(() => {
  expect(existsSync(join(DIST, 'train.cjs')), 'build dist/ first: npm run build').toBe(true);
});

async function service(): Promise<ArtifactService> {
  const s = await startArtifactService();
  services.push(s);
  return s;
}

/** A copy of a model repository in a temp folder, committed, so tests never write into this repo. */
function repoFrom(src: string): string {
  const dir = tempDir('train-action');
  cpSync(src, dir, { recursive: true, filter: (p) => !/\/(outputs|logs|__pycache__)(\/|$)/.test(p.slice(src.length)) });
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=ci', '-c', 'user.email=ci@example.com', ...args], { cwd: dir });
  git('init', '-q');
  git('add', '.');
  git('commit', '-qm', 'model repo');
  return dir;
}

function train(repo: string, inputs: Record<string, string>, svc: ArtifactService | null, opts: { event?: unknown; eventName?: string; env?: Record<string, string | undefined> } = {}): Promise<ActionRun> {
  return runAction('train', inputs, {
    cwd: repo,
    event: opts.event ?? PULL_REQUEST,
    eventName: opts.eventName ?? 'pull_request',
    env: { ...(svc ? svc.env() : {}), ...opts.env },
    timeoutMs: 110_000,
  });
}

/** A fresh artifact service and a copy of the small training script's repository. */
async function tinySetup(): Promise<{ svc: ArtifactService; repo: string }> {
  return { svc: await service(), repo: repoFrom(TINY) };
}

/**
 * Runs `expression` (a promise; `c` is a DefaultArtifactClient, `argv` the args) in a separate Node process with
 * the bundled client, as a later step would, and prints its result as JSON. Asynchronous: the services answer
 * from this process.
 */
function withClient(svc: ArtifactService, expression: string, args: string[]) {
  const script = `const { DefaultArtifactClient } = require(${JSON.stringify(join(DIST, 'vendor/actions-artifact.cjs'))});
    const c = new DefaultArtifactClient(); const argv = process.argv.slice(1);
    (${expression}).then((r) => console.log(JSON.stringify(r)), (e) => { console.error(e.message); process.exit(1); });`;
  return runProcess(process.execPath, ['-e', script, ...args], { env: { ...svc.env(), GITHUB_WORKSPACE: tmpdir() }, timeoutMs: 60_000 });
}

/** The message of the `::error` line the action reports its failure with (an annotation may carry file=,line=,col=). */
const errorLine = (r: ActionRun) => /^::error(?: [^:]*)?::(.*)$/m.exec(r.stdout)?.[1] ?? '';

/** The runtime token appears nowhere a person or a later step can read it. */
function expectNoToken(svc: ArtifactService, r: ActionRun, ...more: string[]): void {
  const token = svc.token;
  const payload = token.split('.')[1]!;
  for (const [where, text] of [['stdout', r.stdout], ['stderr', r.stderr], ['outputs', JSON.stringify(r.outputs)], ['summary', r.summary], ...more.map((m, i) => [`text ${i}`, m])] as const) {
    expect(text.includes(token), `runtime token in ${where}`).toBe(false);
    expect(text.includes(payload), `runtime token claims in ${where}`).toBe(false);
  }
}

describe('train action (node dist/train.cjs) on examples/ocr-fields', () => {
  it('on a pull_request event: trains, sets outputs, writes the job summary and uploads outputs/ and logs/ as an artifact', async () => {
    const svc = await service();
    const repo = repoFrom(EXAMPLE);
    const command = 'python3 train.py --epochs 2 --data sample_data --out outputs --seed 1';
    const r = await train(repo, { command, timeout: '5m' }, svc);
    expect(r.code, r.stdout + r.stderr).toBe(0);

    // Outputs, as later steps read them.
    const metricsFile = join(repo, 'outputs/metrics.json');
    const metrics = JSON.parse(readFileSync(metricsFile, 'utf8'));
    expect(r.outputs['metrics-path']).toBe(metricsFile);
    expect(r.outputs['run-path']).toBe(join(repo, 'outputs/run.json'));
    expect(r.outputs['log-path']).toBe(join(repo, 'logs/train.log'));
    expect(r.outputs.status).toBe('succeeded');
    expect(Number(r.outputs.f1)).toBe(metrics.overall.f1);
    expect(JSON.parse(r.outputs.metrics!)).toEqual({ f1: metrics.overall.f1, precision: metrics.overall.precision, recall: metrics.overall.recall });
    const result = JSON.parse(r.outputs.result!);
    expect(result).toMatchObject({ schema: 'mlloop/run@1', status: 'succeeded', command, exit_code: 0, metrics_path: 'outputs/metrics.json' });
    expect(result.git_commit).toBe(execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repo, encoding: 'utf8' }).trim());

    // One finalized artifact, named as the input says, whose id is the output.
    expect(svc.artifacts).toHaveLength(1);
    const [artifact] = svc.artifacts;
    expect(artifact).toMatchObject({ name: 'mlloop-train', finalized: true, mimeType: 'application/zip', expiresAt: null });
    expect(r.outputs['artifact-id']).toBe(String(artifact!.id));
    expect(result.artifact_id).toBe(artifact!.id);
    const zip = svc.content('mlloop-train');
    expect(artifact!.size).toBe(zip.length);
    expect(artifact!.digest).toBe(`sha256:${createHash('sha256').update(zip).digest('hex')}`);

    // The zip holds outputs/ and logs/ exactly as they are on disk after the run.
    const files = unzip(zip);
    for (const f of ['outputs/metrics.json', 'outputs/run.json', 'outputs/model.json', 'logs/train.log', 'outputs/checkpoints/epoch-0001.json', 'outputs/checkpoints/epoch-0002.json']) {
      expect(files.get(f)?.equals(readFileSync(join(repo, f))), f).toBe(true);
    }
    expect([...files.keys()].every((f) => f.startsWith('outputs/') || f.startsWith('logs/'))).toBe(true);
    const run = JSON.parse(files.get('outputs/run.json')!.toString('utf8'));
    expect(run).toMatchObject({ status: 'succeeded', exit_code: 0, data: { path: 'sample_data' } });
    expect(run.data.sha256).toMatch(/^[0-9a-f]{64}$/);
    const log = files.get('logs/train.log')!.toString('utf8');
    expect(log).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z \[train\] .*epoch=2\/2 /m);
    // Python's independent zip reader agrees, entry by entry.
    const py = JSON.parse(
      execFileSync(PYTHON, ['-c', 'import sys,zipfile,io,json,hashlib; z=zipfile.ZipFile(io.BytesIO(sys.stdin.buffer.read())); assert z.testzip() is None; print(json.dumps({n: hashlib.sha256(z.read(n)).hexdigest() for n in z.namelist() if not n.endswith("/")}))'], { input: zip, encoding: 'utf8' }),
    );
    expect(py).toEqual(Object.fromEntries([...files].map(([n, b]) => [n, createHash('sha256').update(b).digest('hex')])));

    // The protocol as the services saw it: authorised RPCs, a block upload to the SAS URL, then the block list.
    const ops = svc.requests.map((q) => q.operation);
    expect(ops[0]).toBe('CreateArtifact');
    expect(ops.at(-1)).toBe('FinalizeArtifact');
    expect(ops.filter((o) => o === 'PutBlock').length).toBeGreaterThanOrEqual(1);
    expect(ops.indexOf('PutBlockList')).toBe(ops.length - 2);
    expect(svc.requests.every((q) => q.status < 300)).toBe(true);
    for (const q of svc.requests.filter((x) => x.host === 'results')) expect(q.headers.authorization).toBe(`Bearer ${svc.token}`);
    for (const q of svc.requests.filter((x) => x.host === 'blob')) expect(q.headers.authorization).toBeUndefined();

    // The job summary: a table of every metric, by dotted path.
    expect(r.summary).toContain('### mlloop train: succeeded');
    expect(r.summary).toContain('| metric | value |');
    expect(r.summary).toContain(`| overall.f1 | ${metrics.overall.f1.toFixed(4)} |`);
    expect(r.summary).toContain(`| per_field.amount.recall | ${metrics.per_field.amount.recall.toFixed(4)} |`);
    expect(r.summary).toContain(`data sha256 \`${run.data.sha256.slice(0, 12)}\``);

    // The artifact comes back with the real client's download path (ListArtifacts → GetSignedArtifactURL → blob GET).
    const downloaded = tempDir('download');
    const dl = await withClient(svc, 'c.downloadArtifact(Number(argv[0]), { path: argv[1] })', [String(artifact!.id), downloaded]);
    expect(dl.code, dl.stderr).toBe(0);
    expect(dl.stdout).toContain('"digestMismatch":false');
    expect(readFileSync(join(downloaded, 'outputs/metrics.json')).equals(readFileSync(metricsFile))).toBe(true);

    expectNoToken(svc, r, log, readFileSync(join(repo, 'outputs/run.json'), 'utf8'));
  });
});

// Concurrent: most of the time here is the artifact client's retry back-off (3 s, 4.5 s, … per attempt) and Python start-up.
describe.concurrent('train action on a small training script', () => {
  it('on a push event: custom artifact name and retention; runner credentials never reach the training command', async () => {
    const { svc, repo } = await tinySetup();
    const probe = `python3 -c "import os; print('runner-env:', os.environ.get('ACTIONS_RUNTIME_TOKEN'), os.environ.get('ACTIONS_RESULTS_URL'))"`;
    const r = await train(repo, { command: `python3 train.py --epochs 2 --data data --out outputs && ${probe} && env`, 'artifact-name': `ocr-train-${PUSH.after.slice(0, 7)}`, 'retention-days': '5' }, svc, {
      event: PUSH,
      eventName: 'push',
      env: { GITHUB_SHA: PUSH.after, GITHUB_REF: PUSH.ref },
    });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const [artifact] = svc.artifacts;
    expect(artifact!.name).toBe('ocr-train-e4a1c8f');
    const days = (Date.parse(artifact!.expiresAt!) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(4.9);
    expect(days).toBeLessThanOrEqual(5);
    expect(r.outputs['artifact-id']).toBe(String(artifact!.id));
    expect(r.outputs.f1).toBe('0.75');
    const files = unzip(svc.content('ocr-train-e4a1c8f'));
    const log = files.get('logs/train.log')!.toString('utf8');
    expect(log).toContain('runner-env: None None');
    expect(log).toMatch(/\[train\] GITHUB_SHA=e4a1c8f2/);
    expectNoToken(svc, r, log);
  });

  it.each([
    ['missing', 'python3 train.py --epochs 1 --data data --out outputs --fault missing', /outputs\/metrics\.json: training finished but wrote no metrics file/],
    ['not JSON', `python3 train.py --epochs 1 --data data --out outputs && python3 -c "open('outputs/metrics.json', 'w').write('{\\"overall\\": {\\"f1\\": 0.9,')"`, /outputs\/metrics\.json: not valid JSON/],
    ['NaN', 'python3 train.py --epochs 1 --data data --out outputs --fault nan', /outputs\/metrics\.json: not valid JSON at line 1, column \d+ near "NaN/],
    ['a string metric', 'python3 train.py --epochs 1 --data data --out outputs --fault string', /outputs\/metrics\.json: \$\.overall\.recall: metric is not a number: "0\.8"/],
  ])('metrics %s: exit 2 naming the file (and field), logs and run.json still uploaded', async (_, command, message) => {
    const { svc, repo } = await tinySetup();
    const r = await train(repo, { command }, svc);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(errorLine(r)).toMatch(message);
    expect(r.stdout + r.stderr).not.toMatch(/internal error|at .*\.cjs:\d+/);
    expect(r.outputs.status).toBeUndefined();
    const files = unzip(svc.content('mlloop-train'));
    expect(JSON.parse(files.get('outputs/run.json')!.toString('utf8')).status).toBe('failed');
    expect(files.get('logs/train.log')!.toString('utf8')).toMatch(/\[train\] epoch=1\/1/);
    expectNoToken(svc, r);
  });

  it('a failing training command is a failed run: exit 1, status output "failed", logs uploaded', async () => {
    const { svc, repo } = await tinySetup();
    const r = await train(repo, { command: 'python3 train.py --epochs 1 --data data --fault fail' }, svc);
    expect(r.code).toBe(1);
    expect(errorLine(r)).toMatch(/training failed: train exited with code 3 \(see logs\/train\.log\)/);
    expect(r.outputs.status).toBe('failed');
    expect(r.outputs['metrics-path']).toBe('');
    expect(r.summary).toContain('### mlloop train: failed');
    expect(JSON.parse(unzip(svc.content('mlloop-train')).get('outputs/run.json')!.toString('utf8'))).toMatchObject({ status: 'failed', exit_code: 3 });
  });

  it('a time-out exits 3, kills the whole process tree (a backgrounded grandchild too) and still uploads the log', async () => {
    const { svc, repo } = await tinySetup();
    const r = await train(repo, { command: `sleep 299 & echo "grandchild $!"; python3 -c "import time; print('grandchild started', flush=True); time.sleep(298)"`, timeout: '3s' }, svc);
    expect(r.code, r.stdout + r.stderr).toBe(3);
    expect(errorLine(r)).toMatch(/train timed out after 3s; its whole process tree was killed/);
    const log = readFileSync(join(repo, 'logs/train.log'), 'utf8');
    const pid = Number(/\[train\] grandchild (\d+)/.exec(log)?.[1]);
    expect(pid).toBeGreaterThan(1);
    expect(runsNoMore(pid)).toBe(true);
    const files = unzip(svc.content('mlloop-train'));
    expect(JSON.parse(files.get('outputs/run.json')!.toString('utf8')).status).toBe('timed-out');
    expect(files.get('logs/train.log')!.toString('utf8')).toContain('grandchild started');
  });

  it('transient artifact-service failures (a 503 on a block, a 500 on finalize) are retried and the upload succeeds', async () => {
    const svc = await service();
    svc.fail('PutBlock', 503, 1);
    svc.fail('FinalizeArtifact', 500, 1);
    const repo = repoFrom(TINY);
    const r = await train(repo, { command: 'python3 train.py --epochs 1 --data data --out outputs' }, svc);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(svc.requests.filter((q) => q.status >= 500).map((q) => q.operation)).toEqual(['PutBlock', 'FinalizeArtifact']);
    expect(r.outputs['artifact-id']).toBe(String(svc.artifacts[0]!.id));
    expect(unzip(svc.content('mlloop-train')).has('outputs/metrics.json')).toBe(true);
  });

  it('an artifact service that keeps failing (500) exits 3 with a clear message; the training results stay on disk', async () => {
    const svc = await service();
    svc.fail('CreateArtifact', 500);
    const repo = repoFrom(TINY);
    const r = await train(repo, { command: 'python3 train.py --epochs 1 --data data --out outputs' }, svc);
    expect(r.code).toBe(3);
    expect(errorLine(r)).toMatch(/artifact upload of mlloop-train failed: Failed to CreateArtifact: Failed to make request after 5 attempts: Failed request: \(500\)/);
    expect(svc.requests.filter((q) => q.operation === 'CreateArtifact')).toHaveLength(5);
    expect(JSON.parse(readFileSync(join(repo, 'outputs/run.json'), 'utf8')).status).toBe('succeeded');
    expectNoToken(svc, r);
  });

  it('a file name the artifact service refuses (a colon) exits 2 naming the file, before anything is uploaded', async () => {
    const { svc, repo } = await tinySetup();
    const r = await train(repo, { command: 'python3 train.py --epochs 1 --data data --out outputs && touch "outputs/checkpoints/ckpt-10:15:00.pt"' }, svc);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(errorLine(r)).toMatch(/outputs\/checkpoints\/ckpt-10:15:00\.pt: cannot be uploaded as part of artifact mlloop-train: its name contains ":".*fix: rename the file/);
    expect(svc.requests).toEqual([]);
  });

  it('a second upload under the same name in one run is refused (409) with a fix naming artifact-name', async () => {
    const { svc, repo } = await tinySetup();
    const first = await train(repo, { command: 'python3 train.py --epochs 1 --data data --out outputs' }, svc);
    expect(first.code).toBe(0);
    const second = await train(repo, { command: 'python3 train.py --epochs 1 --data data --out outputs' }, svc);
    expect(second.code).toBe(3);
    expect(second.stdout).toMatch(/already exists on the workflow run/);
    expect(second.stdout).toMatch(/fix: artifact names are unique within a workflow run: give each job its own artifact-name/);
    expect(svc.artifacts).toHaveLength(1);
  });

  it('outside a workflow run (no ACTIONS_RUNTIME_TOKEN) the upload fails with exit 3 and says how to skip it; upload: false skips it', async () => {
    const repo = repoFrom(TINY);
    const r = await train(repo, { command: 'python3 train.py --epochs 1 --data data --out outputs' }, null, { env: { ACTIONS_RUNTIME_TOKEN: undefined, ACTIONS_RESULTS_URL: undefined } });
    expect(r.code).toBe(3);
    expect(errorLine(r)).toMatch(/artifact upload failed: the runner did not provide ACTIONS_RUNTIME_TOKEN.*fix: .*upload: false/);
    const skipped = await train(repo, { command: 'python3 train.py --epochs 1 --data data --out outputs', upload: 'false' }, null, { env: { ACTIONS_RUNTIME_TOKEN: undefined, ACTIONS_RESULTS_URL: undefined } });
    expect(skipped.code, skipped.stdout).toBe(0);
    expect(skipped.outputs['artifact-id']).toBeUndefined();
    expect(JSON.parse(skipped.outputs.result!).artifact_id).toBeNull();
  });
});

/** One raw HTTP request, with exactly the headers given (no client library in between). */
function http(url: string, method: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    if (body !== undefined && headers['transfer-encoding'] !== 'chunked') req.setHeader('content-length', Buffer.byteLength(body));
    req.end(body);
  });
}

describe('artifact service stand-in checks requests as the real services do', () => {
  const ids = (s: ArtifactService) => ({ workflow_run_backend_id: s.workflowRunBackendId, workflow_job_run_backend_id: s.workflowJobRunBackendId });
  const rpc = (s: ArtifactService, method: string, body: unknown, headers: Record<string, string> = {}) =>
    http(`${s.resultsUrl}/twirp/github.actions.results.api.v1.ArtifactService/${method}`, 'POST', { 'content-type': 'application/json', authorization: `Bearer ${s.token}`, ...headers }, JSON.stringify(body));
  const blockId = (n: number) => Buffer.from(`block-${String(n).padStart(6, '0')}`).toString('base64');

  it('Twirp: auth, routing, content type, JSON and required fields', async () => {
    const s = await service();
    const other = await service();
    const create = { ...ids(s), name: 'a', version: 7 };
    const cases: [string, Promise<{ status: number; body: string }>, number, string][] = [
      ['no token', rpc(s, 'CreateArtifact', create, { authorization: '' }), 401, 'unauthenticated'],
      ['a token of another issuer', rpc(s, 'CreateArtifact', create, { authorization: `Bearer ${other.token}` }), 401, 'unauthenticated'],
      ['GET', http(`${s.resultsUrl}/twirp/github.actions.results.api.v1.ArtifactService/CreateArtifact`, 'GET'), 404, 'bad_route'],
      ['an unknown method', rpc(s, 'UploadArtifact', create), 404, 'bad_route'],
      ['protobuf content type', rpc(s, 'CreateArtifact', create, { 'content-type': 'application/protobuf' }), 404, 'bad_route'],
      ['a body that is not JSON', http(`${s.resultsUrl}/twirp/github.actions.results.api.v1.ArtifactService/CreateArtifact`, 'POST', { 'content-type': 'application/json', authorization: `Bearer ${s.token}` }, '{"name":'), 400, 'malformed'],
      ['ids of another job', rpc(s, 'CreateArtifact', { ...ids(other), name: 'a', version: 7 }), 403, 'permission_denied'],
      ['no name', rpc(s, 'CreateArtifact', { ...ids(s), version: 7 }), 400, 'invalid_argument'],
      ['a name with a slash', rpc(s, 'CreateArtifact', { ...ids(s), name: 'a/b', version: 7 }), 400, 'invalid_argument'],
      ['version 3', rpc(s, 'CreateArtifact', { ...ids(s), name: 'a', version: 3 }), 400, 'invalid_argument'],
      ['an expiry in the past', rpc(s, 'CreateArtifact', { ...create, expires_at: '2020-01-01T00:00:00Z' }), 400, 'invalid_argument'],
      ['finalizing what was never created', rpc(s, 'FinalizeArtifact', { ...ids(s), name: 'nope', size: '1' }), 404, 'not_found'],
    ];
    for (const [what, call, status, code] of cases) {
      const res = await call;
      expect([what, res.status, JSON.parse(res.body).code]).toEqual([what, status, code]);
    }
    expect(s.artifacts).toHaveLength(0);
  });

  it('blob storage: SAS, block ids, Content-Length and block lists; finalize checks size and hash', async () => {
    const s = await service();
    const created = JSON.parse((await rpc(s, 'CreateArtifact', { ...ids(s), name: 'model', version: 7, mime_type: 'application/zip' })).body);
    expect(created.ok).toBe(true);
    const url = new URL(created.signed_upload_url);
    expect(url.searchParams.get('sp')).toBe('cw');
    const at = (params: Record<string, string>, drop: string[] = []) => {
      const u = new URL(url);
      for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
      for (const k of drop) u.searchParams.delete(k);
      return u.toString();
    };
    expect(JSON.parse((await rpc(s, 'FinalizeArtifact', { ...ids(s), name: 'model', size: '0' })).body).code).toBe('failed_precondition');
    const bad: [string, Promise<{ status: number; headers: Record<string, unknown> }>, number, string][] = [
      ['no signature', http(at({ comp: 'block', blockid: blockId(1) }, ['sig']), 'PUT', {}, 'x'), 401, 'NoAuthenticationInformation'],
      ['a tampered signature', http(at({ comp: 'block', blockid: blockId(1), sp: 'rcw' }), 'PUT', {}, 'x'), 403, 'AuthenticationFailed'],
      ['a bearer token sent to storage', http(at({ comp: 'block', blockid: blockId(1) }), 'PUT', { authorization: `Bearer ${s.token}` }, 'x'), 400, 'InvalidAuthenticationInfo'],
      ['a block id that is not Base64', http(at({ comp: 'block', blockid: 'not base64!' }), 'PUT', {}, 'x'), 400, 'InvalidQueryParameterValue'],
      ['no Content-Length', http(at({ comp: 'block', blockid: blockId(1) }), 'PUT', { 'transfer-encoding': 'chunked' }, 'x'), 411, 'MissingContentLengthHeader'],
      ['Put Blob without x-ms-blob-type', http(url.toString(), 'PUT', {}, 'x'), 400, 'MissingRequiredHeader'],
    ];
    for (const [what, call, status, code] of bad) {
      const res = await call;
      expect([what, res.status, res.headers['x-ms-error-code']]).toEqual([what, status, code]);
    }
    // Two blocks, committed in the order of the list (not of upload).
    expect((await http(at({ comp: 'block', blockid: blockId(2) }), 'PUT', {}, 'world')).status).toBe(201);
    expect((await http(at({ comp: 'block', blockid: blockId(1) }), 'PUT', {}, 'hello ')).status).toBe(201);
    const mixed = await http(at({ comp: 'block', blockid: Buffer.from('short').toString('base64') }), 'PUT', {}, 'x');
    expect([mixed.status, mixed.headers['x-ms-error-code']]).toEqual([400, 'InvalidBlobOrBlock']);
    const unknown = await http(at({ comp: 'blocklist' }), 'PUT', { 'content-type': 'application/xml' }, `<?xml version="1.0" encoding="utf-8"?><BlockList><Latest>${blockId(9)}</Latest></BlockList>`);
    expect([unknown.status, unknown.headers['x-ms-error-code']]).toEqual([400, 'InvalidBlockList']);
    const commit = await http(at({ comp: 'blocklist' }), 'PUT', { 'x-ms-blob-content-type': 'application/zip' }, `<?xml version="1.0" encoding="utf-8"?><BlockList><Latest>${blockId(1)}</Latest><Latest>${blockId(2)}</Latest></BlockList>`);
    expect(commit.status).toBe(201);
    expect(commit.headers.etag).toMatch(/^"0x[0-9A-F]+"$/);
    const sha = createHash('sha256').update('hello world').digest('hex');
    expect(JSON.parse((await rpc(s, 'FinalizeArtifact', { ...ids(s), name: 'model', size: '12', hash: `sha256:${sha}` })).body).code).toBe('invalid_argument');
    expect(JSON.parse((await rpc(s, 'FinalizeArtifact', { ...ids(s), name: 'model', size: '11', hash: `sha256:${'0'.repeat(64)}` })).body).code).toBe('invalid_argument');
    const done = JSON.parse((await rpc(s, 'FinalizeArtifact', { ...ids(s), name: 'model', size: '11', hash: `sha256:${sha}` })).body);
    expect(done).toEqual({ ok: true, artifact_id: String(s.artifacts[0]!.id) });
    // Download side: listed with size and digest; a read-only URL that serves the bytes and cannot write.
    const listed = JSON.parse((await rpc(s, 'ListArtifacts', { ...ids(s), name_filter: 'model' })).body);
    expect(listed.artifacts).toEqual([expect.objectContaining({ name: 'model', database_id: done.artifact_id, size: '11', digest: `sha256:${sha}` })]);
    const signed = JSON.parse((await rpc(s, 'GetSignedArtifactURL', { ...ids(s), name: 'model' })).body).signed_url as string;
    const got = await http(signed, 'GET');
    expect([got.status, got.body, got.headers['content-type']]).toEqual([200, 'hello world', 'application/zip']);
    for (const write of [http(`${signed}&comp=block&blockid=${encodeURIComponent(blockId(3))}`, 'PUT', {}, 'x'), http(signed, 'PUT', { 'x-ms-blob-type': 'BlockBlob' }, 'x')]) {
      const res = await write;
      expect([res.status, res.headers['x-ms-error-code']]).toEqual([403, 'AuthorizationPermissionMismatch']);
    }
    expect(JSON.parse((await rpc(s, 'CreateArtifact', { ...ids(s), name: 'model', version: 7 })).body).code).toBe('already_exists');
  });
});

describe('artifact service stand-in for later steps', () => {
  it('a seeded artifact (an earlier job\'s zip) downloads and unpacks with the real client', async () => {
    const s = await service();
    // A zip made by Python's zipfile, as another tool would have uploaded it.
    const zip = execFileSync(PYTHON, ['-c', 'import sys,zipfile,io; b=io.BytesIO(); z=zipfile.ZipFile(b,"w",zipfile.ZIP_DEFLATED); z.writestr("outputs/metrics.json", "{\\"overall\\": {\\"f1\\": 0.91}}"); z.writestr("logs/train.log", "ok\\n"); z.close(); sys.stdout.buffer.write(b.getvalue())']);
    const seeded = s.seed('baseline', zip);
    expect([...unzip(zip).keys()].sort()).toEqual(['logs/train.log', 'outputs/metrics.json']);
    const dir = tempDir('baseline');
    const dl = await withClient(s, 'c.getArtifact(argv[0]).then(({ artifact }) => c.downloadArtifact(artifact.id, { path: argv[1], expectedHash: artifact.digest }))', ['baseline', dir]);
    expect(dl.code, dl.stderr).toBe(0);
    expect(dl.stdout).toContain('"digestMismatch":false');
    expect(JSON.parse(readFileSync(join(dir, 'outputs/metrics.json'), 'utf8'))).toEqual({ overall: { f1: 0.91 } });
    expect(s.requests.map((q) => q.operation)).toEqual(['ListArtifacts', 'ListArtifacts', 'GetSignedArtifactURL', 'GetBlob']);
    const res = await http(s.downloadUrl('baseline'), 'GET');
    expect([res.status, res.headers['content-length']]).toEqual([200, String(seeded.size)]);
  });
});
