// model-ct.yml from the alert to the candidate CD accepts: the relay's ct-retrain dispatch decides to retrain, the
// production model is copied out of the image the GitOps release names, the example is retrained from it
// (train.py --init-from), evaluated on the same test set, gated against production with the example's policy
// (significantly better required), built, and handed over with ct handoff as repository_dispatch mlloop-candidate —
// whose payload model-cd.yml's validation accepts. Docker cannot run on these machines: the `docker` command is a
// small stand-in over a folder of image file systems (pull, create, cp, rm), and Docker's actions are recording
// stand-ins; git, the GitOps repository, Python, mlloop's actions and the GitHub API test server are real.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { cli, run } from '../support/run.js';
import { GitHubServer } from '../support/github-server.js';
import { startArtifactService, type ArtifactService } from '../support/artifact-server.js';
import { trainedModel } from '../support/example-app.js';
import { evaluateModel, readWorkflow, relayRetrainPayload, runStep, step } from './helpers.js';
import { checkoutExample, failedSteps, runWorkflow, type RunResult, type Value } from './runner.js';
import { tempDir } from '../support/tmp.js';

const REPO = 'acme/ocr-fields';
const IMAGE = 'ghcr.io/acme/ocr-service';
const PROD = 'ocr-v1.20250601.080000';
const PROD_IMAGE = `${IMAGE}:${PROD}-commit-0000000-20250601080000@sha256:${'a'.repeat(64)}`;
const TOKEN = 'ghs_ctWorkflowToken00000001';
let gh: GitHubServer;
let svc: ArtifactService;
let gitops = '';
let registry = '';
let shims = '';
let result: RunResult;

const DOCKER = `#!/usr/bin/env bash
# Stand-in for the docker CLI over $MLLOOP_TEST_REGISTRY/<sha256 of the reference>/ (an image's file system).
set -euo pipefail
key() { printf '%s' "$1" | sha256sum | cut -c1-16; }
reg="$MLLOOP_TEST_REGISTRY"
case "$1" in
  pull) [[ "$2" == --quiet ]] && shift; [[ -d "$reg/$(key "$2")" ]] || { echo "Error response from daemon: manifest unknown" >&2; exit 1; } ;;
  create) [[ -d "$reg/$(key "$2")" ]] || exit 1; c="c$(key "$2")"; ln -sfn "$reg/$(key "$2")" "$reg/$c"; echo "$c" ;;
  cp) c="\${2%%:*}"; p="\${2#*:}"; cp -r "$reg/$c$p" "$3" ;;
  rm) rm -f "$reg/$2" ;;
  *) echo "docker $1: not supported by the test stand-in" >&2; exit 1 ;;
esac
`;

beforeAll(async () => {
  const dir = tempDir('ct-retrain');
  gh = await GitHubServer.start({ tokens: { [TOKEN]: { login: 'github-actions[bot]', app: true } } });
  svc = await startArtifactService();
  // Production runs a one-epoch model; its image holds the model under /app/outputs (the example's Dockerfile).
  const model = await trainedModel(1);
  registry = join(dir, 'registry');
  const fs = join(registry, createHash('sha256').update(PROD_IMAGE).digest('hex').slice(0, 16));
  mkdirSync(join(fs, 'app'), { recursive: true });
  cpSync(model, join(fs, 'app/outputs'), { recursive: true });
  shims = join(dir, 'bin');
  mkdirSync(shims);
  writeFileSync(join(shims, 'docker'), DOCKER);
  chmodSync(join(shims, 'docker'), 0o755);
  // The GitOps repository: prod runs that model, with its evaluation kept next to the release.
  gitops = join(dir, 'gitops.git');
  expect((await run('git', ['init', '-q', '--bare', '-b', 'main', gitops])).code).toBe(0);
  const ev = await evaluateModel(model, dir);
  const d = await cli(['gitops', 'deploy', '--repo', gitops, '--app', 'ocr', '--env', 'prod', '--image', PROD_IMAGE, '--model-version', PROD, '--metrics', ev.metrics, '--samples', ev.samples]);
  expect(d.code, d.stderr).toBe(0);

  const caller = readWorkflow('examples/ocr-fields/.github/workflows/model-ct.yml').jobs['model-ct']!.with as Record<string, Value>;
  result = await runWorkflow({
    workflow: '.github/workflows/model-ct.yml',
    // The decision comes from the alert alone here (the inference log has its own test).
    with: { ...caller, 'gitops-repo': gitops, 'prepare-command': '', 'inference-log': '', 'label-studio-url': '' },
    secrets: { 'gitops-token': 'ghs_gitopsReadToken000001' },
    eventName: 'repository_dispatch',
    event: { action: 'ct-retrain', client_payload: relayRetrainPayload() as Value },
    github: { repository: REPO, sha: '3'.repeat(40), run_id: '9401', token: TOKEN, ref: 'refs/heads/main', workflow_ref: `${REPO}/.github/workflows/model-ct.yml@refs/heads/main` },
    checkout: (ws) => checkoutExample(ws),
    env: { ...svc.env(), GITHUB_API_URL: gh.url, MLLOOP_TEST_REGISTRY: registry, PATH: `${shims}:${process.env.PATH}` },
    cache: new Map(),
    stubs: {
      'docker/login-action': () => ({}),
      'docker/setup-buildx-action': () => ({}),
      'docker/build-push-action': (w) => ({ digest: `sha256:${createHash('sha256').update(w.tags!).digest('hex')}` }),
    },
  });
}, 300_000);

