import { randomUUID } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import type { ContextMeta } from '../../src/model/types.js';
import type { Arena } from '../../src/shm/arena.js';
import type { ContextSlot } from '../../src/slots/context-slot.js';
import {
  applyOp,
  branchIndex,
  type ContextOp,
  lengthAfter,
  metaAfter,
} from '../../src/slots/ops.js';
import { branch, contextMeta, messageJson, sharedContext, texts } from './shared-context.js';

/** The committed ops applied to a context on a real arena, as a write and a load apply them. */
function loaded(): { ctx: ContextSlot; meta: ContextMeta; arena: Arena } {
  const { ctx, arena } = sharedContext();
  const meta = contextMeta(['main']);
  ctx.setMeta(meta);
  ctx.initBranches([[]]);
  return { ctx, meta, arena };
}

const append = (to: string, text: string, id = randomUUID()): ContextOp => ({
  t: 'append',
  branch: to,
  id,
  json: messageJson(id, text),
  at: 1,
});

const fork = (name: string, from: string, count: number): ContextOp => ({
  t: 'fork',
  branch: branch(name),
  from,
  count,
  at: 1,
});

/** Every branch's length, read from shared memory. */
function lengths(ctx: ContextSlot, meta: ContextMeta): Record<string, number> {
  return Object.fromEntries(meta.branches.map((b, i) => [b.name, ctx.branchLength(i)]));
}

describe('branchIndex', () => {
  test('the index of a branch in the metadata, -1 when there is none', () => {
    const meta = contextMeta(['main', 'alt']);
    expect(branchIndex(meta, 'main')).toBe(0);
    expect(branchIndex(meta, 'alt')).toBe(1);
    expect(branchIndex(meta, 'nope')).toBe(-1);
  });
});

describe('applyOp', () => {
  test('append: a record at the end of its branch; the metadata unchanged', () => {
    let { ctx, meta } = loaded();
    const before = meta;
    meta = applyOp(ctx, meta, append('main', 'a'));
    meta = applyOp(ctx, meta, append('main', 'b'));
    expect(meta).toBe(before);
    expect(texts(ctx, 0)).toEqual(['a', 'b']);
  });

  test('meta: the stored metadata replaced and returned', () => {
    const { ctx, meta } = loaded();
    const next = { ...meta, config: { ...meta.config, mode: 'agent' } };
    expect(applyOp(ctx, meta, { t: 'meta', meta: next, at: 1 })).toBe(next);
    expect(ctx.meta()).toEqual(next);
  });

  test('fork: a branch with the first `count` messages, in memory and in the metadata', () => {
    let { ctx, meta } = loaded();
    for (const text of ['a', 'b', 'c']) meta = applyOp(ctx, meta, append('main', text));
    meta = applyOp(ctx, meta, fork('alt', 'main', 2));
    expect(meta.branches.map((b) => b.name)).toEqual(['main', 'alt']);
    expect(ctx.meta()).toEqual(meta);
    expect(texts(ctx, 1)).toEqual(['a', 'b']);
    expect(ctx.branchRefs(1)).toEqual(ctx.branchRefs(0).slice(0, 2));
  });

  test('replace: the message rewritten on every branch that holds it', () => {
    let { ctx, meta } = loaded();
    const id = randomUUID();
    meta = applyOp(ctx, meta, append('main', 'a'));
    meta = applyOp(ctx, meta, append('main', 'b', id));
    meta = applyOp(ctx, meta, fork('alt', 'main', 2));
    meta = applyOp(ctx, meta, { t: 'replace', id, json: messageJson(id, 'B'), at: 1 });
    expect(texts(ctx, 0)).toEqual(['a', 'B']);
    expect(texts(ctx, 1)).toEqual(['a', 'B']);
  });

  test('drop: the branch gone from memory and metadata; the others untouched', () => {
    let { ctx, meta } = loaded();
    meta = applyOp(ctx, meta, append('main', 'a'));
    meta = applyOp(ctx, meta, fork('alt', 'main', 1));
    meta = applyOp(ctx, meta, append('alt', 'x'));
    meta = applyOp(ctx, meta, { t: 'drop', name: 'alt', at: 1 });
    expect(meta.branches.map((b) => b.name)).toEqual(['main']);
    expect(ctx.meta()).toEqual(meta);
    expect(ctx.branchCount()).toBe(1);
    expect(texts(ctx, 0)).toEqual(['a']);
  });

  test('batch: the same result as its ops one by one', () => {
    const ops = (): ContextOp[] => [
      append('main', 'a', '00000000-0000-4000-8000-000000000001'),
      fork('alt', 'main', 1),
      append('alt', 'x', '00000000-0000-4000-8000-000000000002'),
      append('main', 'b', '00000000-0000-4000-8000-000000000003'),
    ];
    const one = loaded();
    const batched = applyOp(one.ctx, one.meta, { t: 'batch', ops: ops(), at: 1 });
    const two = loaded();
    const stepped = ops().reduce((m, op) => applyOp(two.ctx, m, op), two.meta);
    expect(batched.branches).toEqual(stepped.branches);
    expect([texts(one.ctx, 0), texts(one.ctx, 1)]).toEqual([texts(two.ctx, 0), texts(two.ctx, 1)]);
    expect([texts(one.ctx, 0), texts(one.ctx, 1)]).toEqual([
      ['a', 'b'],
      ['a', 'x'],
    ]);
  });

  test('an op naming an unknown branch or message throws', () => {
    const { ctx, meta } = loaded();
    expect(() => applyOp(ctx, meta, append('nope', 'a'))).toThrow(/unknown branch "nope"/);
    expect(() => applyOp(ctx, meta, fork('alt', 'nope', 0))).toThrow(/unknown branch "nope"/);
    expect(() => applyOp(ctx, meta, { t: 'drop', name: 'nope', at: 1 })).toThrow(/unknown branch/);
    const id = randomUUID();
    expect(() =>
      applyOp(ctx, meta, { t: 'replace', id, json: messageJson(id, 'x'), at: 1 }),
    ).toThrow(/unknown message/);
  });
});

