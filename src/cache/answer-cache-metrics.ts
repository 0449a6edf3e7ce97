import { Counter, Gauge, type Registry } from 'prom-client';
import type { AnswerCache } from './answer-cache.js';

/** `/metrics` series of the answer cache: hits, misses, and what it holds. */
export function registerAnswerCacheMetrics(registry: Registry, cache: AnswerCache): void {
  new Counter({
    name: 'ccs_answer_cache_hits_total',
    help: 'Reads answered from the answer cache (encoded answers of an unchanged context version)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(cache.stats().hits);
    },
  });
  new Counter({
    name: 'ccs_answer_cache_misses_total',
    help: 'Reads the answer cache could not answer (none cached, or the context changed)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(cache.stats().misses);
    },
  });
  new Gauge({
    name: 'ccs_answer_cache_bytes',
    help: 'Bytes of encoded answers held (bounded by ANSWER_CACHE_MAX_BYTES)',
    registers: [registry],
    collect() {
      this.set(cache.stats().bytes);
    },
  });
  new Gauge({
    name: 'ccs_answer_cache_entries',
    help: 'Encoded answers held',
    registers: [registry],
    collect() {
      this.set(cache.stats().entries);
    },
  });
}
