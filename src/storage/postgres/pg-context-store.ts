import pg from 'pg';
import type { SystemPrompt } from '../../prompts/prompt-library.js';
import { decode, encode, isRecord } from '../codec.js';
import {
  StorageConflictError,
  StorageCorruptError,
  StorageError,
  StorageFencedError,
  StorageNotFoundError,
} from '../errors.js';
import type { ContextStore, PageRequest, StoredContext, StoredOp, SummaryPage } from '../store.js';
import {
  checkPage,
  checkRun,
  compactNotAtHead,
  decodeCursor,
  encodeCursor,
  resentCompacted,
  resentDiffers,
  runGap,
  updatedAtMillis,
} from '../store-checks.js';
import type { ContextSummary, StorageStats } from '../types.js';
import { zeroStorageStats } from '../types.js';
import { connectionSuspect, toStorageError } from './pg-errors.js';
import { migrate } from './pg-schema.js';

export interface PostgresStoreOptions {
  /** postgres://user:password@host:port/database */
  connectionString: string;
  /** Connections in the pool (default 10). */
  maxConnections?: number;
  /**
   * Bound on getting a connection, ms: connecting, or waiting for a free one in the pool
   * (default 5,000). Past it the call fails with StorageUnavailableError.
   */
  connectTimeoutMs?: number;
  /**
   * Bound on one query's answer, ms, measured by this client (so it holds when the server
   * is frozen); default 10,000. Past it the call fails with StorageUnavailableError and its
   * outcome is unknown. The server is told a little less as its statement_timeout and
   * lock_timeout, so a slow or blocked statement is normally cancelled and rolled back there
   * first (a known outcome) rather than left running after the client gave up.
   */
  queryTimeoutMs?: number;
  /** Told about errors on idle connections (a server restart), which pg reports apart. */
  onWarning?: (msg: string, err: unknown) => void;
}

/** How many times appendOps re-reads the head when a concurrent write moved it. */
const APPEND_ATTEMPTS = 3;

/**
 * The ContextStore on PostgreSQL (schema in pg-schema.ts). Every mutating call is one
 * statement, so one implicit transaction and one round trip when nothing is amiss: it
 * checks the owner epoch and the version in its WHERE clause and changes the context row,
 * the snapshot and the ops together. When it changed nothing, a second read finds out why
 * (absent, fenced, a re-sent run, a gap). Under READ COMMITTED an UPDATE that waited for a
 * concurrent one re-checks its WHERE clause against the committed row, so a claim and an
 * append racing each other are ordered: the append lands before the claim or is fenced.
 *
 * Payloads are the file provider's msgpack (codec.ts) in bytea columns.
 */
export class PostgresContextStore implements ContextStore {
  readonly provider = 'postgres';
  private readonly totals: StorageStats = zeroStorageStats();
  private closing: Promise<void> | null = null;

  private constructor(private readonly pool: pg.Pool) {}

