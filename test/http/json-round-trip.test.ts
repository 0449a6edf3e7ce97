import { afterAll, describe, expect, test } from 'vitest';
import { MAX_JSON_DEPTH, MAX_JSON_OBJECT_KEYS } from '../../src/model/json-value.js';
import { type ContextDto, type JsonResponse, request } from '../support/http.js';
import { makeDataDir, type ServerProcess, startServerProcess } from '../support/server-process.js';
import { health } from '../work/metrics.js';

/**
 * Issue 9, defects 3, 4 and 5: whatever the server acknowledges comes back as sent, through
 * every path — the 201/200 answer, GET, the listing, a message page — and after a restart
 * (start-up scan, snapshot decode, log replay, worker load), and is never counted corrupt.
 * Tested at the nesting limit of each free-form value, counted from the value itself (and
 * one level past it, refused), with a whole GET body PUT back as is, with the strings and keys
 * decoders are known to treat specially, a value wider and larger than the listing's tail
 * read window, and every well-formed kind of character.
 */

/** Nesting depth as the server counts it for a stored value: the value itself is level 1. */
function depthOf(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  return 1 + Math.max(0, ...children.map(depthOf));
}

/** `levels` containers, alternating objects and arrays, around `leaf`. */
function nest(levels: number, leaf: unknown): unknown {
  let value = leaf;
  for (let i = 0; i < levels; i++) value = i % 2 === 0 ? { k: value } : [value];
  return value;
}

/** Well-formed text every decoder must keep: astral, emoji, U+FFFD itself, NUL, controls. */
const TEXT = 'a😀𝄞\uFFFD\u0000\u0001\u007f\u2028\u2029é漢\uFEFF"\\/\n\t';

/** Keys decoders or JS objects treat specially; none may be renamed or dropped. */
const KEYS = [
  'constructor',
  'hasOwnProperty',
  'toString',
  'valueOf',
  'prototype',
  '__proto_',
  '__defineGetter__',
  'isPrototypeOf',
  '',
  '0',
  '1',
  '4294967295',
  '-1',
  'a\u0000b',
  '😀',
  '\uFFFD',
];

const NUMBERS = [0, 0.1, 1e308, 5e-324, -1e-7, 2 ** 53, 2 ** 32, -(2 ** 31) - 1, 4294967296.5];

function awkward(tag: string): Record<string, unknown> {
  const value: Record<string, unknown> = { tag, text: TEXT, numbers: NUMBERS };
  for (const key of KEYS) value[key] = `${key}:${TEXT}`;
  value.nested = Object.fromEntries(KEYS.map((k, i) => [k, i % 2 === 0 ? [k, null, true] : { k }]));
  return value;
}

const AWKWARD_DEPTH = depthOf(awkward(''));

/** Canonical text of what `JSON.parse` makes of `sent`: what must come back. */
const canonical = (sent: unknown) => JSON.stringify(JSON.parse(JSON.stringify(sent)));

