import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { cli, runAction, type Ran } from '../support/run.js';
import { DIST } from '../support/paths.js';
import { tool } from '../support/tools.js';
import { tempDir } from '../support/tmp.js';
import { httpGitServer, makeRemote, type Remote } from '../gitops/git-fixture.js';
import { noWorkflowCommands, oneLine, printableError } from '../../src/core/log.js';

// Issue 13, "Credentials": every command that reads or writes the GitOps repository (gate --baseline-gitops,
// lineage, lineage record, gitops) goes through the one git wrapper. A token written into the URL or given in
// $GITOPS_TOKEN is sent as an HTTP header: it never appears in git's argv (visible in `ps`), in the temp
// clone's .git/config (left on disk by a kill -9), or in any output; the temp clones are removed, also on
// SIGTERM.

const TOKEN = 'ghs_Cr3dT0kenInTheUrl0123456789abcdef';
const B64 = Buffer.from(`x-access-token:${TOKEN}`).toString('base64');

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/**
 * A `git` earlier on PATH that logs every argv and, after the command, the .git/config of the folder it ran
 * in (the temp clone) — what `ps` and a crash would reveal. Not GIT_TRACE: mlloop clears git's environment.
 */
function spyGit(): { path: string; log: () => string } {
  const dir = tempDir('spy');
  const log = join(dir, 'log');
  writeFileSync(log, '');
  const script = `#!/bin/sh
printf 'argv:' >> '${log}'
for a in "$@"; do printf ' [%s]' "$a" >> '${log}'; done
printf '\\n' >> '${log}'
'${tool('git')}' "$@"
rc=$?
if [ -f .git/config ]; then printf 'config of %s:\\n' "$PWD" >> '${log}'; cat .git/config >> '${log}'; fi
exit $rc
`;
  mkdirSync(join(dir, 'bin'));
  writeFileSync(join(dir, 'bin', 'git'), script);
  chmodSync(join(dir, 'bin', 'git'), 0o755);
  return { path: `${join(dir, 'bin')}:${process.env.PATH}`, log: () => readFileSync(log, 'utf8') };
}

const RELEASE = {
  schema: 'mlloop/release@1', app: 'ocr', env: 'prod', action: 'deploy', model_version: 'ocr-v2.5',
  image: 'registry.example.com/ocr-service:ocr-v2.5-commit-abc1234-20250601000000', source_commit: null, dataset: null, run_url: null,
  metrics: { 'overall.f1': 0.9 }, metrics_file: 'metrics.json', samples_file: null, deployed_at: '2025-06-01T00:00:00Z', promoted_from: null, rollback_of: null, reason: null,
};

async function served(): Promise<{ r: Remote; url: string; withToken: string }> {
  const r = makeRemote({ 'apps/ocr/prod/release.json': JSON.stringify(RELEASE), 'apps/ocr/prod/metrics.json': JSON.stringify({ overall: { f1: 0.9 } }) });
  cleanups.push(() => r.cleanup());
  const server = await httpGitServer(r.root, TOKEN);
  cleanups.push(() => server.close());
  const url = `${server.url}/remote.git`;
  return { r, url, withToken: url.replace('http://', `http://x-access-token:${TOKEN}@`) };
}

function work(): { dir: string; tmp: string } {
  const dir = tempDir('work');
  writeFileSync(join(dir, 'candidate.json'), JSON.stringify({ overall: { f1: 0.91 } }));
  writeFileSync(join(dir, 'gate.yaml'), 'metrics:\n  overall.f1: {direction: higher, max_regression: 0.05}\n');
  writeFileSync(join(dir, 'gt.json'), JSON.stringify({ images: [{ image_id: 'uuid-1', fields: [{ label: 'name', bbox: [1, 1, 5, 5], value: 'x' }] }] }));
  // The CLI's own TMPDIR: after the run it must hold no clone.
  const tmp = join(dir, 'tmp');
  mkdirSync(tmp);
  return { dir, tmp };
}

function expectClean(texts: string[]): void {
  for (const t of texts) {
    expect(t).not.toContain(TOKEN);
    expect(t).not.toContain(B64);
    expect(t).not.toContain(encodeURIComponent(TOKEN));
  }
}

