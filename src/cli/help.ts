import type { CommandSpec, OptionSpec } from '../commands/define.js';

const WIDTH = 100;

function wrap(text: string, indent: number, width = WIDTH): string {
  const words = text.split(/\s+/).filter(Boolean);
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    if (line && line.length + 1 + w.length > width - indent) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines.map((l, i) => (i === 0 ? l : ' '.repeat(indent) + l)).join('\n');
}

export function placeholder(name: string, opt: OptionSpec): string {
  if (opt.type === 'boolean') return '';
  if ('placeholder' in opt && opt.placeholder) return opt.placeholder;
  if (opt.type === 'enum') return opt.choices.join('|');
  if (opt.type === 'path') return 'FILE';
  if (opt.type === 'duration') return 'DURATION';
  if (opt.type === 'number' || opt.type === 'integer') return 'N';
  return name.toUpperCase().replace(/-/g, '_');
}

export function usageLine(spec: CommandSpec): string {
  const parts = [`mlloop ${spec.name}`];
  for (const [name, opt] of Object.entries(spec.options)) {
    const ph = placeholder(name, opt);
    const flag = ph ? `--${name} ${ph}` : `--${name}`;
    const required = 'required' in opt && opt.required;
    parts.push(required ? flag : `[${flag}]`);
  }
  parts.push('[--json]');
  return wrap(parts.join(' '), 7 + spec.name.length + 1);
}

export function commandHelp(spec: CommandSpec): string {
  const rows: [string, string][] = [];
  for (const [name, opt] of Object.entries(spec.options)) {
    const ph = placeholder(name, opt);
    let help = opt.help;
    const required = 'required' in opt && opt.required;
    if (required) help = `(required) ${help}`;
    if ('default' in opt && opt.default !== undefined && opt.default !== false && !(Array.isArray(opt.default) && opt.default.length === 0)) {
      help += ` [default: ${Array.isArray(opt.default) ? opt.default.join(', ') : String(opt.default)}]`;
    }
    if ('multiple' in opt && opt.multiple) help += ' (repeatable)';
    if ('env' in opt && opt.env) help += ` [env: ${opt.env}]`;
    rows.push([ph ? `--${name} ${ph}` : `--${name}`, help]);
  }
  rows.push(['--json', 'print the result as JSON on stdout (logs go to stderr)']);
  rows.push(['-h, --help', 'show this help']);
  const col = Math.min(30, Math.max(...rows.map(([f]) => f.length)) + 2);
  const optionLines = rows.map(([flag, help]) => {
    const pad = flag.length >= col ? `\n${' '.repeat(col + 2)}` : ' '.repeat(col - flag.length);
    return `  ${flag}${pad}${wrap(help, col + 2)}`;
  });
  const out = [
    `mlloop ${spec.name} — ${spec.summary}`,
    '',
    `Usage: ${usageLine(spec)}`,
    '',
    wrap(spec.description, 0),
    '',
    'Options:',
    ...optionLines,
  ];
  if (spec.outputs && Object.keys(spec.outputs).length) {
    out.push('', 'Action outputs (with --json, the same data is printed):');
    for (const [k, v] of Object.entries(spec.outputs)) out.push(`  ${k.padEnd(col)}${wrap(v, col + 2)}`);
  }
  out.push('', 'Exit codes: 0 success/pass, 1 verdict failed, 2 bad input (file, field and fix are named), 3 outside failure after retries.');
  if (spec.examples.length) {
    out.push('', 'Examples:');
    for (const ex of spec.examples) out.push(`  ${ex.command}`, `      ${wrap(ex.explain, 6)}`);
  }
  return `${out.join('\n')}\n`;
}
