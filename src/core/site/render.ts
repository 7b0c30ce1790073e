import { createHash } from 'node:crypto';
import { esc, page, reportLang } from '../report/html.js';
import { radar, trend, deltaBars } from '../report/charts.js';
import { fieldRows, metricRows, KNOWN_METRICS, type MetricRow, type SampleDiff } from '../report/compare.js';
import { diffBlock } from '../report/render.js';
import type { StoredEvaluation } from '../history/store.js';
import type { HistoryEntry } from '../gitops/ops.js';
import type { QuarantineEntry, Release } from '../gitops/release.js';

// The registry site: static pages over the evaluation history and the GitOps repository. Pure: data in, files out.

export interface EnvInfo {
  app: string;
  env: string;
  release?: Release;
  quarantine: QuarantineEntry[];
  history: HistoryEntry[];
}

export interface SiteData {
  evaluations: StoredEvaluation[];
  envs: EnvInfo[];
  /** Sample differences per compare page key (`dataset|candidate|baseline`), where both sides have samples. */
  diffs: Map<string, { diffs: SampleDiff[]; compared: number }>;
  generatedAt: string;
  source: string;
}

export interface SitePage {
  path: string;
  html: string;
}

/** A file name from a model version or dataset: readable, and distinct names stay distinct (hash suffix when changed). */
export function slug(s: string): string {
  const clean = s.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '').slice(0, 60) || 'x';
  return clean === s ? clean : `${clean}-${createHash('sha256').update(s).digest('hex').slice(0, 6)}`;
}

export const versionPage = (v: string) => `versions/${slug(v)}.html`;
export const comparePage = (dataset: string, candidate: string, baseline: string) => `compare/${slug(dataset)}/${slug(candidate)}__${slug(baseline)}.html`;
export const pairKey = (dataset: string, candidate: string, baseline: string) => `${dataset}|${candidate}|${baseline}`;

const num = (m: Record<string, unknown>, p: string): number | null => {
  const v = p.split('.').reduce<unknown>((a, k) => (a && typeof a === 'object' ? (a as Record<string, unknown>)[k] : undefined), m);
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
};
const fmt = (v: number | null, pct: boolean) => (v === null ? '—' : pct ? `${(v * 100).toFixed(1)}%` : String(Number(v.toPrecision(5))));
const pctOf = (p: string) => KNOWN_METRICS.find((d) => d.path === p)?.percent ?? /precision|recall|f1|rate|match|map|share/.test(p);

/** Versions in the order they were first evaluated; per dataset the latest evaluation of each version. */
export function byDataset(evals: readonly StoredEvaluation[]): Map<string, StoredEvaluation[]> {
  const out = new Map<string, Map<string, StoredEvaluation>>();
  for (const e of evals) {
    let m = out.get(e.dataset);
    if (!m) out.set(e.dataset, (m = new Map()));
    // A Map keeps the first insertion's position: the order versions were first evaluated.
    m.set(e.model_version, e);
  }
  return new Map([...out].map(([d, m]) => [d, [...m.values()]]));
}

/** The pairs a site pre-renders: every (newer, older) pair up to 30 versions, else each with its predecessor and with the first. */
export function comparePairs(versions: readonly StoredEvaluation[]): [StoredEvaluation, StoredEvaluation][] {
  const out: [StoredEvaluation, StoredEvaluation][] = [];
  for (let i = 1; i < versions.length; i++) {
    for (let j = i - 1; j >= 0; j--) if (versions.length <= 30 || j === i - 1 || j === 0) out.push([versions[i]!, versions[j]!]);
  }
  return out;
}

const SITE_CSS = `nav.site { display: flex; gap: 16px; margin: 0 0 16px; padding: 0 0 8px; border-bottom: 1px solid var(--line); }
nav.site a { font-weight: 600; } form.pick { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin: 8px 0 16px; }
.env { display: inline-block; margin: 0 4px 2px 0; } table.versions td:first-child { white-space: nowrap; }
.trends { display: flex; flex-wrap: wrap; gap: 12px; } .trends .chart { flex: 1 1 520px; }`;

