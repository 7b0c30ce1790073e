import { describe, expect, it } from 'vitest';
import { decide, emptyState, type CtState } from '../../src/core/ct/decide.js';
import { checkPolicy, type RetrainPolicy } from '../../src/core/ct/policy.js';
import { parseHistoryLine, parseTime, type HistoryPeriod } from '../../src/core/ct/history.js';
import { parseInferenceLine, type InferenceRecord } from '../../src/core/ct/inference-log.js';
import { labelsFingerprint, parseAlertDocuments } from '../../src/core/ct/alerts.js';
import { ConfigurationError } from '../../src/core/errors.js';

const NOW = new Date('2025-06-15T08:00:00Z');

function history(values: (number | [string, number, string?])[], start = '2025-06-01'): HistoryPeriod[] {
  const t0 = Date.parse(`${start}T00:00:00Z`);
  return values.map((v, i) => {
    const [date, value, version] = Array.isArray(v) ? v : [new Date(t0 + i * 86_400_000).toISOString().slice(0, 10), v, 'ocr-v3.2'];
    return parseHistoryLine({ date, model_version: version ?? 'ocr-v3.2', metrics: { accuracy: value } }, i + 1, 'history.jsonl');
  });
}

const seedPolicy = (extra: Partial<RetrainPolicy['triggers']['metric_drop']> = {}) =>
  checkPolicy({ triggers: { metric_drop: { metric: 'accuracy', baseline: 0.923, max_drop_relative: 0.1, consecutive: 3, ...extra } }, mode: 'incremental', cooldown: '24h' }, 'retrain_policy.yaml');

