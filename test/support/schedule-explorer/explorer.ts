import type { LockMemory, WaitAsyncResult } from '../../../src/sync/memory.js';

/**
 * A deterministic scheduler that runs simulated threads through the interleavings of their
 * shared-memory operations: stateless model checking in the style of loom and CHESS.
 *
 * Each simulated thread is a plain synchronous function that does all its shared-memory
 * work through a `SimThread` — a `LockMemory`, so the real `RwLock` and `LockRegistry` run
 * on it unchanged. Every memory operation is a scheduling point: before it is performed the
 * explorer decides which thread takes the next step. A thread is suspended by unwinding
 * it (a private exception) and resumed by running its function again from the start,
 * replaying the results its earlier operations returned, so the code explored needs no
 * generators or callbacks: it is the production code. (It must not swallow exceptions it
 * does not know, and must be deterministic given the results of its memory operations.)
 *
 * The search is a depth-first enumeration of schedules, bounded by the number of
 * *preemptions* (switching away from a thread that could have continued; switches at a
 * park or at thread exit are free) and by a step limit per schedule. With preemption bound
 * k every schedule with at most k preemptions is explored; most concurrency bugs need only
 * one or two (Musuvathi & Qadeer, PLDI 2007).
 *
 * Memory model: JS atomics are sequentially consistent, so one global order of operations
 * is exact. `wait(a, i, v, t)` compares and enqueues in one step (as `Atomics.wait` does);
 * `notify` wakes every thread queued on that word; waits never wake spuriously. With
 * `timeouts` on, any parked wait may time out at any moment (its thread's clock jumps to the
 * deadline); with it off, deadlines never pass, so a wake-up that never comes leaves the
 * thread parked and the schedule ends *stuck*: that is reported as a failure (a lost
 * wake-up, or a deadlock in the scenario).
 */

const SUSPEND = { explorer: 'suspend' };
const PRUNE = { explorer: 'prune' };
const TIMEOUT = 0x100;
const KILL = 0x200;

class ScenarioFailure {
  constructor(readonly message: string) {}
}

type Status = 'runnable' | 'blocked' | 'done';

/** What a parked thread is waiting for. */
interface Parked {
  a: Int32Array | null;
  i: number;
  timeoutMs: number;
  clockAtWait: number;
  until: (() => boolean) | null;
}

export type ThreadProgram<W> = (t: SimThread, world: W) => void;

export interface Scenario<W> {
  name: string;
  /** Fresh shared state for one schedule (memory, ghost variables). */
  setup(): W;
  threads: readonly ThreadProgram<W>[];
  /** Parked waits may time out (default false: deadlines never pass). */
  timeouts?: boolean;
  /** Called after every write to shared memory, with the old and new value. */
  onWrite?(world: W, a: Int32Array, i: number, before: number, after: number): string | null;
  /** Called when every thread has finished. */
  final?(world: W): string | null;
  /** Describes the shared state for failure reports. */
  describe?(world: W): string;
  /**
   * Threads that may be killed (at most one kill per schedule): before any of their
   * operations, or while parked — as `worker.terminate()` can stop a thread between any two
   * of its shared-memory operations. A killed thread never runs again.
   */
  killable?: readonly number[];
}

export interface ExploreOptions {
  /** Preemption bound (default 2). */
  preemptions?: number;
  /** Steps per schedule before it is cut off (default 500). */
  maxSteps?: number;
  /** Stop after this many schedules (default 1,000,000). */
  maxSchedules?: number;
  /** Stop at the first failure (default true). */
  stopAtFirstFailure?: boolean;
}

export interface ScheduleFailure {
  message: string;
  /** Step-by-step trace of the failing schedule. */
  trace: string[];
  /** The choices that reproduce it. */
  schedule: number[];
}

export interface ExploreResult {
  scenario: string;
  /** Schedules run (complete + cut off + failed). */
  schedules: number;
  /** Schedules cut off by the step limit (not failures). */
  pruned: number;
  failures: ScheduleFailure[];
  /** Longest schedule, in steps. */
  maxDepth: number;
  /** Every schedule within the bounds was explored (no `maxSchedules` cut). */
  exhaustive: boolean;
  preemptions: number;
  elapsedMs: number;
}

/** One simulated thread; its `LockMemory` methods are the scheduling points. */
export class SimThread implements LockMemory {
  readonly canBlock = true;
  status: Status = 'runnable';
  /** Killed by the scheduler (then `status` is 'done'). */
  killed = false;
  clock = 0;
  parked: Parked | null = null;
  /** Results of the operations performed so far, in order. */
  readonly results: unknown[] = [];
  pos = 0;
  /** The next new operation is the step the scheduler chose: perform it without asking. */
  chosen = false;

