import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The soak's steady mixed load (reads, listing, appends, whole turns, SSE subscribers). The resident data stays steady: `resident` contexts are
 * seeded once and only read; appends go to a small rotating set of scratch contexts, each
 * deleted and replaced once it reaches `scratchMax` messages, so the data in memory moves
 * in a fixed band instead of growing with time. SSE subscribers follow the scratch
 * contexts (re-subscribing when theirs is deleted).
 */
export interface LoadOptions {
  url: string;
  resident: string[];
  messagesPerContext: number;
  scratchCount: number;
  scratchMax: number;
  concurrency: number;
  subscribers: number;
  messageBytes: number;
  deadline: number;
}

export interface LoadCounters {
  requests: number;
  byKind: Record<string, number>;
  errors: number;
  /** Responses ≥ 500 (and network errors), by status. */
  failures: Record<string, number>;
  sseEvents: number;
  sseReconnects: number;
  /** The first few thrown errors (network errors, timeouts, failed creates), for the report. */
  errorSamples: string[];
}

const JSON_HEADERS = { 'content-type': 'application/json' };

async function call(
  url: string,
  init: { method?: string; json?: unknown } = {},
): Promise<{ status: number; text: string }> {
  const res = await fetch(url, {
    method: init.method ?? 'GET',
    signal: AbortSignal.timeout(30_000),
    ...(init.json === undefined ? {} : { body: JSON.stringify(init.json), headers: JSON_HEADERS }),
  });
  return { status: res.status, text: await res.text() };
}

export async function createContext(url: string, label: string): Promise<string> {
  const res = await call(`${url}/v1/contexts`, {
    method: 'POST',
    json: { model_id: 'soak-model', mode: 'chat', parameters: { label, temperature: 0.5 } },
  });
  if (res.status !== 201) throw new Error(`create: ${res.status} ${res.text}`);
  return (JSON.parse(res.text) as { id: string }).id;
}

export function messageText(bytes: number, n: number): string {
  const unit = `message ${n} `;
  return unit.repeat(Math.ceil(bytes / unit.length)).slice(0, bytes);
}

export async function appendMessage(url: string, id: string, text: string): Promise<number> {
  const res = await call(`${url}/v1/contexts/${id}/messages`, {
    method: 'POST',
    json: { role: 'user', content: text },
  });
  return res.status;
}

/** Runs the load until `deadline` (ms since epoch); returns when every loop has ended. */
export async function runLoad(options: LoadOptions, counters: LoadCounters): Promise<void> {
  const { url } = options;
  const scratch: { id: string; count: number }[] = [];
  for (let i = 0; i < options.scratchCount; i++) {
    scratch.push({ id: await createContext(url, `scratch-${i}`), count: 0 });
  }
  let seq = 0;
  const note = (kind: string, status: number) => {
    counters.requests++;
    counters.byKind[kind] = (counters.byKind[kind] ?? 0) + 1;
    if (status >= 400) counters.errors++;
    if (status >= 500 || status === 0) {
      counters.failures[String(status)] = (counters.failures[String(status)] ?? 0) + 1;
    }
  };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;

  const step = async (): Promise<void> => {
    const roll = Math.random();
    if (roll < 0.35) {
      const id = pick(options.resident);
      const max = Math.max(1, options.messagesPerContext - 50);
      const offset = Math.floor(Math.random() * max);
      note(
        'page',
        (await call(`${url}/v1/contexts/${id}/messages?limit=50&offset=${offset}`)).status,
      );
    } else if (roll < 0.55) {
      note('context', (await call(`${url}/v1/contexts/${pick(options.resident)}`)).status);
    } else if (roll < 0.65) {
      const offset = Math.floor(Math.random() * options.resident.length);
      note('listing', (await call(`${url}/v1/contexts?limit=100&offset=${offset}`)).status);
    } else {
      const slot = pick(scratch);
      slot.count++;
      if (slot.count > options.scratchMax) {
        // Replace it: delete (its subscribers are disconnected) and create a fresh one.
        const old = slot.id;
        slot.count = 0;
        slot.id = await createContext(url, `scratch-${seq++}`);
        note('create', 201);
        note('delete', (await call(`${url}/v1/contexts/${old}`, { method: 'DELETE' })).status);
        return;
      }
      if (Math.random() < 0.15) {
        // A whole turn (user message, state events, the built-in provider's reply).
        const res = await call(`${url}/v1/contexts/${slot.id}/actions/send_message`, {
          method: 'POST',
          json: { content: `turn ${seq++}` },
        });
        slot.count++;
        note('turn', res.status === 409 ? 200 : res.status);
        return;
      }
      const text = messageText(options.messageBytes, seq++);
      note('append', await appendMessage(url, slot.id, text));
    }
  };

  const worker = async () => {
    while (Date.now() < options.deadline) {
      try {
        await step();
      } catch (err) {
        note('network', 0);
        if (counters.errorSamples.length < 5) counters.errorSamples.push(String(err));
        await sleep(100);
      }
    }
  };

  const subscriber = async () => {
    while (Date.now() < options.deadline) {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), options.deadline - Date.now());
      try {
        const res = await fetch(`${url}/v1/contexts/${pick(scratch).id}/events`, {
          signal: controller.signal,
        });
        counters.sseReconnects++;
        if (res.status !== 200 || res.body === null) {
          await res.text();
          await sleep(200);
          continue;
        }
        for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
          counters.sseEvents += countEvents(chunk);
        }
      } catch {
        // aborted at the deadline, or the context was deleted mid-read
      } finally {
        clearTimeout(timer);
      }
    }
  };

  await Promise.all([
    ...Array.from({ length: options.concurrency }, worker),
    ...Array.from({ length: options.subscribers }, subscriber),
  ]);
  for (const slot of scratch) await call(`${url}/v1/contexts/${slot.id}`, { method: 'DELETE' });
}

/** Counts `\nid:` lines in an SSE chunk: roughly one per event (enough for a rate). */
function countEvents(chunk: Uint8Array): number {
  let n = 0;
  for (let i = 0; i + 3 < chunk.length; i++) {
    if (chunk[i] === 0x69 && chunk[i + 1] === 0x64 && chunk[i + 2] === 0x3a) n++;
  }
  return n;
}
