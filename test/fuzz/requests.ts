import {
  BAD_UTF8,
  badUuidSegment,
  DEPTHS,
  deepJson,
  HOSTILE_SEGMENTS,
  hostileString,
  hostileValue,
  MALFORMED_JSON,
  PROTO_KEYS,
  QUERY_VALUES,
  toJsonText,
  UNICODE_STRINGS,
  withKey,
} from './hostile.js';
import type { Rng } from './rng.js';

/** One request of the fuzz: over an HTTP client, or (`raw`) as bytes on a fresh socket. */
export interface FuzzRequest {
  /** The route it aims at, e.g. `POST /v1/contexts/{id}/messages`: for the summary. */
  route: string;
  method: string;
  /** ASCII only (percent-encoded where needed); may hold invalid percent-encodings. */
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** The whole request, sent as is on its own connection (parser-level garbage). */
  raw?: Buffer;
  /** An event stream: read the head, then hang up. */
  sse?: boolean;
  /**
   * Raw bytes holding a complete request followed by garbage: the server may drop the
   * connection without an answer (an answer to the garbage would interleave with the one
   * to the request before it).
   */
  closeAllowed?: boolean;
}

/**
 * What the fuzz knows of the server's data: only what it created itself, so that the
 * canary contexts and prompts are never named by a fuzz request.
 */
export interface FuzzWorld {
  contexts: string[];
  branches: Map<string, string[]>;
  prompts: string[];
  toolCallIds: string[];
  maxBodyBytes: number;
}

type Json = Record<string, unknown>;

/** `!tool` arguments: mostly past the nesting limit, where a turn used to fail half-way. */
const TOOL_DEPTHS = [64, 65, 1000, 3000, 10_000] as const;

const CONTENT_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/json-patch+json',
  'application/jsonx',
  'APPLICATION/JSON',
  'application/json; charset=utf-16',
  'application/json;;',
  'application/json, text/plain',
  ' application/json ',
  'json',
];

export class RequestGenerator {
  constructor(
    private readonly rng: Rng,
    private readonly world: FuzzWorld,
  ) {}

  next(): FuzzRequest {
    const rng = this.rng;
    return rng.weighted<() => FuzzRequest>([
      [10, () => this.createContext()],
      [4, () => this.listContexts()],
      [6, () => this.getContext()],
      [7, () => this.putContext()],
      [1, () => this.deleteContext()],
      [6, () => this.getMessages()],
      [10, () => this.postMessage()],
      [3, () => this.getState()],
      [8, () => this.sendMessage()],
      [6, () => this.approveTools('actions/approve_tools')],
      [2, () => this.approveTools('tools/approve')],
      [5, () => this.fork()],
      [4, () => this.putBranch()],
      [2, () => this.deleteBranch()],
      [2, () => this.events()],
      [2, () => this.listPrompts()],
      [4, () => this.postPrompt()],
      [3, () => this.promptById()],
      [1, () => this.plain('GET /health', '/health')],
      [1, () => this.plain('GET /metrics', '/metrics')],
      [3, () => this.unknownRoute()],
      [2, () => this.rawRequest()],
    ])();
  }

  // ---- ids, names and queries -------------------------------------------------------------

  private contextSegment(): string {
    const { rng, world } = this;
    if (world.contexts.length > 0 && rng.chance(0.8)) return rng.pick(world.contexts);
    return rng.chance(0.5) ? rng.uuid() : badUuidSegment(rng);
  }

  private branchesOf(id: string): string[] {
    return this.world.branches.get(id) ?? ['main'];
  }

  private branchName(id: string, hostile = 0.3): string {
    const rng = this.rng;
    if (rng.chance(hostile)) {
      return rng.pick([
        ...HOSTILE_SEGMENTS,
        '...',
        '-x',
        'a/b',
        'a'.repeat(65),
        ...UNICODE_STRINGS,
      ]);
    }
    return rng.chance(0.5) ? rng.pick(this.branchesOf(id)) : `b-${rng.hex(4)}`;
  }