  constructor(
    private readonly run: Run<unknown>,
    readonly index: number,
    readonly ownerId: number,
  ) {}

  load(a: Int32Array, i: number): number {
    if (this.pos < this.results.length) return this.results[this.pos++] as number;
    this.run.before(this, 'load', a, i);
    return this.done(a[i]!);
  }

  store(a: Int32Array, i: number, v: number): void {
    if (this.pos < this.results.length) {
      this.pos++;
      return;
    }
    this.run.before(this, 'store', a, i, v);
    const old = a[i]!;
    a[i] = v;
    this.done(0);
    this.run.wrote(a, i, old, v);
  }

  /** Explored like `store`: sequential consistency is stronger, so this finds no fewer bugs of the algorithm (it cannot model the weaker ordering itself). */
  storePlain(a: Int32Array, i: number, v: number): void {
    this.store(a, i, v);
  }

  cas(a: Int32Array, i: number, expected: number, replacement: number): number {
    if (this.pos < this.results.length) return this.results[this.pos++] as number;
    this.run.before(this, 'cas', a, i, expected, replacement);
    const old = a[i]!;
    if (old === expected) a[i] = replacement;
    this.done(old);
    if (old === expected) this.run.wrote(a, i, old, replacement);
    return old;
  }

  add(a: Int32Array, i: number, v: number): number {
    return this.rmw('add', a, i, v, (x) => (x + v) | 0);
  }

  sub(a: Int32Array, i: number, v: number): number {
    return this.rmw('sub', a, i, v, (x) => (x - v) | 0);
  }

  and(a: Int32Array, i: number, v: number): number {
    return this.rmw('and', a, i, v, (x) => x & v);
  }

  wait(a: Int32Array, i: number, v: number, timeoutMs: number): 'ok' | 'not-equal' | 'timed-out' {
    if (this.pos < this.results.length) {
      return this.results[this.pos++] as 'ok' | 'not-equal' | 'timed-out';
    }
    this.run.before(this, 'wait', a, i, v, timeoutMs);
    if (a[i] !== v) return this.done('not-equal');
    // Parks: the result is filled in by notify or by a timeout.
    this.results.push(undefined);
    this.pos++;
    this.parked = { a, i, timeoutMs, clockAtWait: this.clock, until: null };
    this.status = 'blocked';
    throw SUSPEND;
  }

  waitAsync(): WaitAsyncResult {
    throw new Error('the schedule explorer runs blocking code only');
  }

  notify(a: Int32Array, i: number): number {
    if (this.pos < this.results.length) return this.results[this.pos++] as number;
    this.run.before(this, 'notify', a, i);
    return this.done(this.run.wakeAll(a, i));
  }

  /** Thread-local clock: not a scheduling point. */
  now(): number {
    if (this.pos < this.results.length) return this.results[this.pos++] as number;
    this.results.push(this.clock);
    this.pos++;
    return this.clock;
  }

  /**
   * A scenario-level step (entering a critical section, say): `effect` updates ghost
   * state and returns a failure message or null. A scheduling point.
   */
  ghost(label: string, effect: () => string | null): void {
    if (this.pos < this.results.length) {
      this.pos++;
      return;
    }
    this.run.before(this, label);
    const failure = effect();
    this.done(0);
    if (failure !== null) throw new ScenarioFailure(failure);
  }

  /**
   * Parks until `condition` holds (checked after every step): models an event that comes
   * "later" (the deadlock detector's next scan, say) without a timed loop.
   */
  awaitCondition(label: string, condition: () => boolean): void {
    if (this.pos < this.results.length) {
      this.pos++;
      return;
    }
    this.run.before(this, label);
    this.results.push(undefined);
    this.pos++;
    this.parked = {
      a: null,
      i: 0,
      timeoutMs: Number.POSITIVE_INFINITY,
      clockAtWait: 0,
      until: condition,
    };
    this.status = 'blocked';
    throw SUSPEND;
  }

  /** Another simulated thread of this schedule (for conditions: is it done, killed, parked?). */
  peer(index: number): SimThread {
    return this.run.threads[index]!;
  }

  /** Fails the schedule with `message` unless `ok`. Not a scheduling point. */
  assert(ok: boolean, message: string): void {
    if (!ok) throw new ScenarioFailure(message);
  }

  private rmw(
    label: string,
    a: Int32Array,
    i: number,
    v: number,
    f: (x: number) => number,
  ): number {
    if (this.pos < this.results.length) return this.results[this.pos++] as number;
    this.run.before(this, label, a, i, v);
    const old = a[i]!;
    const next = f(old);
    a[i] = next;
    this.done(old);
    this.run.wrote(a, i, old, next);
    return old;
  }

