import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { openStore, storeTarget } from '../../src/core/history/db.js';
import { MIGRATIONS } from '../../src/core/history/migrations/index.js';
import { differingSamples } from '../../src/core/history/store.js';
import { startPostgres, type PostgresServer } from '../support/postgres.js';
import { tempDir } from '../support/tmp.js';
import { ROOT } from '../support/paths.js';

/** Runs `mlloop …` in-process, as the CLI does. */
async function mlloop(args: string[], cwd: string, env: Record<string, string | undefined> = {}) {
  let stdout = '';
  let stderr = '';
  const code = await main({ argv: args, env: { PATH: process.env.PATH, ...env }, cwd, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

function metrics(version: string, f1: number, dataset = 'invoice-test-2025Q1', extra: Record<string, unknown> = {}) {
  return {
    schema: 'mlloop/metrics@1',
    model_version: version,
    dataset,
    overall: { precision: f1 + 0.01, recall: f1 - 0.01, f1, tp: 90, fp: 5, fn: 7, exact_match: 0.9, map50: 0.8 },
    per_field: { name: { precision: 1, recall: 0.95, f1: 0.97, tp: 19, fp: 0, fn: 1, support: 20, ap50: 0.9 }, amount: { precision: 0.8, recall: 0.7, f1: 0.75, tp: 7, fp: 2, fn: 3, support: 10, ap50: 0.6 } },
    box_iou_ge_0_8: 0.88,
    image_miss_rate: 0.04,
    images: 3,
    latency_ms: { mean: 100, p50: 90, p95: 180, p99: 250 },
    bleu: 71.25,
    config: { iou_threshold: 0.5, normalize: 'lenient', matching: 'maximum' },
    ...extra,
  };
}

/** Per-image lines with ids COPY must escape (tab, backslash, newline) and Chinese values. */
function samples(n: number, seed = 0): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = i === 0 ? 'tab\there' : i === 1 ? 'back\\slash' : i === 2 ? 'new\nline' : `img-${String(i).padStart(5, '0')}`;
    const ok = (i + seed) % 3 !== 0;
    lines.push(
      JSON.stringify({
        image_id: id,
        tp: ok ? 2 : 1,
        fp: ok ? 0 : 1,
        fn: ok ? 0 : 1,
        per_field: { name: { tp: 1, fp: 0, fn: 0 }, amount: { tp: ok ? 1 : 0, fp: ok ? 0 : 1, fn: ok ? 0 : 1 } },
        fields: [
          { label: 'name', status: 'tp', gt: '张三', pred: '张三', iou: 0.93 },
          ...(ok ? [{ label: 'amount', status: 'tp', gt: '¥120,000.00', pred: '¥120,000.00', iou: 0.9 }] : [{ label: 'amount', status: 'fn', gt: '¥120,000.00', pred: null, iou: null }]),
        ],
      }),
    );
  }
  return `${lines.join('\n')}\n`;
}

let server: PostgresServer;
beforeAll(async () => {
  server = await startPostgres();
}, 180_000);
afterAll(async () => {
  await server?.stop();
});

const backends = [
  { name: 'PostgreSQL server', db: async () => server.createDatabase('history') },
  { name: 'PGlite (embedded)', db: async (dir: string) => join(dir, 'store') },
];

describe.each(backends)('history on $name', ({ db: makeDb }) => {
  const work = tempDir('history', { scope: 'file' });
  let db = '';
  const write = (name: string, v: unknown) => {
    writeFileSync(join(work, name), typeof v === 'string' ? v : JSON.stringify(v));
    return name;
  };
  const count = async (sql: string) => {
    const store = await openStore(storeTarget(db, work, () => undefined), { create: false });
    try {
      return Number((await store.query<{ n: string }>(sql))[0]!.n);
    } finally {
      await store.close();
    }
  };
  const ci = { GITHUB_SERVER_URL: 'https://github.com', GITHUB_REPOSITORY: 'acme/ocr', GITHUB_RUN_ID: '4242', GITHUB_RUN_ATTEMPT: '1', GITHUB_JOB: 'evaluate', GITHUB_SHA: 'f'.repeat(40) };

  beforeAll(async () => {
    db = await makeDb(work);
  });

  it('records an evaluation: provenance, every metric as a row, the raw JSON and the samples (COPY); the schema is migrated on first use', async () => {
    write('v1.json', metrics('ocr-v3.1', 0.85));
    write('v1.jsonl', samples(500));
    write('run.json', { schema: 'mlloop/run@1', status: 'succeeded', git_commit: 'a'.repeat(40) });
    const r = await mlloop(['history', 'push', '--metrics', 'v1.json', '--samples', 'v1.jsonl', '--run', 'run.json', '--db', db, '--created-at', '2026-10-01T08:00:00Z', '--json'], work, ci);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ created: true, model: 'ocr', model_version: 'ocr-v3.1', dataset: 'invoice-test-2025Q1', source_commit: 'a'.repeat(40), run_url: 'https://github.com/acme/ocr/actions/runs/4242/attempts/1', created_at: '2026-10-01T08:00:00.000Z', samples: 500, samples_added: 500 });
    expect(out.config_hash).toMatch(/^[0-9a-f]{64}$/);

    const store = await openStore(storeTarget(db, work, () => undefined), { create: false });
    try {
      expect(await store.query('SELECT version, name FROM schema_migrations')).toEqual([{ version: 1, name: '001_init' }]);
      const values = Object.fromEntries((await store.query<{ path: string; value: number }>('SELECT path, value FROM metric_values WHERE evaluation_id = $1::bigint', [String(out.id)])).map((x) => [x.path, x.value]));
      expect(values).toMatchObject({ 'overall.f1': 0.85, 'per_field.amount.recall': 0.7, 'latency_ms.p95': 180, bleu: 71.25, images: 3 });
      expect(values['config.iou_threshold']).toBeUndefined();
      const [row] = await store.query<{ metrics: { per_field: { name: { support: number } } }; job: string; run_id: string }>('SELECT metrics, job, run_id FROM evaluations WHERE id = $1::bigint', [String(out.id)]);
      expect(row!.metrics.per_field.name.support).toBe(20);
      expect(row!.job).toBe('evaluate');
      expect(row!.run_id).toBe('4242/1');
      const odd = await store.query<{ image_id: string; tp: number; fields: { gt: string }[]; per_field: { amount: { fn: number } } }>(
        "SELECT image_id, tp, fields, per_field FROM sample_scores WHERE image_id IN (E'tab\\there', E'back\\\\slash', E'new\\nline') ORDER BY image_id",
      );
      expect(odd.map((x) => x.image_id)).toEqual(['back\\slash', 'new\nline', 'tab\there']);
      expect(odd.find((x) => x.image_id === 'tab\there')!.fields[0]!.gt).toBe('张三');
      expect(odd.find((x) => x.image_id === 'tab\there')!.per_field.amount.fn).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('pushing the same evaluation again changes nothing', async () => {
    const before = { e: await count('SELECT count(*) AS n FROM evaluations'), m: await count('SELECT count(*) AS n FROM metric_values'), s: await count('SELECT count(*) AS n FROM sample_scores') };
    const r = await mlloop(['history', 'push', '--metrics', 'v1.json', '--samples', 'v1.jsonl', '--db', db, '--json'], work);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ created: false, samples_added: 0, samples: 500 });
    expect({ e: await count('SELECT count(*) AS n FROM evaluations'), m: await count('SELECT count(*) AS n FROM metric_values'), s: await count('SELECT count(*) AS n FROM sample_scores') }).toEqual(before);
  });

  it('trend lists one metric in push order, filtered by dataset and model; show prints a version', async () => {
    write('v2.json', metrics('ocr-v3.2', 0.9));
    write('v2-other.json', metrics('ocr-v3.2', 0.7, 'invoice-hard'));
    write('det.json', metrics('det-v1.0', 0.5));
    for (const [f, t] of [['v2.json', '2026-11-01T08:00:00Z'], ['v2-other.json', '2026-11-02T08:00:00Z'], ['det.json', '2026-11-03T08:00:00Z']] as const) {
      const r = await mlloop(['history', 'push', '--metrics', f, '--db', db, '--created-at', t, '--run-url', `https://ci.example/${f}`], work);
      expect(r.code, r.stderr).toBe(0);
    }
    const r = await mlloop(['history', 'trend', '--metric', 'overall.f1', '--dataset', 'invoice-test-2025Q1', '--model', 'ocr', '--db', db, '--json'], work);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      metric: 'overall.f1',
      points: [
        { model_version: 'ocr-v3.1', value: 0.85, dataset: 'invoice-test-2025Q1', created_at: '2026-10-01T08:00:00.000Z', run_url: 'https://github.com/acme/ocr/actions/runs/4242/attempts/1' },
        { model_version: 'ocr-v3.2', value: 0.9, dataset: 'invoice-test-2025Q1', created_at: '2026-11-01T08:00:00.000Z', run_url: 'https://ci.example/v2.json' },
      ],
    });
    const all = await mlloop(['history', 'trend', '--metric', 'overall.f1', '--db', db, '--json'], work);
    expect(JSON.parse(all.stdout).points.map((p: { model_version: string; dataset: string }) => `${p.model_version}@${p.dataset}`)).toEqual(['ocr-v3.1@invoice-test-2025Q1', 'ocr-v3.2@invoice-test-2025Q1', 'ocr-v3.2@invoice-hard', 'det-v1.0@invoice-test-2025Q1']);
    const typo = await mlloop(['history', 'trend', '--metric', 'overall.f2', '--db', db], work);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('did you mean overall.f1');

    const show = await mlloop(['history', 'show', 'ocr-v3.2', '--db', db, '--json'], work);
    expect(show.code, show.stderr).toBe(0);
    const s = JSON.parse(show.stdout);
    expect(s.evaluations.map((e: { dataset: string }) => e.dataset)).toEqual(['invoice-test-2025Q1', 'invoice-hard']);
    expect(s.evaluations[1].values['overall.f1']).toBe(0.7);
    const none = await mlloop(['history', 'show', '--version', 'ocr-v9', '--db', db], work);
    expect(none.code).toBe(2);
    const two = await mlloop(['history', 'show', 'ocr-v3.2', 'ocr-v3.1', '--db', db], work);
    expect(two.code).toBe(2);
    expect(two.stderr).toContain('unexpected argument "ocr-v3.1"');
  });

  it('finds in the database the images where two evaluations differ', async () => {
    write('v1b.json', metrics('ocr-v3.1b', 0.86));
    write('v1b.jsonl', samples(500, 1));
    const r = await mlloop(['history', 'push', '--metrics', 'v1b.json', '--samples', 'v1b.jsonl', '--db', db, '--json'], work);
    expect(r.code, r.stderr).toBe(0);
    const store = await openStore(storeTarget(db, work, () => undefined), { create: false });
    try {
      const [a, b] = (await store.query<{ id: string }>("SELECT id::text AS id FROM evaluations WHERE model_version IN ('ocr-v3.1', 'ocr-v3.1b') ORDER BY id")).map((x) => Number(x.id));
      const d = await differingSamples(store, b!, a!);
      const expected = Array.from({ length: 500 }, (_, i) => ((i + 1) % 3 !== 0) !== (i % 3 !== 0)).filter(Boolean).length;
      expect(d.compared).toBe(500);
      expect(d.candidate).toHaveLength(expected);
      expect(d.candidate.map((x) => x.image_id)).toEqual(d.baseline.map((x) => x.image_id));
      expect(d.candidate.every((x, k) => x.fn !== d.baseline[k]!.fn)).toBe(true);
      await store.exec("DELETE FROM evaluations WHERE model_version = 'ocr-v3.1b'");
    } finally {
      await store.close();
    }
  });

  it('a bad samples line rolls the whole push back (exit 2, line and path named)', async () => {
    const before = await count('SELECT count(*) AS n FROM evaluations');
    write('v4.json', metrics('ocr-v3.4', 0.91));
    write('bad.jsonl', `${samples(3)}{"image_id": "x", "tp": -1, "fp": 0, "fn": 0}\n`);
    const r = await mlloop(['history', 'push', '--metrics', 'v4.json', '--samples', 'bad.jsonl', '--db', db], work);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('bad.jsonl');
    expect(r.stderr).toContain('line 4');
    expect(r.stderr).toContain('$.tp');
    expect(await count('SELECT count(*) AS n FROM evaluations')).toBe(before);
    expect(await count("SELECT count(*) AS n FROM sample_scores WHERE image_id = 'x'")).toBe(0);
    const dup = await mlloop(['history', 'push', '--metrics', 'v4.json', '--samples', write('dup.jsonl', `${samples(2)}${samples(1)}`), '--db', db], work);
    expect(dup.code).toBe(2);
    expect(dup.stderr).toMatch(/appears twice/);
    expect(await count('SELECT count(*) AS n FROM evaluations')).toBe(before);
  });

  it('compare --history and ct check --history read the store like a JSONL history', async () => {
    write('cand.json', metrics('ocr-v3.5', 0.6));
    write('base.json', metrics('ocr-v3.2', 0.9));
    const c = await mlloop(['compare', '--candidate', 'cand.json', '--baseline', 'base.json', '--history', db, '--no-pdf', '--out-dir', 'reports', '--json'], work);
    expect(c.code, c.stderr).toBe(0);
    const report = readdirSync(join(work, 'reports'))[0]!;
    const html = readdirSync(join(work, 'reports', report)).filter((f) => /\.(html|md)$/.test(f)).map((f) => readFileSync(join(work, 'reports', report, f), 'utf8')).join('');
    expect(html).toContain('ocr-v3.1');
    expect(html).toContain('det-v1.0');

    write('policy.yaml', 'triggers:\n  metric_drop: {metric: overall.f1, baseline: 0.95, max_drop_relative: 0.02, consecutive: 2, same_model_version: false}\nmode: incremental\ncooldown: 24h\n');
    const ct = await mlloop(['ct', 'check', '--policy', 'policy.yaml', '--history', db, '--json'], work);
    expect(ct.code, ct.stderr).toBe(0);
    const decision = JSON.parse(ct.stdout);
    expect(decision.retrain).toBe(true);
    expect(decision.reasons[0].trigger).toBe('metric_drop');
    expect(decision.reasons[0].evidence.periods.map((p: { value: number }) => p.value)).toEqual([0.7, 0.5]);
  });

  it('a store whose schema is newer than this mlloop is refused (exit 2)', async () => {
    const store = await openStore(storeTarget(db, work, () => undefined), { create: false });
    await store.query("INSERT INTO schema_migrations (version, name) VALUES (999, '999_future')");
    await store.close();
    try {
      const r = await mlloop(['history', 'trend', '--metric', 'overall.f1', '--db', db], work);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/schema version 999, newer than this mlloop knows \(1\)/);
      expect(r.stderr).toContain('upgrade mlloop');
    } finally {
      const again = await openStore(storeTarget(db, work, () => undefined), { create: false, migrate: false });
      await again.query('DELETE FROM schema_migrations WHERE version = 999');
      await again.close();
    }
  });
});

