import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { writeFilesAtomic } from '../io/atomic.js';
import type { Logger } from '../log.js';
import type { Db } from '../history/db.js';
import { differingSamples, listEvaluations, type samplesOf } from '../history/store.js';
import { sampleDiffs, type SampleDiff } from '../report/compare.js';
import type { SampleSet } from '../stats/samples.js';
import type { FieldOutcome } from '../evaluate/evaluate.js';
import { cloneRepo, type GitOptions } from '../gitops/git.js';
import { envHistory } from '../gitops/ops.js';
import { readEnvState } from '../gitops/release.js';
import { byDataset, comparePairs, pairKey, renderSite, type EnvInfo } from './render.js';

/** The store's sample rows of one evaluation as the SampleSet the compare report's sampleDiffs reads. */
export function sampleSetFrom(rows: Awaited<ReturnType<typeof samplesOf>>, name: string): SampleSet {
  const n = rows.length;
  const ids = rows.map((r) => r.image_id);
  const overall = { tp: Int32Array.from(rows, (r) => r.tp), fp: Int32Array.from(rows, (r) => r.fp), fn: Int32Array.from(rows, (r) => r.fn) };
  const fields: SampleSet['fields'] = new Map();
  rows.forEach((r, i) => {
    for (const [label, c] of Object.entries((r.per_field ?? {}) as Record<string, { tp: number; fp: number; fn: number }>)) {
      let f = fields.get(label);
      if (!f) fields.set(label, (f = { tp: new Int32Array(n), fp: new Int32Array(n), fn: new Int32Array(n), present: new Uint8Array(n) }));
      f.tp[i] = c.tp;
      f.fp[i] = c.fp;
      f.fn[i] = c.fn;
      f.present[i] = 1;
    }
  });
  return { file: name, ids, index: new Map(ids.map((id, i) => [id, i])), overall, fields, outcomes: rows.map((r) => (Array.isArray(r.fields) ? (r.fields as FieldOutcome[]) : [])) };
}

/** Every app/env of a GitOps checkout with its release, quarantine and release history. */
async function readEnvironments(g: GitOptions & { cwd: string }): Promise<EnvInfo[]> {
  const ws = await cloneRepo({ ...g, depth: 'full' });
  try {
    const out: EnvInfo[] = [];
    const apps = await fs.readdir(path.join(ws.dir, 'apps'), { withFileTypes: true }).catch(() => []);
    for (const a of apps.filter((d) => d.isDirectory()).sort((x, y) => (x.name < y.name ? -1 : 1))) {
      const envs = await fs.readdir(path.join(ws.dir, 'apps', a.name), { withFileTypes: true });
      for (const e of envs.filter((d) => d.isDirectory()).sort((x, y) => (x.name < y.name ? -1 : 1))) {
        const state = await readEnvState(ws.dir, a.name, e.name);
        out.push({ app: a.name, env: e.name, release: state.release, quarantine: state.quarantine, history: await envHistory(ws, { app: a.name, env: e.name }) });
      }
    }
    return out;
  } finally {
    await ws.cleanup();
  }
}

export interface SiteOptions {
  db: Db;
  gitops?: GitOptions & { cwd: string };
  outDir: string;
  now: Date;
  log: Logger;
}

/** Builds the site and writes it into `outDir` as one batch (every page or none). */
export async function buildSite(o: SiteOptions): Promise<{ pages: number; versions: number; environments: number; files: string[] }> {
  const evaluations = await listEvaluations(o.db);
  o.log.progress(`${evaluations.length} evaluation(s) in ${o.db.target.display}`);
  const envs = o.gitops ? await readEnvironments(o.gitops) : [];
  if (o.gitops) o.log.progress(`${envs.length} environment(s) in the GitOps repository`);
  const diffs = new Map<string, { diffs: SampleDiff[]; compared: number }>();
  for (const [dataset, versions] of byDataset(evaluations)) {
    for (const [c, b] of comparePairs(versions)) {
      if (!c.samples || !b.samples) continue;
      const d = await differingSamples(o.db, c.id, b.id);
      diffs.set(pairKey(dataset, c.model_version, b.model_version), { diffs: sampleDiffs(sampleSetFrom(d.candidate, c.model_version), sampleSetFrom(d.baseline, b.model_version)).diffs, compared: d.compared });
    }
  }
  const pages = renderSite({ evaluations, envs, diffs, generatedAt: o.now.toISOString().replace(/\.\d{3}Z$/, 'Z'), source: o.db.target.display });
  const files = pages.map((p) => ({ path: path.join(o.outDir, p.path), data: p.html }));
  await writeFilesAtomic(files);
  return { pages: pages.length, versions: new Set(evaluations.map((e) => e.model_version)).size, environments: envs.length, files: pages.map((p) => p.path) };
}
