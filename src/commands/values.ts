import * as path from 'node:path';
import { promises as fs } from 'node:fs';
import { defineCommand } from './define.js';

export const command = defineCommand({
  name: 'values',
  summary: 'render an environment\'s Helm values from a handlebars template and --set overrides, validated like Helm does',
  description:
    'Renders the values of one environment for a chart (by default manifests/charts/model-service): the --template file is a ' +
    'handlebars template of YAML that sees env, app, chart.{name,version,appVersion} and defaults (the chart\'s values.yaml), ' +
    'with the helpers eq, ne, default and json; then --set, --set-string and --set-file are applied with Helm\'s syntax and in Helm\'s ' +
    'order (a.b=1,list[0].x=y,tags={a,b}; \\ escapes; --set types integers, true/false and null as Helm does). The chart\'s defaults ' +
    'coalesced with these values are validated against the chart\'s values.schema.json (JSON Schema draft-07, as helm install does); ' +
    'then, when helm is on PATH, the chart is rendered with them (helm template) and a template that fails is exit 2 naming its file ' +
    'and line (without helm the render check is skipped, with a warning). The file is written atomically. ' +
    'When --out already exists, its image.* and model.version (what gitops deploy set) are kept unless the template or a --set sets them.',
  options: {
    chart: { type: 'path', default: 'manifests/charts/model-service', help: 'the chart folder (Chart.yaml, values.yaml, values.schema.json)', placeholder: 'DIR' },
    env: { type: 'string', required: true, help: 'the environment (a DNS-1123 label), e.g. staging or prod', placeholder: 'ENV' },
    app: { type: 'string', help: 'the app name the template may use ({{app}})', placeholder: 'APP' },
    template: { type: 'path', help: 'handlebars template of the values (YAML)', placeholder: 'FILE' },
    set: { type: 'string', multiple: true, help: 'Helm --set: key=value[,key=value], repeatable (e.g. --set replicaCount=3,gpu.enabled=true --set env[0].name=LOG_LEVEL,env[0].value=info)', placeholder: 'K=V' },
    'set-string': { type: 'string', multiple: true, help: 'Helm --set-string: like --set, every value stays a string (e.g. --set-string model.version=3.10)', placeholder: 'K=V' },
    'set-file': { type: 'string', multiple: true, help: 'Helm --set-file: key=FILE, the value is the file\'s content (e.g. --set-file podAnnotations.notes=NOTES.txt)', placeholder: 'K=FILE' },
    out: { type: 'path', required: true, help: 'where to write the values, e.g. apps/ocr/prod/values.yaml in a GitOps checkout', placeholder: 'FILE' },
  },
  outputs: { path: 'the values file written', values: 'the values as JSON' },
  examples: [
    { command: 'mlloop values --env prod --app ocr --template deploy/values.hbs.yaml --set replicaCount=4 --set gpu.enabled=true --out gitops/apps/ocr/prod/values.yaml', explain: 'prod values with a GPU' },
    { command: 'mlloop values --chart manifests/charts/model-service --env staging --set rollout.enabled=false --out staging.yaml', explain: 'a plain Deployment for staging' },
  ],
  async run(o, ctx) {
    const { readChart, renderValues, writeValues } = await import('../core/values/render.js');
    const { findHelm, helmTemplate } = await import('../core/values/helm.js');
    const { readConfigText } = await import('../core/io/read.js');
    const { checkOutputPath } = await import('../core/io/atomic.js');
    const { readFileSync } = await import('node:fs');
    const { ConfigurationError } = await import('../core/errors.js');
    const chartDir = path.resolve(ctx.cwd, o.chart);
    const chart = await readChart(chartDir, o.chart);
    const sets = [...o.set.map((text) => ({ kind: 'set' as const, text })), ...o.setString.map((text) => ({ kind: 'set-string' as const, text })), ...o.setFile.map((text) => ({ kind: 'set-file' as const, text }))];
    const readFile = (file: string) => {
      try {
        return readFileSync(path.resolve(ctx.cwd, file), 'utf8');
      } catch (e) {
        throw new ConfigurationError(`--set-file cannot read the file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file, hint: 'give key=FILE with a readable file (relative to the working directory)' });
      }
    };
    const out = path.resolve(ctx.cwd, o.out);
    // Before reading the old content: reading a FIFO would block, and a device is never replaced.
    await checkOutputPath(out);
    const previousText = await fs.readFile(out, 'utf8').catch(() => undefined);
    const rendered = await renderValues({
      chart,
      env: o.env,
      app: o.app,
      template: o.template ? { text: await readConfigText(path.resolve(ctx.cwd, o.template), 'values template'), file: o.template } : undefined,
      sets,
      readFile,
      previous: previousText === undefined ? undefined : { text: previousText, file: o.out },
    });
    // The real thing, when it is there: helm template with exactly the values about to be written.
    const helm = findHelm(ctx.env);
    let render: { helm: string; objects: number; templates: string[] } | { skipped: string };
    if (helm) {
      const { stringify } = await import('yaml');
      const checked = await helmTemplate(helm, { chartDir, chartShown: o.chart, release: o.app ?? chart.name, namespace: o.app ? `${o.app}-${o.env}` : o.env, valuesYaml: stringify(rendered.values), cwd: ctx.cwd, env: ctx.env, signal: ctx.signal });
      render = { helm, objects: checked.objects, templates: checked.templates };
    } else {
      render = { skipped: 'helm is not on PATH' };
      ctx.log.warn('helm is not on PATH: values checked against values.schema.json only; the chart was not rendered (helm template). Install helm to check the templates too.');
    }
    await writeValues(out, rendered, `Helm values of ${o.app ? `${o.app} in ` : ''}${o.env} for chart ${chart.name} ${chart.version}, rendered by mlloop values.\nmlloop gitops deploy edits image.* and model.version in place; render again to change the rest.`);
    if (rendered.kept.length) ctx.log.info(`kept from ${o.out}: ${rendered.kept.join(', ')}`);
    return {
      exitCode: 0,
      data: { path: out, env: o.env, chart: { name: chart.name, version: chart.version }, values: rendered.values, kept: rendered.kept, render },
      text: `wrote ${o.out}: values of ${o.env} for ${chart.name} ${chart.version} (validated against values.schema.json${'objects' in render ? `, rendered by helm template: ${render.objects} objects` : ''})`,
      outputs: { path: out, values: JSON.stringify(rendered.values) },
    };
  },
});
