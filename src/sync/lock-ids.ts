/**
 * Stable numeric lock ids, lock classes and ranks.
 *
 * A lock id is a positive int32: `kind << 24 | index`. The kind names the lock class (for
 * metrics and reports) and fixes its rank; the index tells locks of one class apart (the slot
 * number of a context lock). Id 0 means "no lock" in the registry.
 *
 * | kind | class     | rank | what it guards                      | id                  |
 * |------|-----------|------|-------------------------------------|---------------------|
 * | 1    | `cache`   | 10   | the slot index (which id is where)  | `cacheLockId(i)`    |
 * | 2    | `context` | 20   | one context slot                    | `contextLockId(s)`  |
 * | 3    | `arena`   | 30   | the arena allocator (leaf)          | `arenaLockId()`     |
 *
 * Ranks give the only order in which a thread may nest locks: a thread may take a lock only
 * if its rank is greater than the rank of every lock it already holds (so cache → context →
 * arena; never two locks of one class; the arena lock, the highest rank, is a leaf). Checked
 * mode (`LockRegistry` with `checked: true`) enforces it at the call.
 */

export const LockKind = { Cache: 1, Context: 2, Arena: 3 } as const;
export type LockKind = (typeof LockKind)[keyof typeof LockKind];

/** Name of each lock class, as used for metrics labels; index = kind. */
export const LOCK_CLASSES = ['other', 'cache', 'context', 'arena'] as const;
export type LockClass = (typeof LOCK_CLASSES)[number];

const RANKS = [0, 10, 20, 30] as const;

export const LOCK_INDEX_BITS = 24;
export const MAX_LOCK_INDEX = (1 << LOCK_INDEX_BITS) - 1;

/** The id of lock `index` of class `kind`. */
export function lockId(kind: number, index: number): number {
  if (!Number.isInteger(kind) || kind < 1 || kind > 127) {
    throw new RangeError(`lock kind must be an integer in 1..127, got ${String(kind)}`);
  }
  if (!Number.isInteger(index) || index < 0 || index > MAX_LOCK_INDEX) {
    throw new RangeError(`lock index must be an integer in 0..${MAX_LOCK_INDEX}`);
  }
  return (kind << LOCK_INDEX_BITS) | index;
}

export const cacheLockId = (index = 0): number => lockId(LockKind.Cache, index);
export const contextLockId = (slot: number): number => lockId(LockKind.Context, slot);
export const arenaLockId = (): number => lockId(LockKind.Arena, 0);

export function lockKindOf(id: number): number {
  return id >>> LOCK_INDEX_BITS;
}

export function lockIndexOf(id: number): number {
  return id & MAX_LOCK_INDEX;
}

/** Rank of the lock's class; unknown kinds rank 0 (they are never checked). */
export function lockRank(id: number): number {
  return RANKS[lockKindOf(id)] ?? 0;
}

/** Index of the lock's class in `LOCK_CLASSES` (0 = other). */
export function lockClassIndex(id: number): number {
  const kind = lockKindOf(id);
  return kind < LOCK_CLASSES.length ? kind : 0;
}

export function lockClassOf(id: number): LockClass {
  return LOCK_CLASSES[lockClassIndex(id)] as LockClass;
}

/** `context#12`, `arena#0`, `kind9#3`. */
export function describeLock(id: number): string {
  const kind = lockKindOf(id);
  const name = kind > 0 && kind < LOCK_CLASSES.length ? LOCK_CLASSES[kind] : `kind${kind}`;
  return `${name}#${lockIndexOf(id)}`;
}
