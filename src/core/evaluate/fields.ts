import { promises as fs } from 'node:fs';
import { ConfigurationError, jsonPath } from '../errors.js';
import { readText, parseJson, readJsonlBatches, parseJsonlLine, looksLikeJsonl } from '../io/read.js';

/**
 * Reading `mlloop/fields@1` files (predictions and ground truth): one JSON document with `images`,
 * or JSONL with one image per line. Every image is checked as it is read; a bad one stops the run
 * with the file (and line), the image and the JSON path (exit 2).
 */

export interface Field {
  label: string;
  /** x1, y1, x2, y2 in absolute pixels (checked: four finite numbers, x1 ≤ x2, y1 ≤ y2). */
  bbox: readonly number[];
  value: string;
  /** Read on predictions only (1 when a prediction carries none); whatever a GT field holds is ignored. */
  confidence: number;
}

export interface Image {
  id: string;
  latency: number | undefined;
  fields: Field[];
}

export interface FileMeta {
  dataset?: string;
  model_version?: string;
}

export type Side = 'gt' | 'pred';
const SIDE_NAME: Record<Side, string> = { gt: 'ground truth', pred: 'predictions' };

/** Where one image sits in its file, for error messages. */
interface Where {
  file: string;
  side: Side;
  /** JSONL line (1-based), or undefined for a JSON document. */
  line?: number;
  /** Index in `images` for a JSON document. */
  index?: number;
}

function fail(w: Where, imageId: string | undefined, segs: (string | number)[], message: string, hint: string): never {
  const file = w.line !== undefined ? `${w.file}:${w.line}` : w.file;
  const path = jsonPath(w.line !== undefined ? segs : ['images', w.index ?? 0, ...segs]);
  const who = imageId !== undefined ? `image "${imageId}": ` : '';
  throw new ConfigurationError(`${who}${message}`, { file, path, hint });
}

/** Box coordinates are pixels: past this, areas and IoU lose meaning (and 1e308² overflows). */
export const MAX_COORD = 1e9;

