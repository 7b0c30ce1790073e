import * as path from 'node:path';
import * as core from '@actions/core';
import { coerceOptions, optionSecrets, type CommandSpec, type Context, type OptionsOf, type OptionsSpec, type RawOptions } from '../commands/define.js';
import { ExitCode, isMlloopError, type MlloopError } from '../core/errors.js';
import { Masker } from '../core/mask.js';
import { printableLine, printableLines } from '../core/log.js';
import { runnerInfoFromContext } from './runner-info.js';
import { TEMP_STATE } from './temp-state.js';
import { onTempDirsChange } from '../core/fs/temp.js';
import { useProxyFrom } from '../core/http/proxy.js';
import { optionsOfArgs, parseArgs } from '../cli/args.js';

/** GitHub caps one output at 1 MiB; larger JSON results are still in the job's files. */
const MAX_RESULT_OUTPUT = 512 * 1024;

/**
 * Reads the action's inputs with the same names, defaults and checks as the CLI options (the typed
 * getInputs() of every action). Booleans go through mlloop's own coercion, which accepts what
 * core.getBooleanInput accepts (YAML 1.2 true/True/TRUE, false/False/FALSE) and also yes/no, on/off, 1/0,
 * as the CLI does: one set of words for both.
 */
export function getInputs<O extends OptionsSpec>(spec: CommandSpec<O>): OptionsOf<O> {
  const raw: RawOptions = {};
  for (const [name, opt] of Object.entries(spec.options as OptionsSpec)) {
    if ('multiple' in opt && opt.multiple) raw[name] = core.getMultilineInput(name).filter((l) => l.trim() !== '');
    else raw[name] = core.getInput(name);
  }
  return coerceOptions(spec, raw, (n) => `input "${n}"`);
}

/** A user's mistake in a file becomes an annotation on that file and line (shown in the Files view). */
export function reportError(e: MlloopError, message: string, workspace: string): void {
  const { file, line, column } = e.location;
  if (!file || !line) return core.setFailed(message);
  // Annotations name files relative to the repository checkout (the workspace), as the Files view lists them.
  const rel = path.relative(workspace, path.resolve(workspace, file));
  core.error(message, { file: rel.startsWith('..') || path.isAbsolute(rel) ? file : rel.split(path.sep).join('/'), startLine: line, startColumn: column });
  process.exitCode = ExitCode.verdictFailed;
}

export async function runAction(
  spec: CommandSpec<any>,
  env: Record<string, string | undefined> = process.env,
  /** How options are read; by default from the inputs of the same names (the root action parses `args`). */
  readOptions: () => Record<string, unknown> = () => getInputs(spec as CommandSpec<OptionsSpec>) as Record<string, unknown>,
): Promise<void> {
  // The post step removes folders a killed main step left behind (GITHUB_STATE exists only on a runner).
  if (env.GITHUB_STATE) onTempDirsChange((dirs) => core.saveState(TEMP_STATE, JSON.stringify(dirs)));
  const masker = new Masker();
  useProxyFrom(env);
  const workspace = env.GITHUB_WORKSPACE || process.cwd();
  const secret = (v: string | undefined): void => {
    if (v) {
      core.setSecret(v);
      masker.add(v);
    }
  };
  try {
    const options = readOptions();
    for (const v of optionSecrets(spec, options)) secret(v);
    const ctx: Context = {
      cwd: workspace,
      env,
      runner: runnerInfoFromContext(),
      // One log call is one line: a newline from input cannot start a line (or a workflow command) of its own.
      log: {
        info: (m) => core.info(printableLine(masker.mask(m))),
        warn: (m) => core.warning(printableLine(masker.mask(m))),
        debug: (m) => core.debug(printableLine(masker.mask(m))),
        progress: (m) => core.info(printableLine(masker.mask(m))),
      },
      masker,
      secret,
      mode: 'action',
      json: false,
      now: () => new Date(),
      signal: new AbortController().signal,
    };
    const result = await spec.run(options, ctx);
    await core.group('Outputs', async () => {
      for (const [k, v] of Object.entries(result.outputs ?? {})) {
        const text = masker.mask(String(v));
        core.info(printableLine(`${k}: ${text.length > 200 ? `${text.slice(0, 200)}…` : text}`));
        core.setOutput(k, text);
      }
    });
    const json = masker.mask(JSON.stringify(result.data));
    if (json.length <= MAX_RESULT_OUTPUT) core.setOutput('result', json);
    if (result.text) core.info(printableLines(masker.mask(result.text)));
    // core.summary needs the file the runner names; a local run of the bundle has none.
    if (result.summary && process.env.GITHUB_STEP_SUMMARY) {
      const md = masker.mask(result.summary);
      await core.summary.addRaw(md, !md.endsWith('\n')).write();
    }
    if (result.exitCode !== 0) {
      core.setFailed(masker.mask(result.failure ?? `mlloop ${spec.name}: failed`));
      process.exitCode = result.exitCode;
    }
  } catch (e) {
    if (isMlloopError(e)) {
      reportError(e, masker.mask(e.message), workspace);
      process.exitCode = e.exitCode;
      return;
    }
    core.setFailed(`internal error (a bug in mlloop, please report it): ${masker.mask((e as Error)?.stack ?? String(e))}`);
    process.exitCode = ExitCode.verdictFailed;
  }
}

/** The root action's way in: the options come from its `args` input, written with CLI syntax. */
export function runActionWithArgs(spec: CommandSpec<any>, args: readonly string[], env: Record<string, string | undefined> = process.env): Promise<void> {
  return runAction(spec, env, () => optionsOfArgs(spec, parseArgs(spec, args)) as Record<string, unknown>);
}
