import { count13a, pyRstrip, tokenizer, type TokenizerName } from './tokenize.js';

/**
 * Corpus BLEU as sacrebleu computes it: per segment the sufficient statistics (hypothesis length,
 * closest reference length, matched and total n-grams for n = 1..4) are summed over the corpus, then
 * one formula gives the score, so the number is the same for 10 or 1M segments and never needs the
 * segments kept in memory.
 */
export const MAX_ORDER = 4;
export type SmoothMethod = 'exp' | 'none' | 'floor' | 'add-k';
export const SMOOTH_DEFAULTS: Record<SmoothMethod, number | undefined> = { none: undefined, floor: 0.1, 'add-k': 1, exp: undefined };

export interface BleuOptions {
  tokenize?: TokenizerName;
  lowercase?: boolean;
  smoothMethod?: SmoothMethod;
  smoothValue?: number;
  effectiveOrder?: boolean;
}

export interface BleuScore {
  score: number;
  counts: number[];
  totals: number[];
  precisions: number[];
  bp: number;
  sys_len: number;
  ref_len: number;
  ratio: number;
  /** sacrebleu's signature: every setting that changes the number. */
  signature: string;
}

type Ngrams = Map<string, number>[];

/** n-gram counts of a tokenized line, one map per order; tokens hold no whitespace, so a space joins them. */
function ngrams(tokens: readonly string[]): Ngrams {
  const out: Ngrams = [];
  for (let n = 1; n <= MAX_ORDER; n++) {
    const m = new Map<string, number>();
    for (let i = 0; i + n <= tokens.length; i++) {
      const key = n === 1 ? tokens[i]! : tokens.slice(i, i + n).join(' ');
      m.set(key, (m.get(key) ?? 0) + 1);
    }
    out.push(m);
  }
  return out;
}

function closestRefLen(hypLen: number, refLens: readonly number[]): number {
  let closestDiff = -1;
  let closestLen = -1;
  for (const r of refLens) {
    const diff = Math.abs(hypLen - r);
    if (closestDiff === -1 || diff < closestDiff) {
      closestDiff = diff;
      closestLen = r;
    } else if (diff === closestDiff && r < closestLen) closestLen = r;
  }
  return closestLen;
}

/** Accumulates sacrebleu's corpus statistics one segment at a time. */
export class BleuAccumulator {
  readonly stats = new Float64Array(2 + 2 * MAX_ORDER);
  segments = 0;
  private readonly tok: (line: string) => string[];
  private readonly lowercase: boolean;
  private maxRefs = 0;
  private minRefs = Infinity;

  constructor(readonly options: BleuOptions = {}) {
    this.tok = tokenizer(options.tokenize ?? '13a');
    this.lowercase = options.lowercase ?? false;
  }

  /** sacrebleu's _preprocess_segment, then the split into tokens. */
  private prep(s: string): string[] {
    return this.tok(pyRstrip(this.lowercase ? s.toLowerCase() : s));
  }

  /** Adds a segment whose hypothesis is its single reference: every n-gram matches. */
  private addIdentical(text: string): void {
    const n = this.options.tokenize === undefined || this.options.tokenize === '13a' ? count13a(pyRstrip(this.lowercase ? text.toLowerCase() : text)) : this.prep(text).length;
    const s = this.stats;
    s[0]! += n;
    s[1]! += n;
    for (let k = 1; k <= MAX_ORDER; k++) {
      const c = Math.max(0, n - k + 1);
      s[1 + k]! += c;
      s[1 + MAX_ORDER + k]! += c;
    }
    this.maxRefs = Math.max(this.maxRefs, 1);
    this.minRefs = Math.min(this.minRefs, 1);
    this.segments++;
  }

  /** Adds one hypothesis with a single reference. */
  addPair(hyp: string, ref: string): void {
    if (hyp === ref) this.addIdentical(hyp);
    else this.add(hyp, [ref]);
  }

  /** Adds one hypothesis with its references (null references are left out, as in sacrebleu). */
  add(hyp: string, refs: readonly (string | null)[]): void {
    if (refs.length === 1 && refs[0] === hyp) return this.addIdentical(hyp);
    const lines = refs.filter((r): r is string => r !== null);
    this.maxRefs = Math.max(this.maxRefs, lines.length);
    this.minRefs = Math.min(this.minRefs, lines.length);
    const h = this.prep(hyp);
    const s = this.stats;
    s[0]! += h.length;
    if (lines.length === 1) {
      const r = hyp === lines[0] ? h : this.prep(lines[0]!);
      s[1]! += closestRefLen(h.length, [r.length]);
      if (r === h || (h.length === r.length && h.every((t, i) => t === r[i]))) {
        // Identical token sequences (the usual case for a correct field): every n-gram matches.
        for (let n = 1; n <= MAX_ORDER; n++) {
          const c = Math.max(0, h.length - n + 1);
          s[1 + n]! += c;
          s[1 + MAX_ORDER + n]! += c;
        }
        this.segments++;
        return;
      }
      this.count(h, ngrams(r));
    } else {
      let refNgrams: Ngrams | undefined;
      const refLens: number[] = [];
      for (const line of lines) {
        const toks = this.prep(line);
        refLens.push(toks.length);
        const g = ngrams(toks);
        if (!refNgrams) refNgrams = g;
        else g.forEach((m, n) => m.forEach((v, k) => refNgrams![n]!.set(k, Math.max(refNgrams![n]!.get(k) ?? 0, v))));
      }
      s[1]! += closestRefLen(h.length, refLens);
      this.count(h, refNgrams ?? ngrams([]));
    }
    this.segments++;
  }

