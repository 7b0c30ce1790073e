import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { parse } from 'yaml';
import { compareVersions, parseImageRef, assertLabel, assertPlainValue } from '../../src/core/gitops/names.js';
import { setYamlScalars, appendToYamlList } from '../../src/core/gitops/yaml-edit.js';
import { backoffMs, formatCommitMessage, isNonFastForward, parseTrailers, remoteUrl, DEFAULT_RETRY } from '../../src/core/gitops/git.js';
import { gitOptionsFrom } from '../../src/core/gitops/options.js';
import { Masker } from '../../src/core/mask.js';
import { silentLogger } from '../../src/core/log.js';
import type { Context } from '../../src/commands/define.js';

describe('model version order', () => {
  it.each([
    ['ocr-v3.10', 'ocr-v3.9', 1],
    ['ocr-v3.2', 'ocr-v3.2.0', 0],
    ['ocr-v3.2-rc.1', 'ocr-v3.2', -1],
    ['ocr-v3.2-rc.2', 'ocr-v3.2-rc.10', -1],
    ['ocr-v3.2-alpha', 'ocr-v3.2-rc.1', -1],
    ['v1.0.0+build.9', 'v1.0.0+build.1', 0],
    ['3.2', 'v3.1', 1],
    ['model2-v1.0', 'model2-v0.9', 1],
    ['ocr-v3.2', 'invoice-v9.0', undefined],
    ['ocr-exp-newloss', 'ocr-v3.0', undefined],
  ] as const)('%s vs %s → %s', (a, b, want) => {
    expect(compareVersions(a, b)).toBe(want);
    expect(compareVersions(b, a)).toBe(want === undefined ? undefined : want === 0 ? 0 : -want);
  });

  it('is a total order on same-prefix versions (antisymmetric, transitive)', () => {
    const v = fc.tuple(fc.nat(20), fc.nat(20), fc.nat(20), fc.option(fc.constantFrom('rc.1', 'rc.2', 'alpha', 'beta.3'), { nil: undefined })).map(([a, b, c, pre]) => `ocr-v${a}.${b}.${c}${pre ? `-${pre}` : ''}`);
    fc.assert(
      fc.property(v, v, v, (a, b, c) => {
        const ab = compareVersions(a, b)!;
        expect(compareVersions(b, a)).toBe(ab === 0 ? 0 : -ab);
        if (ab <= 0 && compareVersions(b, c)! <= 0) expect(compareVersions(a, c)!).toBeLessThanOrEqual(0);
      }),
    );
  });
});

describe('names and values', () => {
  it.each(['ocr', 'prod', 'a', 'ocr-fields-2', '0'])('accepts the label %s', (l) => expect(assertLabel(l, 'app')).toBe(l));
  it.each(['', '..', '../x', 'a/b', 'Prod', '-a', 'a-', 'a_b', 'a.b', 'x'.repeat(64), 'é'])('refuses the label %j', (l) => expect(() => assertLabel(l, 'app')).toThrow(/DNS-1123/));
  it.each([
    ['registry.example.com/ocr-service:ocr-v3.2', { repository: 'registry.example.com/ocr-service', tag: 'ocr-v3.2' }],
    ['localhost:5000/team/ocr:1', { repository: 'localhost:5000/team/ocr', tag: '1' }],
    [`ghcr.io/acme/ocr@sha256:${'a'.repeat(64)}`, { repository: 'ghcr.io/acme/ocr', digest: `sha256:${'a'.repeat(64)}` }],
    [`ocr:v1@sha256:${'b'.repeat(64)}`, { repository: 'ocr', tag: 'v1', digest: `sha256:${'b'.repeat(64)}` }],
  ])('parses %s', (ref, want) => expect(parseImageRef(ref)).toEqual(want));
  it.each(['Registry/OCR:1', 'ocr', 'ocr:', 'ocr:-x', 'ocr@sha256:abc', 'a//b:1', 'ocr:1 2', 'ocr:1\n', `ocr:${'x'.repeat(129)}`])('refuses the image %j', (ref) => expect(() => parseImageRef(ref)).toThrow());
  it('allows ": " only where asked (reasons), never newlines', () => {
    expect(assertPlainValue('canary failed: p95 > 200', 'reason', { allowColonSpace: true })).toBeTruthy();
    expect(() => assertPlainValue('a\nb', 'reason', { allowColonSpace: true })).toThrow(/newline/);
    expect(() => assertPlainValue('a\u2028b', 'reason', { allowColonSpace: true })).toThrow(/newline/);
  });
});

