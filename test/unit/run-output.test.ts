// The test helper that runs programs must give their output back as written: Chinese text from pdftotext, the
// demo's progress lines. Decoding each chunk on its own would turn a character split between chunks into U+FFFD.
import { describe, expect, it } from 'vitest';
import { run } from '../support/run.js';

describe('run() from test/support', () => {
  it('keeps multi-byte characters whole across output chunks, on stdout and stderr', async () => {
    const text = '保单张三¥1,234.56'.repeat(40_000);
    const script = `const t = ${JSON.stringify('保单张三¥1,234.56')}.repeat(40000); process.stdout.write(t); process.stderr.write(t);`;
    const r = await run(process.execPath, ['-e', script]);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(text.length);
    expect(r.stdout).not.toContain('\uFFFD');
    expect(r.stdout).toBe(text);
    expect(r.stderr).toBe(text);
  });
});