  private count(h: readonly string[], ref: Ngrams): void {
    const s = this.stats;
    ngrams(h).forEach((m, i) => {
      const n = i + 1;
      for (const [k, c] of m) {
        s[1 + MAX_ORDER + n]! += c;
        const r = ref[i]!.get(k);
        if (r !== undefined) s[1 + n]! += Math.min(c, r);
      }
    });
  }

  /** Merges another accumulator's statistics into this one. */
  merge(other: BleuAccumulator): void {
    for (let i = 0; i < this.stats.length; i++) this.stats[i]! += other.stats[i]!;
    this.segments += other.segments;
  }

  score(): BleuScore {
    const s = this.stats;
    const o = this.options;
    const result = computeBleu(Array.from(s.subarray(2, 2 + MAX_ORDER)), Array.from(s.subarray(2 + MAX_ORDER)), s[0]!, s[1]!, o.smoothMethod ?? 'exp', o.smoothValue, o.effectiveOrder ?? false);
    const nrefs = this.segments === 0 ? 1 : this.maxRefs === this.minRefs ? this.maxRefs : 'var';
    return { ...result, signature: bleuSignature(o, nrefs) };
  }
}

export function bleuSignature(o: BleuOptions, nrefs: number | string = 1): string {
  const smooth = o.smoothMethod ?? 'exp';
  const def = SMOOTH_DEFAULTS[smooth];
  const smoothText = def === undefined ? smooth : `${smooth}[${(o.smoothValue ?? def).toFixed(2)}]`;
  return `nrefs:${nrefs}|case:${o.lowercase ? 'lc' : 'mixed'}|eff:${o.effectiveOrder ? 'yes' : 'no'}|tok:${o.tokenize ?? '13a'}|smooth:${smoothText}|version:2.6.0`;
}

/** sacrebleu's BLEU.compute_bleu, step for step (including its log floor for zero precisions). */
export function computeBleu(
  correctIn: readonly number[],
  totalIn: readonly number[],
  sysLen: number,
  refLen: number,
  smoothMethod: SmoothMethod = 'none',
  smoothValue?: number,
  effectiveOrder = false,
  maxOrder = MAX_ORDER,
): Omit<BleuScore, 'signature'> {
  const correct = [...correctIn];
  const total = [...totalIn];
  const sv = smoothValue ?? SMOOTH_DEFAULTS[smoothMethod] ?? 0;
  let bp = 1.0;
  if (sysLen < refLen) bp = sysLen > 0 ? Math.exp(1 - refLen / sysLen) : 0.0;
  const precisions = new Array<number>(maxOrder).fill(0);
  const base = { counts: [...correctIn], totals: [...totalIn], bp, sys_len: sysLen, ref_len: refLen, ratio: refLen ? sysLen / refLen : 0 };
  if (!correct.some((c) => c !== 0)) return { score: 0, precisions, ...base };
  let smoothMteval = 1;
  let effOrder = maxOrder;
  for (let n = 1; n <= maxOrder; n++) {
    if (smoothMethod === 'add-k' && n > 1) {
      correct[n - 1]! += sv;
      total[n - 1]! += sv;
    }
    if (total[n - 1] === 0) break;
    if (effectiveOrder) effOrder = n;
    if (correct[n - 1] === 0) {
      if (smoothMethod === 'exp') {
        smoothMteval *= 2;
        precisions[n - 1] = 100 / (smoothMteval * total[n - 1]!);
      } else if (smoothMethod === 'floor') precisions[n - 1] = (100 * sv) / total[n - 1]!;
    } else precisions[n - 1] = (100 * correct[n - 1]!) / total[n - 1]!;
  }
  let logSum = 0;
  for (const p of precisions.slice(0, effOrder)) logSum += p === 0 ? -9999999999 : Math.log(p);
  return { score: bp * Math.exp(logSum / effOrder), precisions, ...base, counts: correct, totals: total };
}

/** Corpus BLEU of hypotheses against one or more reference streams (sacrebleu.corpus_bleu). */
export function corpusBleu(hyps: readonly string[], refs: readonly (readonly (string | null)[])[], options: BleuOptions = {}): BleuScore {
  const acc = new BleuAccumulator(options);
  for (let i = 0; i < hyps.length; i++) acc.add(hyps[i]!, refs.map((r) => r[i] ?? null));
  return acc.score();
}
