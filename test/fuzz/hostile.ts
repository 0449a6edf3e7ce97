import type { Rng } from './rng.js';

/**
 * Hostile values for the fuzzer: strings at the edges of Unicode, deep and prototype-keyed
 * JSON, wrong types, bad ids, path segments and query values. JSON bodies are built as
 * values that may hold `RawJson` fragments (text spliced in as is), so that documents too
 * deep for `JSON.stringify`, or not JSON at all, can be sent.
 */
export class RawJson {
  constructor(readonly text: string) {}
}

/** Serialises `value`, splicing `RawJson` fragments in verbatim; keeps own `__proto__` keys. */
export function toJsonText(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  if (value === undefined) return 'null';
  if (typeof value !== 'object' || value === null) return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(toJsonText).join(',')}]`;
  const parts = Object.keys(value).map(
    (key) => `${JSON.stringify(key)}:${toJsonText((value as Record<string, unknown>)[key])}`,
  );
  return `{${parts.join(',')}}`;
}

/** An object with own property `key` (even `__proto__`) set to `value`. */
export function withKey(key: string, value: unknown, base: Record<string, unknown> = {}) {
  const out: Record<string, unknown> = { ...base };
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  return out;
}

/** Nesting depths around the accepted limit (64) and far past where decoders overflow. */
export const DEPTHS = [2, 32, 63, 64, 65, 100, 1000, 2800, 3000, 4000, 10_000] as const;

/** `depth` levels of arrays or objects around a small leaf, as raw JSON text. */
export function deepJson(depth: number, shape: 'array' | 'object' | 'mixed', rng: Rng): RawJson {
  let open = '';
  let close = '';
  for (let i = 0; i < depth; i++) {
    const asObject = shape === 'object' || (shape === 'mixed' && rng.chance(0.5));
    open += asObject ? '{"k":' : '[';
    close = (asObject ? '}' : ']') + close;
  }
  return new RawJson(`${open}1${close}`);
}

export const UNICODE_STRINGS: readonly string[] = [
  '',
  ' ',
  'plain',
  '\u0000',
  'nul\u0000inside',
  '\ud800',
  '\udfff',
  'x\udc00\ud800y',
  'lone high at end \ud83d',
  '😀 astral 𝄞',
  '\u202eRTL override\u202c',
  'مرحبا بالعالم',
  'עברית',
  '\ufffd replacement',
  '\ufeffBOM',
  'line\u2028sep\u2029para',
  'e\u0301 combining',
  'z̷̢̛͚a̶̡l̴g̵o̸',
  '\\',
  '"quoted"',
  '</script><script>',
  '%00%2e%2e',
  '../../etc/passwd',
  '\r\n\t\b\f',
  '\u007f\u0080\u009f',
  '\uffff\ufffe',
];

/** Keys that prototype-pollution guards rename or drop. */
export const PROTO_KEYS = ['__proto__', 'constructor', 'prototype'] as const;

export function hostileString(rng: Rng, maxBytes: number): string {
  return rng.weighted<() => string>([
    [6, () => rng.pick(UNICODE_STRINGS)],
    [2, () => 'a'.repeat(rng.pick([255, 256, 257, 1024, 65_535]))],
    [1, () => '😀'.repeat(Math.floor(maxBytes / 8))],
    [1, () => rng.pick(UNICODE_STRINGS) + rng.pick(UNICODE_STRINGS)],
  ])();
}

/** A JSON value of the wrong type, or a hostile one, for any field. */
export function hostileValue(rng: Rng, maxBytes: number): unknown {
  return rng.weighted<() => unknown>([
    [3, () => hostileString(rng, maxBytes)],
    [2, () => rng.pick([null, true, false, 0, -1, 1e308, -0, 2 ** 53 + 1, 1.5])],
    [
      1,
      () => new RawJson(rng.pick(['1e400', '-1e400', '1E-400', '123456789012345678901234567890'])),
    ],
    [2, () => rng.pick([[], {}, [1, 'a'], { a: 1 }, [[]], [{}]])],
    [3, () => deepJson(rng.pick(DEPTHS), rng.pick(['array', 'object', 'mixed'] as const), rng)],
    [2, () => withKey(rng.pick(PROTO_KEYS), rng.pick([{ x: 1 }, 1, null, 'polluted', []]))],
    [1, () => withKey(rng.pick(UNICODE_STRINGS), rng.pick(UNICODE_STRINGS))],
  ])();
}

/** Text that is not JSON, or is JSON only by a lenient parser. */
export const MALFORMED_JSON: readonly string[] = [
  '',
  ' ',
  '{',
  '}',
  '{"a":',
  '{"a":1,}',
  '[1,2',
  "{'a':1}",
  '{a:1}',
  'NaN',
  'Infinity',
  'undefined',
  '{"a":NaN}',
  '{"a":01}',
  '{"a":"\\x41"}',
  '{"a":"\\ud800"',
  '{"a":"\u0000"}',
  '\ufeff{}',
  '{}{}',
  '{"a":1}garbage',
  '/* c */{}',
  '{"a":1e}',
  '{"a":-}',
  '{"a":"unterminated}',
  '{"model_id":"m","mode":"chat"',
  '["\\u12"]',
  'null',
  'true',
  '"a string"',
  '[]',
  '12',
];

/** Raw bytes that are not UTF-8 (or are overlong, or encode surrogates), inside a string. */
export const BAD_UTF8: readonly Buffer[] = [
  Buffer.from([0xff]),
  Buffer.from([0xc0, 0xae]),
  Buffer.from([0xe0, 0x80, 0xae]),
  Buffer.from([0xed, 0xa0, 0x80]),
  Buffer.from([0xf4, 0x90, 0x80, 0x80]),
  Buffer.from([0x80]),
  Buffer.from([0xc3]),
];

/** Path segments for ids and names: traversal, encodings good and bad, Unicode. */
export const HOSTILE_SEGMENTS: readonly string[] = [
  '.',
  '..',
  '%2e',
  '%2e%2e',
  '%2E%2E',
  '.%2e',
  '..%2f',
  '%2e%2e%2f%2e%2e',
  'a%2fb',
  '%5c',
  '%00',
  'a%00b',
  '%ff',
  '%C0%AE',
  '%C0%AE%C0%AE',
  '%ED%A0%80',
  '%F0%9F%98%80',
  '%E2%80%AE',
  '%EF%BF%BD',
  '%zz',
  '%',
  '%%',
  '%2',
  'caf%C3%A9',
  '~',
  '*',
  '%20',
  '+',
  `x${'y'.repeat(64)}`,
  'z'.repeat(3000),
  'main',
  'Main',
  '-lead',
  '_lead',
  'ok.name-1_2',
];

export function badUuidSegment(rng: Rng): string {
  const good = rng.uuid();
  return rng.pick([
    ...HOSTILE_SEGMENTS,
    good.toUpperCase(),
    `${good}x`,
    `${good}%00`,
    `${good}%20`,
    good.slice(1),
    good.replace(/-/g, ''),
    `{${good}}`,
    `${good.slice(0, 35)}%67`,
    '00000000-0000-0000-0000-000000000000',
    'ffffffff-ffff-ffff-ffff-ffffffffffff',
  ]);
}

/** Values for `limit`, `offset`, `last_event_id`, `branch`, `force` query parameters. */
export const QUERY_VALUES: readonly string[] = [
  '',
  '0',
  '1',
  '50',
  '1000',
  '1001',
  '-1',
  '+1',
  '%201',
  '1%20',
  '1.5',
  '1e3',
  '0x10',
  '0b1',
  'abc',
  'NaN',
  'Infinity',
  '999999999',
  '1000000000',
  '99999999999999999999999',
  '%00',
  '%ff',
  '%zz',
  '%ED%A0%80',
  '%EF%BC%91',
  '1%00',
  'true',
  'TRUE',
  '..',
  '%2e%2e',
  'main',
];
