import { defineCommand } from './define.js';
import { appOption, prOptions, releaseOutputs, repoOptions, writeOptions } from '../core/gitops/options.js';

export const command = defineCommand({
  name: 'gitops promote',
  summary: 'copy the release one environment runs to another (staging → prod), with its provenance',
  description:
    'Reads apps/<app>/<from>/release.json and deploys the same image and model version to apps/<app>/<to>/: values.yaml is ' +
    'edited in place, release.json keeps the provenance (source commit, dataset, metrics) with action "promote" and ' +
    'promoted_from, and the metrics/samples copies travel along. The same rules as deploy apply to the target: no ' +
    'quarantined version, no older release over a newer one, no commit when nothing changes.',
  options: {
    ...repoOptions,
    ...appOption,
    from: { type: 'string', required: true, help: 'the environment whose release is promoted, e.g. staging', placeholder: 'ENV' },
    to: { type: 'string', required: true, help: 'the environment that receives it, e.g. prod', placeholder: 'ENV' },
    'run-url': { type: 'string', help: 'URL of the CI run that promotes (kept in the Run-Url trailer) [default: the source release\'s]', placeholder: 'URL' },
    ...writeOptions,
    ...prOptions,
  },
  outputs: releaseOutputs,
  examples: [
    { command: 'mlloop gitops promote --repo https://github.com/acme/gitops.git --app ocr --from staging --to prod', explain: 'promote what staging runs to prod' },
    { command: 'mlloop gitops promote --repo https://github.com/acme/gitops.git --app ocr --from staging --to prod --pr', explain: 'through a pull request, for a protected production branch' },
  ],
  async run(o, ctx) {
    const [{ promote }, { runRelease }] = await Promise.all([import('../core/gitops/ops.js'), import('../core/gitops/report.js')]);
    return runRelease('promote', o, { app: o.app, env: o.to }, ctx, (repo) => promote({ app: o.app, from: o.from, to: o.to, runUrl: o.runUrl }, repo));
  },
});
