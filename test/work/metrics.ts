/** Reads the server's own `/metrics` (Prometheus text) and `/health`, for tests. */

import { fetchAt } from '../support/http.js';

export type Scrape = Map<string, number>;

/** Every sample line, keyed `name` or `name{labels as printed}`. */
export async function scrape(base: string): Promise<Scrape> {
  const res = await fetchAt(`${base}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  const samples: Scrape = new Map();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    samples.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return samples;
}

/** One sample; `op` selects the `{op="…"}` series of a per-op counter. Missing reads 0. */
export function sample(s: Scrape, name: string, op?: string): number {
  return s.get(op === undefined ? name : `${name}{op="${op}"}`) ?? 0;
}

/** How much each named sample grew between two scrapes. */
export function grew(before: Scrape, after: Scrape, name: string, op?: string): number {
  return sample(after, name, op) - sample(before, name, op);
}

export interface Health {
  status: string;
  contexts: number;
  corrupt_contexts: number;
  resident_contexts: number;
  slots_in_use: number;
  loads: number;
  evictions: number;
  shared_bytes: { usedBytes: number; liveBlocks: number; carvedBytes: number; bufferBytes: number };
}

export async function health(base: string): Promise<Health> {
  const res = await fetchAt(`${base}/health`);
  if (res.status !== 200) throw new Error(`/health answered ${res.status}`);
  return (await res.json()) as Health;
}

/** Runs `fn` over `items` with at most `concurrency` calls in flight; results in order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(lanes);
  return results;
}
