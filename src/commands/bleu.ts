import { defineCommand } from './define.js';
import { TOKENIZERS } from '../core/bleu/tokenize.js';

export const command = defineCommand({
  name: 'bleu',
  summary: 'corpus BLEU of a hypothesis file against reference files, identical to sacrebleu',
  description:
    'Computes corpus BLEU exactly as sacrebleu\'s corpus_bleu does (same tokenizers, exp smoothing, closest reference ' +
    'length, 0–100 scale): the hypothesis file and every reference file hold one segment per line, in the same order. ' +
    'Prints sacrebleu\'s one-line report and the signature that records every setting that changes the number.',
  options: {
    hyp: { type: 'path', required: true, help: 'hypothesis file, one segment per line', placeholder: 'FILE' },
    ref: { type: 'path', required: true, multiple: true, help: 'reference file, one segment per line; repeat for several references', placeholder: 'FILE' },
    tokenize: { type: 'enum', choices: TOKENIZERS, default: '13a', help: 'sacrebleu tokenizer: 13a (default, mteval), zh (every CJK character a token), char (every character), none' },
    lowercase: { type: 'boolean', help: 'compare lowercased text (sacrebleu --lowercase)' },
  },
  examples: [
    { command: 'mlloop bleu --hyp hyp.txt --ref ref.txt', explain: 'sacrebleu ref.txt -i hyp.txt, same number' },
    { command: 'mlloop bleu --hyp hyp.zh --ref ref1.zh --ref ref2.zh --tokenize zh --json', explain: 'Chinese text against two references, the full statistics as JSON' },
  ],
  async run(o) {
    const { bleuFiles, formatBleu } = await import('../core/bleu/files.js');
    const s = await bleuFiles(o.hyp, o.ref, { tokenize: o.tokenize, lowercase: o.lowercase });
    return { exitCode: 0, data: s, text: `${formatBleu(s)}\nsignature: ${s.signature}` };
  },
});
