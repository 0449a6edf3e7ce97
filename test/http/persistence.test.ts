import { describe, expect, test } from 'vitest';
import { appendMessage, createContext, request } from '../support/http.js';
import { startServerProcess, useDataDir } from '../support/server-process.js';

describe('persistence across a restart on the same data dir', () => {
  const data = useDataDir();

  test('every context and message comes back byte-identical through the API', async () => {
    // A small compaction threshold exercises both paths: snapshot + log replay.
    const env = { COMPACT_AFTER_RECORDS: '7' };
    const first = await startServerProcess(data.dir, env);
    const ids: string[] = [];
    for (let c = 0; c < 4; c++) {
      const ctx = await createContext(first.url, { parameters: { temperature: c / 10 } });
      ids.push(ctx.id);
      for (let m = 0; m < c * 6; m++) {
        const res = await appendMessage(first.url, ctx.id, `context ${c} message ${m} ✓`);
        expect(res.status).toBe(201);
      }
    }
    const renamed = await request(`${first.url}/v1/contexts/${ids[1]}`, {
      method: 'PUT',
      json: { model_id: 'other-model' },
    });
    expect(renamed.status).toBe(200);
    const deleted = await request(`${first.url}/v1/contexts/${ids[3]}`, { method: 'DELETE' });
    expect(deleted.status).toBe(204);

    const paths = [
      '/v1/contexts?limit=100',
      ...ids.flatMap((id) => [
        `/v1/contexts/${id}`,
        `/v1/contexts/${id}/messages?limit=1000`,
        `/v1/contexts/${id}/state`,
      ]),
    ];
    const capture = async (base: string) =>
      Promise.all(
        paths.map(async (p) => {
          const res = await request(`${base}${p}`);
          return `${res.status} ${res.headers.get('etag')} ${res.text}`;
        }),
      );
    const before = await capture(first.url);
    expect(await first.stop()).toBe(0);

    const second = await startServerProcess(data.dir, env);
    try {
      expect(await capture(second.url)).toEqual(before);
      const gone = await request(`${second.url}/v1/contexts/${ids[3]}`);
      expect(gone.status).toBe(404);
    } finally {
      await second.stop();
    }
  });
});
