import type { Context } from 'hono';
import { AppError, badRequest } from '../errors.js';
import { checkJsonValue, MAX_BODY_DEPTH } from '../model/json-value.js';
import { requestBytes } from './body-limit.js';
import { requestHeader } from './node-io.js';

/** Strict: an invalid byte sequence would otherwise be stored as U+FFFD, changed silently. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The request's JSON body: 415 unless it is declared `application/json`, 400 when it is not
 * UTF-8, does not parse, or breaks the rules of `checkJsonValue` (Unicode, reserved keys,
 * key count, finite numbers, and the body's own nesting up to `MAX_BODY_DEPTH`). The depth of
 * each stored free-form value is measured from that value by the field validators
 * (src/model/validate.ts). (The size limit, 413, is enforced by the body-limit middleware,
 * src/http/body-limit.ts.)
 */
export async function readJson(c: Context): Promise<unknown> {
  const type = requestHeader(c, 'content-type') ?? '';
  const mediaType = type.split(';')[0]!.trim().toLowerCase();
  if (mediaType !== 'application/json') {
    throw new AppError(415, 'unsupported_media_type', 'the request body must be application/json');
  }
  const bytes = await requestBytes(c);
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    throw badRequest('the request body is not valid UTF-8', 'invalid_json');
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw badRequest('the request body is not valid JSON', 'invalid_json');
  }
  checkJsonValue(body, 'request body', MAX_BODY_DEPTH);
  return body;
}
