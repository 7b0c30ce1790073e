import { ConfigurationError } from '../errors.js';
import { getByDottedPath } from '../io/read.js';
import { readMetricsDoc } from '../train/metrics-file.js';
import type { Logger } from '../log.js';
import { adjust } from '../stats/multiple.js';
import { pairSamples, readSamples } from '../stats/samples.js';
import { runTest, type SampleMetric, type TestResult } from '../stats/tests.js';
import { checkMetric, checkPerField, type Check } from './checks.js';
import { incomparability } from './comparability.js';
import type { BaselineOrigin } from './baseline.js';
import type { GatePolicy, SignificanceRule } from './policy.js';

export interface FieldTest extends TestResult {
  field: string;
  p_adjusted: number;
  /** False when the field regressed significantly after correction. */
  pass: boolean;
}

/** `mlloop/verdict@1`: everything a reviewer needs to trust or challenge the decision. */
export interface Verdict {
  schema: 'mlloop/verdict@1';
  gate: string;
  pass: boolean;
  policy: string;
  created_at: string;
  candidate: { metrics_file: string; samples_file: string | null; model_version: string | null; dataset: string | null };
  baseline: BaselineOrigin;
  comparable: boolean;
  incomparable_reasons: string[];
  checks: Check[];
  per_field_skipped: { field: string; support: number | null }[];
  significance: null | { overall: TestResult; per_field: FieldTest[]; correction: string; unpaired_images: number };
  failed: string[];
}

export interface GateInput {
  policy: GatePolicy;
  policyFile: string;
  candidateFile: string;
  candidateSamples?: string;
  baselineFile: string;
  baselineSamples?: string;
  origin: BaselineOrigin;
  allowIncomparable: boolean;
  now: Date;
  log: Logger;
}

const str = (v: unknown) => (typeof v === 'string' ? v : null);

function sampleMetric(rule: SignificanceRule): SampleMetric {
  return rule.metric.replace(/^overall\./, '') as SampleMetric;
}