  private promptSegment(): string {
    const { rng, world } = this;
    if (world.prompts.length > 0 && rng.chance(0.6)) {
      return encodeSegment(rng.pick(world.prompts));
    }
    return rng.pick([...HOSTILE_SEGMENTS, `fuzz-none-${rng.hex(4)}`]);
  }

  private queryValue(valid: () => string): string {
    return this.rng.chance(0.5) ? valid() : this.rng.pick(QUERY_VALUES);
  }

  private query(params: Record<string, () => string>): string {
    const rng = this.rng;
    const parts: string[] = [];
    for (const [name, valid] of Object.entries(params)) {
      if (rng.chance(0.6)) parts.push(`${name}=${this.queryValue(valid)}`);
      if (rng.chance(0.05)) parts.push(`${name}=${this.queryValue(valid)}`); // repeated
    }
    if (rng.chance(0.05)) parts.push(rng.pick(['%zz', '=', '&&', 'a=%', '%00=1', 'limit']));
    return parts.length === 0 ? '' : `?${parts.join('&')}`;
  }

  // ---- bodies -----------------------------------------------------------------------------

  /** A JSON body: valid, or valid with one hostile field, or broken in one of many ways. */
  private jsonBody(
    valid: () => Json,
    fields: readonly string[],
    validWeight = 30,
  ): Pick<FuzzRequest, 'headers' | 'body'> {
    const { rng, world } = this;
    const json = { 'content-type': 'application/json' };
    const kind = rng.weighted<string>([
      [validWeight, 'valid'],
      [33, 'field'],
      [5, 'proto'],
      [8, 'malformed'],
      [4, 'non-object'],
      [5, 'content-type'],
      [4, 'huge'],
      [3, 'bad-utf8'],
      [3, 'empty'],
      [5, 'deep'],
    ]);
    switch (kind) {
      case 'valid':
        return { headers: json, body: Buffer.from(toJsonText(valid())) };
      case 'field': {
        const body = valid();
        body[rng.pick(fields)] = hostileValue(rng, world.maxBodyBytes);
        return { headers: json, body: Buffer.from(toJsonText(body)) };
      }
      case 'proto': {
        const inner = withKey(rng.pick(PROTO_KEYS), rng.pick([{ x: 1 }, 'p', null, [1]]));
        const body = rng.chance(0.5) ? withKey(rng.pick(PROTO_KEYS), { x: 1 }, valid()) : valid();
        if (!rng.chance(0.5)) body[rng.pick(fields)] = inner;
        return { headers: json, body: Buffer.from(toJsonText(body)) };
      }
      case 'malformed':
        return { headers: json, body: Buffer.from(rng.pick(MALFORMED_JSON)) };
      case 'non-object':
        return {
          headers: json,
          body: Buffer.from(
            rng.pick(['[]', 'null', '1', '"s"', 'true', `[${toJsonText(valid())}]`]),
          ),
        };
      case 'content-type': {
        const headers: Record<string, string> = {};
        if (rng.chance(0.85)) headers['content-type'] = rng.pick(CONTENT_TYPES);
        return { headers, body: Buffer.from(toJsonText(valid())) };
      }
      case 'huge': {
        const limit = world.maxBodyBytes;
        const size = rng.pick([
          limit - 300,
          limit - 60,
          limit + 1,
          limit + 100,
          limit * 2,
          limit * 8,
        ]);
        const body = valid();
        const overhead = Buffer.byteLength(toJsonText({ ...body, [fields[0]!]: '' }));
        body[rng.pick(fields)] = 'h'.repeat(Math.max(0, size - overhead));
        return { headers: json, body: Buffer.from(toJsonText(body)) };
      }
      case 'bad-utf8': {
        const body = valid();
        body[rng.pick(fields)] = 'MARK';
        const [before, after] = toJsonText(body).split('MARK') as [string, string];
        const bad = rng.pick(BAD_UTF8);
        return {
          headers: json,
          body: Buffer.concat([Buffer.from(before), bad, Buffer.from(after ?? '')]),
        };
      }
      case 'empty':
        return { headers: json };
      default: {
        const depth = rng.pick(DEPTHS);
        const shape = rng.pick(['array', 'object', 'mixed'] as const);
        if (rng.chance(0.3))
          return { headers: json, body: Buffer.from(deepJson(depth, shape, rng).text) };
        const body = valid();
        body[rng.pick(fields)] = deepJson(depth, shape, rng);
        return { headers: json, body: Buffer.from(toJsonText(body)) };
      }
    }
  }

