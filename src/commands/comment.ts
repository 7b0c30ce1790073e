import { defineCommand } from './define.js';
import { FORGE_CHOICES } from '../core/gitlab/forge.js';

export const command = defineCommand({
  name: 'comment',
  summary: 'post a prepared report as the one sticky comment of a gate on a pull request',
  description:
    'Creates or updates the sticky comment identified by a hidden marker (<!-- mlloop:NAME -->): every comment of the pull ' +
    'request is paged through and filtered by marker and author, and the one found is updated in place (duplicates from a ' +
    'race are removed). The body is cut to GitHub\'s 65,536-character limit with a pointer to the job summary. Its main use: ' +
    'a pull request from a fork gets a read-only token, so `gate --comment` writes the body to a file instead; a second, ' +
    'trusted workflow (on: workflow_run) downloads that file and runs this command. The PR number and marker default to the ' +
    'sidecar FILE.json that gate writes; --head-sha refuses a body prepared for another commit. ' +
    'On GitLab (inside a GitLab CI job, or --forge gitlab) the same body becomes the one sticky note of the merge request.',
  options: {
    body: { type: 'path', required: true, help: 'the comment body (Markdown), e.g. the comment-file of `mlloop gate --comment`', placeholder: 'FILE' },
    pr: { type: 'integer', min: 1, help: 'pull request number; on GitLab the merge request IID [default: from FILE.json, on GitLab CI_MERGE_REQUEST_IID]', placeholder: 'N' },
    marker: { type: 'string', help: 'name of the sticky comment [default: the marker in the body, else FILE.json, else "gate"]', placeholder: 'NAME' },
    repository: { type: 'string', help: 'owner/name; on GitLab the project id or path [default: GITHUB_REPOSITORY, on GitLab CI_PROJECT_ID]', placeholder: 'OWNER/NAME' },
    'head-sha': { type: 'string', help: 'refuse unless the pull request\'s head is this commit (use github.event.workflow_run.head_sha)', placeholder: 'SHA' },
    token: { type: 'string', secret: true, env: 'GITHUB_TOKEN', help: 'GitHub token with pull-requests: write [default: GITHUB_TOKEN]; on GitLab an access token with the api scope [default: GITLAB_TOKEN]', placeholder: 'TOKEN' },
    'api-url': { type: 'string', help: 'REST API URL [default: GITHUB_API_URL, else https://api.github.com; on GitLab CI_API_V4_URL, else https://gitlab.com/api/v4]', placeholder: 'URL' },
    forge: { type: 'enum', choices: FORGE_CHOICES, default: 'auto', help: 'github (a pull request comment) or gitlab (a merge request note); auto: gitlab inside a GitLab CI job (CI_API_V4_URL set), else github' },
  },
  outputs: {
    'comment-url': 'URL of the sticky comment',
    'comment-id': 'id of the sticky comment',
    action: 'created, updated or unchanged',
  },
  examples: [
    { command: 'mlloop comment --body mlloop-comment.md --pr 42 --repository acme/ocr-fields', explain: 'post or update the report on PR #42 (token from GITHUB_TOKEN)' },
    { command: 'mlloop comment --body mlloop-comment.md', explain: 'in a GitLab merge request pipeline: the sticky note on the merge request (CI_API_V4_URL, CI_PROJECT_ID, CI_MERGE_REQUEST_IID; token from GITLAB_TOKEN)' },
    {
      command: 'mlloop comment --body report/mlloop-comment.md --head-sha "$HEAD_SHA"',
      explain: 'in a workflow_run workflow: PR number and marker from report/mlloop-comment.md.json, checked against the run\'s head commit',
    },
  ],
  async run(o, ctx) {
    const { postComment } = await import('../core/github/post-comment.js');
    const r = await postComment(o, ctx, { summaryUrl: ctx.runner.runUrl });
    return {
      exitCode: 0,
      data: { action: r.action, id: r.id, url: r.url, pr: r.pr, marker: r.marker, repository: r.repository, scanned: r.scanned, removed: r.removed, forge: r.forge },
      text: r.forge === 'gitlab' ? `note ${r.action} on ${r.repository}!${r.pr}: ${r.url}` : `comment ${r.action} on ${r.repository}#${r.pr}: ${r.url}`,
      outputs: { 'comment-url': r.url ?? '', 'comment-id': r.id ?? '', action: r.action },
    };
  },
});
