import {
  type ContextSpec,
  contextPath,
  firstPagePath,
  hotPagePath,
  lastPagePath,
} from './dataset.js';

/**
 * The shared dataset of S1–S4: which contexts the product is seeded with, and the GET
 * requests the benchmark sends (the fairness test checks every system answers them with the
 * same bytes).
 */
export interface MainPlan {
  messageBytes: number;
  /** S1/S2: one context of this many messages. */
  hotMessages: number;
  /** S4: one context of each size. */
  pageSizes: number[];
  /** S3: this many contexts of `mixedMessages` each. */
  mixedContexts: number;
  mixedMessages: number;
  /** S5: the small context (the large one has as many messages as S4's largest). */
  smallAppendMessages: number;
}

export const MAIN_PLAN: MainPlan = {
  messageBytes: 1024,
  hotMessages: 100,
  pageSizes: [100, 1000, 10_000],
  mixedContexts: 100,
  mixedMessages: 50,
  smallAppendMessages: 10,
};

export const pageKey = (size: number) => `page-${size}`;
export const mixedKey = (i: number) => `mixed-${i}`;

export function mainSpecs(plan: MainPlan): ContextSpec[] {
  return [
    { key: 'hot', messages: plan.hotMessages },
    ...plan.pageSizes.map((n) => ({ key: pageKey(n), messages: n })),
    ...Array.from({ length: plan.mixedContexts }, (_, i) => ({
      key: mixedKey(i),
      messages: plan.mixedMessages,
    })),
  ];
}

/** Contexts the object-model baselines load (all but S5's, which only the product serves). */
export function baselineKeys(plan: MainPlan): string[] {
  return mainSpecs(plan)
    .map((s) => s.key)
    .filter((k) => !k.startsWith('append-'));
}

/** The read requests of S1, S2 and S4 (the ceiling precomputes these). */
export function ceilingPaths(ids: Map<string, string>, plan: MainPlan): string[] {
  const hot = ids.get('hot')!;
  return [
    hotPagePath(hot),
    contextPath(hot),
    ...plan.pageSizes.map((n) => lastPagePath(ids.get(pageKey(n))!, n)),
  ];
}

/** The read requests of S3. */
export function mixedReadPaths(ids: Map<string, string>, plan: MainPlan): string[] {
  return Array.from({ length: plan.mixedContexts }, (_, i) => firstPagePath(ids.get(mixedKey(i))!));
}
