import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cli, runAction, type Ran } from '../support/run.js';
import { DIST } from '../support/paths.js';
import { git, httpGitServer, makeRemote, type Remote } from './git-fixture.js';
import { tempDir } from '../support/tmp.js';

const SHA = 'abc1234def5678abc1234def5678abc1234def56';
const PROD_VALUES = `# prod values — reviewed by the platform team
image:
  repository: registry.example.com/ocr-service   # the registry
  tag: "ocr-v3.0-commit-0000000-20250101000000"  # set by mlloop
  pullPolicy: IfNotPresent
model: {version: ocr-v3.0, name: ocr}

resources:
  limits: {cpu: "2", memory: 4Gi}   # tuned after load test
replicaCount: 3   # keep 3 for HA
`;

const remotes: Remote[] = [];
function remote(files?: Record<string, string>): Remote {
  const r = makeRemote(files);
  remotes.push(r);
  return r;
}
afterEach(() => {
  for (const r of remotes.splice(0)) r.cleanup();
});

function image(v: string): string {
  return `registry.example.com/ocr-service:${v}-commit-abc1234-20250612110522`;
}

function deploy(r: Remote, app: string, env: string, version: string, extra: string[] = [], env2: Record<string, string> = {}): Promise<Ran> {
  return cli(['gitops', 'deploy', '--repo', r.bare, '--app', app, '--env', env, '--image', image(version), '--model-version', version, '--source-commit', SHA, ...extra], { env: env2, timeoutMs: 280_000 });
}

const parse = (ran: Ran) => JSON.parse(ran.stdout) as Record<string, any>;

