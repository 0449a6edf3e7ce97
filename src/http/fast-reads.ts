import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../log.js';
import { canonicalUuid, parsePaging, requireBranchName } from '../model/validate.js';
import type { ContextService } from '../service/context-service.js';
import type { ReadQuery } from '../slots/reads.js';
import { bearerCheck } from './auth.js';
import { type DirectHead, rawHeader, writeDirect } from './node-io.js';
import type { RequestRecorder } from './observe.js';
import { notModified } from './reply.js';
import { CONTEXT_READS, CONTEXTS_BASE } from './routes/contexts.js';
import { TRACE_HEADER, traceIdOf } from './trace.js';

/** Node's `request` handler. */
export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

export interface FastReadDeps {
  contexts: ContextService;
  /** `API_TOKEN`: when set, a request must carry it (else hono answers the 401). */
  apiToken: string | undefined;
  /** Metrics and access log, as hono's `observeRequests` records them. */
  record: RequestRecorder | undefined;
  /** The host the adapter assumes for a request without a Host header (HOST). */
  defaultHost: string;
  /** Where a failure of this path is logged (the request then goes to hono, or is cut). */
  log: Pick<Logger, 'error'>;
}

/** A read this path may answer: what to look up, and how hono would label and answer it. */
interface FastRead {
  id: string;
  query: ReadQuery;
  /** hono's route template (the metrics' label). */
  route: string;
  /** The request path without its query (the access log's `path`, as hono's `c.req.path`). */
  path: string;
  /** Answers 304 to a matching `If-None-Match` (hono's route uses `sendConditional`). */
  conditional: boolean;
}

/**
 * Answers the hot reads (a context, its state, a page of messages) straight from the answer
 * cache, in Node's `request` handler, before @hono/node-server and hono see the request.
 *
 * Why: a cached hit costs no lock, no encoding and no worker, so what is left of it is the
 * HTTP stack; the adapter's request object, hono's routing and its middleware chain cost
 * about as much as the rest of such a request (bench/analysis.md, S2).
 *
 * What must stay identical to hono's answer, byte for byte (test/http/fast-reads.test.ts
 * sends the same requests to a server with and without this path):
 * - only a GET of exactly those paths, with a plain query and a Host the adapter accepts,
 *   that the bearer check passes, of a resident context whose answer is cached, is answered
 *   here; anything else (a miss, a wrong token, a bad or unusual query, HEAD, another
 *   method or path) goes to hono untouched, which then answers it as it always did;
 * - the answer: status, headers (`X-Trace-Id`, `ETag`, content type and length, in that
 *   order), body, and 304 for a matching `If-None-Match` on a context or its state;
 * - what is counted and logged: the answer cache's and the reads' counters, the HTTP
 *   metrics under hono's route template, the access log line.
 * Each rule lives in one place that both paths call: the trace id (trace.ts), the bearer
 * check (auth.ts), the recorder of metrics and access log (observe.ts), the 304 (reply.ts),
 * the writing (node-io.ts), the query's validation (model/validate.ts), the route paths
 * (routes/contexts.ts).
 */
export class FastReads {
  #answered = 0;
  readonly #authorized: ((authorization: string | undefined) => boolean) | undefined;
  readonly #hosts: AcceptedHosts;

  constructor(private readonly deps: FastReadDeps) {
    this.#authorized = deps.apiToken === undefined ? undefined : bearerCheck(deps.apiToken);
    this.#hosts = new AcceptedHosts(deps.defaultHost);
  }

  /** Requests answered here (`ccs_fast_reads_total`). */
  get answered(): number {
    return this.#answered;
  }

  /**
   * Node's request listener: answers what it can, and hands everything else to `hono`.
   * It runs in Node's `request` event, where a throw would end the process: a failure
   * before anything was sent hands the request to hono as if this path had not been
   * tried; one after cuts the response (its head is out, so hono cannot answer).
   */
  before(hono: RequestListener): RequestListener {
    return (req, res) => {
      let answered: boolean;
      try {
        answered = this.answer(req, res);
      } catch (err) {
        if (res.headersSent) {
          this.deps.log.error({ err, url: req.url }, 'fast read failed mid-answer; cut');
          res.destroy();
          return;
        }
        this.deps.log.error({ err, url: req.url }, 'fast read failed; left to hono');
        res.removeHeader(TRACE_HEADER);
        answered = false;
      }
      if (!answered) hono(req, res);
    };
  }

