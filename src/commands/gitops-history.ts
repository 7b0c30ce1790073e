import { defineCommand } from './define.js';
import { appOption, repoOptions } from '../core/gitops/options.js';

export const command = defineCommand({
  name: 'gitops history',
  summary: 'the releases of an app/env, read back from the commit trailers (JSON and a table)',
  description:
    'Clones the GitOps repository and lists the commits that changed apps/<app>/<env>/, newest first, with what their ' +
    'trailers say: action (deploy, promote, rollback), model version, image, source commit, dataset, metrics, run URL, ' +
    'Rollback-Of and Reason. Commits made by hand show up with an empty action.',
  options: {
    ...repoOptions,
    ...appOption,
    env: { type: 'string', required: true, help: 'the environment', placeholder: 'ENV' },
    limit: { type: 'integer', min: 1, help: 'at most this many commits, newest first [default: all]', placeholder: 'N' },
  },
  outputs: { releases: 'the releases as a JSON array, newest first', current: 'the model version of the newest release' },
  examples: [
    { command: 'mlloop gitops history --repo https://github.com/acme/gitops.git --app ocr --env prod', explain: 'a table of what prod ran and why it changed' },
    { command: 'mlloop gitops history --repo ../gitops --app ocr --env prod --limit 5 --json', explain: 'the last five releases as JSON' },
  ],
  async run(o, ctx) {
    const [{ history }, { gitOptionsFrom }, { textTable, mdTable }] = await Promise.all([import('../core/gitops/ops.js'), import('../core/gitops/options.js'), import('../core/format/markdown.js')]);
    const g = gitOptionsFrom(o, ctx);
    const entries = await history({ app: o.app, env: o.env, limit: o.limit }, g);
    const rows = entries.map((e) => [e.date.replace('T', ' ').replace(/([+-]\d\d:\d\d|Z)$/, ''), e.commit.slice(0, 12), e.action ?? '(manual)', e.model_version ?? '', e.rollback_of ? `rollback of ${e.rollback_of.slice(0, 12)}: ${e.reason ?? ''}` : (e.promoted_from ? `from ${e.promoted_from}` : (e.metrics ?? ''))]);
    const headers = ['date (UTC)', 'commit', 'action', 'model version', 'details'];
    const current = entries.find((e) => e.model_version)?.model_version ?? '';
    return {
      exitCode: 0,
      data: { app: o.app, env: o.env, releases: entries },
      text: entries.length ? textTable(headers, rows) : `no commits touch apps/${o.app}/${o.env}/`,
      summary: `### mlloop gitops history: ${o.app}/${o.env}\n\n${entries.length ? mdTable(headers, rows) : '_no releases_'}\n`,
      outputs: { releases: JSON.stringify(entries), current },
    };
  },
});