describe('metric_drop: "accuracy down more than 10% three days in a row"', () => {
  // bound = 0.923 * (1 - 0.10) = 0.8307
  it.each([
    ['three days in a row below the bound', [0.92, 0.91, 0.82, 0.81, 0.80], true, 3],
    ['only the last two days degraded', [0.92, 0.85, 0.82, 0.81], false, 2],
    ['a drop that has since recovered', [0.80, 0.80, 0.80, 0.80, 0.92], false, 0],
    ['recovered yesterday, degraded again today', [0.80, 0.80, 0.90, 0.80], false, 1],
    ['a value exactly at the bound is not "more than" 10% down', [0.8307, 0.8307, 0.8307], false, 0],
    ['five of five degraded', [0.7, 0.7, 0.7, 0.7, 0.7], true, 3],
    ['fewer periods than required', [0.7, 0.7], false, 2],
    ['no history at all', [], false, 0],
  ] as const)('%s', (_name, values, holds, run) => {
    const { policy, durations } = seedPolicy();
    const { decision } = decide(policy, durations, { history: history([...values]) }, emptyState(), NOW);
    expect(decision.retrain).toBe(holds);
    const c = decision.checked.find((x) => x.trigger === 'metric_drop')!;
    expect(c.holds).toBe(holds);
    expect((c.evidence as { degraded_in_a_row: number }).degraded_in_a_row).toBe(run);
    if (holds) expect(decision.reasons).toEqual([{ trigger: 'metric_drop', evidence: c.evidence }]);
  });

  it('orders periods by date, whatever the line order, and a later line for a day replaces the earlier one', () => {
    const { policy, durations } = seedPolicy();
    const lines = history([['2025-06-03', 0.8], ['2025-06-01', 0.8], ['2025-06-02', 0.92], ['2025-06-02', 0.8]]);
    expect(decide(policy, durations, { history: lines }, emptyState(), NOW).decision.retrain).toBe(true);
    const recovered = history([['2025-06-03', 0.8], ['2025-06-01', 0.8], ['2025-06-02', 0.8], ['2025-06-02', 0.92]]);
    expect(decide(policy, durations, { history: recovered }, emptyState(), NOW).decision.retrain).toBe(false);
  });

  it('does not count degraded days of the previous model version', () => {
    const { policy, durations } = seedPolicy();
    const h = history([['2025-06-01', 0.8, 'ocr-v3.1'], ['2025-06-02', 0.8, 'ocr-v3.1'], ['2025-06-03', 0.8, 'ocr-v3.2']]);
    expect(decide(policy, durations, { history: h }, emptyState(), NOW).decision.retrain).toBe(false);
    const all = seedPolicy({ same_model_version: false });
    expect(decide(all.policy, all.durations, { history: h }, emptyState(), NOW).decision.retrain).toBe(true);
  });

  it('with period: 1d a missing day breaks the run', () => {
    const { policy, durations } = seedPolicy({ period: '1d' });
    const gap = history([['2025-06-01', 0.8], ['2025-06-02', 0.8], ['2025-06-04', 0.8]]);
    const d = decide(policy, durations, { history: gap }, emptyState(), NOW).decision;
    expect(d.retrain).toBe(false);
    expect((d.checked[0]!.evidence as { why: string }).why).toMatch(/gap/);
    expect(decide(policy, durations, { history: history([0.8, 0.8, 0.8]) }, emptyState(), NOW).decision.retrain).toBe(true);
  });

  it('direction lower: an error rate above baseline + max_drop', () => {
    const { policy, durations } = checkPolicy({ triggers: { metric_drop: { metric: 'error_rate', direction: 'lower', baseline: 0.02, max_drop: 0.01, consecutive: 2 } } }, 'p.yaml');
    const h = [0.02, 0.031, 0.04].map((v, i) => parseHistoryLine({ date: `2025-06-0${i + 1}`, metrics: { error_rate: v } }, i + 1, 'h'));
    expect(decide(policy, durations, { history: h }, emptyState(), NOW).decision.retrain).toBe(true);
    const ok = [0.02, 0.03, 0.04].map((v, i) => parseHistoryLine({ date: `2025-06-0${i + 1}`, metrics: { error_rate: v } }, i + 1, 'h'));
    expect(decide(policy, durations, { history: ok }, emptyState(), NOW).decision.retrain).toBe(false);
  });

  it('a period without the metric is an input error naming the line (fail closed)', () => {
    const { policy, durations } = seedPolicy();
    const h = [...history([0.8, 0.8]), parseHistoryLine({ date: '2025-06-03', metrics: { f1: 0.9 } }, 3, 'history.jsonl')];
    expect(() => decide(policy, durations, { history: h }, emptyState(), NOW, 'history.jsonl')).toThrow(/history.jsonl: line 3: \$\.metrics\.accuracy: metric "accuracy" is missing/);
  });

  it('dotted metric paths reach nested metrics (metrics@1 files)', () => {
    const { policy, durations } = checkPolicy({ triggers: { metric_drop: { metric: 'overall.f1', baseline: 0.9, max_drop: 0.05, consecutive: 1 } } }, 'p');
    const h = [parseHistoryLine({ date: '2025-06-01', metrics: { overall: { f1: 0.84 } } }, 1, 'h')];
    expect(decide(policy, durations, { history: h }, emptyState(), NOW).decision.retrain).toBe(true);
  });
});

const webhook = (alerts: { name: string; status?: string; startsAt?: string; labels?: Record<string, string>; fingerprint?: string }[]) => ({
  receiver: 'mlloop',
  status: 'firing',
  version: '4',
  groupKey: '{}:{alertname="x"}',
  alerts: alerts.map((a) => ({
    status: a.status ?? 'firing',
    labels: { alertname: a.name, severity: 'page', ...a.labels },
    annotations: { summary: `${a.name} for ocr` },
    startsAt: a.startsAt ?? '2025-06-15T07:00:00Z',
    endsAt: '0001-01-01T00:00:00Z',
    ...(a.fingerprint ? { fingerprint: a.fingerprint } : {}),
  })),
});

