import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { main } from '../../src/cli/main.js';
import { startPostgres, type PostgresServer } from '../support/postgres.js';
import { tempDir } from '../support/tmp.js';
import { ROOT } from '../support/paths.js';

interface Target {
  refId: string;
  datasource: { type: string; uid: string };
  rawQuery: boolean;
  format: string;
  rawSql: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets: Target[];
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  __inputs: { pluginId: string }[];
  __requires: { type: string; id: string }[];
  templating: { list: { name: string; type: string; query: string; datasource?: { type: string } }[] };
  panels: Panel[];
}

const dashboard = JSON.parse(readFileSync(join(ROOT, 'manifests/monitoring/grafana-history-dashboard.json'), 'utf8')) as Dashboard;
const PG = 'grafana-postgresql-datasource';

/** What Grafana sends for a query: its macros and variables expanded (multi-value variables as quoted lists). */
function expand(sql: string, vars: { metric: string; dataset: string[]; model: string[] }, from: string, to: string): string {
  const list = (xs: string[]) => xs.map((x) => `'${x.replace(/'/g, "''")}'`).join(',');
  return sql
    .replace(/\$__timeFilter\(([^)]+)\)/g, (_, col: string) => `${col} BETWEEN '${from}' AND '${to}'`)
    .replace(/\$\{dataset:sqlstring\}/g, list(vars.dataset))
    .replace(/\$\{model:sqlstring\}/g, list(vars.model))
    .replace(/\$\{metric\}/g, vars.metric.replace(/'/g, "''"));
}

describe('the evaluation history dashboard (Grafana JSON model)', () => {
  it('is a dashboard over the PostgreSQL datasource: panels with raw SQL targets, variables from the history tables', () => {
    expect(dashboard.uid).toBe('mlloop-evaluation-history');
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.__inputs.map((i) => i.pluginId)).toEqual([PG]);
    expect(dashboard.__requires.filter((r) => r.type === 'datasource').map((r) => r.id)).toEqual([PG]);
    const ds = dashboard.templating.list.find((v) => v.type === 'datasource')!;
    expect(ds.query).toBe(PG);
    for (const v of dashboard.templating.list.filter((x) => x.type === 'query')) {
      expect(v.datasource?.type, v.name).toBe(PG);
      expect(v.query, v.name).toMatch(/^SELECT DISTINCT \w+ FROM (evaluations|metric_values)/);
    }
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(dashboard.panels.map((p) => p.type).sort()).toEqual(['stat', 'table', 'table', 'timeseries']);
    for (const p of dashboard.panels) {
      expect(p.datasource, p.title).toEqual({ type: PG, uid: '${datasource}' });
      expect(p.gridPos.w, p.title).toBeGreaterThan(0);
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      expect(p.targets.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets) {
        expect(t.datasource.type).toBe(PG);
        expect(t.rawQuery).toBe(true);
        expect(['table', 'time_series']).toContain(t.format);
        expect(t.rawSql).toMatch(/\bFROM evaluations\b/);
      }
    }
    // A time series needs a "time" column and the value; the series name comes from "metric".
    const ts = dashboard.panels.find((p) => p.type === 'timeseries')!.targets[0]!;
    expect(ts.format).toBe('time_series');
    expect(ts.rawSql).toMatch(/AS "time"[\s\S]*AS "value"[\s\S]*AS "metric"/);
    expect(ts.rawSql).toContain('$__timeFilter(');
  });

  describe('its SQL, run against a history written by mlloop history push', () => {
    let server: PostgresServer;
    let client: pg.Client;
    const run = async (title: string, vars = { metric: 'overall.f1', dataset: ['invoice-test', 'invoice-hard'], model: ['ocr'] }) => {
      const p = dashboard.panels.find((x) => x.title.replace('${metric}', vars.metric) === title.replace('${metric}', vars.metric))!;
      expect(p, title).toBeDefined();
      return (await client.query(expand(p.targets[0]!.rawSql, vars, '2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z'))).rows;
    };

    beforeAll(async () => {
      server = await startPostgres();
      const db = await server.createDatabase('grafana');
      const dir = tempDir('grafana', { scope: 'file' });
      const pushes = [
        ['ocr-v3.1', 'invoice-test', 0.85, 200, '2026-10-01T08:00:00Z'],
        ['ocr-v3.2', 'invoice-test', 0.9, 180, '2026-11-01T08:00:00Z'],
        ['ocr-v3.2', 'invoice-hard', 0.7, 180, '2026-11-02T08:00:00Z'],
        ['ocr-v3.3', 'invoice-test', 0.8, 260, '2026-11-20T08:00:00Z'],
        ['det-v1.0', 'invoice-test', 0.5, 90, '2026-11-21T08:00:00Z'],
      ] as const;
      for (const [v, d, f1, p95, at] of pushes) {
        const file = `${v}-${d}.json`;
        writeFileSync(join(dir, file), JSON.stringify({ schema: 'mlloop/metrics@1', model_version: v, dataset: d, overall: { precision: f1, recall: f1, f1, tp: 1, fp: 0, fn: 0 }, latency_ms: { mean: p95, p50: p95, p95, p99: p95 }, config: { iou_threshold: 0.5 } }));
        let err = '';
        const code = await main({ argv: ['history', 'push', '--metrics', file, '--db', db, '--created-at', at], env: { PATH: process.env.PATH }, cwd: dir, stdout: () => undefined, stderr: (t) => (err += t) });
        expect(code, err).toBe(0);
      }
      client = new pg.Client({ connectionString: db });
      await client.connect();
    }, 180_000);
    afterAll(async () => {
      await client?.end();
      await server?.stop();
    });

    it('variables list the models, datasets and metric paths', async () => {
      const values = async (name: string) => (await client.query(dashboard.templating.list.find((v) => v.name === name)!.query)).rows.map((r) => Object.values(r)[0]);
      expect(await values('model')).toEqual(['det', 'ocr']);
      expect(await values('dataset')).toEqual(['invoice-hard', 'invoice-test']);
      expect(await values('metric')).toContain('latency_ms.p95');
    });

    it('the trend panel gives one point per evaluation of the metric, named by version, in time order', async () => {
      const rows = await run('${metric} per model version');
      expect(rows.map((r) => [r.metric, r.value])).toEqual([
        ['ocr-v3.1', 0.85],
        ['ocr-v3.2', 0.9],
        ['ocr-v3.2', 0.7],
        ['ocr-v3.3', 0.8],
      ]);
      expect(rows[0].time).toBeInstanceOf(Date);
      const outside = (await client.query(expand(dashboard.panels[0]!.targets[0]!.rawSql, { metric: 'overall.f1', dataset: ['invoice-test'], model: ['ocr'] }, '2026-11-15T00:00:00Z', '2026-12-01T00:00:00Z'))).rows;
      expect(outside.map((r) => r.metric)).toEqual(['ocr-v3.3']);
    });

    it('the latest evaluation per dataset, and the counts', async () => {
      const rows = await run('Latest evaluation per dataset');
      expect(rows.map((r) => [r.dataset, r['model version'], r['overall.f1']])).toEqual([
        ['invoice-hard', 'ocr-v3.2', 0.7],
        ['invoice-test', 'ocr-v3.3', 0.8],
      ]);
      const [count] = await run('Recorded', { metric: 'overall.f1', dataset: [], model: ['ocr', 'det'] });
      expect(count).toEqual({ evaluations: '5', versions: '4', datasets: '2' });
    });

    it('flags regressions: lower F1, or latency more than 5% higher, than the evaluation before on the same dataset', async () => {
      const f1 = await run('Regressions of ${metric}');
      expect(f1.map((r) => [r.dataset, r['previous version'], r['model version']])).toEqual([['invoice-test', 'ocr-v3.2', 'ocr-v3.3']]);
      expect(f1[0].delta).toBeCloseTo(-0.1, 10);
      const p95 = await run('Regressions of ${metric}', { metric: 'latency_ms.p95', dataset: [], model: ['ocr'] });
      expect(p95.map((r) => [r['previous version'], r['model version'], r.after])).toEqual([['ocr-v3.2', 'ocr-v3.3', 260]]);
    });
  });
});
