import { registry, resolve } from './main.js';
import { parseArgs } from './args.js';
import { coerceOptions, type Context, type Result } from '../commands/define.js';
import { ConfigurationError } from '../core/errors.js';

/**
 * Runs an mlloop command in-process from command-line words, exactly as `mlloop <words>` would parse
 * them, with the caller's context. Used where one command drives others (the demo).
 */
export async function invoke(argv: readonly string[], ctx: Context): Promise<Result> {
  const found = resolve(argv);
  if (!found) throw new ConfigurationError(`unknown command: ${argv.slice(0, 2).join(' ')}`);
  const { command } = await registry[found.name]!();
  const parsed = parseArgs(command, found.rest);
  const options = coerceOptions(command, parsed.raw, (n) => `--${n}`);
  return command.run(options, ctx);
}