  private parameters(): Json {
    const rng = this.rng;
    return rng.weighted<() => Json>([
      [4, () => ({ temperature: 0.5, top_p: 1, stop: ['\n'], nested: { a: [1, { b: 'c' }] } })],
      [2, () => ({ text: rng.pick(UNICODE_STRINGS), [rng.pick(UNICODE_STRINGS)]: 1 })],
      [2, () => ({ deep: deepJson(rng.pick(DEPTHS), 'mixed', rng) })],
      [2, () => withKey(rng.pick(PROTO_KEYS), { x: 1 }, { ok: true })],
      [1, () => ({ big: 'p'.repeat(rng.int(4096)) })],
    ])();
  }

  private promptRef(): string | null {
    const { rng, world } = this;
    if (rng.chance(0.3)) return null;
    if (world.prompts.length > 0 && rng.chance(0.6)) return rng.pick(world.prompts);
    return rng.pick(['no-such-prompt', '..', '', ...UNICODE_STRINGS]);
  }

  private content(): unknown {
    const rng = this.rng;
    return rng.weighted<() => unknown>([
      [5, () => rng.pick(UNICODE_STRINGS) || 'text'],
      [2, () => [{ type: 'text', text: rng.pick(UNICODE_STRINGS) }]],
      [
        1,
        () => [
          {
            type: 'image',
            url: 'https://example.invalid/i.png',
            detail: rng.pick(['auto', 'low', 'huge']),
          },
        ],
      ],
      [1, () => [{ type: 'video', url: 'x' }]],
      [1, () => []],
      [1, () => [{ type: 'text' }]],
    ])();
  }

  // ---- routes -----------------------------------------------------------------------------

  /** A request with no body to `route` ("METHOD /template"), at `path`. */
  private plain(route: string, path: string, headers: Record<string, string> = {}): FuzzRequest {
    return { route, method: route.slice(0, route.indexOf(' ')), path, headers };
  }

  private createContext(): FuzzRequest {
    const valid = (): Json => {
      const body: Json = { model_id: 'fuzz-model', mode: 'chat', parameters: this.parameters() };
      if (this.rng.chance(0.4)) body.system_prompt_id = this.promptRef();
      return body;
    };
    return {
      route: 'POST /v1/contexts',
      method: 'POST',
      path: '/v1/contexts',
      ...this.jsonBody(valid, ['model_id', 'mode', 'parameters', 'system_prompt_id']),
    };
  }

  private listContexts(): FuzzRequest {
    const rng = this.rng;
    const q = this.query({
      limit: () => String(1 + rng.int(1000)),
      offset: () => String(rng.int(50)),
    });
    return this.plain('GET /v1/contexts', `/v1/contexts${q}`);
  }

  private conditional(name: 'if-match' | 'if-none-match'): Record<string, string> {
    const rng = this.rng;
    if (!rng.chance(0.3)) return {};
    return {
      [name]: rng.pick([
        '"1"',
        'W/"2"',
        '*',
        'garbage',
        '"99999999999999999999"',
        '"-1"',
        '""',
        '"1", "2"',
        'W/',
        '"\u00ff"',
      ]),
    };
  }

