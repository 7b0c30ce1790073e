import { describe, expect, it } from 'vitest';
import { splitArgs } from '../../src/cli/split.js';

describe('root action args splitting', () => {
  it.each([
    ['gate --policy gate.yaml', ['gate', '--policy', 'gate.yaml']],
    ['train --command "python3 train.py --epochs 1"', ['train', '--command', 'python3 train.py --epochs 1']],
    ["train --command 'echo \"hi\" $HOME'", ['train', '--command', 'echo "hi" $HOME']],
    ['a\\ b "c\\"d" \'\'', ['a b', 'c"d', '']],
    ['  multi \n line\targs ', ['multi', 'line', 'args']],
  ])('%j', (line, words) => {
    expect(splitArgs(line)).toEqual(words);
  });

  it('refuses unterminated quotes', () => {
    expect(() => splitArgs('train --command "oops')).toThrow(/unterminated double quote/);
    expect(() => splitArgs("x 'oops")).toThrow(/unterminated single quote/);
  });
});
