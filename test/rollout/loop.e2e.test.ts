import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { GitHubServer } from '../support/github-server.js';
import { startExampleApp, type ExampleApp } from '../support/example-app.js';
import { eventually } from '../support/services.js';
import { cli } from '../support/run.js';
import { EXAMPLE, ROOT } from '../support/paths.js';
import { git, makeRemote, type Remote } from '../gitops/git-fixture.js';
import { startRelayProcess, type RelayProcess } from '../relay/relay-process.js';
import { tempDir } from '../support/tmp.js';

// The loop end to end, every step through dist/: deploy a bad model to a real bare GitOps repo → smoke
// passes (it answers) → the canary analysis fails on latency → the rollout-aborted notification goes through
// `mlloop relay` to the GitHub API → the rollback workflow's step runs `gitops rollback` with the payload's
// app, env and reason → a rollback commit whose Reason is the analysis result.
const VALUES = `# prod values
image:
  repository: registry.example.com/ocr-service
  tag: "ocr-v3.0-commit-0000000-20250101000000"  # set by mlloop
model: {version: ocr-v3.0, name: ocr}
replicaCount: 3
`;
const BEARER = 'relay-bearer-0123456789abcdef';
const TOKEN = 'ghs_relaytoken000000000000000';
const SHA = 'abc1234def5678abc1234def5678abc1234def56';
const image = (v: string) => `registry.example.com/ocr-service:${v}-commit-abc1234-20250612110522`;

let remote: Remote;
let canary: ExampleApp;
let gh: GitHubServer;
let relay: RelayProcess;

beforeAll(async () => {
  remote = makeRemote({ 'apps/ocr/prod/values.yaml': VALUES });
  gh = await GitHubServer.start({ tokens: { [TOKEN]: { login: 'mlloop-relay[bot]' } } });
  const dir = tempDir('loop');
  const cfg = parse(readFileSync(join(ROOT, 'manifests/relay/relay.yaml'), 'utf8')) as Record<string, any>;
  cfg.github.api_url = gh.url;
  cfg.spool = { dir: join(dir, 'spool') };
  writeFileSync(join(dir, 'relay.yaml'), JSON.stringify(cfg));
  relay = await startRelayProcess(join(dir, 'relay.yaml'), { RELAY_BEARER_TOKEN: BEARER, RELAY_HMAC_SECRET: 'hmac-secret-0123456789abcdef', GITHUB_TOKEN: TOKEN });
}, 120_000);

afterAll(async () => {
  await canary?.stop();
  if (relay && relay.child.exitCode === null) await relay.stop();
  await gh?.close();
  remote?.cleanup();
});

describe('the rollback loop', () => {
  it('a failed canary analysis ends in a rollback commit whose Reason is the analysis result', async () => {
    for (const v of ['ocr-v3.2', 'ocr-v3.3']) {
      const d = await cli(['gitops', 'deploy', '--repo', remote.bare, '--app', 'ocr', '--env', 'prod', '--image', image(v), '--model-version', v, '--source-commit', SHA], { timeoutMs: 120_000 });
      expect(d.code, d.stderr).toBe(0);
    }
    const bad = remote.head();

    // The new version is up and answers correctly, but slowly.
    canary = await startExampleApp({ modelVersion: 'ocr-v3.3', injectLatencyMs: 300 });
    const smoke = await cli(['smoke', '--url', canary.url, '--request', join(EXAMPLE, 'test_request.json'), '--expect-model-version', 'ocr-v3.3']);
    expect(smoke.code, smoke.stderr).toBe(0);

    const analysis = await cli(['analyze', '--scrape', `${canary.url}/metrics`, '--load', '10', '--request', join(EXAMPLE, 'test_request.json'), '--duration', '4s', '--interval', '2s', '--json'], { timeoutMs: 60_000 });
    expect(analysis.code).toBe(1);
    const verdict = JSON.parse(analysis.stdout) as { message: string };
    expect(verdict.message).toMatch(/^canary analysis failed: latency_ms\.p95=\d+ > 200$/);

    // What the Argo Rollouts template sends when the analysis aborts the rollout (manifests/rollouts/notifications.yaml).
    const notification = { event_type: 'rollout-aborted', client_payload: { source: 'argo-rollouts', trigger: 'on-analysis-run-failed', app: 'ocr', env: 'prod', rollout: 'ocr', namespace: 'serving', revision: '2', pod_hash: '6d5f8c7b9', reason: verdict.message } };
    const sent = await fetch(`${relay.url}/v1/notifications`, { method: 'POST', headers: { authorization: `Bearer ${BEARER}`, 'content-type': 'application/json' }, body: JSON.stringify(notification) });
    expect(sent.status).toBe(202);
    const dispatch = await eventually(() => gh.state.repositoryDispatches.find((d) => d.event_type === 'rollout-aborted'), 30_000, 'the repository_dispatch');
    expect(dispatch.repo).toBe('acme/ocr-fields');

    // The rollback workflow's step (.github/workflows/rollback.yml) with the event's client_payload.
    const payload = dispatch.client_payload as { app: string; env: string; reason: string };
    const rb = await cli(['gitops', 'rollback', '--repo', remote.bare, '--app', payload.app, '--env', payload.env, '--reason', payload.reason, '--json'], { timeoutMs: 120_000 });
    expect(rb.code, rb.stderr).toBe(0);

    const release = JSON.parse(remote.show('apps/ocr/prod/release.json'));
    expect(release).toMatchObject({ action: 'rollback', model_version: 'ocr-v3.2', rollback_of: bad, reason: verdict.message });
    expect(remote.show('apps/ocr/prod/quarantine.yaml')).toContain('model_version: ocr-v3.3');
    const trailers = git(remote.bare, 'log', '-1', '--format=%(trailers:only,unfold)');
    expect(trailers).toContain('Mlloop-Action: rollback');
    expect(trailers).toContain(`Rollback-Of: ${bad}`);
    expect(trailers).toContain(`Reason: ${verdict.message}`);
  });
});
