import { defineCommand } from './define.js';
import { dbOption } from './history-push.js';

export const command = defineCommand({
  name: 'site',
  summary: 'a static registry site: every model version, its metrics, where it runs, trends and comparisons',
  description:
    'Writes a static site (no server; publish it with GitHub Pages) from the evaluation history and, with --gitops, the GitOps ' +
    'repository: every model version with its metrics, dataset, source commit, run link, image, the environments it runs in now ' +
    'and its deploys, promotions and rollbacks with their reason and quarantine; a line chart per metric across versions; ' +
    'month-by-month best F1; and, for every pair of versions on a dataset, a comparison page with a radar chart, the per-field ' +
    'changes and, where samples were pushed, the images that differ. Pages are pre-rendered, so they read without JavaScript; a ' +
    'small inline script only lets the version pickers jump to a comparison. Charts are inline SVG; nothing loads from the network.',
  options: {
    out: { type: 'path', required: true, help: 'the folder to write the site into', placeholder: 'DIR' },
    gitops: { type: 'string', help: 'the GitOps repository (URL or local path) for releases, rollbacks and quarantine', placeholder: 'URL|PATH' },
    'gitops-branch': { type: 'string', default: 'main', help: 'branch of the GitOps repository', placeholder: 'BRANCH' },
    token: { type: 'string', secret: true, env: 'GITOPS_TOKEN', help: 'HTTPS token for the GitOps repository [default: $GITOPS_TOKEN]', placeholder: 'TOKEN' },
    ...dbOption,
  },
  outputs: { pages: 'number of pages written', dir: 'the folder of the site' },
  examples: [
    { command: 'mlloop site --out site', explain: 'the site of the embedded store .mlloop/history' },
    { command: 'mlloop site --db "$MLLOOP_HISTORY_DB" --gitops https://github.com/acme/gitops.git --out _site', explain: 'with where each version runs and its rollbacks' },
  ],
  async run(o, ctx) {
    const path = await import('node:path');
    const { openHistory } = await import('../core/history/history.js');
    const { buildSite } = await import('../core/site/site.js');
    let gitops;
    if (o.gitops) {
      const { remoteFrom } = await import('../core/gitops/git.js');
      gitops = { remote: remoteFrom({ url: o.gitops, branch: o.gitopsBranch, token: o.token }, ctx.env, (v) => ctx.secret(v)), env: ctx.env, log: ctx.log, signal: ctx.signal, cwd: ctx.cwd };
    }
    const db = await openHistory(o.db, ctx, false);
    try {
      const outDir = path.resolve(ctx.cwd, o.out);
      const r = await buildSite({ db, gitops, outDir, now: ctx.now(), log: ctx.log });
      return {
        exitCode: 0,
        data: { dir: outDir, ...r },
        text: `wrote ${r.pages} page(s) for ${r.versions} version(s)${gitops ? ` and ${r.environments} environment(s)` : ''} into ${outDir} (open index.html)`,
        outputs: { pages: r.pages, dir: outDir },
      };
    } finally {
      await db.close();
    }
  },
});
