import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ConfigurationError } from '../errors.js';
import { sha256File } from '../fs/hash.js';
import { readJson, readJsonl, looksLikeJsonl } from '../io/read.js';
import type { Logger } from '../log.js';
import { validateSchema, type JsonSchema } from '../schema.js';
import { cloneRepo, formatCommitMessage, updateRepo, type GitRemote, type UpdateResult } from '../gitops/git.js';
import schema from '../../../schemas/lineage.schema.json';
import { auditFor, labelVersion, type AuditEntry, type LineageRecord, type Sample } from './records.js';

export const LINEAGE_DIR = 'lineage';

/** Files of a folder (or one file) with their sha256, paths relative to `base`, sorted. */
export async function hashFiles(target: string, base: string): Promise<{ path: string; sha256: string }[]> {
  let stat;
  try {
    stat = await fs.stat(target);
  } catch {
    throw new ConfigurationError('data path not found', { file: target, hint: 'pass the folder or file the step read' });
  }
  const out: { path: string; sha256: string }[] = [];
  const walk = async (p: string) => {
    const s = await fs.stat(p);
    if (s.isDirectory()) {
      for (const e of (await fs.readdir(p)).sort()) if (!e.startsWith('.')) await walk(path.join(p, e));
    } else if (s.isFile()) out.push({ path: path.relative(base, p).split(path.sep).join('/'), sha256: await sha256File(p) });
  };
  await walk(target);
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The samples of a ground-truth file (mlloop/fields@1, JSON or JSONL) with the version of each one's labels. */
export async function samplesOf(gtFile: string): Promise<Sample[]> {
  const images: unknown[] = [];
  if (looksLikeJsonl(gtFile)) for await (const { value } of readJsonl(gtFile)) images.push(value);
  else {
    const doc = (await readJson(gtFile, 'ground truth')) as { images?: unknown[] } | null;
    if (!doc || !Array.isArray(doc.images)) throw new ConfigurationError('ground truth must hold {"images": [...]} (mlloop/fields@1)', { file: gtFile, path: '$.images' });
    images.push(...doc.images);
  }
  return images.map((im, i) => {
    const m = im as { image_id?: unknown; fields?: unknown };
    if (!m || typeof m.image_id !== 'string' || !Array.isArray(m.fields)) throw new ConfigurationError('each image needs "image_id" and "fields"', { file: gtFile, path: `$.images[${i}]` });
    return { file_id: m.image_id, label_version: labelVersion(m.fields as { label: string }[]) };
  });
}

function month(time: string): string {
  return time.slice(0, 7);
}

export interface AppendOptions {
  remote: GitRemote;
  records: LineageRecord[];
  env: Readonly<Record<string, string | undefined>>;
  log: Logger;
  cwd: string;
  signal?: AbortSignal;
  dryRun?: boolean;
}

/**
 * Appends records and their audit entries to lineage/records/<yyyy-mm>.jsonl and
 * lineage/audit/<yyyy-mm>.jsonl in the GitOps repository, through the shared git wrapper (shallow
 * clone, one commit with trailers, push with fetch-rebase retry). A record already there (same id) is
 * not written again, so a retried job adds nothing; when nothing is new there is no commit.
 */
export async function appendLineage(o: AppendOptions): Promise<UpdateResult & { appended: string[] }> {
  let appended: string[] = [];
  const result = await updateRepo({
    remote: o.remote,
    env: o.env,
    log: o.log,
    signal: o.signal,
    cwd: o.cwd,
    dryRun: o.dryRun,
    edit: async (dir) => {
      appended = [];
      const byMonth = new Map<string, LineageRecord[]>();
      for (const r of o.records) byMonth.set(month(r.time), [...(byMonth.get(month(r.time)) ?? []), r]);
      for (const [m, recs] of byMonth) {
        const recFile = path.join(dir, LINEAGE_DIR, 'records', `${m}.jsonl`);
        const auditFile = path.join(dir, LINEAGE_DIR, 'audit', `${m}.jsonl`);
        const existing = await fs.readFile(recFile, 'utf8').catch(() => '');
        const ids = new Set(existing.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { id?: string }).id));
        const fresh = recs.filter((r) => !ids.has(r.id));
        if (!fresh.length) continue;
        await fs.mkdir(path.dirname(recFile), { recursive: true });
        await fs.mkdir(path.dirname(auditFile), { recursive: true });
        const nl = (text: string) => (text && !text.endsWith('\n') ? '\n' : '');
        await fs.appendFile(recFile, nl(existing) + fresh.map((r) => JSON.stringify(r)).join('\n') + '\n');
        const audit = fresh.flatMap(auditFor);
        if (audit.length) {
          const prev = await fs.readFile(auditFile, 'utf8').catch(() => '');
          await fs.appendFile(auditFile, nl(prev) + audit.map((a) => JSON.stringify(a)).join('\n') + '\n');
        }
        appended.push(...fresh.map((r) => r.id));
      }
      if (!appended.length) return null;
      const first = o.records.find((r) => appended.includes(r.id))!;
      const subject = `lineage(${[...new Set(o.records.map((r) => r.kind))].join(',')}): ${first.model_id ?? first.dataset?.id ?? first.id}`;
      return {
        message: formatCommitMessage(subject, [
          ['Mlloop-Action', 'lineage'],
          ['Lineage-Records', appended.join(' ')],
          ['Model-Version', first.model_id ?? ''],
          ['Dataset', first.dataset ? `${first.dataset.id}${first.dataset.version ? `@${first.dataset.version}` : ''}` : ''],
          ['Source-Commit', first.commit ?? ''],
          ['Run-Url', first.run_url ?? ''],
        ]),
      };
    },
  });
  return { ...result, appended };
}

async function readLines(dir: string, sub: string): Promise<{ value: unknown; file: string; line: number }[]> {
  const folder = path.join(dir, LINEAGE_DIR, sub);
  const names = (await fs.readdir(folder).catch(() => [] as string[])).filter((n) => n.endsWith('.jsonl')).sort();
  const out: { value: unknown; file: string; line: number }[] = [];
  for (const n of names) {
    for await (const { value, line } of readJsonl(path.join(folder, n))) out.push({ value, file: `${LINEAGE_DIR}/${sub}/${n}`, line });
  }
  return out;
}

/** Reads every lineage record and audit entry of the GitOps repository (a shallow clone of the branch). */
export async function readLineage(o: { remote: GitRemote; env: Readonly<Record<string, string | undefined>>; log: Logger; cwd: string; signal?: AbortSignal }): Promise<{ records: LineageRecord[]; audit: AuditEntry[]; commit: string }> {
  const ws = await cloneRepo({ remote: o.remote, env: o.env, log: o.log, signal: o.signal, cwd: o.cwd, depth: 1 });
  try {
    const check = (x: { value: unknown; file: string; line: number }) => validateSchema<LineageRecord | AuditEntry>(x.value, schema as JsonSchema, `${x.file}: line ${x.line}`);
    const records = (await readLines(ws.dir, 'records')).map(check) as LineageRecord[];
    const audit = (await readLines(ws.dir, 'audit')).map(check) as AuditEntry[];
    return { records, audit, commit: ws.base };
  } finally {
    await ws.cleanup();
  }
}
