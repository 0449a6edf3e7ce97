import autocannon from 'autocannon';
import type { LoadJob, LoadResult, StorageWork } from './load.js';
import { cpuSecondsOf, machineBusySeconds, waitIdle } from './process.js';
import { Samples, summarize } from './stats.js';

/**
 * The load generator's process (forked by `runLoad`): receives one job over IPC, runs a
 * warm-up and then the measured run with autocannon, and sends back the result.
 *
 * Latencies are taken from autocannon's per-response event (sub-millisecond precision)
 * rather than its histogram (whole milliseconds), and split by status: 200 = read,
 * 201 = append, so that a mixed run's read percentiles hold reads only.
 */

interface Measured {
  /** Seconds the responses span (for rates). */
  seconds: number;
  /** Wall-clock seconds of the whole autocannon run (for CPU rates). */
  wallSeconds: number;
  reads: Samples;
  writes: Samples;
  statuses: Record<string, number>;
  errors: number;
  timeouts: number;
}

/** The product's storage counters of appends (op="appendMessage"), from /metrics. */
async function storageCounters(url: string): Promise<StorageWork> {
  const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  const read = (name: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${name}{op="appendMessage"} `));
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
  };
  return {
    appends: read('ccs_storage_appends_total'),
    appendBytes: read('ccs_storage_append_bytes_total'),
    compactions: read('ccs_storage_compactions_total'),
    compactBytes: read('ccs_storage_compact_bytes_total'),
  };
}

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)]!;
}

function requestsOf(requests: LoadJob['requests']): autocannon.Request[] {
  return requests.map((r) => {
    const base: autocannon.Request = {
      method: r.method,
      path: r.paths[0]!,
      ...(r.body === undefined
        ? {}
        : { body: r.body, headers: { 'content-type': 'application/json' } }),
    };
    if (r.paths.length > 1) {
      const paths = r.paths;
      base.setupRequest = (req) => {
        req.path = pick(paths);
        return req;
      };
    }
    return base;
  });
}

function run(
  job: LoadJob,
  requests: LoadJob['requests'],
  seconds: number,
  amount?: number,
): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const reads = new Samples();
    const writes = new Samples();
    const started = performance.now();
    let lastResponse = started;
    const instance = autocannon(
      {
        url: job.url,
        connections: job.connections,
        duration: seconds,
        ...(amount === undefined ? {} : { amount }),
        requests: requestsOf(requests),
        timeout: 10,
      },
      (err, result) => {
        if (err) {
          reject(err);
          return;
        }
        const statuses: Record<string, number> = {};
        for (const [code, entry] of Object.entries(result.statusCodeStats ?? {})) {
          statuses[code] = entry.count ?? 0;
        }
        resolve({
          // With `amount`, autocannon notices the end only at its next 1 s tick: the run
          // lasted until the last response.
          seconds: amount === undefined ? result.duration : (lastResponse - started) / 1000,
          wallSeconds: (performance.now() - started) / 1000,
          reads,
          writes,
          statuses,
          errors: result.errors,
          timeouts: result.timeouts,
        });
      },
    );
    instance.on('response', (_client, status, _bytes, ms) => {
      lastResponse = performance.now();
      if (status === 200) reads.push(ms);
      else if (status === 201) writes.push(ms);
    });
  });
}

async function handle(job: LoadJob): Promise<LoadResult> {
  if (job.warmupSeconds > 0) {
    await run(job, job.warmupRequests ?? job.requests, job.warmupSeconds);
    // Let the server work off what the warm-up left in flight before measuring.
    await waitIdle(job.serverPid);
  }
  const storageBefore = job.storageWork ? await storageCounters(job.url) : undefined;
  const cpuBefore = process.cpuUsage();
  const serverBefore = cpuSecondsOf(job.serverPid);
  const machineBefore = machineBusySeconds();
  const measured = await run(job, job.requests, job.durationSeconds, job.amount);
  const machineAfter = machineBusySeconds();
  const serverAfter = cpuSecondsOf(job.serverPid);
  const cpu = process.cpuUsage(cpuBefore);
  // Requests still in flight when the run ended: the next run must not pay for them.
  const drainSeconds = await waitIdle(job.serverPid);
  let storage: StorageWork | undefined;
  if (storageBefore !== undefined) {
    const after = await storageCounters(job.url);
    storage = {
      appends: after.appends - storageBefore.appends,
      appendBytes: after.appendBytes - storageBefore.appendBytes,
      compactions: after.compactions - storageBefore.compactions,
      compactBytes: after.compactBytes - storageBefore.compactBytes,
    };
  }
  const s = measured.seconds;
  const wall = measured.wallSeconds;
  const serverCpu = (serverAfter - serverBefore) / wall;
  const loadCpu = (cpu.user + cpu.system) / 1e6 / wall;
  return {
    seconds: s,
    read: measured.reads.length > 0 ? summarize(measured.reads.values(), s) : null,
    write: measured.writes.length > 0 ? summarize(measured.writes.values(), s) : null,
    statuses: measured.statuses,
    errors: measured.errors,
    timeouts: measured.timeouts,
    serverCpu,
    loadCpu,
    otherCpu: Math.max(0, (machineAfter - machineBefore) / wall - serverCpu - loadCpu),
    drainSeconds,
    ...(storage === undefined ? {} : { storage }),
  };
}

process.once('message', (job: LoadJob) => {
  handle(job).then(
    (result) => process.send?.({ result }, () => process.exit(0)),
    (err: unknown) =>
      process.send?.({ error: err instanceof Error ? err.message : String(err) }, () =>
        process.exit(1),
      ),
  );
});
