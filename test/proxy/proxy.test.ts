/**
 * Every HTTP client of mlloop behind a real forward proxy (Debian's tinyproxy). The services are named
 * *.mlloop.test, names only the proxy can resolve: tinyproxy runs in its own mount namespace with a hosts
 * file of its own, so a request that does not go through the proxy fails to resolve, and one that does
 * is counted in the proxy's log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { getProxyUrl } from '@actions/http-client';
import { bypassesProxy, proxyUrlFor, useProxyFrom } from '../../src/core/http/proxy.js';
import { Prometheus } from '../../src/core/rollout/prometheus.js';
import { scrapeOnce } from '../../src/core/rollout/sources.js';
import { postTasks } from '../../src/core/ct/label-studio.js';
import { connect, closeClient } from '../../src/core/dispatch/k8s.js';
import type { ClusterConfig } from '../../src/core/dispatch/config.js';
import { GitHubServer } from '../support/github-server.js';
import { startLabelStudioServer, type LabelStudioServer } from '../support/label-studio-server.js';
import { K8sTestServer } from '../support/k8s-server.js';
import { cloneNode, t4 } from '../dispatch/fixtures.js';
import { startRelayProcess, type RelayProcess } from '../relay/relay-process.js';
import { cli, runAction } from '../support/run.js';
import { httpGitServer, makeRemote } from '../gitops/git-fixture.js';
import { tempDir } from '../support/tmp.js';
import { tool } from '../support/tools.js';
import { ROOT } from '../support/paths.js';

const PROXY_VARS = ['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY', 'no_proxy', 'NO_PROXY'];

describe('proxy rules', () => {
  // Pairs of (target, environment): mlloop's answer must be @actions/http-client's.
  const cases: [string, Record<string, string>][] = [
    ['https://api.github.com/repos', { HTTPS_PROXY: 'http://proxy.corp:3128' }],
    ['https://api.github.com/repos', { https_proxy: 'http://lower:1', HTTPS_PROXY: 'http://upper:2' }],
    ['http://ghes.corp/api/v3', { HTTPS_PROXY: 'http://proxy.corp:3128' }],
    ['http://ghes.corp/api/v3', { HTTP_PROXY: 'http://user:p%40ss@proxy.corp:3128' }],
    ['https://api.github.com', { HTTPS_PROXY: '10.0.0.1:3128' }],
    ['https://api.github.com', { HTTPS_PROXY: 'proxy.corp:3128' }],
    ['http://localhost:9090', { HTTP_PROXY: 'http://p:1' }],
    ['http://127.0.0.1:9090', { HTTP_PROXY: 'http://p:1' }],
    ['http://[::1]:9090', { HTTP_PROXY: 'http://p:1' }],
    ['https://api.github.com', { HTTPS_PROXY: 'http://p:1', NO_PROXY: 'github.com' }],
    ['https://github.com', { HTTPS_PROXY: 'http://p:1', NO_PROXY: 'github.com' }],
    ['https://notgithub.com', { HTTPS_PROXY: 'http://p:1', NO_PROXY: 'github.com' }],
    ['https://api.github.com', { HTTPS_PROXY: 'http://p:1', NO_PROXY: '.github.com' }],
    ['https://github.com', { HTTPS_PROXY: 'http://p:1', NO_PROXY: '.github.com' }],
    ['https://api.github.com', { HTTPS_PROXY: 'http://p:1', NO_PROXY: 'api.github.com:443' }],
    ['https://api.github.com:8443', { HTTPS_PROXY: 'http://p:1', NO_PROXY: 'api.github.com:443' }],
    ['http://github.mlloop.test:8080/api/v3', { HTTP_PROXY: 'http://p:1', NO_PROXY: '.mlloop.test:8080' }],
    ['http://github.mlloop.test:8081/api/v3', { HTTP_PROXY: 'http://p:1', NO_PROXY: '.mlloop.test:8080' }],
    ['http://prom.svc:9090', { HTTP_PROXY: 'http://p:1', no_proxy: ' other , PROM.SVC:9090 ' }],
    ['http://prom.svc:9090', { HTTP_PROXY: 'http://p:1', no_proxy: 'x', NO_PROXY: 'prom.svc' }],
    ['https://k8s.corp:6443', { HTTPS_PROXY: 'http://p:1', NO_PROXY: '*' }],
    ['https://k8s.corp:6443', { HTTPS_PROXY: 'http://p:1', NO_PROXY: '*.corp' }],
    ['https://10.1.2.3:6443', { HTTPS_PROXY: 'http://p:1', NO_PROXY: '10.1.2.3' }],
    ['https://10.1.2.3:6443', { HTTPS_PROXY: 'http://p:1', NO_PROXY: '10.0.0.0/8' }],
  ];

  it.each(cases)('%s with %o', (url, env) => {
    const saved = Object.fromEntries(PROXY_VARS.map((k) => [k, process.env[k]]));
    try {
      for (const k of PROXY_VARS) delete process.env[k];
      Object.assign(process.env, env);
      const theirs = getProxyUrl(url);
      // @actions/http-client connects directly when the proxy URL has no host.
      const expected = theirs && new URL(theirs).hostname ? theirs : undefined;
      expect(proxyUrlFor(url, env)).toBe(expected);
    } finally {
      for (const k of PROXY_VARS) if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });

  it('tells the cases apart (the table above is not all one answer)', () => {
    expect(proxyUrlFor('https://api.github.com', { HTTPS_PROXY: 'http://proxy.corp:3128' })).toBe('http://proxy.corp:3128/');
    expect(proxyUrlFor('http://ghes.corp', { HTTPS_PROXY: 'http://proxy.corp:3128' })).toBeUndefined();
    expect(bypassesProxy(new URL('https://api.github.com'), { NO_PROXY: '.github.com' })).toBe(true);
    expect(bypassesProxy(new URL('https://notgithub.com'), { NO_PROXY: 'github.com' })).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------------

const HOSTS = ['github', 'app', 'prom', 'ls', 'k8s', 'secure'].map((h) => `${h}.mlloop.test`);

interface Tinyproxy {
  url: string;
  child: ChildProcess;
  /** Requests the proxy received for `host` (a CONNECT tunnel counts once, however many requests it carries). */
  count(host: string): number;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function startTinyproxy(dir: string): Promise<Tinyproxy> {
  const port = await freePort();
  const log = join(dir, 'tinyproxy.log');
  const conf = join(dir, 'tinyproxy.conf');
  const hosts = join(dir, 'hosts');
  writeFileSync(hosts, `127.0.0.1 localhost ${HOSTS.join(' ')}\n`);
  writeFileSync(conf, [`Port ${port}`, 'Listen 127.0.0.1', 'Allow 127.0.0.1', 'Timeout 30', 'MaxClients 64', `LogFile "${log}"`, 'LogLevel Info', 'DisableViaHeader Yes', ''].join('\n'));
  // The hosts file is bind-mounted for tinyproxy alone; the namespace goes away with the process.
  const unshare = process.getuid?.() === 0 ? ['-m'] : ['-r', '-m'];
  const child = spawn('unshare', [...unshare, 'sh', '-c', 'mount --bind "$1" /etc/hosts && exec "$2" -d -c "$3"', 'sh', hosts, tool('tinyproxy'), conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const deadline = Date.now() + 10_000;
  while (!(existsSync(log) && readFileSync(log, 'utf8').includes('Accepting connections'))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`tinyproxy did not start (it needs unshare -m with mount rights): ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    count: (host) => readFileSync(log, 'utf8').split('\n').filter((l) => /Request \(file descriptor \d+\): \S+ /.test(l) && l.includes(host)).length,
  };
}

function listen(handler: Parameters<typeof createServer>[1], host = '127.0.0.1'): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  return new Promise((resolve) => server.listen(0, host, () => resolve({ server, port: (server.address() as AddressInfo).port })));
}

const ENVELOPE = JSON.stringify({ status: 'ok', result: { fields: [] }, error_code: null, model_version: 'ocr-v3.2' });
const METRICS = '# TYPE http_requests_total counter\nhttp_requests_total{code="200"} 7\n';

describe('every HTTP client through HTTP_PROXY/HTTPS_PROXY', () => {
  const dir = tempDir('proxy', { scope: 'file' });
  let proxy: Tinyproxy;
  let gh: GitHubServer;
  let api: string;
  let app: { server: Server; port: number };
  let relay: RelayProcess | undefined;
  let through: Record<string, string>;
  const servers: Server[] = [];

  beforeAll(async () => {
    proxy = await startTinyproxy(dir);
    through = { HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, NO_PROXY: '', http_proxy: '', https_proxy: '', no_proxy: '' };
    gh = await GitHubServer.start({ tokens: { ghs_rw_token_1: { login: 'github-actions[bot]' } }, prefix: '/api/v3' });
    api = gh.url.replace('127.0.0.1', 'github.mlloop.test');
    // The model service (smoke, analyze --scrape) on every address: a non-loopback one shows NO_PROXY at work.
    app = await listen((req, res) => {
      if (req.url === '/metrics') return void res.end(METRICS);
      req.resume().on('end', () => {
        res.setHeader('content-type', 'application/json');
        res.end(req.url === '/predict' ? ENVELOPE : '{"status":"ok"}');
      });
    }, '0.0.0.0');
    servers.push(app.server);
  }, 30_000);

  afterAll(async () => {
    useProxyFrom({});
    await relay?.stop();
    proxy?.child.kill('SIGTERM');
    await gh?.close();
    for (const s of servers) s.close();
  });

  it('mlloop comment posts its sticky comment to a GHES API URL through the proxy, and only through it', async () => {
    const body = join(dir, 'report.md');
    writeFileSync(body, '### mlloop gate: pass\n');
    const env = { GITHUB_TOKEN: 'ghs_rw_token_1', GITHUB_REPOSITORY: 'acme/ocr-fields' };
    const comment = (extra: Record<string, string>) => cli(['comment', '--body', body, '--pr', '7', '--api-url', api, '--json'], { cwd: dir, env: { ...env, ...extra } });

    const before = proxy.count('github.mlloop.test');
    const posted = await comment(through);
    expect(posted.code, posted.stderr).toBe(0);
    expect(JSON.parse(posted.stdout)).toMatchObject({ action: 'created', pr: 7 });
    expect(gh.comments('acme', 'ocr-fields', 7)).toHaveLength(1);
    const afterPost = proxy.count('github.mlloop.test');
    expect(afterPost).toBeGreaterThan(before);

    const again = await comment({ http_proxy: proxy.url, HTTP_PROXY: '' });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).action).toBe('unchanged');
    expect(proxy.count('github.mlloop.test')).toBeGreaterThan(afterPost);

    // Without the proxy, or with the host in NO_PROXY, the name does not resolve: exit 3, nothing through the proxy.
    const counted = proxy.count('github.mlloop.test');
    const direct = await comment({ HTTP_PROXY: '', HTTPS_PROXY: '', http_proxy: '', https_proxy: '' });
    expect(direct.code).toBe(3);
    // (each of these exhausts Octokit's retries: about 15 s; the other NO_PROXY forms are in the table above)
    const bypassed = await comment({ ...through, NO_PROXY: `.mlloop.test:${new URL(api).port}` });
    expect(bypassed.code).toBe(3);
    expect(proxy.count('github.mlloop.test')).toBe(counted);
    expect(gh.comments('acme', 'ocr-fields', 7)).toHaveLength(1);
  }, 120_000);

  it('the comment action (the action adapter installs the same setting) posts through the proxy on a GHES runner', async () => {
    writeFileSync(join(dir, 'action-report.md'), '### mlloop gate: pass (action)\n');
    const before = proxy.count('github.mlloop.test');
    const r = await runAction('comment', { body: 'action-report.md', pr: '9', token: 'ghs_rw_token_1' }, { cwd: dir, env: { GITHUB_API_URL: api, GITHUB_SERVER_URL: api.replace(/\/api\/v3$/, ''), ...through } });
    expect(r.code, r.stdout).toBe(0);
    expect(gh.comments('acme', 'ocr-fields', 9)).toHaveLength(1);
    expect(proxy.count('github.mlloop.test')).toBeGreaterThan(before);
  }, 60_000);

  it('gate --comment posts its report through the proxy', async () => {
    const m = (f1: number) => ({ schema: 'mlloop/metrics@1', model_version: 'ocr-v1', overall: { f1 } });
    writeFileSync(join(dir, 'cand.json'), JSON.stringify(m(0.9)));
    writeFileSync(join(dir, 'base.json'), JSON.stringify(m(0.85)));
    writeFileSync(join(dir, 'gate.yaml'), 'metrics:\n  overall.f1: {direction: higher, min: 0.8}\n');
    const before = proxy.count('github.mlloop.test');
    const r = await cli(['gate', '--candidate', 'cand.json', '--baseline', 'base.json', '--policy', 'gate.yaml', '--comment', '--pr', '8', '--api-url', api], {
      cwd: dir,
      env: { GITHUB_TOKEN: 'ghs_rw_token_1', GITHUB_REPOSITORY: 'acme/ocr-fields', ...through },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(gh.comments('acme', 'ocr-fields', 8)).toHaveLength(1);
    expect(gh.comments('acme', 'ocr-fields', 8)[0]!.body).toMatch(/mlloop gate/);
    expect(proxy.count('github.mlloop.test')).toBeGreaterThan(before);
  }, 60_000);

  it('gate --baseline-artifact lists runs (Octokit) and downloads the artifact (@actions/artifact) through the proxy', async () => {
    const m = (f1: number) => JSON.stringify({ schema: 'mlloop/metrics@1', model_version: 'ocr-v1', overall: { f1 } });
    const run = gh.addRun('acme', 'ocr-fields', { head_branch: 'main', head_sha: '2'.repeat(40) });
    gh.addArtifact('acme', 'ocr-fields', { run_id: run.id, name: 'mlloop-eval', files: { 'metrics.json': m(0.85) } });
    writeFileSync(join(dir, 'cand-a.json'), m(0.9));
    writeFileSync(join(dir, 'gate-a.yaml'), 'metrics:\n  overall.f1: {direction: higher, max_regression: 0}\n');
    const before = proxy.count('github.mlloop.test');
    const gate = (extra: Record<string, string>) =>
      cli(['gate', '--candidate', 'cand-a.json', '--policy', 'gate-a.yaml', '--baseline-artifact', 'mlloop-eval', '--base-branch', 'main', '--repository', 'acme/ocr-fields', '--api-url', api, '--out', 'verdict-a.json', '--json'], {
        cwd: dir,
        env: { GITHUB_TOKEN: 'ghs_rw_token_1', GITHUB_API_URL: api, ...through, ...extra },
      });
    const r = await gate({});
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'verdict-a.json'), 'utf8')).baseline).toMatchObject({ kind: 'artifact', run_id: run.id });
    expect(gh.requests.filter((q) => q.operationId === 'actions/download-artifact').length).toBeGreaterThan(0);
    expect(proxy.count('github.mlloop.test')).toBeGreaterThan(before);
  }, 60_000);

  it('ct handoff sends its workflow_dispatch through the proxy', async () => {
    const verdict = {
      schema: 'mlloop/verdict@1', gate: 'ct', pass: true, policy: 'gate.yaml', created_at: '2025-06-13T12:00:00Z',
      candidate: { metrics_file: 'c.json', samples_file: 'c.jsonl', model_version: 'ocr-v2', dataset: 'review-test' },
      baseline: { kind: 'file', metrics_file: 'b.json', samples_file: 'b.jsonl', model_version: 'ocr-v1', dataset: 'review-test' },
      comparable: true, incomparable_reasons: [], checks: [], per_field_skipped: [], failed: [],
      significance: { overall: { test: 'paired-bootstrap', require: 'improvement', significant: true, p_value: 0.001, delta: 0.05, ci: [0.03, 0.07] }, per_field: [], correction: 'holm', unpaired_images: 0 },
    };
    writeFileSync(join(dir, 'verdict.json'), JSON.stringify(verdict));
    const before = proxy.count('github.mlloop.test');
    const r = await cli(['ct', 'handoff', '--repository', 'acme/ocr-cd', '--api-url', api, '--token', 'ghs_rw_token_1', '--verdict', 'verdict.json', '--workflow', 'cd.yml', '--ref', 'main', '--json'], { cwd: dir, env: through });
    expect(r.code, r.stderr).toBe(0);
    expect(gh.state.workflowDispatches).toHaveLength(1);
    expect(proxy.count('github.mlloop.test')).toBeGreaterThan(before);
  }, 60_000);

  it('the relay delivers its repository_dispatch through the proxy', async () => {
    const cfg = parse(readFileSync(join(ROOT, 'manifests/relay/relay.yaml'), 'utf8')) as Record<string, any>;
    cfg.github.api_url = api;
    cfg.limits.retry_backoff = '200ms';
    cfg.spool = { dir: join(dir, 'spool') };
    writeFileSync(join(dir, 'relay.yaml'), JSON.stringify(cfg));
    relay = await startRelayProcess(join(dir, 'relay.yaml'), { RELAY_BEARER_TOKEN: 'bearer-0123456789', RELAY_HMAC_SECRET: 'hmac-secret-0123456789abcdef', GITHUB_TOKEN: 'ghs_rw_token_1', ...through });
    const before = proxy.count('github.mlloop.test');
    const labels = { alertname: 'OcrF1Drop', mlloop_route: 'retrain', model_version: 'ocr-v3' };
    const alert = { version: '4', groupKey: '{}:{alertname="OcrF1Drop"}', status: 'firing', receiver: 'mlloop-relay', groupLabels: labels, commonLabels: labels, commonAnnotations: {}, externalURL: 'http://am', truncatedAlerts: 0, alerts: [{ status: 'firing', labels, annotations: {}, fingerprint: 'fp1' }] };
    const res = await fetch(`${relay.url}/v1/alertmanager`, { method: 'POST', headers: { authorization: 'Bearer bearer-0123456789', 'content-type': 'application/json' }, body: JSON.stringify(alert) });
    expect(res.status).toBe(202);
    const deadline = Date.now() + 20_000;
    while (gh.state.repositoryDispatches.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(gh.state.repositoryDispatches).toHaveLength(1);
    expect(gh.state.repositoryDispatches[0]).toMatchObject({ event_type: 'ct-retrain' });
    expect(proxy.count('github.mlloop.test')).toBeGreaterThan(before);
  }, 60_000);

  it('mlloop smoke goes through the proxy, and straight to a NO_PROXY host', async () => {
    writeFileSync(join(dir, 'request.json'), '{"image": "x"}');
    const smoke = (url: string, extra: Record<string, string>) => cli(['smoke', '--url', url, '--request', 'request.json', '--timeout', '5s', '--retry', '1s', '--json'], { cwd: dir, env: { ...through, ...extra } });
    const before = proxy.count('app.mlloop.test');
    const r = await smoke(`http://app.mlloop.test:${app.port}`, {});
    expect(r.code, r.stderr).toBe(0);
    expect(proxy.count('app.mlloop.test')).toBeGreaterThan(before);
    expect((await smoke(`http://app.mlloop.test:${app.port}`, { HTTP_PROXY: '' })).code).not.toBe(0);

    // A host address that is not loopback: proxied unless NO_PROXY names it.
    const ip = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    expect(ip, 'a non-loopback IPv4 address').toBeDefined();
    const viaProxy = proxy.count(`${ip}:${app.port}`);
    expect((await smoke(`http://${ip}:${app.port}`, {})).code).toBe(0);
    const proxied = proxy.count(`${ip}:${app.port}`);
    expect(proxied).toBeGreaterThan(viaProxy);
    const bypass = await smoke(`http://${ip}:${app.port}`, { NO_PROXY: `example.com,${ip}` });
    expect(bypass.code, bypass.stderr).toBe(0);
    expect(proxy.count(`${ip}:${app.port}`)).toBe(proxied);
  }, 60_000);

  it('an https:// service is reached through the proxy\'s CONNECT tunnel, its certificate checked end to end', async () => {
    // A certificate for a name only the proxy resolves, trusted by the CLI through NODE_EXTRA_CA_CERTS.
    const key = join(dir, 'secure-key.pem');
    const cert = join(dir, 'secure-cert.pem');
    execFileSync(tool('openssl'), ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=secure.mlloop.test', '-addext', 'subjectAltName=DNS:secure.mlloop.test'], { stdio: 'ignore' });
    const tls = createTlsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
      req.resume().on('end', () => {
        res.setHeader('content-type', 'application/json');
        res.end(req.url === '/predict' ? ENVELOPE : '{"status":"ok"}');
      });
    });
    await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
    servers.push(tls as unknown as Server);
    const url = `https://secure.mlloop.test:${(tls.address() as AddressInfo).port}`;
    writeFileSync(join(dir, 'request.json'), '{"image": "x"}');
    const smoke = (extra: Record<string, string>) => cli(['smoke', '--url', url, '--request', 'request.json', '--timeout', '5s', '--retry', '1s', '--json'], { cwd: dir, env: { ...through, ...extra } });
    const before = proxy.count('secure.mlloop.test');
    const r = await smoke({ NODE_EXTRA_CA_CERTS: cert });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).pass).toBe(true);
    // One tunnel per connection: CONNECT secure.mlloop.test:<port>, then TLS inside it.
    expect(proxy.count('secure.mlloop.test')).toBeGreaterThan(before);
    expect(readFileSync(join(dir, 'tinyproxy.log'), 'utf8')).toMatch(/CONNECT secure\.mlloop\.test:\d+/);
    // Without the CA the tunnel opens but the certificate is refused: no silent downgrade.
    const untrusted = await smoke({});
    expect(untrusted.code).not.toBe(0);
    expect(untrusted.stderr).toMatch(/certificate/i);
  }, 60_000);

  it('gitops deploy pushes over smart HTTP through the proxy (git is given http.proxy by the same rules)', async () => {
    const remote = makeRemote();
    const token = 'ghs_gitops_token_0123456789';
    const server = await httpGitServer(remote.root, token);
    try {
      const url = `${server.url.replace('127.0.0.1', 'github.mlloop.test')}/remote.git`;
      const deploy = (v: string, extra: Record<string, string>) =>
        cli(['gitops', 'deploy', '--repo', url, '--app', 'ocr', '--env', 'prod', '--image', `registry.example.com/ocr-service:${v}-commit-abc1234-20250612110522`, '--model-version', v], { env: { GITOPS_TOKEN: token, ...through, ...extra } });
      const before = proxy.count('github.mlloop.test');
      const r = await deploy('ocr-v1.0', {});
      expect(r.code, r.stderr).toBe(0);
      expect(remote.count()).toBe(2);
      expect(proxy.count('github.mlloop.test')).toBeGreaterThan(before);
      const counted = proxy.count('github.mlloop.test');
      expect((await deploy('ocr-v1.1', { NO_PROXY: 'mlloop.test' })).code).toBe(3);
      expect(proxy.count('github.mlloop.test')).toBe(counted);
      expect(remote.count()).toBe(2);
    } finally {
      await server.close();
    }
  }, 120_000);

  describe('in process, after useProxyFrom(env) as the CLI and the action adapter call it', () => {
    beforeAll(() => useProxyFrom(through));
    afterAll(() => useProxyFrom({}));

    it('Prometheus API and /metrics scrapes (analyze)', async () => {
      const prom = await listen((req, res) => {
        req.resume().on('end', () => {
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [1, '0.25'] }] } }));
        });
      });
      servers.push(prom.server);
      const before = proxy.count('prom.mlloop.test');
      const result = await new Prometheus({ url: `http://prom.mlloop.test:${prom.port}`, retries: 0 }).query('up');
      expect(JSON.stringify(result)).toMatch(/0\.25/);
      expect(proxy.count('prom.mlloop.test')).toBeGreaterThan(before);

      const scraped = proxy.count('app.mlloop.test');
      const page = await scrapeOnce(`http://app.mlloop.test:${app.port}/metrics`);
      expect(JSON.stringify(page)).toMatch(/http_requests_total/);
      expect(proxy.count('app.mlloop.test')).toBeGreaterThan(scraped);

      useProxyFrom({ ...through, NO_PROXY: 'prom.mlloop.test' });
      try {
        await expect(new Prometheus({ url: `http://prom.mlloop.test:${prom.port}`, retries: 0 }).query('up')).rejects.toThrow(/ENOTFOUND|getaddrinfo|fetch failed/);
      } finally {
        useProxyFrom(through);
      }
    });

    it('Label Studio imports', async () => {
      const config = '<View><Image name="image" value="$image"/><RectangleLabels name="label" toName="image"><Label value="name"/></RectangleLabels></View>';
      const ls: LabelStudioServer = await startLabelStudioServer({ token: 'ls-token-1', projects: [{ id: 1, label_config: config }] });
      try {
        const url = ls.url.replace('127.0.0.1', 'ls.mlloop.test');
        const log = { info() {}, warn() {}, debug() {}, progress() {} } as unknown as Parameters<typeof postTasks>[0]['log'];
        const before = proxy.count('ls.mlloop.test');
        const out = await postTasks({ url, project: 1, token: 'ls-token-1', scheme: 'Token', tasks: [{ data: { image: 'http://x/1.png' } }] as never, batchSize: 10, retries: 0, log });
        expect(out.task_count).toBe(1);
        expect(proxy.count('ls.mlloop.test')).toBeGreaterThan(before);
      } finally {
        await ls.close();
      }
    });

    it('the Kubernetes API (client-node given the proxy as its cluster proxy-url)', async () => {
      const k8s = await K8sTestServer.start({ nodes: [cloneNode(t4(), 'n0')] });
      try {
        const kubeconfig = k8s.kubeconfig('test').replace('127.0.0.1', 'k8s.mlloop.test');
        const connectTo = () => connect({ name: 'a', kubeconfig: { env: 'KC' } } as ClusterConfig, { env: { KC: kubeconfig }, baseDir: dir, secret() {}, timeoutMs: 5_000, signal: new AbortController().signal });
        const c = await connectTo();
        const before = proxy.count('k8s.mlloop.test');
        try {
          const nodes = await c.core.listNode();
          expect(nodes.items.map((n) => n.metadata?.name)).toEqual(['n0']);
        } finally {
          closeClient(c);
        }
        expect(proxy.count('k8s.mlloop.test')).toBeGreaterThan(before);

        useProxyFrom({ ...through, NO_PROXY: 'k8s.mlloop.test' });
        const bypassed = await connectTo();
        try {
          await expect(bypassed.core.listNode()).rejects.toThrow(/ENOTFOUND|getaddrinfo/);
        } finally {
          closeClient(bypassed);
          useProxyFrom(through);
        }
      } finally {
        await k8s.close();
      }
    });
  });
});
