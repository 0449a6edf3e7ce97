import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  StorageConflictError,
  StorageError,
  StorageFencedError,
  StorageNotFoundError,
} from '../../../src/storage/errors.js';
import type { ContextStore, StoredOp } from '../../../src/storage/store.js';
import type { ContextSummary } from '../../../src/storage/types.js';

/**
 * The ContextStore contract (src/storage/store.ts), as one suite every provider runs: each
 * provider's test file calls runStoreContract with a factory giving a fresh, empty store per
 * test (a new directory, a new database).
 */
export interface StoreContractOptions {
  name: string;
  newStore(): Promise<ContextStore>;
}

export function summaryAt(
  id: string,
  version: number,
  extra: Partial<ContextSummary> = {},
): ContextSummary {
  return {
    id,
    config: { model: 'test-model', temperature: 0.5 },
    current_state: 'Idle',
    active_branch_name: 'main',
    message_count: version,
    updated_at: new Date(Date.UTC(2026, 0, 1, 0, 0, version)).toISOString(),
    version,
    ...extra,
  };
}

export function opsRange(id: string, from: number, to: number, tag = 'a'): StoredOp[] {
  const ops: StoredOp[] = [];
  for (let v = from; v <= to; v++) {
    ops.push({ version: v, op: { kind: 'append', tag, n: v }, summary: summaryAt(id, v) });
  }
  return ops;
}

export const snapshotOf = (label: string) => ({ meta: { label }, records: [], branches: [[]] });

