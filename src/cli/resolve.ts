/**
 * Finds the longest run of leading words that names a command (`gitops deploy` before `gitops`). Shared by the
 * CLI and the root action, which knows the command names but not the commands (it loads only the one it runs).
 */
export function resolveCommand(argv: readonly string[], isCommand: (name: string) => boolean): { name: string; rest: readonly string[] } | undefined {
  const words: string[] = [];
  for (const a of argv) {
    if (a.startsWith('-')) break;
    words.push(a);
  }
  for (let n = words.length; n > 0; n--) {
    const name = words.slice(0, n).join(' ');
    if (isCommand(name)) return { name, rest: argv.slice(n) };
  }
  return undefined;
}
