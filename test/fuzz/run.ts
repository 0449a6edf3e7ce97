/**
 * `npm run fuzz [-- --requests 50000 --seed N --minutes 10 --concurrency 8]`: a longer
 * fuzz campaign than the one in `npm test` (default 20,000 requests or 10 minutes, whichever
 * comes first; at most 60 minutes), with the server's default 1 MiB body limit. Prints a
 * summary; exits 1 if any promise was broken.
 */
import { parseArgs } from 'node:util';
import { runCampaign } from './campaign.js';
import { seedFromEnv } from './rng.js';
import { summarize } from './summary.js';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '20000' },
    seed: { type: 'string' },
    minutes: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '8' },
    'max-body-bytes': { type: 'string', default: String(1024 * 1024) },
    examples: { type: 'string', default: '5' },
  },
});

const seed = values.seed === undefined ? seedFromEnv() : Number(values.seed) >>> 0;
console.log(`fuzz: seed ${seed}`);
const result = await runCampaign({
  seed,
  requests: Number(values.requests),
  concurrency: Math.max(1, Math.min(64, Number(values.concurrency))),
  timeLimitMs: Math.min(60, Number(values.minutes)) * 60_000,
  maxBodyBytes: Number(values['max-body-bytes']),
  log: (line) => console.log(line),
});
console.log(summarize(result, Number(values.examples)));
process.exitCode = result.violations.length > 0 ? 1 : 0;