afterAll(async () => {
  await gh?.close();
  await svc?.close();
});


describe('model-ct.yml: alert → retrain from production → gate → handoff', () => {
  it('every job succeeds', () => {
    expect(failedSteps(result)).toEqual([]);
    expect(Object.fromEntries(Object.entries(result.jobs).map(([k, j]) => [k, j.result]))).toEqual({ check: 'success', retrain: 'success', handoff: 'success' });
  });

  it('retrains from the model production runs', () => {
    const retrain = result.jobs.retrain!;
    expect(retrain.steps.find((s) => s.id === 'baseline')!.outputs['model-version']).toBe(PROD);
    const log = readFileSync(join(retrain.workspace, 'logs/train.log'), 'utf8');
    // train.py --init-from "$MLLOOP_INIT_FROM": the folder copied out of the production image.
    expect(log).toMatch(/initialised from \S+\/baseline-model \(model_version=ocr-fields-/);
  });

  it('gates the candidate against production on the same test set, significantly better', () => {
    const verdict = JSON.parse(readFileSync(join(result.artifacts['mlloop-eval']!, 'verdict.json'), 'utf8')) as { pass: boolean; baseline: { kind: string; model_version: string }; significance: { overall: { require: string; p_value: number } } };
    expect(verdict.pass).toBe(true);
    expect(verdict.baseline).toMatchObject({ kind: 'gitops', model_version: PROD });
    expect(verdict.significance.overall.require).toBe('improvement');
    expect(verdict.significance.overall.p_value).toBeLessThan(0.05);
  });

  it('hands the candidate to CD, and model-cd.yml accepts the payload', async () => {
    expect(gh.state.repositoryDispatches).toHaveLength(1);
    const d = gh.state.repositoryDispatches[0]!;
    expect(d).toMatchObject({ repo: REPO, event_type: 'mlloop-candidate' });
    const payload = d.client_payload as { model_version: string; image: string; parent_model: string | null };
    expect(payload.model_version).toBe(result.outputs['model-version']);
    expect(payload.image).toMatch(new RegExp(`^${IMAGE}:${payload.model_version.replace(/\./g, '\\.')}-commit-3333333-\\d{14}@sha256:[0-9a-f]{64}$`));
    const accept = await runStep(step('.github/workflows/model-cd.yml', 'candidate', 'payload'), {
      PAYLOAD: JSON.stringify(payload),
      RUNS_URL: `https://github.com/${REPO}/actions/runs/`,
      IMAGE_REPO: IMAGE,
    });
    expect(accept.stdout + accept.stderr).toBe('');
    expect(accept.code).toBe(0);
    expect(accept.outputs).toMatchObject({ 'model-version': payload.model_version, image: payload.image, 'run-id': '9401' });
  });
});