/** Checks one image object and turns it into the evaluator's form. */
export function parseImage(v: unknown, w: Where): Image {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    fail(w, undefined, [], `an image must be a JSON object, not ${describe(v)}`, 'write {"image_id": "…", "fields": [{"label": "…", "bbox": [x1, y1, x2, y2], "value": "…"}]}');
  }
  const o = v as Record<string, unknown>;
  let id = o.image_id;
  if (typeof id === 'number' && Number.isInteger(id)) {
    // A double holds integers exactly only up to 2^53: 123456789012345678 and …679 would both read as …680.
    if (!Number.isSafeInteger(id)) fail(w, undefined, ['image_id'], `image_id ${id} is a number too large to be read exactly (beyond ${Number.MAX_SAFE_INTEGER}): two different ids could match as one image`, 'write image ids as JSON strings, e.g. "image_id": "123456789012345678"');
    id = String(id);
  }
  if (typeof id !== 'string' || id === '') {
    fail(w, undefined, ['image_id'], id === undefined ? 'image_id is missing' : `image_id must be a non-empty string, not ${describe(id)}`, 'give every image a unique "image_id" string');
  }
  let latency: number | undefined;
  if (o.latency_ms !== undefined && o.latency_ms !== null) {
    const l = o.latency_ms;
    if (typeof l !== 'number' || !Number.isFinite(l) || l < 0) fail(w, id, ['latency_ms'], `latency_ms must be a finite number ≥ 0, not ${describe(l)}`, 'write the inference time in milliseconds, or leave latency_ms out');
    latency = l;
  }
  const rawFields = o.fields ?? [];
  if (!Array.isArray(rawFields)) fail(w, id, ['fields'], `fields must be a list, not ${describe(rawFields)}`, 'write "fields": [] for an image without fields');
  // The parsed objects themselves become the evaluator's fields once checked: no copy per field.
  const fields = rawFields as Field[];
  const pred = w.side === 'pred';
  for (let i = 0; i < rawFields.length; i++) {
    const f = rawFields[i] as Record<string, unknown>;
    if (f === null || typeof f !== 'object' || Array.isArray(f)) fail(w, id, ['fields', i], `a field must be a JSON object, not ${describe(f)}`, 'write {"label": "…", "bbox": [x1, y1, x2, y2], "value": "…"}');
    const label = f.label;
    if (typeof label !== 'string' || label === '') fail(w, id, ['fields', i, 'label'], label === undefined ? 'label is missing' : `label must be a non-empty string, not ${describe(label)}`, 'name the field, e.g. "label": "name"');
    const b = f.bbox;
    if (!Array.isArray(b) || b.length !== 4 || !(Number.isFinite(b[0]) && Number.isFinite(b[1]) && Number.isFinite(b[2]) && Number.isFinite(b[3])) || typeof b[0] !== 'number' || typeof b[1] !== 'number' || typeof b[2] !== 'number' || typeof b[3] !== 'number') {
      fail(w, id, ['fields', i, 'bbox'], `bbox must be four finite numbers [x1, y1, x2, y2], not ${describe(b)}`, 'write the box in absolute pixels as [x1, y1, x2, y2]');
    }
    if (!(Math.abs(b[0]) <= MAX_COORD && Math.abs(b[1]) <= MAX_COORD && Math.abs(b[2]) <= MAX_COORD && Math.abs(b[3]) <= MAX_COORD)) {
      fail(w, id, ['fields', i, 'bbox'], `bbox ${describe(b)} has a coordinate beyond ±${MAX_COORD} pixels`, 'write the box in absolute pixels of the image (no page is a billion pixels wide)');
    }
    if (b[2] < b[0] || b[3] < b[1]) {
      fail(w, id, ['fields', i, 'bbox'], `bbox ${JSON.stringify(b)} has ${b[2] < b[0] ? 'x2 < x1' : 'y2 < y1'}`, 'write the box as [x1, y1, x2, y2] (corners, not [x, y, width, height] with a negative size)');
    }
    const value = f.value;
    if (typeof value !== 'string') fail(w, id, ['fields', i, 'value'], value === undefined ? 'value is missing' : `value must be a string, not ${describe(value)}`, 'write the text as a JSON string, e.g. "value": "120000" ("" for no text)');
    if (pred) {
      const c = f.confidence;
      if (c === undefined || c === null) f.confidence = 1;
      else if (typeof c !== 'number' || !(c >= 0 && c <= 1)) fail(w, id, ['fields', i, 'confidence'], `confidence must be a number in [0, 1], not ${describe(c)}`, 'write the model\'s score as a probability between 0 and 1');
    }
  }
  return { id, latency, fields };
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}…` : s;
}

/**
 * A fields file opened for reading: images in file order, a batch at a time (one read of a JSONL
 * file); each batch parses and checks its images only as they are taken, so one image is alive at a time.
 */
export interface FieldsSource {
  file: string;
  side: Side;
  jsonl: boolean;
  bytes: number;
  meta: FileMeta;
  batches(): AsyncGenerator<Iterable<Image>>;
}

export async function* imagesOf(src: FieldsSource): AsyncGenerator<Image> {
  for await (const batch of src.batches()) yield* batch;
}

function metaOf(o: Record<string, unknown>, meta: FileMeta): void {
  if (meta.dataset === undefined && typeof o.dataset === 'string') meta.dataset = o.dataset;
  if (meta.model_version === undefined && typeof o.model_version === 'string') meta.model_version = o.model_version;
}

/**
 * Opens a fields file. JSONL (`.jsonl`/`.ndjson`, or a file whose first line is one image object) is
 * streamed line by line; a JSON document is parsed whole.
 */
export async function openFields(file: string, side: Side): Promise<FieldsSource> {
  let bytes: number;
  try {
    const st = await fs.stat(file);
    if (st.isDirectory()) throw new ConfigurationError(`${SIDE_NAME[side]} file is a directory, not a file`, { file });
    bytes = st.size;
  } catch (e) {
    if (e instanceof ConfigurationError) throw e;
    throw new ConfigurationError(`${SIDE_NAME[side]} file not found`, { file, hint: 'check the path (relative paths are resolved from the working directory)' });
  }
  const meta: FileMeta = {};
  if (looksLikeJsonl(file)) return jsonlSource(file, side, bytes, meta);
  const text = await readText(file, `${SIDE_NAME[side]} file`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    // JSONL under a .json name: the first line is a whole image object.
    const first = text.slice(0, text.indexOf('\n') >>> 0).trim();
    let head: unknown;
    try {
      head = JSON.parse(first);
    } catch {
      head = undefined;
    }
    if (head && typeof head === 'object' && 'image_id' in head) return jsonlSource(file, side, bytes, meta);
    doc = parseJson(text, file);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc) || !('images' in doc)) {
    throw new ConfigurationError(`${SIDE_NAME[side]}: "images" is missing`, {
      file,
      path: '$.images',
      hint: 'an mlloop/fields@1 file is {"dataset": "…", "images": [{"image_id": "…", "fields": […]}]}, or JSONL with one image object per line',
    });
  }
  const o = doc as Record<string, unknown>;
  if (!Array.isArray(o.images)) throw new ConfigurationError(`"images" must be a list, not ${describe(o.images)}`, { file, path: '$.images', hint: 'write "images": [ … ]' });
  metaOf(o, meta);
  const list = o.images as unknown[];
  return {
    file,
    side,
    jsonl: false,
    bytes,
    meta,
    async *batches() {
      yield (function* () {
        for (let i = 0; i < list.length; i++) yield parseImage(list[i], { file, side, index: i });
      })();
    },
  };
}

function jsonlSource(file: string, side: Side, bytes: number, meta: FileMeta): FieldsSource {
  return {
    file,
    side,
    jsonl: true,
    bytes,
    meta,
    async *batches() {
      for await (const lines of readJsonlBatches(file)) {
        yield (function* () {
          for (let i = 0; i < lines.texts.length; i++) {
            const line = lines.lines[i]!;
            const value = parseJsonlLine(file, lines.texts[i]!, line);
            const img = parseImage(value, { file, side, line });
            if (meta.dataset === undefined || meta.model_version === undefined) metaOf(value as Record<string, unknown>, meta);
            yield img;
          }
        })();
      }
    },
  };
}
