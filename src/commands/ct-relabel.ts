import * as path from 'node:path';
import { defineCommand } from './define.js';
import { ConfigurationError } from '../core/errors.js';

export const command = defineCommand({
  name: 'ct relabel',
  summary: 'select the samples worth a human\'s time and export them as Label Studio tasks (optionally post them)',
  description:
    'Reads the inference log (the model_inference_log JSONL) and, optionally, the predictions (mlloop/fields@1) and selects every file where ' +
    'the confidence is below the threshold, the inference failed, a key field is empty, a value fails its format check ' +
    '(dates, 18-digit Chinese ID numbers with their check digit, amounts), a field has too much garbled text, or a field\'s own ' +
    'confidence is below the threshold. Files are ranked by uncertainty (1 − the lowest confidence known) and written as Label Studio ' +
    'tasks: `data` with the image URL and the reasons, and `predictions` for pre-labelling (each field as a rectangle label and its value ' +
    'as per-region text, linked by region id, in percent of the image size, with the model version and score). With --label-studio and ' +
    '--project the tasks are also posted to Label Studio\'s import API in batches within its limits.',
  options: {
    'inference-log': { type: 'path', required: true, help: 'the inference log, JSONL: {"file_id", "confidence_score", "error", "status", "model_version", "timestamp", "fields"?}', placeholder: 'FILE' },
    predictions: { type: 'path', help: 'predictions for the same files (mlloop/fields@1, JSON or JSONL): boxes, values and per-field confidence for pre-labelling', placeholder: 'FILE' },
    docs: { type: 'path', help: 'image sizes: JSON/JSONL of {"image_id", "width", "height"} (e.g. the example\'s docs.jsonl)', placeholder: 'FILE' },
    'image-size': { type: 'string', help: 'image size for images not in --docs, e.g. 1240x1754', placeholder: 'WxH' },
    threshold: { type: 'number', default: 0.6, min: 0, max: 1, help: 'select a file (or field) whose confidence is below this' },
    'key-fields': { type: 'string', multiple: true, help: 'fields that must not be empty (comma-separated too) [default: every label the model produces]', placeholder: 'LABEL' },
    format: { type: 'string', multiple: true, help: 'format check of a field: LABEL=date|cn-id|amount|none [default: guessed from the label: *date* → date, id_number → cn-id, amount → amount]', placeholder: 'LABEL=KIND' },
    'max-garbled': { type: 'number', default: 0.3, min: 0, max: 1, help: 'select a field whose share of garbled characters is above this' },
    since: { type: 'duration', help: 'only inferences newer than this, e.g. 24h' },
    limit: { type: 'integer', min: 1, help: 'export at most this many files (the most uncertain first), e.g. 500 a night' },
    'image-url': { type: 'string', default: '{file_id}', help: 'task image URL; {file_id} is replaced, e.g. s3://scans/{file_id}.png or /data/local-files/?d=scans/{file_id}.png', placeholder: 'TEMPLATE' },
    'data-key': { type: 'string', default: 'image', help: 'task data key the Image tag reads ($image)' },
    'to-name': { type: 'string', default: 'image', help: 'name of the Image tag in the labeling configuration' },
    'rect-name': { type: 'string', default: 'label', help: 'name of the RectangleLabels tag' },
    'text-name': { type: 'string', default: 'transcription', help: 'name of the per-region TextArea tag' },
    out: { type: 'path', default: 'relabel-tasks.json', help: 'where the Label Studio tasks (import JSON) are written', placeholder: 'FILE' },
    'label-studio': { type: 'string', help: 'Label Studio URL to post the tasks to (POST /api/projects/{id}/import)', placeholder: 'URL' },
    project: { type: 'integer', min: 1, help: 'Label Studio project id (with --label-studio)', placeholder: 'ID' },
    token: { type: 'string', secret: true, env: 'LABEL_STUDIO_API_KEY', help: 'Label Studio access token [default: $LABEL_STUDIO_API_KEY]', placeholder: 'TOKEN' },
    'auth-scheme': { type: 'enum', choices: ['Token', 'Bearer'], default: 'Token', help: 'Authorization scheme: Token (legacy token) or Bearer (personal access token)' },
    'batch-size': { type: 'integer', default: 1000, min: 1, max: 250000, help: 'tasks per import request (Label Studio accepts at most 250,000 tasks and 200 MB per request)' },
    'lineage-repo': { type: 'string', help: 'GitOps repository (URL or path) to record the relabel step in (lineage/; token from $GITOPS_TOKEN)', placeholder: 'URL|PATH' },
    'lineage-branch': { type: 'string', default: 'main', help: 'branch of --lineage-repo' },
  },
  outputs: {
    'tasks-path': 'path of the Label Studio tasks JSON',
    selected: 'number of files selected',
    posted: 'number of tasks Label Studio created (0 without --label-studio)',
  },
  examples: [
    {
      command: 'mlloop ct relabel --inference-log inference.jsonl --predictions pred.json --docs sample_data/test/docs.jsonl --limit 500 --out relabel-tasks.json',
      explain: 'the 500 most uncertain files as Label Studio tasks with pre-labelled boxes and values',
    },
    {
      command: 'mlloop ct relabel --inference-log inference.jsonl --since 24h --label-studio https://label.example.com --project 7 --image-url "s3://scans/{file_id}.png"',
      explain: 'last day\'s problem samples posted to project 7 (token from LABEL_STUDIO_API_KEY)',
    },
  ],
  async run(o, ctx) {
    const { relabel } = await import('../core/ct/relabel.js');
    const { FORMAT_KINDS } = await import('../core/ct/formats.js');
    const { textTable, mdTable } = await import('../core/format/markdown.js');
    const abs = (p: string | undefined) => (p === undefined ? undefined : path.resolve(ctx.cwd, p));
    const formats: Record<string, (typeof FORMAT_KINDS)[number]> = {};
    for (const f of o.format) {
      const m = /^([^=]+)=(.+)$/.exec(f);
      if (!m || !FORMAT_KINDS.includes(m[2]!.trim() as never)) throw new ConfigurationError(`--format "${f}" must be LABEL=${FORMAT_KINDS.join('|')}`);
      formats[m[1]!.trim()] = m[2]!.trim() as (typeof FORMAT_KINDS)[number];
    }
    let imageSize: { width: number; height: number } | undefined;
    if (o.imageSize) {
      const m = /^(\d+)x(\d+)$/i.exec(o.imageSize.trim());
      if (!m || Number(m[1]) === 0 || Number(m[2]) === 0) throw new ConfigurationError(`--image-size "${o.imageSize}" must be WIDTHxHEIGHT in pixels, e.g. 1240x1754`);
      imageSize = { width: Number(m[1]), height: Number(m[2]) };
    }
    const token = o.token ?? ctx.env.LABEL_STUDIO_API_KEY;
    ctx.secret(token);
    if (o.labelStudio && o.project === undefined) throw new ConfigurationError('--label-studio needs --project (the project id in the project URL)');
    if (o.labelStudio && !token) throw new ConfigurationError('--label-studio needs an access token', { hint: 'pass --token or set LABEL_STUDIO_API_KEY (Account & Settings → Access Token)' });
    if (o.labelStudio && !/^https?:\/\//.test(o.labelStudio)) throw new ConfigurationError(`--label-studio "${o.labelStudio}" must be an http(s) URL`);
    const r = await relabel({
      inferenceLog: abs(o.inferenceLog)!,
      predictions: abs(o.predictions),
      docs: abs(o.docs),
      imageSize,
      since: o.since !== undefined ? ctx.now().getTime() - o.since : undefined,
      rules: { threshold: o.threshold, keyFields: o.keyFields.flatMap((k) => k.split(',')).map((k) => k.trim()).filter(Boolean), formats, maxGarbled: o.maxGarbled },
      limit: o.limit,
      imageUrl: o.imageUrl,
      names: { dataKey: o.dataKey, toName: o.toName, rectangles: o.rectName, text: o.textName },
      out: abs(o.out)!,
      post: o.labelStudio ? { url: o.labelStudio, project: o.project!, token: token!, scheme: o.authScheme, batchSize: o.batchSize } : undefined,
      log: ctx.log,
      signal: ctx.signal,
    });
    let lineage: { record: string; commit: string; changed: boolean } | null = null;
    if (o.lineageRepo && r.selected.length) {
      const { buildRecord } = await import('../core/lineage/record.js');
      const { appendLineage } = await import('../core/lineage/store.js');
      const { remoteFrom } = await import('../core/gitops/git.js');
      const remote = remoteFrom({ url: o.lineageRepo, branch: o.lineageBranch }, ctx.env, (v) => ctx.secret(v));
      const versions = [...new Set(r.selected.map((c) => c.model_version).filter((v): v is string => v !== null))];
      const record = await buildRecord({
        kind: 'relabel',
        model: versions.length === 1 ? versions[0] : undefined,
        tasks: abs(o.out)!,
        data: [],
        gt: [],
        actor: ctx.runner.actor ?? ctx.env.USER ?? 'mlloop',
        time: ctx.now(),
        cwd: ctx.cwd,
      });
      const w = await appendLineage({ remote, records: [record], env: ctx.env, log: ctx.log, cwd: ctx.cwd, signal: ctx.signal });
      lineage = { record: record.id, commit: w.commit, changed: w.changed };
    }
    const counts = new Map<string, number>();
    for (const c of r.selected) for (const code of new Set(c.reasons.map((x) => x.code))) counts.set(code, (counts.get(code) ?? 0) + 1);
    const top = r.selected.slice(0, 10).map((c) => [c.file_id, c.uncertainty.toFixed(3), c.reasons.map((x) => x.detail).join('; ')]);
    const posted = r.posted ? `; posted ${r.posted.task_count} task(s) to project ${o.project} in ${r.posted.batches} batch(es)` : '';
    const head = `selected ${r.selected.length} of ${r.considered} file(s) for relabelling → ${o.out}${posted}${lineage ? `; lineage record ${lineage.record}` : ''}`;
    const text = [head, counts.size ? textTable(['reason', 'files'], [...counts].map(([k, v]) => [k, v])) : '', top.length ? textTable(['file_id', 'uncertainty', 'why'], top) : ''].filter(Boolean).join('\n\n');
    const summary = [`### mlloop ct relabel: ${r.selected.length} file(s) selected`, '', head, '', counts.size ? mdTable(['reason', 'files'], [...counts], ['l', 'r']) : '', '', top.length ? mdTable(['file_id', 'uncertainty', 'why'], top) : '', ''].join('\n');
    return {
      exitCode: 0,
      data: {
        schema: 'mlloop/relabel@1',
        tasks_path: abs(o.out),
        considered: r.considered,
        selected: r.selected.map((c) => ({ file_id: c.file_id, uncertainty: c.uncertainty, confidence_score: c.confidence_score, model_version: c.model_version, reasons: c.reasons })),
        reasons: Object.fromEntries(counts),
        label_config: r.label_config,
        posted: r.posted,
        lineage,
      },
      text,
      summary,
      outputs: { 'tasks-path': abs(o.out)!, selected: r.selected.length, posted: r.posted?.task_count ?? 0 },
    };
  },
});
