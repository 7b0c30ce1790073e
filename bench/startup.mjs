// Start-up time of each action bundle (and the CLI) as a ratio to a bare `node -e 0`, measured
// interleaved in the same run. Target ≤ 2×. Each bundle is run with no inputs, so it parses, reads its
// inputs and exits; heavy clients load lazily and are not part of start-up.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DIST, median, timeCommand, round } from './_util.mjs';

export default async function* startup() {
  const bundles = readdirSync(DIST).filter((f) => f.endsWith('.cjs')).sort();
  const runs = 15;
  const base = [];
  const times = Object.fromEntries(bundles.map((b) => [b, []]));
  for (let i = 0; i < runs + 2; i++) {
    const b0 = timeCommand(process.execPath, ['-e', '0'], { env: { PATH: process.env.PATH } }).ms;
    if (i >= 2) base.push(b0);
    for (const b of bundles) {
      const args = b === 'cli.cjs' ? [join(DIST, b), '--version'] : [join(DIST, b)];
      const t = timeCommand(process.execPath, args, { env: { PATH: process.env.PATH } }).ms;
      if (i >= 2) times[b].push(t);
    }
  }
  const baseline = median(base);
  for (const b of bundles) {
    const ms = median(times[b]);
    yield { bench: 'startup', bundle: b, ms: round(ms, 1), baseline: 'node -e 0', baseline_ms: round(baseline, 1), ratio: round(ms / baseline, 2), target: 2 };
  }
}
