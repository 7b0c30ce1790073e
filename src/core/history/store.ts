import { ConfigurationError } from '../errors.js';
import { readJsonlBatches, parseJsonlLine } from '../io/read.js';
import { parseSampleLine } from '../stats/samples.js';
import type { Db } from './db.js';
import { metricRows, sampleCopyLine, SAMPLE_COLUMNS, type Evaluation, type TrendPoint } from './records.js';

/** An evaluation as the store returns it. */
export interface StoredEvaluation extends Evaluation {
  id: number;
  samples: number;
}

const ISO = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;
const COLUMNS = `id::text AS id, model, model_version, dataset, config_hash, metrics_hash, source_commit, run_id, run_url, job,
  to_char(created_at AT TIME ZONE 'UTC', ${ISO}) AS created_at, metrics, run, samples`;

function stored(r: Record<string, unknown>): StoredEvaluation {
  return { ...(r as unknown as StoredEvaluation), id: Number(r.id), samples: Number(r.samples) };
}

/** Streams a samples file as COPY text chunks (about 1 MiB each), checking every line; counts into `seen`. */
async function* sampleChunks(file: string, evaluationId: string, seen: Set<string>): AsyncGenerator<string> {
  for await (const batch of readJsonlBatches(file, 'samples file')) {
    let chunk = '';
    for (let i = 0; i < batch.texts.length; i++) {
      const line = batch.lines[i]!;
      const text = batch.texts[i]!;
      const s = parseSampleLine(parseJsonlLine(file, text, line), line, file);
      if (seen.has(s.id)) throw new ConfigurationError(`line ${line}: image "${s.id}" appears twice`, { file, path: '$.image_id', hint: 'one line per image' });
      seen.add(s.id);
      chunk += sampleCopyLine(evaluationId, s, text);
    }
    yield chunk;
  }
}

export interface PushOutcome {
  created: boolean;
  samples_added: number;
  evaluation: StoredEvaluation;
}

/**
 * Records one evaluation in a single transaction: the evaluation row, one metric_values row per numeric
 * path and, with a samples file, its per-image rows through COPY. The same evaluation (model version,
 * dataset, config hash, metrics hash) pushed again adds nothing, except samples it did not have yet. A bad
 * samples line rolls everything back (exit 2).
 */