  /** Connects, migrates the schema (see pg-schema.ts), and returns the store. */
  static async open(options: PostgresStoreOptions): Promise<PostgresContextStore> {
    const onWarning = options.onWarning ?? (() => {});
    const queryTimeoutMs = options.queryTimeoutMs ?? 10_000;
    const serverTimeoutMs = serverSideTimeout(queryTimeoutMs);
    const pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
      query_timeout: queryTimeoutMs,
      statement_timeout: serverTimeoutMs,
      lock_timeout: serverTimeoutMs,
      // Only the migration opens a transaction: a client lost inside it must not hold the
      // advisory lock (and block every other instance's start) for longer than this.
      idle_in_transaction_session_timeout: queryTimeoutMs,
      keepAlive: true,
    });
    // An idle connection's error (the server restarted) is emitted here, not by a query;
    // unhandled it would crash the process. The pool drops that connection.
    pool.on('error', (err) => onWarning('postgres: idle connection failed', err));
    const store = new PostgresContextStore(pool);
    try {
      await store.query('migrate the schema', (client) => migrate(client));
    } catch (err) {
      await pool.end().catch(() => {});
      throw err;
    }
    return store;
  }

  async create(id: string, owner: string, snapshot: unknown, summary: ContextSummary) {
    const at = isoMillis(summary);
    const bytes = encode(snapshot);
    const epoch = await this.query('create', async (client) => {
      const result = await client.query<{ owner_epoch: string }>(
        `WITH c AS (
           INSERT INTO contexts
             (id, owner, owner_epoch, version, updated_at, message_count, summary)
           VALUES ($1, $2, nextval('owner_epochs'), $3, $4, $5, $6)
           ON CONFLICT (id) DO NOTHING
           RETURNING id, owner_epoch
         ), s AS (
           INSERT INTO snapshots (context_id, version, bytes) SELECT id, $3, $7 FROM c
         )
         SELECT owner_epoch FROM c`,
        [id, owner, summary.version, at, summary.message_count, encode(summary), bytes],
      );
      return result.rows[0]?.owner_epoch;
    });
    if (epoch === undefined) throw new StorageConflictError(id);
    this.totals.snapshotBytes += bytes.length;
    return Number(epoch);
  }

  async claim(id: string, owner: string) {
    const epoch = await this.query('claim', async (client) => {
      const result = await client.query<{ owner_epoch: string }>(
        `UPDATE contexts SET owner = $2, owner_epoch = nextval('owner_epochs')
         WHERE id = $1 RETURNING owner_epoch`,
        [id, owner],
      );
      return result.rows[0]?.owner_epoch;
    });
    if (epoch === undefined) throw new StorageNotFoundError(id);
    return Number(epoch);
  }

  async appendOps(id: string, fence: number, ops: readonly StoredOp[]) {
    checkRun(ops);
    const encoded = ops.map((op) => ({ version: op.version, bytes: encode(op.op) }));
    const last = ops.at(-1)!;
    const at = isoMillis(last.summary);
    const lastSummary = encode(last.summary);
    // Expect the run to follow the stored version; if the write finds otherwise, learn the
    // head, settle the ops already stored, and try the rest.
    let expected = ops[0]!.version - 1;
    for (let attempt = 0; attempt < APPEND_ATTEMPTS; attempt++) {
      const fresh = encoded.filter((op) => op.version > expected);
      if (fresh.length === 0) return;
      const inserted = await this.query('append', async (client) => {
        // Each op's bytes are their own parameter, sent as binary (an array parameter would
        // be sent as hex text: twice the bytes, and slow to build for large ops).
        const rows = fresh.map((_, i) => `($${8 + 2 * i}::bigint, $${9 + 2 * i}::bytea)`);
        const result = await client.query(
          `WITH bumped AS (
             UPDATE contexts SET version = $4, updated_at = $5, message_count = $6, summary = $7
             WHERE id = $1 AND owner_epoch = $2 AND version = $3
             RETURNING id
           )
           INSERT INTO ops (context_id, version, bytes)
           SELECT bumped.id, run.v, run.b FROM bumped, (VALUES ${rows.join(', ')}) AS run(v, b)`,
          [
            id,
            fence,
            expected,
            last.version,
            at,
            last.summary.message_count,
            lastSummary,
            ...fresh.flatMap((op) => [op.version, op.bytes]),
          ],
        );
        return result.rowCount ?? 0;
      });
      if (inserted === fresh.length) {
        this.totals.appends += fresh.length;
        for (const op of fresh) this.totals.appendBytes += op.bytes.length;
        this.totals.logSyncs++;
        return;
      }
      expected = await this.settleResent(id, fence, encoded);
    }
    // The last attempt's settling may show the whole run stored (a concurrent re-send of it).
    if (expected >= last.version) return;
    throw new StorageConflictError(id, `context ${id}: its version kept moving under appendOps`);
  }

  /**
   * After an append changed nothing: why. Throws for absent, fenced, a gap, or a re-sent op
   * that differs; else returns the stored version (ops up to it are stored identically).
   */
  private async settleResent(
    id: string,
    fence: number,
    ops: readonly { version: number; bytes: Buffer }[],
  ): Promise<number> {
    const head = await this.head(id, fence);
    const first = ops[0]!.version;
    if (first > head.version + 1) throw runGap(id, first, head.version);
    const resent = ops.filter((op) => op.version <= head.version);
    if (resent.length === 0) return head.version;
    if (first <= head.snapshotVersion) throw resentCompacted(id, first);
    const stored = await this.query('compare re-sent ops', async (client) => {
      const result = await client.query<{ version: string; bytes: Buffer }>(
        'SELECT version, bytes FROM ops WHERE context_id = $1 AND version = ANY($2::bigint[])',
        [id, resent.map((op) => op.version)],
      );
      return new Map(result.rows.map((row) => [Number(row.version), row.bytes]));
    });
    for (const op of resent) {
      if (!stored.get(op.version)?.equals(op.bytes)) throw resentDiffers(id, op.version);
    }
    return head.version;
  }

  /** The context's versions, after checking that it exists and `fence` is current. */
  private async head(id: string, fence: number) {
    const row = await this.query('read the head', async (client) => {
      const result = await client.query<{
        owner_epoch: string;
        version: string;
        snapshot_version: string;
      }>(
        `SELECT c.owner_epoch, c.version, s.version AS snapshot_version
         FROM contexts c JOIN snapshots s ON s.context_id = c.id WHERE c.id = $1`,
        [id],
      );
      return result.rows[0];
    });
    if (row === undefined) throw new StorageNotFoundError(id);
    if (Number(row.owner_epoch) !== fence) throw new StorageFencedError(id, fence);
    return { version: Number(row.version), snapshotVersion: Number(row.snapshot_version) };
  }

  async compact(id: string, fence: number, snapshot: unknown, summary: ContextSummary) {
    const at = isoMillis(summary);
    const bytes = encode(snapshot);
    let changed: number;
    try {
      changed = await this.query('compact', async (client) => {
        const result = await client.query<{ n: string }>(
          `WITH c AS (
             UPDATE contexts
             SET updated_at = $4, message_count = $5, summary = $6
             WHERE id = $1 AND owner_epoch = $2 AND version = $3
             RETURNING id
           ), s AS (
             UPDATE snapshots SET version = $3, bytes = $7 FROM c WHERE snapshots.context_id = c.id
           ), d AS (
             DELETE FROM ops USING c WHERE ops.context_id = c.id AND ops.version <= $3
           )
           SELECT count(*) AS n FROM c`,
          [id, fence, summary.version, at, summary.message_count, encode(summary), bytes],
        );
        return Number(result.rows[0]?.n ?? 0);
      });
    } catch (err) {
      this.totals.compactionFailures++; // as FileStorage counts: the write itself failed
      throw err;
    }
    if (changed === 0) {
      const head = await this.head(id, fence);
      throw compactNotAtHead(id, summary.version, head.version);
    }
    this.totals.compactions++;
    this.totals.compactBytes += bytes.length;
  }

  async load(id: string): Promise<StoredContext | null> {
    // One statement, so the row, the snapshot and the ops come from one consistent view:
    // the context's row first (kind 0, with the snapshot), then one row per op after it.
    // (Not array_agg: pg parses a bytea[] from text slowly, seconds for megabytes.)
    const rows = await this.query('load', async (client) => {
      const result = await client.query<{
        kind: number;
        owner_epoch: string | null;
        version: string;
        summary: Buffer | null;
        snapshot_version: string | null;
        bytes: Buffer;
      }>(
        `WITH c AS (
           SELECT c.owner_epoch, c.version, c.summary, s.version AS snapshot_version, s.bytes
           FROM contexts c JOIN snapshots s ON s.context_id = c.id
           WHERE c.id = $1
         )
         SELECT 0 AS kind, owner_epoch, version, summary, snapshot_version, bytes FROM c
         UNION ALL
         SELECT 1, NULL, ops.version, NULL, NULL, ops.bytes
         FROM c, ops WHERE ops.context_id = $1 AND ops.version > c.snapshot_version
         ORDER BY kind, version`,
        [id],
      );
      return result.rows;
    });
    const row = rows[0];
    if (row === undefined) return null;
    const corrupt = (reason: string, cause?: unknown) =>
      new StorageCorruptError(id, 'postgres', reason, { cause });
    const decoded = <T>(what: string, bytes: Buffer): T => {
      this.totals.loadBytes += bytes.length;
      try {
        return decode(bytes) as T;
      } catch (err) {
        throw corrupt(`${what} does not decode`, err);
      }
    };
    const snapshotVersion = Number(row.snapshot_version);
    const version = Number(row.version);
    const opRows = rows.slice(1);
    const versions = opRows.map((op) => Number(op.version));
    const expectedOps = version - snapshotVersion;
    if (versions.length !== expectedOps || versions.some((v, i) => v !== snapshotVersion + 1 + i)) {
      throw corrupt(
        `ops after ${snapshotVersion} are not exactly ${snapshotVersion + 1}..${version}`,
      );
    }
    const summary = decoded<unknown>('summary', row.summary!);
    if (!isRecord(summary)) throw corrupt('summary is not a map');
    return {
      snapshot: decoded('snapshot', row.bytes),
      snapshotVersion,
      ops: versions.map((v, i) => ({ version: v, op: decoded(`op ${v}`, opRows[i]!.bytes) })),
      summary: summary as unknown as ContextSummary,
      version,
      epoch: Number(row.owner_epoch!),
    };
  }

  async delete(id: string, fence: number) {
    const deleted = await this.query('delete', async (client) => {
      const result = await client.query('DELETE FROM contexts WHERE id = $1 AND owner_epoch = $2', [
        id,
        fence,
      ]);
      return result.rowCount ?? 0;
    });
    if (deleted > 0) return true;
    if (!(await this.exists(id))) return false;
    throw new StorageFencedError(id, fence);
  }

  async exists(id: string) {
    return this.query('exists', async (client) => {
      const result = await client.query('SELECT 1 FROM contexts WHERE id = $1', [id]);
      return (result.rowCount ?? 0) > 0;
    });
  }

  async listSummaries(page: PageRequest): Promise<SummaryPage> {
    checkPage(page);
    const after = page.cursor === undefined ? null : decodeCursor(page.cursor);
    // Outside the query function: a throw there would be taken for a database failure.
    const afterAt = after === null ? null : new Date(after.at).toISOString();
    const rows = await this.query('list', async (client) => {
      const result = await client.query<{ id: string; updated_at: Date; summary: Buffer }>(
        `SELECT id, updated_at, summary FROM contexts
         WHERE $1::timestamptz IS NULL OR (updated_at, id) < ($1::timestamptz, $2::text)
         ORDER BY updated_at DESC, id DESC
         LIMIT $3`,
        [afterAt, after?.id ?? '', page.limit + 1],
      );
      return result.rows;
    });
    const taken = rows.slice(0, page.limit);
    const last = taken.at(-1);
    return {
      summaries: taken.map((row) => {
        try {
          return decode(row.summary) as ContextSummary;
        } catch (err) {
          throw new StorageCorruptError(row.id, 'postgres', 'summary does not decode', {
            cause: err,
          });
        }
      }),
      next:
        rows.length > page.limit && last
          ? encodeCursor({ at: last.updated_at.getTime(), id: last.id })
          : null,
    };
  }

  async listPrompts() {
    const rows = await this.query('list prompts', async (client) => {
      const result = await client.query<{ bytes: Buffer }>('SELECT bytes FROM prompts ORDER BY id');
      return result.rows;
    });
    return rows.map((row) => decodePrompt(row.bytes));
  }

  async getPrompt(id: string) {
    const row = await this.query('get prompt', async (client) => {
      const result = await client.query<{ bytes: Buffer }>(
        'SELECT bytes FROM prompts WHERE id = $1',
        [id],
      );
      return result.rows[0];
    });
    return row === undefined ? null : decodePrompt(row.bytes);
  }

  async createPrompt(prompt: SystemPrompt) {
    const created = await this.query('create prompt', async (client) => {
      const result = await client.query(
        'INSERT INTO prompts (id, bytes) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING',
        [prompt.id, encodePrompt(prompt)],
      );
      return result.rowCount ?? 0;
    });
    if (created === 0) {
      throw new StorageConflictError(prompt.id, `system prompt ${prompt.id} already exists`);
    }
  }

  async updatePrompt(prompt: SystemPrompt) {
    const updated = await this.query('update prompt', async (client) => {
      const result = await client.query('UPDATE prompts SET bytes = $2 WHERE id = $1', [
        prompt.id,
        encodePrompt(prompt),
      ]);
      return result.rowCount ?? 0;
    });
    if (updated === 0) {
      throw new StorageNotFoundError(prompt.id, `system prompt ${prompt.id} does not exist`);
    }
  }

  async deletePrompt(id: string) {
    const deleted = await this.query('delete prompt', async (client) => {
      const result = await client.query('DELETE FROM prompts WHERE id = $1', [id]);
      return result.rowCount ?? 0;
    });
    return deleted > 0;
  }

  stats(): StorageStats {
    return { ...this.totals };
  }

  /** Waits for calls in flight (each bounded by the query timeout), then disconnects. */
  close(): Promise<void> {
    this.closing ??= this.pool.end();
    return this.closing;
  }

  /** Runs `fn` on a pooled connection; failures become storage errors (see pg-errors.ts). */
  private async query<T>(what: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw toStorageError(err, what);
    }
    // pg emits a connection lost between two queries of a checked-out client as an 'error'
    // event (the pool listens only while it is idle): unheard, it would crash the process.
    // The next query fails with "not queryable", which maps to unavailable.
    const ignore = () => {};
    client.on('error', ignore);
    try {
      const result = await fn(client);
      client.removeListener('error', ignore);
      client.release();
      return result;
    } catch (err) {
      client.removeListener('error', ignore);
      // After a timeout or a lost socket the connection's state is unknown: drop it, never
      // hand it to the next call. An error the server answered (bad data, a constraint)
      // leaves it healthy: keep it.
      client.release(connectionSuspect(err) ? (err instanceof Error ? err : true) : undefined);
      throw toStorageError(err, what);
    }
  }
}

/** The server-side bound for a client bound of `ms`: a little below it, so it fires first. */
function serverSideTimeout(ms: number): number {
  return Math.max(1, ms - Math.min(1_000, Math.floor(ms / 10)));
}

/** summary.updated_at at millisecond precision, as the listing orders and pages by it. */
function isoMillis(summary: ContextSummary): string {
  return new Date(updatedAtMillis(summary)).toISOString();
}

function encodePrompt(prompt: SystemPrompt): Buffer {
  return encode({ id: prompt.id, content: prompt.content });
}

function decodePrompt(bytes: Buffer): SystemPrompt {
  const value = decode(bytes);
  if (!isRecord(value) || typeof value.id !== 'string' || typeof value.content !== 'string') {
    throw new StorageError('a stored system prompt does not decode');
  }
  return { id: value.id, content: value.content };
}
