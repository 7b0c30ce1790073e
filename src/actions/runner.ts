import { appendFileSync, existsSync } from 'node:fs';
import { EOL } from 'node:os';
import { randomUUID } from 'node:crypto';
import { printableLines } from '../core/log.js';

/**
 * The GitHub runner's contract for actions (inputs as INPUT_* variables, file commands for outputs and
 * the job summary, workflow commands for masks, groups and annotations), implemented in a few lines
 * so every bundle starts fast. It follows @actions/core's behaviour for each call.
 */
export class Runner {
  constructor(
    private readonly env: Record<string, string | undefined> = process.env,
    private readonly write: (text: string) => void = (t) => process.stdout.write(t),
  ) {}

  /** As core.getInput: `INPUT_<NAME>` with spaces as underscores, upper-cased, trimmed; '' when unset. */
  getInput(name: string): string {
    return (this.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '').trim();
  }

  getMultilineInput(name: string): string[] {
    return this.getInput(name)
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
  }

  private command(name: string, props: Record<string, string>, message: string): void {
    const p = Object.entries(props)
      .map(([k, v]) => `${k}=${escapeProperty(v)}`)
      .join(',');
    this.write(`::${name}${p ? ` ${p}` : ''}::${escapeData(message)}${EOL}`);
  }

  setSecret(value: string): void {
    if (value) this.command('add-mask', {}, value);
  }

  /** A log line (or a multi-line text); no line of it can be a workflow command (`::…`), nor a control character. */
  info(message: string): void {
    this.write(`${printableLines(message)}${EOL}`);
  }

  debug(message: string): void {
    this.command('debug', {}, message);
  }

  warning(message: string, props: { file?: string; line?: number; title?: string } = {}): void {
    this.command('warning', stringProps(props), message);
  }

  error(message: string, props: { file?: string; line?: number; title?: string } = {}): void {
    this.command('error', stringProps(props), message);
  }

  startGroup(name: string): void {
    this.command('group', {}, name);
  }

  endGroup(): void {
    this.command('endgroup', {}, '');
  }

  /** As core.setOutput: a heredoc block in $GITHUB_OUTPUT with a delimiter the value cannot contain. */
  setOutput(name: string, value: string): void {
    const file = this.env.GITHUB_OUTPUT;
    if (file && existsSync(file)) {
      const delimiter = `ghadelimiter_${randomUUID()}`;
      if (name.includes(delimiter) || value.includes(delimiter)) throw new Error('output value contains the delimiter');
      appendFileSync(file, `${name}<<${delimiter}${EOL}${value}${EOL}${delimiter}${EOL}`, 'utf8');
    } else {
      this.write(`${EOL}::set-output name=${escapeProperty(name)}::${escapeData(value)}${EOL}`);
    }
  }

  appendSummary(markdown: string): void {
    const file = this.env.GITHUB_STEP_SUMMARY;
    if (file) appendFileSync(file, markdown.endsWith('\n') ? markdown : `${markdown}${EOL}`, 'utf8');
  }

  setFailed(message: string): void {
    this.error(message);
  }
}

function stringProps(p: { file?: string; line?: number; title?: string }): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(p)) if (v !== undefined) out[k] = String(v);
  return out;
}

function escapeData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

function escapeProperty(s: string): string {
  return escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}
