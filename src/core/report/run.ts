import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Context } from '../../commands/define.js';
import { ConfigurationError } from '../errors.js';
import { writeFilesAtomic, type PendingFile } from '../io/atomic.js';
import { readJson, readJsonl } from '../io/read.js';
import { readMetricsDoc } from '../train/metrics-file.js';
import { readSamples, pairSamples } from '../stats/samples.js';
import { runTest, type TestResult } from '../stats/tests.js';
import { incomparability } from '../gate/comparability.js';
import { VERSION } from '../../version.js';
import { fieldRows, metricRows, recommend, sampleDiffs, type SampleDiff } from './compare.js';
import { pdfFooter, pdfHtml, reportMarkdown, samplesDiffHtml, summaryHtml, type ReportModel } from './render.js';
import { reportLang } from './html.js';
import { isPostgresUrl } from '../history/db.js';

export interface CompareOptions {
  candidate: string;
  baseline: string;
  candidateSamples?: string;
  baselineSamples?: string;
  history?: string;
  outDir: string;
  verdict?: string;
  evaluator?: string;
  jobId?: string;
  maxSamples: number;
  pdf: boolean;
  /** Unset: found by findChromium (MLLOOP_CHROMIUM, CHROME_PATH, PATH, known paths). */
  chromium?: string;
  allowIncomparable: boolean;
  /** The language the pages declare; auto (or absent): zh-CN when the data is Chinese, else en. */
  lang?: string;
}

export interface CompareOutcome {
  dir: string;
  files: string[];
  model: ReportModel;
}

/** A folder name from a model version: letters, digits, dot, dash, underscore. */
function slug(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '').slice(0, 80) || 'model';
}

async function readHistory(file: string, ctx: Context): Promise<{ label: string; values: Record<string, unknown> }[]> {
  const out: { label: string; values: Record<string, unknown> }[] = [];
  const { isHistoryStore, historyLines } = await import('../history/history.js');
  const lines = isHistoryStore(file) ? await historyLines(file, (v) => ctx.secret(v)) : readJsonl(file);
  for await (const { value, line } of lines) {
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ConfigurationError(`line ${line}: must be an object`, { file, hint: 'one JSON object per line: a metrics.json, or {"model_version", "date", "metrics": {…}}' });
    const o = value as Record<string, unknown>;
    const values = o.metrics && typeof o.metrics === 'object' ? (o.metrics as Record<string, unknown>) : o;
    out.push({ label: String(o.model_version ?? o.date ?? `#${out.length + 1}`), values });
  }
  return out;
}

function flatNumbers(v: Record<string, unknown>, paths: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of paths) {
    let cur: unknown = v[p];
    if (cur === undefined) cur = p.split('.').reduce<unknown>((a, k) => (a && typeof a === 'object' ? (a as Record<string, unknown>)[k] : undefined), v);
    if (typeof cur === 'number' && Number.isFinite(cur)) out[p] = cur;
  }
  return out;
}

