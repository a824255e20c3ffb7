/**
 * An output that writes a byte stream: flows are encoded (NDJSON or length-delimited flowpb)
 * into a reused buffer, cut into chunks of whole records, and queued for a ChunkWriter (a file,
 * or stdout through the main thread). The queue is bounded in bytes and honours the drop
 * policy; one write is in flight at a time, so chunks reach the destination in order.
 */
import type { FlowRecord } from '../decode/mod.js';
import { DelimitedBatchWriter, NdjsonBatchWriter } from '../encode/mod.js';
import { COUNTER_ZERO, counted, countedAll } from '../counting.js';
import { emptyDropped, waitOrDeadline, type DrainResult, type DropPolicy, type FlowOutput, type OutputStats } from './output.js';

/** Where a stream output's chunks go. */
export interface ChunkWriter {
  /**
   * Writes whole chunks, in order, as one write where the destination allows it; `done` once all
   * are accepted (or failed). Never called while a previous write is in flight.
   */
  write(chunks: readonly Uint8Array[], done: (err: Error | null) => void): void;
  ready(): boolean;
  /**
   * Only a writer whose writes move the chunks' memory away (to another thread) has this: it
   * gives the memory back to `recycle` once written, and the output reuses only what comes back,
   * never the chunks it handed over.
   */
  returnsBuffersTo?(recycle: (b: Buffer) => void): void;
  /**
   * True when `write` finishes before it returns (a regular file, written on the calling
   * thread): with nothing queued, the output then writes straight from its encoder's buffer.
   */
  readonly synchronous?: boolean;
  /** Reopens the destination between writes (file rotation). */
  reopen(): void;
  close(): Promise<void>;
}

export type StreamFormat = 'json' | 'flowpb';

export interface StreamOutputOptions {
  name: string;
  format: StreamFormat;
  writer: ChunkWriter;
  /** Queue bound in bytes. */
  maxBytes: number;
  policy: DropPolicy;
  /** Records are handed to the queue once this many bytes are encoded (default 64 KiB). */
  chunkBytes?: number;
  /**
   * The encoder's first buffer size (default 128 KiB flowpb, 256 KiB JSON; it doubles when a
   * batch needs more). The warm-up's outputs start small so that growing runs during the
   * warm-up: code that never grew a buffer deoptimised when a real batch first did.
   */
  initialBytes?: number;
  /** Called on write errors (rate-limit in the caller). */
  onError?: (err: Error) => void;
}

interface Chunk {
  buf: Uint8Array;
  /** The whole buffer `buf` is cut from, returned to the pool once written. */
  backing: Buffer;
  /** Kept apart from buf: a writer may move (transfer) buf's memory away. */
  bytes: number;
  flows: number;
}

export class StreamOutput implements FlowOutput {
  readonly name: string;
  private readonly enc: NdjsonBatchWriter | DelimitedBatchWriter;
  private readonly writer: ChunkWriter;
  private readonly maxBytes: number;
  private readonly policy: DropPolicy;
  private readonly chunkBytes: number;
  private readonly onError: (err: Error) => void;
  private readonly queue: Chunk[] = [];
  private head = 0;
  /** Chunks from `head` handed to the writer and not yet acknowledged. */
  private inFlight = 0;
  private queuedBytes = 0;
  private queuedFlows = 0;
  private blocked = false;
  private backpressure: ((blocked: boolean) => void) | undefined;
  private drainWaiter: (() => void) | undefined;
  private closed = false;
  /** The write in flight at the drain deadline, already counted as dropped. */
  private abandoned = false;
  // Doubles from the start (src/counting.ts): the byte count passes 2^31 within seconds.
  private flows = COUNTER_ZERO;
  private delivered = COUNTER_ZERO;
  private bytes = COUNTER_ZERO;
  private writeErrors = 0;
  private readonly dropped = emptyDropped();
  private readonly writeDone = (err: Error | null) => this.afterWrite(err);
  private readonly bufs: Uint8Array[] = [];
  /** What a synchronous writer reported to syncDone (writeNow); undefined: nothing yet. */
  private syncResult: Error | null | undefined;
  private readonly syncDone = (err: Error | null) => {
    this.syncResult = err;
  };
  /** Chunk buffers already written, for reuse. */
  private readonly pool: Buffer[] = [];

