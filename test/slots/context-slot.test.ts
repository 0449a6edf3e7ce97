import { randomUUID } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import type { Ref } from '../../src/shm/arena.js';
import { contextMeta, messageJson, sharedContext, texts } from './shared-context.js';

/** `ContextSlot` on a real arena and slot table: the layout every worker reads in place. */
describe('ContextSlot', () => {
  test('meta: stored whole, read back, and the old record freed when replaced', () => {
    const { ctx, arena, slots } = sharedContext();
    const meta = contextMeta();
    ctx.setMeta(meta);
    expect(ctx.meta()).toEqual(meta);
    const blocks = arena.stats().liveBlocks;
    const resident = slots.residentBytes(ctx.slot);
    expect(resident).toBeGreaterThan(0);

    const next = { ...meta, current_state: 'AwaitingToolApproval' as const };
    ctx.setMeta(next);
    expect(ctx.meta()).toEqual(next);
    expect(arena.stats().liveBlocks).toBe(blocks);
    expect(slots.residentBytes(ctx.slot)).toBe(resident);
  });

  test('appending: records in order, the branch array doubling past its first 8 refs', () => {
    const { ctx } = sharedContext();
    ctx.initBranches([[]]);
    expect(ctx.branchCount()).toBe(1);
    expect(ctx.branchLength(0)).toBe(0);
    const ids = Array.from({ length: 20 }, () => randomUUID());
    const refs = ids.map((id, i) => {
      const ref = ctx.writeRecord(id, messageJson(id, `m${i}`));
      ctx.pushRef(0, ref);
      return ref;
    });
    expect(ctx.branchLength(0)).toBe(20);
    expect(ctx.branchRefs(0)).toEqual(refs);
    expect(refs.map((_, i) => ctx.messageRef(0, i))).toEqual(refs);
    expect(refs.map((ref) => ctx.recordId(ref))).toEqual(ids);
    expect(texts(ctx, 0)).toEqual(ids.map((_, i) => `m${i}`));
    const json = messageJson(ids[7]!, 'm7');
    expect(ctx.recordJsonLength(refs[7]!)).toBe(json.byteLength);
    expect(Array.from(ctx.recordJson(refs[7]!))).toEqual(Array.from(json));
  });

  test('reading a page: the refs of any window of a branch, oldest first', () => {
    const { ctx } = sharedContext();
    ctx.initBranches([[]]);
    for (let i = 0; i < 30; i++) {
      const id = randomUUID();
      ctx.pushRef(0, ctx.writeRecord(id, messageJson(id, `m${i}`)));
    }
    const page = (offset: number, limit: number) =>
      Array.from({ length: Math.max(0, Math.min(30, offset + limit) - offset) }, (_, i) =>
        ctx.messageRef(0, offset + i),
      );
    expect(page(0, 10)).toEqual(ctx.branchRefs(0).slice(0, 10));
    expect(page(25, 10)).toEqual(ctx.branchRefs(0).slice(25));
    expect(page(30, 10)).toEqual([]);
  });

  test('forking: the new branch shares the records; appends after it stay apart', () => {
    const { ctx, arena } = sharedContext();
    ctx.initBranches([[]]);
    const append = (branch: number, text: string) => {
      const id = randomUUID();
      ctx.pushRef(branch, ctx.writeRecord(id, messageJson(id, text)));
      return id;
    };
    for (const text of ['a', 'b', 'c', 'd']) append(0, text);
    const before = arena.stats().liveBlocks;
    ctx.addBranch(ctx.branchRefs(0).slice(0, 2));
    // A new array and a new table (the old table freed): no record copied.
    expect(arena.stats().liveBlocks).toBe(before + 1);
    expect(ctx.branchCount()).toBe(2);
    expect(ctx.branchRefs(1)).toEqual(ctx.branchRefs(0).slice(0, 2));

    append(1, 'x');
    append(0, 'e');
    expect(texts(ctx, 0)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(texts(ctx, 1)).toEqual(['a', 'b', 'x']);
  });

  test('deleting a branch frees its array and the records only it held', () => {
    const { ctx, arena, slots } = sharedContext();
    ctx.initBranches([[]]);
    const append = (branch: number, text: string) => {
      const id = randomUUID();
      ctx.pushRef(branch, ctx.writeRecord(id, messageJson(id, text)));
    };
    for (const text of ['a', 'b', 'c']) append(0, text);
    const blocks = arena.stats().liveBlocks;
    const resident = slots.residentBytes(ctx.slot);

    ctx.addBranch(ctx.branchRefs(0).slice(0, 2));
    append(1, 'x');
    append(1, 'y');
    ctx.addBranch(ctx.branchRefs(1)); // a fork of the fork: shares a, b, x, y
    ctx.removeBranch(1);
    expect(ctx.branchCount()).toBe(2);
    expect(texts(ctx, 0)).toEqual(['a', 'b', 'c']);
    expect(texts(ctx, 1)).toEqual(['a', 'b', 'x', 'y']); // still held by the second fork

    ctx.removeBranch(1);
    expect(ctx.branchCount()).toBe(1);
    expect(texts(ctx, 0)).toEqual(['a', 'b', 'c']);
    expect(arena.stats().liveBlocks).toBe(blocks);
    expect(slots.residentBytes(ctx.slot)).toBe(resident);
  });

  test('the branch table: one entry per branch, in order, after adds and removals', () => {
    const { ctx } = sharedContext();
    const records: Ref[] = [];
    for (let i = 0; i < 3; i++) {
      const id = randomUUID();
      records.push(ctx.writeRecord(id, messageJson(id, `r${i}`)));
    }
    ctx.initBranches([records, [records[0]!], []]);
    expect(ctx.branchCount()).toBe(3);
    expect([0, 1, 2].map((b) => ctx.branchLength(b))).toEqual([3, 1, 0]);
    ctx.removeBranch(0);
    expect(ctx.branchCount()).toBe(2);
    expect(ctx.branchRefs(0)).toEqual([records[0]]);
    expect(ctx.branchRefs(1)).toEqual([]);
    expect(ctx.recordId(records[0]!)).toBeTypeOf('string'); // still live: branch 0 holds it
  });

  test('replacing a record moves every reference to it and frees the old one', () => {
    const { ctx, arena } = sharedContext();
    ctx.initBranches([[]]);
    const ids = ['a', 'b', 'c'].map((text) => {
      const id = randomUUID();
      ctx.pushRef(0, ctx.writeRecord(id, messageJson(id, text)));
      return id;
    });
    ctx.addBranch(ctx.branchRefs(0));
    const old = ctx.findRecord(ids[1]!)!;
    expect(old).toBe(ctx.branchRefs(0)[1]);
    const blocks = arena.stats().liveBlocks;

    ctx.replaceRecord(old, ctx.writeRecord(ids[1]!, messageJson(ids[1]!, 'B')));
    expect(texts(ctx, 0)).toEqual(['a', 'B', 'c']);
    expect(texts(ctx, 1)).toEqual(['a', 'B', 'c']);
    expect(arena.stats().liveBlocks).toBe(blocks);
    expect(ctx.indexInBranch(1, ids[1]!)).toBe(1);
    expect(ctx.indexInBranch(1, randomUUID())).toBe(-1);
    expect(ctx.findRecord(randomUUID())).toBeUndefined();
  });

  test('freeAll returns every block once, shared records included', () => {
    const { ctx, arena, slots } = sharedContext();
    const empty = arena.stats();
    ctx.setMeta(contextMeta(['main', 'fork']));
    ctx.initBranches([[]]);
    for (const text of ['a', 'b']) {
      const id = randomUUID();
      ctx.pushRef(0, ctx.writeRecord(id, messageJson(id, text)));
    }
    ctx.addBranch(ctx.branchRefs(0));
    ctx.freeAll();
    expect(arena.stats().liveBlocks).toBe(empty.liveBlocks);
    expect(arena.stats().usedBytes).toBe(empty.usedBytes);
    expect(slots.residentBytes(ctx.slot)).toBe(0);
    expect(slots.metaRef(ctx.slot)).toBe(0);
    expect(slots.branchesRef(ctx.slot)).toBe(0);
  });
});
