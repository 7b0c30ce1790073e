import * as core from '@actions/core';
import { commandNames, findCommand, loadCommandBundle } from '../cli/resolve.js';
import { exitWhenSettled } from '../cli/exit.js';
import { splitArgs } from '../cli/split.js';

/** What each dist/run/<command>.cjs exports (scripts/build.mjs builds one per command). */
interface CommandBundle {
  fromArgs(args: readonly string[]): Promise<void>;
}

/**
 * The root action: `uses: mlloop@<sha>` with `args: gate --policy gate.yaml …` runs any mlloop command
 * with CLI syntax, and reports like that command's own action (outputs, summary, exit code). It knows the
 * command names only and loads the one bundle it runs (dist/run/<command>.cjs), so it starts like a
 * single-command action rather than compiling every command.
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
  const found = findCommand(argv);
  if (!found) {
    core.setFailed(`args must start with an mlloop command (one of: ${[...commandNames].sort().join(', ')}), not "${line.slice(0, 80)}"`);
    process.exitCode = 2;
    return;
  }
  await loadCommandBundle<CommandBundle>(found.file).fromArgs(found.rest);
}

exitWhenSettled(main());
