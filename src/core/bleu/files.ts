import { ConfigurationError } from '../errors.js';
import { readText } from '../io/read.js';
import { BleuAccumulator, type BleuOptions, type BleuScore } from './bleu.js';

/** One segment per line, as sacrebleu reads its files (a final newline ends the last line). */
export async function readSegments(file: string, what: string): Promise<string[]> {
  const text = await readText(file, what);
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** Corpus BLEU of a hypothesis file against reference files with the same number of lines. */
export async function bleuFiles(hyp: string, refs: readonly string[], options: BleuOptions): Promise<BleuScore & { segments: number }> {
  const h = await readSegments(hyp, 'hypothesis file');
  const r = await Promise.all(refs.map((f) => readSegments(f, 'reference file')));
  r.forEach((lines, i) => {
    if (lines.length !== h.length) {
      throw new ConfigurationError(`the reference file has ${lines.length} line(s) but the hypothesis file ${hyp} has ${h.length}`, {
        file: refs[i]!,
        hint: 'give one line per segment in every file, in the same order',
      });
    }
  });
  const acc = new BleuAccumulator(options);
  for (let i = 0; i < h.length; i++) acc.add(h[i]!, r.map((lines) => lines[i]!));
  return { ...acc.score(), segments: h.length };
}

/** sacrebleu's one-line report: `BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)`. */
export function formatBleu(s: BleuScore): string {
  return `BLEU = ${s.score.toFixed(2)} ${s.precisions.map((p) => p.toFixed(1)).join('/')} (BP = ${s.bp.toFixed(3)} ratio = ${s.ratio.toFixed(3)} hyp_len = ${s.sys_len} ref_len = ${s.ref_len})`;
}
