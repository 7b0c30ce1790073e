/** Why two metrics files cannot be compared (different test set or evaluation settings); empty when they can. */
export function incomparability(candidate: unknown, baseline: unknown): string[] {
  const c = (candidate ?? {}) as Record<string, unknown>;
  const b = (baseline ?? {}) as Record<string, unknown>;
  const reasons: string[] = [];
  if (c.dataset !== undefined || b.dataset !== undefined) {
    if (c.dataset === undefined || b.dataset === undefined) reasons.push(`only the ${c.dataset === undefined ? 'baseline' : 'candidate'} names its dataset (${JSON.stringify(c.dataset ?? b.dataset)})`);
    else if (c.dataset !== b.dataset) reasons.push(`different datasets: candidate ${JSON.stringify(c.dataset)}, baseline ${JSON.stringify(b.dataset)}`);
  }
  if (c.config !== undefined || b.config !== undefined) {
    if (c.config === undefined || b.config === undefined) reasons.push(`only the ${c.config === undefined ? 'baseline' : 'candidate'} records its evaluation config`);
    else {
      const diff = configDiff(c.config, b.config);
      if (diff.length) reasons.push(`different evaluation config: ${diff.slice(0, 5).join('; ')}`);
    }
  }
  return reasons;
}

function configDiff(a: unknown, b: unknown, prefix = 'config'): string[] {
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => configDiff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${prefix}.${k}`));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [`${prefix} ${JSON.stringify(a)} vs ${JSON.stringify(b)}`];
}
