import { createRequire } from 'node:module';
import { commandFiles } from './command-files.gen.js';
import { VERSION } from '../version.js';

// What a launcher (dist/cli.cjs, the root action dist/mlloop.cjs) needs to pick a command's bundle, and no more:
// the command names, not the commands.

export type CommandName = keyof typeof commandFiles;

/** The command names, from the generated list (the same as the registry's). */
export const commandNames = Object.keys(commandFiles) as CommandName[];

/**
 * Finds the longest run of leading words that names a command (`gitops deploy` before `gitops`): its name, its
 * file (src/commands/<file>.ts, dist/run/<file>.cjs) and the words after it.
 */
export function findCommand(argv: readonly string[]): { name: CommandName; file: string; rest: readonly string[] } | undefined {
  const words: string[] = [];
  for (const a of argv) {
    if (a.startsWith('-')) break;
    words.push(a);
  }
  for (let n = words.length; n > 0; n--) {
    const name = words.slice(0, n).join(' ');
    if (Object.hasOwn(commandFiles, name)) return { name: name as CommandName, file: commandFiles[name as CommandName], rest: argv.slice(n) };
  }
  return undefined;
}

/** The answer to `mlloop --version` (also `-V`, `version`), or undefined for any other command line. */
export function versionAnswer(argv: readonly string[]): string | undefined {
  return argv[0] === '--version' || argv[0] === '-V' || argv[0] === 'version' ? `${VERSION}\n` : undefined;
}

/** Requires a command's bundle, dist/run/<file>.cjs, from the launcher that runs (its own URL in the bundle). */
export function loadCommandBundle<T>(file: string): T {
  return createRequire(import.meta.url)(`./run/${file}.cjs`) as T;
}
