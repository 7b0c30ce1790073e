import { parseDuration } from '../core/duration.js';
import { ConfigurationError, closest } from '../core/errors.js';
import type { Masker } from '../core/mask.js';

/**
 * One definition per command serves the CLI (`mlloop <name> --opt v`) and the action
 * (`with: {opt: v}`): the same option names, defaults, types and validation.
 */
export type OptionSpec =
  | { type: 'string' | 'path'; help: string; required?: boolean; default?: string; multiple?: false; secret?: boolean; placeholder?: string; env?: string }
  | { type: 'string' | 'path'; help: string; required?: boolean; default?: string[]; multiple: true; placeholder?: string }
  | { type: 'number' | 'integer'; help: string; required?: boolean; default?: number; min?: number; max?: number; placeholder?: string }
  | { type: 'boolean'; help: string; default?: boolean }
  | { type: 'duration'; help: string; required?: boolean; default?: string; placeholder?: string }
  | { type: 'enum'; help: string; choices: readonly string[]; required?: boolean; default?: string };

export type OptionsSpec = Record<string, OptionSpec>;

type ValueOf<O extends OptionSpec> = O extends { type: 'boolean' }
  ? boolean
  : O extends { type: 'number' | 'integer' | 'duration' }
    ? number
    : O extends { type: 'enum'; choices: readonly (infer C)[] }
      ? C
      : O extends { multiple: true }
        ? string[]
        : string;

type IsPresent<O extends OptionSpec> = O extends { type: 'boolean' }
  ? true
  : O extends { multiple: true }
    ? true
    : O extends { required: true }
      ? true
      : O extends { default: unknown }
        ? true
        : false;

/** The typed options a command's `run` receives (kebab-case names become camelCase keys). */
export type OptionsOf<S extends OptionsSpec> = {
  [K in keyof S as IsPresent<S[K]> extends true ? CamelCase<K & string> : never]: ValueOf<S[K]>;
} & {
  [K in keyof S as IsPresent<S[K]> extends true ? never : CamelCase<K & string>]?: ValueOf<S[K]>;
};

type CamelCase<S extends string> = S extends `${infer H}-${infer T}` ? `${H}${Capitalize<CamelCase<T>>}` : S;

export type { Logger } from '../core/log.js';
import type { Logger } from '../core/log.js';
import type { RunnerInfo } from '../core/github/runner-info.js';

/** What a command gets from its adapter instead of reaching for process globals. */
export interface Context {
  cwd: string;
  env: Readonly<Record<string, string | undefined>>;
  /** The workflow run (repository, run URL, API URLs, event payload): from @actions/github's context in an action. */
  runner: RunnerInfo;
  log: Logger;
  masker: Masker;
  /** Registers a secret so it is masked everywhere (and, in an action, by the runner too). */
  secret(value: string | undefined): void;
  /** 'cli' or 'action': a few commands behave differently on a runner (artifacts, summaries). */
  mode: 'cli' | 'action';
  json: boolean;
  now(): Date;
  signal: AbortSignal;
}

export interface Result<D = unknown> {
  /** 0 = success / pass, 1 = a verdict failed. Errors are thrown instead (exit 2 and 3). */
  exitCode: 0 | 1;
  /** Printed as JSON with --json. */
  data: D;
  /** Printed for people without --json. */
  text: string;
  /** Action outputs (names as in action.yml). */
  outputs?: Record<string, string | number | boolean>;
  /** Markdown for the job summary. */
  summary?: string;
  /** Why a verdict failed (used for core.setFailed). */
  failure?: string;
}

export interface CommandSpec<S extends OptionsSpec = OptionsSpec> {
  /** Words after `mlloop`, e.g. `gitops deploy`. */
  name: string;
  summary: string;
  description: string;
  options: S;
  /** The option a single bare word fills (`mlloop history show ocr-v3.2`); every other input is named. */
  positional?: string;
  examples: readonly { command: string; explain: string }[];
  /** Action outputs and what they hold. */
  outputs?: Record<string, string>;
  run(options: OptionsOf<S>, ctx: Context): Promise<Result>;
}

export function defineCommand<const S extends OptionsSpec>(spec: CommandSpec<S>): CommandSpec<S> {
  return spec;
}

export type RawOptions = Record<string, string | string[] | boolean | undefined>;

