import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './env.js';
import { requestHeader } from './node-io.js';

/** `Bearer <credentials>`, the scheme in any case (RFC 7235: schemes are case-insensitive). */
const BEARER = /^bearer +(.+)$/i;

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/**
 * Requires `Authorization: Bearer <token>`, else 401 with `WWW-Authenticate: Bearer`. The
 * presented credentials are compared with the token in constant time: both are hashed to
 * equal-length SHA-256 digests first, so neither the content nor the length of the token
 * leaks through the time a comparison takes.
 */
export function bearerAuth(token: string): MiddlewareHandler<AppEnv> {
  const expected = digest(token);
  return async (c, next) => {
    const given = BEARER.exec(requestHeader(c, 'authorization') ?? '')?.[1];
    if (given === undefined || !timingSafeEqual(digest(given), expected)) {
      c.header('WWW-Authenticate', 'Bearer');
      return c.json({ error: 'a valid bearer token is required', code: 'unauthorized' }, 401);
    }
    await next();
  };
}
