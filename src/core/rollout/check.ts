import { ConfigurationError } from '../errors.js';

// Kept apart from analyze.ts so the command can refuse bad options before loading the analysis code.

/** Exactly one of --prometheus and --scrape (checked before anything heavy is loaded). */
export function checkSource(o: { prometheus?: string; scrape?: string }): void {
  if (Boolean(o.prometheus) === Boolean(o.scrape)) {
    throw new ConfigurationError(o.prometheus ? 'give either --prometheus or --scrape, not both' : 'nothing to measure: give --prometheus URL or --scrape URL', {
      hint: 'with a Prometheus: --prometheus http://prometheus:9090; without one: --scrape http://canary:8080/metrics',
    });
  }
}