export function camelCase(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/**
 * The secrets among a command's option values, for the adapters to register before anything can print them: the
 * values of options marked `secret`, and the password of any option value that is a URL with credentials
 * (`redis://:pw@host`, `https://user:pw@host`).
 */
export function optionSecrets(spec: CommandSpec<any>, options: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const [name, opt] of Object.entries(spec.options as OptionsSpec)) {
    const value = options[camelCase(name)];
    for (const v of Array.isArray(value) ? value : [value]) {
      if (typeof v !== 'string') continue;
      if ('secret' in opt && opt.secret) out.push(v);
      const password = /^[a-z][a-z0-9+.-]*:\/\/[^:@/\s]*:([^@/\s]+)@/i.exec(v)?.[1];
      if (password) out.push(password);
    }
  }
  return out;
}

/**
 * Turns raw option values (strings from argv or from action inputs) into the typed options of a
 * command, applying defaults and checking every value. `where` names the source in messages.
 */
export function coerceOptions<S extends OptionsSpec>(spec: CommandSpec<S>, raw: RawOptions, where: (name: string) => string): OptionsOf<S> {
  const out: Record<string, unknown> = {};
  const known = Object.keys(spec.options);
  for (const name of Object.keys(raw)) {
    if (!known.includes(name)) {
      const guess = closest(name, known);
      throw new ConfigurationError(`unknown option ${where(name)} for "mlloop ${spec.name}"`, {
        hint: guess ? `did you mean ${where(guess)}? (see mlloop ${spec.name} --help)` : `see mlloop ${spec.name} --help`,
      });
    }
  }
  for (const [name, opt] of Object.entries(spec.options)) {
    const key = camelCase(name);
    let value = raw[name];
    if (value === '' || (Array.isArray(value) && value.length === 0)) value = undefined;
    if (value === undefined) {
      if ('required' in opt && opt.required) {
        throw new ConfigurationError(`missing required option ${where(name)}`, { hint: `${opt.help} (see mlloop ${spec.name} --help)` });
      }
      if (opt.type === 'boolean') out[key] = opt.default ?? false;
      else if ('multiple' in opt && opt.multiple) out[key] = opt.default ?? [];
      else if (opt.default !== undefined) out[key] = coerceOne(spec, name, opt, opt.default as string | number, where);
      continue;
    }
    if ('multiple' in opt && opt.multiple) {
      out[key] = (Array.isArray(value) ? value : [String(value)]).map(String);
    } else {
      const single = Array.isArray(value) ? value[value.length - 1]! : value;
      out[key] = coerceOne(spec, name, opt, single, where);
    }
  }
  return out as OptionsOf<S>;
}

function coerceOne(spec: CommandSpec<OptionsSpec>, name: string, opt: OptionSpec, value: string | number | boolean, where: (n: string) => string): unknown {
  const label = where(name);
  switch (opt.type) {
    case 'boolean': {
      if (typeof value === 'boolean') return value;
      const v = String(value).trim().toLowerCase();
      if (['true', 'yes', '1', 'on'].includes(v)) return true;
      if (['false', 'no', '0', 'off'].includes(v)) return false;
      throw new ConfigurationError(`${label} must be true or false, not "${value}"`);
    }
    case 'number':
    case 'integer': {
      const n = typeof value === 'number' ? value : Number(String(value).trim());
      if (String(value).trim() === '' || !Number.isFinite(n)) throw new ConfigurationError(`${label} must be a number, not "${value}"`);
      if (opt.type === 'integer' && !Number.isInteger(n)) throw new ConfigurationError(`${label} must be a whole number, not "${value}"`);
      // Above 2^53 a double is no longer exact: 123456789012345678 would silently become …680.
      if (opt.type === 'integer' && !Number.isSafeInteger(n)) throw new ConfigurationError(`${label} is too large to be exact: "${value}" is beyond ±${Number.MAX_SAFE_INTEGER}`, { hint: `give a whole number of at most ${Number.MAX_SAFE_INTEGER}` });
      if (opt.min !== undefined && n < opt.min) throw new ConfigurationError(`${label} must be at least ${opt.min}, not ${n}`);
      if (opt.max !== undefined && n > opt.max) throw new ConfigurationError(`${label} must be at most ${opt.max}, not ${n}`);
      return n;
    }
    case 'duration':
      return parseDuration(String(value), label);
    case 'enum': {
      const v = String(value);
      if (!opt.choices.includes(v)) {
        throw new ConfigurationError(`${label} must be one of ${opt.choices.join(', ')}, not "${v}"`, { hint: `see mlloop ${spec.name} --help` });
      }
      return v;
    }
    default:
      return String(value);
  }
}
