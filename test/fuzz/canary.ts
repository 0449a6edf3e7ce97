import { request } from '../support/http.js';

/**
 * Canary data, made before the fuzz through the public API and never named by a fuzz
 * request: contexts with messages (Unicode at its edges, tool calls and results), a fork
 * with its own prompts, parameters nested a few levels, and a library prompt in use.
 * Their answers must stay byte-identical through the fuzz and a restart.
 */
export const CANARY_PROMPT_ID = 'canary-prompt';

const TEXTS = [
  'hello',
  'astral 😀 𝄞 and RTL \u202eevil\u202c מילים مرحبا',
  'NUL \u0000 inside, BOM \ufeff, replacement \ufffd, separators \u2028\u2029',
  'e\u0301 combining; z̷̢a̶l̴g̵o̸',
  'x'.repeat(3000),
];

async function ok<T>(
  res: Promise<{ status: number; text: string; body: unknown }>,
  expect: number,
): Promise<T> {
  const r = await res;
  if (r.status !== expect)
    throw new Error(`canary setup: expected ${expect}, got ${r.status} ${r.text}`);
  return r.body as T;
}

export async function createCanaries(base: string): Promise<string[]> {
  const post = (path: string, json: unknown) => request(`${base}${path}`, { method: 'POST', json });
  await ok(
    post('/v1/system-prompts', { id: CANARY_PROMPT_ID, content: 'You are a canary 🐤.' }),
    201,
  );
  const ids: string[] = [];
  for (let c = 0; c < 3; c++) {
    const ctx = await ok<{ id: string }>(
      post('/v1/contexts', {
        model_id: `canary-model-${c}`,
        mode: 'chat',
        system_prompt_id: c === 0 ? CANARY_PROMPT_ID : null,
        parameters: {
          temperature: 0.25 * c,
          stop: ['\n\n', 'END'],
          nested: { level2: { level3: { level4: [1, 'two', { five: [null, true, 1.5e-7] }] } } },
          text: TEXTS[1],
        },
      }),
      201,
    );
    ids.push(ctx.id);
    const messageIds: string[] = [];
    for (let m = 0; m < 12; m++) {
      const role = m % 3 === 2 ? 'assistant' : 'user';
      const body: Record<string, unknown> = { role, content: `${m}: ${TEXTS[m % TEXTS.length]}` };
      if (role === 'assistant' && m % 2 === 0) {
        body.tool_calls = [
          {
            id: `call_canary_${c}_${m}`,
            tool_name: 'calculator',
            arguments: { expression: '6*7' },
            ui_hints: { icon: '🧮' },
          },
        ];
      }
      const msg = await ok<{ id: string }>(post(`/v1/contexts/${ctx.id}/messages`, body), 201);
      messageIds.push(msg.id);
    }
    await ok(
      post(`/v1/contexts/${ctx.id}/messages`, {
        role: 'tool',
        content: '42',
        tool_result: { request_id: `call_canary_${c}_8`, result: { value: 42, unit: null } },
      }),
      201,
    );
    await ok(
      post(`/v1/contexts/${ctx.id}/branches`, { name: 'alt', at_message_id: messageIds[5] }),
      201,
    );
    await ok(
      post(`/v1/contexts/${ctx.id}/messages`, { role: 'user', content: 'on alt', branch: 'alt' }),
      201,
    );
    await ok(
      request(`${base}/v1/contexts/${ctx.id}/branches/alt`, {
        method: 'PUT',
        json: { system_prompt: { content: 'inline canary prompt' }, user_prompt: 'be brief ✂' },
      }),
      200,
    );
    if (c === 2) {
      await ok(
        post(`/v1/contexts/${ctx.id}/actions/send_message`, { content: 'canary turn' }),
        200,
      );
    }
  }
  return ids;
}

/** Every answer that describes the canaries, by a name for the report. */
export async function snapshotCanaries(base: string, ids: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const get = async (path: string) => {
    const res = await request(`${base}${path}`);
    out.set(path, `${res.status} ${res.text}`);
    return res;
  };
  const listing = await allListed(base);
  for (const id of ids) {
    const ctx = await get(`/v1/contexts/${id}`);
    await get(`/v1/contexts/${id}/state`);
    const branches = ((ctx.body as { branches?: { name: string }[] }).branches ?? []).map(
      (b) => b.name,
    );
    for (const branch of branches) {
      await get(`/v1/contexts/${id}/messages?branch=${branch}&limit=1000`);
      await get(`/v1/contexts/${id}/messages?branch=${branch}&limit=3&offset=4`);
    }
    out.set(`listing entry ${id}`, JSON.stringify(listing.get(id) ?? null));
  }
  await get(`/v1/system-prompts/${CANARY_PROMPT_ID}`);
  return out;
}

/** The whole listing, as id → entry (pages of 1000). */
export async function allListed(base: string): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  for (let offset = 0; ; offset += 1000) {
    const res = await request<{ contexts: { id: string }[]; total: number }>(
      `${base}/v1/contexts?limit=1000&offset=${offset}`,
    );
    if (res.status !== 200) throw new Error(`listing answered ${res.status} ${res.text}`);
    for (const entry of res.body.contexts) out.set(entry.id, entry);
    if (res.body.contexts.length < 1000) return out;
  }
}

/** Names of entries that differ between two snapshots (or are missing from one). */
export function differences(before: Map<string, string>, after: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [key, value] of before) {
    const now = after.get(key);
    if (now !== value)
      out.push(`${key}: before ${clip(value)} | after ${clip(now ?? '(missing)')}`);
  }
  return out;
}

function clip(text: string): string {
  return text.length <= 240 ? text : `${text.slice(0, 240)}… (${text.length} chars)`;
}
