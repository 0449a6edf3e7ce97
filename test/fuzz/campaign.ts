import { request } from '../support/http.js';
import { makeDataDir, type ServerProcess, startServerProcess } from '../support/server-process.js';
import { openSse } from '../support/sse-client.js';
import { allListed, createCanaries, differences, snapshotCanaries } from './canary.js';
import { FuzzClient } from './client.js';
import { checkResponse, learn, type Violation } from './oracle.js';
import { encodeSegment, type FuzzWorld, RequestGenerator } from './requests.js';
import { Rng } from './rng.js';

/**
 * One fuzz campaign against a real server process: canaries, then `requests` hostile
 * requests (bounded in count and in time) with at most `concurrency` in flight, then the
 * checks of what must hold after it, then a restart on the same data and the checks again.
 */
export interface CampaignOptions {
  seed: number;
  requests: number;
  concurrency: number;
  /** The fuzz phase stops at whichever comes first: `requests` sent or this much time. */
  timeLimitMs: number;
  maxBodyBytes: number;
  /** A bound on SIGTERM → exit; past it the server is killed and that is a violation. */
  shutdownLimitMs?: number;
  serverEnv?: Record<string, string>;
  keepData?: boolean;
  log?: (line: string) => void;
}

export interface CampaignResult {
  seed: number;
  sent: number;
  elapsedMs: number;
  byStatus: Record<string, number>;
  byRoute: Record<string, number>;
  createdLive: number;
  violations: Violation[];
}

const SETTLED = new Set(['Idle', 'Failed', 'AwaitingToolApproval']);

export async function runCampaign(options: CampaignOptions): Promise<CampaignResult> {
  const log = options.log ?? (() => {});
  const data = makeDataDir('ccs-fuzz-');
  const env = {
    MAX_BODY_BYTES: String(options.maxBodyBytes),
    FSYNC: 'false',
    ...options.serverEnv,
  };
  const violations: Violation[] = [];
  const fail = (check: string, route: string, request: string, response: string) =>
    violations.push({ check, route, request, response });
  const started = Date.now();
  let server: ServerProcess | undefined = await startServerProcess(data.dir, env);
  const result: CampaignResult = {
    seed: options.seed,
    sent: 0,
    elapsedMs: 0,
    byStatus: {},
    byRoute: {},
    createdLive: 0,
    violations,
  };
  try {
    const canaries = await createCanaries(server.url);
    const canaryBefore = await snapshotCanaries(server.url, canaries);
    const world: FuzzWorld = {
      contexts: [],
      branches: new Map(),
      prompts: [],
      toolCallIds: [],
      maxBodyBytes: options.maxBodyBytes,
    };
    const created = new Set<string>();
    await seedWorld(server.url, world, created);

    // ---- the fuzz -------------------------------------------------------------------------
    const generator = new RequestGenerator(new Rng(options.seed), world);
    const client = new FuzzClient(server.url, options.concurrency);
    const deadline = Date.now() + options.timeLimitMs;
    const lane = async () => {
      while (result.sent < options.requests && Date.now() < deadline) {
        const req = generator.next();
        result.sent++;
        const res = await client.send(req);
        result.byStatus[res.status] = (result.byStatus[res.status] ?? 0) + 1;
        result.byRoute[req.route] = (result.byRoute[req.route] ?? 0) + 1;
        const violation = checkResponse(req, res, options.maxBodyBytes);
        if (violation !== undefined) violations.push(violation);
        learn(world, created, req, res);
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, lane));
    client.close();
    log(
      `fuzz: ${result.sent} requests in ${Date.now() - started} ms, statuses ${JSON.stringify(result.byStatus)}`,
    );

    // ---- after the fuzz -------------------------------------------------------------------
    const base = server.url;
    for (const d of differences(canaryBefore, await snapshotCanaries(base, canaries))) {
      fail('canary_changed_after_fuzz', 'canary', d, '');
    }
    await checkSettled(base, [...created], fail);
    await checkHealth(base, 'after fuzz', fail);
    const fuzzBefore = await snapshotContexts(base, [...created]);
    const promptsBefore = (await request(`${base}/v1/system-prompts`)).text;

    // ---- restart on the same data, with an event stream open --------------------------------
    // A client still subscribed must not hold the shutdown up: SIGTERM ends within the bound.
    const watched = [...created][0];
    const stream =
      watched === undefined ? undefined : await openSse(`${base}/v1/contexts/${watched}/events`);
    const code = await stopWithin(server, options.shutdownLimitMs ?? 20_000);
    stream?.close();
    if (code !== 0) {
      fail(
        'shutdown_not_clean',
        'SIGTERM',
        'SIGTERM after the fuzz, one SSE stream open',
        `exit ${code}`,
      );
    }
    server = undefined;
    server = await startServerProcess(data.dir, env);
    const again = server.url;
    for (const d of differences(canaryBefore, await snapshotCanaries(again, canaries))) {
      fail('canary_changed_after_restart', 'canary', d, '');
    }
    await checkHealth(again, 'after restart', fail);
    const listed = await allListed(again);
    for (const id of created) {
      if (!listed.has(id))
        fail('created_context_not_listed_after_restart', 'GET /v1/contexts', id, 'absent');
    }
    for (const d of differences(fuzzBefore, await snapshotContexts(again, [...created]))) {
      fail('fuzz_context_changed_after_restart', 'GET /v1/contexts/{id}', d, '');
    }
    const promptsAfter = (await request(`${again}/v1/system-prompts`)).text;
    if (promptsAfter !== promptsBefore) {
      fail(
        'prompt_library_changed_after_restart',
        'GET /v1/system-prompts',
        promptsBefore.slice(0, 300),
        promptsAfter.slice(0, 300),
      );
    }
    for (const prompt of (JSON.parse(promptsAfter) as { system_prompts: { id: string }[] })
      .system_prompts) {
      const res = await request(`${again}/v1/system-prompts/${encodeSegment(prompt.id)}`);
      if (res.status !== 200) {
        fail(
          'prompt_unreachable_by_id',
          'GET /v1/system-prompts/{id}',
          JSON.stringify(prompt.id),
          `${res.status} ${res.text}`,
        );
      }
    }
    result.createdLive = created.size;
    return result;
  } finally {
    result.elapsedMs = Date.now() - started;
    if (server !== undefined) await stopWithin(server, options.shutdownLimitMs ?? 20_000);
    if (options.keepData || violations.length > 0) log(`data dir kept: ${data.dir}`);
    else data.remove();
  }
}

