// Programs are found where they are installed: mlloop's Chromium for the PDF (src) and the tests' tools (test/support).
import { describe, expect, it } from 'vitest';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { findChromium, CHROMIUM_NAMES } from '../../src/core/report/pdf.js';
import { ConfigurationError } from '../../src/core/errors.js';
import { resolveTool, TOOLS } from '../support/tools.js';
import { tempDir } from '../support/tmp.js';

/** A folder holding executable (or, with `plain`, non-executable) files of these names. */
function binDir(names: string[], plain: string[] = []): string {
  const dir = tempDir('bin');
  for (const n of [...names, ...plain]) {
    mkdirSync(join(dir, n, '..'), { recursive: true });
    writeFileSync(join(dir, n), '#!/bin/sh\n');
    chmodSync(join(dir, n), plain.includes(n) ? 0o644 : 0o755);
  }
  return dir;
}

describe('findChromium (report.pdf)', () => {
  it('takes --chromium as given, then MLLOOP_CHROMIUM, then CHROME_PATH', () => {
    const bin = binDir(['chromium']);
    expect(findChromium('/opt/my/chrome', { PATH: bin, MLLOOP_CHROMIUM: '/x' })).toBe('/opt/my/chrome');
    expect(findChromium(undefined, { PATH: bin, MLLOOP_CHROMIUM: '/x', CHROME_PATH: '/y' })).toBe('/x');
    expect(findChromium(undefined, { PATH: bin, CHROME_PATH: '/y' })).toBe('/y');
  });

  it('searches PATH by name in order (chromium before google-chrome), skipping files that are not executable', () => {
    const a = binDir(['google-chrome'], ['chromium']);
    const b = binDir(['chromium-browser']);
    expect(findChromium(undefined, { PATH: [a, b].join(delimiter) }, [])).toBe(join(b, 'chromium-browser'));
    const c = binDir(['google-chrome-stable', 'google-chrome']);
    expect(findChromium(undefined, { PATH: c }, [])).toBe(join(c, 'google-chrome'));
  });

  it('falls back to the known install paths when PATH has none', () => {
    const known = binDir(['opt/chrome/chrome']);
    expect(findChromium(undefined, { PATH: binDir([]) }, ['/no/such/chromium', join(known, 'opt/chrome/chrome')])).toBe(join(known, 'opt/chrome/chrome'));
  });

  it('none found: exit 2 naming every place searched and how to fix it', () => {
    let err: unknown;
    try {
      findChromium(undefined, { PATH: binDir([], ['chromium']) }, ['/no/such/chromium']);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigurationError);
    const e = err as ConfigurationError;
    expect(e.exitCode).toBe(2);
    expect(e.message).toContain('Chromium not found');
    for (const s of ['$MLLOOP_CHROMIUM', '$CHROME_PATH', ...CHROMIUM_NAMES, '/no/such/chromium']) expect(e.message).toContain(s);
    expect(e.location.hint).toMatch(/--chromium PATH[\s\S]*--no-pdf/);
  });
});

describe('resolveTool (test/support/tools.ts)', () => {
  it('prefers the environment override, then PATH names in order, then known paths with a versioned folder', () => {
    const bin = binDir(['alertmanager']);
    expect(resolveTool(TOOLS.alertmanager, { PATH: bin, MLLOOP_ALERTMANAGER: '/custom/am' })).toBe('/custom/am');
    expect(resolveTool(TOOLS.alertmanager, { PATH: bin })).toBe(join(bin, 'alertmanager'));
    const root = binDir(['lib/postgresql/15/bin/initdb', 'lib/postgresql/16/bin/initdb']);
    const spec = { ...TOOLS.initdb, paths: [join(root, 'lib/postgresql/*/bin/initdb')] };
    expect(resolveTool(spec, { PATH: binDir([]) })).toBe(join(root, 'lib/postgresql/16/bin/initdb'));
    expect(resolveTool(spec, { PATH: '' }, root)).toBe(join(root, 'lib/postgresql/16/bin/initdb'));
    expect(resolveTool({ ...spec, paths: ['lib/postgresql/*/bin/initdb'] }, { PATH: '' }, root)).toBe(join(root, 'lib/postgresql/16/bin/initdb'));
    expect(resolveTool({ ...spec, paths: ['/no/such/*/initdb'] }, { PATH: '' })).toBeUndefined();
  });
});
