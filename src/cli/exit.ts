/**
 * Ends the process 2 s after `work` settles, whatever a client library still holds open (a keep-alive socket,
 * a watch being torn down): a CLI run or an action step must not outlive its command. The timer does not hold the
 * process itself, and output is flushed by then. Clients are still closed where mlloop opens them; this is the net
 * under that, used by the launchers only (dist/cli.cjs, the actions' mains, the root action).
 */
export function exitWhenSettled(work: Promise<unknown>): void {
  void work.finally(() => setTimeout(() => process.exit(), 2000).unref());
}
