/**
 * The NATS JetStream publisher: one per worker and nats output, on its own connection.
 *
 * Flows are encoded at once into an open batch per subject (a reused buffer; no allocation per
 * flow for 'flowpb-batch'), cut into a message at batch_size flows, max_batch_bytes (kept under
 * the server's max_payload) or max_batch_delay_ms, and queued. Up to ack_window messages are in
 * flight; each carries Nats-Msg-Id = <instance>-<worker start>-<sequence>, kept across retries,
 * so a retry of a message the server already stored is acknowledged as a duplicate, not stored
 * twice. One byte bound (queue.max_bytes) covers every message queued, waiting for a retry or in
 * flight; past it queue.drop_policy applies. While disconnected nothing is sent and nothing is
 * retried-and-counted: messages wait in the bounded queue.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { headers, type NatsConnection } from '@nats-io/transport-node';
import type { FlowRecord } from '../../decode/mod.js';
import { ByteWriter, delimitedFrameEnd, delimitedMessageStart, formatIp, writeFlowJson, writeFlowMessage, writeFlowMessageDelimited } from '../../encode/mod.js';
import type { ListenerConfig, NatsConfig, NatsFormat, NatsOutput as NatsOutputConfig } from '../../config/mod.js';
import { emptyDropped, waitOrDeadline, LATENCY_BUCKETS_S, type DrainResult, type DropPolicy, type FlowOutput, type NatsStats, type OutputStats } from '../output.js';
import { backoffMs, connectForever, connectionOptions, type ConnectLoop } from './connect.js';
import { describeNatsError, ensureStream, NatsPermissionError, type DescribedError, type NatsFailure } from './stream.js';
import { AckInbox, type AckOutcome } from './acks.js';
import { COUNTER_ZERO, counted, countedAll } from '../../counting.js';

export type PublisherLog = (level: 'info' | 'warn' | 'error', key: string, msg: string, fields?: Record<string, unknown>) => void;

export interface NatsPublisherOptions {
  output: NatsOutputConfig;
  nats: NatsConfig;
  listeners: readonly ListenerConfig[];
  /** Byte bound across every pending message, and what to do past it. */
  maxBytes: number;
  policy: DropPolicy;
  /** Worker index: part of the connection name and of every message id. */
  worker: number;
  log: PublisherLog;
  /** Output name in metrics and logs. */
  name?: string;
}

/** Header names every message carries. */
export const HEADER_FORMAT = 'Flow-Format';
export const HEADER_COUNT = 'Flow-Count';
/** JetStream's deduplication header. */
const HEADER_MSG_ID = 'Nats-Msg-Id';
/** A publish whose ack did not come within publish_timeout_ms. */
const TIMEOUT: DescribedError = { reason: 'timeout', retry: true, message: 'no acknowledgement within publish_timeout_ms' };

/** Bytes of max_payload left for the headers (format, count, Nats-Msg-Id). */
const HEADER_RESERVE = 512;
/** Messages at least this big (and a quarter of their encode buffer) take the buffer instead of a copy. */
const HANDOVER_MIN = 64 * 1024;
/** Spare encode buffers kept. */
const MAX_SPARE = 8;
/** Assumed until the server says (nats-server's default). */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

const TYPE_NAMES: Record<number, string> = { 1: 'sflow', 2: 'netflow_v5', 3: 'netflow_v9', 4: 'ipfix' };

interface PendingMsg {
  subject: string;
  data: Buffer;
  flows: number;
  msgId: string;
  /** Failed attempts that count against max_retries. */
  attempts: number;
  /** Date.now() when queued (oldest age). */
  queuedAt: number;
  /** performance.now() of the current attempt. */
  sentAt: number;
  /** Date.now() before which a retry is not sent. */
  notBefore: number;
  /** Reply token of the current attempt (its key in inFlight). */
  token: number;
  /** Accounted (dropped at the drain deadline): later callbacks are ignored. */
  done: boolean;
  /** The encode buffer `data` is a view of (handed over, not copied), reused once settled. */
  backing: Buffer | undefined;
}

/** Flows being encoded for one subject. */
class OpenBatch {
  readonly w = new ByteWriter(16 * 1024);
  count = 0;
  /** Coarse clock (ms) when the first flow went in. */
  firstAt = 0;
  /** End offsets of each record (one-flow-per-message formats). */
  ends = new Uint32Array(64);
  constructor(readonly subject: string) {}
}

const enum Fmt {
  Batch = 0,
  Pb = 1,
  Json = 2,
}