describe('gitops deploy', () => {
  it('edits values.yaml in place (every untouched byte identical), writes release.json and the trailers', async () => {
    const r = remote({ 'apps/ocr/prod/values.yaml': PROD_VALUES });
    const dir = tempDir('m');
    writeFileSync(join(dir, 'metrics.json'), JSON.stringify({ overall: { f1: 0.938, recall: 0.946, precision: 0.93 }, latency_ms: { p95: 120 } }));
    writeFileSync(join(dir, 'samples.jsonl'), '{"image_id":"a","tp":1,"fp":0,"fn":0}\n');
    const ran = await deploy(r, 'ocr', 'prod', 'ocr-v3.2', ['--metrics', join(dir, 'metrics.json'), '--samples', join(dir, 'samples.jsonl'), '--dataset', 'invoice-clean-2025Q1', '--run-url', 'https://github.com/acme/ocr/actions/runs/123', '--json']);
    expect(ran.code, ran.stderr).toBe(0);
    const out = parse(ran);
    expect(out.changed).toBe(true);
    expect(out.commit).toBe(r.head());
    const values = r.show('apps/ocr/prod/values.yaml');
    expect(values).toBe(
      PROD_VALUES.replace('"ocr-v3.0-commit-0000000-20250101000000"', `"ocr-v3.2-commit-abc1234-20250612110522"`).replace('{version: ocr-v3.0,', '{version: ocr-v3.2,'),
    );
    const release = JSON.parse(r.show('apps/ocr/prod/release.json'));
    expect(release).toMatchObject({
      schema: 'mlloop/release@1',
      app: 'ocr',
      env: 'prod',
      action: 'deploy',
      model_version: 'ocr-v3.2',
      image: image('ocr-v3.2'),
      source_commit: SHA,
      dataset: 'invoice-clean-2025Q1',
      metrics: { 'overall.f1': 0.938, 'overall.recall': 0.946, 'overall.precision': 0.93, 'latency_ms.p95': 120 },
      metrics_file: 'metrics.json',
      samples_file: 'samples.jsonl',
      promoted_from: null,
      rollback_of: null,
    });
    expect(JSON.parse(r.show('apps/ocr/prod/metrics.json')).overall.f1).toBe(0.938);
    expect(r.show('apps/ocr/prod/samples.jsonl')).toContain('"image_id":"a"');
    // The message is what `git interpret-trailers --parse` reads back.
    const message = git(r.bare, 'log', '-1', '--format=%B');
    expect(message.split('\n')[0]).toBe('deploy(ocr/prod): ocr-v3.2');
    const trailers = git(r.bare, 'log', '-1', '--format=%(trailers:only,unfold)').trim().split('\n');
    expect(trailers).toEqual([
      'Mlloop-Action: deploy',
      'Mlloop-App: ocr',
      'Mlloop-Env: prod',
      'Model-Version: ocr-v3.2',
      `Image: ${image('ocr-v3.2')}`,
      `Source-Commit: ${SHA}`,
      'Dataset: invoice-clean-2025Q1',
      'Metrics: overall.f1=0.938 overall.precision=0.93 overall.recall=0.946 latency_ms.p95=120',
      'Run-Url: https://github.com/acme/ocr/actions/runs/123',
    ]);
  }, 60_000);

  it('an identical rerun makes no commit and says so', async () => {
    const r = remote();
    expect((await deploy(r, 'ocr', 'staging', 'ocr-v1.0')).code).toBe(0);
    const head = r.head();
    const again = await deploy(r, 'ocr', 'staging', 'ocr-v1.0');
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/no change: ocr\/staging already runs ocr-v1\.0 .*no commit made/);
    expect(r.head()).toBe(head);
  }, 60_000);

  it('--dry-run prints the diff and writes nothing', async () => {
    const r = remote({ 'apps/ocr/prod/values.yaml': PROD_VALUES });
    const head = r.head();
    const ran = await deploy(r, 'ocr', 'prod', 'ocr-v3.1', ['--dry-run']);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toContain('nothing was written');
    expect(ran.stdout).toContain('-  tag: "ocr-v3.0-commit-0000000-20250101000000"  # set by mlloop');
    expect(ran.stdout).toContain('+  tag: "ocr-v3.1-commit-abc1234-20250612110522"  # set by mlloop');
    expect(ran.stdout).toContain('Mlloop-Action: deploy');
    expect(r.head()).toBe(head);
  }, 60_000);

  it.each([
    ['app with a path traversal', ['--app', '../../etc'], /app "..\/..\/etc" is not a DNS-1123 label/],
    ['env with a slash', ['--env', 'prod/../x'], /environment "prod\/..\/x" is not a DNS-1123 label/],
    ['upper-case app', ['--app', 'OCR'], /not a DNS-1123 label/],
    ['model version with a newline', ['--model-version', 'v1\nreplicaCount: 0'], /newline/],
    ['model version with ": "', ['--model-version', 'v1: x'], /YAML structure/],
    ['model version as an anchor', ['--model-version', '&anchor'], /leading YAML indicator/],
    ['model version as an alias', ['--model-version', '*alias'], /leading YAML indicator/],
    ['model version with a tag', ['--model-version', '!!python/object'], /leading YAML indicator/],
    ['image with a newline', ['--image', 'registry.example.com/x:1\nMlloop-Action: rollback'], /newline/],
    ['image without tag', ['--image', 'registry.example.com/ocr-service'], /needs a tag or a digest/],
    ['dataset with ": "', ['--dataset', 'a: b'], /YAML structure/],
    ['run URL with credentials', ['--run-url', 'https://u:p@example.com/x'], /credentials/],
    ['source commit that is not hex', ['--source-commit', 'main; rm -rf /'], /not a git commit id/],
  ])('refuses %s with exit 2 and changes nothing', async (_name, override, message) => {
    const r = remote({ 'apps/ocr/prod/values.yaml': PROD_VALUES });
    const head = r.head();
    const base: Record<string, string> = { '--app': 'ocr', '--env': 'prod', '--image': image('ocr-v3.2'), '--model-version': 'ocr-v3.2', '--source-commit': SHA };
    base[override[0]!] = override[1]!;
    const ran = await cli(['gitops', 'deploy', '--repo', r.bare, ...Object.entries(base).flat()]);
    expect(ran.code, ran.stderr).toBe(2);
    expect(ran.stderr).toMatch(message);
    expect(ran.stderr).not.toMatch(/internal error/);
    expect(r.head()).toBe(head);
    expect(r.count()).toBe(1);
  }, 60_000);

  it.each([
    ['the app folder', 'apps/ocr'],
    ['the environment folder', 'apps/ocr/prod'],
  ])('refuses with exit 2 when %s is a symbolic link in the repository, and changes nothing', async (_name, link) => {
    const r = remote({ 'elsewhere/values.yaml': PROD_VALUES, 'elsewhere/prod/values.yaml': PROD_VALUES });
    const seed = join(r.root, 'link-seed');
    git(r.root, 'clone', '-q', r.bare, seed);
    mkdirSync(dirname(join(seed, link)), { recursive: true });
    symlinkSync(link === 'apps/ocr' ? '../elsewhere' : '../../elsewhere', join(seed, link));
    git(seed, 'add', '-A');
    git(seed, 'commit', '-qm', 'link');
    git(seed, 'push', '-q', 'origin', 'main');
    expect(git(r.bare, 'ls-tree', 'main', link).split(' ')[0]).toBe('120000');
    const head = r.head();
    const ran = await deploy(r, 'ocr', 'prod', 'ocr-v3.2');
    expect(ran.code, ran.stderr).toBe(2);
    expect(ran.stderr).toContain(`${link} is a symbolic link in the GitOps repository`);
    expect(r.head()).toBe(head);
  }, 60_000);

  it('refuses an older model version over a newer one (semantic order: 3.10 > 3.9) with exit 2', async () => {
    const r = remote();
    expect((await deploy(r, 'ocr', 'prod', 'ocr-v3.10')).code).toBe(0);
    const head = r.head();
    const older = await deploy(r, 'ocr', 'prod', 'ocr-v3.9');
    expect(older.code).toBe(2);
    expect(older.stderr).toContain('refusing to deploy ocr-v3.9 over the newer ocr-v3.10');
    expect(older.stderr).toContain('mlloop gitops rollback --app ocr --env prod --to ocr-v3.9');
    expect(r.head()).toBe(head);
    expect((await deploy(r, 'ocr', 'prod', 'ocr-v3.10.1')).code).toBe(0);
  }, 60_000);

  it('32 concurrent deploys of different apps into one repository: 32 commits land, none lost, history linear', async () => {
    const r = remote();
    const apps = Array.from({ length: 32 }, (_, i) => `app-${String(i).padStart(2, '0')}`);
    const runs = await Promise.all(apps.map((a, i) => deploy(r, a, 'prod', `${a}-v1.${i}`, ['--json'])));
    for (const ran of runs) expect(ran.code, ran.stderr).toBe(0);
    expect(r.count()).toBe(33);
    expect(git(r.bare, 'rev-list', '--merges', 'main').trim()).toBe('');
    // Every app's release is there with its own version, and each commit touches only its app.
    apps.forEach((a, i) => expect(JSON.parse(r.show(`apps/${a}/prod/release.json`)).model_version).toBe(`${a}-v1.${i}`));
    const perCommit = git(r.bare, 'log', '--format=%x00%s', '--name-only', 'main').split('\0').filter(Boolean).slice(0, 32);
    for (const c of perCommit) {
      const [subject, ...files] = c.trim().split('\n').filter(Boolean);
      const app = /deploy\((app-\d\d)\/prod\)/.exec(subject!)![1];
      for (const f of files) expect(f.startsWith(`apps/${app}/prod/`)).toBe(true);
    }
    const retried = runs.map(parse).filter((o) => o.attempts > 1).length;
    expect(retried).toBeGreaterThan(0);
    git(r.bare, 'fsck', '--full', '--strict');
  }, 300_000);

  it('concurrent deploys of increasing versions to one app/env: the newest wins, no older one lands after it', async () => {
    const r = remote();
    const versions = Array.from({ length: 32 }, (_, i) => `ocr-v2.${i + 1}`);
    const runs = await Promise.all(versions.map((v) => deploy(r, 'ocr', 'prod', v)));
    for (const ran of runs) {
      expect([0, 2], ran.stderr).toContain(ran.code);
      if (ran.code === 2) expect(ran.stderr).toMatch(/refusing to deploy ocr-v2\.\d+ over the newer ocr-v2\.\d+/);
    }
    expect(JSON.parse(r.show('apps/ocr/prod/release.json')).model_version).toBe('ocr-v2.32');
    // In commit order the versions only go up.
    const landed = git(r.bare, 'log', '--reverse', '--format=%(trailers:key=Model-Version,valueonly)', 'main').split('\n').filter(Boolean).map((v) => Number(v.split('.')[1]));
    expect(landed.length).toBeGreaterThan(0);
    for (let i = 1; i < landed.length; i++) expect(landed[i]).toBeGreaterThan(landed[i - 1]!);
    expect(git(r.bare, 'rev-list', '--merges', 'main').trim()).toBe('');
  }, 300_000);

  it('a writer killed with SIGKILL mid-push leaves the remote consistent, and a rerun succeeds', async () => {
    const r = remote();
    // A pre-receive hook that holds the push open, so the kill lands while objects are being received.
    const flag = join(r.root, 'slow');
    const started = join(r.root, 'started');
    writeFileSync(join(r.bare, 'hooks', 'pre-receive'), `#!/bin/sh\ncat >/dev/null\nif [ -f "${flag}" ]; then touch "${started}"; sleep 30; fi\nexit 0\n`, { mode: 0o755 });
    writeFileSync(flag, '');
    const before = r.head();
    // SIGKILL leaves the writer's clone behind (nothing can remove it; the action's post step would): give it a temp folder the test removes.
    const killedTmp = tempDir('gitops-killed');
    const child = spawn(process.execPath, [join(DIST, 'cli.cjs'), 'gitops', 'deploy', '--repo', r.bare, '--app', 'ocr', '--env', 'prod', '--image', image('ocr-v4.0'), '--model-version', 'ocr-v4.0'], { detached: true, stdio: 'ignore', env: { ...process.env, TMPDIR: killedTmp } });
    for (let i = 0; i < 600 && !existsSync(started); i++) await new Promise((res) => setTimeout(res, 50));
    expect(existsSync(started)).toBe(true);
    // The whole writer — node, git push, receive-pack and the hook — dies at once.
    process.kill(-child.pid!, 'SIGKILL');
    await new Promise((res) => child.on('exit', res));
    expect(r.head()).toBe(before);
    git(r.bare, 'fsck', '--full');
    writeFileSync(join(r.root, 'slow'), '');
    const { rmSync } = await import('node:fs');
    rmSync(flag);
    const again = await deploy(r, 'ocr', 'prod', 'ocr-v4.0');
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(r.show('apps/ocr/prod/release.json')).model_version).toBe('ocr-v4.0');
    expect(r.count()).toBe(2);
    git(r.bare, 'fsck', '--full');
  }, 120_000);

  it('a push refused for another reason than non-fast-forward is final: exit 3 without retries', async () => {
    const r = remote();
    writeFileSync(join(r.bare, 'hooks', 'pre-receive'), '#!/bin/sh\necho "protected branch: use a pull request" >&2\nexit 1\n', { mode: 0o755 });
    const ran = await deploy(r, 'ocr', 'prod', 'ocr-v1.0');
    expect(ran.code).toBe(3);
    expect(ran.stderr).toContain('protected branch: use a pull request');
    expect(r.count()).toBe(1);
  }, 60_000);
});

