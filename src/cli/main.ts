import { runnerInfoFromEnv } from './runner-info.js';
import { commands } from './registry.gen.js';
import { parseArgs } from './args.js';
import { commandHelp } from './help.js';
import { camelCase, coerceOptions, type CommandSpec, type Context, type OptionsSpec, type Logger } from '../commands/define.js';
import { ExitCode, isMlloopError, closest } from '../core/errors.js';
import { Masker } from '../core/mask.js';
import { printableError, printableLine, printableLines } from '../core/log.js';
import { VERSION } from '../version.js';
import { useProxyFrom } from '../core/http/proxy.js';

export interface CliIO {
  argv: readonly string[];
  env: Record<string, string | undefined>;
  cwd: string;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  now?: () => Date;
  signal?: AbortSignal;
}

type Loader = () => Promise<{ command: CommandSpec<any> }>;
export const registry = commands as Record<string, Loader>;

/** Finds the longest run of leading words that names a command (`gitops deploy` before `gitops`). */
export function resolve(argv: readonly string[]): { name: string; rest: readonly string[] } | undefined {
  const words: string[] = [];
  for (const a of argv) {
    if (a.startsWith('-')) break;
    words.push(a);
  }
  for (let n = words.length; n > 0; n--) {
    const name = words.slice(0, n).join(' ');
    if (registry[name]) return { name, rest: argv.slice(n) };
  }
  return undefined;
}

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

function makeLogger(io: CliIO, masker: Masker, debug: boolean): Logger {
  const start = Date.now();
  const write = (text: string) => io.stderr(`${printableLine(masker.mask(text))}\n`);
  return {
    info: (m) => write(m),
    warn: (m) => write(`warning: ${m}`),
    debug: (m) => {
      if (debug) write(`debug: ${m}`);
    },
    progress: (m) => write(`[${((Date.now() - start) / 1000).toFixed(1).padStart(5)}s] ${m}`),
  };
}

/** Runs the CLI; returns the exit code. Pure over `io`, so tests call it in-process. */
export async function main(io: CliIO): Promise<number> {
  const masker = new Masker();
  const argv = io.argv;
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    io.stdout(await globalHelp());
    return argv.length === 0 ? ExitCode.badInput : ExitCode.ok;
  }
  if (argv[0] === '--version' || argv[0] === '-V' || argv[0] === 'version') {
    io.stdout(`${VERSION}\n`);
    return ExitCode.ok;
  }
  const found = resolve(argv);
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
  let json = false;
  try {
    const parsed = parseArgs(command, found.rest);
    json = parsed.json;
    if (parsed.help) {
      io.stdout(commandHelp(command));
      return ExitCode.ok;
    }
    const options = coerceOptions(command, parsed.raw, (n) => `--${n}`);
    for (const [name, opt] of Object.entries(command.options as OptionsSpec)) {
      if ('secret' in opt && opt.secret) masker.add(String((options as Record<string, unknown>)[camelCase(name)] ?? ''));
    }
    useProxyFrom(io.env);
    const ctx: Context = {
      cwd: io.cwd,
      env: io.env,
      runner: runnerInfoFromEnv(io.env),
      log: makeLogger(io, masker, io.env.MLLOOP_DEBUG === '1' || io.env.RUNNER_DEBUG === '1'),
      masker,
      secret: (v) => masker.add(v),
      mode: 'cli',
      json,
      now: io.now ?? (() => new Date()),
      signal: io.signal ?? new AbortController().signal,
    };
    const result = await command.run(options, ctx);
    if (json) io.stdout(`${masker.mask(JSON.stringify(result.data, null, 2))}\n`);
    else if (result.text) io.stdout(printableLines(masker.mask(result.text.endsWith('\n') ? result.text : `${result.text}\n`)));
    if (result.exitCode !== 0 && result.failure) io.stderr(`${printableLines(masker.mask(result.failure))}\n`);
    return result.exitCode;
  } catch (e) {
    // Stopped by SIGINT/SIGTERM: whatever the aborted work threw ("cannot clone …: Abort signal received", a git
    // client's "Abort already signaled") is the stop, neither an outside failure with a fix nor a bug.
    if (io.signal?.aborted) {
      io.stderr(`mlloop ${command.name}: stopped (${printableError(masker.mask(String((io.signal.reason as Error)?.message ?? io.signal.reason)))}); temporary folders were removed\n`);
      return ExitCode.external;
    }
    if (isMlloopError(e)) {
      io.stderr(`mlloop ${command.name}: error: ${printableError(masker.mask(e.message))}\n`);
      if (json) io.stdout(`${masker.mask(JSON.stringify({ error: { message: e.message, exitCode: e.exitCode, ...e.location } }, null, 2))}\n`);
      return e.exitCode;
    }
    const err = e as Error;
    io.stderr(printableLines(`mlloop ${command.name}: internal error (a bug in mlloop, please report it): ${masker.mask(err?.stack ?? String(e))}\n`));
    return ExitCode.verdictFailed;
  }
}

