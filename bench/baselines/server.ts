import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import { ceilingApp, mutexCloneApp, singleThreadApp } from './apps.js';
import { fromSeed, type StoredContext } from './model.js';
import { readSeedFile } from './seed.js';

/**
 * A baseline server for the benchmark:
 * `node dist/bench/baselines/server.js --kind mutex-clone|single-thread|ceiling
 *  [--seed-file FILE] [--port 0] [--host 127.0.0.1]`.
 * Logs `{"msg":"listening","url":...}` on stdout when it is ready, like the product.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      kind: { type: 'string' },
      'seed-file': { type: 'string' },
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
    },
  });
  const kind = values.kind;
  const contexts = new Map<string, StoredContext>();
  const responses = new Map<string, Uint8Array>();
  if (values['seed-file'] !== undefined) {
    await readSeedFile(values['seed-file'], (line) => {
      if ('context' in line) {
        if (kind !== 'ceiling') contexts.set(line.context.dto.id as string, fromSeed(line.context));
      } else if (kind === 'ceiling') {
        responses.set(line.response.path, Buffer.from(line.response.body));
      }
    });
  }
  let app: Hono;
  switch (kind) {
    case 'single-thread':
      app = singleThreadApp(contexts);
      break;
    case 'mutex-clone':
      app = mutexCloneApp(contexts);
      break;
    case 'ceiling':
      app = ceilingApp(responses);
      break;
    default:
      console.error(`unknown --kind ${kind}: mutex-clone, single-thread or ceiling`);
      process.exit(2);
  }
  // Collect the garbage of reading the seed, so resident memory is the data being served.
  (globalThis as { gc?: () => void }).gc?.();

  const server = serve({ fetch: app.fetch, port: Number(values.port), hostname: values.host });
  server.once('listening', () => {
    const { port } = server.address() as AddressInfo;
    const url = `http://${values.host}:${port}`;
    process.stdout.write(`${JSON.stringify({ msg: 'listening', kind, url })}\n`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
