/**
 * The Prometheus text exposition format (what `/metrics` serves) and the two computations `analyze
 * --scrape` needs without a Prometheus: counter increases between two scrapes and `histogram_quantile`
 * with Prometheus' own rules (promql/quantile.go), so both paths give the same numbers.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Scrape {
  samples: Sample[];
  /** When the scrape was taken (ms since epoch). */
  at: number;
}

/** Parses a Prometheus value: `NaN`, `+Inf`, `-Inf` and Go float syntax. */
export function parseValue(text: string): number {
  const t = text.trim();
  if (t === 'NaN') return Number.NaN;
  if (t === '+Inf' || t === 'Inf') return Number.POSITIVE_INFINITY;
  if (t === '-Inf') return Number.NEGATIVE_INFINITY;
  const n = Number(t);
  if (t === '' || Number.isNaN(n)) throw new Error(`"${text}" is not a number`);
  return n;
}

/**
 * Parses text format 0.0.4. `# HELP`/`# TYPE` lines and timestamps are ignored; a malformed line is
 * an error naming its line number (a /metrics page that cannot be read must not pass a check).
 */
export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line || line.startsWith('#')) continue;
    try {
      out.push(parseLine(line));
    } catch (e) {
      throw new Error(`line ${i + 1} of the metrics page: ${(e as Error).message}: ${line.slice(0, 120)}`);
    }
  }
  return out;
}

function parseLine(line: string): Sample {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
  if (!m) throw new Error('no metric name');
  const name = m[1]!;
  let pos = name.length;
  const labels: Record<string, string> = {};
  if (line[pos] === '{') {
    pos++;
    for (;;) {
      while (line[pos] === ' ' || line[pos] === ',') pos++;
      if (line[pos] === '}') {
        pos++;
        break;
      }
      const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"/.exec(line.slice(pos));
      if (!lm) throw new Error('bad label');
      pos += lm[0].length;
      let value = '';
      for (;;) {
        const c = line[pos++];
        if (c === undefined) throw new Error('unterminated label value');
        if (c === '"') break;
        if (c === '\\') {
          const n = line[pos++];
          value += n === 'n' ? '\n' : n ?? '';
        } else value += c;
      }
      labels[lm[1]!] = value;
    }
  }
  const rest = line.slice(pos).trim().split(/\s+/);
  if (!rest[0]) throw new Error('no value');
  return { name, labels, value: parseValue(rest[0]) };
}

/** Label matchers on parsed samples: exact equality, as in `{model_version="ocr-v3.2"}`. */
export type Matchers = Record<string, string>;

export function matches(sample: Sample, matchers: Matchers): boolean {
  for (const [k, v] of Object.entries(matchers)) if ((sample.labels[k] ?? '') !== v) return false;
  return true;
}

/** Parses a selector like `model_version="ocr-v3.2",pod="x"` (with or without braces) into matchers. */
export function parseSelector(text: string): Matchers {
  const t = text.trim().replace(/^\{/, '').replace(/\}$/, '').trim();
  const out: Matchers = {};
  if (!t) return out;
  const re = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y;
  let pos = 0;
  while (pos < t.length) {
    re.lastIndex = pos;
    const m = re.exec(t);
    if (!m) throw new Error(`"${text}" is not a label selector like model_version="ocr-v3.2"`);
    out[m[1]!] = m[2]!.replace(/\\(.)/g, '$1');
    pos = re.lastIndex;
  }
  return out;
}