  private getContext(): FuzzRequest {
    const path = `/v1/contexts/${this.contextSegment()}`;
    return this.plain('GET /v1/contexts/{id}', path, this.conditional('if-none-match'));
  }

  private putContext(): FuzzRequest {
    const id = this.contextSegment();
    const valid = (): Json => {
      const rng = this.rng;
      const config: Json = {};
      if (rng.chance(0.5)) config.model_id = rng.pick(['fuzz-model-2', ...UNICODE_STRINGS]);
      if (rng.chance(0.3)) config.mode = rng.pick(['chat', 'completion', '']);
      if (rng.chance(0.6)) config.parameters = this.parameters();
      if (rng.chance(0.3)) config.system_prompt_id = this.promptRef();
      const body: Json = rng.chance(0.3) ? { config } : config;
      if (rng.chance(0.3)) body.active_branch_name = this.branchName(id);
      return body;
    };
    const body = this.jsonBody(valid, [
      'model_id',
      'mode',
      'parameters',
      'system_prompt_id',
      'config',
      'active_branch_name',
    ]);
    return {
      route: 'PUT /v1/contexts/{id}',
      method: 'PUT',
      path: `/v1/contexts/${id}`,
      ...body,
      headers: { ...body.headers, ...this.conditional('if-match') },
    };
  }

  private deleteContext(): FuzzRequest {
    const path = `/v1/contexts/${this.contextSegment()}`;
    return this.plain('DELETE /v1/contexts/{id}', path, this.conditional('if-match'));
  }

  private getMessages(): FuzzRequest {
    const rng = this.rng;
    const id = this.contextSegment();
    const q = this.query({
      limit: () => String(1 + rng.int(1000)),
      offset: () => String(rng.int(20)),
      branch: () => this.branchName(id, 0),
    });
    return this.plain('GET /v1/contexts/{id}/messages', `/v1/contexts/${id}/messages${q}`);
  }

  private postMessage(): FuzzRequest {
    const id = this.contextSegment();
    const valid = (): Json => {
      const rng = this.rng;
      const role = rng.weighted([
        [5, 'user'],
        [3, 'assistant'],
        [1, 'system'],
        [2, 'tool'],
        [1, rng.pick(['bogus', 'USER', '', 'user\u0000'])],
      ] as const);
      const body: Json = { role, content: this.content() };
      if (rng.chance(0.3)) body.branch = this.branchName(id);
      if (role === 'assistant' && rng.chance(0.6)) {
        body.tool_calls = [
          {
            id: `call_${rng.hex(6)}`,
            tool_name: rng.pick(['calculator', 'current_time', 'nope']),
            arguments: rng.chance(0.5) ? { expression: '1+1' } : hostileValue(rng, 4096),
            ui_hints: rng.chance(0.5) ? { color: 'red' } : hostileValue(rng, 4096),
            display_preference: rng.pick(['Default', 'Collapsible', 'Hidden', 'Loud']),
          },
        ];
      }
      if (role === 'tool') {
        body.tool_result = {
          request_id: rng.chance(0.8) ? `call_${rng.hex(6)}` : '',
          result: rng.chance(0.5) ? { value: 2 } : hostileValue(rng, 4096),
        };
      }
      return body;
    };
    const body = this.jsonBody(valid, ['role', 'content', 'branch', 'tool_calls', 'tool_result']);
    return {
      route: 'POST /v1/contexts/{id}/messages',
      method: 'POST',
      path: `/v1/contexts/${id}/messages`,
      ...body,
      headers: { ...body.headers, ...this.conditional('if-match') },
    };
  }

  private getState(): FuzzRequest {
    const path = `/v1/contexts/${this.contextSegment()}/state`;
    return this.plain('GET /v1/contexts/{id}/state', path, this.conditional('if-none-match'));
  }

