import { parseArgs } from 'node:util';
import { makeDataDir } from '../support/server-process.js';
import { mb, measureResidentMemory } from './rss.js';

/**
 * Full-size resident-memory measurement (acceptance 5 of issue 4), too slow for `npm test`
 * (two rounds of 100,000 appends with fsync). Build, then run:
 *
 *   npx tsc -p . && node dist/test/memory/measure.js [--contexts 1000] [--messages 100]
 *     [--bytes 1024] [--concurrency 16] [--env KEY=value ...]
 *
 * Prints the figures docs/memory.md reports, and a JSON line with all of them.
 */
const { values } = parseArgs({
  options: {
    contexts: { type: 'string', default: '1000' },
    messages: { type: 'string', default: '100' },
    bytes: { type: 'string', default: '1024' },
    concurrency: { type: 'string', default: '16' },
    /** Extra server environment, `KEY=value`, repeatable (e.g. NODE_OPTIONS=...). */
    env: { type: 'string', multiple: true, default: [] },
  },
});
const env = Object.fromEntries(
  (values.env ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
);

const data = makeDataDir('ccs-measure-');
try {
  const figures = await measureResidentMemory({
    dataDir: data.dir,
    contexts: Number(values.contexts),
    messages: Number(values.messages),
    messageBytes: Number(values.bytes),
    concurrency: Number(values.concurrency),
    env,
    log: (line) => console.log(line),
  });
  const { arena } = figures;
  console.log('');
  console.log(`records stored:           ${mb(figures.recordBytes)}`);
  console.log(
    `RSS growth:               ${mb(figures.afterCreateRssBytes - figures.baselineRssBytes)} ` +
      `(${figures.rssRatio.toFixed(3)}× the records; bound 1.5×)`,
  );
  console.log(`arena in use:             ${figures.arenaRatio.toFixed(3)}× the records`);
  console.log(
    `arena used  create/delete/recreate: ${arena.afterCreate.usedBytes} / ` +
      `${arena.afterDelete.usedBytes} / ${arena.afterRecreate.usedBytes}`,
  );
  console.log(
    `arena carved create/delete/recreate: ${arena.afterCreate.carvedBytes} / ` +
      `${arena.afterDelete.carvedBytes} / ${arena.afterRecreate.carvedBytes}`,
  );
  console.log(
    `RSS after delete / recreate: ${mb(figures.afterDeleteRssBytes)} / ` +
      `${mb(figures.afterRecreateRssBytes)}`,
  );
  console.log(JSON.stringify(figures));
} finally {
  data.remove();
}