  private answer(req: IncomingMessage, res: ServerResponse): boolean {
    if (req.method !== 'GET') return false;
    const start = performance.now();
    const read = fastRead(req.url ?? '');
    if (read === undefined || !this.#hosts.accepts(req.headers.host)) return false;
    const authorized = this.#authorized;
    if (authorized !== undefined && !authorized(rawHeader(req, 'authorization'))) return false;
    const hit = this.deps.contexts.cachedRead(read.id, read.query);
    // Only a 200 is answered as one here; anything else is hono's (reply.ts maps it).
    if (hit === undefined || hit.head.outcome !== 'ok') return false;
    const traceId = traceIdOf(rawHeader(req, 'x-trace-id'));
    res.setHeader(TRACE_HEADER, traceId);
    const ok: DirectHead = { status: 200, etag: hit.etag };
    const head =
      (read.conditional ? notModified(ok, rawHeader(req, 'if-none-match')) : undefined) ?? ok;
    writeDirect(res, head, hit.body);
    const ms = performance.now() - start;
    this.deps.record?.('GET', read.route, read.path, head.status, ms, traceId);
    this.#answered++;
    return true;
  }

  /** `ccs_fast_reads_total` in `/metrics` (register it only where this path is in use). */
  register(registry: Registry): void {
    const fast = this;
    new Counter({
      name: 'ccs_fast_reads_total',
      help: 'Cached reads answered before hono (counted in the request metrics and answer cache hits as well)',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(fast.answered);
      },
    });
  }
}

/**
 * `/v1/contexts/<uuid>`, `…/state` or `…/messages`, spelt so that the adapter's URL and
 * hono's path and query are the request target as it is (no `%`, `+`, dot segment or
 * backslash to decode or normalise); a query only on a page.
 */
const TARGET =
  /^\/v1\/contexts\/([0-9A-Fa-f-]{36})(?:(\/state)|(\/messages)(?:\?([A-Za-z0-9._~=&-]*))?)?$/;

const ROUTES = {
  getContext: CONTEXTS_BASE + CONTEXT_READS.getContext,
  getState: CONTEXTS_BASE + CONTEXT_READS.getState,
  listMessages: CONTEXTS_BASE + CONTEXT_READS.listMessages,
};

function fastRead(url: string): FastRead | undefined {
  const match = TARGET.exec(url);
  if (match === null) return undefined;
  const id = canonicalUuid(match[1]!);
  if (id === undefined) return undefined;
  if (match[2] !== undefined) {
    return { id, query: { op: 'getState' }, route: ROUTES.getState, path: url, conditional: true };
  }
  if (match[3] === undefined) {
    return {
      id,
      query: { op: 'getContext' },
      route: ROUTES.getContext,
      path: url,
      conditional: true,
    };
  }
  const search = match[4];
  const query = search === undefined ? {} : plainQuery(search);
  const page = query === undefined ? undefined : pageQuery(query);
  if (page === undefined) return undefined;
  const path = search === undefined ? url : url.slice(0, url.length - search.length - 1);
  return { id, query: page, route: ROUTES.listMessages, path, conditional: false };
}

type PageParams = { limit?: string; offset?: string; branch?: string };

/** `limit`, `offset`, `branch` each at most once as `key=value`; undefined for anything else. */
function plainQuery(search: string): PageParams | undefined {
  const query: PageParams = {};
  for (const pair of search.split('&')) {
    const eq = pair.indexOf('=');
    const key = pair.slice(0, eq);
    if (eq < 0 || !(key === 'limit' || key === 'offset' || key === 'branch') || key in query) {
      return undefined;
    }
    query[key] = pair.slice(eq + 1);
  }
  return query;
}

/** The page hono's route would read, validated by the same rules; undefined if it is a 400. */
function pageQuery(query: PageParams): ReadQuery | undefined {
  try {
    const { limit, offset } = parsePaging(query);
    const branch = query.branch === undefined ? undefined : requireBranchName(query.branch);
    return { op: 'listMessages', branch, limit, offset };
  } catch {
    return undefined; // hono answers the 400
  }
}

/** How many Host values are remembered; the rest are checked again each time. */
const MAX_HOSTS = 64;

/**
 * Host values the adapter accepts. @hono/node-server answers 400 (no body) when the URL it
 * builds from the Host header fails or names another host; this checks a value the same
 * way once and remembers it if accepted (clients send the same few). Rejected values are
 * not remembered: anyone can send many, and they would crowd out the good ones.
 */
export class AcceptedHosts {
  readonly #known = new Set<string>();

  constructor(private readonly defaultHost: string) {}

  accepts(header: string | undefined): boolean {
    const host = header || this.defaultHost;
    if (this.#known.has(host)) return true;
    if (!adapterAccepts(host)) return false;
    if (this.#known.size < MAX_HOSTS) this.#known.add(host);
    return true;
  }

  /** How many accepted values are remembered. */
  get remembered(): number {
    return this.#known.size;
  }
}

/** The adapter's check of a Host value (its `newRequest`, @hono/node-server 1.19). */
function adapterAccepts(host: string): boolean {
  try {
    const { hostname } = new URL(`http://${host}/`);
    return hostname.length === host.length || hostname === host.replace(/:\d+$/, '');
  } catch {
    return false;
  }
}
