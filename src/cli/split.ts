import { ConfigurationError } from '../core/errors.js';

/**
 * Splits a command line into words the way a POSIX shell does for quoting only: single quotes keep
 * everything, double quotes allow \" and \\, a backslash escapes the next character outside quotes.
 * No variables, globs or substitutions: the root action's `args` never reach a shell.
 */
export function splitArgs(line: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new ConfigurationError('unterminated single quote in args', { hint: "close the quote: 'like this'" });
      cur += line.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '"') {
      i++;
      for (; i < line.length && line[i] !== '"'; i++) {
        if (line[i] === '\\' && (line[i + 1] === '"' || line[i + 1] === '\\')) i++;
        cur += line[i];
      }
      if (i >= line.length) throw new ConfigurationError('unterminated double quote in args', { hint: 'close the quote: "like this"' });
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      if (line[i + 1] !== '\n') cur += line[i + 1];
      i++;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}