export function runStoreContract({ name, newStore }: StoreContractOptions): void {
  describe(`ContextStore contract: ${name}`, () => {
    let store: ContextStore;
    beforeEach(async () => {
      store = await newStore();
    });
    afterEach(async () => {
      await store.close();
    });

    /** A context created at version 0, and its creator's epoch. */
    async function created(owner = 'i1') {
      const id = randomUUID();
      const epoch = await store.create(id, owner, snapshotOf('v0'), summaryAt(id, 0));
      return { id, epoch };
    }

    it('creates, loads and reports existence; a second create conflicts and changes nothing', async () => {
      const id = randomUUID();
      expect(await store.exists(id)).toBe(false);
      expect(await store.load(id)).toBeNull();
      const epoch = await store.create(id, 'i1', snapshotOf('first'), summaryAt(id, 0));
      expect(epoch).toBeGreaterThan(0);
      expect(await store.exists(id)).toBe(true);
      await expect(
        store.create(id, 'i2', snapshotOf('second'), summaryAt(id, 0)),
      ).rejects.toBeInstanceOf(StorageConflictError);
      expect(await store.load(id)).toEqual({
        snapshot: snapshotOf('first'),
        snapshotVersion: 0,
        ops: [],
        summary: summaryAt(id, 0),
        version: 0,
        epoch,
      });
    });

    it('appends runs as given and loads them in version order with the last summary', async () => {
      const { id, epoch } = await created();
      await store.appendOps(id, epoch, opsRange(id, 1, 3));
      await store.appendOps(id, epoch, opsRange(id, 4, 4));
      await store.appendOps(id, epoch, opsRange(id, 5, 9));
      const loaded = await store.load(id);
      expect(loaded?.ops).toEqual(opsRange(id, 1, 9).map(({ version, op }) => ({ version, op })));
      expect(loaded?.summary).toEqual(summaryAt(id, 9));
      expect(loaded?.version).toBe(9);
      expect(loaded?.snapshotVersion).toBe(0);
    });

    it('refuses runs that are empty, not consecutive, or on an absent context', async () => {
      const { id, epoch } = await created();
      await expect(store.appendOps(id, epoch, [])).rejects.toBeInstanceOf(RangeError);
      const [one, , three] = opsRange(id, 1, 3);
      await expect(store.appendOps(id, epoch, [one!, three!])).rejects.toBeInstanceOf(RangeError);
      await expect(store.appendOps(id, epoch, opsRange(id, 1, 10_001))).rejects.toBeInstanceOf(
        RangeError,
      );
      const absent = randomUUID();
      await expect(store.appendOps(absent, epoch, opsRange(absent, 1, 1))).rejects.toBeInstanceOf(
        StorageNotFoundError,
      );
      await expect(store.appendOps(id, epoch, opsRange(id, 3, 3))).rejects.toBeInstanceOf(
        StorageConflictError,
      ); // a gap: stored version is 0
      expect((await store.load(id))?.version).toBe(0);
    });

    it('resolves an identical re-sent run without writing it twice; a different one conflicts', async () => {
      const { id, epoch } = await created();
      await store.appendOps(id, epoch, opsRange(id, 1, 3));
      const before = store.stats().appends;
      await store.appendOps(id, epoch, opsRange(id, 1, 3)); // a lost answer, sent again
      expect(store.stats().appends).toBe(before);
      await store.appendOps(id, epoch, opsRange(id, 2, 5)); // half landed, half new
      await expect(
        store.appendOps(id, epoch, opsRange(id, 5, 6, 'different')),
      ).rejects.toBeInstanceOf(StorageConflictError);
      const loaded = await store.load(id);
      expect(loaded?.ops).toEqual(opsRange(id, 1, 5).map(({ version, op }) => ({ version, op })));
      expect(loaded?.summary).toEqual(summaryAt(id, 5));
    });

    it('fences: a claim returns a larger epoch, and the old epoch commits nothing', async () => {
      const { id, epoch: first } = await created('i1');
      await store.appendOps(id, first, opsRange(id, 1, 2));
      const second = await store.claim(id, 'i2');
      expect(second).toBeGreaterThan(first);
      await expect(store.appendOps(id, first, opsRange(id, 3, 3))).rejects.toBeInstanceOf(
        StorageFencedError,
      );
      await expect(
        store.compact(id, first, snapshotOf('stale'), summaryAt(id, 2)),
      ).rejects.toBeInstanceOf(StorageFencedError);
      await expect(store.delete(id, first)).rejects.toBeInstanceOf(StorageFencedError);
      const loaded = await store.load(id);
      expect(loaded?.version).toBe(2);
      expect(loaded?.snapshot).toEqual(snapshotOf('v0'));
      expect(loaded?.epoch).toBe(second);
      await store.appendOps(id, second, opsRange(id, 3, 3));
      expect((await store.load(id))?.version).toBe(3);
      await expect(store.claim(randomUUID(), 'i1')).rejects.toBeInstanceOf(StorageNotFoundError);
    });

    it('fences a stale owner appending alongside the current one (claimed before both): only the current run lands', async () => {
      const { id, epoch: stale } = await created('i1');
      const current = await store.claim(id, 'i2');
      const [staleResult, currentResult] = await Promise.allSettled([
        store.appendOps(id, stale, opsRange(id, 1, 3, 'stale')),
        store.appendOps(id, current, opsRange(id, 1, 3, 'current')),
      ]);
      expect(staleResult.status).toBe('rejected');
      expect((staleResult as PromiseRejectedResult).reason).toBeInstanceOf(StorageFencedError);
      expect(currentResult.status).toBe('fulfilled');
      expect((await store.load(id))?.ops).toEqual(
        opsRange(id, 1, 3, 'current').map(({ version, op }) => ({ version, op })),
      );
    });

    it('compacts at the stored version, drops the ops it covers, and appends after it', async () => {
      const { id, epoch } = await created();
      await store.appendOps(id, epoch, opsRange(id, 1, 5));
      await expect(
        store.compact(id, epoch, snapshotOf('v4'), summaryAt(id, 4)),
      ).rejects.toBeInstanceOf(StorageConflictError);
      await store.compact(id, epoch, snapshotOf('v5'), summaryAt(id, 5));
      await store.compact(id, epoch, snapshotOf('v5'), summaryAt(id, 5)); // a re-sent compaction
      await store.appendOps(id, epoch, opsRange(id, 6, 7));
      const loaded = await store.load(id);
      expect(loaded).toMatchObject({
        snapshot: snapshotOf('v5'),
        snapshotVersion: 5,
        ops: opsRange(id, 6, 7).map(({ version, op }) => ({ version, op })),
        summary: summaryAt(id, 7),
        version: 7,
      });
      // Op 5 was dropped by the compaction: a re-send of it cannot be checked.
      await expect(store.appendOps(id, epoch, opsRange(id, 5, 6))).rejects.toBeInstanceOf(
        StorageConflictError,
      );
      expect(store.stats().compactions).toBe(2);
    });

    it('orders the errors of compact and delete: not found, then fenced, then the version', async () => {
      const absent = randomUUID();
      await expect(
        store.compact(absent, 1, snapshotOf('x'), summaryAt(absent, 0)),
      ).rejects.toBeInstanceOf(StorageNotFoundError);
      expect(await store.delete(absent, 1)).toBe(false);
      const { id, epoch: stale } = await created('i1');
      await store.appendOps(id, stale, opsRange(id, 1, 2));
      const current = await store.claim(id, 'i2');
      // Fenced wins over a compaction at the wrong version.
      await expect(
        store.compact(id, stale, snapshotOf('x'), summaryAt(id, 1)),
      ).rejects.toBeInstanceOf(StorageFencedError);
      await expect(
        store.compact(id, current, snapshotOf('x'), summaryAt(id, 1)),
      ).rejects.toBeInstanceOf(StorageConflictError);
      await expect(store.delete(id, stale)).rejects.toBeInstanceOf(StorageFencedError);
      expect(await store.delete(id, current)).toBe(true);
      await expect(
        store.compact(id, current, snapshotOf('x'), summaryAt(id, 2)),
      ).rejects.toBeInstanceOf(StorageNotFoundError);
    });

    it('deletes; the id can be created again, and old fences stay stale', async () => {
      const { id, epoch } = await created();
      await store.appendOps(id, epoch, opsRange(id, 1, 2));
      expect(await store.delete(id, epoch)).toBe(true);
      expect(await store.delete(id, epoch)).toBe(false);
      expect(await store.exists(id)).toBe(false);
      expect(await store.load(id)).toBeNull();
      const again = await store.create(id, 'i1', snapshotOf('again'), summaryAt(id, 0));
      expect(again).toBeGreaterThan(epoch);
      await expect(store.appendOps(id, epoch, opsRange(id, 1, 1))).rejects.toBeInstanceOf(
        StorageFencedError,
      );
      const loaded = await store.load(id);
      expect(loaded?.ops).toEqual([]);
      expect(loaded?.snapshot).toEqual(snapshotOf('again'));
    });

    it('lists summaries most recently updated first, in pages, with a stable cursor', async () => {
      const at = (second: number) => new Date(Date.UTC(2026, 1, 1, 0, 0, second)).toISOString();
      // Ids sorted so that ties on updated_at are checked too (id descending).
      const ids = Array.from({ length: 8 }, () => randomUUID()).sort();
      const seconds = [5, 1, 7, 3, 3, 9, 3, 2];
      const epochs = new Map<string, number>();
      for (const [i, id] of ids.entries()) {
        const summary = summaryAt(id, 0, { updated_at: at(seconds[i]!) });
        epochs.set(id, await store.create(id, 'i1', snapshotOf(id), summary));
      }
      const order = ids
        .map((id, i) => ({ id, s: seconds[i]! }))
        .sort((a, b) => b.s - a.s || (a.id < b.id ? 1 : -1))
        .map((row) => row.id);
      const all: string[] = [];
      let cursor: string | undefined;
      for (let pages = 0; pages < 10; pages++) {
        const page = await store.listSummaries({ limit: 3, cursor });
        all.push(...page.summaries.map((s) => s.id));
        if (page.next === null) break;
        cursor = page.next;
      }
      expect(all).toEqual(order);

      // Between pages, the last context is updated: it moves to the front, and the pages
      // after the cursor neither repeat nor skip anything else.
      const first = await store.listSummaries({ limit: 3 });
      const moved = order.at(-1)!;
      await store.appendOps(moved, epochs.get(moved)!, [
        { version: 1, op: 'x', summary: summaryAt(moved, 1, { updated_at: at(60) }) },
      ]);
      const rest: string[] = [];
      cursor = first.next ?? undefined;
      while (cursor !== undefined) {
        const page = await store.listSummaries({ limit: 3, cursor });
        rest.push(...page.summaries.map((s) => s.id));
        cursor = page.next ?? undefined;
      }
      expect(rest).toEqual(order.slice(3, -1));
      const top = await store.listSummaries({ limit: 1 });
      expect(top.summaries[0]).toEqual(summaryAt(moved, 1, { updated_at: at(60) }));

      await expect(store.listSummaries({ limit: 0 })).rejects.toBeInstanceOf(RangeError);
      await expect(store.listSummaries({ limit: 2, cursor: 'nonsense' })).rejects.toBeInstanceOf(
        RangeError,
      );
      // Well-formed but impossible: a time outside Date's range, an id no store holds.
      const forged = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
      for (const cursor of [
        forged([9e15, 'x']),
        forged([-9e15, 'x']),
        forged([0, 'a\u0000b']),
        forged([0, 'x'.repeat(1000)]),
      ]) {
        await expect(store.listSummaries({ limit: 2, cursor })).rejects.toBeInstanceOf(RangeError);
      }
      // The store still answers (the PostgreSQL provider's connection was not dropped).
      expect((await store.listSummaries({ limit: 1 })).summaries).toHaveLength(1);
    });

    it('keeps system prompts byte-identical, sorted by id, with conflict and not-found', async () => {
      const content = 'Be brief.\u0000 Ünïcödé 你好 👩‍💻 \u202Eטקסט\u202C e\u0301 \r\n\t';
      await store.createPrompt({ id: 'b-prompt', content });
      await store.createPrompt({ id: 'a-prompt', content: '' });
      await expect(store.createPrompt({ id: 'b-prompt', content: 'x' })).rejects.toBeInstanceOf(
        StorageConflictError,
      );
      const got = await store.getPrompt('b-prompt');
      expect(got).toEqual({ id: 'b-prompt', content });
      expect(Buffer.from(got!.content, 'utf8').equals(Buffer.from(content, 'utf8'))).toBe(true);
      expect((await store.listPrompts()).map((p) => p.id)).toEqual(['a-prompt', 'b-prompt']);
      await store.updatePrompt({ id: 'a-prompt', content: 'now set' });
      expect(await store.getPrompt('a-prompt')).toEqual({ id: 'a-prompt', content: 'now set' });
      await expect(store.updatePrompt({ id: 'nope', content: 'x' })).rejects.toBeInstanceOf(
        StorageNotFoundError,
      );
      expect(await store.deletePrompt('a-prompt')).toBe(true);
      expect(await store.deletePrompt('a-prompt')).toBe(false);
      expect(await store.getPrompt('a-prompt')).toBeNull();
      expect(await store.listPrompts()).toEqual([{ id: 'b-prompt', content }]);
    });

    it('round-trips unicode and large payloads exactly', async () => {
      const id = randomUUID();
      const text = 'ü你好👩‍💻\u0000\uFFFD𝄞 e\u0301 \u202Eabc\u202C';
      const big = text.repeat(200_000); // ~5 MB of UTF-8
      const bytes = Buffer.alloc(2 * 1024 * 1024, 0xa5);
      const snapshot = { meta: { title: text }, body: big, n: [1, -2, 3.5, 2 ** 40] };
      const summary = summaryAt(id, 0, { active_branch_name: text, config: { text } });
      const epoch = await store.create(id, 'i1', snapshot, summary);
      const op = { kind: 'append', json: big.slice(0, 1_000_001), blob: bytes, text };
      const opSummary = summaryAt(id, 1, { active_branch_name: text });
      await store.appendOps(id, epoch, [{ version: 1, op, summary: opSummary }]);
      const loaded = await store.load(id);
      expect(loaded?.snapshot).toEqual(snapshot);
      // Buffers compared with equals(): a deep equality walks them byte by byte, slowly.
      const { blob, ...rest } = loaded!.ops[0]!.op as typeof op;
      expect(Buffer.from(blob).equals(bytes)).toBe(true);
      expect(loaded?.ops.map((o) => o.version)).toEqual([1]);
      expect(rest).toEqual({ kind: op.kind, json: op.json, text });
      expect(loaded?.summary).toEqual(opSummary);
      const listed = await store.listSummaries({ limit: 10 });
      expect(listed.summaries).toEqual([opSummary]);
      // The identical run re-sent: the comparison is of bytes, not of object identity.
      await store.appendOps(id, epoch, [
        { version: 1, op: structuredClone(op), summary: opSummary },
      ]);
    });

    it('counts its work in stats', async () => {
      const { id, epoch } = await created();
      const before = store.stats();
      await store.appendOps(id, epoch, opsRange(id, 1, 3));
      await store.compact(id, epoch, snapshotOf('v3'), summaryAt(id, 3));
      await store.load(id);
      const after = store.stats();
      expect(after.appends - before.appends).toBe(3);
      expect(after.appendBytes).toBeGreaterThan(before.appendBytes);
      expect(after.logSyncs - before.logSyncs).toBe(1);
      expect(after.compactions - before.compactions).toBe(1);
      expect(after.compactBytes).toBeGreaterThan(before.compactBytes);
      expect(after.loadBytes).toBeGreaterThan(before.loadBytes);
    });

    it('fails every call once closed', async () => {
      const { id, epoch } = await created();
      await store.close();
      const calls: Record<string, () => Promise<unknown>> = {
        create: () => store.create(randomUUID(), 'i1', snapshotOf('x'), summaryAt(id, 0)),
        claim: () => store.claim(id, 'i2'),
        appendOps: () => store.appendOps(id, epoch, opsRange(id, 1, 1)),
        compact: () => store.compact(id, epoch, snapshotOf('x'), summaryAt(id, 0)),
        load: () => store.load(id),
        delete: () => store.delete(id, epoch),
        exists: () => store.exists(id),
        listSummaries: () => store.listSummaries({ limit: 1 }),
        listPrompts: () => store.listPrompts(),
        getPrompt: () => store.getPrompt('p'),
        createPrompt: () => store.createPrompt({ id: 'p', content: 'x' }),
        updatePrompt: () => store.updatePrompt({ id: 'p', content: 'x' }),
        deletePrompt: () => store.deletePrompt('p'),
      };
      for (const [name, call] of Object.entries(calls)) {
        await expect(call(), name).rejects.toBeInstanceOf(StorageError);
      }
      store = await newStore(); // afterEach closes this one
    });
  });
}
