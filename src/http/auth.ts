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
  const accepts = bearerCheck(token);
  return async (c, next) => {
    if (!accepts(requestHeader(c, 'authorization'))) {
      c.header('WWW-Authenticate', 'Bearer');
      return c.json({ error: 'a valid bearer token is required', code: 'unauthorized' }, 401);
    }
    await next();
  };
}

/** Whether an `Authorization` header value carries `token` (see `bearerAuth`). */
export function bearerCheck(token: string): (authorization: string | undefined) => boolean {
  const expected = digest(token);
  return (authorization) => {
    const given = BEARER.exec(authorization ?? '')?.[1];
    return given !== undefined && timingSafeEqual(digest(given), expected);
  };
}
