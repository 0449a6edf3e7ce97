/**
 * Runs a full garbage collection in every V8 isolate of a Node process that listens for
 * the inspector (`--inspect=host:port`): the main thread and each worker thread, through
 * the Chrome DevTools Protocol. The main thread gets `HeapProfiler.collectGarbage` (V8
 * serves it as a low-memory notification: full GCs, freed pages handed back to the OS).
 * A worker cannot serve that one while it idles in piscina's `Atomics.wait` (V8 runs it as
 * a task, on an event loop the worker is not running), so it gets a synchronous
 * `Runtime.evaluate` that calls `gc()` instead (exposed for the occasion); the helper keeps
 * requesting `probeUrl` (a cheap read that runs on a worker) while waiting for the answers.
 *
 * Needs a WebSocket client, which Node 20 has behind a flag, so it runs as its own process:
 *   node --experimental-websocket dist/test/memory/gc-helper.js <inspector port> <probe url>
 * Prints how many isolates it collected.
 */
interface Ws {
  send(data: string): void;
  close(): void;
  addEventListener(type: string, listener: (event: { data?: unknown }) => void): void;
}

const port = process.argv[2];
const probeUrl = process.argv[3];
const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as {
  webSocketDebuggerUrl: string;
}[];
const WebSocketCtor = (globalThis as unknown as { WebSocket: new (url: string) => Ws }).WebSocket;
const ws = new WebSocketCtor(targets[0]!.webSocketDebuggerUrl);
await new Promise<void>((resolve, reject) => {
  ws.addEventListener('open', () => resolve());
  ws.addEventListener('error', () => reject(new Error('inspector connection failed')));
});

let nextId = 1;
const waiting = new Map<number, () => void>();
const workers: string[] = [];
const workerWaiting = new Map<string, () => void>();
ws.addEventListener('message', (event) => {
  const msg = JSON.parse(String(event.data)) as {
    id?: number;
    method?: string;
    params?: { sessionId: string; message?: string };
  };
  if (msg.id !== undefined) waiting.get(msg.id)?.();
  if (msg.method === 'NodeWorker.attachedToWorker') workers.push(msg.params!.sessionId);
  if (msg.method === 'NodeWorker.receivedMessageFromWorker') {
    const inner = JSON.parse(msg.params!.message!) as { id?: number };
    if (inner.id !== undefined) workerWaiting.get(`${msg.params!.sessionId}:${inner.id}`)?.();
  }
});

function call(method: string, params: unknown = {}): Promise<void> {
  const id = nextId++;
  return new Promise((resolve) => {
    waiting.set(id, resolve);
    ws.send(JSON.stringify({ id, method, params }));
  });
}

/** Full, synchronous GCs of the worker's heap (gc() exposed through the v8 module). */
const WORKER_GC = `(() => {
  const v8 = process.getBuiltinModule('v8');
  const vm = process.getBuiltinModule('vm');
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc');
  gc();
  gc();
  return true;
})()`;

function callWorker(sessionId: string, method: string, params: unknown = {}): Promise<void> {
  const id = nextId++;
  return new Promise((resolve) => {
    workerWaiting.set(`${sessionId}:${id}`, resolve);
    const message = JSON.stringify({ id, method, params });
    ws.send(
      JSON.stringify({
        id: nextId++,
        method: 'NodeWorker.sendMessageToWorker',
        params: { sessionId, message },
      }),
    );
  });
}

await call('NodeWorker.enable', { waitForDebuggerOnStart: false });
await new Promise((r) => setTimeout(r, 200)); // attachedToWorker events arrive meanwhile
let collectedWorkers = 0;
for (let round = 0; round < 2; round++) {
  const pending = workers.map((sessionId) =>
    callWorker(sessionId, 'Runtime.evaluate', { expression: WORKER_GC }).then(
      () => collectedWorkers++,
    ),
  );
  let done = false;
  const all = Promise.all(pending).then(() => {
    done = true;
  });
  const deadline = Date.now() + 10_000;
  while (!done && Date.now() < deadline && probeUrl !== undefined) {
    await Promise.all(Array.from({ length: 4 }, () => fetch(probeUrl).then((r) => r.text())));
    await Promise.race([all, new Promise((r) => setTimeout(r, 20))]);
  }
  await Promise.race([all, new Promise((r) => setTimeout(r, 100))]);
  await call('HeapProfiler.collectGarbage');
}
await call('NodeWorker.disable');
ws.close();
console.log(JSON.stringify({ workers: workers.length, collectedWorkers: collectedWorkers / 2 }));
process.exit(0);