describe('alerts', () => {
  const { policy, durations } = checkPolicy({ model: 'ocr', triggers: { alerts: { names: ['ModelAccuracyDrop', 'LowConfidenceSpike'] } }, cooldown: '24h' }, 'p.yaml');

  it.each([
    ['a firing alert the policy names', [{ name: 'ModelAccuracyDrop' }], true, 1],
    ['an alert the policy does not name', [{ name: 'HighLatency' }], false, 0],
    ['a resolved alert', [{ name: 'ModelAccuracyDrop', status: 'resolved' }], false, 0],
    ['an alert for another model', [{ name: 'ModelAccuracyDrop', labels: { model: 'asr' } }], false, 0],
    ['an alert for this model', [{ name: 'ModelAccuracyDrop', labels: { model: 'ocr' } }], true, 1],
    ['two different alerts', [{ name: 'ModelAccuracyDrop' }, { name: 'LowConfidenceSpike' }], true, 2],
  ] as const)('%s', (_n, alerts, holds, firing) => {
    const d = decide(policy, durations, { alerts: parseAlertDocuments([webhook(alerts.map((a) => ({ ...a })))], 'a.json') }, emptyState(), NOW).decision;
    expect(d.retrain).toBe(holds);
    expect((d.checked[0]!.evidence as { firing: unknown[] }).firing).toHaveLength(firing);
  });

  it('de-duplicates repeated notifications by fingerprint; the latest status wins', () => {
    const again = parseAlertDocuments([webhook([{ name: 'ModelAccuracyDrop' }]), webhook([{ name: 'ModelAccuracyDrop' }]), webhook([{ name: 'ModelAccuracyDrop' }])], 'a.jsonl');
    const d = decide(policy, durations, { alerts: again }, emptyState(), NOW).decision;
    const ev = d.checked[0]!.evidence as { firing: unknown[]; duplicates: number };
    expect(ev.firing).toHaveLength(1);
    expect(ev.duplicates).toBe(2);
    const resolvedLater = parseAlertDocuments([webhook([{ name: 'ModelAccuracyDrop' }]), webhook([{ name: 'ModelAccuracyDrop', status: 'resolved' }])], 'a.jsonl');
    expect(decide(policy, durations, { alerts: resolvedLater }, emptyState(), NOW).decision.retrain).toBe(false);
  });

  it('an alert that already caused a retrain does not cause another; the same alert firing anew does', () => {
    const alerts = parseAlertDocuments([webhook([{ name: 'ModelAccuracyDrop' }])], 'a.json');
    const first = decide(policy, durations, { alerts }, emptyState(), NOW);
    expect(first.decision.retrain).toBe(true);
    const afterCooldown = new Date(NOW.getTime() + 2 * 86_400_000);
    const second = decide(policy, durations, { alerts }, first.state, afterCooldown).decision;
    expect(second.retrain).toBe(false);
    expect((second.checked[0]!.evidence as { already_handled: unknown[] }).already_handled).toHaveLength(1);
    const refired = parseAlertDocuments([webhook([{ name: 'ModelAccuracyDrop', startsAt: '2025-06-17T01:00:00Z' }])], 'a.json');
    expect(decide(policy, durations, { alerts: refired }, first.state, afterCooldown).decision.retrain).toBe(true);
  });

  it('accepts GET /api/v2/alerts output (status.state)', () => {
    const v2 = [{ labels: { alertname: 'ModelAccuracyDrop' }, annotations: {}, startsAt: '2025-06-15T07:00:00Z', endsAt: '2025-06-15T09:00:00Z', fingerprint: '0123456789abcdef', status: { state: 'active', silencedBy: [], inhibitedBy: [] }, receivers: [{ name: 'x' }] }];
    const a = parseAlertDocuments([v2], 'alerts.json');
    expect(a[0]).toMatchObject({ name: 'ModelAccuracyDrop', status: 'firing', fingerprint: '0123456789abcdef' });
  });

  it('computes the Prometheus label-set fingerprint when an alert has none', () => {
    // FNV-1a 64 of the empty label set is the offset basis.
    expect(labelsFingerprint({})).toBe('cbf29ce484222325');
    const a = parseAlertDocuments([webhook([{ name: 'ModelAccuracyDrop' }])], 'a.json')[0]!;
    expect(a.fingerprint).toBe(labelsFingerprint({ alertname: 'ModelAccuracyDrop', severity: 'page' }));
    expect(labelsFingerprint({ b: '1', a: '2' })).toBe(labelsFingerprint({ a: '2', b: '1' }));
    expect(labelsFingerprint({ a: '12' })).not.toBe(labelsFingerprint({ a: '1', '2': '' }));
  });

  it('rejects something that is not an alert, naming the path', () => {
    expect(() => parseAlertDocuments([{ alerts: [{ labels: { severity: 'x' }, status: 'firing' }] }], 'payload.json')).toThrow(/payload.json: \$\.alerts\[0\]\.labels: alert has no "alertname" label/);
    expect(() => parseAlertDocuments([{ hello: 1 }], 'payload.json')).toThrow(ConfigurationError);
  });
});

