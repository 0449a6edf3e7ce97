import { LRUCache } from 'lru-cache';
import type { ChangeKind } from '../protocol/change-events.js';

/** Committed changes (published by the ContextService) and streamed LLM text (`delta`). */
export type EventKind = ChangeKind | 'delta';

/** An event as it is held and sent: serialised once, whoever reads it. */
export interface HeldEvent {
  /** Increasing per context, from 1; what `Last-Event-ID` names. */
  id: number;
  /** The whole Server-Sent Events frame (`id:`, `event:`, `data:` lines and the blank line). */
  frame: string;
  /** UTF-8 length of `frame`. */
  bytes: number;
  /** Bytes published on the channel up to and including this event. */
  end: number;
}

/** The window of events kept per watched context. */
export interface HoldLimits {
  maxEvents: number;
  maxBytes: number;
}

type Wake = () => void;

/** A subscriber as the hub knows it: woken after each event, told when the context is gone. */
interface Listener {
  wake: Wake;
  closed: () => void;
}

interface Channel {
  next: number;
  held: HeldEvent[];
  heldBytes: number;
  /** Bytes ever published on the channel (what `HeldEvent.end` counts against). */
  total: number;
  listeners: Set<Listener>;
  /** Counted in the hub's `heldBytes` (it is listened or idle, not dropped). */
  counted: boolean;
}

/** A subscriber's view of one context's events; it reads them at its own pace. */
export interface Subscription {
  /** The first held event after `id`, or undefined when there is none (yet). */
  after(id: number): HeldEvent | undefined;
  /** Events published after `id`, and their bytes: what a subscriber at `id` has yet to send. */
  behind(id: number): { events: number; bytes: number };
  /** The id of the newest event published (0 before the first). */
  readonly newest: number;
  unsubscribe(): void;
}

/**
 * Live events of each context (state changes, appended messages, streamed LLM deltas), on
 * the main thread. Events are kept only for contexts someone has subscribed to: a context
 * nobody watches costs nothing (its events are dropped unseen, and `wants` lets callers
 * skip building them). A watched context keeps a window of its newest events — at most
 * `maxEvents`, and at most `maxBytes` of frames (always the newest one) — each serialised
 * once, shared by every subscriber. Subscribers are not pushed events: they are woken and
 * read from the window as fast as their socket takes them, so a slow reader costs no
 * memory of its own; one that falls out of the window must be disconnected (it resumes
 * with `Last-Event-ID`). After its last listener leaves, a channel is kept among at most
 * `maxIdleContexts` idle ones holding at most `maxIdleBytes` of frames in all, least
 * recently used dropped first: memory stays bounded however many contexts were watched.
 *
 * All the frames held, by listened and idle channels alike, share one budget,
 * `maxHeldBytes`: past it, idle channels are dropped (least recently used first), then the
 * oldest frames of the largest listened channel are trimmed (each keeps its newest), and
 * that channel's subscribers woken, so one that fell out of the window is disconnected.
 * So N busy watched contexts cost at most `maxHeldBytes`, not N × `maxBytes`.
 */
export class EventHub {
  private readonly idle: LRUCache<string, Channel>;
  private readonly listened = new Map<string, Channel>();
  private held = 0;

  constructor(
    readonly limits: HoldLimits = { maxEvents: 1000, maxBytes: 8 * 1024 * 1024 },
    maxIdleContexts = 1000,
    maxIdleBytes = 64 * 1024 * 1024,
    readonly maxHeldBytes = 128 * 1024 * 1024,
  ) {
    this.idle = new LRUCache<string, Channel>({
      max: maxIdleContexts,
      maxSize: maxIdleBytes,
      // A channel's size is taken when it is added: publishing to an idle one re-adds it.
      sizeCalculation: (channel) => Math.max(1, channel.heldBytes),
      // Dropped by the cache itself (over its bounds, or `pop`): its frames are gone.
      dispose: (channel, _key, reason) => {
        if (reason === 'evict') this.uncount(channel);
      },
    });
  }

  /** Bytes of frames held by all channels (what `maxHeldBytes` bounds). */
  get heldBytes(): number {
    return this.held;
  }

  /** Whether anyone has watched this context (else publishing it is a no-op). */
  wants(contextId: string): boolean {
    return this.listened.has(contextId) || this.idle.has(contextId);
  }

  publish(contextId: string, event: EventKind, data: unknown): HeldEvent | undefined {
    if (!this.wants(contextId)) return undefined;
    return this.publishJson(contextId, event, JSON.stringify(data));
  }

