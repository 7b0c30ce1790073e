import { findCommand, loadCommandBundle, versionAnswer } from './resolve.js';
import type { CliIO } from './run-command.js';
import { exitWhenSettled } from './exit.js';

/** What dist/run/<command>.cjs exports to the CLI. */
interface CommandBundle {
  fromCli(rest: readonly string[], io: CliIO): Promise<number>;
}

// Entry point of dist/cli.cjs: wires the real process into the CLI. A command line that names a command loads
// that command's bundle alone (dist/run/<command>.cjs); the list of commands, the help and a mistyped name load
// the whole CLI (dist/run/_cli.cjs).
const controller = new AbortController();
let signals = 0;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    signals++;
    if (signals > 1) process.exit(130);
    controller.abort(new Error(`received ${sig}`));
  });
}
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
});

const io: CliIO = {
  argv: process.argv.slice(2),
  env: process.env,
  cwd: process.cwd(),
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  signal: controller.signal,
};

function start(): Promise<number> {
  const version = versionAnswer(io.argv);
  if (version) {
    io.stdout(version);
    return Promise.resolve(0);
  }
  const found = findCommand(io.argv);
  if (found) return loadCommandBundle<CommandBundle>(found.file).fromCli(found.rest, io);
  return loadCommandBundle<{ main(io: CliIO): Promise<number> }>('_cli').main(io);
}

exitWhenSettled(
  start().then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`mlloop: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exitCode = 1;
    },
  ),
);
