import { registry } from './main.js';
import { findCommand } from './resolve.js';
import { optionsOfArgs, parseArgs } from './args.js';
import type { Context, Result } from '../commands/define.js';
import { ConfigurationError } from '../core/errors.js';

/**
 * Runs an mlloop command in-process from command-line words, exactly as `mlloop <words>` would parse
 * them, with the caller's context. Used where one command drives others (the demo).
 */
export async function invoke(argv: readonly string[], ctx: Context): Promise<Result> {
  const found = findCommand(argv);
  if (!found) throw new ConfigurationError(`unknown command: ${argv.slice(0, 2).join(' ')}`);
  const { command } = await registry[found.name]!();
  const options = optionsOfArgs(command, parseArgs(command, found.rest));
  return command.run(options, ctx);
}