function formatOf(f: NatsFormat): Fmt {
  return f === 'flowpb-batch' ? Fmt.Batch : f === 'flowpb' ? Fmt.Pb : Fmt.Json;
}

/** The exporter address as one subject token: "192.0.2.1" -> "192_0_2_1". */
export function exporterToken(addr: Uint8Array, len: number): string {
  if (len === 0) return 'unknown';
  return formatIp(addr, len).replace(/[.:]/g, '_');
}

export class NatsPublisher implements FlowOutput {
  readonly name: string;
  private readonly fmt: Fmt;
  private readonly formatName: string;
  private readonly cfg: NatsConfig;
  private readonly maxFlows: number;
  private readonly maxBatchBytes: number;
  private readonly maxDelayMs: number;
  private readonly maxBytes: number;
  private readonly policy: DropPolicy;
  private readonly window: number;
  private readonly log: PublisherLog;
  private readonly idPrefix: string;
  private readonly worker: number;
  /** Counters here that pass 2^31 in a long run start as doubles (src/counting.ts). */
  private seq = COUNTER_ZERO;

  // ---- subjects and open batches ----
  /** Per listener: its subject template. */
  private readonly templates: string[];
  /** Per listener: the batch when its subject has no placeholders. */
  private readonly fixed: (OpenBatch | undefined)[];
  private readonly dynamic = new Map<string, OpenBatch>();
  private readonly batches: OpenBatch[] = [];
  private listener = 0;
  private current: OpenBatch | undefined;
  private lastType = -1;
  private readonly lastAddr = new Uint8Array(16);
  private lastLen = -1;
  private lastListener = -1;
  private lastBatch: OpenBatch | undefined;
  private clock = Date.now();

  // ---- queue ----
  private readonly pending: PendingMsg[] = [];
  /** Encode buffers of settled messages, for the next hand-over. */
  private readonly spare: Buffer[] = [];
  private head = 0;
  private readonly retryQ: PendingMsg[] = [];
  /** Sent and not yet acknowledged, by reply token. */
  private readonly inFlight = new Map<number, PendingMsg>();
  private token = COUNTER_ZERO;
  private sweepTimer: NodeJS.Timeout | undefined;
  private bufferedBytes = 0;
  private bufferedFlows = 0;
  private blocked = false;
  private backpressure: ((blocked: boolean) => void) | undefined;
  private drainWaiter: (() => void) | undefined;
  private retryTimer: NodeJS.Timeout | undefined;

  // ---- connection ----
  private nc: NatsConnection | undefined;
  private inbox: AckInbox | undefined;
  private loop: ConnectLoop | undefined;
  private connected = false;
  private streamReady = false;
  private closed = false;
  private maxPayload = DEFAULT_MAX_PAYLOAD;

  // ---- stats ----
  private flowsIn = COUNTER_ZERO;
  private delivered = COUNTER_ZERO;
  private bytes = COUNTER_ZERO;
  private writeErrors = 0;
  private readonly dropped = emptyDropped();
  private reconnects = 0;
  private messagesPublished = COUNTER_ZERO;
  private flowsPublished = COUNTER_ZERO;
  private bytesPublished = COUNTER_ZERO;
  private messagesAcked = COUNTER_ZERO;
  private duplicates = COUNTER_ZERO;
  private retries = COUNTER_ZERO;
  private readonly failures: Record<NatsFailure, number> = { timeout: 0, no_responders: 0, permission: 0, connection: 0, too_large: 0, api_error: 0, other: 0 };
  private readonly latency = new Float64Array(LATENCY_BUCKETS_S.length + 1);
  private latencySum = 0;

