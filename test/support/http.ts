/**
 * Small HTTP helpers, for tests against a real server on loopback (global fetch) or an app
 * in this process (support/in-process.ts: `app.request()`, no socket), by the URL's origin.
 */

/** What answers in process: hono's `app.request()`. */
interface InProcessApp {
  request(input: string, init?: RequestInit): Response | Promise<Response>;
}

const inProcess = new Map<string, InProcessApp>();

/** Requests to `origin` go to `app.request()` until the returned function is called. */
export function answerInProcess(origin: string, app: InProcessApp): () => void {
  inProcess.set(origin, app);
  return () => inProcess.delete(origin);
}

/** `fetch`, or the in-process app's `request()` when one answers at the URL's origin. */
export async function fetchAt(url: string, init: RequestInit = {}): Promise<Response> {
  const app = inProcess.get(new URL(url).origin);
  return app === undefined ? fetch(url, init) : app.request(url, init);
}

export interface JsonResponse<T = unknown> {
  status: number;
  headers: Headers;
  text: string;
  body: T;
}

export async function request<T = unknown>(
  url: string,
  init: { method?: string; json?: unknown; body?: string; headers?: Record<string, string> } = {},
): Promise<JsonResponse<T>> {
  const headers: Record<string, string> = { ...init.headers };
  let body = init.body;
  if (init.json !== undefined) {
    body = JSON.stringify(init.json);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetchAt(url, { method: init.method ?? 'GET', headers, body });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, text, body: parsed as T };
}

export interface ContextDto {
  id: string;
  version: number;
  message_count: number;
  active_branch_name: string;
  current_state: string;
}

export interface MessageDto {
  id: string;
  parent_id: string | null;
  role: string;
  content: { type: string; text?: string }[];
}

export interface MessagePage {
  messages: MessageDto[];
  total: number;
  limit: number;
  offset: number;
}

export async function createContext(base: string, body: unknown = {}): Promise<ContextDto> {
  const res = await request<ContextDto>(`${base}/v1/contexts`, {
    method: 'POST',
    json: { model_id: 'test-model', mode: 'chat', ...(body as object) },
  });
  if (res.status !== 201) throw new Error(`create failed: ${res.status} ${res.text}`);
  return res.body;
}

export async function appendMessage(
  base: string,
  id: string,
  content: string,
  role = 'user',
): Promise<JsonResponse<MessageDto>> {
  return request<MessageDto>(`${base}/v1/contexts/${id}/messages`, {
    method: 'POST',
    json: { role, content },
  });
}

/** Checks that each message's parent is the one before it: a consistent chain. */
export function chainIsConsistent(messages: MessageDto[]): boolean {
  return messages.every((m, i) => m.parent_id === (i === 0 ? null : messages[i - 1]!.id));
}
