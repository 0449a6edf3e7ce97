import { Counter, Gauge, type Registry } from 'prom-client';
import type { SseStreams } from './sse-stream.js';

/** `/metrics` gauges of the event streams: how many are open, what they have queued. */
export function registerSseMetrics(registry: Registry, sse: SseStreams): void {
  new Gauge({
    name: 'ccs_sse_streams',
    help: 'Open Server-Sent Events streams',
    registers: [registry],
    collect() {
      this.set(sse.size);
    },
  });
  new Gauge({
    name: 'ccs_sse_queued_bytes',
    help: 'Bytes waiting for SSE subscribers: events not yet written to them plus their socket buffers',
    registers: [registry],
    collect() {
      this.set(sse.queuedBytes());
    },
  });
  new Counter({
    name: 'ccs_sse_disconnected_slow_total',
    help: 'SSE subscribers disconnected for falling behind SSE_MAX_QUEUED_EVENTS or SSE_MAX_QUEUED_BYTES',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(sse.disconnectedSlow);
    },
  });
}