  constructor(opts: NatsPublisherOptions) {
    const o = opts.output;
    this.name = opts.name ?? `nats:${o.subject}`;
    this.fmt = formatOf(o.format);
    this.formatName = o.format;
    this.cfg = opts.nats;
    this.maxFlows = this.fmt === Fmt.Batch ? o.batch_size : Math.max(64, o.batch_size);
    // A message must leave room for others in the byte bound: at most a quarter of it.
    this.maxBatchBytes = Math.max(1024, Math.min(o.max_batch_bytes, Math.floor(opts.maxBytes / 4)));
    this.maxDelayMs = o.max_batch_delay_ms;
    this.maxBytes = opts.maxBytes;
    this.policy = opts.policy;
    this.window = opts.nats.ack_window;
    // Failures can come per message: at most one line per key and second leaves the worker
    // (the main thread rate-limits again by logging.warn_interval_s).
    const last = new Map<string, number>();
    this.log = (level, key, msg, fields) => {
      const now = Date.now();
      if (now - (last.get(key) ?? -Infinity) < 1000) return;
      if (last.size > 256) last.clear();
      last.set(key, now);
      opts.log(level, key, msg, fields);
    };
    this.worker = opts.worker;
    const inst = opts.nats.instance_id ?? randomBytes(4).toString('hex');
    this.idPrefix = `${inst}-${Date.now().toString(36)}${randomBytes(2).toString('hex')}-w${opts.worker}-`;
    const prefix = opts.nats.subject_prefix !== undefined ? `${opts.nats.subject_prefix}.` : '';
    this.templates = opts.listeners.map((l) => prefix + (l.subject ?? o.subject));
    if (this.templates.length === 0) this.templates.push(prefix + o.subject);
    this.fixed = this.templates.map((t) => {
      if (t.includes('{')) return undefined;
      const b = new OpenBatch(t);
      this.batches.push(b);
      return b;
    });
    this.current = this.fixed[0];
    this.start();
  }

  /** The subjects published to, placeholders as `*` (for the stream's subjects). */
  subjectFilters(): string[] {
    return [...new Set(this.templates.map((t) => t.replace(/\{(protocol|exporter)\}/g, '*')))];
  }

  // ---------------------------------------------------------------------------------------
  // Flow path

  source(listener: number): void {
    this.listener = listener;
    this.current = this.fixed[listener];
  }

  onFlow(rec: FlowRecord): void {
    const b = this.current ?? this.batchFor(rec.type, rec.samplerAddress, rec.samplerAddressLen);
    const w = b.w;
    const start = w.pos;
    if (b.count === 0) b.firstAt = this.clock;
    const fmt = this.fmt;
    if (fmt === Fmt.Batch) writeFlowMessageDelimited(w, rec);
    else if (fmt === Fmt.Pb) writeFlowMessage(w, rec);
    else writeFlowJson(w, rec);
    this.placed(b, start);
  }

  takesFrames(): boolean {
    return this.fmt !== Fmt.Json;
  }

  /**
   * Fast path: ready-made length-delimited frames (flowpb-batch keeps them as they are, flowpb
   * takes each message without its length prefix), placed in batches as onFlow places records.
   */
  onFrames(src: Uint8Array, from: number, to: number, n: number, type: number, sampler: Uint8Array): void {
    // One data set comes from one exporter: one batch for all its frames.
    const b = this.current ?? this.batchFor(type, sampler, sampler.length);
    if (this.fmt === Fmt.Batch) this.spans(b, src, from, to, n);
    else this.eachFrame(b, src, from, to);
  }

  /**
   * flowpb-batch: the frames stay as they are, so they go in as runs: as many whole frames as
   * the batch's flow and byte limits allow, copied at once, then a cut. Same batches as placing
   * them one by one. A run of `n` frames that fits the open batch whole (nearly every data set:
   * a batch holds thousands of flows) is copied without walking its frames.
   */
  private spans(b: OpenBatch, src: Uint8Array, from: number, to: number, n: number): void {
    const limit = this.batchLimit();
    if (n > 0 && n <= this.maxFlows - b.count && to - from <= limit - b.w.pos) {
      this.appendRun(b, src, from, to, n);
      return;
    }
    let q = from;
    while (q < to) {
      const w = b.w;
      const room = limit - w.pos;
      const maxK = this.maxFlows - b.count;
      let p = q;
      let k = 0;
      while (p < to && k < maxK) {
        const e = delimitedFrameEnd(src, p);
        if (e - q > room) break;
        p = e;
        k++;
      }
      if (k > 0) {
        this.appendRun(b, src, q, p, k);
        q = p;
      } else if (w.pos === 0) {
        // One flow larger than a message may be: it can never be published.
        q = delimitedFrameEnd(src, q);
        this.flowsIn++;
        this.dropped.rejected++;
        this.failures.too_large++;
      } else {
        // The next frame does not fit: what is there becomes a message.
        this.cut(b);
      }
    }
  }

  /** Copies k whole frames src[from, to) into the open batch (they fit); cuts it when full of flows. */
  private appendRun(b: OpenBatch, src: Uint8Array, from: number, to: number, k: number): void {
    if (b.count === 0) b.firstAt = this.clock;
    const w = b.w;
    const len = to - from;
    w.ensure(len);
    w.buf.set(src.subarray(from, to), w.pos);
    w.pos += len;
    b.count += k;
    if (b.count >= this.maxFlows) this.cut(b);
  }