/** A few contexts with messages and a branch, and two prompts, for the fuzz to aim at. */
async function seedWorld(base: string, world: FuzzWorld, created: Set<string>): Promise<void> {
  for (let i = 0; i < 8; i++) {
    const res = await request<{ id: string }>(`${base}/v1/contexts`, {
      method: 'POST',
      json: { model_id: 'fuzz-model', mode: 'chat', parameters: { i } },
    });
    const id = res.body.id;
    world.contexts.push(id);
    world.branches.set(id, ['main']);
    created.add(id);
    for (let m = 0; m < 4; m++) {
      await request(`${base}/v1/contexts/${id}/messages`, {
        method: 'POST',
        json: { role: 'user', content: `seed ${m}` },
      });
    }
    const fork = await request(`${base}/v1/contexts/${id}/branches`, {
      method: 'POST',
      json: { name: 'side' },
    });
    if (fork.status === 201) world.branches.get(id)!.push('side');
  }
  for (const id of ['fuzz-prompt-a', 'fuzz-prompt-b']) {
    const res = await request(`${base}/v1/system-prompts`, {
      method: 'POST',
      json: { id, content: 'seed prompt' },
    });
    if (res.status === 201) world.prompts.push(id);
  }
}

/**
 * No context is left mid-turn: each is settled (idle, failed or awaiting approval), and a
 * new turn can start on it (send_message, or approve_tools for one awaiting approval).
 */
async function checkSettled(
  base: string,
  ids: string[],
  fail: (check: string, route: string, request: string, response: string) => void,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < ids.length; i = next++) {
      const id = ids[i]!;
      let state = '';
      for (let attempt = 0; attempt < 20; attempt++) {
        const res = await request<{ context?: { current_state?: string } }>(
          `${base}/v1/contexts/${id}/state`,
        );
        state = res.body?.context?.current_state ?? `status ${res.status}`;
        if (SETTLED.has(state)) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      if (!SETTLED.has(state)) {
        fail('context_not_settled', 'GET /v1/contexts/{id}/state', id, state);
        continue;
      }
      const action =
        state === 'AwaitingToolApproval'
          ? { path: 'approve_tools', json: { tool_call_ids: [] } }
          : { path: 'send_message', json: { content: 'ping after the fuzz' } };
      const res = await request(`${base}/v1/contexts/${id}/actions/${action.path}`, {
        method: 'POST',
        json: action.json,
      });
      if (res.status !== 200) {
        fail(
          'no_turn_after_fuzz',
          `POST /v1/contexts/{id}/actions/${action.path}`,
          `${id} (was ${state})`,
          `${res.status} ${res.text.slice(0, 300)}`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: 4 }, lane));
}

async function checkHealth(
  base: string,
  when: string,
  fail: (check: string, route: string, request: string, response: string) => void,
): Promise<void> {
  const res = await request<{ corrupt_contexts?: number }>(`${base}/health`);
  if (res.status !== 200 || res.body.corrupt_contexts !== 0) {
    fail('corrupt_contexts', 'GET /health', when, `${res.status} ${res.text}`);
  }
}

/** Each context's answer, its messages on every branch, and its listing entry. */
async function snapshotContexts(base: string, ids: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const listing = await allListed(base);
  for (const id of ids) {
    const ctx = await request<{ branches?: { name: string }[] }>(`${base}/v1/contexts/${id}`);
    out.set(`GET /v1/contexts/${id}`, `${ctx.status} ${ctx.text}`);
    for (const b of ctx.body?.branches ?? []) {
      const page = await request(
        `${base}/v1/contexts/${id}/messages?branch=${encodeURIComponent(b.name)}&limit=1000`,
      );
      out.set(`GET /v1/contexts/${id}/messages?branch=${b.name}`, `${page.status} ${page.text}`);
    }
    out.set(`listing entry ${id}`, JSON.stringify(listing.get(id) ?? null));
  }
  return out;
}

/** SIGTERM, then SIGKILL if it has not exited within `limitMs`; the exit code (null if killed). */
async function stopWithin(server: ServerProcess, limitMs: number): Promise<number | null> {
  const timer = setTimeout(() => server.proc.kill('SIGKILL'), limitMs);
  try {
    return await server.stop();
  } finally {
    clearTimeout(timer);
  }
}
