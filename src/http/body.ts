import type { Context } from 'hono';
import { AppError, badRequest } from '../errors.js';
import { checkJsonValue } from '../model/json-value.js';

/**
 * The request's JSON body: 415 unless it is declared `application/json`, 400 when it does
 * not parse or breaks the rules of `checkJsonValue` (depth, Unicode, reserved keys). (The
 * size limit, 413, is enforced earlier by the body-limit middleware.)
 */
export async function readJson(c: Context): Promise<unknown> {
  const type = c.req.header('content-type') ?? '';
  const mediaType = type.split(';')[0]!.trim().toLowerCase();
  if (mediaType !== 'application/json') {
    throw new AppError(415, 'unsupported_media_type', 'the request body must be application/json');
  }
  const text = await c.req.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw badRequest('the request body is not valid JSON', 'invalid_json');
  }
  checkJsonValue(body);
  return body;
}
