/**
 * Messages between the main thread and the worker threads. Workers report counters as a
 * snapshot once a second (never a message per datagram); the snapshot doubles as the worker's
 * heartbeat for /healthz.
 */
import type { CollectorConfig } from '../config/mod.js';
import type { OutputStats } from '../output/mod.js';
import type { MessagePort } from 'node:worker_threads';

export interface WorkerInit {
  index: number;
  config: CollectorConfig;
  /** Concrete ports per listener (port 0 resolved by the main thread's probe). */
  ports: number[];
  /** BroadcastChannel name of this collector's in-process template store. */
  storeChannel: string;
  /** To the main thread's stdout writer, when an output writes to stdout. */
  stdoutPort: MessagePort | null;
  /** Milliseconds between snapshots. */
  snapshotMs: number;
  /** Forces the dgram path (tests). */
  forceDgram: boolean;
}

export interface ListenerSnapshot {
  name: string;
  datagrams: number;
  bytes: number;
  truncated: number;
  /** Datagrams of another protocol than the listener's. */
  wrongProtocol: number;
  /** Datagrams discarded because the outputs were full (dgram path with drop_policy block). */
  pausedDrops: number;
  /** Kernel drops per socket (null on the dgram path). */
  kernelDrops: (number | null)[];
  rcvbuf: number;
  paused: boolean;
}

export interface ErrorSample {
  reason: string;
  exporter: string;
  listener: string;
  count: number;
}

export interface WorkerSnapshot {
  index: number;
  at: number;
  /** Decoder counters by reason (docs/errors.md). */
  counters: Record<string, number>;
  /** Flows decoded by protocol name. */
  flows: Record<string, number>;
  listeners: ListenerSnapshot[];
  outputs: (OutputStats & { name: string; ready: boolean })[];
  scopes: number;
  pendingBytes: number;
  /** The worker's V8 heap when the snapshot was taken (v8.getHeapStatistics of its isolate). */
  heap: WorkerHeap;
  store: Record<string, number>;
  /** One sample per decode error reason seen since the last snapshot. */
  errors: ErrorSample[];
}

export interface WorkerHeap {
  /** Bytes of live and not yet collected objects on the JavaScript heap. */
  used: number;
  /** Bytes the heap has reserved from the system. */
  total: number;
  /** Memory outside the heap held by its objects: ArrayBuffers (queued messages, pending data, batches). */
  external: number;
}

export interface ListenerBound {
  name: string;
  address: string;
  port: number;
  sockets: number;
  path: 'addon' | 'dgram';
  reason: string;
  rcvbuf: number;
}

export type ToMain =
  /** The warm-up is done; the worker opens its sockets when told to ('open'). */
  | { type: 'warm'; index: number; warmupMs: number }
  | { type: 'ready'; index: number; listeners: ListenerBound[] }
  | { type: 'failed'; index: number; message: string; code: string | null }
  | { type: 'snapshot'; snapshot: WorkerSnapshot }
  | { type: 'log'; level: 'warn' | 'error' | 'info'; key: string; msg: string; fields?: Record<string, unknown> }
  | { type: 'stopped'; index: number; snapshot: WorkerSnapshot; delivered: number; dropped: number };

export type ToWorker =
  /** Every worker is warm: bind the sockets and read them. */
  | { type: 'open' }
  | { type: 'spread'; listener: number; mode: 'random' | 'roundrobin' | 'cpu'; groupSize: number }
  | { type: 'reopen' }
  | { type: 'stop'; deadline: number };
