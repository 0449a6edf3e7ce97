import { badRequest } from '../errors.js';

/**
 * The rules every JSON value must meet before the server stores it or hands it to a worker,
 * so that what is acknowledged comes back exactly as sent, through every path and after
 * every restart:
 *
 * - **Nesting at most `MAX_JSON_DEPTH` levels, counted from the stored value itself** (a
 *   free-form field such as `parameters` is level 1), so the limit does not depend on where
 *   the value sits in a request: `{parameters}` and `{config: {parameters}}` accept the same
 *   values, and whatever GET shows can be PUT back. The storage codec and the JSON decoders
 *   recurse; a few thousand levels overflow their stack. The limit sits far below that.
 *   A whole request body may nest `MAX_BODY_DEPTH` levels: enough for the envelope around a
 *   value at the limit, and a bound on the body walk itself.
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
 * The walks are iterative: a hostile document must not overflow the checker's own stack.
 */
export const MAX_JSON_DEPTH = 64;
/** A request body's own nesting: the deepest envelope (`tool_calls[i].arguments`) is 4. */
export const MAX_BODY_DEPTH = MAX_JSON_DEPTH + 8;
/** The storage codec (msgpackr) writes an object's key count in 16 bits. */
export const MAX_JSON_OBJECT_KEYS = 0xffff;

const RESERVED_KEY = '__proto__';

/**
 * Throws a 400 `invalid_json_value` naming `what` when `value` breaks one of the rules, its
 * own nesting counted against `maxDepth` (a value to store: `MAX_JSON_DEPTH`).
 */
export function checkJsonValue(value: unknown, what = 'request body', maxDepth = MAX_JSON_DEPTH) {
  const problem = findProblem(value, maxDepth);
  if (problem !== undefined) throw badRequest(`${what}: ${problem}`, 'invalid_json_value');
}

/**
 * Throws a 400 `invalid_json_value` naming `what` when `value` nests deeper than
 * `MAX_JSON_DEPTH` levels of its own. For a field of a body `checkJsonValue` has already
 * walked (every other rule holds), so only the depth is measured.
 */
export function checkJsonDepth(value: unknown, what: string): void {
  if (!isContainer(value)) return;
  const containers: object[] = [value];
  const depths: number[] = [1];
  const push = (element: unknown, depth: number) => {
    if (isContainer(element)) {
      containers.push(element);
      depths.push(depth + 1);
    }
  };
  while (containers.length > 0) {
    const container = containers.pop()!;
    const depth = depths.pop()!;
    if (depth > MAX_JSON_DEPTH) {
      throw badRequest(`${what}: ${tooDeep(MAX_JSON_DEPTH)}`, 'invalid_json_value');
    }
    if (Array.isArray(container)) for (const element of container) push(element, depth);
    else for (const element of Object.values(container)) push(element, depth);
  }
}

const tooDeep = (maxDepth: number) => `nesting deeper than ${maxDepth} levels`;

/**
 * Depth-first over containers only (two parallel stacks, no object per entry): scalars are
 * checked where they are found, which keeps a large flat document cheap on the main thread.
 */
function findProblem(root: unknown, maxDepth: number): string | undefined {
  if (!isContainer(root)) return scalarProblem(root);
  const containers: object[] = [root];
  const depths: number[] = [1];
  while (containers.length > 0) {
    const value = containers.pop()!;
    const depth = depths.pop()!;
    if (depth > maxDepth) return tooDeep(maxDepth);
    if (Array.isArray(value)) {
      for (const element of value) {
        const problem = visit(element, depth, containers, depths);
        if (problem !== undefined) return problem;
      }
      continue;
    }
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record);
    if (keys.length > MAX_JSON_OBJECT_KEYS) {
      return `an object with more than ${MAX_JSON_OBJECT_KEYS} keys`;
    }
    for (const key of keys) {
      if (key === RESERVED_KEY) return `the key "${RESERVED_KEY}" is not accepted`;
      if (!key.isWellFormed()) return 'a key is not well-formed Unicode (lone surrogate)';
      const problem = visit(record[key], depth, containers, depths);
      if (problem !== undefined) return problem;
    }
  }
  return undefined;
}

/** A child at `depth + 1`: a container is queued, a scalar checked on the spot. */
function visit(
  element: unknown,
  depth: number,
  containers: object[],
  depths: number[],
): string | undefined {
  if (!isContainer(element)) return scalarProblem(element);
  containers.push(element);
  depths.push(depth + 1);
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
