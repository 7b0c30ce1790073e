import * as core from '@actions/core';
import { runAction } from './run-action.js';
import { registry, resolve } from '../cli/main.js';
import { parseArgs } from '../cli/args.js';
import { splitArgs } from '../cli/split.js';
import { coerceOptions } from '../commands/define.js';

/**
 * The root action: `uses: mlloop@<sha>` with `args: gate --policy gate.yaml …` runs any mlloop command
 * with CLI syntax, and reports like that command's own action (outputs, summary, exit code).
 */
async function main(): Promise<void> {
  const line = core.getInput('args');
  let argv: string[];
  try {
    argv = splitArgs(line);
  } catch (e) {
    core.setFailed((e as Error).message);
    process.exitCode = 2;
    return;
  }
  const found = resolve(argv);
  if (!found) {
    core.setFailed(`args must start with an mlloop command (one of: ${Object.keys(registry).sort().join(', ')}), not "${line.slice(0, 80)}"`);
    process.exitCode = 2;
    return;
  }
  const { command } = await registry[found.name]!();
  await runAction(command, process.env, () => {
    const parsed = parseArgs(command, found.rest);
    return coerceOptions(command, parsed.raw, (n) => `--${n}`) as Record<string, unknown>;
  });
}

void main();