  /** flowpb: each frame without its length prefix, one message per flow. */
  private eachFrame(b: OpenBatch, src: Uint8Array, from: number, to: number): void {
    let q = from;
    while (q < to) {
      const e = delimitedFrameEnd(src, q);
      const s = delimitedMessageStart(src, q);
      const len = e - s;
      const w = b.w;
      const start = w.pos;
      if (b.count === 0) b.firstAt = this.clock;
      w.ensure(len);
      w.buf.set(src.subarray(s, e), start);
      w.pos = start + len;
      q = e;
      this.placed(b, start);
    }
  }

  /** After a record was appended to `b` at `start`: batch limits, cuts and counts. */
  private placed(b: OpenBatch, start: number): void {
    const w = b.w;
    const fmt = this.fmt;
    const limit = this.batchLimit();
    if (fmt === Fmt.Batch) {
      if (w.pos > limit) {
        if (start !== 0) {
          // What was there becomes a message; the new flow starts the next one, if it fits.
          this.cutAt(b, start);
          b.firstAt = this.clock;
          if (w.pos <= limit) {
            b.count = 1;
            return;
          }
        }
        // One flow larger than a message may be: it can never be published.
        w.pos = 0;
        b.count = 0;
        this.flowsIn++;
        this.dropped.rejected++;
        this.failures.too_large++;
        return;
      }
      if (++b.count >= this.maxFlows) this.cut(b);
      return;
    }
    if (w.pos - start > limit) {
      w.pos = start;
      this.flowsIn++;
      this.dropped.rejected++;
      this.failures.too_large++;
      return;
    }
    if (b.count >= b.ends.length) {
      const e = new Uint32Array(b.ends.length * 2);
      e.set(b.ends);
      b.ends = e;
    }
    b.ends[b.count++] = w.pos;
    if (b.count >= this.maxFlows || w.pos >= 256 * 1024) this.cut(b);
  }

  flush(): void {
    this.clock = Date.now();
    if (this.maxDelayMs === 0) this.cutAll(0);
  }

  tick(): boolean {
    this.clock = Date.now();
    this.cutAll(this.maxDelayMs);
    if (this.dynamic.size > 4096) this.forgetIdle();
    this.pump();
    // Held: a batch not yet old enough to cut, or messages the window or the connection holds.
    if (this.head < this.pending.length) return true;
    for (const b of this.batches) if (b.count > 0) return true;
    return false;
  }

  ready(): boolean {
    return !this.closed && this.connected && this.streamReady;
  }

  onBackpressure(fn: (blocked: boolean) => void): void {
    this.backpressure = fn;
  }

  reopen(): void {}

  private batchLimit(): number {
    return Math.min(this.maxBatchBytes, this.maxPayload - HEADER_RESERVE);
  }

  /** The open batch of a subject with placeholders (cached for runs of one exporter). */
  private batchFor(type: number, a: Uint8Array, len: number): OpenBatch {
    if (this.lastBatch !== undefined && type === this.lastType && len === this.lastLen && this.listener === this.lastListener) {
      const l = this.lastAddr;
      let same = true;
      for (let i = 0; i < len; i++) {
        if (a[i] !== l[i]) {
          same = false;
          break;
        }
      }
      if (same) return this.lastBatch;
    }
    const t = this.templates[this.listener] ?? this.templates[0]!;
    const subject = t.replace('{protocol}', TYPE_NAMES[type] ?? `type_${type}`).replace('{exporter}', exporterToken(a, len));
    let b = this.dynamic.get(subject);
    if (b === undefined) {
      b = new OpenBatch(subject);
      this.dynamic.set(subject, b);
      this.batches.push(b);
    }
    this.lastBatch = b;
    this.lastType = type;
    this.lastLen = len;
    this.lastListener = this.listener;
    this.lastAddr.set(a.subarray(0, len));
    return b;
  }

  private forgetIdle(): void {
    for (const [k, b] of this.dynamic) {
      if (b.count === 0) {
        this.dynamic.delete(k);
        const i = this.batches.indexOf(b);
        if (i >= 0) this.batches.splice(i, 1);
      }
    }
    this.lastBatch = undefined;
  }

  private cutAll(olderThanMs: number): void {
    const now = this.clock;
    for (const b of this.batches) if (b.count > 0 && now - b.firstAt >= olderThanMs) this.cut(b);
  }

  /** Everything in the batch becomes message(s). */
  private cut(b: OpenBatch): void {
    this.cutAt(b, b.w.pos);
  }