  /** `!tool` instructions whose arguments are hostile JSON (or not JSON at all). */
  private toolInstruction(): string {
    const rng = this.rng;
    const name = rng.pick(['calculator', 'calculator', 'current_time', 'nope', '', '__proto__']);
    const args = rng.weighted<() => string>([
      [3, () => '{"expression":"6*7"}'],
      [
        5,
        () =>
          deepJson(rng.pick(TOOL_DEPTHS), rng.pick(['array', 'object', 'mixed'] as const), rng)
            .text,
      ],
      [2, () => toJsonText(withKey(rng.pick(PROTO_KEYS), { expression: '1+1' }))],
      [2, () => rng.pick(MALFORMED_JSON)],
      [1, () => `{"expression":${JSON.stringify(hostileString(rng, 8192))}}`],
      [1, () => '{"expression":"1/0"}'],
      [1, () => `{"expression":"${'9'.repeat(400)}**${'9'.repeat(400)}"}`],
      [1, () => ''],
    ])();
    return `!tool ${name} ${args}`;
  }

  private sendMessage(): FuzzRequest {
    const valid = (): Json => {
      const rng = this.rng;
      const content = rng.chance(0.7) ? this.toolInstruction() : this.content();
      return {
        content:
          rng.chance(0.2) && typeof content === 'string'
            ? [{ type: 'text', text: content }]
            : content,
      };
    };
    return {
      route: 'POST /v1/contexts/{id}/actions/send_message',
      method: 'POST',
      path: `/v1/contexts/${this.contextSegment()}/actions/send_message`,
      // Mostly well-formed bodies: the hostile part is the instruction inside `content`.
      ...this.jsonBody(valid, ['content'], 90),
    };
  }

  private approveTools(action: 'actions/approve_tools' | 'tools/approve'): FuzzRequest {
    const valid = (): Json => {
      const { rng, world } = this;
      const known = world.toolCallIds.length > 0 ? [rng.pick(world.toolCallIds)] : [];
      return {
        // Mostly decisions that end the wait (deny all, approve one), so that contexts
        // return to idle and more `!tool` turns run instead of answering 409.
        tool_call_ids: rng.pick([
          [],
          [],
          known,
          known,
          ['call_nope'],
          [...known, ...known],
          [''],
          [1],
          ['\ud800'],
        ]),
      };
    };
    return {
      route: `POST /v1/contexts/{id}/${action}`,
      method: 'POST',
      path: `/v1/contexts/${this.contextSegment()}/${action}`,
      ...this.jsonBody(valid, ['tool_call_ids'], 60),
    };
  }

  private fork(): FuzzRequest {
    const id = this.contextSegment();
    const valid = (): Json => {
      const rng = this.rng;
      const body: Json = { name: rng.chance(0.8) ? `b-${rng.hex(4)}` : this.branchName(id, 1) };
      if (rng.chance(0.4)) body.from_branch = this.branchName(id, 0.2);
      if (rng.chance(0.2))
        body.at_message_id = rng.chance(0.5) ? rng.uuid() : hostileValue(rng, 1024);
      return body;
    };
    return {
      route: 'POST /v1/contexts/{id}/branches',
      method: 'POST',
      path: `/v1/contexts/${id}/branches`,
      ...this.jsonBody(valid, ['name', 'from_branch', 'at_message_id']),
    };
  }

  private putBranch(): FuzzRequest {
    const id = this.contextSegment();
    const name = this.branchName(id);
    const valid = (): Json => {
      const rng = this.rng;
      const body: Json = {};
      const which = rng.int(3);
      if (which === 0) body.system_prompt_id = this.promptRef();
      if (which === 1) {
        body.system_prompt = rng.chance(0.2)
          ? null
          : {
              content: rng.pick(UNICODE_STRINGS) || 'inline',
              id: rng.pick([undefined, 'x', '..']),
            };
      }
      if (rng.chance(0.6)) body.user_prompt = rng.chance(0.2) ? null : rng.pick(UNICODE_STRINGS);
      return body;
    };
    return {
      route: 'PUT /v1/contexts/{id}/branches/{name}',
      method: 'PUT',
      path: `/v1/contexts/${id}/branches/${encodeSegment(name)}`,
      ...this.jsonBody(valid, ['system_prompt_id', 'system_prompt', 'user_prompt']),
    };
  }