  constructor(opts: StreamOutputOptions) {
    this.name = opts.name;
    this.enc = opts.format === 'flowpb' ? new DelimitedBatchWriter(opts.initialBytes ?? 128 * 1024) : new NdjsonBatchWriter(opts.initialBytes ?? 256 * 1024);
    this.writer = opts.writer;
    this.maxBytes = opts.maxBytes;
    this.policy = opts.policy;
    this.chunkBytes = opts.chunkBytes ?? 64 * 1024;
    this.onError = opts.onError ?? (() => {});
    this.writer.returnsBuffersTo?.((b) => this.recycle(b));
  }

  onFlow(rec: FlowRecord): void {
    this.enc.append(rec);
  }

  frames(): DelimitedBatchWriter | undefined {
    return this.enc instanceof DelimitedBatchWriter ? this.enc : undefined;
  }

  takesFrames(): boolean {
    return this.enc instanceof DelimitedBatchWriter;
  }

  onFrames(src: Uint8Array, from: number, to: number, n: number): void {
    const w = this.enc.writer;
    w.ensure(to - from);
    w.buf.set(src.subarray(from, to), w.pos);
    w.pos += to - from;
    this.enc.added(n);
  }

  flush(): void {
    if (this.enc.byteLength >= this.chunkBytes) this.cut();
  }

  tick(): boolean {
    if (this.enc.count > 0) this.cut();
    return false;
  }

  ready(): boolean {
    return !this.closed && this.writer.ready();
  }

  onBackpressure(fn: (blocked: boolean) => void): void {
    this.backpressure = fn;
  }

  reopen(): void {
    this.writer.reopen();
  }

  stats(): OutputStats {
    return {
      flows: this.flows + this.enc.count,
      delivered: counted(this.delivered),
      dropped: countedAll(this.dropped),
      bytes: counted(this.bytes),
      queuedBytes: this.queuedBytes + this.enc.byteLength,
      queuedFlows: this.queuedFlows + this.enc.count,
      maxBytes: this.maxBytes,
      writeErrors: this.writeErrors,
    };
  }

  async drain(deadline: number): Promise<DrainResult> {
    this.tick();
    const before = { delivered: this.delivered, dropped: this.totalDropped() };
    if (this.queuedFlows > 0) await waitOrDeadline(deadline, (wake) => (this.drainWaiter = wake));
    // What is still queued at the deadline is lost: count it. A write still in flight counts
    // too (its destination has not accepted it; if it does later, the flows are both written
    // and counted, never neither).
    for (let i = this.head; i < this.queue.length; i++) {
      const c = this.queue[i]!;
      this.dropped.shutdown += c.flows;
      this.queuedFlows -= c.flows;
      this.queuedBytes -= c.bytes;
    }
    this.queue.length = 0;
    this.head = 0;
    this.abandoned = this.inFlight > 0;
    return { delivered: this.delivered - before.delivered, dropped: this.totalDropped() - before.dropped };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writer.close();
  }

  private totalDropped(): number {
    let n = 0;
    for (const v of Object.values(this.dropped)) n += v;
    return n;
  }

