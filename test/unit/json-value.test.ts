import { describe, expect, test } from 'vitest';
import {
  checkJsonDepth,
  checkJsonValue,
  MAX_BODY_DEPTH,
  MAX_JSON_DEPTH,
  MAX_JSON_OBJECT_KEYS,
} from '../../src/model/json-value.js';

/** The rules of `checkJsonValue`, one by one, on values as `JSON.parse` makes them. */

const refusal = (value: unknown): string | undefined => {
  try {
    checkJsonValue(value);
    return undefined;
  } catch (err) {
    expect(err).toMatchObject({ status: 400, code: 'invalid_json_value' });
    return (err as Error).message;
  }
};

const nested = (levels: number, open: string, close: string) =>
  JSON.parse(`${open.repeat(levels)}${close.repeat(levels)}`) as unknown;

describe('checkJsonValue', () => {
  test('scalars at the root pass', () => {
    for (const value of [null, true, 0, -1.5, '', 'x', '😀\uFFFD\u0000']) {
      expect(refusal(value)).toBeUndefined();
    }
  });

  test('exactly MAX_JSON_DEPTH levels pass, one more is refused, for objects and arrays', () => {
    expect(MAX_JSON_DEPTH).toBe(64);
    expect(refusal(nested(MAX_JSON_DEPTH, '[', ']'))).toBeUndefined();
    expect(refusal(nested(MAX_JSON_DEPTH + 1, '[', ']'))).toMatch(/nesting deeper than 64/);
    const objects = (n: number) => JSON.parse(`${'{"a":'.repeat(n)}1${'}'.repeat(n)}`);
    expect(refusal(objects(MAX_JSON_DEPTH))).toBeUndefined();
    expect(refusal(objects(MAX_JSON_DEPTH + 1))).toMatch(/nesting/);
    // Deep on one side only: the check follows every branch.
    expect(refusal([1, { a: [] }, nested(MAX_JSON_DEPTH, '[', ']')])).toMatch(/nesting/);
  });

  test('a document far deeper than any stack is refused without overflowing', () => {
    expect(refusal(nested(500_000, '[', ']'))).toMatch(/nesting/);
  });

  test('a lone surrogate in a value or a key is refused; paired ones pass', () => {
    for (const s of ['\ud800', '\udfff', 'a\ud83d', '\ude00b']) {
      expect(refusal({ a: [s] })).toMatch(/not well-formed Unicode/);
      expect(refusal({ [s]: 1 })).toMatch(/key is not well-formed/);
    }
    expect(refusal({ '😀': '\ud83d\ude00' })).toBeUndefined();
  });

  test('a __proto__ key is refused wherever it is; __proto_ and constructor pass', () => {
    expect(refusal(JSON.parse('{"__proto__":{}}'))).toMatch(/__proto__/);
    expect(refusal(JSON.parse('{"a":[{"b":{"__proto__":1}}]}'))).toMatch(/__proto__/);
    expect(refusal({ __proto_: 1, constructor: 2, prototype: 3 })).toBeUndefined();
  });

  test('numbers must be finite (JSON.parse turns 1e400 into Infinity)', () => {
    expect(refusal(JSON.parse('{"x":1e400}'))).toMatch(/range of a double/);
    expect(refusal([Number.NaN])).toMatch(/range/);
    expect(refusal([Number.MAX_VALUE, -Number.MAX_VALUE, 5e-324])).toBeUndefined();
  });

  test('an object may have MAX_JSON_OBJECT_KEYS keys, not one more', () => {
    const keyed = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [i, 0]));
    expect(refusal({ a: keyed(MAX_JSON_OBJECT_KEYS) })).toBeUndefined();
    expect(refusal({ a: keyed(MAX_JSON_OBJECT_KEYS + 1) })).toMatch(/more than 65535 keys/);
  });

  test('the message names what was checked', () => {
    expect(() => checkJsonValue([Number.NaN], 'tool arguments')).toThrow(/^tool arguments: /);
  });
});

describe('checkJsonDepth and the body bound', () => {
  const depthRefusal = (value: unknown): string | undefined => {
    try {
      checkJsonDepth(value, '"parameters"');
      return undefined;
    } catch (err) {
      expect(err).toMatchObject({ status: 400, code: 'invalid_json_value' });
      return (err as Error).message;
    }
  };

  test('a stored value may nest MAX_JSON_DEPTH levels of its own, not one more', () => {
    expect(depthRefusal(nested(MAX_JSON_DEPTH, '[', ']'))).toBeUndefined();
    expect(depthRefusal(nested(MAX_JSON_DEPTH + 1, '[', ']'))).toBe(
      '"parameters": nesting deeper than 64 levels',
    );
    // Levels: the object, b's array, its object, then 61 arrays.
    expect(depthRefusal({ a: 1, b: [2, { c: nested(MAX_JSON_DEPTH - 3, '[', ']') }] })).toBe(
      undefined,
    );
    expect(depthRefusal([1, 'x', null])).toBeUndefined();
    expect(depthRefusal('scalar')).toBeUndefined();
    expect(depthRefusal(nested(500_000, '[', ']'))).toMatch(/nesting/);
  });

  test('a body may nest MAX_BODY_DEPTH levels: a value at the limit fits its envelope', () => {
    expect(MAX_BODY_DEPTH).toBe(MAX_JSON_DEPTH + 8);
    const body = { config: { parameters: nested(MAX_JSON_DEPTH, '[', ']') } };
    expect(() => checkJsonValue(body, 'request body', MAX_BODY_DEPTH)).not.toThrow();
    expect(() =>
      checkJsonValue(nested(MAX_BODY_DEPTH + 1, '[', ']'), 'request body', MAX_BODY_DEPTH),
    ).toThrow(/^request body: nesting deeper than 72 levels$/);
  });
});