/** `mlloop compare`: the comparison report folder. */
export async function compareCommand(o: CompareOptions, ctx: Context): Promise<CompareOutcome> {
  const abs = (p: string) => path.resolve(ctx.cwd, p);
  const candidate = await readMetricsDoc(abs(o.candidate), 'candidate metrics');
  const baseline = await readMetricsDoc(abs(o.baseline), 'baseline metrics');
  for (const [file, v] of [[o.candidate, candidate], [o.baseline, baseline]] as const) {
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new ConfigurationError('must be a JSON object of metrics', { file });
  }
  const reasons = incomparability(candidate, baseline);
  if (reasons.length && !o.allowIncomparable) {
    throw new ConfigurationError(`the two evaluations are not comparable: ${reasons.join('; ')}`, { file: `${o.candidate} vs ${o.baseline}`, hint: 'compare evaluations of the same test set with the same settings, or pass --allow-incomparable' });
  }
  if (Boolean(o.candidateSamples) !== Boolean(o.baselineSamples)) throw new ConfigurationError('pass both --candidate-samples and --baseline-samples, or neither');
  type Side = { model_version?: unknown } | undefined;
  const verdict = o.verdict ? ((await readJson(abs(o.verdict), 'verdict')) as { pass?: unknown; failed?: unknown; candidate?: Side; baseline?: Side }) : undefined;
  if (verdict && (typeof verdict.pass !== 'boolean' || !Array.isArray(verdict.failed))) throw new ConfigurationError('not an mlloop/verdict@1 file', { file: o.verdict, hint: 'pass the --out file of `mlloop gate`' });
  // The gate's names first: its baseline may come from a release.json that knows the version its metrics file does not.
  const named = (side: Side, metrics: Record<string, unknown>, file: string) => String([side?.model_version, metrics.model_version].find((v) => typeof v === 'string' && v !== '') ?? path.basename(file, '.json'));
  const cName = named(verdict?.candidate, candidate, o.candidate);
  const bName = named(verdict?.baseline, baseline, o.baseline);

  let diffs: SampleDiff[] = [];
  let compared = 0;
  let test: TestResult | null = null;
  if (o.candidateSamples && o.baselineSamples) {
    ctx.log.progress('reading per-image samples');
    const [cs, bs] = await Promise.all([readSamples(abs(o.candidateSamples), { keepOutcomes: true }), readSamples(abs(o.baselineSamples), { keepOutcomes: true })]);
    const paired = pairSamples(cs, bs, o.allowIncomparable);
    const d = sampleDiffs(cs, bs);
    diffs = d.diffs;
    compared = d.compared;
    test = runTest(paired.candidate.overall, paired.baseline.overall, { test: 'paired-bootstrap', metric: 'f1', require: 'improvement', margin: 0, alpha: 0.05, resamples: 2000, seed: 1 });
  }
  const rows = metricRows(candidate, baseline);
  const fields = fieldRows(candidate, baseline);
  const history = o.history ? await readHistory(isPostgresUrl(o.history) ? o.history : abs(o.history), ctx) : [];
  // The headline ratios the history also has; for a history of other metrics (CT's {"accuracy": …}), its own.
  let trendMetrics = rows.filter((r) => r.percent).map((r) => r.path).filter((p) => history.some((h) => p in flatNumbers(h.values, [p]))).slice(0, 4);
  if (history.length && trendMetrics.length === 0) {
    trendMetrics = [...new Set(history.flatMap((h) => Object.keys(h.values).filter((k) => typeof h.values[k] === 'number')))].slice(0, 4);
  }
  const points = [...history.map((h) => ({ label: h.label, values: flatNumbers(h.values, trendMetrics) }))];
  if (history.length) {
    if (!points.some((p) => p.label === bName)) points.push({ label: bName, values: flatNumbers(baseline, trendMetrics) });
    if (!points.some((p) => p.label === cName)) points.push({ label: cName, values: flatNumbers(candidate, trendMetrics) });
  }
  const runner = ctx.runner;
  const model: ReportModel = {
    id: randomUUID(),
    created_at: ctx.now().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    version: VERSION,
    candidate: { name: cName, metrics_file: o.candidate, samples_file: o.candidateSamples ?? null, dataset: typeof candidate.dataset === 'string' ? candidate.dataset : null },
    baseline: { name: bName, metrics_file: o.baseline, samples_file: o.baselineSamples ?? null, dataset: typeof baseline.dataset === 'string' ? baseline.dataset : null },
    dataset: typeof candidate.dataset === 'string' ? candidate.dataset : typeof baseline.dataset === 'string' ? baseline.dataset : null,
    evaluator: o.evaluator ?? runner.actor ?? ctx.env.USER ?? null,
    job: {
      run_id: o.jobId ?? runner.runId ?? null,
      run_attempt: runner.runAttempt ?? null,
      job: runner.job ?? null,
      workflow: runner.workflow ?? null,
      run_url: runner.runUrl ?? null,
    },
    rows,
    fields,
    test,
    recommendation: recommend(rows, fields, verdict as { pass: boolean; failed: string[] } | undefined, test ?? undefined),
    diffs: diffs.slice(0, o.maxSamples),
    diffsTotal: diffs.length,
    compared,
    history: points,
    trendMetrics,
    lang: 'en',
  };
  const shown = model.diffs.flatMap((d) => [...d.baseline.fields, ...d.candidate.fields].flatMap((f) => [f.label, f.gt, f.pred]));
  model.lang = reportLang([cName, bName, model.dataset, ...rows.map((r) => r.label), ...fields.map((r) => r.label), ...shown], o.lang);
  const dir = path.join(abs(o.outDir), `${slug(cName)}_vs_${slug(bName)}`);
  const files: PendingFile[] = [
    { path: path.join(dir, 'report.md'), data: reportMarkdown(model) },
    { path: path.join(dir, 'summary_metrics.html'), data: summaryHtml(model) },
    { path: path.join(dir, 'samples_diff.html'), data: samplesDiffHtml(model) },
  ];
  const names = ['report.md', 'summary_metrics.html', 'samples_diff.html', ...(o.pdf ? ['report.pdf'] : []), 'metadata.json'];
  const metadata = {
    schema: 'mlloop/compare@1',
    report_id: model.id,
    created_at: model.created_at,
    mlloop_version: VERSION,
    dataset: model.dataset,
    candidate: { model_version: cName, ...model.candidate },
    baseline: { model_version: bName, ...model.baseline },
    evaluator: model.evaluator,
    job: model.job,
    comparable: reasons.length === 0,
    incomparable_reasons: reasons,
    recommendation: model.recommendation,
    significance: test,
    images_compared: compared,
    images_differing: diffs.length,
    files: names,
  };
  files.push({ path: path.join(dir, 'metadata.json'), data: `${JSON.stringify(metadata, null, 2)}\n` });
  if (o.pdf) {
    ctx.log.progress('printing report.pdf with headless Chromium');
    const { printPdf, findChromium } = await import('./pdf.js');
    files.push({ path: path.join(dir, 'report.pdf'), data: await printPdf(pdfHtml(model), { chromium: findChromium(o.chromium, ctx.env), footer: pdfFooter(model) }) });
  }
  await writeFilesAtomic(files);
  return { dir, files: names.map((n) => path.join(dir, n)), model };
}
