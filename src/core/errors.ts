/** Exit codes shared by the CLI and the actions (docs/contracts.md). */
export const ExitCode = {
  ok: 0,
  verdictFailed: 1,
  badInput: 2,
  external: 3,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export interface ErrorLocation {
  /** The file the problem is in, as the user named it. */
  file?: string;
  /** JSON path inside that file, e.g. `$.metrics["overall.f1"].direction`. */
  path?: string;
  /** 1-based line and column in that file, when known (an action annotates the file there). */
  line?: number;
  column?: number;
  /** How to fix it, in one sentence. */
  hint?: string;
}

/** Base class: an error mlloop expected and can explain without a stack trace. */
export class MlloopError extends Error {
  readonly exitCode: ExitCodeValue;
  readonly location: ErrorLocation;
  constructor(message: string, exitCode: ExitCodeValue, location: ErrorLocation = {}) {
    super(formatMessage(message, location));
    this.name = new.target.name;
    this.exitCode = exitCode;
    this.location = location;
  }
}

/** The user's mistake (bad option, missing or malformed file, schema violation): exit 2. */
export class ConfigurationError extends MlloopError {
  constructor(message: string, location: ErrorLocation = {}) {
    super(message, ExitCode.badInput, location);
  }
}

/** Something outside mlloop failed after retries (git push, an API, a time-out): exit 3. */
export class ExternalError extends MlloopError {
  constructor(message: string, location: ErrorLocation = {}) {
    super(message, ExitCode.external, location);
  }
}

function formatMessage(message: string, { file, path, hint }: ErrorLocation): string {
  const where = [file, path].filter(Boolean).join(': ');
  const text = where ? `${where}: ${message}` : message;
  return hint ? `${text}\n  fix: ${hint}` : text;
}

export function isMlloopError(e: unknown): e is MlloopError {
  return e instanceof MlloopError;
}

/** Formats a JSON path the way messages show it: `$.a.b[3]["x.y"]`. */
export function jsonPath(segments: readonly (string | number)[]): string {
  let out = '$';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(s)) out += `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

/** Levenshtein-based suggestion for "did you mean" hints. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  return bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

/** Optimal-string-alignment distance: like Levenshtein, but a swap of two neighbours costs 1. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}
