import type { FuzzResponse } from './client.js';
import type { FuzzRequest, FuzzWorld } from './requests.js';

/** A broken promise, with the request and response that show it. */
export interface Violation {
  check: string;
  route: string;
  request: string;
  response: string;
}

const SHOW = 300;

function clip(text: string): string {
  return text.length <= SHOW ? text : `${text.slice(0, SHOW)}… (${text.length} chars)`;
}

export function describeRequest(req: FuzzRequest): string {
  if (req.raw !== undefined) return `RAW ${JSON.stringify(clip(req.raw.toString('latin1')))}`;
  const headers = Object.keys(req.headers).length > 0 ? ` ${JSON.stringify(req.headers)}` : '';
  const body =
    req.body === undefined ? '' : ` body ${JSON.stringify(clip(req.body.toString('utf8')))}`;
  return `${req.method} ${clip(req.path)}${headers}${body}`;
}

export function describeResponse(res: FuzzResponse): string {
  const failure = res.failure === undefined ? '' : ` (${res.failure})`;
  return `${res.status}${failure} ${clip(res.body.toString('utf8'))}`;
}

/** The turn routes, whose failures may carry the settled context (see `isErrorBody`). */
const TURN_ROUTE = /\/actions\/(send_message|approve_tools)(\?|$)/;

/**
 * Is `text` exactly `{"error": string, "code": string}` (no other keys)? The one documented
 * exception (docs/openapi.yaml, `TurnFailure` and `LlmFailure`): a turn that failed after it
 * took the context answers with the settled `context` (an object) and `status` too.
 */
export function isErrorBody(text: string, path = ''): boolean {
  try {
    const body = JSON.parse(text) as unknown;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
    const { error, code } = body as { error?: unknown; code?: unknown };
    if (typeof error !== 'string' || typeof code !== 'string') return false;
    const extra = Object.keys(body)
      .filter((k) => k !== 'error' && k !== 'code')
      .sort();
    if (extra.length === 0) return true;
    const { context, status } = body as { context?: unknown; status?: unknown };
    return (
      TURN_ROUTE.test(path) &&
      extra.join() === 'context,status' &&
      typeof context === 'object' &&
      context !== null &&
      typeof status === 'string'
    );
  } catch {
    return false;
  }
}

/**
 * The per-response promises: an answer always comes; never a 5xx; every error is exactly
 * `{error, code}` (a failed turn's may add its settled context); every JSON success parses.
 */
export function checkResponse(
  req: FuzzRequest,
  res: FuzzResponse,
  maxBodyBytes = Number.POSITIVE_INFINITY,
): Violation | undefined {
  const violation = (check: string): Violation => ({
    check,
    route: req.route,
    request: describeRequest(req),
    response: describeResponse(res),
  });
  if (res.status === 0) {
    const dropped =
      res.failure === 'closed without a response' || res.failure?.includes('ECONNRESET');
    // A server may answer 413 and close while an oversized upload is still being written:
    // the client then fails its write (EPIPE) before it reads the answer.
    const oversized =
      (req.body?.length ?? 0) > maxBodyBytes &&
      (res.failure?.includes('EPIPE') || res.failure?.includes('ECONNRESET'));
    return (req.closeAllowed && dropped) || oversized ? undefined : violation('no_response');
  }
  if (res.status >= 500) return violation('status_5xx');
  const noBody = req.method === 'HEAD' || res.status === 204 || res.status === 304;
  if (res.status >= 400 && !noBody && !isErrorBody(res.body.toString('utf8'), req.path)) {
    return violation('error_body_shape');
  }
  const type = String(res.headers['content-type'] ?? '');
  if (res.status < 300 && type.startsWith('application/json') && !noBody) {
    try {
      JSON.parse(res.body.toString('utf8'));
    } catch {
      return violation('success_body_not_json');
    }
  }
  return undefined;
}

function jsonOf(res: FuzzResponse): Record<string, unknown> | undefined {
  try {
    return JSON.parse(res.body.toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

const CONTEXT_PATH = /^\/v1\/contexts\/([0-9a-f-]{36})(?:\/([a-z_/]+))?(?:\/([^/?]+))?/;

/** Learns from a response what the fuzz now owns: contexts, branches, prompts, tool calls. */
export function learn(
  world: FuzzWorld,
  created: Set<string>,
  req: FuzzRequest,
  res: FuzzResponse,
): void {
  if (req.raw !== undefined) return;
  const path = req.path.split('?')[0]!;
  if (req.method === 'POST' && path === '/v1/contexts' && res.status === 201) {
    const id = jsonOf(res)?.id;
    if (typeof id === 'string') {
      world.contexts.push(id);
      world.branches.set(id, ['main']);
      created.add(id);
    }
    return;
  }
  if (path === '/v1/system-prompts' && req.method === 'POST' && res.status === 201) {
    const id = jsonOf(res)?.id;
    if (typeof id === 'string') world.prompts.push(id);
    return;
  }
  if (path.startsWith('/v1/system-prompts/') && req.method === 'DELETE' && res.status === 204) {
    try {
      const id = decodeURIComponent(path.slice('/v1/system-prompts/'.length));
      world.prompts = world.prompts.filter((p) => p !== id);
    } catch {
      // an undecodable id was not one of ours
    }
    return;
  }
  const match = CONTEXT_PATH.exec(path);
  if (match === null) return;
  const [, id, sub, name] = match as unknown as [
    string,
    string,
    string | undefined,
    string | undefined,
  ];
  if (sub === undefined && req.method === 'DELETE' && res.status === 204) {
    world.contexts = world.contexts.filter((c) => c !== id);
    world.branches.delete(id);
    created.delete(id);
  } else if (sub === 'branches' && req.method === 'POST' && res.status === 201) {
    const branch = jsonOf(res)?.name;
    if (typeof branch === 'string') world.branches.get(id)?.push(branch);
  } else if (
    sub === 'branches' &&
    name !== undefined &&
    req.method === 'DELETE' &&
    res.status === 204
  ) {
    const list = world.branches.get(id);
    if (list !== undefined)
      world.branches.set(
        id,
        list.filter((b) => encodeURIComponent(b) !== name),
      );
  } else if (sub === 'messages' && req.method === 'GET' && res.status === 200) {
    for (const m of res.body.toString('utf8').matchAll(/"id":"([^"]{1,64})","tool_name"/g)) {
      if (world.toolCallIds.length < 200) world.toolCallIds.push(m[1]!);
    }
  }
}
