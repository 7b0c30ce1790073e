import type { Decision } from './decide.js';
import type { AlertsOutcome } from './alerts.js';
import type { MetricDropOutcome } from './history.js';
import type { LowConfidenceOutcome } from './inference-log.js';

/** One sentence per checked trigger, for people (the JSON keeps the full evidence). */
export function describeTrigger(c: Decision['checked'][number]): string {
  const e = c.evidence as Record<string, unknown>;
  if (typeof e.not_checked === 'string') return `not checked: ${e.not_checked}`;
  switch (c.trigger) {
    case 'metric_drop': {
      const m = e as MetricDropOutcome['evidence'];
      const values = m.periods.map((p) => `${p.date} ${p.value}${p.degraded ? '↓' : ''}`).join(', ');
      const cmp = m.direction === 'higher' ? '<' : '>';
      return `${m.metric} ${cmp} ${+m.bound.toFixed(6)} (baseline ${m.baseline}) in ${m.degraded_in_a_row} of the latest ${m.consecutive} period(s) needed${values ? `: ${values}` : ''}${m.why ? ` (${m.why})` : ''}`;
    }
    case 'alerts': {
      const a = e as AlertsOutcome['evidence'];
      const firing = a.firing.map((f) => `${f.name} [${f.fingerprint}] since ${f.startsAt}`).join(', ');
      const extra = [a.duplicates ? `${a.duplicates} duplicate notification(s) merged` : '', a.already_handled.length ? `${a.already_handled.length} already acted on` : ''].filter(Boolean).join(', ');
      return `${a.firing.length} firing alert(s) named ${a.names.join('/')}${firing ? `: ${firing}` : ''}${extra ? ` (${extra})` : ''}`;
    }
    case 'low_confidence': {
      const l = e as LowConfidenceOutcome['evidence'];
      return `${l.low} of ${l.total} file(s) below confidence ${l.threshold} (need ${l.min_samples}${l.min_ratio !== null ? ` and ratio ≥ ${l.min_ratio}` : ''}; ratio ${(l.ratio * 100).toFixed(1)}%)${l.model_version ? ` for ${l.model_version}` : ''}`;
    }
    case 'corrected':
      return `${String(e.count)} new corrected sample(s) (need ${String(e.min_samples)})`;
  }
}

export function decisionHeadline(d: Decision): string {
  if (d.retrain) return `retrain: yes (${d.mode}) — ${d.reasons.map((r) => r.trigger).join(', ')}`;
  if (d.suppressed) return `retrain: no — ${d.reasons.map((r) => r.trigger).join(', ')} held, but ${d.suppressed.by} until ${d.suppressed.until} (${d.suppressed.detail})`;
  return 'retrain: no — no trigger holds';
}