export async function pushEvaluation(db: Db, e: Evaluation, samplesFile?: string): Promise<PushOutcome> {
  await db.exec('BEGIN');
  try {
    const inserted = await db.query<{ id: string }>(
      `INSERT INTO evaluations (model, model_version, dataset, config_hash, metrics_hash, source_commit, run_id, run_url, job, created_at, metrics, run)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12::jsonb)
       ON CONFLICT ON CONSTRAINT evaluations_identity DO NOTHING RETURNING id::text AS id`,
      [e.model, e.model_version, e.dataset, e.config_hash, e.metrics_hash, e.source_commit, e.run_id, e.run_url, e.job, e.created_at, JSON.stringify(e.metrics), e.run ? JSON.stringify(e.run) : null],
    );
    const created = inserted.length > 0;
    let id: string;
    let hadSamples = 0;
    if (created) {
      id = inserted[0]!.id;
      const rows = metricRows(e.metrics);
      if (rows.length) {
        await db.query('INSERT INTO metric_values (evaluation_id, path, value) SELECT $1::bigint, p, v FROM unnest($2::text[], $3::float8[]) AS t(p, v)', [
          id,
          rows.map((r) => r.path),
          rows.map((r) => r.value),
        ]);
      }
    } else {
      const [row] = await db.query<{ id: string; samples: number }>(
        'SELECT id::text AS id, samples FROM evaluations WHERE model_version = $1 AND dataset = $2 AND config_hash = $3 AND metrics_hash = $4 FOR UPDATE',
        [e.model_version, e.dataset, e.config_hash, e.metrics_hash],
      );
      id = row!.id;
      hadSamples = Number(row!.samples);
    }
    let added = 0;
    if (samplesFile && hadSamples === 0) {
      const seen = new Set<string>();
      await db.copyFrom('sample_scores', SAMPLE_COLUMNS, sampleChunks(samplesFile, id, seen));
      if (seen.size === 0) throw new ConfigurationError('no images in the samples file', { file: samplesFile, hint: 'write it with `mlloop evaluate --samples FILE`' });
      added = seen.size;
      await db.query('UPDATE evaluations SET samples = $2 WHERE id = $1::bigint', [id, added]);
    }
    const [row] = await db.query(`SELECT ${COLUMNS} FROM evaluations WHERE id = $1::bigint`, [id]);
    await db.exec('COMMIT');
    return { created, samples_added: added, evaluation: stored(row!) };
  } catch (err) {
    await db.exec('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

export interface TrendFilter {
  metric: string;
  dataset?: string;
  model?: string;
}

/** One metric across the evaluations that have it, in push order. */
export async function trend(db: Db, f: TrendFilter): Promise<TrendPoint[]> {
  const rows = await db.query<TrendPoint>(
    `SELECT e.model_version, m.value, e.dataset, to_char(e.created_at AT TIME ZONE 'UTC', ${ISO}) AS created_at, e.run_url
       FROM evaluations e JOIN metric_values m ON m.evaluation_id = e.id AND m.path = $1
      WHERE ($2::text IS NULL OR e.dataset = $2) AND ($3::text IS NULL OR e.model = $3)
      ORDER BY e.id`,
    [f.metric, f.dataset ?? null, f.model ?? null],
  );
  return rows.map((r) => ({ model_version: r.model_version, value: Number(r.value), dataset: r.dataset, created_at: r.created_at, run_url: r.run_url ?? null }));
}

/** Every evaluation, in push order, optionally of one dataset or one model version. */
export async function listEvaluations(db: Db, f: { dataset?: string; modelVersion?: string } = {}): Promise<StoredEvaluation[]> {
  const rows = await db.query(
    `SELECT ${COLUMNS} FROM evaluations WHERE ($1::text IS NULL OR dataset = $1) AND ($2::text IS NULL OR model_version = $2) ORDER BY id`,
    [f.dataset ?? null, f.modelVersion ?? null],
  );
  return rows.map(stored);
}

/** The metric paths the store knows, most common first (for charts and `trend` hints). */
export async function metricPaths(db: Db): Promise<string[]> {
  const rows = await db.query<{ path: string }>('SELECT path FROM metric_values GROUP BY path ORDER BY count(*) DESC, path');
  return rows.map((r) => r.path);
}

/** The per-image rows of one evaluation, in image order. */
export async function samplesOf(db: Db, evaluationId: number): Promise<{ image_id: string; tp: number; fp: number; fn: number; per_field: unknown; fields: unknown }[]> {
  return db.query('SELECT image_id, tp, fp, fn, per_field, fields FROM sample_scores WHERE evaluation_id = $1::bigint ORDER BY image_id', [String(evaluationId)]);
}

type SampleRow = Awaited<ReturnType<typeof samplesOf>>[number];

/**
 * The images two evaluations share, and the rows of those where their outcomes differ (compared in the database,
 * so a site over millions of samples reads only what differs).
 */
export async function differingSamples(db: Db, candidateId: number, baselineId: number): Promise<{ compared: number; candidate: SampleRow[]; baseline: SampleRow[] }> {
  const ids = [String(candidateId), String(baselineId)];
  const [{ n }] = (await db.query<{ n: string }>('SELECT count(*)::text AS n FROM sample_scores c JOIN sample_scores b ON b.image_id = c.image_id AND b.evaluation_id = $2::bigint WHERE c.evaluation_id = $1::bigint', ids)) as [{ n: string }];
  const rows = await db.query<Record<string, unknown>>(
    `SELECT c.image_id, c.tp AS c_tp, c.fp AS c_fp, c.fn AS c_fn, c.per_field AS c_per_field, c.fields AS c_fields,
            b.tp AS b_tp, b.fp AS b_fp, b.fn AS b_fn, b.per_field AS b_per_field, b.fields AS b_fields
       FROM sample_scores c JOIN sample_scores b ON b.image_id = c.image_id AND b.evaluation_id = $2::bigint
      WHERE c.evaluation_id = $1::bigint
        AND (c.tp <> b.tp OR c.fp <> b.fp OR c.fn <> b.fn OR c.per_field IS DISTINCT FROM b.per_field OR c.fields IS DISTINCT FROM b.fields)
      ORDER BY c.image_id`,
    ids,
  );
  const side = (p: 'c' | 'b'): SampleRow[] => rows.map((r) => ({ image_id: r.image_id as string, tp: Number(r[`${p}_tp`]), fp: Number(r[`${p}_fp`]), fn: Number(r[`${p}_fn`]), per_field: r[`${p}_per_field`], fields: r[`${p}_fields`] }));
  return { compared: Number(n), candidate: side('c'), baseline: side('b') };
}
