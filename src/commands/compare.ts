import { defineCommand } from './define.js';
import { ConfigurationError } from '../core/errors.js';

export const command = defineCommand({
  name: 'compare',
  summary: 'write the comparison report of two evaluations: HTML summary, sample diff, Markdown, metadata and a PDF',
  description:
    'Writes compare_reports/<candidate>_vs_<baseline>/ with summary_metrics.html (metric, baseline, candidate, delta, highlight, note: ' +
    'regressions highlighted, a latency increase flagged), samples_diff.html (the images where the two models differ, wrong fields ' +
    'highlighted, before/after), report.md, metadata.json (versions, dataset, job ids, report id) and report.pdf (cover, metric bar chart, ' +
    'table, typical error samples, recommendation; footer with versions and ids) printed by headless Chromium. Charts are inline SVG: ' +
    'metric bars, per-field deltas, a radar of metrics and, with --history, a trend line over versions. Nothing is loaded from or sent to ' +
    'the network. With per-image samples the report also states the paired-bootstrap p-value of the F1 difference; with --verdict the ' +
    'recommendation follows the gate.',
  options: {
    candidate: { type: 'path', required: true, help: 'metrics.json of the candidate model', placeholder: 'FILE' },
    baseline: { type: 'path', required: true, help: 'metrics.json of the baseline model', placeholder: 'FILE' },
    'candidate-samples': { type: 'path', help: 'per-image samples of the candidate (evaluate --samples), for the sample diff and the p-value', placeholder: 'FILE' },
    'baseline-samples': { type: 'path', help: 'per-image samples of the baseline', placeholder: 'FILE' },
    history: { type: 'path', help: 'past evaluations for the trend chart: JSONL (metrics.json per line, or {"model_version", "metrics"}), or a history store (postgres:// URL or embedded store folder, see mlloop history)', placeholder: 'FILE' },
    'out-dir': { type: 'path', default: 'compare_reports', help: 'folder that receives <candidate>_vs_<baseline>/', placeholder: 'DIR' },
    verdict: { type: 'path', help: 'verdict.json of `mlloop gate`: the recommendation follows it', placeholder: 'FILE' },
    evaluator: { type: 'string', help: 'who evaluated, for the cover [default: GITHUB_ACTOR, else USER]', placeholder: 'NAME' },
    'job-id': { type: 'string', help: 'job id for the footer and metadata [default: GITHUB_RUN_ID]', placeholder: 'ID' },
    'max-samples': { type: 'integer', min: 0, default: 200, help: 'most differing images listed in samples_diff.html', placeholder: 'N' },
    pdf: { type: 'boolean', default: true, help: 'print report.pdf with headless Chromium (--no-pdf to skip)' },
    chromium: { type: 'path', help: 'the Chromium or Chrome that prints the PDF (default: $MLLOOP_CHROMIUM or $CHROME_PATH, else chromium, chromium-browser, google-chrome or google-chrome-stable on PATH, else their usual install paths)', placeholder: 'PATH' },
    'allow-incomparable': { type: 'boolean', help: 'compare evaluations of different datasets or settings (recorded in metadata.json)' },
    lang: { type: 'string', default: 'auto', help: 'language the HTML and PDF declare (<html lang>), e.g. zh-CN or en; auto: zh-CN when the labels, values or names hold Chinese text, else en', placeholder: 'TAG' },
  },
  outputs: {
    'report-dir': 'the report folder',
    'report-id': 'the report UUID (also in metadata.json and the PDF footer)',
    'report-pdf': 'path of report.pdf (empty with pdf: false)',
    recommendation: 'yes, warn or no',
  },
  examples: [
    {
      command: 'mlloop compare --candidate eval/v3.0/metrics.json --baseline eval/v2.5/metrics.json --candidate-samples eval/v3.0/samples.jsonl --baseline-samples eval/v2.5/samples.jsonl',
      explain: 'writes compare_reports/ocr-v3.0_vs_ocr-v2.5/ with the HTML, Markdown, metadata and PDF',
    },
    { command: 'mlloop compare --candidate new.json --baseline prod.json --history eval_history.jsonl --verdict verdict.json --no-pdf', explain: 'with a trend chart over past versions, the gate\'s decision, and no PDF' },
  ],
  async run(o, ctx) {
    if (o.lang !== 'auto' && !/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(o.lang)) {
      throw new ConfigurationError(`--lang must be a language tag such as zh-CN or en, or auto, not "${o.lang}"`, { hint: 'see mlloop compare --help' });
    }
    const { compareCommand } = await import('../core/report/run.js');
    const r = await compareCommand(o, ctx);
    const rec = r.model.recommendation;
    const rel = (p: string) => p.replace(`${ctx.cwd}/`, '');
    const summary = (await import('../core/report/render.js')).reportMarkdown(r.model);
    return {
      exitCode: 0,
      data: { report_dir: r.dir, report_id: r.model.id, files: r.files, recommendation: rec, significance: r.model.test, images_differing: r.model.diffsTotal },
      text: [`report ${r.model.id}: ${rel(r.dir)}/`, ...r.files.map((f) => `  ${rel(f)}`), rec.text].join('\n'),
      summary,
      outputs: { 'report-dir': r.dir, 'report-id': r.model.id, 'report-pdf': o.pdf ? `${r.dir}/report.pdf` : '', recommendation: rec.level },
    };
  },
});
