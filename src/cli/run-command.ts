import { runnerInfoFromEnv } from './runner-info.js';
import { optionsOfArgs, parseArgs } from './args.js';
import { commandHelp } from './help.js';
import { optionSecrets, type CommandSpec, type Context, type Logger } from '../commands/define.js';
import { ExitCode, isMlloopError } from '../core/errors.js';
import { Masker } from '../core/mask.js';
import { printableError, printableLine, printableLines } from '../core/log.js';
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

/**
 * Runs one command with the words after its name: parses and checks the options, builds the context, prints
 * the result; returns the exit code. Each command's bundle (dist/run/<command>.cjs) carries this, so the CLI
 * loads only the command it runs.
 */
export async function runCommand(command: CommandSpec<any>, rest: readonly string[], io: CliIO): Promise<number> {
  const masker = new Masker();
  let json = false;
  try {
    const parsed = parseArgs(command, rest);
    json = parsed.json;
    if (parsed.help) {
      io.stdout(commandHelp(command));
      return ExitCode.ok;
    }
    const options = optionsOfArgs(command, parsed);
    for (const v of optionSecrets(command, options as Record<string, unknown>)) masker.add(v);
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