/** The PromQL form of matchers, for the queries sent to a Prometheus. */
export function selectorText(matchers: Matchers): string {
  return Object.entries(matchers)
    .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`)
    .join(',');
}

function seriesKey(labels: Record<string, string>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join('\u0000');
}

/**
 * The increase of every series of a counter family between two scrapes, as Prometheus' `increase()`
 * sees a counter: a value lower than before is a reset, and the new value is the whole increase. A
 * series that appears only in the later scrape started from zero.
 */
export function increases(before: readonly Sample[], after: readonly Sample[], name: string, matchers: Matchers = {}): Sample[] {
  const prev = new Map<string, number>();
  for (const s of before) if (s.name === name && matches(s, matchers)) prev.set(seriesKey(s.labels), s.value);
  const out: Sample[] = [];
  for (const s of after) {
    if (s.name !== name || !matches(s, matchers)) continue;
    const p = prev.get(seriesKey(s.labels)) ?? 0;
    out.push({ name, labels: s.labels, value: s.value >= p ? s.value - p : s.value });
  }
  return out;
}

export interface Bucket {
  upperBound: number;
  count: number;
}

/**
 * `histogram_quantile(q, …)` exactly as Prometheus computes it for classic histograms: buckets sorted by
 * upper bound, buckets with the same bound merged, counts forced monotonic, linear interpolation inside
 * the bucket holding the rank (the lowest bucket starts at 0), the upper bound of the second-highest
 * bucket when the rank falls into +Inf, and NaN without a +Inf bucket, with fewer than two buckets or
 * with no observations.
 */
export function histogramQuantile(q: number, input: readonly Bucket[]): number {
  if (Number.isNaN(q)) return Number.NaN;
  if (q < 0) return Number.NEGATIVE_INFINITY;
  if (q > 1) return Number.POSITIVE_INFINITY;
  if (input.length === 0) return Number.NaN;
  const sorted = [...input].sort((a, b) => a.upperBound - b.upperBound);
  if (sorted[sorted.length - 1]!.upperBound !== Number.POSITIVE_INFINITY) return Number.NaN;
  const buckets: Bucket[] = [];
  for (const b of sorted) {
    const last = buckets[buckets.length - 1];
    if (last && last.upperBound === b.upperBound) last.count += b.count;
    else buckets.push({ upperBound: b.upperBound, count: b.count });
  }
  let max = Number.NEGATIVE_INFINITY;
  for (const b of buckets) {
    if (b.count > max) max = b.count;
    else if (b.count < max) b.count = max;
  }
  if (buckets.length < 2) return Number.NaN;
  const observations = buckets[buckets.length - 1]!.count;
  if (observations === 0) return Number.NaN;
  let rank = q * observations;
  // sort.Search over all buckets but the last: the first whose cumulative count reaches the rank.
  let b = 0;
  while (b < buckets.length - 1 && !(buckets[b]!.count >= rank)) b++;
  if (b === buckets.length - 1) return buckets[buckets.length - 2]!.upperBound;
  if (b === 0 && buckets[0]!.upperBound <= 0) return buckets[0]!.upperBound;
  let bucketStart = 0;
  const bucketEnd = buckets[b]!.upperBound;
  let count = buckets[b]!.count;
  if (b > 0) {
    bucketStart = buckets[b - 1]!.upperBound;
    count -= buckets[b - 1]!.count;
    rank -= buckets[b - 1]!.count;
  }
  return bucketStart + (bucketEnd - bucketStart) * (rank / count);
}

/** Sums `<name>_bucket` samples by `le` (like `sum by (le) (…)`) into buckets. */
export function bucketsOf(samples: readonly Sample[], family: string, matchers: Matchers = {}): Bucket[] {
  const byLe = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${family}_bucket` || !matches(s, matchers)) continue;
    const le = s.labels.le;
    if (le === undefined) continue;
    const bound = parseValue(le);
    byLe.set(bound, (byLe.get(bound) ?? 0) + s.value);
  }
  return [...byLe.entries()].map(([upperBound, count]) => ({ upperBound, count }));
}

/** The bucket bounds either side of a value: the resolution a histogram quantile can be trusted to. */
export function bucketBounds(value: number, bounds: readonly number[]): [number, number] {
  const sorted = [...bounds].sort((a, b) => a - b);
  let lo = 0;
  for (const b of sorted) {
    if (value <= b) return [lo, b];
    lo = b;
  }
  return [lo, Number.POSITIVE_INFINITY];
}
