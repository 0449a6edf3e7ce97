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
  /** Resident memory by kind of mapping (see `smapsBreakdown`). */
  smaps: SmapsBreakdown | undefined;
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
    smaps: smapsBreakdown(pid),
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

/**
 * Resident memory of the process by kind of mapping, from /proc/<pid>/smaps:
 * - `sab`: the shared-memory arena (one growable SharedArrayBuffer: a reservation of
 *   ARENA_MAX_BYTES, far bigger than any other mapping);
 * - `brk`: glibc's main malloc arena (`[heap]`);
 * - `mallocThreads`: glibc's per-thread malloc arenas (anonymous mappings that start on a
 *   64 MiB boundary, the size glibc reserves for each);
 * - `otherAnon`: the rest of the anonymous memory (V8 heaps of every isolate, stacks);
 * - `file`: mapped files (the node binary, libraries).
 */
export interface SmapsBreakdown {
  sab: number;
  brk: number;
  mallocThreads: number;
  mallocThreadArenas: number;
  otherAnon: number;
  file: number;
}

const GIB = 1024 ** 3;
const HEAP_MAX = 64 * 1024 * 1024;

export function smapsBreakdown(pid: number): SmapsBreakdown | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return undefined;
  }
  interface Mapping {
    start: bigint;
    end: bigint;
    perms: string;
    name: string;
    rss: number;
  }
  const maps: Mapping[] = [];
  for (const line of text.split('\n')) {
    const header = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (header) {
      maps.push({
        start: BigInt(`0x${header[1]}`),
        end: BigInt(`0x${header[2]}`),
        perms: header[3]!,
        name: header[4]!.trim(),
        rss: 0,
      });
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss && maps.length > 0) maps.at(-1)!.rss = Number(rss[1]) * 1024;
  }
  const out: SmapsBreakdown = {
    sab: 0,
    brk: 0,
    mallocThreads: 0,
    mallocThreadArenas: 0,
    otherAnon: 0,
    file: 0,
  };
  // A growable SharedArrayBuffer reserves its maximum and commits a prefix: contiguous
  // anonymous mappings (rw, then ---p) that add up to at least 1 GiB.
  for (let i = 0; i < maps.length; ) {
    const first = maps[i]!;
    let j = i + 1;
    if (first.name === '') {
      while (j < maps.length && maps[j]!.name === '' && maps[j]!.start === maps[j - 1]!.end) j++;
    }
    const group = maps.slice(i, j);
    const span = Number(group.at(-1)!.end - first.start);
    for (const m of group) {
      if (m.name === '[heap]') out.brk += m.rss;
      else if (m.name.startsWith('/') || m.name.startsWith('['))
        out.file += m.name.startsWith('/') ? m.rss : 0;
      else if (m.name !== '') out.otherAnon += m.rss;
      else if (span >= GIB) out.sab += m.rss;
      else if (
        m.perms.startsWith('rw') &&
        m.start % BigInt(HEAP_MAX) === 0n &&
        Number(m.end - m.start) <= HEAP_MAX
      ) {
        out.mallocThreads += m.rss;
        out.mallocThreadArenas++;
      } else out.otherAnon += m.rss;
    }
    i = j;
  }
  return out;
}