  /**
   * The first `end` bytes of the batch become message(s); bytes after `end` (one record that
   * did not fit) move to the front and the batch keeps them.
   */
  private cutAt(b: OpenBatch, end: number): void {
    const w = b.w;
    const src = w.buf;
    if (this.fmt === Fmt.Batch) {
      const flows = b.count;
      if (end >= HANDOVER_MIN && end * 4 >= src.length) {
        // A big message takes the encode buffer itself (no copy); the batch goes on in a spare
        // buffer, and the message's buffer becomes a spare once the message is settled.
        const next = this.takeSpare(src.length);
        const rest = w.pos - end;
        if (rest > 0) src.copy(next, 0, end, w.pos);
        w.buf = next;
        w.dv = new DataView(next.buffer, next.byteOffset, next.length);
        w.pos = rest;
        b.count = 0;
        this.enqueue(b.subject, src.subarray(0, end), flows, src);
        return;
      }
      const data = Buffer.allocUnsafe(end);
      src.copy(data, 0, 0, end);
      this.enqueue(b.subject, data, flows);
    } else {
      let s = 0;
      for (let i = 0; i < b.count; i++) {
        const e = b.ends[i]!;
        const data = Buffer.allocUnsafe(e - s);
        src.copy(data, 0, s, e);
        this.enqueue(b.subject, data, 1);
        s = e;
      }
    }
    const rest = w.pos - end;
    if (rest > 0) src.copy(src, 0, end, w.pos);
    w.pos = rest;
    b.count = 0;
  }

  // ---------------------------------------------------------------------------------------
  // Queue

  /** A buffer of `size` bytes for an open batch: a spare one when there is one. */
  private takeSpare(size: number): Buffer {
    for (;;) {
      const b = this.spare.pop();
      if (b === undefined) return Buffer.allocUnsafeSlow(size);
      if (b.length === size) return b;
      // Of a size no batch uses any more: left to the GC.
    }
  }

  /** The message will not be sent again: its handed-over buffer can be reused. */
  private recycle(m: PendingMsg): void {
    const b = m.backing;
    if (b === undefined) return;
    m.backing = undefined;
    if (this.spare.length < MAX_SPARE) this.spare.push(b);
  }

  private enqueue(subject: string, data: Buffer, flows: number, backing?: Buffer): void {
    this.flowsIn += flows;
    const len = data.length;
    if (this.bufferedBytes + len > this.maxBytes) {
      if (this.policy === 'drop_newest' || this.closed) {
        this.dropped.queue_full += flows;
        if (backing !== undefined && this.spare.length < MAX_SPARE) this.spare.push(backing);
        return;
      }
      if (this.policy === 'drop_oldest') {
        // Oldest not yet sent first (in flight and waiting retries stay: they may be stored).
        while (this.bufferedBytes + len > this.maxBytes && this.head < this.pending.length) {
          const old = this.pending[this.head]!;
          this.pending[this.head++] = undefined as unknown as PendingMsg;
          this.dropped.queue_full += old.flows;
          this.bufferedBytes -= old.data.length;
          this.bufferedFlows -= old.flows;
          this.recycle(old);
        }
        this.compact();
        if (this.bufferedBytes + len > this.maxBytes) {
          this.dropped.queue_full += flows;
          if (backing !== undefined && this.spare.length < MAX_SPARE) this.spare.push(backing);
          return;
        }
      }
      // block: accepted; the sockets pause until there is room.
    }
    const m: PendingMsg = { subject, data, flows, msgId: this.idPrefix + this.seq++, attempts: 0, queuedAt: this.clock, sentAt: 0, notBefore: 0, token: 0, done: false, backing };
    this.pending.push(m);
    this.bufferedBytes += len;
    this.bufferedFlows += flows;
    if (this.policy === 'block' && !this.blocked && this.bufferedBytes >= this.maxBytes) {
      this.blocked = true;
      this.backpressure?.(true);
    }
    this.pump();
  }

