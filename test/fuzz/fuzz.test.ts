import { expect, it } from 'vitest';
import { runCampaign } from './campaign.js';
import { seedFromEnv } from './rng.js';
import { summarize } from './summary.js';

/**
 * A seeded fuzz of every route against a real server process (bounded: 2,500 requests or
 * 30 s of fuzzing, 8 in flight; a 64 KiB body limit so that bodies near and over it stay
 * cheap). `FUZZ_SEED=<n>` replays a seed; the seed is printed with every failure.
 * `npm run fuzz` runs a longer campaign.
 */
it('hostile requests on every route: no 5xx, {error, code} errors, canaries intact, all data back after a restart', async () => {
  const seed = seedFromEnv();
  const result = await runCampaign({
    seed,
    requests: Number(process.env.FUZZ_REQUESTS ?? 2500),
    concurrency: 8,
    timeLimitMs: 30_000,
    maxBodyBytes: 64 * 1024,
  });
  const report = summarize(result);
  expect(result.sent, report).toBeGreaterThan(200);
  expect(result.violations.length, report).toBe(0);
}, 120_000);
