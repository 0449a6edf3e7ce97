import { describe, expect, test } from 'vitest';
import { request } from '../support/http.js';
import { useApp } from '../support/in-process.js';

/**
 * `API_TOKEN`: `/v1` requires `Authorization: Bearer <token>`, the scheme in any case (RFC
 * 7235 makes auth schemes case-insensitive). The comparison itself is constant-time
 * (SHA-256 digests compared with `timingSafeEqual`, src/http/auth.ts); no test here times it.
 */
describe('bearer token (in process)', () => {
  const token = 's3cret-Token.with~chars';
  const live = useApp({ prefix: 'ccs-auth-', env: { API_TOKEN: token } });

  const listWith = (authorization: string | undefined) =>
    request<{ error: string; code: string }>(`${live.url}/v1/contexts`, {
      headers: authorization === undefined ? {} : { authorization },
    });

  test.each([
    `Bearer ${token}`,
    `bearer ${token}`,
    `BEARER ${token}`,
    `bEaReR ${token}`,
    `Bearer   ${token}`,
  ])('%j is accepted', async (authorization) => {
    const res = await listWith(authorization);
    expect(res.status, res.text).toBe(200);
  });

  test.each([
    undefined,
    '',
    'Bearer',
    'Bearer ',
    `Bearer${token}`,
    `Basic ${token}`,
    `Bearer ${token}x`,
    `Bearer ${token.slice(0, -1)}`,
    `Bearer ${token.toUpperCase()}`,
    `Bearer x${token}`,
    `Bearer ${token} ${token}`,
  ])('%j → 401 with WWW-Authenticate and a JSON error', async (authorization) => {
    const res = await listWith(authorization);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    expect(res.body).toEqual({ error: expect.any(String), code: 'unauthorized' });
  });

  test('writes need the token too; /health does not', async () => {
    const denied = await request(`${live.url}/v1/contexts`, {
      method: 'POST',
      json: { model_id: 'm', mode: 'chat' },
    });
    expect(denied.status).toBe(401);
    const created = await request(`${live.url}/v1/contexts`, {
      method: 'POST',
      json: { model_id: 'm', mode: 'chat' },
      headers: { authorization: `bearer ${token}` },
    });
    expect(created.status).toBe(201);
    expect((await request(`${live.url}/health`)).status).toBe(200);
  });
});