  private deleteBranch(): FuzzRequest {
    const id = this.contextSegment();
    const path = `/v1/contexts/${id}/branches/${encodeSegment(this.branchName(id))}`;
    return this.plain('DELETE /v1/contexts/{id}/branches/{name}', path);
  }

  private events(): FuzzRequest {
    const rng = this.rng;
    const q = this.query({ last_event_id: () => String(rng.int(10)) });
    const headers: Record<string, string> = {};
    if (rng.chance(0.3))
      headers['last-event-id'] = rng.pick([
        '0',
        '5',
        '-1',
        'abc',
        '1e3',
        '99999999999999999999',
        '',
      ]);
    return {
      route: 'GET /v1/contexts/{id}/events',
      method: 'GET',
      path: `/v1/contexts/${this.contextSegment()}/events${q}`,
      headers,
      sse: true,
    };
  }

  private listPrompts(): FuzzRequest {
    const q = this.rng.chance(0.2) ? this.query({ limit: () => '1' }) : '';
    return this.plain('GET /v1/system-prompts', `/v1/system-prompts${q}`);
  }

  private postPrompt(): FuzzRequest {
    const valid = (): Json => {
      const rng = this.rng;
      const id = rng.weighted<() => string>([
        [6, () => `fuzz-p-${rng.hex(5)}`],
        [
          3,
          () =>
            rng.pick([
              '.',
              '..',
              '...',
              '%2e%2e',
              'a/b',
              'a b',
              '?',
              '#',
              '%',
              'é',
              '😀',
              'p'.repeat(300),
            ]),
        ],
        [1, () => rng.pick(UNICODE_STRINGS)],
      ])();
      return { id, content: rng.pick(UNICODE_STRINGS) || 'prompt text' };
    };
    return {
      route: 'POST /v1/system-prompts',
      method: 'POST',
      path: '/v1/system-prompts',
      ...this.jsonBody(valid, ['id', 'content']),
    };
  }

  private promptById(): FuzzRequest {
    const rng = this.rng;
    const seg = this.promptSegment();
    const method = rng.pick(['GET', 'GET', 'PUT', 'DELETE']);
    if (method === 'PUT') {
      return {
        route: 'PUT /v1/system-prompts/{id}',
        method,
        path: `/v1/system-prompts/${seg}`,
        ...this.jsonBody(() => ({ content: rng.pick(UNICODE_STRINGS) || 'updated' }), ['content']),
      };
    }
    const force =
      method === 'DELETE' && rng.chance(0.5)
        ? `?force=${rng.pick(['true', 'false', 'TRUE', '1', '%00'])}`
        : '';
    return this.plain(`${method} /v1/system-prompts/{id}`, `/v1/system-prompts/${seg}${force}`);
  }

