import { ConfigurationError } from '../core/errors.js';
import { coerceOptions, type CommandSpec, type OptionsOf, type OptionsSpec, type RawOptions } from '../commands/define.js';

export interface ParsedArgs {
  raw: RawOptions;
  json: boolean;
  help: boolean;
}

/**
 * Parses `--name value`, `--name=value`, `--flag`, `--no-flag`, repeated options for lists, and the
 * global `--json` and `-h/--help`. Positional words are refused: every input has a name.
 */
export function parseArgs(spec: CommandSpec, argv: readonly string[]): ParsedArgs {
  const raw: RawOptions = {};
  let json = false;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h' || arg === '--help') {
      help = true;
      continue;
    }
    if (arg === '--json') {
      json = true;
      continue;
    }
    if (spec.positional && raw[spec.positional] === undefined && !arg.startsWith('-')) {
      raw[spec.positional] = arg;
      continue;
    }
    if (!arg.startsWith('--') || arg === '--') {
      throw new ConfigurationError(`unexpected argument "${arg}" for "mlloop ${spec.name}"`, {
        hint: `options are named (--name value); see mlloop ${spec.name} --help`,
      });
    }
    const eq = arg.indexOf('=');
    let name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    let value: string | boolean | undefined = eq >= 0 ? arg.slice(eq + 1) : undefined;
    let opt = spec.options[name];
    if (!opt && name.startsWith('no-') && spec.options[name.slice(3)]?.type === 'boolean' && value === undefined) {
      name = name.slice(3);
      opt = spec.options[name];
      value = false;
    }
    if (!opt) {
      // Let coerceOptions produce the "unknown option, did you mean" message.
      if (value === undefined && argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--')) value = argv[++i];
      raw[name] = value ?? true;
      continue;
    }
    if (value === undefined) {
      if (opt.type === 'boolean') value = true;
      else {
        const next = argv[i + 1];
        if (next === undefined) throw new ConfigurationError(`option --${name} needs a value`, { hint: opt.help });
        value = next;
        i++;
      }
    }
    if ('multiple' in opt && opt.multiple) {
      const list = (raw[name] as string[] | undefined) ?? [];
      list.push(String(value));
      raw[name] = list;
    } else {
      raw[name] = value;
    }
  }
  return { raw, json, help };
}

/** The typed options of parsed words, with errors naming `--<option>`: the CLI, the root action and the demo. */
export function optionsOfArgs<O extends OptionsSpec>(spec: CommandSpec<O>, parsed: ParsedArgs): OptionsOf<O> {
  return coerceOptions(spec, parsed.raw, (n) => `--${n}`);
}
