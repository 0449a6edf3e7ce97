import { describe, expect, it } from 'vitest';
import { EventHub } from '../../src/events/event-hub.js';

const MiB = 1024 * 1024;

describe('EventHub: what idle channels hold is bounded in bytes', () => {
  it('drops the least recently used idle channels once they hold more than maxIdleBytes', () => {
    const hub = new EventHub({ maxEvents: 100, maxBytes: 2 * MiB }, 1000, 3 * MiB);
    const payload = 'x'.repeat(MiB - 200);
    const ids = Array.from({ length: 10 }, (_, i) => `ctx-${i}`);
    for (const id of ids) {
      hub.subscribe(id, () => {}).unsubscribe(); // watched once, now idle
      hub.publish(id, 'message', { payload });
      hub.publish(id, 'message', { payload });
    }
    const kept = ids.filter((id) => hub.wants(id));
    // Each idle channel holds ~2 MiB: only the most recent fits in 3 MiB.
    expect(kept).toEqual(['ctx-9']);
  });

  it('keeps a watched channel whatever the idle ones hold', () => {
    const hub = new EventHub({ maxEvents: 100, maxBytes: 2 * MiB }, 1000, MiB);
    const watched = hub.subscribe('live', () => {});
    const payload = 'x'.repeat(MiB - 200);
    for (let i = 0; i < 4; i++) hub.publish('live', 'message', { payload });
    expect(hub.wants('live')).toBe(true);
    expect(watched.newest).toBe(4);
    watched.unsubscribe();
  });
});

describe('EventHub: one byte budget for every frame held (maxHeldBytes)', () => {
  const frame = 'x'.repeat(MiB - 200); // about 1 MiB a frame

  it('drops idle channels first, least recently used first', () => {
    const hub = new EventHub({ maxEvents: 100, maxBytes: 8 * MiB }, 1000, 64 * MiB, 3.5 * MiB);
    for (const id of ['idle-old', 'idle-new']) {
      hub.subscribe(id, () => {}).unsubscribe();
      hub.publish(id, 'message', { frame });
    }
    const live = hub.subscribe('live', () => {});
    hub.publish('live', 'message', { frame });
    hub.publish('live', 'message', { frame });
    expect(hub.heldBytes).toBeLessThanOrEqual(3.5 * MiB);
    expect(hub.wants('idle-old')).toBe(false);
    expect(hub.wants('idle-new')).toBe(true);
    hub.publish('live', 'message', { frame });
    expect(hub.wants('idle-new')).toBe(false);
    expect(live.after(0)?.id).toBe(1); // a watched channel is not trimmed while idle ones go
    live.unsubscribe();
  });

  it('then trims the oldest frames of the largest watched channel; its lagging reader is woken', () => {
    const hub = new EventHub({ maxEvents: 100, maxBytes: 8 * MiB }, 1000, 64 * MiB, 4 * MiB);
    let wokenA = 0;
    const a = hub.subscribe('a', () => wokenA++);
    const b = hub.subscribe('b', () => {});
    for (let i = 0; i < 3; i++) hub.publish('a', 'message', { frame });
    hub.publish('b', 'message', { frame });
    expect(a.after(0)?.id).toBe(1);
    const before = wokenA;
    hub.publish('b', 'message', { frame }); // 5 MiB held: a (the largest) loses its oldest
    expect(hub.heldBytes).toBeLessThanOrEqual(4 * MiB);
    expect(a.after(0)?.id).toBe(2);
    expect(a.behind(0).bytes).toBe(Number.POSITIVE_INFINITY); // a reader at 0 fell out
    expect(wokenA).toBeGreaterThan(before);
    expect(b.after(0)?.id).toBe(1); // b kept both
    for (let i = 0; i < 20; i++) {
      hub.publish(i % 2 === 0 ? 'a' : 'b', 'message', { frame });
      expect(hub.heldBytes).toBeLessThanOrEqual(4 * MiB);
    }
    a.unsubscribe();
    b.unsubscribe();
  });

  it('always keeps the newest frame of each watched channel', () => {
    const hub = new EventHub({ maxEvents: 100, maxBytes: 8 * MiB }, 1000, 64 * MiB, MiB);
    const subs = ['a', 'b', 'c'].map((id) => hub.subscribe(id, () => {}));
    for (const id of ['a', 'b', 'c']) hub.publish(id, 'message', { frame });
    for (const s of subs) expect(s.after(0)?.id).toBe(1);
    for (const s of subs) s.unsubscribe();
  });
});