function log(entries: [string, number | null, string?, string?][]): InferenceRecord[] {
  return entries.map(([id, c, ts, v], i) => parseInferenceLine({ file_id: id, confidence_score: c, error: c !== null && c < 0.6 ? 'missing field' : '', status: c !== null && c < 0.6 ? 'fail' : 'success', model_version: v ?? 'v3.2.1', timestamp: ts ?? '2025-06-15T07:00:00' }, i + 1, 'log.jsonl')!);
}

describe('low_confidence and corrected', () => {
  it.each([
    ['three low of five, min 3', [0.42, 0.5, 0.59, 0.9, 0.61], { min_samples: 3 }, true],
    ['0.6 itself is not below the threshold', [0.6, 0.6, 0.6], { min_samples: 1 }, false],
    ['a missing score counts as low', [null, 0.9], { min_samples: 1 }, true],
    ['min_ratio not reached', [0.1, 0.9, 0.9, 0.9], { min_samples: 1, min_ratio: 0.5 }, false],
    ['custom threshold', [0.7, 0.75], { min_samples: 2, threshold: 0.8 }, true],
  ] as const)('%s', (_n, scores, trigger, holds) => {
    const { policy, durations } = checkPolicy({ triggers: { low_confidence: trigger } }, 'p');
    const records = log(scores.map((s, i) => [`uuid-${i}`, s] as [string, number | null]));
    expect(decide(policy, durations, { inference: records }, emptyState(), NOW).decision.retrain).toBe(holds);
  });

  it('counts distinct files within the window, for the current model version only', () => {
    const { policy, durations } = checkPolicy({ triggers: { low_confidence: { min_samples: 2, window: '24h' } } }, 'p');
    const records = log([
      ['old-1', 0.1, '2025-06-10T00:00:00'],
      ['old-2', 0.1, '2025-06-10T00:00:00'],
      ['prev-model', 0.1, '2025-06-15T01:00:00', 'v3.1.0'],
      ['a', 0.1, '2025-06-15T02:00:00'],
      ['b', 0.9, '2025-06-15T03:00:00'],
    ]);
    const d = decide(policy, durations, { inference: records }, emptyState(), NOW).decision;
    expect(d.retrain).toBe(false);
    expect(d.checked[0]!.evidence).toMatchObject({ low: 1, total: 2, model_version: 'v3.2.1' });
  });

  it('corrected samples: at least min_samples', () => {
    const { policy, durations } = checkPolicy({ triggers: { corrected: { min_samples: 200 } } }, 'p');
    expect(decide(policy, durations, { corrected: 199 }, emptyState(), NOW).decision.retrain).toBe(false);
    expect(decide(policy, durations, { corrected: 200 }, emptyState(), NOW).decision.reasons).toEqual([{ trigger: 'corrected', evidence: { count: 200, min_samples: 200 } }]);
  });

  it('a trigger whose input was not given is reported as not checked, never as holding', () => {
    const { policy, durations } = checkPolicy({ triggers: { corrected: { min_samples: 1 }, alerts: { names: ['X'] } } }, 'p');
    const d = decide(policy, durations, {}, emptyState(), NOW).decision;
    expect(d.retrain).toBe(false);
    expect(d.checked.map((c) => [c.trigger, c.holds, (c.evidence as { not_checked?: string }).not_checked !== undefined])).toEqual([
      ['alerts', false, true],
      ['corrected', false, true],
    ]);
  });
});

