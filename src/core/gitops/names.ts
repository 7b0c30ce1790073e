import { ConfigurationError } from '../errors.js';

// Every value mlloop writes into the GitOps repository passes one of these checks first: a name that is
// not a DNS-1123 label could escape apps/<app>/<env>/, and a value with a newline, ": ", an anchor or a
// tag could add YAML keys or git trailers of its own.

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** `<app>` and `<env>` become path segments and Kubernetes names: DNS-1123 labels only. */
export function assertLabel(value: string, what: string): string {
  if (!DNS1123_LABEL.test(value) || value.length > 63) {
    throw new ConfigurationError(`${what} "${printable(value)}" is not a DNS-1123 label`, {
      hint: `use at most 63 lower-case letters, digits and "-", starting and ending with a letter or digit (e.g. "ocr", "prod")`,
    });
  }
  return value;
}

/** Shows a refused value on one line, so the error message itself cannot be forged by it. */
export function printable(value: string): string {
  const s = JSON.stringify(value).slice(1, -1);
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

const CONTROL = /[\u0000-\u001f\u007f\u2028\u2029]/;

/**
 * A value that is written into YAML or a commit trailer: one line, no control characters, nothing YAML
 * reads as structure (`: `, ` #`, a leading indicator such as `&anchor`, `*alias`, `!tag`, `{`, `[`, `|`).
 */
export function assertPlainValue(value: string, what: string, opts: { allowColonSpace?: boolean; max?: number } = {}): string {
  const fail = (why: string) => {
    throw new ConfigurationError(`${what} "${printable(value)}" is refused: ${why}`, { hint: 'pass a plain one-line value (letters, digits, ".", "-", "_", "/", ":" without a following space)' });
  };
  if (value.length === 0) fail('it is empty');
  if (value.length > (opts.max ?? 256)) fail(`it is longer than ${opts.max ?? 256} characters`);
  if (CONTROL.test(value)) fail('it contains a newline or another control character');
  if (value !== value.trim()) fail('it starts or ends with white space');
  if (!opts.allowColonSpace) {
    if (/:\s|\s#/.test(value) || value.endsWith(':')) fail('": " and " #" are YAML structure');
    if (/^[-?:,[\]{}#&*!|>'"%@`]/.test(value)) fail('a leading YAML indicator (anchor &, alias *, tag !, flow { [ …)');
  }
  return value;
}

const MODEL_VERSION = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;

/** Model versions appear in image tags, labels and file names: the Docker tag grammar. */
export function assertModelVersion(value: string, what = 'model version'): string {
  assertPlainValue(value, what);
  if (!MODEL_VERSION.test(value)) {
    throw new ConfigurationError(`${what} "${printable(value)}" is not a valid version`, { hint: 'use letters, digits, ".", "_", "+" and "-" (at most 128 characters, starting with a letter or digit), e.g. ocr-v3.2' });
  }
  return value;
}

export function assertCommitSha(value: string, what = 'source commit'): string {
  if (!/^[0-9a-f]{7,64}$/.test(value)) throw new ConfigurationError(`${what} "${printable(value)}" is not a git commit id`, { hint: 'pass the full 40-character hex sha (e.g. ${{ github.sha }})' });
  return value;
}

export function assertUrl(value: string, what: string): string {
  assertPlainValue(value, what, { max: 2048 });
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new ConfigurationError(`${what} "${printable(value)}" is not a URL`, { hint: 'pass an absolute http(s) URL' });
  }
  if (!['http:', 'https:'].includes(u.protocol) || /\s/.test(value)) throw new ConfigurationError(`${what} "${printable(value)}" must be an http(s) URL without spaces`);
  if (u.username || u.password) throw new ConfigurationError(`${what} must not carry credentials`, { hint: 'remove the user:password@ part' });
  return value;
}

// ---------------------------------------------------------------------------------------------
// Image references: the grammar of github.com/distribution/reference.

const ALNUM = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|-+)';
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]+)?`;
export const TAG_PATTERN = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const NAME = new RegExp(`^(?:(${DOMAIN})/)?(${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)$`);

export interface ImageRef {
  /** Everything before the tag and digest: `registry.example.com/ocr-service`. */
  repository: string;
  tag?: string;
  digest?: string;
}

/** Parses `repo[:tag][@digest]`; throws exit 2 when it does not follow the reference grammar. */
export function parseImageRef(ref: string, what = 'image'): ImageRef {
  assertPlainValue(ref, what, { max: 512 });
  const fail = (why: string): never => {
    throw new ConfigurationError(`${what} "${printable(ref)}" is not a valid image reference: ${why}`, { hint: 'write it like registry.example.com/team/ocr-service:ocr-v3.2-commit-abc1234-20250612110522' });
  };
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) fail('the digest must be algorithm:hex, e.g. sha256:<64 hex>');
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_PATTERN.test(tag)) fail('the tag must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}');
  }
  if (rest.length > 255) fail('the name is longer than 255 characters');
  const m = NAME.exec(rest);
  if (!m) fail('the repository name must be lower-case path components separated by "/", with an optional registry host');
  // A first component without "." or ":" (and not localhost) is a path, not a registry.
  if (!tag && !digest) fail('it needs a tag or a digest (mlloop never deploys an implicit :latest)');
  return { repository: rest, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

// ---------------------------------------------------------------------------------------------
// Model version order.

export interface ParsedVersion {
  prefix: string;
  numbers: number[];
  pre: string[];
}

/**
 * `ocr-v3.2`, `v3.2.1-rc.1`, `3.10`, `model2-v1.0+build.5`: an optional name prefix ending in "-", "_" or
 * "/", an optional "v", dot-separated numbers, an optional `-prerelease` and an ignored `+build`.
 */
export function parseVersion(v: string): ParsedVersion | undefined {
  const m = /^((?:.*?[-_/])?)[vV]?(\d+(?:\.\d+)*)(?:-([0-9A-Za-z][0-9A-Za-z.-]*))?(?:\+[0-9A-Za-z.-]+)?$/.exec(v);
  if (!m) return undefined;
  return { prefix: m[1]!.replace(/[-_/]+$/, '').toLowerCase(), numbers: m[2]!.split('.').map(Number), pre: m[3] ? m[3].split('.') : [] };
}

/**
 * Compares two model versions the way semantic versioning orders releases: numbers numerically
 * (3.10 > 3.9), a pre-release before its release (3.2-rc.1 < 3.2), build metadata ignored. Returns
 * undefined when the two cannot be ordered (unparseable, or different name prefixes).
 */
export function compareVersions(a: string, b: string): number | undefined {
  if (a === b) return 0;
  const x = parseVersion(a);
  const y = parseVersion(b);
  if (!x || !y || x.prefix !== y.prefix) return undefined;
  for (let i = 0; i < Math.max(x.numbers.length, y.numbers.length); i++) {
    const d = (x.numbers[i] ?? 0) - (y.numbers[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  if (!x.pre.length || !y.pre.length) return x.pre.length === y.pre.length ? 0 : x.pre.length ? -1 : 1;
  for (let i = 0; i < Math.max(x.pre.length, y.pre.length); i++) {
    const p = x.pre[i];
    const q = y.pre[i];
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    const pn = /^\d+$/.test(p);
    const qn = /^\d+$/.test(q);
    if (pn && qn && Number(p) !== Number(q)) return Math.sign(Number(p) - Number(q));
    if (pn !== qn) return pn ? -1 : 1;
    if (p !== q) return p < q ? -1 : 1;
  }
  return 0;
}
