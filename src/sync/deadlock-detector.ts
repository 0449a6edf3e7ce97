import { describeLock } from './lock-ids.js';
import type { LockRegistry } from './lock-registry.js';
import { pendingReconciliation, reconcile } from './recovery.js';
import type { ThreadLockState } from './registry-reader.js';
import { OWNER, readerCount, STATE, writerHeld, writersWaiting, writerTag } from './rwlock.js';

/**
 * Finds wait-for cycles among the threads recorded in a `LockRegistry`, reports them, and
 * breaks each by failing one waiter with `DeadlockError`; also reports waits longer than a
 * threshold, naming the holders. Meant to run periodically on the main thread: a scan only
 * reads shared memory, writes one word (the victim mark) and calls `Atomics.notify`, so it
 * never blocks.
 *
 * # The wait-for graph
 *
 * Nodes are threads. A thread T that is *blocked* in `readLock` / `writeLock` on lock L
 * (its wait record; async waits do not block their thread and are left out) has an edge to
 * - every thread holding L in a conflicting mode (any holder if T wants to write; the
 *   writer if T wants to read) — including T itself (a reader asking to write: AA);
 * - if T wants to read: every *announced* waiting writer of L, since write preference keeps
 *   T out until they are through.
 * A writer waiting for readers that wait for nothing has no cycle; readers sharing a lock
 * have no edges between them; locks nested in rank order cannot close a cycle.
 *
 * # Only real cycles
 *
 * Records are read one by one while their threads run, so one scan can see a cycle that
 * never existed at any single instant. A cycle is acted on only when every member's record
 * is unchanged since the previous scan (its fingerprint includes the wait number and each
 * entry's generation): the members were then all blocked in the same waits, holding the
 * same locks, over the whole interval between the two scans — a real deadlock. So a cycle
 * is broken one to two intervals after it forms.
 *
 * # Breaking
 *
 * The victim is the member whose wait began last (it has the least invested). Its VICTIM
 * word is set to its wait number and the lock it waits on is notified; its wait loop sees
 * the mark, undoes its wait exactly as a timeout does (a writer withdraws its announcement,
 * waking the readers it held back) and throws `DeadlockError`. Its caller releases what it
 * held, and the other members proceed. The notify can race with the victim parking, so it
 * is repeated on every scan while the victim is still waiting.
 */

export interface DeadlockDetectorOptions {
  /** Scan period for `start()`, ms (default 100). */
  intervalMs?: number;
  /** Waits longer than this are reported once, ms (default 1000). */
  longWaitMs?: number;
  /** Fail a victim of each confirmed cycle (default true); false only reports. */
  breakCycles?: boolean;
  /** Receives every report. Default: nothing (reports are still returned by `scan`). */
  logger?: (event: LockEvent) => void;
}

/** A thread's part in a cycle or a long wait. */
export interface WaitReport {
  ownerId: number;
  lockId: number;
  lock: string;
  mode: 'read' | 'write';
  waitedMs: number;
  /** Threads this wait waits for, with what they hold of the lock and for how long. */
  blockers: { ownerId: number; mode: 'read' | 'write' | 'announced-writer'; heldMs: number }[];
  /** Everything the thread itself holds. */
  holds: { lockId: number; lock: string; mode: 'read' | 'write'; heldMs: number }[];
}

export interface DeadlockEvent {
  kind: 'deadlock';
  level: 'error';
  /** Human-readable multi-line report. */
  message: string;
  /** Members in cycle order: each waits for the next; the last waits for the first. */
  cycle: WaitReport[];
  /** Owner id of the waiter failed with DeadlockError (undefined when not breaking). */
  victim: number | undefined;
}

export interface LongWaitEvent {
  kind: 'long-wait';
  level: 'warn';
  message: string;
  wait: WaitReport;
  /** What the lock word says (if this thread has a view of the lock). */
  lockState: { readers: number; writerOwnerId: number; writersWaiting: number } | null;
}

export interface ReconciledEvent {
  kind: 'reconciled';
  level: 'warn';
  message: string;
  lockIds: number[];
}

export type LockEvent = DeadlockEvent | LongWaitEvent | ReconciledEvent;

export interface ScanResult {
  deadlocks: DeadlockEvent[];
  longWaits: LongWaitEvent[];
  /** Cycles seen in this scan that are not yet confirmed (seen once, or records moving). */
  unconfirmed: number;
  /** Victims still being asked to leave (notified again this scan). */
  victimsPending: number;
}

interface Edge {
  to: number;
  mode: 'read' | 'write' | 'announced-writer';
  since: number;
}

