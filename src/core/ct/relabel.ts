import { ConfigurationError, jsonPath } from '../errors.js';
import { looksLikeJsonl, readJson, readJsonl } from '../io/read.js';
import { writeFilesAtomic } from '../io/atomic.js';
import type { Logger } from '../log.js';
import { readInferenceLog } from './inference-log.js';
import { buildTasks, labelConfig, postTasks, type LabelStudioNames, type LabelStudioTask, type PostOutcome } from './label-studio.js';
import { selectForRelabel, type Candidate, type PredictedImage, type SelectionRules } from './select.js';

/** The image objects of a JSON document ({"images": [...]} or a bare array) or of a JSONL file, with where each is. */
async function readObjects(file: string, what: string): Promise<{ items: { value: unknown; where: (string | number)[] }[]; top: Record<string, unknown> }> {
  if (looksLikeJsonl(file)) {
    const items: { value: unknown; where: (string | number)[] }[] = [];
    for await (const { value, line } of readJsonl(file)) items.push({ value, where: [`line ${line}`] });
    return { items, top: {} };
  }
  const doc = await readJson(file, what);
  const images = Array.isArray(doc) ? doc : (doc as { images?: unknown })?.images;
  if (!Array.isArray(images)) throw new ConfigurationError(`${what} must hold {"images": [...]} or be JSONL with one image per line`, { file, path: '$' });
  return { items: images.map((value, i) => ({ value, where: Array.isArray(doc) ? [i] : ['images', i] })), top: Array.isArray(doc) ? {} : (doc as Record<string, unknown>) };
}

/** Reads predictions in mlloop/fields@1 (JSON or JSONL), keyed by image id. */
export async function readPredictions(file: string): Promise<Map<string, PredictedImage>> {
  const out = new Map<string, PredictedImage>();
  const { items, top } = await readObjects(file, 'predictions');
  const topVersion = top.model_version;
  for (const { value, where } of items) {
    const at = (p: (string | number)[]) => ({ file, path: where[0]?.toString().startsWith('line') ? `${where[0]}: ${jsonPath(p)}` : jsonPath([...where, ...p]) });
    const im = value as Record<string, unknown>;
    if (!im || typeof im !== 'object' || typeof im.image_id !== 'string') throw new ConfigurationError('each image needs an "image_id" string', at(['image_id']));
    if (!Array.isArray(im.fields)) throw new ConfigurationError('"fields" must be an array', at(['fields']));
    const fields = im.fields.map((f: Record<string, unknown>, i: number) => {
      if (!f || typeof f.label !== 'string') throw new ConfigurationError('a field needs a "label" string', at(['fields', i, 'label']));
      const b = f.bbox;
      if (b !== undefined && !(Array.isArray(b) && b.length === 4 && b.every((x) => typeof x === 'number' && Number.isFinite(x)) && b[0] < b[2] && b[1] < b[3])) {
        throw new ConfigurationError('"bbox" must be [x1, y1, x2, y2] in pixels with x1<x2, y1<y2', at(['fields', i, 'bbox']));
      }
      if (f.confidence !== undefined && (typeof f.confidence !== 'number' || !Number.isFinite(f.confidence))) throw new ConfigurationError('"confidence" must be a number', at(['fields', i, 'confidence']));
      return { label: f.label, value: f.value === null || f.value === undefined ? null : String(f.value), ...(b ? { bbox: b as [number, number, number, number] } : {}), ...(f.confidence !== undefined ? { confidence: f.confidence as number } : {}) };
    });
    const mv = typeof im.model_version === 'string' ? im.model_version : typeof topVersion === 'string' ? topVersion : undefined;
    out.set(im.image_id, { image_id: im.image_id, fields, ...(mv ? { model_version: mv } : {}), ...(typeof im.width === 'number' ? { width: im.width } : {}), ...(typeof im.height === 'number' ? { height: im.height } : {}) });
  }
  return out;
}

/** Reads image sizes from any JSON/JSONL of {"image_id", "width", "height"} (the example's docs.jsonl). */
export async function readSizes(file: string): Promise<Map<string, { width: number; height: number }>> {
  const out = new Map<string, { width: number; height: number }>();
  for (const { value } of (await readObjects(file, 'image sizes')).items) {
    const v = value as Record<string, unknown>;
    if (v && typeof v.image_id === 'string' && typeof v.width === 'number' && typeof v.height === 'number' && v.width > 0 && v.height > 0) out.set(v.image_id, { width: v.width, height: v.height });
  }
  return out;
}

export interface RelabelOptions {
  inferenceLog: string;
  predictions?: string;
  docs?: string;
  imageSize?: { width: number; height: number };
  since?: number;
  rules: SelectionRules;
  limit?: number;
  imageUrl: string;
  names: LabelStudioNames;
  out: string;
  post?: { url: string; project: number; token: string; scheme: 'Token' | 'Bearer'; batchSize: number };
  log: Logger;
  signal?: AbortSignal;
}

export interface RelabelResult {
  selected: Candidate[];
  considered: number;
  tasks: LabelStudioTask[];
  label_config: string;
  posted: PostOutcome | null;
}

/** `{file_id}` in the template becomes the file id (URL-encoded when the template is a URL). */
export function imageUrlFor(template: string): (fileId: string) => string {
  const isUrl = /^[a-z][a-z0-9+.-]*:\/\//i.test(template);
  return (id) => template.split('{file_id}').join(isUrl ? encodeURIComponent(id) : id);
}

export async function relabel(o: RelabelOptions): Promise<RelabelResult> {
  const { records } = await readInferenceLog(o.inferenceLog, o.since);
  const predictions = o.predictions ? await readPredictions(o.predictions) : new Map<string, PredictedImage>();
  const sizes = o.docs ? await readSizes(o.docs) : new Map<string, { width: number; height: number }>();
  const rules: SelectionRules = { ...o.rules };
  if (!rules.keyFields.length) {
    // Default key fields: every label the model produces somewhere.
    const labels = new Set<string>();
    for (const p of predictions.values()) for (const f of p.fields) labels.add(f.label);
    for (const r of records) for (const k of Object.keys(r.fields ?? {})) labels.add(k);
    rules.keyFields = [...labels].sort();
  }
  const ranked = selectForRelabel(records, predictions, rules);
  const selected = o.limit !== undefined ? ranked.slice(0, o.limit) : ranked;
  const tasks = buildTasks(selected, {
    imageUrl: imageUrlFor(o.imageUrl),
    sizeOf: (id) => {
      const p = predictions.get(id);
      if (p?.width && p.height) return { width: p.width, height: p.height };
      return sizes.get(id) ?? o.imageSize;
    },
    names: o.names,
  });
  const labels = [...new Set([...rules.keyFields, ...selected.flatMap((c) => c.fields.map((f) => f.label))])].sort();
  const config = labelConfig(labels, o.names);
  await writeFilesAtomic([{ path: o.out, data: `${JSON.stringify(tasks, null, 2)}\n` }]);
  let posted: PostOutcome | null = null;
  if (o.post && tasks.length) posted = await postTasks({ ...o.post, tasks, log: o.log, signal: o.signal });
  return { selected, considered: new Set([...records.map((r) => r.file_id), ...predictions.keys()]).size, tasks, label_config: config, posted };
}

