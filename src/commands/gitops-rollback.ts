import { defineCommand } from './define.js';
import { appOption, prOptions, releaseOutputs, repoOptions, writeOptions } from '../core/gitops/options.js';

export const command = defineCommand({
  name: 'gitops rollback',
  summary: 'roll an environment back through Git: restore the newest earlier release that is not quarantined, quarantine the bad one',
  description:
    'Finds the commit that deployed what apps/<app>/<env> runs now, restores the newest earlier release from the history ' +
    'of release.json that is neither that version nor quarantined (values.yaml edited in place; its metrics/samples copies ' +
    'restored), adds the bad version and image to quarantine.yaml so no later deploy brings it back, and commits with ' +
    'Rollback-Of and Reason trailers. An environment already rolled back (its release a rollback, the replaced release ' +
    'quarantined) is left as it is: exit 0, no commit, so retries and duplicate events are green. Otherwise a release ' +
    'that is itself a rollback is never rolled back automatically: a person chooses with --to <version>.',
  options: {
    ...repoOptions,
    ...appOption,
    env: { type: 'string', required: true, help: 'the environment to roll back', placeholder: 'ENV' },
    reason: { type: 'string', required: true, help: 'why, in one line (kept in the Reason trailer and in quarantine.yaml), e.g. "canary analysis failed: latency_ms.p95=412 > 200"', placeholder: 'TEXT' },
    to: { type: 'string', help: 'roll back to this earlier model version (a person\'s choice; needed when the current release is itself a rollback)', placeholder: 'V' },
    'run-url': { type: 'string', help: 'URL of the run that decided the rollback', placeholder: 'URL' },
    ...writeOptions,
    ...prOptions,
  },
  outputs: { ...releaseOutputs, 'rollback-of': 'the commit that deployed the release rolled back', quarantined: 'the model version added to quarantine.yaml' },
  examples: [
    { command: 'mlloop gitops rollback --repo https://github.com/acme/gitops.git --app ocr --env prod --reason "canary analysis failed: latency_ms.p95=412 > 200"', explain: 'automatic rollback after a failed canary' },
    { command: 'mlloop gitops rollback --repo ../gitops --app ocr --env prod --to ocr-v3.0 --reason "back to the last audited model"', explain: 'a person picks the version' },
  ],
  async run(o, ctx) {
    const [{ rollback }, { runRelease }] = await Promise.all([import('../core/gitops/ops.js'), import('../core/gitops/report.js')]);
    let rolledBack: { commit: string; model_version: string } | undefined;
    const result = await runRelease('rollback', o, { app: o.app, env: o.env }, ctx, async (repo) => {
      const out = await rollback({ app: o.app, env: o.env, reason: o.reason, to: o.to, runUrl: o.runUrl }, repo);
      rolledBack = out.rolledBack;
      return out;
    });
    result.outputs = { ...result.outputs, 'rollback-of': rolledBack?.commit ?? '', quarantined: rolledBack?.model_version ?? '' };
    return result;
  },
});
