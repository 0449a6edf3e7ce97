/**
 * Counts the work a thread does on shared memory, so tests and metrics can show that a
 * request's cost follows what it returns, not the size of the conversation. Plain numbers
 * on a per-thread object: incrementing costs next to nothing, and no lock is involved.
 */
export interface ThreadWorkMeter {
  /** Message records whose bytes were read (copied into a reply or a snapshot). */
  recordsRead: number;
  /** Bytes of message records read. */
  recordBytesRead: number;
  /** Branch-array entries (record refs) read. */
  refsRead: number;
  /** Message records written. */
  recordsWritten: number;
  /** Bytes of message records written. */
  recordBytesWritten: number;
  /** Metadata records decoded. */
  metaReads: number;
}

export const workMeter: ThreadWorkMeter = {
  recordsRead: 0,
  recordBytesRead: 0,
  refsRead: 0,
  recordsWritten: 0,
  recordBytesWritten: 0,
  metaReads: 0,
};