/** The switcher: plain links work without JavaScript; the script only turns the two selects into a link. */
const PICK_SCRIPT = `document.querySelectorAll('form.pick').forEach(function (f) {
  f.addEventListener('submit', function (e) {
    e.preventDefault();
    var c = f.elements.candidate.value, b = f.elements.baseline.value;
    var msg = f.querySelector('.pick-msg');
    if (c === b) { msg.textContent = '请选择两个不同的版本 (choose two different versions)'; return; }
    var href = (f.dataset.pairs ? JSON.parse(f.dataset.pairs) : {})[c + '|' + b];
    if (href) { window.location.href = href; } else { msg.textContent = '没有这一对的比较页 (no page for this pair)'; }
  });
});`;
function shell(title: string, body: string, depth: number, lang: string): string {
  const up = '../'.repeat(depth);
  const nav = `<nav class="site"><a href="${up}index.html">模型版本 Models</a><a href="${up}compare.html">版本比较 Compare</a><a href="${up}deployments.html">部署记录 Deployments</a></nav>`;
  return page(title, `${nav}\n${body}`, SITE_CSS, lang, PICK_SCRIPT);
}

function whereRuns(data: SiteData, version: string): EnvInfo[] {
  return data.envs.filter((e) => e.release?.model_version === version);
}

function imageOf(data: SiteData, version: string): string | null {
  for (const e of data.envs) {
    if (e.release?.model_version === version) return e.release.image;
    const h = e.history.find((x) => x.model_version === version && x.image);
    if (h) return h.image;
  }
  return null;
}

