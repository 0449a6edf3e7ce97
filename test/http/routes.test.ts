import { describe, expect, test } from 'vitest';
import { openApiJson } from '../../src/http/openapi-document.js';
import { request } from '../support/http.js';
import { useApp } from '../support/in-process.js';

const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';

/** What the app answers where no route matches, and its document route (in process). */
describe('routes the app does not serve, and /openapi.json (in process)', () => {
  const app = useApp({ env: { API_TOKEN: 'routes-secret' } });
  const auth = { authorization: 'Bearer routes-secret' };

  const expectNotFound = (res: { status: number; headers: Headers; body: unknown }) => {
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.body).toEqual({ error: 'no such route', code: 'not_found' });
  };

  test.each(['/nope', '/v1', '/v1/nope', `/v1/contexts/${UNKNOWN_ID}/nope`, '/health/x'])(
    'GET %s → 404 not_found JSON',
    async (path) => {
      expectNotFound(await request(`${app.url}${path}`, { headers: auth }));
    },
  );

  // The API answers a method a path does not serve as it answers an unknown path: 404.
  test.each([
    ['DELETE', '/health'],
    ['POST', '/openapi.json'],
    ['PATCH', '/v1/contexts'],
    ['PUT', '/v1/system-prompts'],
    ['DELETE', `/v1/contexts/${UNKNOWN_ID}/messages`],
  ])('%s %s → 404 not_found JSON', async (method, path) => {
    expectNotFound(await request(`${app.url}${path}`, { method, headers: auth }));
  });

  test('GET /openapi.json serves the document, without the token', async () => {
    const res = await request(`${app.url}/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.body).toEqual(JSON.parse(openApiJson()));
  });
});
