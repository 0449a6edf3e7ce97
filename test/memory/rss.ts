import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { startServerProcess } from '../support/server-process.js';
import { type Health, health, mapLimit } from '../work/metrics.js';

/**
 * Resident-memory measurement of the real server process (acceptance 5 of issue 4), shared
 * by the bounded test (`rss.test.ts`, scaled down) and the full-size script (`measure.ts`):
 *
 * 1. start a server on an empty data dir; warm it up (one small context: appends, many page
 *    reads, then delete) so that JIT code and V8's young generation are in the baseline;
 * 2. baseline: VmRSS of the process (all its threads), after a full GC of every V8 heap
 *    in it (through the inspector, see `collectedRss`), and the arena's counters;
 * 3. create `contexts` contexts of `messages` messages of `messageBytes` bytes of text;
 *    the stored records' bytes are the sum of the message JSON bodies the appends answered;
 * 4. RSS growth over the baseline (again after a full GC), against those bytes; the RSS
 *    before that GC is reported too (`peakRssBytes`);
 * 5. delete every context, create them all again: the arena's used and carved bytes return
 *    to the same levels (freed blocks are reused, nothing leaks).
 */
export interface MemoryOptions {
  dataDir: string;
  contexts: number;
  messages: number;
  messageBytes: number;
  /** Requests in flight while seeding. */
  concurrency?: number;
  env?: Record<string, string>;
  log?: (line: string) => void;
}

export interface ArenaLevels {
  usedBytes: number;
  carvedBytes: number;
  bufferBytes: number;
  liveBlocks: number;
}

export interface MemoryFigures {
  contexts: number;
  messages: number;
  messageBytes: number;
  /** Sum of the stored message records' JSON bytes (one round). */
  recordBytes: number;
  baselineRssBytes: number;
  afterCreateRssBytes: number;
  afterDeleteRssBytes: number;
  afterRecreateRssBytes: number;
  /** RSS right after the creates, before the heaps were collected (garbage included). */
  peakRssBytes: number;
  /** (peakRss − baselineRss) / recordBytes: the same ratio, garbage included. */
  peakRssRatio: number;
  /** (afterCreateRss − baselineRss) / recordBytes: the acceptance figure, ≤ 1.5. */
  rssRatio: number;
  /** Arena bytes in live blocks per record byte (shared-memory overhead alone). */
  arenaRatio: number;
  arena: {
    baseline: ArenaLevels;
    afterCreate: ArenaLevels;
    afterDelete: ArenaLevels;
    afterRecreate: ArenaLevels;
  };
  seconds: { create: number; delete: number; recreate: number };
}

/** VmRSS of a process, in bytes. */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (kb === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb[1]) * 1024;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function post(base: string, path: string, json: unknown): Promise<Response> {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(json),
  });
}

function levels(h: Health): ArenaLevels {
  const { usedBytes, carvedBytes, bufferBytes, liveBlocks } = h.shared_bytes;
  return { usedBytes, carvedBytes, bufferBytes, liveBlocks };
}

const GC_HELPER = fileURLToPath(new URL('./gc-helper.js', import.meta.url));

/** A free loopback TCP port (for the server's inspector). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * RSS once every V8 heap of the server (main thread and workers) has been collected, so
 * that garbage left by the requests just served (V8 collects the old generation lazily, and
 * a busy HTTP front end leaves tens of MiB of it) does not count as memory the data holds.
 * The collection goes through the server's inspector (see gc-helper.ts). Returns the lower
 * of two samples taken after it.
 */
async function collectedRss(pid: number, inspectPort: number, probeUrl: string): Promise<number> {
  const out = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      ['--experimental-websocket', '--no-warnings', GC_HELPER, String(inspectPort), probeUrl],
      { timeout: 60_000 },
      (err, stdout) => (err ? reject(err) : resolve(stdout)),
    );
  });
  const { workers, collectedWorkers } = JSON.parse(out) as {
    workers: number;
    collectedWorkers: number;
  };
  if (workers === 0 || collectedWorkers !== workers) {
    throw new Error(`garbage collection reached ${collectedWorkers} of ${workers} workers`);
  }
  await sleep(300);
  const a = rssOf(pid);
  await sleep(200);
  return Math.min(a, rssOf(pid));
}

async function warmUp(base: string, messageBytes: number): Promise<void> {
  const res = await post(base, '/v1/contexts', { model_id: 'warm', mode: 'chat' });
  const { id } = (await res.json()) as { id: string };
  const text = 'w'.repeat(messageBytes);
  await mapLimit(Array.from({ length: 200 }), 8, async () => {
    await (await post(base, `/v1/contexts/${id}/messages`, { role: 'user', content: text })).text();
  });
  await mapLimit(Array.from({ length: 3000 }), 8, async (_, i) => {
    await (await fetch(`${base}/v1/contexts/${id}/messages?limit=50&offset=${i % 150}`)).text();
  });
  await (await fetch(`${base}/v1/contexts/${id}`, { method: 'DELETE' })).text();
}

