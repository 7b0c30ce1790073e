import { createHash } from 'node:crypto';
import { ConfigurationError, ExternalError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Candidate } from './select.js';
import { httpFetch } from '../http/proxy.js';

/** Names that tie the tasks to the project's labeling configuration. */
export interface LabelStudioNames {
  /** Task data key of the image (`$image` in the config). */
  dataKey: string;
  /** The Image tag's name. */
  toName: string;
  /** The RectangleLabels tag's name. */
  rectangles: string;
  /** The per-region TextArea tag's name. */
  text: string;
}

export const defaultNames: LabelStudioNames = { dataKey: 'image', toName: 'image', rectangles: 'label', text: 'transcription' };

export interface RectangleResult {
  id: string;
  from_name: string;
  to_name: string;
  type: 'rectanglelabels';
  original_width: number;
  original_height: number;
  image_rotation: 0;
  value: { x: number; y: number; width: number; height: number; rotation: 0; rectanglelabels: [string] };
  score?: number;
}

export interface TextResult {
  id: string;
  from_name: string;
  to_name: string;
  type: 'textarea';
  original_width: number;
  original_height: number;
  image_rotation: 0;
  value: { x: number; y: number; width: number; height: number; rotation: 0; text: [string] };
  score?: number;
}

/** A task in Label Studio's import format: `data` plus `predictions` for pre-labelling. */
export interface LabelStudioTask {
  data: Record<string, unknown>;
  meta: Record<string, unknown>;
  predictions: { model_version: string; score: number; result: (RectangleResult | TextResult)[] }[];
}

/** Label Studio region ids are free strings; deriving them from the file and field keeps exports reproducible. */
function regionId(fileId: string, label: string, index: number): string {
  return createHash('sha1').update(`${fileId}\0${label}\0${index}`).digest('base64url').slice(0, 10);
}

const round = (x: number) => Math.round(x * 1e6) / 1e6;

/**
 * Builds one task per candidate. Each predicted field with a box becomes a rectangle labelled with the
 * field and a per-region text area with its value, linked by the same region id; coordinates are
 * percentages of the image size, as Label Studio stores them.
 */
export function buildTasks(candidates: readonly Candidate[], o: { imageUrl: (fileId: string) => string; sizeOf: (fileId: string) => { width: number; height: number } | undefined; names?: LabelStudioNames; defaultModelVersion?: string }): LabelStudioTask[] {
  const n = o.names ?? defaultNames;
  return candidates.map((c) => {
    const boxed = c.fields.filter((f) => f.bbox);
    const result: (RectangleResult | TextResult)[] = [];
    if (boxed.length) {
      const size = o.sizeOf(c.file_id);
      if (!size) {
        throw new ConfigurationError(`no image size for "${c.file_id}": box coordinates cannot be turned into percentages`, {
          hint: 'pass --docs with {"image_id", "width", "height"} per image (e.g. the example\'s docs.jsonl), or --image-size 1240x1754',
        });
      }
      boxed.forEach((f, i) => {
        const [x1, y1, x2, y2] = f.bbox!;
        const box = {
          x: round((Math.max(0, x1) / size.width) * 100),
          y: round((Math.max(0, y1) / size.height) * 100),
          width: round(((Math.min(size.width, x2) - Math.max(0, x1)) / size.width) * 100),
          height: round(((Math.min(size.height, y2) - Math.max(0, y1)) / size.height) * 100),
          rotation: 0 as const,
        };
        const id = regionId(c.file_id, f.label, i);
        const common = { id, to_name: n.toName, original_width: size.width, original_height: size.height, image_rotation: 0 as const, ...(f.confidence !== undefined ? { score: f.confidence } : {}) };
        result.push({ ...common, from_name: n.rectangles, type: 'rectanglelabels', value: { ...box, rectanglelabels: [f.label] } });
        result.push({ ...common, from_name: n.text, type: 'textarea', value: { ...box, text: [f.value ?? ''] } });
      });
    }
    const reasons = c.reasons.map((r) => r.detail).join('; ');
    return {
      data: { [n.dataKey]: o.imageUrl(c.file_id), file_id: c.file_id, reasons, uncertainty: round(c.uncertainty) },
      meta: { mlloop: 'relabel', file_id: c.file_id, confidence_score: c.confidence_score, uncertainty: round(c.uncertainty), reasons: c.reasons, inferred_at: c.timestamp },
      predictions: result.length ? [{ model_version: c.model_version ?? o.defaultModelVersion ?? 'unknown', score: round(1 - c.uncertainty), result }] : [],
    };
  });
}

const xmlAttr = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

/** The labeling configuration these tasks expect (paste it into the project's Labeling Interface). */
export function labelConfig(labels: readonly string[], names: LabelStudioNames = defaultNames): string {
  return [
    '<View>',
    `  <Image name="${xmlAttr(names.toName)}" value="$${xmlAttr(names.dataKey)}" zoom="true"/>`,
    `  <RectangleLabels name="${xmlAttr(names.rectangles)}" toName="${xmlAttr(names.toName)}">`,
    ...labels.map((l) => `    <Label value="${xmlAttr(l)}"/>`),
    '  </RectangleLabels>',
    `  <TextArea name="${xmlAttr(names.text)}" toName="${xmlAttr(names.toName)}" editable="true" perRegion="true" required="false" displayMode="region-list" placeholder="value"/>`,
    '</View>',
    '',
  ].join('\n');
}

