import type { Registry } from 'prom-client';
import { LOCK_CLASSES } from '../sync/lock-ids.js';
import type { HistogramSnapshot, LockStats } from '../sync/lock-stats.js';

type MetricType = 'counter' | 'histogram';

interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

/**
 * Lock contention metrics per lock class (cache, context, arena), read at scrape time
 * from the lock registry's shared counters: acquisitions, contended acquisitions,
 * timeouts, deadlocks broken, and wait- and hold-time histograms (seconds).
 */
export function registerLockMetrics(registry: Registry, read: () => LockStats): void {
  const counter = (name: string, help: string, pick: (s: LockStats[keyof LockStats]) => number) =>
    custom(registry, name, help, 'counter', () => {
      const stats = read();
      return LOCK_CLASSES.map((cls) => ({ value: pick(stats[cls]), labels: { class: cls } }));
    });
  counter('ccs_lock_acquisitions_total', 'Lock acquisitions', (s) => s.acquisitions);
  counter('ccs_lock_contended_total', 'Acquisitions that had to wait', (s) => s.contended);
  counter('ccs_lock_timeouts_total', 'Lock waits that reached their deadline', (s) => s.timeouts);
  counter(
    'ccs_lock_deadlocks_broken_total',
    'Lock waits failed by the deadlock detector to break a cycle',
    (s) => s.deadlocksBroken,
  );
  const histogram = (
    name: string,
    help: string,
    pick: (s: LockStats[keyof LockStats]) => HistogramSnapshot,
  ) =>
    custom(registry, name, help, 'histogram', () => {
      const stats = read();
      return LOCK_CLASSES.flatMap((cls) => histogramValues(name, cls, pick(stats[cls])));
    });
  histogram(
    'ccs_lock_wait_seconds',
    'Wait time of contended lock acquisitions',
    (s) => s.waitSeconds,
  );
  histogram('ccs_lock_hold_seconds', 'Hold time of locks (sampled)', (s) => s.holdSeconds);
}

function histogramValues(name: string, cls: string, h: HistogramSnapshot): MetricValue[] {
  return [
    ...h.buckets.map((b) => ({
      metricName: `${name}_bucket`,
      value: b.count,
      labels: { class: cls, le: b.le === Number.POSITIVE_INFINITY ? '+Inf' : b.le },
    })),
    { metricName: `${name}_sum`, value: h.sum, labels: { class: cls } },
    { metricName: `${name}_count`, value: h.count, labels: { class: cls } },
  ];
}

/** A metric whose values are computed at scrape time from counters kept elsewhere. */
function custom(
  registry: Registry,
  name: string,
  help: string,
  type: MetricType,
  values: () => MetricValue[],
): void {
  registry.registerMetric({
    name,
    help,
    type,
    aggregator: 'sum',
    get: async () => ({ name, help, type, aggregator: 'sum', values: values() }),
    reset: () => {},
  } as unknown as Parameters<Registry['registerMetric']>[0]);
}
