// test/support/tmp.ts: every temp folder a test makes is removed, after its test or after its file, also on failure.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeFileTempDirs, tempDir } from '../support/tmp.js';

const atCollection = tempDir('tmp-file-level');
let madeInTest = '';
let madeInFailingTest = '';
let sharedByFile = '';

describe('tempDir', () => {
  it('makes a fresh mlloop-<prefix>- folder in the temp folder', () => {
    madeInTest = tempDir('tmp-test');
    writeFileSync(join(madeInTest, 'x'), 'x');
    expect(madeInTest).toMatch(/mlloop-tmp-test-[^/]+$/);
    sharedByFile = tempDir('tmp-shared', { scope: 'file' });
  });

  it('removed the previous test\'s folder when that test ended; file-level folders stay until the file ends', () => {
    expect(madeInTest).not.toBe('');
    expect(existsSync(madeInTest)).toBe(false);
    expect(existsSync(sharedByFile)).toBe(true);
    expect(existsSync(atCollection)).toBe(true);
  });

  it.fails('a failing test', () => {
    madeInFailingTest = tempDir('tmp-failing');
    throw new Error('fails on purpose');
  });

  it('removed the failing test\'s folder too', () => {
    expect(madeInFailingTest).not.toBe('');
    expect(existsSync(madeInFailingTest)).toBe(false);
  });

  it('removeFileTempDirs (the setup file\'s afterAll) removes the file-level folders', () => {
    const extra = tempDir('tmp-extra', { scope: 'file' });
    removeFileTempDirs();
    for (const d of [extra, sharedByFile, atCollection]) expect(existsSync(d)).toBe(false);
  });
});

afterAll(() => {
  expect(existsSync(atCollection)).toBe(false);
});

describe.concurrent('tempDir in concurrent tests', () => {
  const made: string[] = [];
  it('keeps a concurrent test\'s folder until the end of the file (the current test is ambiguous across awaits)', async () => {
    await new Promise((r) => setTimeout(r, 20));
    made.push(tempDir('tmp-concurrent'));
    await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(made[0]!)).toBe(true);
  });
  it('ends first, while the other test still uses its folder', async () => {
    await new Promise((r) => setTimeout(r, 40));
    expect(made.every((d) => existsSync(d))).toBe(true);
  });
});
