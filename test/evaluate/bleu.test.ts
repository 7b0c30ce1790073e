import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { corpusBleu, computeBleu, type BleuOptions } from '../../src/core/bleu/bleu.js';
import { tokenize13a, tokens13a, count13a, tokenizeZh, tokenizeChar, TOKENIZERS, type TokenizerName } from '../../src/core/bleu/tokenize.js';
import { python } from './python.js';

// sacrebleu's published test cases (mjpost/sacrebleu test/test_bleu.py, test/test_sentence_bleu.py).
const REFS = [
  ['The dog bit the man.', 'It was not unexpected.', 'The man bit him first.'],
  ['The dog had bit the man.', 'No one was surprised.', 'The man had bitten the dog.'],
];
const HYPS = ['The dog bit the man.', "It wasn't surprising.", 'The man had just bitten him.'];

describe('BLEU on sacrebleu\'s published test cases', () => {
  it.each([
    [HYPS, {}, 48.530827],
    [['', '', ''], {}, 0.0],
    [HYPS, { tokenize: 'none' }, 49.1919566],
    [HYPS, { tokenize: '13a' }, 48.530827],
    [HYPS, { smoothMethod: 'none' }, 48.530827],
  ] as [string[], BleuOptions, number][])('corpus_bleu %j %j = %d', (hyps, opts, expected) => {
    expect(Math.abs(corpusBleu(hyps, REFS, opts).score - expected)).toBeLessThan(1e-6);
  });

  it.each([
    // Published as 0.0038 for sacrebleu 1.x; sacrebleu 2.x (installed: 2.6) returns 0 when no n-gram matches.
    [['this is a test', 'another test'], ['ref1', 'ref2'], 0],
    [['this is a test'], ['this is a test'], 1.0],
    [['this is a fest'], ['this is a test'], 0.223606797749979],
  ])('raw_corpus_bleu %j', (hyps, refs, expected) => {
    const s = corpusBleu(hyps, [refs], { tokenize: 'none', smoothMethod: 'floor', smoothValue: 0.01 });
    expect(Math.abs(s.score / 100 - expected)).toBeLessThan(1e-8);
  });

  it('sufficient statistics and scoring', () => {
    const s = corpusBleu(['am I am a character sequence'], [['I am a symbol string sequence a a']], { tokenize: 'none', smoothMethod: 'floor', smoothValue: 0.01 });
    expect(s.counts).toEqual([4, 2, 1, 0]);
    expect(s.totals).toEqual([6, 5, 4, 3]);
    expect(Math.abs(computeBleu([9, 7, 5, 3], [10, 8, 6, 4], 11, 11).score / 100 - 0.8375922397)).toBeLessThan(1e-8);
  });

  const REF = 'producţia de zahăr brut se exprimă în zahăr alb;';
  const SYS = 'Producția de zahăr primă va fi exprimată în ceea ce privește zahărul alb;';
  it.each([
    ['exp', undefined, false, '13a', 8.493],
    ['none', undefined, false, '13a', 0.0],
    ['floor', undefined, false, '13a', 4.51688],
    ['floor', 0.5, false, '13a', 10.1],
    ['add-k', undefined, false, '13a', 14.882],
    ['add-k', 2, false, '13a', 21.389],
    ['exp', undefined, false, 'none', 7.347],
    ['exp', undefined, false, 'char', 40.8759],
    ['exp', undefined, true, 'char', 42.0267],
  ] as const)('sentence BLEU smooth=%s value=%s lowercase=%s tok=%s → %d', (smoothMethod, smoothValue, lowercase, tokenize, expected) => {
    const s = corpusBleu([SYS], [[REF]], { smoothMethod, smoothValue, lowercase, tokenize, effectiveOrder: true });
    expect(Math.abs(s.score - expected)).toBeLessThan(1e-3);
  });
});

// Random OCR-like strings: Chinese names and addresses, ID numbers, amounts, dates, punctuation, odd spaces.
const PIECES = [
  '张三', '李四', '王五', '北京市', '朝阳区', '保险', '有限公司', '生效日期', '金额', '¥', '￥', '元', '万', '亿',
  '120,000.00', '3.5', '2025-06-12', '2025/06/12', '11010519491231002X', 'ID', 'No.', 'Policy', 'ocr-v3', 'A&B',
  '&amp;', '&quot;', '<skipped>', '-', '—', '–', '…', '“', '”', "'", '"', '(', ')', '[', ']', '{', '}', ',', '.', ';',
  ':', '!', '?', '/', '\\', '%', '$', '€', '#', '@', '·', '、', '，', '。', '：', '（', '）', '　', ' ', '  ', '\t',
  '\u00a0', '\u2003', '\u3000', '\u0085', '\u001c', 'ﬁ', 'Ⅻ', '①', '㈱', '☎', '✓', '𠀀', '𪚥', 'é', 'ß', 'İ', 'x', 'Q1', '9', '0',
];
const ocrString = fc.array(fc.constantFrom(...PIECES), { maxLength: 12 }).map((a) => a.join(''));

