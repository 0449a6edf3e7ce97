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
