/**
 * `npm run soak [-- --minutes 10 --env MALLOC_ARENA_MAX=2 ...]`: a steady mixed load
 * (reads, appends, SSE subscribers, listing) on steady resident data against the real
 * server in its own process, sampling its memory every few seconds. Bounded by
 * `--minutes` (default 10, at most 120); not part of `npm test`. Prints a table and a
 * summary, and writes the samples as JSON under bench/results/ (`soak-*.json`, ignored
 * by git: the figures worth keeping go in docs/reliability.md).
 */
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { forEachConcurrent } from '../lib/http.js';
import { startProduct } from '../lib/process.js';
import { appendMessage, createContext, type LoadCounters, messageText, runLoad } from './load.js';
import { sparkline, summarize, table } from './report.js';
import { type MemorySample, sampleMemory, smapsRollup } from './sampler.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    contexts: { type: 'string', default: '100' },
    messages: { type: 'string', default: '50' },
    'message-bytes': { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '8' },
    subscribers: { type: 'string', default: '8' },
    'sample-seconds': { type: 'string', default: '5' },
    workers: { type: 'string', default: '2' },
    env: { type: 'string', multiple: true, default: [] },
    'node-option': { type: 'string', multiple: true, default: [] },
    label: { type: 'string', default: 'default' },
    // Where to copy the server's stdout (its log, and --trace-gc lines of every isolate).
    'server-log': { type: 'string' },
  },
});

const minutes = Math.min(120, Number(values.minutes));
const contexts = Number(values.contexts);
const messages = Number(values.messages);
const messageBytes = Number(values['message-bytes']);
const sampleMs = Number(values['sample-seconds']) * 1000;
const serverEnv: Record<string, string> = { LOG_LEVEL: 'info', FSYNC: 'false' };
for (const pair of values.env) {
  const eq = pair.indexOf('=');
  if (eq > 0) serverEnv[pair.slice(0, eq)] = pair.slice(eq + 1);
}

const dataDir = mkdtempSync(join(tmpdir(), 'ccs-soak-'));
const server = await startProduct(dataDir, {
  workers: Number(values.workers),
  env: serverEnv,
  execArgv: values['node-option'],
});
if (values['server-log'] !== undefined) {
  const log = createWriteStream(values['server-log']);
  server.proc.stdout?.on('data', (chunk: Buffer) => log.write(chunk));
}
console.log(
  `soak: ${minutes} min, ${contexts} contexts x ${messages} messages of ${messageBytes} B, ` +
    `pid ${server.pid}, env ${JSON.stringify(serverEnv)}`,
);

try {
  const resident: string[] = [];
  const seedStart = Date.now();
  for (let i = 0; i < contexts; i++)
    resident.push(await createContext(server.url, `resident-${i}`));
  await forEachConcurrent(resident, 8, async (id) => {
    for (let n = 0; n < messages; n++) {
      const status = await appendMessage(server.url, id, messageText(messageBytes, n));
      if (status !== 201) throw new Error(`seed append answered ${status}`);
    }
  });
  console.log(`seeded in ${((Date.now() - seedStart) / 1000).toFixed(0)} s`);

  const counters: LoadCounters = {
    requests: 0,
    byKind: {},
    errors: 0,
    failures: {},
    sseEvents: 0,
    sseReconnects: 0,
    errorSamples: [],
  };
  const start = Date.now();
  const deadline = start + minutes * 60_000;
  const samples: MemorySample[] = [];
  const sample = async () => {
    const t = (Date.now() - start) / 1000;
    samples.push(await sampleMemory(server.pid, server.url, t, counters.requests));
  };
  await sample();
  const sampler = setInterval(() => {
    sample().catch((err: unknown) => console.error('sample failed', err));
  }, sampleMs);
  const smapsBefore = smapsRollup(server.pid);
  await runLoad(
    {
      url: server.url,
      resident,
      messagesPerContext: messages,
      scratchCount: 20,
      scratchMax: 200,
      concurrency: Number(values.concurrency),
      subscribers: Number(values.subscribers),
      messageBytes,
      deadline,
    },
    counters,
  );
  clearInterval(sampler);
  await sample();
  const smapsAfter = smapsRollup(server.pid);

  const summary = summarize(samples);
  // The samples are written first: a report that fails to print loses nothing.
  const resultsDir = fileURLToPath(new URL('../../../bench/results/', import.meta.url));
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `soak-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      {
        label: values.label,
        options: { minutes, contexts, messages, messageBytes, workers: values.workers },
        serverEnv,
        nodeOptions: values['node-option'],
        counters,
        summary,
        smapsBefore,
        smapsAfter,
        samples,
      },
      null,
      1,
    ),
  );
  console.log(table(samples));
  console.log(`RSS       ${sparkline(samples, (s) => s.rss)}`);
  console.log(`heapUsed  ${sparkline(samples, (s) => s.heapUsed)}`);
  console.log('summary (MB; growth in MB/min over the first and the second half):');
  for (const [name, s] of Object.entries(summary.series)) {
    console.log(
      `  ${name.padEnd(18)} ${String(s.first).padStart(7)} -> ${String(s.last).padStart(7)}` +
        `  max ${String(s.max).padStart(7)}  ${s.firstHalfMbPerMin} / ${s.secondHalfMbPerMin} MB/min`,
    );
  }
  console.log(
    `requests ${counters.requests} (${JSON.stringify(counters.byKind)}), errors ${counters.errors}, ` +
      `failures ${JSON.stringify(counters.failures)}, SSE events ${counters.sseEvents}, ` +
      `SSE connections ${counters.sseReconnects}`,
    counters.errorSamples.length > 0 ? `\nerrors: ${counters.errorSamples.join('; ')}` : '',
  );

  console.log(`wrote ${file}`);
  if (Object.keys(counters.failures).length > 0) process.exitCode = 1;
} finally {
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
