/**
 * The sink seam: where decoded flows go. The decoder hands each flow to `onFlow` synchronously
 * (the record object is reused, so an output copies or encodes what it needs at once); the
 * worker calls `flush` after every ingest batch and `tick` on a timer. An output owns a
 * bounded queue and the drop policy, and counts every flow it did not deliver by reason.
 * Implementations: stdout and file (this package), the NATS JetStream publisher (next).
 */
import type { FlowRecord } from '../decode/mod.js';

export type DropPolicy = 'drop_oldest' | 'drop_newest' | 'block';

/** Why a flow was not delivered. */
export type DropReason = 'queue_full' | 'write_error' | 'shutdown';
export const DROP_REASONS: readonly DropReason[] = ['queue_full', 'write_error', 'shutdown'];

export interface OutputStats {
  /** Flows handed to the output. */
  flows: number;
  /** Flows the destination accepted (written, acknowledged). */
  delivered: number;
  /** Flows not delivered, by reason. */
  dropped: Record<DropReason, number>;
  /** Encoded bytes delivered. */
  bytes: number;
  /** Bytes waiting in the queue (encoded, not yet accepted by the destination). */
  queuedBytes: number;
  queuedFlows: number;
  /** The queue's bound in bytes. */
  maxBytes: number;
  /** Write failures (each may drop many flows). */
  writeErrors: number;
}

export interface DrainResult {
  delivered: number;
  dropped: number;
}

export interface FlowOutput {
  readonly name: string;
  /** One decoded flow; the record is reused after the call returns. */
  onFlow(rec: FlowRecord): void;
  /** End of an ingest batch: hands what is encoded to the queue when it is worth a write. */
  flush(): void;
  /** Timer: hands everything encoded to the queue, so quiet exporters' flows are not held back. */
  tick(): void;
  /** Whether the destination can take flows (file open, server connected). */
  ready(): boolean;
  /**
   * Block policy: called with true when the queue is full (stop reading the sockets) and false
   * when it has room again.
   */
  onBackpressure(fn: (blocked: boolean) => void): void;
  /** Reopens the destination (SIGHUP, after logrotate). */
  reopen(): void;
  /** Delivers everything queued, waiting at most until `deadline` (ms since epoch). */
  drain(deadline: number): Promise<DrainResult>;
  stats(): OutputStats;
  close(): Promise<void>;
}

export function emptyDropped(): Record<DropReason, number> {
  return { queue_full: 0, write_error: 0, shutdown: 0 };
}
