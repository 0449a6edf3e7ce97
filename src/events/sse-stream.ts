import type { ServerResponse } from 'node:http';
import type { Logger } from '../log.js';
import type { EventHub, Subscription } from './event-hub.js';

const HEARTBEAT_MS = 15_000;

/** The last frame of every stream when the server shuts down: reconnect elsewhere. */
const SHUTDOWN_FRAME = `event: shutdown\ndata: ${JSON.stringify({
  reason: 'the server is shutting down; reconnect with Last-Event-ID',
})}\n\n`;

/**
 * One subscriber's Server-Sent Events connection, written straight to its socket with the
 * socket's backpressure: an event is written only while the socket is not full
 * (`writableNeedDrain`), the rest wait in the hub's shared window and are written on
 * `drain`. So a reader that stalls holds at most one socket buffer of its own. A reader
 * that falls behind by more than the hub's window (events or bytes, the
 * `SSE_MAX_QUEUED_*` settings) is disconnected; it resumes with `Last-Event-ID`.
 */
export class SseStream {
  private sent: number;
  private closed = false;
  private waitingForDrain = false;
  private readonly subscription: Subscription;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    private readonly res: ServerResponse,
    hub: EventHub,
    contextId: string,
    lastEventId: number | undefined,
    private readonly registry: SseStreams,
  ) {
    this.subscription = hub.subscribe(contextId, () => this.pump());
    const newest = this.subscription.newest;
    // Without Last-Event-ID a stream starts with the next event. With one, it continues
    // after it — from the oldest event still held if that one is gone, and from the next
    // event if the id is newer than any here (ids start at 1 in each process).
    const oldest = this.subscription.after(-1)?.id ?? newest + 1;
    this.sent =
      lastEventId === undefined ? newest : Math.min(Math.max(lastEventId, oldest - 1), newest);
    this.heartbeat = setInterval(() => {
      if (!res.writableNeedDrain) res.write(': keep-alive\n\n');
    }, HEARTBEAT_MS).unref();
    res.on('close', () => this.release());
    res.on('drain', () => {
      this.waitingForDrain = false;
      this.pump();
    });
    registry.add(this);
    if (registry.ending)
      this.end(); // opened during shutdown: told at once
    else this.pump();
  }

  /** Bytes waiting for this subscriber: events it has not been sent, and its socket buffer. */
  get queuedBytes(): number {
    if (this.closed) return 0;
    return this.subscription.behind(this.sent).bytes + this.res.writableLength;
  }

  /** Writes what the socket takes now; disconnects a subscriber past the window. */
  private pump(): void {
    if (this.closed) return;
    const behind = this.subscription.behind(this.sent);
    const limits = this.registry.limits;
    // One event may be larger than the byte window on its own: it is always sendable.
    if (behind.events > limits.maxEvents || (behind.events > 1 && behind.bytes > limits.maxBytes)) {
      this.registry.disconnectedSlow++;
      this.registry.log.warn(
        {
          behindEvents: behind.events,
          behindBytes: behind.bytes,
          socketBytes: this.res.writableLength,
        },
        'SSE subscriber too far behind; disconnected (it can resume with Last-Event-ID)',
      );
      this.res.destroy();
      this.release();
      return;
    }
    while (!this.waitingForDrain) {
      const event = this.subscription.after(this.sent);
      if (event === undefined) return;
      this.sent = event.id;
      if (!this.res.write(event.frame)) this.waitingForDrain = true;
    }
  }

  /** Ends the stream with a `shutdown` event (the server is stopping). */
  end(): void {
    if (this.closed) return;
    this.release();
    this.res.end(SHUTDOWN_FRAME);
  }

  private release(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    this.subscription.unsubscribe();
    this.registry.delete(this);
  }
}

/** The open event streams: their limits, what they have queued, and ending them all. */
export class SseStreams {
  private readonly open = new Set<SseStream>();
  /** Subscribers disconnected for falling behind (a counter, for /metrics). */
  disconnectedSlow = 0;
  /** Set by `endAll`: a stream opened after it is ended at once. */
  ending = false;

  constructor(
    readonly limits: { maxEvents: number; maxBytes: number },
    readonly log: Logger,
  ) {}

  get size(): number {
    return this.open.size;
  }

  /** Bytes waiting for all subscribers (see `SseStream.queuedBytes`). */
  queuedBytes(): number {
    let bytes = 0;
    for (const stream of this.open) bytes += stream.queuedBytes;
    return bytes;
  }

  /** Sends every stream its `shutdown` event and ends it; returns how many were open. */
  endAll(): number {
    this.ending = true;
    const count = this.open.size;
    for (const stream of [...this.open]) stream.end();
    return count;
  }

  add(stream: SseStream): void {
    this.open.add(stream);
  }

  delete(stream: SseStream): void {
    this.open.delete(stream);
  }
}
