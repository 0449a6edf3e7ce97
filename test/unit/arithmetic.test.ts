import { describe, expect, test } from 'vitest';
import { ArithmeticError, evaluate } from '../../src/tools/arithmetic.js';

describe('arithmetic evaluator (no eval)', () => {
  test.each([
    ['1 + 2 * 3', 7],
    ['(1 + 2) * 3', 9],
    ['2 ^ 3 ^ 2', 512],
    ['-2 ^ 2', -4],
    ['10 % 4 - -1', 3],
    ['1.5e3 / .5', 3000],
  ])('%s = %d', (source, value) => {
    expect(evaluate(source)).toBe(value);
  });

  test.each(['', '1 +', '(1', '2 ** 3', 'process.exit()', '1 / 0', '1e400'])(
    'rejects %j',
    (source) => {
      expect(() => evaluate(source)).toThrow(ArithmeticError);
    },
  );
});