/** Creates the contexts and their messages; returns the ids and the records' JSON bytes. */
async function populate(base: string, o: MemoryOptions): Promise<{ ids: string[]; bytes: number }> {
  const concurrency = o.concurrency ?? 16;
  const ids = await mapLimit(Array.from({ length: o.contexts }), concurrency, async (_, c) => {
    const res = await post(base, '/v1/contexts', { model_id: `m-${c}`, mode: 'chat' });
    if (res.status !== 201) throw new Error(`create: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { id: string }).id;
  });
  let bytes = 0;
  const text = 'm'.repeat(o.messageBytes);
  const appends = Array.from({ length: o.contexts * o.messages }, (_, i) => i);
  await mapLimit(appends, concurrency, async (i) => {
    // Interleaved over contexts, so that every context grows as the run goes on.
    const id = ids[i % o.contexts]!;
    const res = await post(base, `/v1/contexts/${id}/messages`, { role: 'user', content: text });
    const body = await res.text();
    if (res.status !== 201) throw new Error(`append: ${res.status} ${body}`);
    bytes += Buffer.byteLength(body); // the record's JSON is exactly the 201 body
  });
  return { ids, bytes };
}

export async function measureResidentMemory(o: MemoryOptions): Promise<MemoryFigures> {
  const log = o.log ?? (() => {});
  const inspectPort = await freePort();
  const server = await startServerProcess(o.dataDir, {
    ...o.env,
    NODE_OPTIONS: `${o.env?.NODE_OPTIONS ?? ''} --inspect=127.0.0.1:${inspectPort}`.trim(),
  });
  const pid = server.proc.pid!;
  let stderr = '';
  server.proc.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  let finished = false;
  server.proc.once('exit', (code, signal) => {
    if (!finished) log(`server exited early: code ${code}, signal ${signal}; stderr:\n${stderr}`);
  });
  try {
    const base = server.url;
    await warmUp(base, o.messageBytes);
    // One tiny context stays for the whole run: reading it wakes the workers (see gc-helper).
    const probe = await post(base, '/v1/contexts', { model_id: 'probe', mode: 'chat' });
    const probeUrl = `${base}/v1/contexts/${((await probe.json()) as { id: string }).id}`;
    const baselineRss = await collectedRss(pid, inspectPort, probeUrl);
    const baseline = levels(await health(base));
    log(`baseline: rss ${mb(baselineRss)}, arena ${JSON.stringify(baseline)}`);

    let t = Date.now();
    const first = await populate(base, o);
    const createSeconds = (Date.now() - t) / 1000;
    const peakRss = rssOf(pid);
    const afterCreateRss = await collectedRss(pid, inspectPort, probeUrl);
    const afterCreate = levels(await health(base));
    log(`created ${o.contexts}×${o.messages}: ${mb(first.bytes)} of records in ${createSeconds}s`);
    log(
      `  rss ${mb(afterCreateRss)} (${mb(peakRss)} before GC), arena ${JSON.stringify(afterCreate)}`,
    );

    t = Date.now();
    await mapLimit(first.ids, o.concurrency ?? 16, async (id) => {
      const res = await fetch(`${base}/v1/contexts/${id}`, { method: 'DELETE' });
      if (res.status !== 204) throw new Error(`delete: ${res.status}`);
    });
    const deleteSeconds = (Date.now() - t) / 1000;
    const afterDeleteRss = await collectedRss(pid, inspectPort, probeUrl);
    const afterDelete = levels(await health(base));
    log(`deleted: rss ${mb(afterDeleteRss)}, arena ${JSON.stringify(afterDelete)}`);

    t = Date.now();
    const second = await populate(base, o);
    const recreateSeconds = (Date.now() - t) / 1000;
    const afterRecreateRss = await collectedRss(pid, inspectPort, probeUrl);
    const afterRecreate = levels(await health(base));
    log(`recreated: rss ${mb(afterRecreateRss)}, arena ${JSON.stringify(afterRecreate)}`);
    if (second.bytes !== first.bytes) {
      log(`note: record bytes differ between rounds: ${first.bytes} vs ${second.bytes}`);
    }

    finished = true;
    return {
      contexts: o.contexts,
      messages: o.messages,
      messageBytes: o.messageBytes,
      recordBytes: first.bytes,
      baselineRssBytes: baselineRss,
      afterCreateRssBytes: afterCreateRss,
      afterDeleteRssBytes: afterDeleteRss,
      afterRecreateRssBytes: afterRecreateRss,
      peakRssBytes: peakRss,
      peakRssRatio: (peakRss - baselineRss) / first.bytes,
      rssRatio: (afterCreateRss - baselineRss) / first.bytes,
      arenaRatio: (afterCreate.usedBytes - baseline.usedBytes) / first.bytes,
      arena: { baseline, afterCreate, afterDelete, afterRecreate },
      seconds: { create: createSeconds, delete: deleteSeconds, recreate: recreateSeconds },
    };
  } finally {
    finished = true;
    await server.stop();
  }
}

export function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
