import type { Metric, Registry } from 'prom-client';

/**
 * Upper bounds, in seconds, of the request-duration histogram: a hot read answers in well
 * under a millisecond, a conversation turn can wait a minute for the LLM.
 */
export const DURATION_BUCKETS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

/** Methods kept as labels; anything else is counted as `OTHER` (bounded cardinality). */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
const OTHER_METHOD = METHODS.length;

/** One (method, route, status) series: a count, a sum and per-bucket (not cumulative) counts. */
export class RequestSeries {
  count = 0;
  sum = 0;
  /** `buckets[i]` counts durations in (bound[i-1], bound[i]]; the last slot is above them all. */
  readonly buckets = new Float64Array(DURATION_BUCKETS.length + 1);

  constructor(
    readonly method: string,
    readonly route: string,
    readonly status: string,
  ) {}

  observe(seconds: number): void {
    this.count++;
    this.sum += seconds;
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > (DURATION_BUCKETS[i] as number)) i++;
    (this.buckets[i] as number)++;
  }
}

/**
 * `http_requests_total` and `http_request_duration_seconds`, by method, route template and
 * status. The request path only finds its series (two map lookups, no allocation once the
 * series exists) and adds to plain numbers; the Prometheus samples are built at scrape time.
 * prom-client's own Histogram would build a label object and a label hash per observation.
 */
export class HttpMetrics {
  /** route template → (status × methods + method index) → series. */
  readonly #routes = new Map<string, Map<number, RequestSeries>>();

  constructor(registry: Registry) {
    // prom-client's Registry reads only name, help, type, get() and reset() of a metric, so
    // these two scrape-time collectors stand in for its Counter and Histogram classes.
    registry.registerMetric(
      this.#collector('http_requests_total', 'HTTP requests answered', 'counter', (values) => {
        for (const s of this.#all()) values.push({ labels: labelsOf(s), value: s.count });
      }),
    );
    registry.registerMetric(
      this.#collector(
        'http_request_duration_seconds',
        'Time from receiving an HTTP request to its response being ready (SSE: the stream opening)',
        'histogram',
        (values) => {
          for (const s of this.#all()) pushHistogram(values, s);
        },
      ),
    );
  }

  /** The series of one request's labels (made on first use). */
  series(method: string, route: string, status: number): RequestSeries {
    let byKey = this.#routes.get(route);
    if (byKey === undefined) {
      byKey = new Map();
      this.#routes.set(route, byKey);
    }
    const index = methodIndex(method);
    const key = status * (OTHER_METHOD + 1) + index;
    let series = byKey.get(key);
    if (series === undefined) {
      series = new RequestSeries(METHODS[index] ?? 'OTHER', route, String(status));
      byKey.set(key, series);
    }
    return series;
  }

  *#all(): Generator<RequestSeries> {
    for (const byKey of this.#routes.values()) yield* byKey.values();
  }

  #collector(
    name: string,
    help: string,
    type: 'counter' | 'histogram',
    fill: (values: Sample[]) => void,
  ): Metric {
    const collector = {
      name,
      help,
      type,
      aggregator: 'sum',
      get: async () => {
        const values: Sample[] = [];
        fill(values);
        return { name, help, type, aggregator: 'sum', values };
      },
      reset: () => this.#routes.clear(),
    };
    return collector as unknown as Metric;
  }
}

interface Sample {
  metricName?: string;
  labels: Record<string, string | number>;
  value: number;
}

function methodIndex(method: string): number {
  const index = (METHODS as readonly string[]).indexOf(method);
  return index < 0 ? OTHER_METHOD : index;
}

function labelsOf(s: RequestSeries): Record<string, string> {
  return { method: s.method, route: s.route, status: s.status };
}

function pushHistogram(values: Sample[], s: RequestSeries): void {
  const name = 'http_request_duration_seconds';
  let cumulative = 0;
  for (let i = 0; i < DURATION_BUCKETS.length; i++) {
    cumulative += s.buckets[i] as number;
    values.push({
      metricName: `${name}_bucket`,
      labels: { ...labelsOf(s), le: DURATION_BUCKETS[i] as number },
      value: cumulative,
    });
  }
  values.push({
    metricName: `${name}_bucket`,
    labels: { ...labelsOf(s), le: '+Inf' },
    value: s.count,
  });
  values.push({ metricName: `${name}_sum`, labels: labelsOf(s), value: s.sum });
  values.push({ metricName: `${name}_count`, labels: labelsOf(s), value: s.count });
}
