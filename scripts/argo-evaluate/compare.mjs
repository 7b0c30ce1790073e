// Runs every row of test/rollout/conformance.yaml through Argo Rollouts' own evaluator (the Go program in this
// folder: Argo's evaluate.go over expr v1.17.8) and prints the rows where its phase differs from the table.
// Usage: go build -o /tmp/argo-evaluate . && node compare.mjs /tmp/argo-evaluate   (exit 1 on a difference)
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const binary = process.argv[2];
if (!binary) {
  console.error('usage: node compare.mjs PATH-TO-argo-evaluate');
  process.exit(2);
}
const table = parse(readFileSync(fileURLToPath(new URL('../../test/rollout/conformance.yaml', import.meta.url)), 'utf8'));
const input = table.rows.map((r) => JSON.stringify({ success: r.success ?? '', failure: r.failure ?? '', results: [...table.shapes, ...Object.keys(r.extra ?? {})] }));
const output = execFileSync(binary, { input: `${input.join('\n')}\n`, maxBuffer: 1 << 28 }).toString().trim().split('\n').map((l) => JSON.parse(l));
let differences = 0;
table.rows.forEach((row, i) => {
  // A refused condition is one Argo cannot evaluate on any result shape.
  const want = row.expect === 'Refused' ? table.shapes.map(() => 'Error') : [...row.expect, ...Object.values(row.extra ?? {})];
  const got = output[i].phases;
  if (JSON.stringify(got) === JSON.stringify(want)) return;
  differences++;
  console.log(`${JSON.stringify({ success: row.success, failure: row.failure })}\n  Argo:  ${got.join(', ')}\n  table: ${want.join(', ')}`);
});
console.log(`${table.rows.length} rows, ${differences} differences`);
process.exit(differences ? 1 : 0);