  private compact(): void {
    if (this.head >= this.pending.length) {
      this.pending.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.pending.length) {
      this.pending.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Sends what the window allows: due retries first, then the queue in order. */
  private pump(): void {
    const nc = this.nc;
    if (nc === undefined || !this.connected || !this.streamReady) return;
    let inbox = this.inbox;
    if (inbox === undefined || !inbox.alive()) inbox = this.inbox = this.openInbox(nc);
    const now = Date.now();
    while (this.inFlight.size < this.window) {
      let m: PendingMsg | undefined;
      if (this.retryQ.length > 0 && this.retryQ[0]!.notBefore <= now) m = this.retryQ.shift();
      else if (this.head < this.pending.length) {
        m = this.pending[this.head];
        this.pending[this.head++] = undefined as unknown as PendingMsg;
      } else break;
      this.send(nc, inbox, m!);
    }
    this.compact();
    this.armRetryTimer(now);
  }

  /**
   * Publishes on the core connection with a reply subject of the ack inbox; the ack (or the
   * timeout sweep) settles it.
   */
  private send(nc: NatsConnection, inbox: AckInbox, m: PendingMsg): void {
    if (m.attempts === 0 && m.sentAt === 0) {
      this.messagesPublished++;
      this.flowsPublished += m.flows;
      this.bytesPublished += m.data.length;
    }
    const token = ++this.token;
    m.token = token;
    this.inFlight.set(token, m);
    const h = headers();
    h.set(HEADER_FORMAT, this.formatName);
    h.set(HEADER_COUNT, String(m.flows));
    h.set(HEADER_MSG_ID, m.msgId);
    m.sentAt = performance.now();
    try {
      nc.publish(m.subject, m.data, { reply: inbox.reply(token), headers: h });
    } catch (err) {
      this.inFlight.delete(token);
      this.failed(m, describeNatsError(err));
      return;
    }
    if (this.sweepTimer === undefined) this.armSweep();
  }

  private openInbox(nc: NatsConnection): AckInbox {
    return new AckInbox(
      nc,
      (token, outcome) => this.onAck(token, outcome),
      (err) => this.onInboxError(err),
    );
  }

  private onAck(token: number, outcome: AckOutcome): void {
    const m = this.inFlight.get(token);
    // Unknown: the answer to an attempt that timed out already (its retry settles the message).
    if (m === undefined) return;
    this.inFlight.delete(token);
    if (outcome.ok) this.acked(m, outcome.duplicate);
    else this.failed(m, outcome);
  }

  /** The server refused the ack subscription: no ack can arrive; what is in flight fails. */
  private onInboxError(err: Error): void {
    const d = describeNatsError(err);
    this.log('error', `nats.inbox:${d.reason}`, `NATS refused the subscription for acknowledgements: the collector needs subscribe permission on _INBOX.>`, { error: d.message });
    this.inbox = undefined;
    this.failAll(d);
  }

  /** Every message in flight fails with `d` (connection closed, inbox refused). */
  private failAll(d: DescribedError): void {
    const list = [...this.inFlight.values()];
    this.inFlight.clear();
    for (const m of list) this.failed(m, d);
  }

  /** Times out what waited publish_timeout_ms for its ack; runs while anything is in flight. */
  private armSweep(): void {
    const timeout = this.cfg.publish_timeout_ms;
    this.sweepTimer = setTimeout(
      () => {
        this.sweepTimer = undefined;
        const now = performance.now();
        let late: PendingMsg[] | undefined;
        for (const [t, m] of this.inFlight) {
          if (now - m.sentAt < timeout) continue;
          this.inFlight.delete(t);
          (late ??= []).push(m);
        }
        if (late !== undefined) for (const m of late) this.failed(m, TIMEOUT);
        if (this.inFlight.size > 0 && this.sweepTimer === undefined && !this.closed) this.armSweep();
      },
      Math.max(10, Math.min(1000, timeout / 4)),
    );
    this.sweepTimer.unref?.();
  }

  private acked(m: PendingMsg, duplicate: boolean): void {
    if (m.done) return;
    m.done = true;
    const s = (performance.now() - m.sentAt) / 1000;
    let i = 0;
    while (i < LATENCY_BUCKETS_S.length && s > LATENCY_BUCKETS_S[i]!) i++;
    this.latency[i]!++;
    this.latencySum += s;
    this.messagesAcked++;
    if (duplicate) this.duplicates++;
    this.delivered += m.flows;
    this.bytes += m.data.length;
    this.release(m);
  }

  private failed(m: PendingMsg, d: DescribedError): void {
    if (m.done) return;
    this.failures[d.reason]++;
    if (!d.retry) {
      m.done = true;
      this.writeErrors++;
      this.dropped.rejected += m.flows;
      if (d.reason === 'permission') {
        this.log('error', `nats.permission:${d.subject ?? m.subject}`, `NATS refused to let the collector publish to ${d.subject ?? m.subject}: grant publish permission on it (and subscribe on _INBOX.>); flows dropped (rejected)`, {
          subject: d.subject ?? m.subject,
          error: d.message,
        });
      } else {
        this.log('warn', `nats.rejected:${d.reason}`, `NATS rejected a message; flows dropped (rejected)`, { reason: d.reason, subject: m.subject, error: d.message });
      }
      this.release(m);
      return;
    }
    // Failures while disconnected (or because of it) are the outage, not the message: they
    // do not use up its retries.
    if (this.connected && d.reason !== 'connection') m.attempts++;
    if (m.attempts > this.cfg.max_retries) {
      m.done = true;
      this.writeErrors++;
      this.dropped.retry_exhausted += m.flows;
      this.log('warn', `nats.retry_exhausted:${d.reason}`, `a message failed ${m.attempts} times; flows dropped (retry_exhausted)`, { reason: d.reason, subject: m.subject, error: d.message });
      this.release(m);
      return;
    }
    this.retries++;
    m.notBefore = Date.now() + (m.attempts === 0 ? 0 : backoffMs(m.attempts - 1, 100, 5000));
    // Kept in notBefore order.
    let i = this.retryQ.length;
    while (i > 0 && this.retryQ[i - 1]!.notBefore > m.notBefore) i--;
    this.retryQ.splice(i, 0, m);
    this.pump();
  }

  /** A message left the buffer (acked or dropped). */
  private release(m: PendingMsg): void {
    this.bufferedBytes -= m.data.length;
    this.bufferedFlows -= m.flows;
    // Acknowledged, or refused by the server after it read the message: nats.js copied the
    // bytes into its socket buffer when it flushed them (it copies every publish it flushes).
    this.recycle(m);
    if (this.blocked && this.bufferedBytes <= this.maxBytes / 2) {
      this.blocked = false;
      this.backpressure?.(false);
    }
    if (this.bufferedFlows === 0 && this.drainWaiter !== undefined) this.drainWaiter();
    this.pump();
  }

  private armRetryTimer(now: number): void {
    if (this.retryQ.length === 0 || this.retryTimer !== undefined || this.closed) return;
    const wait = Math.max(1, this.retryQ[0]!.notBefore - now);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.pump();
    }, wait);
    this.retryTimer.unref?.();
  }

