import { describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { cli } from '../support/run.js';
import { tempDir } from '../support/tmp.js';

// `mlloop demo` without --keep works in a temp folder of its own and removes it, also when a step fails.
describe('mlloop demo without --keep', () => {
  it('removes its temp folder when a step fails', async () => {
    const tmp = tempDir('demo-tmp');
    const r = await cli(['demo', '--python', 'no-such-python-for-mlloop'], { env: { TMPDIR: tmp }, timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/demo step "train the baseline/);
    expect(readdirSync(tmp)).toEqual([]);
  });
});