describe('values.yaml edited in place', () => {
  const src = [
    '# prod values — reviewed',
    'image:',
    "  repository: 'registry.example.com/ocr'   # single-quoted stays single-quoted",
    '  tag: ocr-v1.0         # plain',
    '  pullPolicy:   IfNotPresent',
    '',
    'model: {version: "ocr-v1.0", name: ocr}',
    'list: [a,  b]   # odd spacing kept',
    'anchors:',
    '  base: &b {cpu: 1}',
    '  copy: *b',
    'multi: |',
    '  line one',
    '  line two',
    '',
  ].join('\n');

  it('changes only the characters of the edited values', () => {
    const out = setYamlScalars(src, 'values.yaml', [
      { path: ['image', 'repository'], value: 'ghcr.io/acme/ocr' },
      { path: ['image', 'tag'], value: 'ocr-v3.10' },
      { path: ['model', 'version'], value: 'ocr-v3.10' },
    ]);
    const a = src.split('\n');
    const b = out.split('\n');
    expect(b).toHaveLength(a.length);
    for (let i = 0; i < a.length; i++) {
      if (i === 2) expect(b[i]).toBe("  repository: 'ghcr.io/acme/ocr'   # single-quoted stays single-quoted");
      else if (i === 3) expect(b[i]).toBe('  tag: ocr-v3.10         # plain');
      else if (i === 6) expect(b[i]).toBe('model: {version: "ocr-v3.10", name: ocr}');
      else expect(Buffer.from(b[i]!)).toEqual(Buffer.from(a[i]!));
    }
  });

  it('quotes a value that YAML would read as something else', () => {
    const out = setYamlScalars('model:\n  version: old\n', 'v.yaml', [{ path: ['model', 'version'], value: '3.10' }]);
    expect(out).toBe('model:\n  version: "3.10"\n');
    expect(parse(out).model.version).toBe('3.10');
    for (const v of ['true', 'null', '1e3', '0x10', '~', 'yes']) expect(parse(setYamlScalars('a: x\n', 'v.yaml', [{ path: ['a'], value: v }])).a).toBe(v);
  });

  it('round-trips any plain value exactly (property)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,40}$/), (v) => {
        const out = setYamlScalars(src, 'values.yaml', [{ path: ['image', 'tag'], value: v }]);
        expect(parse(out).image.tag).toBe(v);
        expect(out.split('\n').filter((_, i) => i !== 3)).toEqual(src.split('\n').filter((_, i) => i !== 3));
      }),
    );
  });

  it('adds missing keys and keeps the comments', () => {
    const out = setYamlScalars('# header\nimage:\n  repository: r # repo\n', 'v.yaml', [{ path: ['image', 'tag'], value: 't' }, { path: ['model', 'version'], value: 'v1' }]);
    expect(out).toContain('# header');
    expect(out).toContain('repository: r # repo');
    expect(parse(out)).toEqual({ image: { repository: 'r', tag: 't' }, model: { version: 'v1' } });
  });

  it('appends to quarantine.yaml, creating it with its header', () => {
    const first = appendToYamlList('', 'q.yaml', 'quarantine', { model_version: 'ocr-v3.3', reason: 'p95: 412 > 200' }, '# never again');
    expect(first.startsWith('# never again\n')).toBe(true);
    const second = appendToYamlList(first, 'q.yaml', 'quarantine', { model_version: 'ocr-v3.4' });
    expect(parse(second).quarantine).toEqual([{ model_version: 'ocr-v3.3', reason: 'p95: 412 > 200' }, { model_version: 'ocr-v3.4' }]);
  });

  it('names the file on a YAML error', () => {
    expect(() => setYamlScalars('a: [\n', 'apps/ocr/prod/values.yaml', [{ path: ['a'], value: 'x' }])).toThrow(/apps\/ocr\/prod\/values\.yaml: not valid YAML/);
  });
});

