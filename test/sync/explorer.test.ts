import { describe, expect, it } from 'vitest';
import { explore, type Scenario } from '../support/schedule-explorer/explorer.js';

/** The explorer itself, on programs whose interleavings are known by hand. */

interface Cell {
  a: Int32Array;
}
const cell = (): Cell => ({ a: new Int32Array(new SharedArrayBuffer(8)) });

describe('schedule explorer', () => {
  it('enumerates every interleaving of two 2-step threads (4 choose 2 = 6)', () => {
    const orders = new Set<string>();
    const scenario: Scenario<Cell & { log: string[] }> = {
      name: 'two writers',
      setup: () => ({ ...cell(), log: [] }),
      threads: [0, 1].map((k) => (t, w) => {
        t.store(w.a, 0, k);
        t.ghost('log', () => {
          w.log.push(`${k}a`);
          return null;
        });
        t.store(w.a, 1, k);
        t.ghost('log', () => {
          w.log.push(`${k}b`);
          return null;
        });
      }),
      final: (w) => {
        orders.add(w.log.join(' '));
        return null;
      },
    };
    const r = explore(scenario, { preemptions: 10 });
    expect(r.exhaustive).toBe(true);
    expect(r.failures).toEqual([]);
    // 4 steps per thread, interleaved: C(8, 4) = 70 schedules; 6 orders of the logged pairs.
    expect(r.schedules).toBe(70);
    expect(orders.size).toBe(6);
  });

  it('finds the lost update of a non-atomic increment, and only with a preemption', () => {
    const scenario: Scenario<Cell> = {
      name: 'racy increment',
      setup: cell,
      threads: [0, 1].map(() => (t, w) => {
        const x = t.load(w.a, 0);
        t.store(w.a, 0, x + 1);
      }),
      final: (w) => (w.a[0] === 2 ? null : `lost update: counter is ${w.a[0]}`),
    };
    expect(explore(scenario, { preemptions: 0 }).failures).toEqual([]);
    const r = explore(scenario, { preemptions: 1 });
    expect(r.failures).toHaveLength(1);
    expect(r.failures[0]!.message).toBe('lost update: counter is 1');
    expect(r.failures[0]!.trace.join('\n')).toMatch(/T0 load[\s\S]*T1 load/);
  });

  it('models wait/notify exactly: notify-after-store is safe, notify-before-store loses the wake-up', () => {
    const flag = (notifyFirst: boolean): Scenario<Cell> => ({
      name: 'flag',
      setup: cell,
      threads: [
        (t, w) => {
          while (t.load(w.a, 0) === 0) t.wait(w.a, 0, 0, 1000);
        },
        (t, w) => {
          if (notifyFirst) t.notify(w.a, 0);
          t.store(w.a, 0, 1);
          if (!notifyFirst) t.notify(w.a, 0);
        },
      ],
    });
    const good = explore(flag(false), { preemptions: 3 });
    expect(good.exhaustive).toBe(true);
    expect(good.failures).toEqual([]);
    const bad = explore(flag(true), { preemptions: 3 });
    expect(bad.failures[0]!.message).toMatch(/^stuck: T0 parked on a0\[0\] = 1/);
  });

  it('fires timeouts only when asked to, advancing the waiter clock to its deadline', () => {
    const seen: number[] = [];
    const scenario = (timeouts: boolean): Scenario<Cell> => ({
      name: 'timeout',
      setup: cell,
      timeouts,
      threads: [
        (t, w) => {
          const r = t.wait(w.a, 0, 0, 250);
          t.ghost('after', () => {
            seen.push(r === 'timed-out' ? t.now() : -1);
            return null;
          });
        },
      ],
    });
    expect(explore(scenario(false)).failures[0]!.message).toMatch(/^stuck/);
    const r = explore(scenario(true));
    expect(r.failures).toEqual([]);
    expect(seen).toContain(250);
  });

  it('kills a killable thread at every point, including while parked', () => {
    const kills: string[] = [];
    const scenario: Scenario<Cell> = {
      name: 'kill',
      setup: cell,
      killable: [0],
      threads: [
        (t, w) => {
          t.store(w.a, 0, 1);
          t.store(w.a, 0, 2);
          t.wait(w.a, 1, 0, 1000);
        },
        (t, w) => {
          t.awaitCondition('t0 gone or parked', () => t.peer(0).status !== 'runnable');
          t.ghost('see', () => {
            kills.push(`${t.peer(0).killed ? 'killed' : 'parked'}@${w.a[0]}`);
            return null;
          });
          t.store(w.a, 1, 1);
          t.notify(w.a, 1);
        },
      ],
    };
    const r = explore(scenario, { preemptions: 0 });
    expect(r.failures).toEqual([]);
    expect(new Set(kills)).toEqual(new Set(['killed@1', 'killed@2', 'parked@2']));
  });
});