const link = (href: string, text: string) => `<a href="${esc(href)}">${esc(text)}</a>`;
const runLink = (url: string | null) => (url && /^https?:\/\//.test(url) ? `<a href="${esc(url)}" rel="noopener">${esc(url.replace(/^https?:\/\/[^/]+\//, ''))}</a>` : url ? esc(url) : '—');
const envBadges = (envs: EnvInfo[]) => envs.map((e) => `<span class="badge improved env">${esc(`${e.app}/${e.env}`)}</span>`).join('') || '<span class="muted">—</span>';

const HEADLINE = ['overall.f1', 'overall.precision', 'overall.recall', 'latency_ms.p95'];

function indexPage(data: SiteData, lang: string): SitePage {
  const sets = byDataset(data.evaluations);
  const rows = data.evaluations
    .map((e) => `<tr data-version="${esc(e.model_version)}"><td>${link(versionPage(e.model_version), e.model_version)}</td><td><code>${esc(e.dataset)}</code></td>${HEADLINE.map((p) => `<td class="num">${esc(fmt(num(e.metrics, p), pctOf(p)))}</td>`).join('')}<td>${esc(e.created_at.slice(0, 16).replace('T', ' '))}</td><td><code>${esc((e.source_commit ?? '—').slice(0, 12))}</code></td><td>${runLink(e.run_url)}</td><td>${envBadges(whereRuns(data, e.model_version))}</td></tr>`)
    .join('\n');
  const charts = [...sets]
    .map(([dataset, versions]) => {
      const metrics = [...new Set([...HEADLINE, 'bleu', 'overall.exact_match'])].filter((p) => versions.some((v) => num(v.metrics, p) !== null));
      const boxes = metrics
        .map((p) => {
          const svg = trend(versions.map((v) => ({ label: v.model_version, values: num(v.metrics, p) === null ? {} : { [p]: num(v.metrics, p)! } })), [p]);
          const labels = versions.map((v) => `${v.model_version} ${fmt(num(v.metrics, p), pctOf(p))}`).join(' → ');
          return svg ? `<div class="chart trend" data-metric="${esc(p)}"><h3>${esc(p)}</h3>${svg}<p class="muted">${esc(labels)}</p></div>` : '';
        })
        .join('');
      return boxes ? `<h3>数据集 Dataset <code>${esc(dataset)}</code></h3><div class="trends">${boxes}</div>` : '';
    })
    .join('\n');
  const body = [
    '<h1>模型注册表 Model registry</h1>',
    `<p class="muted">${data.evaluations.length} evaluation(s) of ${new Set(data.evaluations.map((e) => e.model_version)).size} version(s) · ${esc(data.source)} · generated ${esc(data.generatedAt)}</p>`,
    '<h2>所有版本 Every model version</h2>',
    `<table class="versions"><thead><tr><th>Version</th><th>Dataset</th>${HEADLINE.map((p) => `<th>${esc(p)}</th>`).join('')}<th>Evaluated (UTC)</th><th>Source commit</th><th>Run</th><th>Runs now in</th></tr></thead><tbody>\n${rows}\n</tbody></table>`,
    '<h2>趋势 Metric trends across versions</h2>',
    charts || '<p class="muted">Trends need at least two versions on the same dataset.</p>',
    monthTable(data),
  ].join('\n');
  return { path: 'index.html', html: shell('Model registry', body, 0, lang) };
}

/** "How does this month compare with last month": per dataset and month, the best F1 and the latest version. */
function monthTable(data: SiteData): string {
  const groups = new Map<string, StoredEvaluation[]>();
  for (const e of data.evaluations) {
    const k = `${e.dataset}|${e.created_at.slice(0, 7)}`;
    groups.set(k, [...(groups.get(k) ?? []), e]);
  }
  const rows: string[] = [];
  const prevBest = new Map<string, number>();
  for (const [k, list] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const [dataset, month] = k.split('|') as [string, string];
    const best = Math.max(...list.map((e) => num(e.metrics, 'overall.f1') ?? -Infinity));
    const latest = list[list.length - 1]!;
    const before = prevBest.get(dataset);
    const delta = before !== undefined && Number.isFinite(best) ? best - before : null;
    if (Number.isFinite(best)) prevBest.set(dataset, best);
    rows.push(`<tr><td>${esc(month)}</td><td><code>${esc(dataset)}</code></td><td class="num">${list.length}</td><td class="num">${Number.isFinite(best) ? esc(fmt(best, true)) : '—'}</td><td class="num ${delta === null ? '' : delta < 0 ? 'wrong' : 'right'}">${delta === null ? '—' : `${delta >= 0 ? '+' : ''}${(delta * 100).toFixed(1)} pts`}</td><td>${link(versionPage(latest.model_version), latest.model_version)}</td></tr>`);
  }
  return `<h2>按月 Month by month</h2><table class="months"><thead><tr><th>Month</th><th>Dataset</th><th>Evaluations</th><th>Best overall.f1</th><th>vs previous month</th><th>Latest version</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function deployLine(h: HistoryEntry): string {
  const what = h.action === 'rollback' ? `rollback of ${(h.rollback_of ?? '').slice(0, 12)}` : h.action === 'promote' ? `promote from ${h.promoted_from ?? '?'}` : (h.action ?? 'manual');
  return `<tr class="${h.action === 'rollback' ? 'regressed' : ''}"><td>${esc(h.date.replace('T', ' ').slice(0, 19))}</td><td>${esc(what)}</td><td>${h.model_version ? link(versionPage(h.model_version), h.model_version) : '—'}</td><td>${esc(h.reason ?? '')}</td><td><code>${esc(h.commit.slice(0, 12))}</code></td></tr>`;
}

function versionPages(data: SiteData, lang: string): SitePage[] {
  const versions = [...new Set(data.evaluations.map((e) => e.model_version))];
  const sets = byDataset(data.evaluations);
  return versions.map((v) => {
    const evals = data.evaluations.filter((e) => e.model_version === v);
    const envs = whereRuns(data, v);
    const deploys = data.envs.flatMap((e) => e.history.filter((h) => h.model_version === v || (h.action === 'rollback' && e.history.some((x) => x.commit === h.rollback_of && x.model_version === v))).map((h) => ({ e, h })));
    const quarantine = data.envs.flatMap((e) => e.quarantine.filter((q) => q.model_version === v).map((q) => ({ e, q })));
    const compareLinks = evals
      .flatMap((e) => {
        const list = sets.get(e.dataset) ?? [];
        const i = list.findIndex((x) => x.model_version === v);
        const links: string[] = [];
        if (i > 0) links.push(link(`../${comparePage(e.dataset, v, list[i - 1]!.model_version)}`, `${v} vs ${list[i - 1]!.model_version} (${e.dataset})`));
        if (i >= 0 && i < list.length - 1) links.push(link(`../${comparePage(e.dataset, list[i + 1]!.model_version, v)}`, `${list[i + 1]!.model_version} vs ${v} (${e.dataset})`));
        return links;
      })
      .map((l) => `<li>${l}</li>`)
      .join('');
    const blocks = evals
      .map((e) => {
        const values: [string, number][] = [];
        const walk = (x: unknown, p: string) => {
          if (typeof x === 'number' && Number.isFinite(x)) values.push([p, x]);
          else if (x && typeof x === 'object' && !Array.isArray(x)) for (const [k, y] of Object.entries(x)) walk(y, p ? `${p}.${k}` : k);
        };
        for (const [k, x] of Object.entries(e.metrics)) if (!['schema', 'config', 'model_version', 'dataset'].includes(k)) walk(x, k);
        return `<h2>数据集 Dataset <code>${esc(e.dataset)}</code></h2>
<table class="facts"><tbody><tr><th>Evaluated (UTC)</th><td>${esc(e.created_at)}</td></tr><tr><th>Source commit</th><td><code>${esc(e.source_commit ?? '—')}</code></td></tr><tr><th>Run</th><td>${runLink(e.run_url)}</td></tr><tr><th>Config hash</th><td><code>${esc(e.config_hash.slice(0, 16))}</code></td></tr><tr><th>Per-image samples</th><td>${e.samples}</td></tr></tbody></table>
<table class="metrics"><thead><tr><th>Metric</th><th>Value</th></tr></thead><tbody>${values.map(([p, x]) => `<tr data-metric="${esc(p)}"><td>${esc(p)}</td><td class="num">${esc(fmt(x, pctOf(p)))}</td></tr>`).join('')}</tbody></table>`;
      })
      .join('\n');
    const body = [
      `<h1>模型版本 <code>${esc(v)}</code></h1>`,
      `<table class="facts"><tbody><tr><th>Image</th><td><code>${esc(imageOf(data, v) ?? '—')}</code></td></tr><tr><th>Runs now in</th><td class="where">${envBadges(envs)}</td></tr></tbody></table>`,
      compareLinks ? `<h2>比较 Compare</h2><ul class="compare-links">${compareLinks}</ul>` : '',
      blocks,
      `<h2>部署记录 Deploys, promotions, rollbacks</h2>${deploys.length ? `<table class="deploys"><thead><tr><th>Date (UTC)</th><th>Action</th><th>Version</th><th>Reason</th><th>Commit</th></tr></thead><tbody>${deploys.map(({ e, h }) => deployLine(h).replace('<tr', `<tr data-env="${esc(`${e.app}/${e.env}`)}"`)).join('')}</tbody></table>` : '<p class="muted">Never deployed through the GitOps repository.</p>'}`,
      quarantine.length ? `<h2>隔离 Quarantine</h2><ul class="quarantine">${quarantine.map(({ e, q }) => `<li><strong>${esc(`${e.app}/${e.env}`)}</strong>: ${esc(q.reason ?? '')} <span class="muted">(${esc(q.at ?? '')})</span></li>`).join('')}</ul>` : '',
    ].join('\n');
    return { path: versionPage(v), html: shell(`Model ${v}`, body, 1, lang) };
  });
}

function pickForm(dataset: string, versions: readonly StoredEvaluation[], candidate: string, baseline: string, up: string): string {
  const pairs: Record<string, string> = {};
  for (const [c, b] of comparePairs(versions)) pairs[`${c.model_version}|${b.model_version}`] = `${up}${comparePage(dataset, c.model_version, b.model_version)}`;
  const options = (sel: string) => versions.map((v) => `<option value="${esc(v.model_version)}"${v.model_version === sel ? ' selected' : ''}>${esc(v.model_version)}</option>`).join('');
  return `<form class="pick" data-dataset="${esc(dataset)}" data-pairs="${esc(JSON.stringify(pairs))}"><label>新 Candidate <select name="candidate">${options(candidate)}</select></label><label>旧 Baseline <select name="baseline">${options(baseline)}</select></label><button type="submit">比较 Compare</button><span class="pick-msg muted" role="status"></span></form>`;
}

function rowsTable(rows: MetricRow[], cand: string, base: string, first: string, cls: string): string {
  return `<table class="${cls}"><thead><tr><th>${esc(first)}</th><th>${esc(base)}</th><th>${esc(cand)}</th><th>Delta</th><th>Highlight</th></tr></thead><tbody>${rows
    .map((r) => `<tr class="${r.status}" data-metric="${esc(r.path)}"><td>${esc(r.label)}</td><td class="num">${esc(fmt(r.baseline, r.percent))}</td><td class="num">${esc(fmt(r.candidate, r.percent))}</td><td class="num delta">${r.delta === null ? '—' : esc(`${r.delta >= 0 ? '+' : ''}${r.percent ? `${(r.delta * 100).toFixed(1)} pts` : Number(r.delta.toPrecision(4))}`)}</td><td><span class="badge ${r.status}">${esc(r.status)}</span></td></tr>`)
    .join('')}</tbody></table>`;
}

function comparePages(data: SiteData, lang: string): SitePage[] {
  const out: SitePage[] = [];
  for (const [dataset, versions] of byDataset(data.evaluations)) {
    for (const [c, b] of comparePairs(versions)) {
      const rows = metricRows(c.metrics, b.metrics);
      const fields = fieldRows(c.metrics, b.metrics);
      const ratio = rows.filter((r) => r.percent && r.baseline !== null && r.candidate !== null);
      const names = { baseline: b.model_version, candidate: c.model_version };
      const rad = radar(ratio.map((r) => ({ label: r.label, baseline: r.direction === 'lower' ? 1 - r.baseline! : r.baseline!, candidate: r.direction === 'lower' ? 1 - r.candidate! : r.candidate! })), names);
      const fd = fields.filter((f) => f.delta !== null);
      const deltas = fd.length ? deltaBars(fd.map((f) => ({ label: f.label, delta: f.delta!, better: f.delta! >= 0, percent: true }))) : '';
      const diff = data.diffs.get(pairKey(dataset, c.model_version, b.model_version));
      const regressed = rows.filter((r) => r.status === 'regressed').map((r) => r.label);
      const improved = rows.filter((r) => r.status === 'improved').map((r) => r.label);
      const verdict = regressed.length ? `<div class="recommend no"><strong>${esc(c.model_version)} is worse than ${esc(b.model_version)} on ${esc(regressed.join(', '))}</strong></div>` : improved.length ? `<div class="recommend"><strong>${esc(c.model_version)} is better than ${esc(b.model_version)} on ${esc(improved.join(', '))}, and worse on none</strong></div>` : `<div class="recommend warn"><strong>No clear change between ${esc(b.model_version)} and ${esc(c.model_version)}</strong></div>`;
      const samples = diff
        ? `<h2>样本差异 Sample differences</h2><p>${diff.diffs.length} of ${diff.compared} images differ: <span class="badge regressed">${diff.diffs.filter((d) => d.change === 'broken').length} broken</span> <span class="badge improved">${diff.diffs.filter((d) => d.change === 'fixed').length} fixed</span>${diff.diffs.length > 50 ? ` (first 50 shown)` : ''}</p>${diff.diffs.slice(0, 50).map(diffBlock).join('\n')}`
        : '<h2>样本差异 Sample differences</h2><p class="muted">Per-image samples were not pushed for both versions (mlloop history push --samples).</p>';
      const body = [
        `<h1>版本比较 <code>${esc(c.model_version)}</code> vs <code>${esc(b.model_version)}</code></h1>`,
        `<p class="muted">Dataset <code>${esc(dataset)}</code> · ${link(`../../${versionPage(b.model_version)}`, b.model_version)} (${esc(b.created_at.slice(0, 10))}) → ${link(`../../${versionPage(c.model_version)}`, c.model_version)} (${esc(c.created_at.slice(0, 10))})</p>`,
        pickForm(dataset, versions, c.model_version, b.model_version, '../../'),
        verdict,
        '<h2>指标 Metrics</h2>',
        rowsTable(rows, c.model_version, b.model_version, 'Metric', 'summary'),
        `<div class="charts">${rad ? `<div class="chart radar"><h3>Radar (higher is better; miss rate as 1 − rate)</h3>${rad}</div>` : ''}${deltas ? `<div class="chart deltas"><h3>Per-field F1 delta</h3>${deltas}</div>` : ''}</div>`,
        fields.length ? `<h2>逐字段 Per field (F1)</h2>${rowsTable(fields, c.model_version, b.model_version, 'Field', 'fields')}` : '',
        samples,
      ].join('\n');
      out.push({ path: comparePage(dataset, c.model_version, b.model_version), html: shell(`${c.model_version} vs ${b.model_version}`, body, 2, lang) });
    }
  }
  return out;
}

function compareIndex(data: SiteData, lang: string): SitePage {
  const parts = [...byDataset(data.evaluations)].map(([dataset, versions]) => {
    if (versions.length < 2) return `<h2>数据集 <code>${esc(dataset)}</code></h2><p class="muted">Only ${esc(versions[0]?.model_version ?? '')}: nothing to compare yet.</p>`;
    const last = versions[versions.length - 1]!;
    const adjacent = versions.slice(1).map((v, i) => `<li>${link(comparePage(dataset, v.model_version, versions[i]!.model_version), `${v.model_version} vs ${versions[i]!.model_version}`)}</li>`).join('');
    return `<h2>数据集 <code>${esc(dataset)}</code></h2>${pickForm(dataset, versions, last.model_version, versions[versions.length - 2]!.model_version, '')}<ul class="pairs">${adjacent}</ul>`;
  });
  return { path: 'compare.html', html: shell('Compare versions', `<h1>版本比较 Compare versions</h1><p>Pick two versions evaluated on the same dataset, or follow a link (each version against the one before it).</p>${parts.join('\n')}`, 0, lang) };
}

function deploymentsPage(data: SiteData, lang: string): SitePage {
  const blocks = data.envs.map((e) => {
    const r = e.release;
    const head = r
      ? `<p>Runs ${link(versionPage(r.model_version), r.model_version)} · image <code>${esc(r.image)}</code> · since ${esc(r.deployed_at)} (${esc(r.action)})${r.reason ? ` · reason: ${esc(r.reason)}` : ''}</p>`
      : '<p class="muted">Nothing deployed.</p>';
    const hist = e.history.filter((h) => h.action);
    return `<section class="environment" data-env="${esc(`${e.app}/${e.env}`)}"><h2>${esc(`${e.app}/${e.env}`)}</h2>${head}${hist.length ? `<table class="deploys"><thead><tr><th>Date (UTC)</th><th>Action</th><th>Version</th><th>Reason</th><th>Commit</th></tr></thead><tbody>${hist.map(deployLine).join('')}</tbody></table>` : ''}${e.quarantine.length ? `<p><strong>隔离 Quarantine</strong>: ${e.quarantine.map((q) => `${esc(q.model_version)} — ${esc(q.reason ?? '')}`).join('; ')}</p>` : ''}</section>`;
  });
  return { path: 'deployments.html', html: shell('Deployments', `<h1>部署记录 Deployments</h1>${blocks.join('\n') || '<p class="muted">No GitOps repository given (mlloop site --gitops REPO).</p>'}`, 0, lang) };
}

/** Every page of the site. */
export function renderSite(data: SiteData): SitePage[] {
  const lang = reportLang(['模型', ...data.evaluations.map((e) => e.dataset)], 'zh-CN');
  return [indexPage(data, lang), compareIndex(data, lang), deploymentsPage(data, lang), ...versionPages(data, lang), ...comparePages(data, lang)];
}

