import type pg from 'pg';
import { StorageError } from '../errors.js';

/**
 * The PostgreSQL schema, as numbered migrations applied in order on start. Each instance
 * migrates inside one transaction holding a transaction-scoped advisory lock, so instances
 * starting together take turns: the first applies what is missing, the others find it done.
 * A migration, once released, is never edited: a change is a new one at the end.
 */
const MIGRATIONS: readonly string[] = [
  // 1: contexts with their owner epoch, snapshots, ops, prompts.
  `
  -- Owner epochs come from one sequence: never reused, even by a re-created id.
  CREATE SEQUENCE owner_epochs;

  CREATE TABLE contexts (
    id text COLLATE "C" PRIMARY KEY,
    owner text NOT NULL,              -- the instance holding owner_epoch (diagnostics)
    owner_epoch bigint NOT NULL,      -- the fence every write checks
    version bigint NOT NULL,          -- newest op's version (the snapshot's when none)
    snapshot_version bigint NOT NULL,
    updated_at timestamptz NOT NULL,  -- summary.updated_at, the listing's order
    message_count bigint NOT NULL,
    summary bytea NOT NULL            -- msgpack of the summary after the newest op
  );
  CREATE INDEX contexts_recent ON contexts (updated_at DESC, id DESC);

  CREATE TABLE snapshots (
    context_id text COLLATE "C" PRIMARY KEY REFERENCES contexts (id) ON DELETE CASCADE,
    version bigint NOT NULL,
    bytes bytea NOT NULL              -- msgpack of the snapshot
  );

  CREATE TABLE ops (
    context_id text COLLATE "C" NOT NULL REFERENCES contexts (id) ON DELETE CASCADE,
    version bigint NOT NULL,
    bytes bytea NOT NULL,             -- msgpack of the op
    PRIMARY KEY (context_id, version)
  );

  CREATE TABLE prompts (
    id text COLLATE "C" PRIMARY KEY,
    bytes bytea NOT NULL              -- msgpack of { id, content }
  );
  `,
  // 2: the snapshot's version lives in snapshots only (contexts kept a copy to keep in step).
  `
  ALTER TABLE contexts DROP COLUMN snapshot_version;
  `,
];

/** Arbitrary, fixed: the advisory lock key instances migrate under. */
const MIGRATION_LOCK = 0x63637331; // "ccs1"

/** Brings the schema up to date; returns the migrations this call applied. */
export async function migrate(client: pg.ClientBase): Promise<number> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         version integer PRIMARY KEY,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const done = await client.query<{ v: number | null }>(
      'SELECT max(version) AS v FROM schema_migrations',
    );
    const current = done.rows[0]?.v ?? 0;
    if (current > MIGRATIONS.length) {
      // A newer release migrated this database: its schema may mean what this one cannot.
      throw new StorageError(
        `database schema is at version ${current}, newer than this release knows (${MIGRATIONS.length}); refusing to start`,
      );
    }
    for (let n = current + 1; n <= MIGRATIONS.length; n++) {
      await client.query(MIGRATIONS[n - 1]!);
      await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [n]);
    }
    await client.query('COMMIT');
    return Math.max(0, MIGRATIONS.length - current);
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

export const SCHEMA_VERSION = MIGRATIONS.length;
