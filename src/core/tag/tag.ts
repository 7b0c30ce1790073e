import { ConfigurationError } from '../errors.js';
import { TAG_PATTERN, parseImageRef, printable } from '../gitops/names.js';

export interface TagInput {
  /** Model name, e.g. `ocr`. */
  model: string;
  /** Model version: `3.2`, `v3.2` or `ocr-v3.2` all mean version 3.2 of model ocr. */
  version: string;
  /** The model repository commit (at least 7 hex digits). */
  sha: string;
  /** Build time; the tag carries it in UTC. */
  time: Date;
  /** Image repository without tag, e.g. `registry.example.com/ocr-service`. */
  image?: string;
  /** URL of the source repository (org.opencontainers.image.source). */
  source?: string;
  dataset?: string;
}

export interface TagResult {
  /** `<model>-v<version>-commit-<sha7>-<yyyymmddHHMMss>` */
  tag: string;
  /** `<model>-v<version>`: what gitops deploy calls the model version. */
  model_version: string;
  /** Full references (`<image>:<tag>`), or the bare tag without --image. */
  tags: string[];
  labels: Record<string, string>;
}

const NAME_PART = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** yyyymmddHHMMss in UTC. */
export function compactUtc(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, '').replace(/[-:T]/g, '');
}

/** Reads an ISO-8601 time; one without a zone is taken as UTC (never the machine's local time). */
export function parseTime(text: string, what = '--time'): Date {
  const t = text.trim();
  const m = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/i.exec(t);
  const d = m ? new Date(m[1] ? t.replace(' ', 'T') : `${t.replace(' ', 'T')}${t.length === 10 ? 'T00:00:00' : ''}Z`) : new Date(NaN);
  if (Number.isNaN(d.getTime())) throw new ConfigurationError(`${what} "${printable(text)}" is not an ISO-8601 time`, { hint: 'write it like 2025-06-12T11:05:22Z (a time without a zone is UTC)' });
  return d;
}

/** Strips the ways people write a version (`v3.2`, `ocr-v3.2`) down to `3.2`. */
export function bareVersion(model: string, version: string): string {
  let v = version.trim();
  if (v.toLowerCase().startsWith(`${model.toLowerCase()}-`)) v = v.slice(model.length + 1);
  return v.replace(/^[vV](?=\d)/, '');
}

export function imageTag(i: TagInput): TagResult {
  if (!NAME_PART.test(i.model)) throw new ConfigurationError(`--model "${printable(i.model)}" cannot be part of an image tag`, { hint: 'use letters, digits, "_", "." and "-", starting with a letter, digit or "_" (e.g. ocr)' });
  const v = bareVersion(i.model, i.version);
  if (!v || !/^[A-Za-z0-9_.-]+$/.test(v)) throw new ConfigurationError(`--version "${printable(i.version)}" cannot be part of an image tag`, { hint: 'use letters, digits, "_", "." and "-", e.g. 3.2 or 3.2.1-rc.1' });
  if (!/^[0-9a-fA-F]{7,64}$/.test(i.sha)) throw new ConfigurationError(`--sha "${printable(i.sha)}" is not a git commit id`, { hint: 'pass the commit sha (at least 7 hex digits), e.g. ${{ github.sha }}' });
  if (Number.isNaN(i.time.getTime())) throw new ConfigurationError('--time is not a valid time');
  const modelVersion = `${i.model}-v${v}`;
  const tag = `${modelVersion}-commit-${i.sha.slice(0, 7).toLowerCase()}-${compactUtc(i.time)}`;
  if (!TAG_PATTERN.test(tag)) {
    throw new ConfigurationError(`the image tag "${tag}" breaks the Docker tag grammar ${TAG_PATTERN.source}${tag.length > 128 ? ` (it has ${tag.length} characters, at most 128 are allowed)` : ''}`, { hint: 'shorten --model or --version' });
  }
  let tags = [tag];
  if (i.image) {
    const repo = i.image.trim();
    if (/[:@]/.test(repo.slice(repo.lastIndexOf('/') + 1))) throw new ConfigurationError(`--image "${printable(repo)}" must be the repository without a tag or digest`, { hint: 'e.g. registry.example.com/ocr-service' });
    // The same grammar as any reference mlloop deploys.
    parseImageRef(`${repo}:${tag}`, '--image');
    tags = [`${repo}:${tag}`];
  }
  const labels: Record<string, string> = {
    'org.opencontainers.image.title': i.model,
    'org.opencontainers.image.version': tag,
    'org.opencontainers.image.revision': i.sha.toLowerCase(),
    'org.opencontainers.image.created': i.time.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    ...(i.source ? { 'org.opencontainers.image.source': i.source } : {}),
    'io.mlloop.model-version': modelVersion,
    ...(i.dataset ? { 'io.mlloop.dataset': i.dataset } : {}),
  };
  for (const [k, val] of Object.entries(labels)) if (/[\r\n]/.test(val)) throw new ConfigurationError(`label ${k} must be one line`);
  return { tag, model_version: modelVersion, tags, labels };
}
