import { createRequire } from 'node:module';
import { commandFiles } from './command-files.gen.js';
import { resolveCommand } from './resolve.js';
import { isVersionRequest, type CliIO } from './run-command.js';
import { VERSION } from '../version.js';

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
  if (isVersionRequest(io.argv)) {
    io.stdout(`${VERSION}\n`);
    return Promise.resolve(0);
  }
  const load = createRequire(import.meta.url);
  const found = resolveCommand(io.argv, (name) => Object.hasOwn(commandFiles, name));
  if (found) return (load(`./run/${commandFiles[found.name as keyof typeof commandFiles]}.cjs`) as CommandBundle).fromCli(found.rest, io);
  return (load('./run/_cli.cjs') as { main(io: CliIO): Promise<number> }).main(io);
}

start()
  .then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`mlloop: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exitCode = 1;
    },
  )
  // The command is done: a socket a client library keeps open (a keep-alive agent, a watch being torn down)
  // must not keep the process alive. The timer does not hold the process itself; output is flushed by then.
  .finally(() => setTimeout(() => process.exit(), 2000).unref());
