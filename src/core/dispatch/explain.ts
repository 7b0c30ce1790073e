import { mdTable, textTable } from '../format/markdown.js';
import type { CheckName, ClusterExplain } from './decide.js';

/** The explain table: one row per cluster, each filter's result and each score term. */
const CHECKS: readonly CheckName[] = ['reachable', 'tenant', 'gpu_type', 'schedulable', 'capacity', 'permission'];
const mark = (p: boolean | null) => (p === true ? 'ok' : p === false ? 'FAIL' : '-');
const num = (x: number | undefined) => (x === undefined ? '-' : x.toFixed(3));

function rows(explain: readonly ClusterExplain[], ranking: readonly string[]): unknown[][] {
  const rank = new Map(ranking.map((c, i) => [c, i + 1]));
  const sorted = [...explain].sort((a, b) => (rank.get(a.cluster) ?? 1e9) - (rank.get(b.cluster) ?? 1e9) || a.cluster.localeCompare(b.cluster));
  return sorted.map((e) => [
    rank.get(e.cluster) ?? '-',
    e.cluster,
    e.fits ? 'yes' : 'no',
    ...CHECKS.map((c) => mark(e.checks[c].pass)),
    e.score === null ? '-' : e.score.toFixed(3),
    num(e.terms.free_gpus),
    num(e.terms.queue_delay),
    num(e.terms.locality),
    num(e.terms.image_locality),
    num(e.terms.failure_rate),
    e.fits ? `${e.gpus.free}/${e.gpus.total} free, wait ~${e.predicted_wait_minutes}m` : e.reasons.join('; '),
  ]);
}

const HEADERS = ['#', 'cluster', 'fits', 'reachable', 'tenant', 'gpu type', 'schedulable', 'capacity', 'permission', 'score', 'free gpus', 'queue', 'data', 'image', '1-fail rate', 'detail'];

export function explainText(explain: readonly ClusterExplain[], ranking: readonly string[]): string {
  return textTable(HEADERS, rows(explain, ranking));
}

export function explainMarkdown(explain: readonly ClusterExplain[], ranking: readonly string[]): string {
  return mdTable(HEADERS, rows(explain, ranking), ['r', 'l', 'l', 'c', 'c', 'c', 'c', 'c', 'c', 'r', 'r', 'r', 'r', 'r', 'r', 'l']);
}
