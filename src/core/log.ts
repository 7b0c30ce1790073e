/** Where core code reports progress; adapters decide whether that is stderr or the runner's log. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
  /** A step of long work ("[3/7] evaluating 1000 images"). */
  progress(message: string): void;
}

export const silentLogger: Logger = { info() {}, warn() {}, debug() {}, progress() {} };

// Every text mlloop prints passes one of these at the sink (the CLI's stderr/stdout writers, the action runner's
// log), so no message built from input can add lines of its own or a runner workflow command (`::error::…`).

const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029]/g;
const ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\u001b': '\\e' };

/** One line: newlines and other control characters (tab excepted) shown as escapes (`\n`, `\r`, `\u0007`). */
export function oneLine(text: string): string {
  return text.replace(CONTROL, (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Lines that a runner would read as a workflow command (`::name …::`, after leading blanks) get a `\` before it. */
export function noWorkflowCommands(text: string): string {
  return text.replace(/^([ \t\f\v\u00a0\ufeff]*)::/gm, '$1\\::');
}

/** A log line or a message printed for people: one line, no workflow command. */
export function printableLine(text: string): string {
  return noWorkflowCommands(oneLine(text));
}

/** A multi-line text (a result table, an error with its "fix:" line): each line's control characters escaped. */
export function printableLines(text: string): string {
  return noWorkflowCommands(
    text
      .split(/\r?\n/)
      .map((l) => oneLine(l))
      .join('\n'),
  );
}

/**
 * An error message as mlloop formats it: the message, then its `  also:` lines (more schema errors) and its
 * `  fix:` line; every part one line, so a newline quoted from input cannot start a line of its own.
 */
export function printableError(message: string): string {
  return message
    .split(/\n(?=  (?:also|fix): )/)
    .map(printableLine)
    .join('\n');
}