export interface PostOptions {
  url: string;
  project: number;
  token: string;
  scheme: 'Token' | 'Bearer';
  tasks: readonly LabelStudioTask[];
  /** Tasks per request; Label Studio accepts at most 250,000 tasks and 200 MB per request. */
  batchSize: number;
  maxBytes?: number;
  retries?: number;
  log: Logger;
  signal?: AbortSignal;
  sleep?: (ms: number) => Promise<void>;
}

export interface PostOutcome {
  batches: number;
  task_count: number;
  prediction_count: number;
  task_ids: number[];
}

export const MAX_TASKS_PER_REQUEST = 250_000;
export const MAX_BYTES_PER_REQUEST = 200 * 1024 * 1024;

/** Splits tasks into requests within both limits (a single task larger than the byte limit is an error). */
export function batchTasks(tasks: readonly LabelStudioTask[], batchSize: number, maxBytes: number): string[] {
  const size = Math.min(batchSize, MAX_TASKS_PER_REQUEST);
  const bodies: string[] = [];
  let cur: string[] = [];
  let bytes = 2;
  const flush = () => {
    if (cur.length) bodies.push(`[${cur.join(',')}]`);
    cur = [];
    bytes = 2;
  };
  for (const t of tasks) {
    const s = JSON.stringify(t);
    const b = Buffer.byteLength(s) + 1;
    if (b + 2 > maxBytes) throw new ConfigurationError(`task for "${String(t.data.file_id)}" alone is ${b} bytes, over the ${maxBytes}-byte request limit`);
    if (cur.length >= size || bytes + b > maxBytes) flush();
    cur.push(s);
    bytes += b;
  }
  flush();
  return bodies;
}

async function detail(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    const j = JSON.parse(text) as Record<string, unknown>;
    const v = j.validation_errors ?? j.detail ?? j;
    // Django REST framework nests messages in objects and lists: show the sentences themselves.
    const flat = (x: unknown): string[] => (typeof x === 'string' ? [x] : Array.isArray(x) ? x.flatMap(flat) : x && typeof x === 'object' ? Object.values(x).flatMap(flat) : []);
    const parts = flat(v);
    return (parts.length ? parts.join('; ') : JSON.stringify(v)).slice(0, 600);
  } catch {
    return text.slice(0, 600);
  }
}

/**
 * Posts tasks to `POST /api/projects/{id}/import` in batches. 429 and 5xx answers and network errors
 * are retried with backoff (honouring Retry-After); a rejected token, an unknown project or tasks
 * that do not fit the project's labeling configuration stop at once with what to fix. On failure
 * the message says how many tasks were already imported, so nothing is posted twice by accident.
 */
export async function postTasks(o: PostOptions): Promise<PostOutcome> {
  const base = o.url.replace(/\/+$/, '');
  const endpoint = `${base}/api/projects/${o.project}/import?return_task_ids=true`;
  const bodies = batchTasks(o.tasks, o.batchSize, o.maxBytes ?? MAX_BYTES_PER_REQUEST);
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const retries = o.retries ?? 4;
  const out: PostOutcome = { batches: 0, task_count: 0, prediction_count: 0, task_ids: [] };
  const done = () => (out.task_count ? ` (${out.task_count} task(s) in ${out.batches} earlier batch(es) were already imported; re-run with the remaining tasks only)` : '');
  for (let i = 0; i < bodies.length; i++) {
    o.log.progress(`Label Studio: posting batch ${i + 1}/${bodies.length}`);
    let lastError = '';
    for (let attempt = 0; ; attempt++) {
      let res: Response | undefined;
      try {
        res = await httpFetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `${o.scheme} ${o.token}`, accept: 'application/json' }, body: bodies[i], signal: o.signal });
      } catch (e) {
        lastError = (e as Error).message;
      }
      if (res?.ok) {
        const j = (await res.json()) as { task_count?: number; prediction_count?: number; task_ids?: number[] };
        out.batches++;
        out.task_count += j.task_count ?? 0;
        out.prediction_count += j.prediction_count ?? 0;
        out.task_ids.push(...(j.task_ids ?? []));
        break;
      }
      if (res) {
        const why = await detail(res);
        if (res.status === 401 || res.status === 403) throw new ConfigurationError(`Label Studio refused the token (HTTP ${res.status}: ${why})${done()}`, { hint: `pass a valid access token with --token or LABEL_STUDIO_API_KEY; personal access tokens need --auth-scheme Bearer` });
        if (res.status === 404) throw new ConfigurationError(`Label Studio has no project ${o.project} at ${base} (HTTP 404)${done()}`, { hint: 'check --project (the number in the project URL) and --label-studio' });
        if (res.status === 400 || res.status === 413) throw new ConfigurationError(`Label Studio rejected batch ${i + 1}: ${why}${done()}`, { hint: 'the tasks must match the project labeling configuration: see --data-key/--to-name/--rect-name/--text-name and the label_config this command prints' });
        lastError = `HTTP ${res.status}: ${why}`;
        if (res.status !== 429 && res.status < 500) throw new ExternalError(`Label Studio import failed: ${lastError}${done()}`);
      }
      if (attempt >= retries) throw new ExternalError(`Label Studio import failed after ${retries + 1} attempts: ${lastError}${done()}`, { hint: 'check that Label Studio is reachable, then re-run' });
      const after = Number(res?.headers.get('retry-after'));
      const wait = Number.isFinite(after) && after > 0 ? after * 1000 : 500 * 2 ** attempt * (0.5 + Math.random());
      o.log.warn(`Label Studio: ${lastError}; retrying in ${(wait / 1000).toFixed(1)}s`);
      await sleep(wait);
    }
  }
  return out;
}
