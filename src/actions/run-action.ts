import { Runner } from './runner.js';
import { camelCase, coerceOptions, type CommandSpec, type Context, type OptionsOf, type OptionsSpec, type RawOptions } from '../commands/define.js';
import { ExitCode, isMlloopError } from '../core/errors.js';
import { Masker } from '../core/mask.js';
import { printableLine } from '../core/log.js';

/** GitHub caps one output at 1 MiB; larger JSON results are still in the job's files. */
const MAX_RESULT_OUTPUT = 512 * 1024;

/**
 * Reads the action's inputs with the same names, defaults and checks as the CLI options (the typed
 * getInputs() of every action), runs the command, and maps the result onto outputs, the job summary
 * and the exit code.
 */
export function getInputs<O extends OptionsSpec>(spec: CommandSpec<O>, core: Runner = new Runner()): OptionsOf<O> {
  const raw: RawOptions = {};
  for (const [name, opt] of Object.entries(spec.options as OptionsSpec)) {
    if ('multiple' in opt && opt.multiple) raw[name] = core.getMultilineInput(name).filter((l) => l.trim() !== '');
    else raw[name] = core.getInput(name);
  }
  return coerceOptions(spec, raw, (n) => `input "${n}"`);
}

export async function runAction(
  spec: CommandSpec<any>,
  env: Record<string, string | undefined> = process.env,
  /** How options are read; by default from the inputs of the same names (the root action parses `args`). */
  readOptions: (core: Runner) => Record<string, unknown> = (core) => getInputs(spec as CommandSpec<OptionsSpec>, core) as Record<string, unknown>,
): Promise<void> {
  const masker = new Masker();
  const core = new Runner(env);
  try {
    const options = readOptions(core);
    for (const [name, opt] of Object.entries(spec.options as Record<string, { secret?: boolean }>)) {
      if (opt.secret) {
        const v = options[camelCase(name)];
        if (typeof v === 'string' && v) {
          core.setSecret(v);
          masker.add(v);
        }
      }
    }
    const ctx: Context = {
      cwd: env.GITHUB_WORKSPACE || process.cwd(),
      env,
      // One log call is one line: a newline from input cannot start a line (or a workflow command) of its own.
      log: {
        info: (m) => core.info(printableLine(masker.mask(m))),
        warn: (m) => core.warning(printableLine(masker.mask(m))),
        debug: (m) => core.debug(printableLine(masker.mask(m))),
        progress: (m) => core.info(printableLine(masker.mask(m))),
      },
      masker,
      secret: (v) => {
        if (v) {
          core.setSecret(v);
          masker.add(v);
        }
      },
      mode: 'action',
      json: false,
      now: () => new Date(),
      signal: new AbortController().signal,
    };
    const result = await spec.run(options, ctx);
    core.startGroup('Outputs');
    for (const [k, v] of Object.entries(result.outputs ?? {})) {
      const text = masker.mask(String(v));
      core.info(`${k}: ${text.length > 200 ? `${text.slice(0, 200)}…` : text}`);
      core.setOutput(k, text);
    }
    core.endGroup();
    const json = masker.mask(JSON.stringify(result.data));
    if (json.length <= MAX_RESULT_OUTPUT) core.setOutput('result', json);
    if (result.text) core.info(masker.mask(result.text));
    if (result.summary) core.appendSummary(masker.mask(result.summary));
    if (result.exitCode !== 0) {
      core.setFailed(masker.mask(result.failure ?? `mlloop ${spec.name}: failed`));
      process.exitCode = result.exitCode;
    }
  } catch (e) {
    if (isMlloopError(e)) {
      core.setFailed(masker.mask(e.message));
      process.exitCode = e.exitCode;
      return;
    }
    core.setFailed(`internal error (a bug in mlloop, please report it): ${masker.mask((e as Error)?.stack ?? String(e))}`);
    process.exitCode = ExitCode.verdictFailed;
  }
}
