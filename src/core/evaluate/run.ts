import { writeJsonAtomic, openAtomicStream, type AtomicStream } from '../io/atomic.js';
import { ConfigurationError } from '../errors.js';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { Evaluator, type EvaluateConfig, type MetricsDoc, type SampleLine } from './evaluate.js';
import { openFields, imagesOf, type FieldsSource, type Image, type FileMeta } from './fields.js';

/**
 * Reads ground truth and predictions and runs the Evaluator over every image id.
 *
 * Memory: when both files are JSONL sorted by image_id, they are merged as two streams (one image of
 * each in memory). Otherwise one side is indexed by image_id (a JSON document, which is parsed whole
 * anyway, or else the smaller JSONL file) and the other streamed past it.
 */

export interface EvaluateFilesOptions extends Partial<EvaluateConfig> {
  gt: string;
  pred: string;
  /** Where to write metrics.json (nothing written when undefined). */
  out?: string;
  /** Where to write the per-image samples JSONL. */
  samples?: string;
  /** The model's version for metrics.json, over the predictions' model_version (which a training may name by a hash). */
  modelVersion?: string;
  log?: Logger;
}

export interface EvaluateOutcome {
  metrics: MetricsDoc;
  /** How the two files were joined: `merge` (both streamed) or `index:gt` / `index:pred` (that side held in memory). */
  join: 'merge' | 'index:gt' | 'index:pred';
}

class Unsorted extends Error {}

type Sink = (line: SampleLine) => Promise<void>;

export async function evaluateFiles(o: EvaluateFilesOptions): Promise<EvaluateOutcome> {
  const log = o.log ?? silentLogger;
  const gt = await openFields(o.gt, 'gt');
  const pred = await openFields(o.pred, 'pred');
  let stream: AtomicStream | undefined;
  const openSamples = async () => {
    if (!o.samples) return undefined;
    await stream?.abort();
    stream = await openAtomicStream(o.samples);
    const s = stream;
    return async (line: SampleLine) => s.write(`${JSON.stringify(line)}\n`);
  };
  try {
    let result: { evaluator: Evaluator; join: EvaluateOutcome['join'] } | undefined;
    if (gt.jsonl && pred.jsonl) {
      const evaluator = new Evaluator(o);
      try {
        await mergeJoin(gt, pred, evaluator, await openSamples(), log);
        result = { evaluator, join: 'merge' };
      } catch (e) {
        if (!(e instanceof Unsorted)) throw e;
        log.info(`${e.message}: joining by an index of the ${gt.bytes < pred.bytes ? 'ground truth' : 'predictions'} instead`);
      }
    }
    if (!result) {
      // A JSON document is in memory anyway; of two JSONL files, the smaller is held.
      const indexGt = gt.jsonl && pred.jsonl ? gt.bytes < pred.bytes : !gt.jsonl && pred.jsonl;
      const evaluator = new Evaluator(o);
      const sink = await openSamples();
      if (indexGt) await joinIndexedGt(gt, pred, evaluator, sink, log);
      else await joinIndexedPred(gt, pred, evaluator, sink, log);
      result = { evaluator, join: indexGt ? 'index:gt' : 'index:pred' };
    }
    const meta: FileMeta = { model_version: o.modelVersion || (pred.meta.model_version ?? gt.meta.model_version), dataset: gt.meta.dataset ?? pred.meta.dataset };
    const metrics = result.evaluator.metrics(meta);
    if (metrics.images_only_in_predictions) log.warn(`${metrics.images_only_in_predictions} image(s) only in the predictions: their fields count as false positives (is the ground truth complete?)`);
    if (metrics.images_without_predictions) log.info(`${metrics.images_without_predictions} image(s) without predictions: every field counts as missed`);
    if (o.out) await writeJsonAtomic(o.out, metrics);
    await stream?.commit();
    stream = undefined;
    return { metrics, join: result.join };
  } finally {
    await stream?.abort();
  }
}

function progress(evaluator: Evaluator, log: Logger): void {
  const n = evaluator.imagesSeen;
  if (n % 20000 === 0) log.progress(`evaluated ${n} images`);
}

/** Evaluates one image; returns the pending write of its samples line, if any (no promise per image otherwise). */
function emit(evaluator: Evaluator, gt: Image | null, pred: Image | null, sink: Sink | undefined, log: Logger): Promise<void> | undefined {
  const line = evaluator.addImage(gt, pred, sink !== undefined);
  progress(evaluator, log);
  return sink && line ? sink(line) : undefined;
}

