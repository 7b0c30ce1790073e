import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, run } from '../support/run.js';
import { ROOT } from '../support/paths.js';
import { tempDir } from '../support/tmp.js';
import { startPostgres, type PostgresServer } from '../support/postgres.js';

const metrics = { schema: 'mlloop/metrics@1', model_version: 'ocr-v3.2', dataset: 'invoice-test', overall: { precision: 0.9, recall: 0.9, f1: 0.9, tp: 9, fp: 1, fn: 1 }, config: { iou_threshold: 0.5 } };
const samples = '{"image_id": "a", "tp": 1, "fp": 0, "fn": 0}\n{"image_id": "b", "tp": 0, "fp": 1, "fn": 1}\n';

let server: PostgresServer;
beforeAll(async () => {
  server = await startPostgres();
}, 180_000);
afterAll(async () => {
  await server?.stop();
});

describe('mlloop history through dist/', () => {
  it('a checkout with no node_modules (a runner) pushes to PostgreSQL from dist/vendor, and refuses the embedded store with the fix', async () => {
    const checkout = tempDir('history-isolated');
    for (const part of ['dist', 'schemas']) cpSync(join(ROOT, part), join(checkout, part), { recursive: true });
    const dir = tempDir('history-isolated-run');
    writeFileSync(join(dir, 'metrics.json'), JSON.stringify(metrics));
    writeFileSync(join(dir, 'samples.jsonl'), samples);
    const db = await server.createDatabase('isolated');
    const bin = join(checkout, 'dist', 'cli.cjs');
    const push = await run(process.execPath, [bin, 'history', 'push', '--metrics', 'metrics.json', '--samples', 'samples.jsonl', '--json'], { cwd: dir, env: { MLLOOP_HISTORY_DB: db } });
    expect(push.code, push.stderr).toBe(0);
    expect(JSON.parse(push.stdout)).toMatchObject({ created: true, samples: 2 });
    expect(push.stderr + push.stdout).not.toContain(server.password);
    const embedded = await run(process.execPath, [bin, 'history', 'push', '--metrics', 'metrics.json'], { cwd: dir });
    expect(embedded.code).toBe(2);
    expect(embedded.stderr).toContain('@electric-sql/pglite');
    expect(embedded.stderr).toContain('postgres://');
    expect(existsSync(join(dir, '.mlloop'))).toBe(false);
  });

  it('from the repository (npm ci), the embedded PGlite store works through the bundle', async () => {
    const dir = tempDir('history-dist');
    writeFileSync(join(dir, 'metrics.json'), JSON.stringify(metrics));
    writeFileSync(join(dir, 'samples.jsonl'), samples);
    const push = await cli(['history', 'push', '--metrics', 'metrics.json', '--samples', 'samples.jsonl', '--json'], { cwd: dir, env: { MLLOOP_HISTORY_DB: '' } });
    expect(push.code, push.stderr).toBe(0);
    expect(JSON.parse(push.stdout)).toMatchObject({ created: true, samples: 2, store: join(dir, '.mlloop/history') });
    const trend = await cli(['history', 'trend', '--metric', 'overall.f1', '--json'], { cwd: dir, env: { MLLOOP_HISTORY_DB: '' } });
    expect(trend.code, trend.stderr).toBe(0);
    expect(JSON.parse(trend.stdout).points.map((p: { model_version: string; value: number }) => [p.model_version, p.value])).toEqual([['ocr-v3.2', 0.9]]);
  });
});
