/** Where core code reports progress; adapters decide whether that is stderr or the runner's log. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
  /** A step of long work ("[3/7] evaluating 1000 images"). */
  progress(message: string): void;
}

export const silentLogger: Logger = { info() {}, warn() {}, debug() {}, progress() {} };
