import { Hono } from 'hono';
import type { AppEnv } from '../env.js';
import { openApiJson } from '../openapi-document.js';

/** `GET /openapi.json`: the API's OpenAPI 3.1 document (outside `/v1`, no auth). */
export function openApiRoutes(): Hono<AppEnv> {
  const json = openApiJson(); // at start-up: a missing or broken document fails fast
  const app = new Hono<AppEnv>();
  app.get('/openapi.json', (c) =>
    c.body(json, 200, { 'Content-Type': 'application/json; charset=utf-8' }),
  );
  return app;
}