describe('gitops rollback and promote', () => {
  it('rolls back to the newest earlier release that is not quarantined, quarantines the bad one, refuses its redeploy and never rolls back a rollback', async () => {
    const r = remote({ 'apps/ocr/prod/values.yaml': PROD_VALUES });
    for (const v of ['ocr-v3.1', 'ocr-v3.2', 'ocr-v3.3']) expect((await deploy(r, 'ocr', 'prod', v)).code).toBe(0);
    const bad = r.head();
    const reason = 'canary analysis failed: latency_ms.p95=412 > 200';
    const rb = await cli(['gitops', 'rollback', '--repo', r.bare, '--app', 'ocr', '--env', 'prod', '--reason', reason, '--json']);
    expect(rb.code, rb.stderr).toBe(0);
    expect(parse(rb).release.model_version).toBe('ocr-v3.2');
    const release = JSON.parse(r.show('apps/ocr/prod/release.json'));
    expect(release).toMatchObject({ action: 'rollback', model_version: 'ocr-v3.2', image: image('ocr-v3.2'), rollback_of: bad, reason });
    expect(r.show('apps/ocr/prod/values.yaml')).toContain('tag: "ocr-v3.2-commit-abc1234-20250612110522"  # set by mlloop');
    expect(r.show('apps/ocr/prod/values.yaml')).toContain('replicaCount: 3   # keep 3 for HA');
    const quarantine = r.show('apps/ocr/prod/quarantine.yaml');
    expect(quarantine).toContain('model_version: ocr-v3.3');
    expect(quarantine).toContain(`commit: ${bad}`);
    const trailers = git(r.bare, 'log', '-1', '--format=%(trailers:only,unfold)');
    expect(trailers).toContain('Mlloop-Action: rollback');
    expect(trailers).toContain(`Rollback-Of: ${bad}`);
    expect(trailers).toContain(`Reason: ${reason}`);

    const head = r.head();
    const redeploy = await deploy(r, 'ocr', 'prod', 'ocr-v3.3');
    expect(redeploy.code).toBe(2);
    expect(redeploy.stderr).toContain('model version ocr-v3.3 is quarantined in apps/ocr/prod');
    // Run again (a retried job): the environment is already rolled back, so nothing changes and it is green.
    const again = await cli(['gitops', 'rollback', '--repo', r.bare, '--app', 'ocr', '--env', 'prod', '--reason', 'again']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('already rolled back to ocr-v3.2');
    expect(r.head()).toBe(head);

    // A fixed version goes out, fails too: the rollback skips the quarantined 3.3 and lands on 3.2 again.
    expect((await deploy(r, 'ocr', 'prod', 'ocr-v3.4')).code).toBe(0);
    const rb2 = await cli(['gitops', 'rollback', '--repo', r.bare, '--app', 'ocr', '--env', 'prod', '--reason', 'error rate 4%', '--json']);
    expect(rb2.code, rb2.stderr).toBe(0);
    expect(parse(rb2).release.model_version).toBe('ocr-v3.2');
    expect(r.show('apps/ocr/prod/quarantine.yaml')).toContain('model_version: ocr-v3.4');

    // A person may choose an older version with --to.
    const to = await cli(['gitops', 'rollback', '--repo', r.bare, '--app', 'ocr', '--env', 'prod', '--to', 'ocr-v3.1', '--reason', 'back to the audited model']);
    expect(to.code, to.stderr).toBe(0);
    expect(JSON.parse(r.show('apps/ocr/prod/release.json')).model_version).toBe('ocr-v3.1');
    const quarantined = await cli(['gitops', 'rollback', '--repo', r.bare, '--app', 'ocr', '--env', 'prod', '--to', 'ocr-v3.3', '--reason', 'x']);
    expect(quarantined.code).toBe(2);

    const hist = await cli(['gitops', 'history', '--repo', r.bare, '--app', 'ocr', '--env', 'prod', '--json']);
    expect(hist.code, hist.stderr).toBe(0);
    const releases = parse(hist).releases as { action: string | null; model_version: string | null }[];
    expect(releases.map((e) => [e.action, e.model_version])).toEqual([
      ['rollback', 'ocr-v3.1'],
      ['rollback', 'ocr-v3.2'],
      ['deploy', 'ocr-v3.4'],
      ['rollback', 'ocr-v3.2'],
      ['deploy', 'ocr-v3.3'],
      ['deploy', 'ocr-v3.2'],
      ['deploy', 'ocr-v3.1'],
      [null, null],
    ]);
    const table = await cli(['gitops', 'history', '--repo', r.bare, '--app', 'ocr', '--env', 'prod', '--limit', '2']);
    expect(table.stdout).toMatch(/rollback\s+ocr-v3\.1\s+rollback of [0-9a-f]{12}: back to the audited model/);
    expect(table.stdout.trim().split('\n')).toHaveLength(4);
  }, 180_000);

  it('promotes staging to prod with the provenance and the evidence files', async () => {
    const r = remote();
    const dir = tempDir('m');
    writeFileSync(join(dir, 'metrics.json'), JSON.stringify({ overall: { f1: 0.9 } }));
    expect((await deploy(r, 'ocr', 'staging', 'ocr-v5.0', ['--metrics', join(dir, 'metrics.json'), '--dataset', 'invoice-clean-2025Q1'])).code).toBe(0);
    const ran = await cli(['gitops', 'promote', '--repo', r.bare, '--app', 'ocr', '--from', 'staging', '--to', 'prod']);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toContain('promoted ocr-v5.0 to ocr/prod');
    const rel = JSON.parse(r.show('apps/ocr/prod/release.json'));
    expect(rel).toMatchObject({ env: 'prod', action: 'promote', promoted_from: 'staging', model_version: 'ocr-v5.0', source_commit: SHA, dataset: 'invoice-clean-2025Q1', metrics: { 'overall.f1': 0.9 }, metrics_file: 'metrics.json' });
    expect(r.show('apps/ocr/prod/metrics.json')).toBe(r.show('apps/ocr/staging/metrics.json'));
    expect(git(r.bare, 'log', '-1', '--format=%(trailers:only,unfold)')).toContain('Promoted-From: staging');
    const again = await cli(['gitops', 'promote', '--repo', r.bare, '--app', 'ocr', '--from', 'staging', '--to', 'prod']);
    expect(again.stdout).toContain('no change');
    const missing = await cli(['gitops', 'promote', '--repo', r.bare, '--app', 'ocr', '--from', 'qa', '--to', 'prod']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('apps/ocr/qa has no release.json');
  }, 120_000);
});

describe('credentials', () => {
  it('sends the token as a header over smart HTTP, and no output, commit or file holds it', async () => {
    const r = remote();
    const token = 'ghs_S3cr3tT0kenValue0123456789abcdef';
    const server = await httpGitServer(r.root, token);
    try {
      const url = `${server.url}/remote.git`;
      const denied = await cli(['gitops', 'deploy', '--repo', url, '--app', 'ocr', '--env', 'prod', '--image', image('ocr-v1.0'), '--model-version', 'ocr-v1.0'], { env: { GITOPS_TOKEN: '' } });
      expect(denied.code).toBe(3);
      expect(server.refused).toBeGreaterThan(0);
      const outputs: string[] = [denied.stdout, denied.stderr];
      const viaEnv = await cli(['gitops', 'deploy', '--repo', url, '--app', 'ocr', '--env', 'prod', '--image', image('ocr-v1.0'), '--model-version', 'ocr-v1.0', '--json'], { env: { GITOPS_TOKEN: token, MLLOOP_DEBUG: '1' } });
      expect(viaEnv.code, viaEnv.stderr).toBe(0);
      const viaUrl = await cli(['gitops', 'deploy', '--repo', url.replace('http://', `http://x-access-token:${token}@`), '--app', 'ocr', '--env', 'prod', '--image', image('ocr-v1.1'), '--model-version', 'ocr-v1.1']);
      expect(viaUrl.code, viaUrl.stderr).toBe(0);
      const viaOption = await cli(['gitops', 'rollback', '--repo', url, '--token', token, '--app', 'ocr', '--env', 'prod', '--reason', 'x', '--json']);
      expect(viaOption.code, viaOption.stderr).toBe(0);
      const action = await runAction('gitops-history', { repo: url, app: 'ocr', env: 'prod', token });
      expect(action.code, action.stdout).toBe(0);
      expect(action.masked).toContain(token);
      expect(JSON.parse(action.outputs.releases!).map((e: { action: string }) => e.action)).toEqual(["rollback", "deploy", "deploy"]);
      // ::add-mask:: is how the runner learns the secret (it never shows that line); everything else must be clean.
      const visible = (t: string) => t.split('\n').filter((l) => !l.startsWith('::add-mask::')).join('\n');
      outputs.push(...[viaEnv, viaUrl, viaOption, action].flatMap((x) => [visible(x.stdout), x.stderr]), JSON.stringify(action.outputs), action.summary);
      outputs.push(git(r.bare, 'log', '--format=%B%n%an%n%ae', 'main'));
      for (const f of ['release.json', 'values.yaml', 'quarantine.yaml']) outputs.push(r.show(`apps/ocr/prod/${f}`));
      outputs.push(git(r.bare, 'config', '--list'));
      const b64 = Buffer.from(`x-access-token:${token}`).toString('base64');
      for (const text of outputs) {
        expect(text).not.toContain(token);
        expect(text).not.toContain(b64);
      }
      expect(viaUrl.stdout).toContain(`pushed to main of ${url}`);
      expect(server.authorized).toBeGreaterThan(4);
      // The clone folders are gone: no checkout with a config holding the remote is left behind.
      expect(readdirSync(tmpdir()).filter((d) => d.startsWith('mlloop-git-')).length).toBeLessThan(50);
    } finally {
      await server.close();
    }
  }, 120_000);
});

describe('--pr', () => {
  it('opens one pull request per app/env on a branch of its own, then updates it; the protected branch is untouched', async () => {
    const { GitHubServer } = await import('../support/github-server.js');
    const token = 'ghs_PrT0kenForTheGitopsRepo000111';
    const gh = await GitHubServer.start({ tokens: { [token]: { login: 'github-actions[bot]', app: true } } });
    const r = remote({ 'apps/ocr/prod/values.yaml': PROD_VALUES });
    const git$ = await httpGitServer(r.root, token);
    try {
      const base = r.head();
      const args = (v: string) => ['gitops', 'deploy', '--repo', `${git$.url}/remote.git`, '--app', 'ocr', '--env', 'prod', '--image', image(v), '--model-version', v, '--pr', '--github-repository', 'acme/gitops', '--github-api-url', gh.url, '--json'];
      const first = await cli(args('ocr-v3.2'), { env: { GITOPS_TOKEN: token } });
      expect(first.code, first.stderr).toBe(0);
      const out1 = parse(first);
      expect(out1.pull_request).toMatchObject({ number: expect.any(Number), created: true });
      expect(r.head()).toBe(base);
      const branch = git(r.bare, 'rev-parse', 'mlloop/ocr-prod').trim();
      expect(git(r.bare, 'rev-parse', 'mlloop/ocr-prod~1').trim()).toBe(base);
      expect(JSON.parse(r.show('apps/ocr/prod/release.json', 'mlloop/ocr-prod')).model_version).toBe('ocr-v3.2');
      const second = await cli(args('ocr-v3.3'), { env: { GITOPS_TOKEN: token } });
      expect(second.code, second.stderr).toBe(0);
      expect(parse(second).pull_request).toMatchObject({ number: out1.pull_request.number, created: false });
      expect(git(r.bare, 'rev-parse', 'mlloop/ocr-prod').trim()).not.toBe(branch);
      expect(git(r.bare, 'rev-parse', 'mlloop/ocr-prod~1').trim()).toBe(base);
      const pulls = gh.state.pulls.filter((p) => p.state === 'open');
      expect(pulls).toHaveLength(1);
      expect(pulls[0]!.head.ref).toBe('mlloop/ocr-prod');
      expect(pulls[0]!.base.ref).toBe('main');
      expect(pulls[0]!.title).toBe('deploy(ocr/prod): ocr-v3.3');
      expect((pulls[0] as unknown as { body: string }).body).toContain('Model-Version: ocr-v3.3');
      expect(gh.requests.every((q) => q.status < 400)).toBe(true);
      for (const text of [first.stdout, first.stderr, second.stdout, second.stderr, JSON.stringify(gh.state.pulls)]) expect(text).not.toContain(token);
    } finally {
      await git$.close();
      await gh.close();
    }
  }, 120_000);
});

describe('--cache-dir', () => {
  const tree = (r: Remote, rev: string) => git(r.bare, 'ls-tree', '-r', rev).replace(/\s+/g, ' ');

  it('a deploy with a warm cache makes the same commit contents as one that clones; the cache keeps no run refs', async () => {
    const cold = remote({ 'apps/ocr/prod/values.yaml': PROD_VALUES });
    const warm = remote({ 'apps/ocr/prod/values.yaml': PROD_VALUES });
    const cache = tempDir('gitops-cache');
    // Warm the cache with a first release, then deploy the same second release both ways.
    for (const r of [cold, warm]) expect((await deploy(r, 'ocr', 'prod', 'ocr-v3.1')).code).toBe(0);
    expect((await deploy(warm, 'ocr', 'staging', 'ocr-v3.1', ['--cache-dir', cache])).code).toBe(0);
    expect((await deploy(cold, 'ocr', 'staging', 'ocr-v3.1')).code).toBe(0);
    const a = await deploy(cold, 'ocr', 'prod', 'ocr-v3.2', ['--json']);
    const b = await deploy(warm, 'ocr', 'prod', 'ocr-v3.2', ['--json', '--cache-dir', cache]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toContain('fetching into the cached mirror');
    expect(parse(b).files).toEqual(parse(a).files);
    // release.json holds the deploy time; everything else is byte-identical.
    const withoutTime = (r: Remote) => ({ ...JSON.parse(r.show('apps/ocr/prod/release.json')), deployed_at: 'x' });
    expect(withoutTime(warm)).toEqual(withoutTime(cold));
    expect(warm.show('apps/ocr/prod/values.yaml')).toBe(cold.show('apps/ocr/prod/values.yaml'));
    expect(git(warm.bare, 'log', '-1', '--format=%B')).toBe(git(cold.bare, 'log', '-1', '--format=%B'));
    expect(tree(warm, 'main').replace(/[0-9a-f]{40} apps\/ocr\/(prod|staging)\/release\.json/g, '')).toBe(tree(cold, 'main').replace(/[0-9a-f]{40} apps\/ocr\/(prod|staging)\/release\.json/g, ''));
    // An identical rerun through the cache makes no commit.
    const again = await deploy(warm, 'ocr', 'prod', 'ocr-v3.2', ['--cache-dir', cache]);
    expect(again.stdout).toContain('no change');
    const mirrors = readdirSync(cache);
    expect(mirrors.filter((f) => f.endsWith('.git'))).toHaveLength(1);
    expect(mirrors.filter((f) => !f.endsWith('.git'))).toEqual([]);
    expect(git(join(cache, mirrors[0]!), 'for-each-ref', 'refs/mlloop').trim()).toBe('');
  }, 120_000);

  it('32 concurrent deploys sharing one cache: 32 commits land, none lost, history linear', async () => {
    const r = remote();
    const cache = tempDir('gitops-cache');
    const apps = Array.from({ length: 32 }, (_, i) => `app-${String(i).padStart(2, '0')}`);
    // Writers sharing a cache take turns from fetch to push: on a loaded machine the last one waits for 31 others.
    const runs = await Promise.all(apps.map((a, i) => cli(['gitops', 'deploy', '--repo', r.bare, '--app', a, '--env', 'prod', '--image', image(`${a}-v1.${i}`), '--model-version', `${a}-v1.${i}`, '--json', '--cache-dir', cache], { timeoutMs: 280_000 })));
    // Each pushed at its first attempt: nobody rejected anybody.
    expect(runs.map((ran) => parse(ran).attempts)).toEqual(apps.map(() => 1));
    for (const ran of runs) expect(ran.code, ran.stderr).toBe(0);
    expect(r.count()).toBe(33);
    expect(git(r.bare, 'rev-list', '--merges', 'main').trim()).toBe('');
    apps.forEach((a, i) => expect(JSON.parse(r.show(`apps/${a}/prod/release.json`)).model_version).toBe(`${a}-v1.${i}`));
    git(r.bare, 'fsck', '--full', '--strict');
    expect(readdirSync(cache).filter((f) => !f.endsWith('.git'))).toEqual([]);
  }, 300_000);

  it('a damaged cache is detected and cloned again; a cache that lost its objects is refilled by the fetch', async () => {
    const r = remote();
    const cache = tempDir('gitops-cache');
    expect((await deploy(r, 'ocr', 'prod', 'ocr-v1.0', ['--cache-dir', cache])).code).toBe(0);
    const [mirror] = readdirSync(cache);
    // Not a repository any more: detected, cloned again, and the deploy goes through.
    writeFileSync(join(cache, mirror!, 'HEAD'), 'garbage\n');
    const ran = await deploy(r, 'ocr', 'prod', 'ocr-v1.1', ['--cache-dir', cache, '--json']);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stderr).toContain('cloning it again');
    expect(JSON.parse(r.show('apps/ocr/prod/release.json')).model_version).toBe('ocr-v1.1');
    expect(r.count()).toBe(3);
    git(join(cache, mirror!), 'fsck', '--full');
    // Its packs overwritten with garbage: git fetches what it cannot read again; the commit is whole.
    const pack = join(cache, mirror!, 'objects', 'pack');
    for (const f of readdirSync(pack).filter((f) => f.endsWith('.pack'))) writeFileSync(join(pack, f), 'garbage');
    const again = await deploy(r, 'ocr', 'prod', 'ocr-v1.2', ['--cache-dir', cache]);
    expect(again.code, again.stderr).toBe(0);
    expect(r.count()).toBe(4);
    expect(JSON.parse(r.show('apps/ocr/prod/release.json')).model_version).toBe('ocr-v1.2');
    git(r.bare, 'fsck', '--full', '--strict');
  }, 120_000);
});
