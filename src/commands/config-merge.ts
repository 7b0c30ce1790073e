import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { defineCommand } from './define.js';

export const command = defineCommand({
  name: 'config merge',
  summary: 'merge a versioned platform training template with a user\'s overrides into the job\'s full config, with provenance',
  description:
    'Reads a platform template (YAML with "template: {name, version}", e.g. ocr-template.yaml) and the user\'s overrides, and writes ' +
    'the full job config: mappings merge key by key, a list replaces the template\'s list whole, null deletes a key, and a key the ' +
    'user set is marked "# overridden by user". Next to it, a provenance record (template@version, job id, commit sha, triggered_by, ' +
    'submit time, merged config path, overridden keys as dotted paths) ties the job to the exact template version. Overrides that ' +
    'pin another template version ("template: {version: …}") are refused; with --strict so are keys the template does not have.',
  options: {
    template: { type: 'path', required: true, help: 'the platform template, e.g. ocr-template.yaml (must have template: {name, version})', placeholder: 'FILE' },
    overrides: { type: 'path', required: true, help: 'the user\'s overrides (only the keys that differ)', placeholder: 'FILE' },
    out: { type: 'path', required: true, help: 'where to write the merged config (YAML)', placeholder: 'FILE' },
    provenance: { type: 'path', help: 'where to write the provenance record [default: <out without extension>.provenance.json]', placeholder: 'FILE' },
    'job-id': { type: 'string', help: 'the training job id [default: a new UUID]', placeholder: 'ID' },
    'commit-sha': { type: 'string', env: 'GITHUB_SHA', help: 'the platform or model repository commit [default: $GITHUB_SHA]', placeholder: 'SHA' },
    'triggered-by': { type: 'string', env: 'GITHUB_ACTOR', help: 'who submitted the job [default: $GITHUB_ACTOR, else $USER]', placeholder: 'USER' },
    'submit-time': { type: 'string', help: 'submission time, ISO-8601 [default: now]', placeholder: 'ISO-8601' },
    strict: { type: 'boolean', help: 'refuse override keys the template does not have (catches typos such as learning_rate for lr)' },
  },
  outputs: {
    config: 'path of the merged config',
    provenance: 'path of the provenance record',
    'job-id': 'the job id',
    'template-used': 'template file@version',
    'overridden-keys': 'the keys the user overrode, dotted, newline-separated',
  },
  examples: [
    { command: 'mlloop config merge --template ocr-template.yaml --overrides job-overrides.yaml --out generated/job.yaml --job-id uuid-998', explain: 'the seed\'s example: job uuid-998 from ocr-template.yaml@v2.1' },
    { command: 'mlloop config merge --template ocr-template.yaml --overrides my.yaml --out merged.yaml --strict --json', explain: 'refuse unknown keys; print the provenance as JSON' },
  ],
  async run(o, ctx) {
    const [{ mergeFiles }, { parseTime }, { textTable }] = await Promise.all([import('../core/config/merge.js'), import('../core/tag/tag.js'), import('../core/format/markdown.js')]);
    const out = path.resolve(ctx.cwd, o.out);
    const provenancePath = o.provenance ? path.resolve(ctx.cwd, o.provenance) : out.replace(/\.(ya?ml|json)$/i, '') + '.provenance.json';
    const jobId = o.jobId ?? randomUUID();
    const { provenance, outcome, suggestions } = await mergeFiles({
      template: path.resolve(ctx.cwd, o.template),
      overrides: path.resolve(ctx.cwd, o.overrides),
      out,
      provenance: provenancePath,
      jobId,
      commitSha: o.commitSha ?? ctx.runner.sha,
      triggeredBy: o.triggeredBy ?? ctx.runner.actor ?? ctx.env.USER,
      submitTime: o.submitTime ? parseTime(o.submitTime, '--submit-time') : ctx.now(),
      strict: o.strict,
      names: { template: o.template, overrides: o.overrides, out: o.out },
    });
    for (const [added, guess] of Object.entries(suggestions)) ctx.log.warn(`"${added}" is not in the template; did you mean "${guess}"? (--strict refuses unknown keys)`);
    const rows = [...outcome.overridden.map((k) => [k, 'overridden']), ...outcome.added.map((k) => [k, 'added']), ...outcome.deleted.map((k) => [k, 'deleted'])];
    return {
      exitCode: 0,
      data: { ...provenance, provenance_path: provenancePath },
      text: [`merged ${provenance.template_used} with ${o.overrides} for job ${jobId} → ${o.out}`, rows.length ? textTable(['key', 'change'], rows) : 'no overrides', `provenance: ${path.relative(ctx.cwd, provenancePath)}`].join('\n'),
      outputs: { config: out, provenance: provenancePath, 'job-id': jobId, 'template-used': provenance.template_used, 'overridden-keys': outcome.overridden.join('\n') },
    };
  },
});
