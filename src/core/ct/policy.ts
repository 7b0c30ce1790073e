import { parseDuration } from '../duration.js';
import { readYaml } from '../io/yaml.js';
import { validateSchema, type JsonSchema } from '../schema.js';
import schema from '../../../schemas/retrain-policy.schema.json';

export type RetrainMode = 'incremental' | 'full';

export interface MetricDropTrigger {
  metric: string;
  baseline: number;
  direction?: 'higher' | 'lower';
  max_drop?: number;
  max_drop_relative?: number;
  consecutive: number;
  period?: string;
  same_model_version?: boolean;
  mode?: RetrainMode;
}

export interface AlertsTrigger {
  names: string[];
  labels?: Record<string, string>;
  mode?: RetrainMode;
}

export interface LowConfidenceTrigger {
  threshold?: number;
  min_samples: number;
  min_ratio?: number;
  window?: string;
  mode?: RetrainMode;
}

export interface CorrectedTrigger {
  min_samples: number;
  mode?: RetrainMode;
}

/** `mlloop/retrain-policy@1`, as written in retrain_policy.yaml. */
export interface RetrainPolicy {
  schema?: string;
  model?: string;
  triggers: {
    metric_drop?: MetricDropTrigger;
    alerts?: AlertsTrigger;
    low_confidence?: LowConfidenceTrigger;
    corrected?: CorrectedTrigger;
  };
  mode?: RetrainMode;
  cooldown?: string;
  max_retrains?: { count: number; per: string };
}

/** Durations of the policy in milliseconds, parsed once. */
export interface PolicyDurations {
  cooldownMs: number;
  maxPerMs?: number;
  periodMs?: number;
  windowMs?: number;
}

export const retrainPolicySchema = schema as JsonSchema;

export function checkPolicy(data: unknown, file: string): { policy: RetrainPolicy; durations: PolicyDurations } {
  const policy = validateSchema<RetrainPolicy>(data, retrainPolicySchema, file);
  const d = (text: string | undefined, where: string) => (text === undefined ? undefined : parseDuration(text, `${file}: ${where}`));
  return {
    policy,
    durations: {
      cooldownMs: d(policy.cooldown, '$.cooldown') ?? 0,
      maxPerMs: d(policy.max_retrains?.per, '$.max_retrains.per'),
      periodMs: d(policy.triggers.metric_drop?.period, '$.triggers.metric_drop.period'),
      windowMs: d(policy.triggers.low_confidence?.window, '$.triggers.low_confidence.window'),
    },
  };
}

/** Reads and validates retrain_policy.yaml before any work starts (exit 2 names the field). */
export async function readPolicy(file: string): Promise<{ policy: RetrainPolicy; durations: PolicyDurations }> {
  return checkPolicy(await readYaml(file, 'retrain policy'), file);
}