describe('BLEU equals sacrebleu on random OCR-like strings', () => {
  const SCRIPT = `
import sys, json, sacrebleu
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
from sacrebleu.tokenizers.tokenizer_zh import TokenizerZh
from sacrebleu.tokenizers.tokenizer_char import TokenizerChar
cases = json.load(sys.stdin)
toks = {'13a': Tokenizer13a(), 'zh': TokenizerZh(), 'char': TokenizerChar()}
out = []
for c in cases:
    s = sacrebleu.corpus_bleu(c['hyps'], c['refs'], tokenize=c['tok'], lowercase=c['lc'])
    out.append({'score': s.score, 'counts': s.counts, 'totals': s.totals, 'sys_len': s.sys_len, 'ref_len': s.ref_len,
                'tokens': [toks[c['tok']](h) for h in c['hyps']] if c['tok'] in toks else None})
print(json.dumps(out))
`;

  it('corpus scores, statistics and tokenizations for 13a, zh, char and none (1e-6)', async () => {
    const cases = fc.sample(
      fc.record({
        tok: fc.constantFrom(...TOKENIZERS),
        lc: fc.boolean(),
        n: fc.integer({ min: 1, max: 8 }),
        refsN: fc.integer({ min: 1, max: 3 }),
        seed: fc.array(ocrString, { minLength: 32, maxLength: 32 }),
      }).map(({ tok, lc, n, refsN, seed }) => {
        const hyps = seed.slice(0, n);
        // References overlap the hypotheses (a mutated copy), so scores are not all zero.
        const refs = Array.from({ length: refsN }, (_, r) => hyps.map((h, i) => (i + r) % 3 === 0 ? h : `${h}${seed[8 + ((i + r) % 20)]}`.slice(r)));
        return { tok, lc, hyps, refs };
      }),
      { numRuns: 400, seed: 20250612 },
    );
    const expected = await python<{ score: number; counts: number[]; totals: number[]; sys_len: number; ref_len: number; tokens: string[] | null }[]>(SCRIPT, cases);
    const tok: Record<string, (s: string) => string> = { '13a': tokenize13a, zh: tokenizeZh, char: tokenizeChar };
    let nonzero = 0;
    cases.forEach((c, i) => {
      const e = expected[i]!;
      const s = corpusBleu(c.hyps, c.refs, { tokenize: c.tok as TokenizerName, lowercase: c.lc });
      if (e.tokens) expect(c.hyps.map(tok[c.tok]!), JSON.stringify(c)).toEqual(e.tokens);
      expect([s.counts, s.totals, s.sys_len, s.ref_len], JSON.stringify(c)).toEqual([e.counts, e.totals, e.sys_len, e.ref_len]);
      expect(Math.abs(s.score - e.score), JSON.stringify(c)).toBeLessThan(1e-6);
      if (e.score > 0) nonzero++;
    });
    expect(nonzero).toBeGreaterThan(100);
  });

  it('zh tokenizer: the CJK ranges sacrebleu really uses (its two-character range bounds included)', async () => {
    const chars = [0x2000, 0x2001, 0x2013, 0x201c, 0x20ac, 0x2a6d, 0x2a6e, 0x2f80, 0x2f81, 0x2fa1, 0x2fa2, 0x3400, 0x4db5, 0x4db6, 0x4e00, 0x9fbb, 0x9fbc, 0xff0c, 0x20000, 0x2a6d6, 0x3001, 0x33ff, 0x3400].map((c) => `a${String.fromCodePoint(c)}b`);
    const e = await python<string[]>('import sys, json\nfrom sacrebleu.tokenizers.tokenizer_zh import TokenizerZh\nt = TokenizerZh()\nprint(json.dumps([t(s) for s in json.load(sys.stdin)]))', chars);
    expect(chars.map(tokenizeZh)).toEqual(e);
  });
});

describe('13a token counts without building tokens', () => {
  it('count13a equals the number of tokens 13a makes, on random OCR-like text', () => {
    const dense = fc.array(fc.constantFrom(...PIECES, '1', '2', '.', ',', '-', '5.', ',0', '-7', 'a.b', '1,000.5-', '𠀀.', '.𠀀'), { maxLength: 30 }).map((a) => a.join(''));
    fc.assert(
      fc.property(fc.oneof(ocrString, dense, fc.string(), fc.string({ unit: 'binary' })), (line) => {
        expect(count13a(line)).toBe(tokens13a(line).length);
      }),
      { numRuns: 5000, seed: 7 },
    );
  });
});
