import fs from 'node:fs';
import path from 'node:path';
import { pack } from 'msgpackr';
import { describe, expect, test } from 'vitest';
import { createContext, request } from '../support/http.js';
import { useApp } from '../support/in-process.js';

/**
 * Issue 9, defect 6: a prompt id must be a URL path segment that addresses the prompt. `..`
 * used to be accepted (201, `Location: /v1/system-prompts/..`) and could then never be read,
 * changed or deleted, since URL parsers resolve `.` and `..` away. A new id now starts with
 * a letter or digit; ids a library already holds from before stay reachable.
 */
describe('system-prompt ids (in process)', () => {
  const live = useApp({
    prefix: 'ccs-prompt-ids-',
    // A library written under the older rule: ids starting with "_" or "-".
    prepare: (dir) => {
      const legacy = [
        { id: '-dash', content: 'legacy dash' },
        { id: '_under', content: 'legacy underscore' },
      ];
      fs.writeFileSync(path.join(dir, 'system-prompts.msgpack'), pack(legacy));
    },
  });

  const post = (id: unknown) =>
    request<{ code: string }>(`${live.url}/v1/system-prompts`, {
      method: 'POST',
      json: { id, content: 'x' },
    });

  test.each(['..', '.', '...', '.hidden', '-x', '_x', '', 'a/b', 'a b', 'é', 'x'.repeat(129)])(
    'POST id %j → 400, nothing stored',
    async (id) => {
      const before = (await request(`${live.url}/v1/system-prompts`)).text;
      const res = await post(id);
      expect(res.status, res.text).toBe(400);
      expect(res.body).toEqual({
        error: expect.stringMatching(/letter or digit/),
        code: 'validation_error',
      });
      expect((await request(`${live.url}/v1/system-prompts`)).text).toBe(before);
    },
  );

  test.each(['a', 'Z9', 'x.y_z-1', 'a..b', 'v1.2.3', 'x'.repeat(128)])(
    'POST id %j → 201, and GET, PUT, DELETE at its Location work',
    async (id) => {
      const created = await post(id);
      expect(created.status, created.text).toBe(201);
      const location = created.headers.get('location')!;
      expect(location).toBe(`/v1/system-prompts/${id}`);
      const url = `${live.url}${location}`;
      expect((await request(url)).body).toEqual({ id, content: 'x' });
      const put = await request(url, { method: 'PUT', json: { content: 'y' } });
      expect(put.status).toBe(200);
      expect((await request(url)).body).toEqual({ id, content: 'y' });
      expect((await request(url, { method: 'DELETE' })).status).toBe(204);
      expect((await request(url)).status).toBe(404);
    },
  );

  test('an inline branch prompt id follows the same rule', async () => {
    const ctx = await createContext(live.url);
    const branch = `${live.url}/v1/contexts/${ctx.id}/branches/main`;
    for (const id of ['..', '.', '-x']) {
      const res = await request<{ code: string }>(branch, {
        method: 'PUT',
        json: { system_prompt: { id, content: 'inline' } },
      });
      expect(res.status, res.text).toBe(400);
    }
    const ok = await request(branch, {
      method: 'PUT',
      json: { system_prompt: { id: 'inline-1', content: 'inline' } },
    });
    expect(ok.status, ok.text).toBe(200);
  });

  test('ids stored under the older rule stay reachable: GET, use, PUT, DELETE', async () => {
    const list = await request<{ system_prompts: { id: string }[] }>(
      `${live.url}/v1/system-prompts`,
    );
    expect(list.body.system_prompts.map((p) => p.id)).toEqual(
      expect.arrayContaining(['-dash', '_under']),
    );
    for (const id of ['-dash', '_under']) {
      const url = `${live.url}/v1/system-prompts/${id}`;
      expect((await request(url)).status).toBe(200);
      const ctx = await createContext(live.url, { system_prompt_id: id });
      const branch = await request(`${live.url}/v1/contexts/${ctx.id}/branches/main`, {
        method: 'PUT',
        json: { system_prompt_id: id },
      });
      expect(branch.status, branch.text).toBe(200);
      expect((await request(url, { method: 'PUT', json: { content: 'new' } })).status).toBe(200);
      expect((await request(url, { method: 'DELETE' })).status).toBe(409); // in use
      expect((await request(`${url}?force=true`, { method: 'DELETE' })).status).toBe(204);
    }
  });
});