describe('history store: failures and the migration files', () => {
  it('concurrent first pushes of the same evaluation create the schema once and record it once', async () => {
    const db = await server.createDatabase('concurrent');
    const dir = tempDir('history-concurrent');
    writeFileSync(join(dir, 'm.json'), JSON.stringify(metrics('ocr-v4.0', 0.93)));
    writeFileSync(join(dir, 's.jsonl'), samples(50));
    const runs = await Promise.all(Array.from({ length: 4 }, () => mlloop(['history', 'push', '--metrics', 'm.json', '--samples', 's.jsonl', '--db', db, '--json'], dir)));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    expect(runs.map((r) => JSON.parse(r.stdout).created).filter(Boolean)).toHaveLength(1);
    expect(new Set(runs.map((r) => JSON.parse(r.stdout).id)).size).toBe(1);
    const store = await openStore(storeTarget(db, dir, () => undefined), { create: false });
    try {
      expect(await store.query('SELECT version FROM schema_migrations')).toEqual([{ version: 1 }]);
      expect(await store.query('SELECT count(*)::int AS n FROM sample_scores')).toEqual([{ n: 50 }]);
    } finally {
      await store.close();
    }
  });

  it('an unreachable server exits 3 naming host and port, with the password masked', async () => {
    const port = server.port === 1 ? 2 : 1;
    const r = await mlloop(['history', 'trend', '--metric', 'overall.f1', '--db', `postgres://mlloop:Hunter2-secret@127.0.0.1:${port}/history`], tempDir('history-down'));
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`127.0.0.1:${port}`);
    expect(r.stderr).not.toContain('Hunter2-secret');
    expect(r.stderr).toContain('postgres://***@127.0.0.1');
  });

  it('a wrong password is the user\'s mistake (exit 2), and it is not printed', async () => {
    const url = server.url('postgres').replace(encodeURIComponent(server.password), 'wrong-password-xyz');
    const r = await mlloop(['history', 'trend', '--metric', 'overall.f1', '--db', url], tempDir('history-auth'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('refused the login');
    expect(r.stderr).not.toContain('wrong-password-xyz');
  });

  it('reading an embedded store that does not exist names the folder (exit 2)', async () => {
    const dir = tempDir('history-none');
    const r = await mlloop(['history', 'trend', '--metric', 'overall.f1'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(join(dir, '.mlloop/history'));
    expect(existsSync(join(dir, '.mlloop'))).toBe(false);
  });

  it('every migration file is in the embedded list, in order', () => {
    const files = readdirSync(join(ROOT, 'src/core/history/migrations')).filter((f) => f.endsWith('.sql')).sort();
    expect(MIGRATIONS.map((m) => `${m.name}.sql`)).toEqual(files);
    expect(MIGRATIONS.map((m) => m.version)).toEqual(files.map((f) => Number(f.slice(0, 3))));
  });
});
