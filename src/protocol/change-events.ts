/**
 * What a worker says it committed, for live events. The worker builds these from the data
 * it already holds; the main thread publishes them as they are (src/events/change-publisher.ts).
 */

/** The live events a committed change publishes (docs/api.md, live events). */
export type ChangeKind =
  | 'message'
  | 'state'
  | 'context_updated'
  | 'branch_created'
  | 'branch_updated'
  | 'branch_deleted';

/**
 * One live event of a committed change: its data inline, or, when the data is the reply's
 * own body (the appended message, the updated context, the branch), a mark saying so: the
 * body bytes become the event's data as they are, never parsed nor copied into the head.
 */
export type ChangeEvent =
  | { kind: ChangeKind; data: unknown }
  | { kind: ChangeKind; dataIsBody: true };