  /** Moves the encoded records into the queue as one chunk (a copy: the encoder reuses its buffer). */
  private cut(): void {
    const flows = this.enc.count;
    const len = this.enc.byteLength;
    this.flows += flows;
    if (this.queuedBytes + len > this.maxBytes) {
      if (this.policy === 'drop_newest' || this.closed) {
        this.enc.finish();
        this.dropped.queue_full += flows;
        return;
      }
      if (this.policy === 'drop_oldest') {
        // Oldest first, never the chunk being written.
        const first = this.head + this.inFlight;
        let i = first;
        while (this.queuedBytes + len > this.maxBytes && i < this.queue.length) {
          const old = this.queue[i]!;
          this.dropped.queue_full += old.flows;
          this.queuedBytes -= old.bytes;
          this.queuedFlows -= old.flows;
          this.recycle(old.backing);
          i++;
        }
        if (i > first) this.queue.splice(first, i - first);
        if (this.queuedBytes + len > this.maxBytes) {
          this.enc.finish();
          this.dropped.queue_full += flows;
          return;
        }
      }
      // block: accepted; the sockets stop until the queue has room (below).
    }
    if (this.writer.synchronous === true && this.inFlight === 0 && this.head >= this.queue.length && !this.closed) {
      // Nothing queued and a writer done on return: the encoder's bytes go out as they are (no
      // copy into a chunk: 1.6 % of the worker's CPU at 100k v9 datagrams/s).
      this.writeNow(this.enc.finish(), flows);
      return;
    }
    // A copy (the encoder reuses its buffer) into memory reused from earlier chunks: no garbage
    // per chunk in steady state.
    const backing = this.take(len);
    backing.set(this.enc.finish());
    const buf = backing.subarray(0, len);
    this.queue.push({ buf, backing, bytes: len, flows });
    this.queuedBytes += len;
    this.queuedFlows += flows;
    if (this.policy === 'block' && !this.blocked && this.queuedBytes >= this.maxBytes) {
      this.blocked = true;
      this.backpressure?.(true);
    }
    this.pump();
  }

  /** Writes one batch with a synchronous writer and counts it (the array and callback are reused). */
  private writeNow(buf: Uint8Array, flows: number): void {
    const bufs = this.bufs;
    bufs.length = 0;
    bufs.push(buf);
    this.syncResult = undefined;
    this.writer.write(bufs, this.syncDone);
    const result = this.syncResult as Error | null | undefined;
    if (result === undefined) throw new Error(`${this.name}: a synchronous writer returned before its write was done`);
    if (result === null) {
      this.delivered += flows;
      this.bytes += buf.length;
    } else {
      this.writeErrors++;
      this.dropped.write_error += flows;
      this.onError(result);
    }
  }

  private take(len: number): Buffer {
    const pool = this.pool;
    while (pool.length > 0) {
      const b = pool.pop()!;
      if (b.length >= len) return b;
    }
    return Buffer.allocUnsafeSlow(Math.max(len, this.chunkBytes * 2));
  }

  private recycle(b: Buffer): void {
    if (this.pool.length < 16) this.pool.push(b);
  }

  /**
   * Hands everything queued to the writer at once: while the worker is busy decoding, write
   * completions wait for its event loop, so one write per completion must carry all that queued
   * up meanwhile, not one chunk.
   */
  private pump(): void {
    if (this.inFlight > 0 || this.head >= this.queue.length) return;
    const n = this.queue.length - this.head;
    const bufs = this.bufs;
    bufs.length = 0;
    for (let i = 0; i < n; i++) bufs.push(this.queue[this.head + i]!.buf);
    this.inFlight = n;
    this.writer.write(bufs, this.writeDone);
  }

  private afterWrite(err: Error | null): void {
    const n = this.inFlight;
    this.inFlight = 0;
    if (this.abandoned) {
      // Counted at the drain deadline already.
      this.abandoned = false;
      return;
    }
    let flows = 0;
    let bytes = 0;
    const reuse = this.writer.returnsBuffersTo === undefined;
    for (let i = 0; i < n; i++) {
      const c = this.queue[this.head + i]!;
      flows += c.flows;
      bytes += c.bytes;
      if (reuse) this.recycle(c.backing);
    }
    this.head += n;
    this.queuedBytes -= bytes;
    this.queuedFlows -= flows;
    if (err === null) {
      this.delivered += flows;
      this.bytes += bytes;
    } else {
      this.writeErrors++;
      this.dropped.write_error += flows;
      this.onError(err);
    }
    if (this.head >= this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head > 1024) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    if (this.blocked && this.queuedBytes <= this.maxBytes / 2) {
      this.blocked = false;
      this.backpressure?.(false);
    }
    if (this.queuedFlows === 0 && this.drainWaiter !== undefined) this.drainWaiter();
    this.pump();
  }
}