  private done<T>(result: T): T {
    this.results.push(result);
    this.pos++;
    return result;
  }
}

interface ChoicePoint {
  options: number[];
  chosen: number;
}

/** One schedule. */
class Run<W> {
  readonly threads: SimThread[];
  readonly world: W;
  steps = 0;
  private depth = 0;
  private preempted = 0;
  private kills = 0;
  private next = -1;
  readonly trace: string[] | null;
  private names = new Map<Int32Array, string>();

  constructor(
    readonly scenario: Scenario<W>,
    private readonly stack: ChoicePoint[],
    private readonly bound: number,
    private readonly maxSteps: number,
    tracing: boolean,
  ) {
    this.world = scenario.setup();
    this.threads = scenario.threads.map(
      (_, k) => new SimThread(this as unknown as Run<unknown>, k, 101 + k),
    );
    this.trace = tracing ? [] : null;
  }

  /** Names arrays in traces (`a0`, `a1`, … in order of first use). */
  private nameOf(a: Int32Array): string {
    let name = this.names.get(a);
    if (name === undefined) {
      name = `a${this.names.size}`;
      this.names.set(a, name);
    }
    return name;
  }

  /** Runs the schedule; returns a failure message, 'pruned', or null (complete, passed). */
  execute(): string | null {
    let current = this.choose(this.enabled(), -1);
    for (;;) {
      const t = this.threads[current & 0xff]!;
      if ((current & KILL) !== 0) {
        this.kill(t);
        const options = this.enabled();
        if (options.length === 0) return this.finish();
        current = this.choose(options, -1);
        continue;
      }
      if ((current & TIMEOUT) !== 0) this.fireTimeout(t);
      else if (t.status === 'blocked') this.satisfy(t);
      t.chosen = true;
      this.next = -1;
      const outcome = this.resume(t);
      if (outcome !== null) return outcome;
      if (this.next >= 0) {
        current = this.next;
        continue;
      }
      const options = this.enabled();
      if (t.status === 'blocked' && this.canKill(t)) options.push(t.index | KILL);
      if (options.length === 0) return this.finish();
      current = this.choose(options, -1);
    }
  }

  private finish(): string | null {
    const stuck = this.threads.filter((x) => x.status === 'blocked');
    if (stuck.length > 0) return this.stuckReport(stuck);
    return this.scenario.final?.(this.world) ?? null;
  }

  private canKill(t: SimThread): boolean {
    return this.kills === 0 && (this.scenario.killable?.includes(t.index) ?? false);
  }

  private kill(t: SimThread): void {
    this.kills++;
    t.killed = true;
    t.status = 'done';
    t.parked = null;
    if (this.trace !== null) this.trace.push(`T${t.index} (killed)`);
  }

  private resume(t: SimThread): string | null {
    t.pos = 0;
    try {
      this.scenario.threads[t.index]!(t, this.world);
      t.status = 'done';
      if (t.chosen) {
        // It finished without a new operation (all its work was replayed): a free step.
        t.chosen = false;
      }
      return null;
    } catch (e) {
      if (e === SUSPEND) return null;
      if (e === PRUNE) return 'pruned';
      if (e instanceof ScenarioFailure) return e.message;
      const err = e as Error;
      return `thread ${t.index} threw ${err?.name ?? 'a value'}: ${err?.message ?? String(e)}`;
    }
  }

  /** Called before thread `t` performs a new operation: may switch to another thread. */
  before(t: SimThread, label: string, a?: Int32Array, i?: number, x?: number, y?: number): void {
    if (++this.steps > this.maxSteps) throw PRUNE;
    if (t.chosen) {
      t.chosen = false;
    } else {
      let options: number[] = [t.index];
      if (this.canKill(t)) options.push(t.index | KILL);
      if (this.preempted < this.bound) {
        for (const e of this.enabled()) if (e !== t.index) options.push(e);
      }
      if (options.length > 1) {
        const pick = this.choose(options, t.index);
        if (pick === (t.index | KILL)) {
          this.kill(t);
          throw SUSPEND;
        }
        if (pick !== t.index) {
          this.preempted++;
          this.next = pick;
          throw SUSPEND;
        }
      }
      options = [];
    }
    if (this.trace !== null) {
      const where = a === undefined ? '' : ` ${this.nameOf(a)}[${i}]`;
      const args = [x, y].filter((v) => v !== undefined).join(' ');
      this.trace.push(`T${t.index} ${label}${where}${args ? ` ${args}` : ''}`);
    }
  }