  /** Publishes data already serialised as JSON (one line: what `JSON.stringify` writes). */
  publishJson(contextId: string, event: EventKind, json: string): HeldEvent | undefined {
    const listened = this.listened.get(contextId);
    const channel = listened ?? this.idle.get(contextId);
    if (channel === undefined) return undefined;
    const id = channel.next++;
    const frame = `id: ${id}\nevent: ${event}\ndata: ${json}\n\n`;
    const bytes = Buffer.byteLength(frame);
    channel.total += bytes;
    const entry: HeldEvent = { id, frame, bytes, end: channel.total };
    channel.held.push(entry);
    channel.heldBytes += bytes;
    this.held += bytes;
    while (
      channel.held.length > 1 &&
      (channel.held.length > this.limits.maxEvents || channel.heldBytes > this.limits.maxBytes)
    ) {
      this.dropOldest(channel);
    }
    if (listened === undefined) {
      // Its size changed: lru-cache takes a size only when a key is added, not when it is
      // set again to the same object.
      this.idle.delete(contextId);
      this.putIdle(contextId, channel);
    }
    const trimmed = this.keepWithinBudget();
    trimmed.add(channel);
    for (const c of trimmed) for (const listener of [...c.listeners]) listener.wake();
    return entry;
  }

  /**
   * Brings the frames held back under `maxHeldBytes`: idle channels go first (least
   * recently used first), then the oldest frames of the largest listened channel, one at a
   * time, each channel keeping its newest. Returns the listened channels trimmed.
   */
  private keepWithinBudget(): Set<Channel> {
    const trimmed = new Set<Channel>();
    while (this.held > this.maxHeldBytes && this.idle.size > 0) this.idle.pop();
    while (this.held > this.maxHeldBytes) {
      let largest: Channel | undefined;
      for (const channel of this.listened.values()) {
        if (channel.held.length > 1 && channel.heldBytes > (largest?.heldBytes ?? 0)) {
          largest = channel;
        }
      }
      if (largest === undefined) break; // each holds only its newest frame
      this.dropOldest(largest);
      trimmed.add(largest);
    }
    return trimmed;
  }

  private dropOldest(channel: Channel): void {
    const bytes = channel.held.shift()!.bytes;
    channel.heldBytes -= bytes;
    if (channel.counted) this.held -= bytes;
  }

  /** Puts a channel among the idle ones (a channel too large for them is dropped). */
  private putIdle(contextId: string, channel: Channel): void {
    this.idle.set(contextId, channel);
    if (!this.idle.has(contextId)) this.uncount(channel);
  }

  private uncount(channel: Channel): void {
    if (!channel.counted) return;
    channel.counted = false;
    this.held -= channel.heldBytes;
  }

  /**
   * Subscribes to a context's events; `wake` is called after each new event, `closed` once
   * when the context is deleted (the subscription is over then).
   */
  subscribe(contextId: string, wake: Wake, closed: () => void = () => {}): Subscription {
    const channel = this.channel(contextId);
    const listener: Listener = { wake, closed };
    channel.listeners.add(listener);
    this.idle.delete(contextId);
    this.listened.set(contextId, channel);
    return {
      after: (id) => {
        const first = channel.held[0];
        if (first === undefined) return undefined;
        return channel.held[Math.max(0, id + 1 - first.id)];
      },
      behind: (id) => {
        const events = Math.max(0, channel.next - 1 - id);
        if (events === 0) return { events, bytes: 0 };
        const first = channel.held[0];
        const start =
          first !== undefined && id >= first.id - 1
            ? id === first.id - 1
              ? first.end - first.bytes
              : channel.held[id - first.id]!.end
            : Number.NEGATIVE_INFINITY; // events it needs are no longer held
        return { events, bytes: channel.total - start };
      },
      get newest() {
        return channel.next - 1;
      },
      unsubscribe: () => {
        channel.listeners.delete(listener);
        if (channel.listeners.size === 0 && this.listened.get(contextId) === channel) {
          this.listened.delete(contextId);
          this.putIdle(contextId, channel);
        }
      },
    };
  }

  /** The context is gone: forget its events, and tell its subscribers. */
  close(contextId: string): void {
    const listened = this.listened.get(contextId);
    const idle = this.idle.get(contextId);
    this.idle.delete(contextId);
    this.listened.delete(contextId);
    if (idle !== undefined) this.uncount(idle);
    if (listened === undefined) return;
    this.uncount(listened);
    for (const listener of [...listened.listeners]) listener.closed();
    listened.listeners.clear();
  }

  private channel(contextId: string): Channel {
    let channel = this.listened.get(contextId) ?? this.idle.get(contextId);
    if (channel === undefined) {
      channel = {
        next: 1,
        held: [],
        heldBytes: 0,
        total: 0,
        listeners: new Set(),
        counted: true,
      };
      this.putIdle(contextId, channel);
    }
    return channel;
  }
}
