import type { Alert } from './alerts.js';
import { evaluateAlerts } from './alerts.js';
import { evaluateMetricDrop, type HistoryPeriod } from './history.js';
import { evaluateLowConfidence, type InferenceRecord } from './inference-log.js';
import type { PolicyDurations, RetrainMode, RetrainPolicy } from './policy.js';

export type TriggerName = 'metric_drop' | 'alerts' | 'low_confidence' | 'corrected';

/** What `ct check` remembers between runs (cooldown, maximum frequency, alerts already acted on). */
export interface CtState {
  schema: 'mlloop/ct-state@1';
  retrains: { at: string; mode: RetrainMode; triggers: TriggerName[] }[];
  /** fingerprint → startsAt of alerts that caused a retrain. */
  handled_alerts: Record<string, string>;
}

export const emptyState = (): CtState => ({ schema: 'mlloop/ct-state@1', retrains: [], handled_alerts: {} });

export interface Signals {
  alerts?: Alert[];
  history?: HistoryPeriod[];
  inference?: InferenceRecord[];
  corrected?: number;
}

export interface Reason {
  trigger: TriggerName;
  evidence: unknown;
}

/** `mlloop/ct-decision@1`: what `ct check --json` prints and `--out` writes. */
export interface Decision {
  schema: 'mlloop/ct-decision@1';
  retrain: boolean;
  mode: RetrainMode;
  model: string | null;
  decided_at: string;
  /** Every trigger that holds, with its evidence (also when a cooldown holds the retrain back). */
  reasons: Reason[];
  /** Every configured trigger: whether it held, or why it was not checked. */
  checked: { trigger: TriggerName; holds: boolean; evidence: unknown }[];
  suppressed: null | { by: 'cooldown' | 'max_retrains'; until: string; detail: string };
}

/**
 * Decides from the signals given. A trigger whose signal was not provided is reported as not checked
 * (never as holding). Cooldown and the maximum frequency hold a retrain back; the reasons stay listed.
 */
export function decide(policy: RetrainPolicy, durations: PolicyDurations, signals: Signals, state: CtState, now: Date, historyFile = 'history'): { decision: Decision; state: CtState } {
  const t = policy.triggers;
  const checked: Decision['checked'] = [];
  const notGiven = (trigger: TriggerName, input: string) => checked.push({ trigger, holds: false, evidence: { not_checked: `no ${input} given` } });
  if (t.metric_drop) {
    if (signals.history) {
      const o = evaluateMetricDrop(signals.history, t.metric_drop, durations.periodMs, historyFile);
      checked.push({ trigger: 'metric_drop', holds: o.holds, evidence: o.evidence });
    } else notGiven('metric_drop', 'metric history (--history)');
  }
  if (t.alerts) {
    if (signals.alerts) {
      const o = evaluateAlerts(signals.alerts, t.alerts, policy.model, state.handled_alerts);
      checked.push({ trigger: 'alerts', holds: o.holds, evidence: o.evidence });
    } else notGiven('alerts', 'alerts (--alerts or --alertmanager)');
  }
  if (t.low_confidence) {
    if (signals.inference) {
      const since = durations.windowMs !== undefined ? now.getTime() - durations.windowMs : undefined;
      const records = since === undefined ? signals.inference : signals.inference.filter((r) => r.time >= since);
      const o = evaluateLowConfidence(records, t.low_confidence, since);
      checked.push({ trigger: 'low_confidence', holds: o.holds, evidence: o.evidence });
    } else notGiven('low_confidence', 'inference log (--inference-log)');
  }
  if (t.corrected) {
    if (signals.corrected !== undefined) {
      checked.push({ trigger: 'corrected', holds: signals.corrected >= t.corrected.min_samples, evidence: { count: signals.corrected, min_samples: t.corrected.min_samples } });
    } else notGiven('corrected', 'count of corrected samples (--corrected)');
  }
  const reasons: Reason[] = checked.filter((c) => c.holds).map(({ trigger, evidence }) => ({ trigger, evidence }));
  const modes = reasons.map((r) => t[r.trigger]?.mode).filter((m): m is RetrainMode => m !== undefined);
  const mode: RetrainMode = modes.includes('full') ? 'full' : modes[0] ?? policy.mode ?? 'incremental';

  let suppressed: Decision['suppressed'] = null;
  if (reasons.length) {
    const times = state.retrains.map((r) => Date.parse(r.at)).filter(Number.isFinite).sort((a, b) => a - b);
    const last = times.at(-1);
    if (last !== undefined && durations.cooldownMs > 0 && now.getTime() < last + durations.cooldownMs) {
      suppressed = { by: 'cooldown', until: new Date(last + durations.cooldownMs).toISOString(), detail: `last retrain at ${new Date(last).toISOString()}, cooldown ${policy.cooldown}` };
    } else if (policy.max_retrains && durations.maxPerMs !== undefined) {
      const inWindow = times.filter((x) => x > now.getTime() - durations.maxPerMs!);
      if (inWindow.length >= policy.max_retrains.count) {
        const until = inWindow[inWindow.length - policy.max_retrains.count]! + durations.maxPerMs;
        suppressed = { by: 'max_retrains', until: new Date(until).toISOString(), detail: `${inWindow.length} retrain(s) in the last ${policy.max_retrains.per} (at most ${policy.max_retrains.count})` };
      }
    }
  }
  const retrain = reasons.length > 0 && suppressed === null;
  const next: CtState = { schema: 'mlloop/ct-state@1', retrains: [...state.retrains], handled_alerts: { ...state.handled_alerts } };
  if (retrain) {
    next.retrains.push({ at: now.toISOString(), mode, triggers: reasons.map((r) => r.trigger) });
    const alerts = checked.find((c) => c.trigger === 'alerts' && c.holds)?.evidence as { firing: { fingerprint: string; startsAt: string }[] } | undefined;
    for (const a of alerts?.firing ?? []) next.handled_alerts[a.fingerprint] = a.startsAt;
    // Keep the state small: what the longest window can still need.
    const keepMs = Math.max(durations.cooldownMs, durations.maxPerMs ?? 0);
    next.retrains = next.retrains.filter((r) => Date.parse(r.at) > now.getTime() - keepMs).slice(-100);
    if (!next.retrains.length) next.retrains.push({ at: now.toISOString(), mode, triggers: reasons.map((r) => r.trigger) });
  }
  return {
    decision: { schema: 'mlloop/ct-decision@1', retrain, mode, model: policy.model ?? null, decided_at: now.toISOString(), reasons, checked, suppressed },
    state: next,
  };
}
