import { badRequest } from '../errors.js';

/**
 * The rules every JSON value must meet before the server stores it or hands it to a worker,
 * so that what is acknowledged comes back exactly as sent, through every path and after
 * every restart:
 *
 * - **Nesting at most `MAX_JSON_DEPTH` levels** (the request body itself is level 1). The
 *   storage codec and the JSON decoders recurse; a few thousand levels overflow their stack.
 *   The limit sits far below where any of them fails.
 * - **Well-formed Unicode.** A string (key or value) with a lone surrogate cannot be encoded
 *   as UTF-8, so storage would change it to U+FFFD: it is refused instead.
 * - **No `__proto__` key.** Decoders guard against prototype pollution by renaming or
 *   dropping that key (msgpackr reads it back as `__proto_`), so it could not come back as
 *   sent: it is refused instead. No other key is rewritten.
 * - **At most `MAX_JSON_OBJECT_KEYS` keys in one object**: the storage codec cannot write
 *   more (msgpackr's fast map header holds a 16-bit count), so the write would fail.
 * - **Finite numbers.** `JSON.parse` turns a literal beyond the double range (`1e400`) into
 *   Infinity, which JSON can only write back as `null`: it is refused instead.
 *
 * The walk is iterative: a hostile document must not overflow the checker's own stack.
 */
export const MAX_JSON_DEPTH = 64;
/** The storage codec (msgpackr) writes an object's key count in 16 bits. */
export const MAX_JSON_OBJECT_KEYS = 0xffff;

const RESERVED_KEY = '__proto__';

/** Throws a 400 `invalid_json_value` naming `what` when `value` breaks one of the rules. */
export function checkJsonValue(value: unknown, what = 'request body'): void {
  const problem = findProblem(value);
  if (problem !== undefined) throw badRequest(`${what}: ${problem}`, 'invalid_json_value');
}

/**
 * Depth-first over containers only (two parallel stacks, no object per entry): scalars are
 * checked where they are found, which keeps a large flat document cheap on the main thread.
 */
function findProblem(root: unknown): string | undefined {
  if (!isContainer(root)) return scalarProblem(root);
  const containers: object[] = [root];
  const depths: number[] = [1];
  while (containers.length > 0) {
    const value = containers.pop()!;
    const depth = depths.pop()!;
    if (depth > MAX_JSON_DEPTH) return `nesting deeper than ${MAX_JSON_DEPTH} levels`;
    if (Array.isArray(value)) {
      for (const element of value) {
        if (isContainer(element)) {
          containers.push(element);
          depths.push(depth + 1);
        } else {
          const problem = scalarProblem(element);
          if (problem !== undefined) return problem;
        }
      }
      continue;
    }
    const keys = Object.keys(value);
    if (keys.length > MAX_JSON_OBJECT_KEYS) {
      return `an object with more than ${MAX_JSON_OBJECT_KEYS} keys`;
    }
    for (const key of keys) {
      if (key === RESERVED_KEY) return `the key "${RESERVED_KEY}" is not accepted`;
      if (!key.isWellFormed()) return 'a key is not well-formed Unicode (lone surrogate)';
      const element = (value as Record<string, unknown>)[key];
      if (isContainer(element)) {
        containers.push(element);
        depths.push(depth + 1);
      } else {
        const problem = scalarProblem(element);
        if (problem !== undefined) return problem;
      }
    }
  }
  return undefined;
}

function isContainer(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}

function scalarProblem(value: unknown): string | undefined {
  if (typeof value === 'string') {
    return value.isWellFormed()
      ? undefined
      : 'a string is not well-formed Unicode (lone surrogate)';
  }
  if (typeof value === 'number' && !Number.isFinite(value)) {
    return 'a number is outside the range of a double';
  }
  return undefined;
}
