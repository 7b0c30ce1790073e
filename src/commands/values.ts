import * as path from 'node:path';
import { promises as fs } from 'node:fs';
import { defineCommand } from './define.js';

export const command = defineCommand({
  name: 'values',
  summary: 'render an environment\'s Helm values from a handlebars template and --set overrides, validated like Helm does',
  description:
    'Renders the values of one environment for a chart (by default manifests/charts/model-service): the --template file is a ' +
    'handlebars template of YAML that sees env, app, chart.{name,version,appVersion} and defaults (the chart\'s values.yaml), ' +
    'with the helpers eq, ne, default and json; then each --set key=value is applied (dotted keys; numbers and true/false are ' +
    'typed, null deletes; --set-string keeps a string). The chart\'s defaults coalesced with these values are validated ' +
    'against the chart\'s values.schema.json (JSON Schema draft-07, as helm install does) before the file is written, atomically. ' +
    'When --out already exists, its image.* and model.version (what gitops deploy set) are kept unless the template or a --set sets them.',
  options: {
    chart: { type: 'path', default: 'manifests/charts/model-service', help: 'the chart folder (Chart.yaml, values.yaml, values.schema.json)', placeholder: 'DIR' },
    env: { type: 'string', required: true, help: 'the environment (a DNS-1123 label), e.g. staging or prod', placeholder: 'ENV' },
    app: { type: 'string', help: 'the app name the template may use ({{app}})', placeholder: 'APP' },
    template: { type: 'path', help: 'handlebars template of the values (YAML)', placeholder: 'FILE' },
    set: { type: 'string', multiple: true, help: 'key=value override, repeatable (e.g. --set replicaCount=3 --set gpu.enabled=true)', placeholder: 'K=V' },
    'set-string': { type: 'string', multiple: true, help: 'key=value override whose value stays a string (e.g. --set-string model.version=3.10)', placeholder: 'K=V' },
    out: { type: 'path', required: true, help: 'where to write the values, e.g. apps/ocr/prod/values.yaml in a GitOps checkout', placeholder: 'FILE' },
  },
  outputs: { path: 'the values file written', values: 'the values as JSON' },
  examples: [
    { command: 'mlloop values --env prod --app ocr --template deploy/values.hbs.yaml --set replicaCount=4 --set gpu.enabled=true --out gitops/apps/ocr/prod/values.yaml', explain: 'prod values with a GPU' },
    { command: 'mlloop values --chart manifests/charts/model-service --env staging --set rollout.enabled=false --out staging.yaml', explain: 'a plain Deployment for staging' },
  ],
  async run(o, ctx) {
    const { readChart, parseSet, renderValues, writeValues } = await import('../core/values/render.js');
    const { readText } = await import('../core/io/read.js');
    const chartDir = path.resolve(ctx.cwd, o.chart);
    const chart = await readChart(chartDir, o.chart);
    const sets = [...o.set.map((s) => parseSet(s, true)), ...o.setString.map((s) => parseSet(s, false, '--set-string'))];
    const out = path.resolve(ctx.cwd, o.out);
    const previousText = await fs.readFile(out, 'utf8').catch(() => undefined);
    const rendered = await renderValues({
      chart,
      env: o.env,
      app: o.app,
      template: o.template ? { text: await readText(path.resolve(ctx.cwd, o.template), 'template'), file: o.template } : undefined,
      sets,
      previous: previousText === undefined ? undefined : { text: previousText, file: o.out },
    });
    await writeValues(out, rendered, `Helm values of ${o.app ? `${o.app} in ` : ''}${o.env} for chart ${chart.name} ${chart.version}, rendered by mlloop values.\nmlloop gitops deploy edits image.* and model.version in place; render again to change the rest.`);
    if (rendered.kept.length) ctx.log.info(`kept from ${o.out}: ${rendered.kept.join(', ')}`);
    return {
      exitCode: 0,
      data: { path: out, env: o.env, chart: { name: chart.name, version: chart.version }, values: rendered.values, kept: rendered.kept },
      text: `wrote ${o.out}: values of ${o.env} for ${chart.name} ${chart.version} (validated against values.schema.json)`,
      outputs: { path: out, values: JSON.stringify(rendered.values) },
    };
  },
});
