/**
 * A small arithmetic evaluator (no `eval`): numbers, + − * / % ^, unary minus and
 * parentheses, by recursive descent. `^` is right-associative and binds tighter than
 * unary minus (−2^2 = −4), as in mathematics.
 *
 *   expr   = term (("+" | "-") term)*
 *   term   = unary (("*" | "/" | "%") unary)*
 *   unary  = "-" unary | power
 *   power  = atom ("^" unary)?
 *   atom   = number | "(" expr ")"
 */
export class ArithmeticError extends Error {}

const MAX_LENGTH = 1000;

export function evaluate(source: string): number {
  if (source.length > MAX_LENGTH) throw new ArithmeticError('expression is too long');
  const tokens = source.match(/\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|\.\d+|[-+*/%^()]|\S/g) ?? [];
  let pos = 0;
  const peek = () => tokens[pos];
  const take = () => tokens[pos++];

  const expr = (): number => {
    let value = term();
    while (peek() === '+' || peek() === '-')
      value = take() === '+' ? value + term() : value - term();
    return value;
  };
  const term = (): number => {
    let value = unary();
    for (let op = peek(); op === '*' || op === '/' || op === '%'; op = peek()) {
      take();
      const rhs = unary();
      if ((op === '/' || op === '%') && rhs === 0) throw new ArithmeticError('division by zero');
      value = op === '*' ? value * rhs : op === '/' ? value / rhs : value % rhs;
    }
    return value;
  };
  const unary = (): number => {
    if (peek() === '-') {
      take();
      return -unary();
    }
    if (peek() === '+') {
      take();
      return unary();
    }
    return power();
  };
  const power = (): number => {
    const base = atom();
    if (peek() !== '^') return base;
    take();
    return base ** unary();
  };
  const atom = (): number => {
    const token = take();
    if (token === undefined) throw new ArithmeticError('unexpected end of expression');
    if (token === '(') {
      const value = expr();
      if (take() !== ')') throw new ArithmeticError('missing ")"');
      return value;
    }
    const value = Number(token);
    if (Number.isNaN(value)) throw new ArithmeticError(`unexpected "${token}"`);
    return value;
  };

  const result = expr();
  if (pos < tokens.length) throw new ArithmeticError(`unexpected "${tokens[pos]}"`);
  if (!Number.isFinite(result)) throw new ArithmeticError('result is not a finite number');
  return result;
}