describe('metaAfter and lengthAfter predict what applyOp does', () => {
  const cases: { name: string; op: () => ContextOp }[] = [
    { name: 'append to main', op: () => append('main', 'z') },
    { name: 'append to alt', op: () => append('alt', 'z') },
    { name: 'fork', op: () => fork('new', 'main', 1) },
    { name: 'fork of the whole branch', op: () => fork('new', 'alt', 2) },
    { name: 'drop', op: () => ({ t: 'drop', name: 'alt', at: 1 }) },
    {
      name: 'meta',
      op: () => ({
        t: 'meta',
        meta: { ...contextMeta(['main', 'alt']), current_state: 'Failed' },
        at: 1,
      }),
    },
    {
      name: 'batch: append, fork of it, append to both',
      op: () => ({
        t: 'batch',
        ops: [append('main', 'p'), fork('new', 'main', 3), append('new', 'q'), append('main', 'r')],
        at: 1,
      }),
    },
  ];

  test.each(cases)('$name', ({ op: make }) => {
    let { ctx, meta } = loaded();
    meta = applyOp(ctx, meta, append('main', 'a'));
    meta = applyOp(ctx, meta, append('main', 'b'));
    meta = applyOp(ctx, meta, fork('alt', 'main', 2));
    const op = make();
    const current = lengths(ctx, meta);

    const predicted = metaAfter(meta, op);
    const after = applyOp(ctx, meta, op);
    expect(predicted).toEqual(after);
    const actual = lengths(ctx, after);
    for (const name of Object.keys(actual)) {
      expect(
        lengthAfter(op, name, (n) => current[n] ?? 0),
        name,
      ).toBe(actual[name]);
    }
  });

  test('metaAfter touches no memory', () => {
    const { ctx, meta, arena } = loaded();
    const before = arena.stats();
    metaAfter(meta, fork('alt', 'main', 0));
    expect(arena.stats()).toEqual(before);
    expect(ctx.branchCount()).toBe(1);
  });
});
