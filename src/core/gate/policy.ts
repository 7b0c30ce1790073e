import { readYaml } from '../io/yaml.js';
import { validateSchema, type JsonSchema } from '../schema.js';
import { ConfigurationError, jsonPath } from '../errors.js';
import schema from '../../../schemas/gate.schema.json';
import type { TestName } from '../stats/tests.js';
import type { Correction } from '../stats/multiple.js';

export type Direction = 'higher' | 'lower';

export interface MetricRule {
  direction: Direction;
  min?: number;
  max?: number;
  max_regression?: number;
  max_regression_relative?: number;
  min_improvement?: number;
  min_improvement_relative?: number;
  label?: string;
}

export interface PerFieldRule {
  metric: string;
  direction?: Direction;
  max_regression?: number;
  max_regression_relative?: number;
  min?: number;
  min_support?: number;
  fields?: string[];
}

export interface SignificanceRule {
  metric: 'overall.f1' | 'overall.precision' | 'overall.recall' | 'f1' | 'precision' | 'recall' | 'image_accuracy';
  test: TestName;
  resamples: number;
  alpha: number;
  require: 'improvement' | 'non-inferiority' | 'none';
  margin: number;
  seed: number;
  per_field: boolean;
  correction: Correction;
}

/** `mlloop/gate@1`, with every default applied. */
export interface GatePolicy {
  name: string;
  metrics: Record<string, MetricRule>;
  per_field?: PerFieldRule;
  significance?: SignificanceRule;
}

export const SIGNIFICANCE_DEFAULTS: SignificanceRule = {
  metric: 'overall.f1',
  test: 'paired-bootstrap',
  resamples: 10000,
  alpha: 0.05,
  require: 'improvement',
  margin: 0,
  seed: 1,
  per_field: false,
  correction: 'holm',
};

/** Validates a parsed policy (schema, then the rules a schema cannot say) and applies defaults. */
export function parsePolicy(data: unknown, file: string): GatePolicy {
  const raw = validateSchema<{ name?: string; metrics?: Record<string, MetricRule>; per_field?: PerFieldRule; significance?: Partial<SignificanceRule> }>(data, schema as JsonSchema, file);
  for (const [name, rule] of Object.entries(raw.metrics ?? {})) {
    if (rule.min !== undefined && rule.max !== undefined && rule.min > rule.max) {
      throw new ConfigurationError(`min (${rule.min}) is above max (${rule.max}): no candidate could pass`, { file, path: jsonPath(['metrics', name]), hint: 'swap or correct the bounds' });
    }
    if ((rule.max_regression !== undefined || rule.max_regression_relative !== undefined) && (rule.min_improvement !== undefined || rule.min_improvement_relative !== undefined)) {
      throw new ConfigurationError('both an allowed regression and a required improvement are set', {
        file,
        path: jsonPath(['metrics', name]),
        hint: 'a required improvement already forbids any regression: keep one of the two',
      });
    }
  }
  return {
    name: raw.name ?? 'gate',
    metrics: raw.metrics ?? {},
    per_field: raw.per_field,
    significance: raw.significance ? { ...SIGNIFICANCE_DEFAULTS, ...raw.significance } : undefined,
  };
}

export async function loadPolicy(file: string): Promise<GatePolicy> {
  return parsePolicy(await readYaml(file, 'gate policy'), file);
}