describe('credentials in the GitOps URL never reach argv, .git/config or outputs', () => {
  const commands: [string, (url: string, dir: string) => string[]][] = [
    ['gate --baseline-gitops', (url, dir) => ['gate', '--candidate', join(dir, 'candidate.json'), '--policy', join(dir, 'gate.yaml'), '--baseline-gitops', url, '--app', 'ocr', '--env', 'prod', '--out', join(dir, 'verdict.json'), '--json']],
    ['lineage', (url) => ['lineage', '--repo', url, '--model', 'ocr-v2.5', '--json']],
    ['lineage record', (url, dir) => ['lineage', 'record', '--repo', url, '--kind', 'label', '--gt', join(dir, 'gt.json'), '--actor', 'labeler_02', '--time', '2025-06-03T09:00:00Z', '--json']],
    ['gitops history', (url) => ['gitops', 'history', '--repo', url, '--app', 'ocr', '--env', 'prod', '--json']],
  ];

  it.each(commands)('%s with https://user:TOKEN@host/…', async (_name, args) => {
    const { url, withToken } = await served();
    const { dir, tmp } = work();
    const spy = spyGit();
    const ran = await cli(args(withToken, dir), { cwd: dir, env: { PATH: spy.path, TMPDIR: tmp, GITOPS_TOKEN: '', MLLOOP_DEBUG: '1' }, timeoutMs: 120_000 });
    expect(ran.code, ran.stderr).toBe(0);
    const log = spy.log();
    // The spy saw the clone (so the checks below are about real git calls), with the URL but without the token.
    expect(log).toMatch(new RegExp(`argv: \\[clone\\].*\\[${url.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\]`));
    expect(log).toContain('config of ');
    expect(log).toContain(`url = ${url}`);
    expectClean([log, ran.stdout, ran.stderr]);
    const verdict = join(dir, 'verdict.json');
    if (existsSync(verdict)) expectClean([readFileSync(verdict, 'utf8')]);
    expect(readdirSync(tmp)).toEqual([]);
  }, 180_000);

  it.each(commands)('%s with $GITOPS_TOKEN and a plain URL', async (_name, args) => {
    const { url } = await served();
    const { dir, tmp } = work();
    const spy = spyGit();
    const ran = await cli(args(url, dir), { cwd: dir, env: { PATH: spy.path, TMPDIR: tmp, GITOPS_TOKEN: TOKEN }, timeoutMs: 120_000 });
    expect(ran.code, ran.stderr).toBe(0);
    expectClean([spy.log(), ran.stdout, ran.stderr]);
    expect(readdirSync(tmp)).toEqual([]);
  }, 180_000);

  it('gate --baseline-gitops without a token is refused by the server: exit 3, nothing left behind', async () => {
    const { url } = await served();
    const { dir, tmp } = work();
    const ran = await cli(commands[0]![1](url, dir), { cwd: dir, env: { TMPDIR: tmp, GITOPS_TOKEN: '' }, timeoutMs: 120_000 });
    expect(ran.code).toBe(3);
    expect(ran.stderr).toContain('cannot clone');
    expect(readdirSync(tmp)).toEqual([]);
  }, 180_000);

  it('the lineage action: token in the URL input, nothing in stdout, outputs or summary', async () => {
    const { withToken } = await served();
    const { dir, tmp } = work();
    const spy = spyGit();
    const ran = await runAction('lineage', { repo: withToken, model: 'ocr-v2.5' }, { cwd: dir, env: { PATH: spy.path, TMPDIR: tmp, GITOPS_TOKEN: '' } });
    expect(ran.code, ran.stdout).toBe(0);
    const visible = ran.stdout.split('\n').filter((l) => !l.startsWith('::add-mask::')).join('\n');
    expectClean([visible, ran.stderr, JSON.stringify(ran.outputs), ran.summary, spy.log()]);
    expect(ran.masked).toContain(TOKEN);
    expect(readdirSync(tmp)).toEqual([]);
  }, 180_000);
});

