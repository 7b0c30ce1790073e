#!/usr/bin/env node
// Keeps the inputs/outputs tables of docs/commands/<action>.md (and docs/actions.md for the root
// action) generated from each action.yml. `node scripts/docs.mjs` rewrites them; `--check` fails
// when a page has drifted from its action.yml (the test suite runs the check).
import { readFileSync, readdirSync, existsSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const START = '<!-- action-io:start (generated from action.yml by scripts/docs.mjs; do not edit) -->';
const END = '<!-- action-io:end -->';

const cell = (s) => String(s ?? '').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ').trim();

export function renderTables(actionYml, usesPath) {
  const meta = parse(actionYml);
  const inputs = Object.entries(meta.inputs ?? {});
  const outputs = Object.entries(meta.outputs ?? {});
  const lines = [START, '', `Action: \`uses: <owner>/mlloop/${usesPath}@<commit-sha>\` — ${cell(meta.description)}`, ''];
  lines.push('| input | required | default | description |', '| :-- | :-: | :-- | :-- |');
  for (const [name, v] of inputs) lines.push(`| \`${name}\` | ${v.required ? 'yes' : 'no'} | ${v.default !== undefined && v.default !== '' ? `\`${cell(v.default)}\`` : ''} | ${cell(v.description)} |`);
  lines.push('', '| output | description |', '| :-- | :-- |');
  for (const [name, v] of outputs) lines.push(`| \`${name}\` | ${cell(v.description)} |`);
  lines.push('', END);
  return lines.join('\n');
}

export function pages() {
  const out = [];
  const dir = join(root, 'actions');
  for (const name of readdirSync(dir).sort()) {
    const yml = join(dir, name, 'action.yml');
    if (existsSync(yml)) out.push({ action: name, yml, doc: join(root, 'docs/commands', `${name}.md`), uses: `actions/${name}` });
  }
  out.push({ action: 'mlloop (root)', yml: join(root, 'action.yml'), doc: join(root, 'docs/actions.md'), uses: '' });
  return out;
}

export function updateDocs({ check }) {
  const problems = [];
  for (const p of pages()) {
    const tables = renderTables(readFileSync(p.yml, 'utf8'), p.uses).replace('mlloop/@', 'mlloop@');
    if (!existsSync(p.doc)) {
      problems.push(`${p.doc.slice(root.length + 1)} is missing (the page for ${p.action})`);
      continue;
    }
    const text = readFileSync(p.doc, 'utf8');
    const a = text.indexOf(START);
    const b = text.indexOf(END);
    let next;
    if (a >= 0 && b > a) next = text.slice(0, a) + tables + text.slice(b + END.length);
    else next = `${text.trimEnd()}\n\n## Action inputs and outputs\n\n${tables}\n`;
    if (next !== text) {
      if (check) problems.push(`${p.doc.slice(root.length + 1)} differs from ${p.yml.slice(root.length + 1)} (run node scripts/docs.mjs)`);
      else writeFileSync(p.doc, next);
    }
  }
  return problems;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const check = process.argv.includes('--check');
  const problems = updateDocs({ check });
  if (problems.length) {
    console.error(problems.join('\n'));
    process.exit(1);
  }
  console.log(check ? 'docs match action.yml' : 'docs updated from action.yml');
}