describe('mode, cooldown and maximum frequency', () => {
  const base = { triggers: { corrected: { min_samples: 1 }, low_confidence: { min_samples: 1, mode: 'full' } }, mode: 'incremental', cooldown: '24h', max_retrains: { count: 2, per: '7d' } };
  const { policy, durations } = checkPolicy(base, 'p');
  const at = (iso: string) => new Date(iso);
  const state = (...times: string[]): CtState => ({ schema: 'mlloop/ct-state@1', retrains: times.map((t) => ({ at: t, mode: 'incremental', triggers: ['corrected'] })), handled_alerts: {} });

  it('uses the policy mode, and a trigger asking for full wins', () => {
    expect(decide(policy, durations, { corrected: 5 }, emptyState(), NOW).decision.mode).toBe('incremental');
    const d = decide(policy, durations, { corrected: 5, inference: log([['x', 0.1]]) }, emptyState(), NOW).decision;
    expect(d.mode).toBe('full');
    expect(d.reasons.map((r) => r.trigger)).toEqual(['low_confidence', 'corrected']);
  });

  it.each([
    ['no earlier retrain', [], true, null],
    ['last retrain 23h ago: cooldown', ['2025-06-14T09:00:00Z'], false, 'cooldown'],
    ['last retrain 25h ago', ['2025-06-14T07:00:00Z'], true, null],
    ['two in the last 7 days: maximum frequency', ['2025-06-10T00:00:00Z', '2025-06-13T00:00:00Z'], false, 'max_retrains'],
    ['two, but one older than 7 days', ['2025-06-07T00:00:00Z', '2025-06-13T00:00:00Z'], true, null],
  ] as const)('%s', (_n, times, retrain, by) => {
    const { decision, state: next } = decide(policy, durations, { corrected: 5 }, state(...times), NOW);
    expect(decision.retrain).toBe(retrain);
    expect(decision.suppressed?.by ?? null).toBe(by);
    expect(decision.reasons).toHaveLength(1);
    expect(next.retrains.length).toBe(retrain ? Math.min(times.filter((t) => Date.parse(t) > NOW.getTime() - 7 * 86_400_000).length + 1, 100) : times.length);
  });

  it('says when the cooldown ends', () => {
    const d = decide(policy, durations, { corrected: 5 }, state('2025-06-14T20:00:00Z'), NOW).decision;
    expect(d.suppressed).toMatchObject({ by: 'cooldown', until: '2025-06-15T20:00:00.000Z' });
    expect(at(d.suppressed!.until).getTime()).toBeGreaterThan(NOW.getTime());
  });
});

describe('retrain policy schema', () => {
  it.each([
    [{ triggers: {} }, /\$\.triggers: must NOT have fewer than 1 properties/],
    [{ triggers: { metric_drop: { metric: 'accuracy', baseline: 0.9, consecutive: 3 } } }, /\$\.triggers\.metric_drop: required field "max_drop"|max_drop_relative/],
    [{ triggers: { corrected: { min_samples: 10 } }, mode: 'partial' }, /\$\.mode: must be one of "incremental", "full"/],
    [{ triggers: { corrected: { min_sample: 10 } } }, /unknown field "min_sample"/],
    [{ triggers: { corrected: { min_samples: 10 } }, cooldown: 'tomorrow' }, /\$\.cooldown/],
  ])('rejects %j', (doc, message) => {
    expect(() => checkPolicy(doc, 'retrain_policy.yaml')).toThrow(message);
    try {
      checkPolicy(doc, 'retrain_policy.yaml');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigurationError);
      expect((e as Error).message).toContain('retrain_policy.yaml');
    }
  });

  it('accepts the design document example', () => {
    const { durations } = checkPolicy(
      {
        triggers: {
          metric_drop: { metric: 'accuracy', baseline: 0.923, max_drop_relative: 0.1, consecutive: 3 },
          alerts: { names: ['ModelAccuracyDrop', 'LowConfidenceSpike'] },
          low_confidence: { threshold: 0.6, min_samples: 500 },
          corrected: { min_samples: 200 },
        },
        mode: 'incremental',
        cooldown: '24h',
      },
      'retrain_policy.yaml',
    );
    expect(durations.cooldownMs).toBe(86_400_000);
  });
});

describe('times in logs', () => {
  it.each([
    ['2025-06-12T16:22:10', Date.UTC(2025, 5, 12, 16, 22, 10)],
    ['2025-06-12', Date.UTC(2025, 5, 12)],
    ['2025-06-12T16:22:10Z', Date.UTC(2025, 5, 12, 16, 22, 10)],
    ['2025-06-12T16:22:10+08:00', Date.UTC(2025, 5, 12, 8, 22, 10)],
    ['2024-02-29T00:00:00', Date.UTC(2024, 1, 29)],
    ['2025-02-29T00:00:00', NaN],
    ['2025-13-01T00:00:00', NaN],
    ['2025-06-12T24:00:00', NaN],
    ['2025-06-1xT16:22:10', NaN],
  ])('%s', (text, t) => {
    expect(parseTime(text)).toBe(t);
    if (Number.isFinite(t) && text.length === 19) expect(parseTime(text)).toBe(Date.parse(`${text}Z`));
  });
});
