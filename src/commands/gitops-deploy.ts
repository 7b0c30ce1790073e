import { defineCommand } from './define.js';
import { appOption, prOptions, releaseOutputs, repoOptions, writeOptions } from '../core/gitops/options.js';

export const command = defineCommand({
  name: 'gitops deploy',
  summary: 'commit a model release to the GitOps repository ArgoCD syncs (values.yaml in place, release.json, trailers)',
  description:
    'Clones the GitOps repository (shallow), sets image.repository, image.tag (and image.digest) and model.version in ' +
    'apps/<app>/<env>/values.yaml in place — comments and every other line stay byte-identical — writes release.json ' +
    '(mlloop/release@1) and, with --metrics/--samples, copies of the evaluation next to it, then commits with provenance ' +
    'trailers (Mlloop-Action, Model-Version, Image, Source-Commit, Dataset, Metrics, Run-Url) and pushes. ' +
    'A rejected push is retried after fetch + rebase with bounded exponential backoff and jitter; when the rebase conflicts ' +
    'the deploy is re-checked against the new upstream. Nothing is committed when the environment already runs this release. ' +
    'Refused with exit 2, before anything is written: an app or env that is not a DNS-1123 label, values that are not plain ' +
    'one-line values (newlines, ": ", anchors, aliases, tags), an older model version over a newer one, and a quarantined version.',
  options: {
    ...repoOptions,
    ...appOption,
    env: { type: 'string', required: true, help: 'the environment (a DNS-1123 label), e.g. staging or prod', placeholder: 'ENV' },
    image: { type: 'string', required: true, help: 'the image reference with its tag (and optional @sha256 digest), e.g. the output of mlloop tag', placeholder: 'IMAGE' },
    'model-version': { type: 'string', required: true, help: 'the model version, e.g. ocr-v3.2 (ordered like semantic versions: an older one is refused)', placeholder: 'V' },
    'source-commit': { type: 'string', help: 'the model repository commit the image was built from (40 hex)', placeholder: 'SHA' },
    dataset: { type: 'string', help: 'the dataset the model was trained or evaluated on', placeholder: 'NAME' },
    'run-url': { type: 'string', help: 'URL of the CI run that produced this release', placeholder: 'URL' },
    metrics: { type: 'path', help: 'metrics.json of the release: copied next to release.json (a baseline for later gates); headline numbers go into the Metrics trailer', placeholder: 'FILE' },
    samples: { type: 'path', help: 'samples.jsonl (mlloop evaluate --samples) kept next to the metrics, for per-image significance tests', placeholder: 'FILE' },
    ...writeOptions,
    ...prOptions,
  },
  outputs: releaseOutputs,
  examples: [
    {
      command:
        'mlloop gitops deploy --repo https://github.com/acme/gitops.git --app ocr --env staging --image registry.example.com/ocr-service:ocr-v3.2-commit-abc1234-20250612110522 --model-version ocr-v3.2 --source-commit $GITHUB_SHA --metrics outputs/metrics.json --samples outputs/samples.jsonl',
      explain: 'deploy to staging (the token comes from $GITOPS_TOKEN)',
    },
    { command: 'mlloop gitops deploy --repo ../gitops --app ocr --env prod --image registry.example.com/ocr-service:ocr-v3.2 --model-version ocr-v3.2 --dry-run', explain: 'show the diff only' },
    { command: 'mlloop gitops deploy --repo https://github.com/acme/gitops.git --app ocr --env prod --image … --model-version ocr-v3.2 --pr', explain: 'open (or update) the pull request mlloop/ocr-prod instead of pushing to a protected branch' },
  ],
  async run(o, ctx) {
    const [{ deploy }, { runRelease }] = await Promise.all([import('../core/gitops/ops.js'), import('../core/gitops/report.js')]);
    const input = { app: o.app, env: o.env, image: o.image, modelVersion: o.modelVersion, sourceCommit: o.sourceCommit, dataset: o.dataset, runUrl: o.runUrl, metrics: o.metrics, samples: o.samples };
    return runRelease('deploy', o, { app: o.app, env: o.env }, ctx, (repo) => deploy(input, repo));
  },
});
