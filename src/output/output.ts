/**
 * The sink seam: where decoded flows go. The decoder hands each flow to `onFlow` synchronously
 * (the record object is reused, so an output copies or encodes what it needs at once); the
 * worker calls `flush` after every ingest batch and `tick` on a timer. An output owns a
 * bounded queue and the drop policy, and counts every flow it did not deliver by reason.
 * Implementations: stdout and file (this package), the NATS JetStream publisher (next).
 */
import type { FlowRecord } from '../decode/mod.js';
import type { DelimitedBatchWriter } from '../encode/mod.js';
import { COUNTER_ZERO } from '../counting.js';

export type DropPolicy = 'drop_oldest' | 'drop_newest' | 'block';

/**
 * Why a flow was not delivered: queue_full (the byte bound and drop_policy), write_error (a
 * file or stdout write failed), shutdown (undelivered at the drain deadline), retry_exhausted
 * (NATS: every publish attempt failed), rejected (NATS refused it for good: permissions, size).
 */
export type DropReason = 'queue_full' | 'write_error' | 'shutdown' | 'retry_exhausted' | 'rejected';

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
  /** NATS publisher details (NATS outputs only). */
  nats?: NatsStats;
}

/** What a NATS output reports in each snapshot (see docs/metrics.md). */
export interface NatsStats {
  connected: boolean;
  /** The stream is known to exist (ensured, or manage: false). */
  streamReady: boolean;
  reconnects: number;
  /** First publish attempts. */
  messagesPublished: number;
  flowsPublished: number;
  bytesPublished: number;
  messagesAcked: number;
  /** Acknowledgements that said the server already had the message (a retry that had been stored). */
  duplicates: number;
  retries: number;
  /** Failed publish attempts by reason (timeout, no_responders, permission, connection, too_large, api_error, other). */
  failures: Record<string, number>;
  inFlight: number;
  /** Age in seconds of the oldest message not yet acknowledged (0 when none). */
  oldestAgeS: number;
  /** Publish-to-ack latency: counts per bucket (upper bounds in LATENCY_BUCKETS_S, not cumulative; last = +Inf). */
  latencyCounts: number[];
  latencySum: number;
}

/** Upper bounds (seconds) of the publish latency histogram buckets. */
export const LATENCY_BUCKETS_S: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface DrainResult {
  delivered: number;
  dropped: number;
}

export interface FlowOutput {
  readonly name: string;
  /** One decoded flow; the record is reused after the call returns. */
  onFlow(rec: FlowRecord): void;
  /**
   * Fast path: the batch an output that writes length-delimited flowpb appends to, where the
   * decoder may append ready-made frames itself (counting them with `added`); undefined (or no
   * method) when the output needs the FlowRecord. Frames and onFlow records share the batch, so
   * their order is kept; drop policy and counts apply to both alike.
   */
  frames?(): DelimitedBatchWriter | undefined;
  /** Fast path: whether onFrames can take this output's flows (it encodes flowpb). */
  takesFrames?(): boolean;
  /**
   * Fast path: `n` ready-made length-delimited flowpb frames in src[from, to), of flow type
   * `type`, from the exporter whose address is `sampler` (their sampler_address).
   */
  onFrames?(src: Uint8Array, from: number, to: number, n: number, type: number, sampler: Uint8Array): void;
  /** End of an ingest batch: hands what is encoded to the queue when it is worth a write. */
  flush(): void;
  /**
   * Periodic (about every 100 ms while flows come, and after the last): hands what is encoded to
   * the queue, so quiet exporters' flows are not held back. Returns whether it still holds flows
   * that only a later tick hands over or sends (a batch younger than its delay, a queue waiting for
   * the server); while it does, the ticks go on when no more flows come.
   */
  tick(): boolean;
  /**
   * The listener (index in config.listeners) whose flows follow, until the next call: called
   * once per ingest batch, never per flow. Outputs that publish per listener use it.
   */
  source?(listener: number): void;
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
  return { queue_full: COUNTER_ZERO, write_error: COUNTER_ZERO, shutdown: COUNTER_ZERO, retry_exhausted: COUNTER_ZERO, rejected: COUNTER_ZERO };
}

/**
 * Waits for an output to report it is done (it calls the `wake` it was given through `arm`) or
 * for `deadline` (ms since the epoch), whichever comes first; `arm(undefined)` disarms it.
 */
export function waitOrDeadline(deadline: number, arm: (wake: (() => void) | undefined) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const wake = () => {
      clearTimeout(timer);
      arm(undefined);
      resolve();
    };
    const timer = setTimeout(wake, Math.max(0, deadline - Date.now()));
    arm(wake);
  });
}
