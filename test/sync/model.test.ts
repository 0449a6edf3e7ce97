import { describe, expect, it } from 'vitest';
import {
  ReaderBargingRwLock,
  UncountedSleeperRwLock,
} from '../support/schedule-explorer/broken-variants.js';
import {
  type ExploreResult,
  explore,
  type Scenario,
} from '../support/schedule-explorer/explorer.js';
import {
  recoveryScenarios,
  registryScenarios,
} from '../support/schedule-explorer/registry-model.js';
import { rwlockScenarios } from '../support/schedule-explorer/rwlock-model.js';

/**
 * Schedule exploration of the real RwLock (and registry, detector break, recovery) code:
 * every interleaving of its shared-memory operations within the preemption bound.
 */

function passes<W>(scenario: Scenario<W>, preemptions: number): ExploreResult {
  const r = explore(scenario, { preemptions, maxSteps: 2000 });
  const f = r.failures[0];
  if (f !== undefined) {
    throw new Error(`${scenario.name}: ${f.message}\n${f.trace.join('\n')}`);
  }
  expect(r.exhaustive).toBe(true);
  expect(r.pruned).toBe(0);
  return r;
}

describe('schedule exploration of RwLock', () => {
  for (const scenario of rwlockScenarios()) {
    it(`${scenario.name}: exclusion, write preference, no lost wake-up (2 preemptions)`, () => {
      const r = passes(scenario, 2);
      expect(r.schedules).toBeGreaterThan(400);
    });
  }

  it('also with 3 preemptions on the smaller scenarios', () => {
    for (const scenario of rwlockScenarios().slice(0, 3)) passes(scenario, 3);
  });

  it('catches a variant that admits readers while a writer waits', () => {
    for (const scenario of rwlockScenarios(ReaderBargingRwLock)) {
      const r = explore(scenario, { preemptions: 2 });
      expect(r.failures[0]?.message, scenario.name).toMatch(/^write preference violated/);
    }
  });

  it('catches a variant whose waiters do not count themselves as sleepers', () => {
    const blocking = rwlockScenarios(UncountedSleeperRwLock).filter((s) => !s.timeouts);
    expect(blocking.length).toBeGreaterThan(2);
    for (const scenario of blocking) {
      const r = explore(scenario, { preemptions: 2 });
      expect(r.failures[0]?.message, scenario.name).toMatch(/^stuck: T\d parked on a0\[0\]/);
    }
  });
});

describe('schedule exploration of registered locks', () => {
  for (const scenario of registryScenarios()) {
    it(`${scenario.name} (2 preemptions)`, () => {
      passes(scenario, 2);
    });
  }

  for (const scenario of recoveryScenarios()) {
    it(`${scenario.name}: recovered at every kill point (1 preemption)`, () => {
      passes(scenario, 1);
    });
  }

  it('catches a kill that nobody recovers', () => {
    const [scenario] = recoveryScenarios();
    const unrecovered = { ...scenario!, threads: scenario!.threads.slice(0, 2) };
    const r = explore(unrecovered, { preemptions: 1, maxSteps: 2000, stopAtFirstFailure: false });
    const messages = r.failures.map((f) => f.message);
    expect(messages.some((m) => /^stuck: T1 parked/.test(m))).toBe(true);
    expect(messages.some((m) => /^thread 101's record still shows/.test(m))).toBe(true);
  });
});