  private unknownRoute(): FuzzRequest {
    const rng = this.rng;
    const id = this.contextSegment();
    const path = rng.pick([
      `/v1/contexts/${id}/nope`,
      `/v1/contexts/${id}/messages/extra`,
      `/v1/contexts/${id}/debug/crash-worker`,
      '/v2/contexts',
      '//v1//contexts',
      '/v1/contexts/',
      '/v1/system-prompts/',
      '/%2e%2e/health',
      '/v1/%2e%2e/health',
      '/health/',
      '/v1',
      '/',
      `/v1/contexts/${id}/branches`,
      `/v1/contexts/${id}/actions/${rng.pick(['nope', 'send_message/x', '..'])}`,
      '/v1/contexts?%zz',
      '/v1/contexts/%zz/messages',
    ]);
    const method = rng.pick(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS']);
    const req: FuzzRequest = {
      route: `${method} (unknown or wrong method)`,
      method,
      path,
      headers: {},
    };
    if (method === 'POST' || method === 'PUT' || method === 'PATCH') {
      req.headers['content-type'] = 'application/json';
      req.body = Buffer.from('{}');
    }
    return req;
  }

  /** Bytes the HTTP parser must reject (or that no well-behaved client would send). */
  private rawRequest(): FuzzRequest {
    const rng = this.rng;
    const id = this.contextSegment();
    const close = 'Host: fuzz\r\nConnection: close\r\n';
    const raw = rng.pick<() => Buffer>([
      () =>
        Buffer.concat([
          Buffer.from('GET /v1/contexts/'),
          Buffer.from([0xff, 0xfe]),
          Buffer.from(` HTTP/1.1\r\n${close}\r\n`),
        ]),
      () =>
        Buffer.concat([
          Buffer.from('GET /v1/system-prompts/'),
          Buffer.from([0xc0, 0xae, 0xc0, 0xae]),
          Buffer.from(` HTTP/1.1\r\n${close}\r\n`),
        ]),
      () =>
        Buffer.from(
          `GET /v1/contexts/${id}/messages?branch=${'é'} HTTP/1.1\r\n${close}\r\n`,
          'utf8',
        ),
      () => Buffer.from(`GET /health HTTP/1.1\r\n${close}X-Big: ${'a'.repeat(20_000)}\r\n\r\n`),
      () => Buffer.from('GARBAGE\r\n\r\n'),
      () => Buffer.from(`GET /health HTTP/9.9\r\n${close}\r\n`),
      () => Buffer.from(`GET /v1/contexts /x HTTP/1.1\r\n${close}\r\n`),
      () =>
        Buffer.from(
          `POST /v1/contexts HTTP/1.1\r\n${close}Content-Type: application/json\r\nContent-Length: abc\r\n\r\n{}`,
        ),
      () =>
        Buffer.from(
          `POST /v1/contexts HTTP/1.1\r\n${close}Content-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}`,
        ),
      () =>
        Buffer.from(
          `POST /v1/contexts HTTP/1.1\r\n${close}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
        ),
      () =>
        Buffer.from(
          `POST /v1/contexts HTTP/1.1\r\n${close}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
        ),
      () => Buffer.from(`GET /health HTTP/1.1\r\n${close}X-A\u0001: b\r\n\r\n`, 'latin1'),
      () => Buffer.from(`GET /health HTTP/1.1\r\n${close}Bad Header: b\r\n\r\n`),
      () =>
        Buffer.from(
          `POST /v1/contexts/${id}/messages HTTP/1.1\r\n${close}Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}JUNK / HTTP/1.1\r\n\r\n`,
        ),
    ])();
    const pipelinedGarbage = raw.includes('JUNK / HTTP/1.1');
    return {
      route: 'raw (parser-level)',
      method: 'RAW',
      path: '',
      headers: {},
      raw,
      closeAllowed: pipelinedGarbage,
    };
  }
}

/** Percent-encodes a name for a path segment, except segments that are hostile on purpose. */
export function encodeSegment(name: string): string {
  if (HOSTILE_SEGMENTS.includes(name)) return name;
  let out = '';
  for (const char of name) {
    const unit = char.charCodeAt(0);
    // A lone surrogate has no UTF-8 form (encodeURIComponent throws): send its 3-byte
    // (CESU-style) encoding, which a strict decoder must refuse.
    out +=
      char.length === 1 && unit >= 0xd800 && unit <= 0xdfff
        ? [0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f)]
            .map((b) => `%${b.toString(16).toUpperCase()}`)
            .join('')
        : encodeURIComponent(char);
  }
  return out;
}