function duplicate(src: FieldsSource, id: string): ConfigurationError {
  return new ConfigurationError(`image_id "${id}" appears more than once`, {
    file: src.file,
    path: '$.image_id',
    hint: 'each image must appear once per file: merge its fields into one entry (or give the images distinct ids)',
  });
}

/** Pulls images from a source, checking they come in strictly increasing image_id order. */
function sortedReader(src: FieldsSource) {
  const it = src.batches();
  let last: string | undefined;
  let batch: Iterator<Image> | undefined;
  return {
    async next(): Promise<Image | undefined> {
      let r = batch?.next();
      while (!r || r.done) {
        const b = await it.next();
        if (b.done) return undefined;
        batch = b.value[Symbol.iterator]();
        r = batch.next();
      }
      const img = r.value;
      const id = img.id;
      if (last !== undefined) {
        if (id === last) throw duplicate(src, id);
        if (id < last) throw new Unsorted(`${src.file} is not sorted by image_id ("${id}" after "${last}")`);
      }
      last = id;
      return img;
    },
    close: () => it.return(undefined),
  };
}

async function mergeJoin(gtSrc: FieldsSource, predSrc: FieldsSource, ev: Evaluator, sink: Sink | undefined, log: Logger): Promise<void> {
  const gr = sortedReader(gtSrc);
  const pr = sortedReader(predSrc);
  try {
    let g = await gr.next();
    let p = await pr.next();
    while (g || p) {
      if (g && p && g.id === p.id) {
        await emit(ev, g, p, sink, log);
        g = await gr.next();
        p = await pr.next();
      } else if (g && (!p || g.id < p.id)) {
        await emit(ev, g, null, sink, log);
        g = await gr.next();
      } else {
        await emit(ev, null, p!, sink, log);
        p = await pr.next();
      }
    }
  } finally {
    await gr.close();
    await pr.close();
  }
}

/** Predictions held by image_id; ground truth streamed in its order (samples come out in GT order). */
async function joinIndexedPred(gtSrc: FieldsSource, predSrc: FieldsSource, ev: Evaluator, sink: Sink | undefined, log: Logger): Promise<void> {
  const preds = new Map<string, Image>();
  for await (const img of imagesOf(predSrc)) {
    if (preds.has(img.id)) throw duplicate(predSrc, img.id);
    preds.set(img.id, img);
  }
  const seen = new Set<string>();
  for await (const g of imagesOf(gtSrc)) {
    if (seen.has(g.id)) throw duplicate(gtSrc, g.id);
    seen.add(g.id);
    const p = preds.get(g.id) ?? null;
    preds.delete(g.id);
    await emit(ev, g, p, sink, log);
  }
  for (const p of preds.values()) {
    if (seen.has(p.id)) continue;
    await emit(ev, null, p, sink, log);
  }
}

/**
 * Ground truth held by image_id; predictions streamed. Each evaluated image's samples line replaces
 * its GT entry, so lines are still written in GT order at the end without holding more than the index.
 */
async function joinIndexedGt(gtSrc: FieldsSource, predSrc: FieldsSource, ev: Evaluator, sink: Sink | undefined, log: Logger): Promise<void> {
  const slots = new Map<string, Image | SampleLine | null>();
  for await (const img of imagesOf(gtSrc)) {
    if (slots.has(img.id)) throw duplicate(gtSrc, img.id);
    slots.set(img.id, img);
  }
  const done = new Set<string>();
  const predOnly: SampleLine[] = [];
  for await (const p of imagesOf(predSrc)) {
    if (done.has(p.id)) throw duplicate(predSrc, p.id);
    done.add(p.id);
    const g = slots.get(p.id);
    const line = ev.addImage(g ? (g as Image) : null, p, sink !== undefined);
    progress(ev, log);
    if (g) slots.set(p.id, line ?? null);
    else if (line) predOnly.push(line);
  }
  for (const [id, slot] of slots) {
    if (!done.has(id)) await emit(ev, slot as Image, null, sink, log);
    else if (sink && slot) await sink(slot as SampleLine);
  }
  if (sink) for (const line of predOnly) await sink(line);
}