  // ---------------------------------------------------------------------------------------
  // Connection

  private start(): void {
    const opts = connectionOptions(this.cfg, `flow-collector/${this.name}/w${this.worker}`);
    this.loop = connectForever(opts, (err, attempt) => {
      const d = describeNatsError(err);
      this.log('warn', `nats.connect:${d.reason}`, 'cannot connect to NATS; retrying (flows wait in the bounded queue)', { servers: this.cfg.servers, attempt: attempt + 1, error: d.message });
    });
    void this.loop.connection.then((nc) => {
      if (nc !== undefined) void this.attach(nc);
    });
  }

  private async attach(nc: NatsConnection): Promise<void> {
    if (this.closed) {
      await nc.close().catch(() => {});
      return;
    }
    this.nc = nc;
    this.connected = true;
    this.readPayload(nc);
    this.log('info', 'nats.connected', 'connected to NATS', { server: nc.getServer(), max_payload: this.maxPayload });
    void this.watch(nc);
    void nc.closed().then((err) => {
      this.connected = false;
      if (this.closed) return;
      this.log('warn', 'nats.closed', 'the NATS connection closed; connecting again', { error: err ? describeNatsError(err).message : undefined });
      this.nc = undefined;
      this.inbox = undefined;
      this.failAll({ reason: 'connection', retry: true, message: 'the connection closed' });
      this.start();
    });
    await this.ensure(nc);
  }

  private readPayload(nc: NatsConnection): void {
    const mp = nc.info?.max_payload;
    if (typeof mp === 'number' && mp > HEADER_RESERVE * 2) this.maxPayload = mp;
  }