describe('temp clones are removed on signals', () => {
  /** A git smart-HTTP endpoint that does not answer until released: the clone hangs until the process is stopped. */
  async function stalled(): Promise<{ url: string; release(): void }> {
    const held: import('node:http').ServerResponse[] = [];
    const server: Server = createServer((_req, res) => void held.push(res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const release = () => {
      for (const res of held.splice(0)) res.destroy();
      server.closeAllConnections();
    };
    cleanups.push(() => new Promise<void>((r) => (release(), server.close(() => r()))));
    return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/remote.git`, release };
  }

  const clones = (tmp: string) => readdirSync(tmp).filter((d) => d.startsWith('mlloop-'));

  /** Starts the bundle, signals it once its clone folder exists, and checks the folder is gone within seconds. */
  async function stopDuringClone(bin: string, args: string[], env: Record<string, string>, tmp: string, signal: NodeJS.Signals, server: { release(): void }) {
    const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', () => {});
    const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('close', (code, sig) => r({ code, signal: sig })));
    const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
    try {
      for (let i = 0; i < 600 && clones(tmp).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(clones(tmp)).toHaveLength(1);
      await new Promise((r) => setTimeout(r, 300));
      child.kill(signal);
      for (let i = 0; i < 100 && clones(tmp).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
      // Gone while the network is still stuck: removed by the signal handler, not by a finished clone.
      expect(clones(tmp)).toEqual([]);
      server.release();
      const end = await done;
      expect(end.signal).not.toBe('SIGKILL');
      return { ...end, stderr };
    } finally {
      clearTimeout(timer);
    }
  }

  it.each(['SIGTERM', 'SIGINT'] as const)('the CLI stopped by %s during a clone leaves no temp folder', async (signal) => {
    const server = await stalled();
    const { dir, tmp } = work();
    const end = await stopDuringClone(join(DIST, 'cli.cjs'), ['gate', '--candidate', join(dir, 'candidate.json'), '--policy', join(dir, 'gate.yaml'), '--baseline-gitops', server.url, '--app', 'ocr', '--env', 'prod', '--out', join(dir, 'v.json')], { GITOPS_TOKEN: TOKEN }, tmp, signal, server);
    // A stop, reported as one (exit 3), never as a bug of mlloop.
    expect(end.code).toBe(3);
    expect(end.stderr).toMatch(new RegExp(`stopped \\(received ${signal}\\)`));
    expect(end.stderr).not.toMatch(/internal error/);
    expect(clones(tmp)).toEqual([]);
    expectClean([end.stderr]);
  }, 60_000);

  it('an action stopped by SIGTERM during a clone leaves no temp folder and dies of the signal', async () => {
    const server = await stalled();
    const { dir, tmp } = work();
    const outputFile = join(dir, 'out');
    writeFileSync(outputFile, '');
    const end = await stopDuringClone(join(DIST, 'lineage.cjs'), [], { INPUT_REPO: server.url, INPUT_MODEL: 'ocr-v2.5', GITHUB_ACTIONS: 'true', GITHUB_OUTPUT: outputFile, GITOPS_TOKEN: TOKEN }, tmp, 'SIGTERM', server);
    expect(end.signal).toBe('SIGTERM');
    expect(clones(tmp)).toEqual([]);
  }, 60_000);
});

describe('input echoed in output cannot add lines or workflow commands', () => {
  const INJECT = 'prod\n::error::injected\r\n::add-mask::x';
  /** Lines a runner would read as commands, other than the ones the action itself writes (failure, masks). */
  const injected = (text: string) => text.split('\n').filter((l) => /^\s*::/.test(l) && !/^::(error|add-mask|group|endgroup|debug|warning)::(?!injected|x$)/.test(l));

  it('gitops deploy --env with a newline: the CLI prints it escaped, on one line, and refuses (exit 2)', async () => {
    const ran = await cli(['gitops', 'deploy', '--repo', '/nonexistent', '--app', 'ocr', '--env', INJECT, '--image', 'registry.example.com/a:1', '--model-version', 'v1']);
    expect(ran.code).toBe(2);
    for (const out of [ran.stdout, ran.stderr]) {
      expect(out.split('\n').filter((l) => /^\s*::/.test(l))).toEqual([]);
      expect(out).not.toContain('\r');
    }
    expect(ran.stderr).toContain('prod\\n::error::injected');
  });

  it('the gitops-deploy action: no line of its log starts a command from the input', async () => {
    const ran = await runAction('gitops-deploy', { repo: '/nonexistent', app: 'ocr', env: INJECT, image: 'registry.example.com/a:1', 'model-version': 'v1' });
    expect(ran.code).toBe(2);
    expect(injected(ran.stdout)).toEqual([]);
    expect(ran.stdout).not.toMatch(/^::error::injected/m);
    expect(ran.stdout).not.toMatch(/^::add-mask::x/m);
  });

  it.each([
    ['an unknown command', [`gate${INJECT}`]],
    ['a progress line with the repository', ['lineage', '--repo', `/nonexistent${INJECT}`, '--model', 'm']],
    ['a dispatch request path', ['dispatch', '--request', `job${INJECT}.yaml`, '--clusters', 'c.yaml']],
  ])('%s: no output line starts with "::"', async (_what, args) => {
    const ran = await cli(args);
    expect(ran.code).not.toBe(0);
    for (const out of [ran.stdout, ran.stderr]) expect(out.split('\n').filter((l) => /^\s*::/.test(l))).toEqual([]);
  });

  it('the sink helpers', () => {
    expect(oneLine('a\nb\r\u001b[31mc\u0007\td')).toBe('a\\nb\\r\\e[31mc\\u0007\td');
    expect(noWorkflowCommands('ok\n::error::x\n  ::warning::y\nnot ::z')).toBe('ok\n\\::error::x\n  \\::warning::y\nnot ::z');
    expect(printableError('bad "a\n::error::x"\n  fix: do y')).toBe('bad "a\\n::error::x"\n  fix: do y');
    expect(printableError('$.a: wrong\n  also: $.b: wrong\n  fix: do y\n::error::z')).toBe('$.a: wrong\n  also: $.b: wrong\n  fix: do y\\n::error::z');
  });
});

export type { Ran };
