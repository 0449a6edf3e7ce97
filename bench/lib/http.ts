/** A small HTTP client for seeding and exporting (not on any measured path). */

export interface HttpResult {
  status: number;
  text: string;
  headers: Headers;
}

export async function http(
  url: string,
  init: { method?: string; json?: unknown } = {},
): Promise<HttpResult> {
  const res = await fetch(url, {
    method: init.method ?? 'GET',
    ...(init.json === undefined
      ? {}
      : { body: JSON.stringify(init.json), headers: { 'content-type': 'application/json' } }),
  });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

export async function httpJson<T>(
  url: string,
  init: { method?: string; json?: unknown; expect?: number } = {},
): Promise<T> {
  const res = await http(url, init);
  const expect = init.expect ?? 200;
  if (res.status !== expect) {
    throw new Error(`${init.method ?? 'GET'} ${url}: ${res.status} ${res.text.slice(0, 300)}`);
  }
  return JSON.parse(res.text) as T;
}

/** Runs `fn` over `items` with at most `concurrency` calls in flight. */
export async function forEachConcurrent<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const runners = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  });
  await Promise.all(runners);
}
