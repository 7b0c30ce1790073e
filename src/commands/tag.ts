import { defineCommand } from './define.js';

export const command = defineCommand({
  name: 'tag',
  summary: 'the image tag <model>-v<version>-commit-<sha7>-<yyyymmddHHMMss> and OCI labels, ready for docker/build-push-action',
  description:
    'Builds the image tag from the model name, version, commit and build time (UTC), e.g. ocr-v3.2-commit-abc1234-20250612110522, ' +
    'and the OCI labels org.opencontainers.image.{title,version,revision,created,source} plus io.mlloop.{model-version,dataset}. ' +
    'The tag is checked against the Docker tag grammar ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}) and, with --image, the whole reference ' +
    'against the image reference grammar. The outputs tags and labels are newline-separated, as docker/build-push-action reads them.',
  options: {
    model: { type: 'string', required: true, help: 'the model name, e.g. ocr', placeholder: 'NAME' },
    version: { type: 'string', required: true, help: 'the model version: 3.2, v3.2 or ocr-v3.2', placeholder: 'V' },
    sha: { type: 'string', required: true, help: 'the model repository commit (e.g. $GITHUB_SHA); its first 7 digits go into the tag', placeholder: 'SHA' },
    time: { type: 'string', help: 'build time, ISO-8601 (a time without a zone is UTC) [default: now]', placeholder: 'ISO-8601' },
    image: { type: 'string', help: 'image repository without tag, e.g. registry.example.com/ocr-service: tags become full references', placeholder: 'REPO' },
    source: { type: 'string', help: 'source repository URL for org.opencontainers.image.source [default: $GITHUB_SERVER_URL/$GITHUB_REPOSITORY on a runner]', placeholder: 'URL' },
    dataset: { type: 'string', help: 'the training dataset, for the io.mlloop.dataset label', placeholder: 'NAME' },
  },
  outputs: {
    tags: 'image references (newline-separated), for docker/build-push-action tags',
    labels: 'OCI labels as key=value lines, for docker/build-push-action labels',
    version: 'the image tag, e.g. ocr-v3.2-commit-abc1234-20250612110522',
    'model-version': 'the model version as gitops deploy takes it, e.g. ocr-v3.2',
  },
  examples: [
    { command: 'mlloop tag --model ocr --version 3.2 --sha $GITHUB_SHA --image registry.example.com/ocr-service', explain: 'registry.example.com/ocr-service:ocr-v3.2-commit-abc1234-20250612110522 and its labels' },
    { command: 'mlloop tag --model ocr --version v3.2 --sha abc1234 --time 2025-06-12T11:05:22Z --json', explain: 'a reproducible tag (fixed time) as JSON' },
  ],
  async run(o, ctx) {
    const { imageTag, parseTime } = await import('../core/tag/tag.js');
    const source = o.source ?? (ctx.runner.repository ? `${ctx.runner.serverUrl.replace(/\/+$/, '')}/${ctx.runner.repository}` : undefined);
    const r = imageTag({ model: o.model, version: o.version, sha: o.sha, time: o.time ? parseTime(o.time) : ctx.now(), image: o.image, source, dataset: o.dataset });
    const labels = Object.entries(r.labels).map(([k, v]) => `${k}=${v}`);
    return {
      exitCode: 0,
      data: r,
      text: [...r.tags, '', ...labels].join('\n'),
      summary: `### mlloop tag\n\n\`${r.tags.join('`, `')}\`\n\n${labels.map((l) => `- \`${l}\``).join('\n')}\n`,
      outputs: { tags: r.tags.join('\n'), labels: labels.join('\n'), version: r.tag, 'model-version': r.model_version },
    };
  },
});