/** Runs the gate: comparability guard, metric checks, per-field checks, significance tests. */
export async function runGate(input: GateInput): Promise<Verdict> {
  const { policy } = input;
  const candidate = await readMetricsDoc(input.candidateFile, 'candidate metrics');
  const baseline = await readMetricsDoc(input.baselineFile, 'baseline metrics');
  if (policy.significance && (!input.candidateSamples || !input.baselineSamples)) {
    throw new ConfigurationError(`the policy asks for a ${policy.significance.test} significance test, which needs per-image samples of both models`, {
      file: input.policyFile,
      path: '$.significance',
      hint: 'pass --candidate-samples and --baseline-samples (written by `mlloop evaluate --samples`), or remove `significance`',
    });
  }
  const reasons = incomparability(candidate, baseline);
  if (reasons.length && !input.allowIncomparable) {
    throw new ConfigurationError(`the candidate and the baseline are not comparable: ${reasons.join('; ')}`, {
      file: `${input.candidateFile} vs ${input.baselineFile}`,
      hint: 'evaluate both models on the same test set with the same settings; pass --allow-incomparable only if you accept the difference',
    });
  }
  if (reasons.length) input.log.warn(`comparing anyway (--allow-incomparable): ${reasons.join('; ')}`);

  const checks: Check[] = [];
  for (const [path, rule] of Object.entries(policy.metrics)) checks.push(...checkMetric(path, rule, candidate, baseline));
  let skipped: Verdict['per_field_skipped'] = [];
  if (policy.per_field) {
    const pf = checkPerField(policy.per_field, candidate, baseline);
    checks.push(...pf.checks);
    skipped = pf.skipped;
  }

  let significance: Verdict['significance'] = null;
  if (policy.significance) {
    const s = policy.significance;
    const [cs, bs] = await Promise.all([readSamples(input.candidateSamples!), readSamples(input.baselineSamples!)]);
    // Samples from another run than the metrics would make the test say nothing about these models.
    for (const [side, set, metrics, file] of [['candidate', cs, candidate, input.candidateFile], ['baseline', bs, baseline, input.baselineFile]] as const) {
      for (const k of ['tp', 'fp', 'fn'] as const) {
        const want = getByDottedPath(metrics, `overall.${k}`);
        if (typeof want !== 'number') continue;
        let got = 0;
        for (const v of set.overall[k]) got += v;
        if (got !== want) {
          throw new ConfigurationError(`the ${side}'s samples do not belong to its metrics: they sum to ${k}=${got}, ${file} says overall.${k}=${want}`, {
            file: set.file,
            hint: 'pass the samples.jsonl written by the same `mlloop evaluate` run as the metrics.json',
          });
        }
      }
    }
    const paired = pairSamples(cs, bs, input.allowIncomparable);
    const unpaired = paired.unpaired.candidateOnly.length + paired.unpaired.baselineOnly.length;
    if (unpaired) input.log.warn(`significance: ${unpaired} images are not in both samples files and are left out`);
    const metric = sampleMetric(s);
    input.log.progress(`significance: ${s.test} on ${paired.n} paired images${s.test === 'mcnemar' ? '' : `, ${s.resamples} resamples`}`);
    const overall = runTest(paired.candidate.overall, paired.baseline.overall, {
      test: s.test,
      metric,
      require: s.require,
      margin: s.margin,
      alpha: s.alpha,
      resamples: s.resamples,
      seed: s.seed,
      onProgress: (d, t) => input.log.progress(`significance: ${d}/${t} resamples`),
    });
    const label = s.test === 'mcnemar' ? 'image_accuracy' : s.metric;
    const passOverall = s.require === 'none' ? true : overall.significant;
    const ci = overall.ci ? ` (${Math.round((1 - s.alpha) * 100)}% CI ${overall.ci.map((x) => x.toFixed(4)).join(' … ')})` : '';
    const verb = s.require === 'improvement' ? 'better' : s.require === 'non-inferiority' ? 'not worse' : 'different';
    const marginText = s.margin ? ` by margin ${s.margin}` : '';
    checks.push({
      id: `${label} significance`,
      metric: label,
      rule: 'significance',
      direction: 'higher',
      candidate: overall.candidate,
      baseline: overall.baseline,
      delta: overall.delta,
      bound: s.alpha,
      pass: passOverall,
      reason:
        s.require === 'none'
          ? `p=${fmtP(overall.p_value)} (${overall.method}; reported only)${ci}`
          : overall.significant
            ? `p=${fmtP(overall.p_value)} < ${s.alpha}: the candidate is significantly ${verb}${marginText}${ci}`
            : `p=${fmtP(overall.p_value)} ≥ ${s.alpha}: not shown to be significantly ${verb}${marginText}${ci}`,
      p_value: overall.p_value,
      ci: overall.ci,
    });
    const perField: FieldTest[] = [];
    if (s.per_field) {
      const minSupport = policy.per_field?.min_support ?? 0;
      const tested: { field: string; r: TestResult }[] = [];
      paired.labels.forEach((field, k) => {
        const a = paired.candidate.fields.get(field)!;
        const b = paired.baseline.fields.get(field)!;
        let supp = 0;
        for (let i = 0; i < paired.n; i++) supp += b.tp[i]! + b.fn[i]!;
        if (supp < minSupport) return;
        const present = new Uint8Array(paired.n);
        for (let i = 0; i < paired.n; i++) present[i] = a.present[i]! | b.present[i]!;
        const r = runTest(a, b, { test: s.test, metric: metric === 'image_accuracy' ? 'f1' : metric, require: 'regression', margin: 0, alpha: s.alpha, resamples: s.resamples, seed: (s.seed + 7919 * (k + 1)) >>> 0 }, present);
        tested.push({ field, r });
      });
      const adjusted = adjust(tested.map((t) => t.r.p_value), s.correction);
      tested.forEach(({ field, r }, k) => {
        const worse = r.delta < 0 || (r.discordant !== undefined && r.discordant.baseline_only > r.discordant.candidate_only);
        const pass = !(adjusted[k]! < s.alpha && worse);
        perField.push({ ...r, field, p_adjusted: adjusted[k]!, pass });
        checks.push({
          id: `per_field.${field} significance`,
          metric: `per_field.${field}.${r.metric}`,
          rule: 'significance',
          direction: 'higher',
          candidate: r.candidate,
          baseline: r.baseline,
          delta: r.delta,
          bound: s.alpha,
          pass,
          reason: pass
            ? `no significant regression (p=${fmtP(r.p_value)}, ${s.correction}-adjusted ${fmtP(adjusted[k]!)})`
            : `significant regression: ${s.correction}-adjusted p=${fmtP(adjusted[k]!)} < ${s.alpha}`,
          p_value: r.p_value,
          p_adjusted: adjusted[k]!,
          ci: r.ci,
        });
      });
    }
    significance = { overall, per_field: perField, correction: s.correction, unpaired_images: unpaired };
  }
  const failed = checks.filter((c) => !c.pass).map((c) => `${c.id}: ${c.reason}`);
  return {
    schema: 'mlloop/verdict@1',
    gate: policy.name,
    pass: failed.length === 0,
    policy: input.policyFile,
    created_at: input.now.toISOString(),
    candidate: { metrics_file: input.candidateFile, samples_file: input.candidateSamples ?? null, model_version: str(candidate.model_version), dataset: str(candidate.dataset) },
    baseline: { ...input.origin, model_version: input.origin.model_version ?? str(baseline.model_version), dataset: input.origin.dataset ?? str(baseline.dataset) },
    comparable: reasons.length === 0,
    incomparable_reasons: reasons,
    checks,
    per_field_skipped: skipped,
    significance,
    failed,
  };
}

export function fmtP(p: number): string {
  if (p < 1e-4) return p.toExponential(1);
  return String(Number(p.toPrecision(3)));
}
