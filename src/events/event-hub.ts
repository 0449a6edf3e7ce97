import { LRUCache } from 'lru-cache';

export type EventKind = 'state' | 'message' | 'delta';

export interface ContextEvent {
  /** Increasing per context, from 1; what `Last-Event-ID` names. */
  id: number;
  event: EventKind;
  data: unknown;
}

type Listener = (event: ContextEvent) => void;

interface Channel {
  next: number;
  held: ContextEvent[];
  listeners: Set<Listener>;
}

/**
 * Live events of each context (state changes, appended messages, streamed LLM deltas), on
 * the main thread. Events are kept only for contexts someone has subscribed to: a context
 * nobody watches costs nothing (its events are dropped unseen, and `wants` lets callers
 * skip building them). A watched context keeps its last `holdPerContext` events, so a
 * client that reconnects with `Last-Event-ID` continues without a gap while those events
 * are held; after its last listener leaves, its channel is kept among at most
 * `maxIdleContexts` idle ones, least recently used dropped first.
 */
export class EventHub {
  private readonly idle: LRUCache<string, Channel>;
  private readonly listened = new Map<string, Channel>();

  constructor(
    private readonly holdPerContext = 500,
    maxIdleContexts = 1000,
  ) {
    this.idle = new LRUCache<string, Channel>({ max: maxIdleContexts });
  }

  /** Whether anyone has watched this context (else publishing it is a no-op). */
  wants(contextId: string): boolean {
    return this.listened.has(contextId) || this.idle.has(contextId);
  }

  publish(contextId: string, event: EventKind, data: unknown): ContextEvent | undefined {
    const channel = this.listened.get(contextId) ?? this.idle.get(contextId);
    if (channel === undefined) return undefined;
    const entry = { id: channel.next++, event, data };
    channel.held.push(entry);
    if (channel.held.length > this.holdPerContext) channel.held.shift();
    for (const listener of channel.listeners) listener(entry);
    return entry;
  }

  /**
   * Subscribes to a context's events. Held events after `lastEventId` are delivered first,
   * in order, then live ones. Returns the unsubscribe function.
   */
  subscribe(contextId: string, lastEventId: number | undefined, listener: Listener): () => void {
    const channel = this.channel(contextId);
    if (lastEventId !== undefined) {
      for (const event of channel.held) if (event.id > lastEventId) listener(event);
    }
    channel.listeners.add(listener);
    this.idle.delete(contextId);
    this.listened.set(contextId, channel);
    return () => {
      channel.listeners.delete(listener);
      if (channel.listeners.size === 0 && this.listened.get(contextId) === channel) {
        this.listened.delete(contextId);
        this.idle.set(contextId, channel);
      }
    };
  }

  /** The context is gone: forget its events. */
  close(contextId: string): void {
    this.idle.delete(contextId);
    this.listened.delete(contextId);
  }

  private channel(contextId: string): Channel {
    let channel = this.listened.get(contextId) ?? this.idle.get(contextId);
    if (channel === undefined) {
      channel = { next: 1, held: [], listeners: new Set() };
      this.idle.set(contextId, channel);
    }
    return channel;
  }
}