  wrote(a: Int32Array, i: number, before: number, after: number): void {
    if (this.trace !== null) this.trace[this.trace.length - 1] += `  (${before} → ${after})`;
    const failure = this.scenario.onWrite?.(this.world, a, i, before, after) ?? null;
    if (failure !== null) throw new ScenarioFailure(failure);
  }

  wakeAll(a: Int32Array, i: number): number {
    let n = 0;
    for (const t of this.threads) {
      const p = t.parked;
      if (t.status === 'blocked' && p !== null && p.a === a && p.i === i) {
        t.results[t.results.length - 1] = 'ok';
        t.parked = null;
        t.status = 'runnable';
        n++;
      }
    }
    return n;
  }

  private fireTimeout(t: SimThread): void {
    const p = t.parked!;
    t.results[t.results.length - 1] = 'timed-out';
    t.clock = p.clockAtWait + p.timeoutMs;
    t.parked = null;
    t.status = 'runnable';
    if (this.trace !== null) this.trace.push(`T${t.index} (wait times out)`);
  }

  private satisfy(t: SimThread): void {
    t.parked = null;
    t.status = 'runnable';
  }

  private enabled(): number[] {
    const out: number[] = [];
    for (const t of this.threads) {
      if (t.status === 'runnable') out.push(t.index);
      else if (t.status === 'blocked') {
        const p = t.parked!;
        if (p.until !== null) {
          if (p.until()) out.push(t.index);
        } else if (this.scenario.timeouts === true && Number.isFinite(p.timeoutMs)) {
          out.push(t.index | TIMEOUT);
        }
      }
    }
    return out;
  }

  private choose(options: number[], _current: number): number {
    if (options.length === 1) return options[0]!;
    const d = this.depth++;
    let point = this.stack[d];
    if (point === undefined) {
      point = { options, chosen: 0 };
      this.stack.push(point);
    } else if (point.options.join() !== options.join()) {
      throw new Error(
        `schedule explorer: nondeterministic scenario (choice ${d}: ` +
          `${point.options.join()} then ${options.join()})`,
      );
    }
    return point.options[point.chosen]!;
  }

  private stuckReport(stuck: SimThread[]): string {
    const what = stuck
      .map((t) => {
        const p = t.parked!;
        if (p.a === null) return `T${t.index} waits for a condition that never comes`;
        return `T${t.index} parked on ${this.nameOf(p.a)}[${p.i}] = ${p.a[p.i]}`;
      })
      .join('; ');
    const state = this.scenario.describe?.(this.world) ?? '';
    return `stuck: ${what} and no thread can run (lost wake-up or deadlock)${state ? `; ${state}` : ''}`;
  }
}

/** Explores the schedules of `scenario` within the bounds. */
export function explore<W>(scenario: Scenario<W>, options: ExploreOptions = {}): ExploreResult {
  const bound = options.preemptions ?? 2;
  const maxSteps = options.maxSteps ?? 500;
  const maxSchedules = options.maxSchedules ?? 1_000_000;
  const stopAtFirst = options.stopAtFirstFailure ?? true;
  const started = performance.now();
  const stack: ChoicePoint[] = [];
  const result: ExploreResult = {
    scenario: scenario.name,
    schedules: 0,
    pruned: 0,
    failures: [],
    maxDepth: 0,
    exhaustive: false,
    preemptions: bound,
    elapsedMs: 0,
  };
  for (;;) {
    const run = new Run(scenario, stack, bound, maxSteps, false);
    const outcome = run.execute();
    result.schedules++;
    result.maxDepth = Math.max(result.maxDepth, run.steps);
    if (outcome === 'pruned') result.pruned++;
    else if (outcome !== null) {
      const schedule = stack.map((p) => p.options[p.chosen]!);
      const replay = new Run(
        scenario,
        stack.map((p) => ({ ...p })),
        bound,
        maxSteps,
        true,
      );
      replay.execute();
      result.failures.push({ message: outcome, trace: replay.trace ?? [], schedule });
      if (stopAtFirst) break;
    }
    // Backtrack to the deepest choice point with an untried option.
    while (
      stack.length > 0 &&
      stack[stack.length - 1]!.chosen + 1 >= stack[stack.length - 1]!.options.length
    ) {
      stack.pop();
    }
    if (stack.length === 0) {
      result.exhaustive = true;
      break;
    }
    stack[stack.length - 1]!.chosen++;
    if (result.schedules >= maxSchedules) break;
  }
  result.elapsedMs = performance.now() - started;
  return result;
}