  /** Ensures the stream, retrying until it works (permission errors: slowly, loudly). */
  private async ensure(nc: NatsConnection): Promise<void> {
    for (let n = 0; !this.closed && this.nc === nc; n++) {
      try {
        await ensureStream(nc, this.cfg, this.subjectFilters(), (level, key, msg, fields) => this.log(level, key, msg, fields));
        this.streamReady = true;
        this.pump();
        return;
      } catch (err) {
        if (err instanceof NatsPermissionError) {
          this.log('error', `nats.stream.permission`, err.message, { subject: err.subject });
          await sleep(30_000);
        } else {
          const d = describeNatsError(err);
          this.log('warn', `nats.stream:${d.reason}`, `cannot ensure stream ${this.cfg.stream.name}; retrying`, { error: d.message });
          await sleep(backoffMs(n, 250, 5000));
        }
      }
    }
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      switch (s.type) {
        case 'disconnect':
          this.connected = false;
          this.log('warn', 'nats.disconnect', 'disconnected from NATS; reconnecting (flows wait in the bounded queue)', { server: s.server });
          break;
        case 'reconnect':
          this.connected = true;
          this.reconnects++;
          this.readPayload(nc);
          this.log('info', 'nats.reconnect', 'reconnected to NATS', { server: s.server });
          this.pump();
          break;
        case 'error': {
          const d = describeNatsError(s.error);
          // One -ERR per refused publish: the oldest message in flight to that subject fails.
          if (d.reason === 'permission' && (s.error as { operation?: string }).operation === 'publish' && this.failPublish(d)) break;
          if (d.reason === 'permission') this.log('error', `nats.permission:${d.subject}`, `NATS refused ${d.subject}: the collector needs publish permission on it`, { subject: d.subject, error: d.message });
          else this.log('warn', 'nats.error', 'NATS connection error', { error: d.message });
          break;
        }
        default:
          break;
      }
    }
  }

  /** A refused publish: the oldest message in flight to the refused subject fails. */
  private failPublish(d: DescribedError): boolean {
    for (const [t, m] of this.inFlight) {
      if (m.subject !== d.subject) continue;
      this.inFlight.delete(t);
      this.failed(m, d);
      return true;
    }
    return false;
  }

  // ---------------------------------------------------------------------------------------
  // Stats, drain, close

  stats(): OutputStats {
    let openFlows = 0;
    let openBytes = 0;
    for (const b of this.batches) {
      openFlows += b.count;
      openBytes += b.w.pos;
    }
    let oldest = Infinity;
    const first = this.pending[this.head];
    if (first !== undefined) oldest = first.queuedAt;
    for (const m of this.retryQ) if (m.queuedAt < oldest) oldest = m.queuedAt;
    for (const m of this.inFlight.values()) if (m.queuedAt < oldest) oldest = m.queuedAt;
    const nats: NatsStats = {
      connected: this.connected,
      streamReady: this.streamReady,
      reconnects: this.reconnects,
      messagesPublished: counted(this.messagesPublished),
      flowsPublished: counted(this.flowsPublished),
      bytesPublished: counted(this.bytesPublished),
      messagesAcked: counted(this.messagesAcked),
      duplicates: counted(this.duplicates),
      retries: counted(this.retries),
      failures: { ...this.failures },
      inFlight: this.inFlight.size,
      oldestAgeS: oldest === Infinity ? 0 : Math.max(0, (Date.now() - oldest) / 1000),
      latencyCounts: Array.from(this.latency),
      latencySum: this.latencySum,
    };
    return {
      flows: this.flowsIn + openFlows,
      delivered: counted(this.delivered),
      dropped: countedAll(this.dropped),
      bytes: counted(this.bytes),
      queuedBytes: this.bufferedBytes + openBytes,
      queuedFlows: this.bufferedFlows + openFlows,
      maxBytes: this.maxBytes,
      writeErrors: this.writeErrors,
      nats,
    };
  }

  async drain(deadline: number): Promise<DrainResult> {
    this.clock = Date.now();
    this.cutAll(0);
    const before = { delivered: this.delivered, dropped: this.totalDropped() };
    if (this.bufferedFlows > 0) {
      const idle = waitOrDeadline(deadline, (wake) => (this.drainWaiter = wake));
      this.pump();
      await idle;
    }
    // Undelivered at the deadline: counted once (a late ack is then ignored).
    const lost = (m: PendingMsg) => {
      if (m.done) return;
      m.done = true;
      this.dropped.shutdown += m.flows;
      this.bufferedBytes -= m.data.length;
      this.bufferedFlows -= m.flows;
    };
    for (let i = this.head; i < this.pending.length; i++) lost(this.pending[i]!);
    for (const m of this.retryQ) lost(m);
    for (const m of this.inFlight.values()) lost(m);
    this.pending.length = 0;
    this.head = 0;
    this.retryQ.length = 0;
    this.inFlight.clear();
    return { delivered: this.delivered - before.delivered, dropped: this.totalDropped() - before.dropped };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    if (this.sweepTimer !== undefined) clearTimeout(this.sweepTimer);
    this.inbox?.close();
    this.inbox = undefined;
    this.loop?.stop();
    const nc = this.nc;
    this.nc = undefined;
    this.connected = false;
    if (nc !== undefined) await nc.close().catch(() => {});
  }

  private totalDropped(): number {
    let n = 0;
    for (const v of Object.values(this.dropped)) n += v;
    return n;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref?.());
}