export class DeadlockDetector {
  readonly intervalMs: number;
  readonly longWaitMs: number;
  readonly breakCycles: boolean;
  private readonly logger: ((event: LockEvent) => void) | undefined;
  private timer: ReturnType<typeof setInterval> | null = null;
  private previous = new Map<number, string>();
  private readonly reportedLong = new Set<string>();
  /** Cycles already reported (when not breaking them), by their members' wait keys. */
  private reportedCycles = new Set<string>();
  private readonly victims = new Map<string, { record: number; seq: number; lockId: number }>();
  /** Totals since construction. */
  readonly totals = { scans: 0, deadlocks: 0, victims: 0, longWaits: 0 };

  constructor(
    private readonly registry: LockRegistry,
    options: DeadlockDetectorOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 100;
    this.longWaitMs = options.longWaitMs ?? 1000;
    this.breakCycles = options.breakCycles ?? true;
    this.logger = options.logger;
  }

  /** Scans every `intervalMs` until `stop()`. The timer does not keep the process alive. */
  start(): this {
    if (this.timer === null) {
      this.registry.tick();
      this.timer = setInterval(() => this.scan(), this.intervalMs);
      this.timer.unref();
    }
    return this;
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** One scan: reconcile recovered locks, report long waits, confirm and break cycles. */
  scan(): ScanResult {
    this.totals.scans++;
    this.reconcileRecoveredLocks();
    const now = this.registry.tick();
    const states = this.registry.reader.snapshot().filter((s) => !s.dead);
    const byOwner = new Map<number, ThreadLockState>();
    for (const s of states) byOwner.set(s.ownerId, s);
    const graph = this.buildGraph(states);
    const result: ScanResult = { deadlocks: [], longWaits: [], unconfirmed: 0, victimsPending: 0 };
    this.repeatVictimNotifies(result);
    this.reportLongWaits(states, graph, now, result);
    this.breakConfirmedCycles(byOwner, graph, now, result);
    this.previous = new Map(states.map((s) => [s.ownerId, s.fingerprint]));
    this.forgetEndedLongWaits(byOwner);
    return result;
  }

  /** Lets recovery clear what dead threads left in lock counts, once live threads allow. */
  private reconcileRecoveredLocks(): void {
    const reg = this.registry;
    if (pendingReconciliation(reg).length === 0) return;
    const { fixed } = reconcile(reg);
    if (fixed.length > 0) {
      this.emit({
        kind: 'reconciled',
        level: 'warn',
        message: `lock recovery: cleared counts left by dead threads on ${fixed.map(describeLock).join(', ')}`,
        lockIds: fixed,
      });
    }
  }

  /** Reports, once each, the waits that have lasted `longWaitMs`. */
  private reportLongWaits(
    states: ThreadLockState[],
    graph: Map<number, Edge[]>,
    now: number,
    result: ScanResult,
  ): void {
    for (const s of states) {
      const w = s.waiting;
      if (w === null || now - w.since < this.longWaitMs) continue;
      const key = waitKey(s.ownerId, w.seq);
      if (this.reportedLong.has(key)) continue;
      this.reportedLong.add(key);
      const report = this.waitReport(s, graph.get(s.ownerId) ?? [], now);
      const event: LongWaitEvent = {
        kind: 'long-wait',
        level: 'warn',
        message: `long lock wait: ${describeWait(report)}`,
        wait: report,
        lockState: this.lockState(w.lockId, states),
      };
      result.longWaits.push(event);
      this.totals.longWaits++;
      this.emit(event);
    }
  }

  /** Forgets the long-wait reports of waits that are over (a new wait is reported anew). */
  private forgetEndedLongWaits(byOwner: Map<number, ThreadLockState>): void {
    for (const key of this.reportedLong) {
      const [owner, seq] = key.split(':').map(Number);
      const s = byOwner.get(owner!);
      if (s?.waiting?.seq !== seq) this.reportedLong.delete(key);
    }
  }

  /**
   * For each cycle of the graph whose members' records have not changed since the previous
   * scan: reports it and (when breaking cycles) fails a victim. A cycle that is not broken is
   * reported once while it lasts.
   */
  private breakConfirmedCycles(
    byOwner: Map<number, ThreadLockState>,
    graph: Map<number, Edge[]>,
    now: number,
    result: ScanResult,
  ): void {
    const cyclesSeen = new Set<string>();
    for (const cycle of findCycles(graph)) {
      const members = cycle.map((o) => byOwner.get(o)!);
      if (!this.unchangedSinceLastScan(members)) {
        result.unconfirmed++;
        continue;
      }
      const keys = members.map((s) => waitKey(s.ownerId, s.waiting?.seq));
      if (keys.some((k) => this.victims.has(k))) continue; // already being broken
      const cycleKey = [...keys].sort().join(' ');
      cyclesSeen.add(cycleKey);
      if (this.reportedCycles.has(cycleKey)) continue; // reported, not broken: once
      const reports = members.map((s, i) =>
        this.waitReport(
          s,
          (graph.get(s.ownerId) ?? []).filter((e) => e.to === cycle[(i + 1) % cycle.length]),
          now,
        ),
      );
      const victim = this.breakCycles ? this.failVictim(members) : undefined;
      const event: DeadlockEvent = {
        kind: 'deadlock',
        level: 'error',
        message: describeCycle(reports, victim?.ownerId),
        cycle: reports,
        victim: victim?.ownerId,
      };
      result.deadlocks.push(event);
      this.totals.deadlocks++;
      if (victim === undefined) this.reportedCycles.add(cycleKey);
      this.emit(event);
    }
    this.reportedCycles = new Set([...this.reportedCycles].filter((k) => cyclesSeen.has(k)));
  }

  /** A real cycle: every member was in the same wait, holding the same, at the last scan. */
  private unchangedSinceLastScan(members: ThreadLockState[]): boolean {
    return members.every((s) => this.previous.get(s.ownerId) === s.fingerprint);
  }

  /**
   * Fails the member whose wait began last (it has the least invested); returns it, or
   * undefined if its wait just ended (the cycle is then gone).
   */
  private failVictim(members: ThreadLockState[]): ThreadLockState | undefined {
    const victim = members.reduce((a, b) =>
      (b.waiting?.since ?? 0) > (a.waiting?.since ?? 0) ? b : a,
    );
    const w = victim.waiting!;
    if (!this.registry.signalVictim(victim.record, w.seq, w.lockId)) return undefined;
    this.victims.set(waitKey(victim.ownerId, w.seq), {
      record: victim.record,
      seq: w.seq,
      lockId: w.lockId,
    });
    this.totals.victims++;
    return victim;
  }

  private repeatVictimNotifies(result: ScanResult): void {
    const reg = this.registry;
    for (const [key, v] of this.victims) {
      const s = reg.reader.readRecord(v.record);
      if (s === null || s.waiting === null || s.waiting.seq !== v.seq || !s.waiting.victim) {
        this.victims.delete(key);
        continue;
      }
      reg.wake(v.lockId);
      result.victimsPending++;
    }
  }

  private emit(event: LockEvent): void {
    this.logger?.(event);
  }

  /** Edges of the wait-for graph, by waiting owner id. */
  private buildGraph(states: ThreadLockState[]): Map<number, Edge[]> {
    const holders = new Map<number, { ownerId: number; mode: 'read' | 'write'; since: number }[]>();
    const writers = new Map<number, { ownerId: number; since: number }[]>();
    for (const s of states) {
      for (const h of s.held) {
        if (h.phase === 'acquiring') continue;
        const list = holders.get(h.lockId) ?? [];
        holders.set(h.lockId, list);
        list.push({ ownerId: s.ownerId, mode: h.mode, since: h.since });
      }
      const w = s.waiting;
      if (w !== null && !w.async && w.mode === 'write' && w.announced) {
        const list = writers.get(w.lockId) ?? [];
        writers.set(w.lockId, list);
        list.push({ ownerId: s.ownerId, since: w.since });
      }
    }
    const graph = new Map<number, Edge[]>();
    for (const s of states) {
      const w = s.waiting;
      if (w === null || w.async) continue;
      const edges: Edge[] = [];
      for (const h of holders.get(w.lockId) ?? []) {
        if (w.mode === 'write' || h.mode === 'write') {
          edges.push({ to: h.ownerId, mode: h.mode, since: h.since });
        }
      }
      if (w.mode === 'read') {
        for (const x of writers.get(w.lockId) ?? []) {
          if (x.ownerId !== s.ownerId) {
            edges.push({ to: x.ownerId, mode: 'announced-writer', since: x.since });
          }
        }
      }
      graph.set(s.ownerId, edges);
    }
    return graph;
  }

  private waitReport(s: ThreadLockState, edges: Edge[], now: number): WaitReport {
    const w = s.waiting!;
    return {
      ownerId: s.ownerId,
      lockId: w.lockId,
      lock: describeLock(w.lockId),
      mode: w.mode,
      waitedMs: Math.max(0, now - w.since),
      blockers: edges.map((e) => ({
        ownerId: e.to,
        mode: e.mode,
        heldMs: Math.max(0, now - e.since),
      })),
      holds: s.held
        .filter((h) => h.phase !== 'acquiring')
        .map((h) => ({
          lockId: h.lockId,
          lock: describeLock(h.lockId),
          mode: h.mode,
          heldMs: Math.max(0, now - h.since),
        })),
    };
  }

  private lockState(lockId: number, states: ThreadLockState[]): LongWaitEvent['lockState'] {
    const lock = this.registry.lookup(lockId);
    if (lock === undefined) return null;
    const s = Atomics.load(lock.i32, lock.base + STATE);
    const tag = writerTag(s);
    const writer = tag === 0 ? undefined : states.find((x) => x.record === tag - 1);
    return {
      readers: readerCount(s),
      writerOwnerId: writerHeld(s)
        ? (writer?.ownerId ?? Atomics.load(lock.i32, lock.base + OWNER))
        : 0,
      writersWaiting: writersWaiting(s),
    };
  }
}

/** Names one wait: the owner id and its wait number. */
function waitKey(ownerId: number, seq: number | undefined): string {
  return `${ownerId}:${seq}`;
}

function ms(x: number): string {
  return `${Math.round(x)} ms`;
}

function describeWait(r: WaitReport): string {
  const blockers =
    r.blockers.length === 0
      ? 'no recorded holder'
      : r.blockers
          .map((b) =>
            b.mode === 'announced-writer'
              ? `thread ${b.ownerId} (a writer waiting for ${ms(b.heldMs)})`
              : `thread ${b.ownerId} (${b.mode}, held for ${ms(b.heldMs)})`,
          )
          .join(', ');
  const holds =
    r.holds.length === 0
      ? 'nothing'
      : r.holds.map((h) => `${h.mode} ${h.lock} (${ms(h.heldMs)})`).join(', ');
  return (
    `thread ${r.ownerId} has waited ${ms(r.waitedMs)} for ${r.mode} ${r.lock}, ` +
    `blocked by ${blockers}; it holds ${holds}`
  );
}

function describeCycle(cycle: WaitReport[], victim: number | undefined): string {
  const head =
    `deadlock: ${cycle.length} thread(s) in a wait-for cycle` +
    (victim === undefined ? '' : `; breaking it: thread ${victim} fails with DeadlockError`);
  return [head, ...cycle.map((r) => `  ${describeWait(r)}`)].join('\n');
}

/** One elementary cycle per strongly connected component that has one (Tarjan). */
export function findCycles(graph: Map<number, { to: number }[]>): number[][] {
  const index = new Map<number, number>();
  const low = new Map<number, number>();
  const onStack = new Set<number>();
  const stack: number[] = [];
  const cycles: number[][] = [];
  let next = 0;
  const succ = (v: number): number[] => (graph.get(v) ?? []).map((e) => e.to);

  const strongConnect = (root: number): void => {
    // Iterative Tarjan: frames of (node, successor iterator position).
    const frames: { v: number; i: number }[] = [{ v: root, i: 0 }];
    index.set(root, next);
    low.set(root, next++);
    stack.push(root);
    onStack.add(root);
    while (frames.length > 0) {
      const f = frames[frames.length - 1]!;
      const out = succ(f.v);
      if (f.i < out.length) {
        const w = out[f.i++]!;
        if (!index.has(w)) {
          index.set(w, next);
          low.set(w, next++);
          stack.push(w);
          onStack.add(w);
          frames.push({ v: w, i: 0 });
        } else if (onStack.has(w)) {
          low.set(f.v, Math.min(low.get(f.v)!, index.get(w)!));
        }
        continue;
      }
      frames.pop();
      const parent = frames[frames.length - 1];
      if (parent !== undefined) low.set(parent.v, Math.min(low.get(parent.v)!, low.get(f.v)!));
      if (low.get(f.v) === index.get(f.v)) {
        const scc: number[] = [];
        let w: number;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          scc.push(w);
        } while (w !== f.v);
        const members = new Set(scc);
        if (scc.length > 1 || succ(f.v).includes(f.v)) cycles.push(cycleIn(members, f.v, succ));
      }
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) strongConnect(v);
  return cycles;
}

/** Walks successors inside one SCC from `start` until a node repeats: that loop is a cycle. */
function cycleIn(members: Set<number>, start: number, succ: (v: number) => number[]): number[] {
  const path: number[] = [];
  const seen = new Map<number, number>();
  let v = start;
  while (!seen.has(v)) {
    seen.set(v, path.length);
    path.push(v);
    v = succ(v).find((w) => members.has(w))!;
  }
  return path.slice(seen.get(v)!);
}
