import { describe, expect, test } from 'vitest';
import { appendMessage, createContext, type MessagePage, request } from '../support/http.js';
import { useApp } from '../support/in-process.js';
import { useServer } from '../support/server-process.js';

interface Health {
  shared_bytes: { usedBytes: number; liveBlocks: number };
}

describe('branches and the system-prompt library (in process)', () => {
  const server = useApp();
  const page = async (id: string, branch: string) =>
    (
      await request<MessagePage>(
        `${server.url}/v1/contexts/${id}/messages?branch=${branch}&limit=1000`,
      )
    ).body;

  test('fork at a message: both branches hold the right messages, sharing records', async () => {
    const { id } = await createContext(server.url);
    for (let i = 0; i < 10; i++) await appendMessage(server.url, id, `${i} ${'x'.repeat(1000)}`);
    const main = await page(id, 'main');
    const at = main.messages[2]!.id;

    const before = (await request<Health>(`${server.url}/health`)).body.shared_bytes;
    const fork = await request<{ name: string; message_count: number }>(
      `${server.url}/v1/contexts/${id}/branches`,
      { method: 'POST', json: { name: 'alt', from_branch: 'main', at_message_id: at } },
    );
    const after = (await request<Health>(`${server.url}/health`)).body.shared_bytes;
    expect(fork.status).toBe(201);
    expect(fork.body).toMatchObject({ name: 'alt', message_count: 3 });
    // Checked through the store: the fork added exactly one block (the new branch's array
    // of refs); metadata and branch table were replaced one for one; no record was copied.
    expect(after.liveBlocks - before.liveBlocks).toBe(1);
    expect(after.usedBytes - before.usedBytes).toBeLessThan(1000);

    const alt = await page(id, 'alt');
    expect(alt.messages).toEqual(main.messages.slice(0, 3));
    const added = await request<{ id: string; parent_id: string }>(
      `${server.url}/v1/contexts/${id}/messages`,
      { method: 'POST', json: { role: 'user', content: 'on alt', branch: 'alt' } },
    );
    expect(added.body.parent_id).toBe(at);
    expect((await page(id, 'alt')).total).toBe(4);
    expect((await page(id, 'main')).total).toBe(10);

    const ctx = await request<{ branches: { name: string; message_count: number }[] }>(
      `${server.url}/v1/contexts/${id}`,
    );
    expect(ctx.body.branches.map((b) => [b.name, b.message_count])).toEqual([
      ['main', 10],
      ['alt', 4],
    ]);
  });

  test('fork errors, switching the active branch, deleting branches', async () => {
    const { id } = await createContext(server.url);
    await appendMessage(server.url, id, 'one');
    const post = (json: unknown) =>
      request<{ code: string }>(`${server.url}/v1/contexts/${id}/branches`, {
        method: 'POST',
        json,
      });
    expect((await post({ name: 'b1' })).status).toBe(201);
    expect((await post({ name: 'b1' })).status).toBe(409);
    expect((await post({ name: 'b2', from_branch: 'nope' })).status).toBe(404);
    expect(
      (await post({ name: 'b3', at_message_id: '0b6f3c1e-2d4a-4b8c-9e7f-000000000000' })).status,
    ).toBe(404);
    expect((await post({ name: 'bad name!' })).status).toBe(400);

    const switched = await request<{ active_branch_name: string; message_count: number }>(
      `${server.url}/v1/contexts/${id}`,
      { method: 'PUT', json: { active_branch_name: 'b1' } },
    );
    expect(switched.body.active_branch_name).toBe('b1');
    await appendMessage(server.url, id, 'to the active branch');
    expect((await page(id, 'b1')).total).toBe(2);
    expect((await page(id, 'main')).total).toBe(1);

    const del = (name: string) =>
      request<{ code: string }>(`${server.url}/v1/contexts/${id}/branches/${name}`, {
        method: 'DELETE',
      });
    expect((await del('main')).status).toBe(409);
    expect((await del('b1')).status).toBe(409); // active
    expect((await del('nope')).status).toBe(404);
    await request(`${server.url}/v1/contexts/${id}`, {
      method: 'PUT',
      json: { active_branch_name: 'main' },
    });
    expect((await del('b1')).status).toBe(204);
    expect((await request(`${server.url}/v1/contexts/${id}/messages?branch=b1`)).status).toBe(404);
    expect((await page(id, 'main')).total).toBe(1);
  });

  test('system-prompt CRUD: duplicate 409, in use 409 unless force, unknown 404', async () => {
    const base = `${server.url}/v1/system-prompts`;
    const create = (json: unknown) => request<{ code: string }>(base, { method: 'POST', json });
    expect((await create({ id: 'helper', content: 'Be helpful.' })).status).toBe(201);
    expect((await create({ id: 'helper', content: 'again' })).status).toBe(409);
    expect((await create({ id: 'no spaces allowed', content: 'x' })).status).toBe(400);
    expect((await request(`${base}/helper`)).body).toEqual({
      id: 'helper',
      content: 'Be helpful.',
    });
    const updated = await request(`${base}/helper`, {
      method: 'PUT',
      json: { content: 'Be very helpful.' },
    });
    expect(updated.body).toEqual({ id: 'helper', content: 'Be very helpful.' });
    expect((await request(`${base}/missing`)).status).toBe(404);

    // In use by a context's config: refused without force.
    const ctx = await createContext(server.url, { system_prompt_id: 'helper' });
    const refused = await request<{ code: string }>(`${base}/helper`, { method: 'DELETE' });
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('prompt_in_use');
    // In use by a branch only: refused too.
    await create({ id: 'branchy', content: 'Branch prompt.' });
    await request(`${server.url}/v1/contexts/${ctx.id}/branches/main`, {
      method: 'PUT',
      json: { system_prompt_id: 'branchy' },
    });
    expect((await request(`${base}/branchy`, { method: 'DELETE' })).status).toBe(409);
    expect((await request(`${base}/helper?force=true`, { method: 'DELETE' })).status).toBe(204);
    expect((await request(`${base}/helper`)).status).toBe(404);

    // Unknown prompts are refused where they are referenced.
    expect(
      (
        await request(`${server.url}/v1/contexts`, {
          method: 'POST',
          json: { model_id: 'm', mode: 'chat', system_prompt_id: 'nope' },
        })
      ).status,
    ).toBe(404);
    const list = await request<{ prompts: { id: string }[] }>(base);
    expect(list.body.prompts.map((p) => p.id)).toContain('branchy');
  });
});

describe('the system-prompt library across a restart (real process)', () => {
  const server = useServer();

  test('the prompt library survives a restart', async () => {
    await request(`${server.url}/v1/system-prompts`, {
      method: 'POST',
      json: { id: 'durable', content: 'Remember me.' },
    });
    await server.process.stop();
    await server.start();
    const got = await request(`${server.url}/v1/system-prompts/durable`);
    expect(got.body).toEqual({ id: 'durable', content: 'Remember me.' });
  });
});
