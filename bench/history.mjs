// mlloop history push of 1M per-image sample rows into a real PostgreSQL server (COPY FROM STDIN through
// pg-copy-streams), against `psql \copy` of the same rows as CSV, in the same run, into the same empty table.
// Both times are whole processes: `node dist/cli.cjs history push --samples samples.jsonl` (which also reads,
// checks and converts the JSONL) and `psql -c "\copy … FROM rows.csv"`. ratio = mlloop / psql (target ≤ 1.5).
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST, median, round, rng } from './_util.mjs';
import { findPostgresBin, startPostgres } from '../scripts/postgres.mjs';

const N = Number(process.env.MLLOOP_BENCH_HISTORY_ROWS ?? 1_000_000);
const RUNS = 2;

const csv = (s) => (s === null ? '' : /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/** The samples file and, for psql, the same rows as CSV (evaluation id filled in per run). */
async function writeData(dir, evaluationId) {
  const rand = rng(17);
  const jsonl = createWriteStream(join(dir, 'samples.jsonl'));
  const rows = createWriteStream(join(dir, 'rows.csv'));
  for (let i = 0; i < N; i++) {
    const bad = rand() < 0.1;
    const perField = { name: { tp: 1, fp: 0, fn: 0 }, amount: { tp: bad ? 0 : 1, fp: bad ? 1 : 0, fn: bad ? 1 : 0 } };
    const fields = [
      { label: 'name', status: 'tp', gt: '张三', pred: '张三', iou: 0.93 },
      { label: 'amount', status: bad ? 'fn' : 'tp', gt: '¥120,000.00', pred: bad ? null : '¥120,000.00', iou: bad ? null : 0.9 },
    ];
    const id = `policy-${String(i).padStart(7, '0')}`;
    const line = { image_id: id, tp: bad ? 1 : 2, fp: bad ? 1 : 0, fn: bad ? 1 : 0, per_field: perField, fields };
    jsonl.write(`${JSON.stringify(line)}\n`);
    rows.write(`${evaluationId},${csv(id)},${line.tp},${line.fp},${line.fn},${csv(JSON.stringify(perField))},${csv(JSON.stringify(fields))}\n`);
    // Asked after each wait: one stream may drain while the other is awaited (waiting for a drain that already
    // happened would leave nothing to wake the loop).
    if (jsonl.writableNeedDrain) await once(jsonl, 'drain');
    if (rows.writableNeedDrain) await once(rows, 'drain');
  }
  jsonl.end();
  rows.end();
  await Promise.all([once(jsonl, 'finish'), once(rows, 'finish')]);
}

function timed(cmd, args, env) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { PATH: process.env.PATH, ...env }, maxBuffer: 1 << 26 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.slice(0, 3).join(' ')} exited ${r.status}: ${r.stderr}`);
  return { ms, stdout: r.stdout };
}

export default async function* history() {
  const dir = mkdtempSync(join(tmpdir(), 'mlloop-bench-history-'));
  const server = await startPostgres();
  try {
    const url = server.url();
    const psql = findPostgresBin('psql');
    const sql = (q) => timed(psql, [url, '-v', 'ON_ERROR_STOP=1', '-Atc', q]).stdout.trim();
    const metrics = (v) => ({ schema: 'mlloop/metrics@1', model_version: v, dataset: 'bench', overall: { precision: 0.9, recall: 0.9, f1: 0.9, tp: 1, fp: 0, fn: 0 }, config: { iou_threshold: 0.5 } });
    const push = (v, samples) => {
      writeFileSync(join(dir, `${v}.json`), JSON.stringify(metrics(v)));
      return timed(process.execPath, [join(DIST, 'cli.cjs'), 'history', 'push', '--metrics', join(dir, `${v}.json`), ...(samples ? ['--samples', join(dir, 'samples.jsonl')] : []), '--db', url, '--json']);
    };
    // The schema and one evaluation for psql's rows to belong to.
    const target = JSON.parse(push('psql-target').stdout).id;
    await writeData(dir, target);
    const mlloop = [];
    const baseline = [];
    for (let run = 0; run < RUNS; run++) {
      sql('TRUNCATE sample_scores');
      sql('CHECKPOINT');
      baseline.push(timed(psql, [url, '-v', 'ON_ERROR_STOP=1', '-c', `\\copy sample_scores (evaluation_id, image_id, tp, fp, fn, per_field, fields) FROM '${join(dir, 'rows.csv')}' WITH (FORMAT csv)`], {}).ms);
      sql('TRUNCATE sample_scores');
      sql('CHECKPOINT');
      const m = push(`bench-v${run}`, true);
      mlloop.push(m.ms);
      const rows = Number(sql(`SELECT count(*) FROM sample_scores`));
      if (rows !== N) throw new Error(`mlloop loaded ${rows} rows, not ${N}`);
    }
    const ms = median(mlloop);
    const base = median(baseline);
    yield { bench: 'history-copy', rows: N, ratio: round(ms / base), mlloop_ms: round(ms, 0), psql_copy_ms: round(base, 0), target: 1.5 };
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
