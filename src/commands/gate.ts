import { defineCommand } from './define.js';
import { FORGE_CHOICES } from '../core/gitlab/forge.js';

export const command = defineCommand({
  name: 'gate',
  summary: 'decide whether a candidate model may replace the baseline: bounds, regressions, per-field limits, significance',
  description:
    'Compares the candidate\'s metrics.json with the baseline\'s under a mlloop/gate@1 policy (schemas/gate.schema.json): ' +
    'absolute bounds, allowed regression (absolute and relative), required improvement, per-field limits with a minimum support, ' +
    'and a significance test on paired per-image samples (paired-bootstrap, mcnemar, permutation; Holm or BH across fields). ' +
    'Fails closed: a metric named in the policy but missing, NaN or not a number on either side fails the gate. Refuses (exit 2) ' +
    'to compare models evaluated on different datasets or with different evaluation config, unless --allow-incomparable. ' +
    'The baseline is a file, the release deployed in a GitOps environment (--baseline-gitops), or the artifact of the latest ' +
    'successful run on the base branch (--baseline-artifact). Writes the mlloop/verdict@1 JSON; exit 0 pass, 1 fail. ' +
    'With --comment the report becomes one sticky comment on the pull request, updated in place; on a fork\'s pull request ' +
    '(read-only token) the body is written to a file and the comment-body output instead, for `mlloop comment` in a workflow_run workflow. ' +
    'In a GitLab merge request pipeline (or with --forge gitlab) the report becomes the one sticky note of the merge request.',
  options: {
    candidate: { type: 'path', required: true, help: 'metrics.json of the candidate model', placeholder: 'FILE' },
    baseline: { type: 'path', help: 'metrics.json of the baseline model', placeholder: 'FILE' },
    policy: { type: 'path', default: 'gate.yaml', help: 'the gate policy (mlloop/gate@1 YAML)', placeholder: 'FILE' },
    'candidate-samples': { type: 'path', help: 'per-image samples of the candidate (evaluate --samples), for the significance test', placeholder: 'FILE' },
    'baseline-samples': { type: 'path', help: 'per-image samples of the baseline [default: the release\'s or artifact\'s samples file]', placeholder: 'FILE' },
    'baseline-gitops': { type: 'string', help: 'GitOps repository (path or git URL): the baseline is what apps/<app>/<env>/release.json points at', placeholder: 'REPO' },
    'baseline-gitops-ref': { type: 'string', help: 'branch of the GitOps repository [default: its default branch]', placeholder: 'BRANCH' },
    app: { type: 'string', help: 'application in the GitOps repository (with --baseline-gitops)', placeholder: 'APP' },
    env: { type: 'string', help: 'environment in the GitOps repository (with --baseline-gitops)', placeholder: 'ENV' },
    'baseline-artifact': { type: 'string', help: 'name of the artifact of the latest successful run on the base branch that holds the baseline', placeholder: 'NAME' },
    'baseline-artifact-metrics': { type: 'string', default: 'metrics.json', help: 'path of the metrics file inside that artifact', placeholder: 'PATH' },
    'baseline-artifact-samples': { type: 'string', help: 'path of the samples file inside that artifact', placeholder: 'PATH' },
    'base-branch': { type: 'string', help: 'branch whose runs hold the baseline artifact [default: the pull request\'s base branch, else main]', placeholder: 'BRANCH' },
    out: { type: 'path', default: 'verdict.json', help: 'where the verdict (mlloop/verdict@1) is written', placeholder: 'FILE' },
    'allow-incomparable': { type: 'boolean', help: 'compare even when the datasets or evaluation configs differ (recorded in the verdict)' },
    comment: { type: 'boolean', help: 'post the report as a sticky comment on the pull request (needs a token and a PR)' },
    'comment-file': { type: 'path', help: 'where the comment body is written [default: mlloop-comment.md next to --out, when --comment]', placeholder: 'FILE' },
    pr: { type: 'integer', min: 1, help: 'pull request number; on GitLab the merge request IID [default: from the workflow event, on GitLab CI_MERGE_REQUEST_IID]', placeholder: 'N' },
    marker: { type: 'string', help: 'name of the sticky comment [default: the policy\'s name, else "gate"]', placeholder: 'NAME' },
    repository: { type: 'string', help: 'owner/name of the repository; on GitLab the project id or path [default: GITHUB_REPOSITORY, on GitLab CI_PROJECT_ID]', placeholder: 'OWNER/NAME' },
    token: { type: 'string', secret: true, env: 'GITHUB_TOKEN', help: 'GitHub token for the comment and the baseline artifact (pull-requests: write, actions: read); on GitLab an access token with the api scope [default: GITLAB_TOKEN]', placeholder: 'TOKEN' },
    'api-url': { type: 'string', help: 'REST API URL [default: GITHUB_API_URL, else https://api.github.com; on GitLab CI_API_V4_URL, else https://gitlab.com/api/v4]', placeholder: 'URL' },
    forge: { type: 'enum', choices: FORGE_CHOICES, default: 'auto', help: 'where --comment posts: github (a pull request comment) or gitlab (a merge request note); auto: gitlab inside a GitLab CI job (CI_API_V4_URL set), else github' },
  },
  outputs: {
    pass: 'true when every check passed',
    'verdict-path': 'path of the verdict JSON',
    'failed-checks': 'the failed checks, one per line',
    'p-value': 'p-value of the significance test (empty without one)',
    'comment-body': 'the PR comment body (for a workflow_run workflow when the token is read-only)',
    'comment-file': 'file holding the comment body',
    'comment-url': 'URL of the sticky comment, when it was written',
  },
  examples: [
    { command: 'mlloop gate --candidate outputs/metrics.json --baseline prod/metrics.json --policy gate.yaml', explain: 'absolute bounds and regressions against a baseline file; exit 1 when a check fails' },
    {
      command: 'mlloop gate --candidate metrics.json --candidate-samples samples.jsonl --baseline-gitops https://github.com/acme/gitops.git --app ocr --env prod --policy gate.yaml',
      explain: 'against what prod runs (its release.json names the metrics and samples), with the significance test of the policy',
    },
    { command: 'mlloop gate --candidate metrics.json --baseline base.json --comment --pr 42 --repository acme/ocr --json', explain: 'post or update the sticky report on PR #42 and print the verdict as JSON' },
    { command: 'mlloop gate --candidate metrics.json --baseline base.json --comment', explain: 'in a GitLab merge request pipeline: the report as the sticky note of the merge request (token from GITLAB_TOKEN)' },
  ],
  async run(o, ctx) {
    const { gateCommand } = await import('../core/gate/run.js');
    const { verdictText } = await import('../core/gate/render.js');
    const r = await gateCommand(o, ctx);
    const v = r.verdict;
    const p = v.significance?.overall.p_value;
    return {
      exitCode: v.pass ? 0 : 1,
      failure: v.pass ? undefined : `gate ${v.gate} failed: ${v.failed.join('; ')}`,
      data: { ...v, verdict_path: r.verdictPath, comment: r.comment },
      text: `${verdictText(v)}\nverdict: ${o.out}`,
      summary: r.markdown,
      outputs: {
        pass: v.pass,
        'verdict-path': r.verdictPath,
        'failed-checks': v.failed.join('\n'),
        'p-value': p === undefined ? '' : p,
        'comment-body': r.body ?? '',
        'comment-file': r.bodyFile ?? '',
        'comment-url': r.comment?.url ?? '',
      },
    };
  },
});
