import type { MemorySample } from './sampler.js';

const MB = 1024 * 1024;
const mb = (bytes: number) => (Number.isFinite(bytes) ? (bytes / MB).toFixed(1) : '-');

/** Least-squares slope of `y` over `t`, per minute. */
export function slopePerMinute(samples: MemorySample[], y: (s: MemorySample) => number): number {
  const n = samples.length;
  if (n < 2) return 0;
  const mt = samples.reduce((a, s) => a + s.t, 0) / n;
  const my = samples.reduce((a, s) => a + y(s), 0) / n;
  let num = 0;
  let den = 0;
  for (const s of samples) {
    num += (s.t - mt) * (y(s) - my);
    den += (s.t - mt) ** 2;
  }
  return den === 0 ? 0 : (num / den) * 60;
}

export interface SoakSummary {
  samples: number;
  seconds: number;
  /** MB at the first sample, the last, and the growth rate over each half (MB/min). */
  series: Record<
    string,
    {
      first: number;
      last: number;
      max: number;
      firstHalfMbPerMin: number;
      secondHalfMbPerMin: number;
    }
  >;
}

const SERIES: Record<string, (s: MemorySample) => number> = {
  rss: (s) => s.rss,
  rssAnon: (s) => s.rssAnon,
  heapUsed: (s) => s.heapUsed,
  heapTotal: (s) => s.heapTotal,
  external: (s) => s.external,
  arrayBuffers: (s) => s.arrayBuffers,
  arenaCarved: (s) => s.arenaCarved,
  arenaUsed: (s) => s.arenaUsed,
  smapsSab: (s) => s.smaps?.sab ?? Number.NaN,
  smapsMallocBrk: (s) => s.smaps?.brk ?? Number.NaN,
  smapsMallocThreads: (s) => s.smaps?.mallocThreads ?? Number.NaN,
  smapsOtherAnon: (s) => s.smaps?.otherAnon ?? Number.NaN,
};

export function summarize(samples: MemorySample[]): SoakSummary {
  const half = Math.floor(samples.length / 2);
  const series: SoakSummary['series'] = {};
  for (const [name, y] of Object.entries(SERIES)) {
    const values = samples.map(y);
    series[name] = {
      first: Number(mb(values[0] ?? 0)),
      last: Number(mb(values.at(-1) ?? 0)),
      max: Number(mb(Math.max(...values))),
      firstHalfMbPerMin: Number((slopePerMinute(samples.slice(0, half + 1), y) / MB).toFixed(2)),
      secondHalfMbPerMin: Number((slopePerMinute(samples.slice(half), y) / MB).toFixed(2)),
    };
  }
  return { samples: samples.length, seconds: samples.at(-1)?.t ?? 0, series };
}

/** A text table of (about `rows`) evenly spaced samples, in MB. */
export function table(samples: MemorySample[], rows = 20): string {
  const every = Math.max(1, Math.ceil(samples.length / rows));
  const picked = samples.filter((_, i) => i % every === 0 || i === samples.length - 1);
  const head = [
    't(s)',
    'RSS',
    'anon',
    'file',
    'heapUsed',
    'heapTotal',
    'external',
    'arrayBuf',
    'arenaUsed',
    'arenaCarved',
    'sab',
    'brk',
    'mallocT',
    'otherAnon',
    'threads',
    'maps',
    'requests',
  ];
  const lines = picked.map((s) => [
    s.t.toFixed(0),
    mb(s.rss),
    mb(s.rssAnon),
    mb(s.rssFile),
    mb(s.heapUsed),
    mb(s.heapTotal),
    mb(s.external),
    mb(s.arrayBuffers),
    mb(s.arenaUsed),
    mb(s.arenaCarved),
    mb(s.smaps?.sab ?? Number.NaN),
    mb(s.smaps?.brk ?? Number.NaN),
    mb(s.smaps?.mallocThreads ?? Number.NaN),
    mb(s.smaps?.otherAnon ?? Number.NaN),
    String(s.threads),
    String(s.mappings),
    String(s.requests),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const row = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  return [row(head), ...lines.map(row)].join('\n');
}

/** A one-line chart of RSS over time (min…max of the run). */
export function sparkline(samples: MemorySample[], y: (s: MemorySample) => number): string {
  const bars = '▁▂▃▄▅▆▇█';
  const values = samples.map(y);
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const span = hi - lo || 1;
  return values.map((v) => bars[Math.min(7, Math.floor(((v - lo) / span) * 8))]).join('');
}