describe('accepted JSON comes back as sent, at the nesting limit and after a restart', () => {
  const data = makeDataDir('ccs-round-trip-');
  const started: ServerProcess[] = [];
  afterAll(async () => {
    // A failed assertion must not leave a server running.
    for (const s of started) if (s.proc.exitCode === null) await s.stop();
    data.remove();
  });

  test('201, GET, listing and pages agree before and after SIGTERM + restart', async () => {
    expect(MAX_JSON_DEPTH).toBe(64);
    expect(MAX_JSON_OBJECT_KEYS).toBe(65_535);
    // Compaction every 4 ops: one context is folded into a snapshot, the other is replayed.
    const env = { COMPACT_AFTER_RECORDS: '4' };
    let server = await startServerProcess(data.dir, env);
    started.push(server);
    const call = <T = unknown>(
      method: string,
      route: string,
      json?: unknown,
    ): Promise<JsonResponse<T>> => request<T>(`${server.url}${route}`, { method, json });

    const prompt = { id: 'lib.prompt-1', content: `library ${TEXT}` };
    expect((await call('POST', '/v1/system-prompts', prompt)).status).toBe(201);

    // The limit counts from the stored value, wherever it sits in the body.
    const atLimit = (tag: string) => ({
      ...awkward(tag),
      deep: nest(MAX_JSON_DEPTH - 1 - AWKWARD_DEPTH, awkward(`${tag} leaf`)),
    });
    const create = {
      model_id: `model ${TEXT}`,
      mode: 'chat',
      system_prompt_id: prompt.id,
      parameters: atLimit('create'),
    };
    expect(depthOf(create.parameters)).toBe(MAX_JSON_DEPTH);
    const deeper = {
      ...create,
      parameters: { ...create.parameters, deep: [create.parameters.deep] },
    };
    expect(depthOf(deeper.parameters)).toBe(MAX_JSON_DEPTH + 1);
    const refused = await call<{ code: string }>('POST', '/v1/contexts', deeper);
    expect(refused.status, refused.text).toBe(400);
    expect(refused.body.code).toBe('invalid_json_value');

    const a = await call<ContextDto & { config: unknown }>('POST', '/v1/contexts', create);
    expect(a.status, a.text).toBe(201);
    const created = a.body.config as Record<string, unknown>;
    expect(JSON.stringify(created.parameters)).toBe(canonical(create.parameters));
    expect(created.model_id).toBe(create.model_id);
    const answers = new Map<string, string>(); // context id → its last write's config
    const idA = a.body.id;

    // The original frontend's save: GET the context, PUT the whole body back. `parameters`
    // then sits one level deeper than in the POST; it is the same value, so it is accepted.
    const putBack = async (id: string) => {
      const got = await call<{ config: unknown }>('GET', `/v1/contexts/${id}`);
      expect(got.status).toBe(200);
      const res = await call<{ config: unknown }>('PUT', `/v1/contexts/${id}`, got.body);
      expect(res.status, res.text.slice(0, 300)).toBe(200);
      expect(JSON.stringify(res.body.config)).toBe(JSON.stringify(got.body.config));
      return res;
    };
    await putBack(idA);

    // PUT, both shapes, at the limit; one more level refused.
    const put1 = { parameters: atLimit('put 1'), model_id: `put ${TEXT}` };
    expect(depthOf(put1.parameters)).toBe(MAX_JSON_DEPTH);
    const put1Res = await call('PUT', `/v1/contexts/${idA}`, put1);
    expect(put1Res.status, put1Res.text).toBe(200);
    const put2 = {
      config: { parameters: { ...awkward('put 2'), deep: nest(MAX_JSON_DEPTH - 1, TEXT) } },
    };
    expect(depthOf(put2.config.parameters)).toBe(MAX_JSON_DEPTH);
    for (const putDeeper of [
      { config: { parameters: { deep: nest(MAX_JSON_DEPTH, TEXT) } } },
      { parameters: { deep: nest(MAX_JSON_DEPTH, TEXT) } },
    ]) {
      const sent = putDeeper.config?.parameters ?? putDeeper.parameters;
      expect(depthOf(sent)).toBe(MAX_JSON_DEPTH + 1);
      const res = await call<{ code: string }>('PUT', `/v1/contexts/${idA}`, putDeeper);
      expect(res.status, res.text).toBe(400);
      expect(res.body.code).toBe('invalid_json_value');
    }
    const put2Res = await call<{ config: unknown }>('PUT', `/v1/contexts/${idA}`, put2);
    expect(put2Res.status, put2Res.text).toBe(200);
    // Its own GET body, at the limit, PUT back unchanged (checked again after the restart).
    await putBack(idA);
    const config = put2Res.body.config as Record<string, unknown>;
    expect(JSON.stringify(config.parameters)).toBe(canonical(put2.config.parameters));
    expect(config.model_id).toBe(put1.model_id);
    expect(config.system_prompt_id).toBe(prompt.id);

    // Messages carrying JSON at the limit in each place a client may put it.
    const messageBodies = [
      { role: 'user', content: `user ${TEXT}` },
      {
        role: 'assistant',
        content: [{ type: 'text', text: TEXT }],
        tool_calls: [
          {
            id: `call ${TEXT}`,
            tool_name: 'calculator',
            arguments: { ...awkward('args'), deep: nest(MAX_JSON_DEPTH - 1, TEXT) },
            ui_hints: { ...awkward('hints'), deep: nest(MAX_JSON_DEPTH - 1, TEXT) },
          },
        ],
      },
      {
        role: 'tool',
        content: TEXT,
        tool_result: {
          request_id: 'call',
          result: nest(MAX_JSON_DEPTH - AWKWARD_DEPTH, awkward('result')),
        },
      },
    ];
    const sentMessages: string[] = [];
    for (const body of messageBodies) {
      const call0 = 'tool_calls' in body ? body.tool_calls![0]! : undefined;
      if (call0 !== undefined) expect(depthOf(call0.arguments)).toBe(MAX_JSON_DEPTH);
      if (call0 !== undefined) expect(depthOf(call0.ui_hints)).toBe(MAX_JSON_DEPTH);
      if ('tool_result' in body) expect(depthOf(body.tool_result!.result)).toBe(MAX_JSON_DEPTH);
      const res = await call<Record<string, unknown>>('POST', `/v1/contexts/${idA}/messages`, body);
      expect(res.status, res.text).toBe(201);
      sentMessages.push(JSON.stringify(res.body));
      // What was sent is what the 201 shows.
      const shown = res.body;
      expect(JSON.stringify(shown.content)).toBe(
        canonical(
          typeof body.content === 'string' ? [{ type: 'text', text: body.content }] : body.content,
        ),
      );
      if ('tool_calls' in body) {
        const [call0] = shown.tool_calls as Record<string, unknown>[];
        expect(JSON.stringify(call0!.arguments)).toBe(canonical(body.tool_calls![0]!.arguments));
        expect(JSON.stringify(call0!.ui_hints)).toBe(canonical(body.tool_calls![0]!.ui_hints));
        expect(call0!.id).toBe(body.tool_calls![0]!.id);
      }
      if ('tool_result' in body) {
        expect(JSON.stringify(shown.tool_result)).toBe(canonical(body.tool_result));
      }
    }
    // One level more in any free-form field of a message is refused.
    const tooDeep = nest(MAX_JSON_DEPTH + 1, 1);
    expect(depthOf(tooDeep)).toBe(MAX_JSON_DEPTH + 1);
    for (const tooDeepMessage of [
      { role: 'tool', content: 'x', tool_result: { request_id: 'c', result: tooDeep } },
      {
        role: 'assistant',
        content: 'x',
        tool_calls: [{ id: 'c', tool_name: 't', arguments: tooDeep }],
      },
      {
        role: 'assistant',
        content: 'x',
        tool_calls: [{ id: 'c', tool_name: 't', ui_hints: { a: nest(MAX_JSON_DEPTH, 1) } }],
      },
    ]) {
      const res = await call<{ code: string }>(
        'POST',
        `/v1/contexts/${idA}/messages`,
        tooDeepMessage,
      );
      expect(res.status, res.text).toBe(400);
      expect(res.body.code).toBe('invalid_json_value');
    }

    // Branch prompts with every kind of character.
    expect((await call('POST', `/v1/contexts/${idA}/branches`, { name: 'alt' })).status).toBe(201);
    const branchUpdate = {
      system_prompt: { id: 'inline.1', content: `inline ${TEXT}` },
      user_prompt: `user prompt ${TEXT}`,
    };
    const branchRes = await call('PUT', `/v1/contexts/${idA}/branches/alt`, branchUpdate);
    expect(branchRes.status, branchRes.text).toBe(200);

    // A second context: one value wider (thousands of keys) and larger (~400 KB of UTF-8
    // in a log frame) than the listing's tail window, written by create then one PUT.
    const wide = Object.fromEntries(
      Array.from({ length: 3_000 }, (_, i) => [`key ${i} ${TEXT}`, i % 3 === 0 ? TEXT : i]),
    );
    const big = { wide, big: '𝄞😀é'.repeat(20_000), ...awkward('big') };
    const b = await call<ContextDto>('POST', '/v1/contexts', { model_id: 'b', mode: 'chat' });
    expect(b.status).toBe(201);
    const idB = b.body.id;
    const bPut = await call<{ config: { parameters: unknown } }>('PUT', `/v1/contexts/${idB}`, {
      parameters: big,
    });
    expect(bPut.status, bPut.text.slice(0, 200)).toBe(200);
    expect(JSON.stringify(bPut.body.config.parameters)).toBe(canonical(big));
    answers.set(idB, JSON.stringify(bPut.body.config));

    // A third: an object with as many keys as the codec can write (one more is refused),
    // created (snapshot) and written again (log frame).
    const keyed = (n: number) =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [i.toString(36), i % 7]));
    const tooMany = await call('POST', '/v1/contexts', {
      model_id: 'c',
      mode: 'c',
      parameters: keyed(MAX_JSON_OBJECT_KEYS + 1),
    });
    expect(tooMany.status, tooMany.text).toBe(400);
    const c = await call<ContextDto>('POST', '/v1/contexts', {
      model_id: 'c',
      mode: 'c',
      parameters: keyed(MAX_JSON_OBJECT_KEYS),
    });
    expect(c.status, c.text.slice(0, 200)).toBe(201);
    const idC = c.body.id;
    const cPut = await call<{ config: { parameters: unknown } }>('PUT', `/v1/contexts/${idC}`, {
      parameters: { ...keyed(MAX_JSON_OBJECT_KEYS - 1), last: TEXT },
    });
    expect(cPut.status, cPut.text.slice(0, 200)).toBe(200);
    answers.set(idC, JSON.stringify(cPut.body.config));

    // What each path shows now.
    const routes = [
      `/v1/contexts/${idA}`,
      `/v1/contexts/${idA}/messages?limit=1000`,
      `/v1/contexts/${idA}/messages?branch=alt&limit=1000`,
      `/v1/contexts/${idA}/state`,
      `/v1/contexts/${idB}`,
      `/v1/contexts/${idC}`,
      '/v1/system-prompts',
      `/v1/system-prompts/${prompt.id}`,
    ];
    const capture = async () => {
      // The listing first: after a restart it comes from the start-up scan alone.
      const listing = await call<{ contexts: { id: string; config: unknown }[] }>(
        'GET',
        '/v1/contexts?limit=100',
      );
      const rest = await Promise.all(
        routes.map(async (r) => {
          const res = await call('GET', r);
          return `${res.status} ${res.headers.get('etag')} ${res.text}`;
        }),
      );
      return { listing, texts: [`${listing.status} ${listing.text}`, ...rest] };
    };
    const check = async () => {
      const { listing, texts } = await capture();
      const getA = await call<{ config: unknown }>('GET', `/v1/contexts/${idA}`);
      const getB = await call<{ config: unknown }>('GET', `/v1/contexts/${idB}`);
      // The PUT answers, GET and the listing show the same config.
      expect(JSON.stringify(getA.body.config)).toBe(JSON.stringify(put2Res.body.config));
      expect(JSON.stringify(getB.body.config)).toBe(answers.get(idB));
      const getC = await call<{ config: unknown }>('GET', `/v1/contexts/${idC}`);
      expect(JSON.stringify(getC.body.config)).toBe(answers.get(idC));
      const listed = new Map(listing.body.contexts.map((c) => [c.id, JSON.stringify(c.config)]));
      expect(listed.get(idA)).toBe(JSON.stringify(getA.body.config));
      expect(listed.get(idB)).toBe(JSON.stringify(getB.body.config));
      expect(listed.get(idC)).toBe(JSON.stringify(getC.body.config));
      // Every message page shows each message exactly as its 201 did.
      const page = await call<{ messages: unknown[] }>(
        'GET',
        `/v1/contexts/${idA}/messages?limit=1000`,
      );
      expect(page.body.messages.map((m) => JSON.stringify(m))).toEqual(sentMessages);
      const alt = await call<{
        branches: { name: string; system_prompt: unknown; user_prompt: unknown }[];
      }>('GET', `/v1/contexts/${idA}`);
      const altBranch = alt.body.branches.find((br) => br.name === 'alt')!;
      expect(altBranch.system_prompt).toEqual(branchUpdate.system_prompt);
      expect(altBranch.user_prompt).toBe(branchUpdate.user_prompt);
      const lib = await call<{ id: string; content: string }>(
        'GET',
        `/v1/system-prompts/${prompt.id}`,
      );
      expect(lib.body).toEqual(prompt);
      const h = await health(server.url);
      expect(h.corrupt_contexts).toBe(0);
      expect(h.contexts).toBe(3);
      return texts;
    };

    const before = await check();
    expect(await server.stop()).toBe(0);
    server = await startServerProcess(data.dir, env);
    started.push(server);
    try {
      const scanned = await health(server.url);
      expect(scanned.corrupt_contexts).toBe(0);
      expect(scanned.resident_contexts).toBe(0); // nothing loaded yet: the listing is the scan
      expect(await check()).toEqual(before);
      // Read back from storage, the GET body still PUTs back unchanged.
      await putBack(idA);
      // Nothing was logged as unreadable: no warning or error at all.
      const warnings = server.logs.filter((l) => (JSON.parse(l) as { level: number }).level >= 40);
      expect(warnings).toEqual([]);
    } finally {
      await server.stop();
    }
  }, 240_000); // two server starts and ~3 MB of writes: generous on a loaded machine
});
