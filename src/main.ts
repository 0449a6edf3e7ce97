import { loadConfig } from './config.js';
import { startServer } from './server.js';

/** `npm start`: serve on the configured address until SIGTERM or SIGINT, then drain. */
async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    console.error(`configuration error: ${(err as Error).message}`);
    process.exit(2);
  }
  const server = await startServer(config);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    server.log.info({ signal, timeoutMs: config.shutdownTimeoutMs }, 'draining');
    // The drain cuts connections at SHUTDOWN_TIMEOUT_MS; should stopping the workers then
    // hang as well, the process still ends.
    setTimeout(() => {
      server.log.error('shutdown did not finish in time; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs + 5_000).unref();
    server.close().then(
      () => {
        server.log.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        server.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
