import { commands } from './registry.gen.js';
import { findCommand, versionAnswer } from './resolve.js';
import type { CommandSpec } from '../commands/define.js';
import { ExitCode, closest } from '../core/errors.js';
import { printableLine } from '../core/log.js';
import { VERSION } from '../version.js';
import { runCommand, type CliIO } from './run-command.js';

export type { CliIO } from './run-command.js';

type Loader = () => Promise<{ command: CommandSpec<any> }>;
export const registry = commands as Record<string, Loader>;

async function globalHelp(prefix?: string): Promise<string> {
  const names = Object.keys(registry).filter((n) => !prefix || n === prefix || n.startsWith(`${prefix} `)).sort();
  const specs = await Promise.all(names.map(async (n) => (await registry[n]!()).command));
  const width = Math.max(...names.map((n) => n.length)) + 2;
  const lines = specs.map((s) => `  ${s.name.padEnd(width)}${s.summary}`);
  return [
    `mlloop ${VERSION} — close the MLOps loop: train, evaluate, gate, report, release through GitOps,`,
    'check canaries, roll back, retrain and dispatch GPU training jobs.',
    '',
    `Usage: mlloop ${prefix ?? '<command>'} ${prefix ? '<subcommand> ' : ''}[options]   (mlloop <command> --help for its options)`,
    '',
    'Commands:',
    ...lines,
    '',
    'Every command takes --json (machine-readable result on stdout) and --help.',
    'Exit codes: 0 success/pass, 1 verdict failed, 2 bad input, 3 outside failure after retries.',
    '',
  ].join('\n');
}

/** Runs the CLI; returns the exit code. Pure over `io`, so tests call it in-process. */
export async function main(io: CliIO): Promise<number> {
  const argv = io.argv;
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    io.stdout(await globalHelp());
    return argv.length === 0 ? ExitCode.badInput : ExitCode.ok;
  }
  const version = versionAnswer(argv);
  if (version) {
    io.stdout(version);
    return ExitCode.ok;
  }
  const found = findCommand(argv);
  if (!found) {
    const first = argv[0]!;
    const group = Object.keys(registry).some((n) => n.startsWith(`${first} `));
    if (group && !argv[1]?.match(/^[a-z]/)) {
      io.stdout(await globalHelp(first));
      return argv.includes('--help') || argv.includes('-h') ? ExitCode.ok : ExitCode.badInput;
    }
    const attempted = group ? `${first} ${argv[1]}` : first;
    const guess = closest(attempted, Object.keys(registry));
    io.stderr(`${printableLine(`mlloop: unknown command "${attempted}"${guess ? ` — did you mean "${guess}"?` : ''}`)}\nRun mlloop --help for the list of commands.\n`);
    return ExitCode.badInput;
  }
  const { command } = await registry[found.name]!();
  return runCommand(command, found.rest, io);
}