describe('git wrapper pieces', () => {
  it('writes trailers git interpret-trailers reads back, and refuses multi-line values', () => {
    const msg = formatCommitMessage('deploy(ocr/prod): ocr-v3.2', [['Mlloop-Action', 'deploy'], ['Dataset', ''], ['Reason', 'canary failed: p95=412 > 200']]);
    expect(msg).toBe('deploy(ocr/prod): ocr-v3.2\n\nMlloop-Action: deploy\nReason: canary failed: p95=412 > 200\n');
    const r = spawnSync('git', ['interpret-trailers', '--parse'], { input: msg, encoding: 'utf8' });
    expect(r.stdout).toBe('Mlloop-Action: deploy\nReason: canary failed: p95=412 > 200\n');
    expect(parseTrailers(r.stdout)).toEqual({ 'Mlloop-Action': 'deploy', Reason: 'canary failed: p95=412 > 200' });
    expect(() => formatCommitMessage('s', [['Reason', 'a\nMlloop-Action: rollback']])).toThrow(/one line/);
    expect(() => formatCommitMessage('s\nx', [])).toThrow(/one line/);
    expect(() => formatCommitMessage('s', [['Bad Key', 'v']])).toThrow(/trailer key/);
  });

  it('retries only non-fast-forward rejections', () => {
    expect(isNonFastForward(' ! [rejected]        HEAD -> main (fetch first)')).toBe(true);
    expect(isNonFastForward('!\tHEAD:refs/heads/main\t[rejected] (non-fast-forward)')).toBe(true);
    expect(isNonFastForward(' ! [remote rejected] HEAD -> main (cannot lock ref \'refs/heads/main\': is at 1 but expected 2)')).toBe(true);
    expect(isNonFastForward(' ! [remote rejected] HEAD -> main (pre-receive hook declined)')).toBe(false);
    expect(isNonFastForward('fatal: Authentication failed')).toBe(false);
  });

  it('backs off exponentially with full jitter, bounded', () => {
    const p = { ...DEFAULT_RETRY, random: () => 1 };
    expect([1, 2, 3, 4, 5, 6, 7, 20].map((n) => backoffMs(n, p))).toEqual([100, 200, 400, 800, 1600, 3200, 4000, 4000]);
    expect(backoffMs(3, { ...p, random: () => 0 })).toBe(0);
  });

  it('turns local paths into file:// URLs and takes credentials out of https URLs', () => {
    expect(remoteUrl('gitops.git', '/work')).toBe('file:///work/gitops.git');
    expect(remoteUrl('git@github.com:acme/gitops.git', '/work')).toBe('git@github.com:acme/gitops.git');
    const masker = new Masker();
    const ctx = { env: {}, log: silentLogger, signal: new AbortController().signal, cwd: '/', secret: (v: string | undefined) => masker.add(v) } as unknown as Context;
    const g = gitOptionsFrom({ repo: 'https://bot:tok%2Fen123@github.com/acme/gitops.git', branch: 'main', tokenUser: 'x-access-token', author: 'mlloop <m@example.com>' }, ctx);
    expect(g.remote).toEqual({ url: 'https://github.com/acme/gitops.git', branch: 'main', token: 'tok/en123', tokenUser: 'bot' });
    expect(masker.mask('tok/en123 and tok%2Fen123')).toBe('*** and ***');
    expect(() => gitOptionsFrom({ repo: 'x', branch: 'main', tokenUser: 'u', author: 'nobody' }, ctx)).toThrow(/--author/);
  });
});
