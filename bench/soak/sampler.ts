import { readFileSync } from 'node:fs';

/** One memory sample of the server process: the kernel's view and the main isolate's. */
export interface MemorySample {
  /** Seconds since the load started. */
  t: number;
  /** /proc/<pid>/status, bytes. */
  rss: number;
  rssAnon: number;
  rssFile: number;
  rssShmem: number;
  vmSize: number;
  threads: number;
  /** glibc arenas show up as 64 MiB-aligned anonymous mappings; this counts mappings. */
  mappings: number;
  /** /metrics (main thread): V8 heap and memory outside it. */
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** /metrics: the shared-memory arena (bytes in live blocks, carved high-water, buffer). */
  arenaUsed: number;
  arenaCarved: number;
  arenaBuffer: number;
  residentContexts: number;
  /** Requests completed so far (all kinds). */
  requests: number;
}

function statusField(status: string, name: string): number {
  const match = new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status);
  return match ? Number(match[1]) : 0;
}

/** Parses `name value` lines of Prometheus text (no labels) into a map. */
export function parseMetrics(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.includes('{')) continue;
    const space = line.lastIndexOf(' ');
    if (space > 0) values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}

/** Reads one sample of process `pid`, whose server answers at `url`. */
export async function sampleMemory(
  pid: number,
  url: string,
  t: number,
  requests: number,
): Promise<MemorySample> {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name: string) => statusField(status, name) * 1024;
  let mappings = 0;
  try {
    mappings = readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n').length - 1;
  } catch {
    // not Linux
  }
  const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const metrics = parseMetrics(await res.text());
  const metric = (name: string) => metrics.get(name) ?? Number.NaN;
  return {
    t,
    rss: kib('VmRSS'),
    rssAnon: kib('RssAnon'),
    rssFile: kib('RssFile'),
    rssShmem: kib('RssShmem'),
    vmSize: kib('VmSize'),
    threads: statusField(status, 'Threads'),
    mappings,
    heapUsed: metric('nodejs_heap_size_used_bytes'),
    heapTotal: metric('nodejs_heap_size_total_bytes'),
    external: metric('nodejs_external_memory_bytes'),
    arrayBuffers: metric('nodejs_array_buffers_bytes'),
    arenaUsed: metric('ccs_arena_used_bytes'),
    arenaCarved: metric('ccs_arena_carved_bytes'),
    arenaBuffer: metric('ccs_arena_buffer_bytes'),
    residentContexts: metric('ccs_resident_contexts'),
    requests,
  };
}

/** /proc/<pid>/smaps_rollup as a map of field → bytes (empty where unavailable). */
export function smapsRollup(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  try {
    for (const line of readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').split('\n')) {
      const match = /^(\w+):\s+(\d+) kB/.exec(line);
      if (match) out[match[1]!] = Number(match[2]) * 1024;
    }
  } catch {
    // not Linux
  }
  return out;
}
