import type { ServerResponse } from 'node:http';
import type { Logger } from '../log.js';
import type { EventHub, Subscription } from './event-hub.js';

const HEARTBEAT_MS = 15_000;
/** How long a disconnected subscriber's socket may take to flush what it holds. */
const DISCONNECT_GRACE_MS = 5_000;

/** The last frame of every stream when the server shuts down: reconnect elsewhere. */
const SHUTDOWN_FRAME = `event: shutdown\ndata: ${JSON.stringify({
  reason: 'the server is shutting down; reconnect with Last-Event-ID',
})}\n\n`;

/**
 * One subscriber's Server-Sent Events connection, written straight to its socket with the
 * socket's backpressure: an event is written only while the socket is not full
 * (`writableNeedDrain`), the rest wait in the hub's shared window and are written on
 * `drain`. So a reader that stalls holds at most one socket buffer of its own.
 *
 * A reader with more than `SSE_MAX_QUEUED_EVENTS` events or `SSE_MAX_QUEUED_BYTES` bytes
 * published since it connected and not yet on the wire (its socket buffer included) is
 * disconnected. The hub holds twice that per context, so it resumes with `Last-Event-ID`
 * without a gap (the events it replays do not count against it again); a reader whose
 * next event has left the hub is disconnected too.
 */
export class SseStream {
  /** The id of the last event written to the socket. */
  private sent: number;
  /** The newest event when the subscriber connected. */
  private readonly connectedAt: number;
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
    this.connectedAt = newest;
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

  /** Writes what the socket takes now; disconnects a subscriber past its bound. */
  private pump(): void {
    if (this.closed) return;
    if (this.subscription.behind(this.sent).bytes === Number.POSITIVE_INFINITY) {
      this.disconnect('the events it has not been sent are no longer held');
      return;
    }
    while (!this.waitingForDrain) {
      const event = this.subscription.after(this.sent);
      if (event === undefined) break;
      this.sent = event.id;
      if (!this.res.write(event.frame)) this.waitingForDrain = true;
    }
    // Only what piled up since it connected counts: a client that resumed far back is
    // replaying events the hub holds anyway.
    const live = this.subscription.behind(Math.max(this.sent, this.connectedAt));
    const socketBytes = this.res.writableLength;
    const frames = live.events + (socketBytes > 0 ? 1 : 0); // one frame alone may be large
    const bytes = live.bytes + socketBytes;
    const limits = this.registry.limits;
    if (live.events > limits.maxEvents || (frames > 1 && bytes > limits.maxBytes)) {
      this.disconnect(`${live.events} events, ${bytes} bytes queued`);
    }
  }

  /**
   * Ends a subscriber that fell behind: nothing more is queued for it, and the response is
   * ended so that what its socket already holds still reaches it, followed by a clean end
   * (a reader that was only slow gets every event it was sent, then resumes with
   * `Last-Event-ID`). A socket still open `DISCONNECT_GRACE_MS` later is destroyed.
   */
  private disconnect(why: string): void {
    this.registry.disconnectedSlow++;
    this.registry.log.warn(
      { why, lastSentId: this.sent },
      'SSE subscriber too far behind; disconnected (it can resume with Last-Event-ID)',
    );
    this.release();
    const res = this.res;
    const timer = setTimeout(() => res.destroy(), DISCONNECT_GRACE_MS).unref();
    res.once('close', () => clearTimeout(timer));
    res.end();
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
