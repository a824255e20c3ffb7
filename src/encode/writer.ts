/**
 * Grow-on-demand output buffer shared by the protobuf and JSON encoders.
 *
 * Encoders call `ensure(n)` once for an upper bound of what they are about to write and then
 * store bytes straight into `buf` at `pos`, so the per-byte path has no bounds checks or calls.
 * The buffer only ever grows (doubling), so in steady state nothing is allocated.
 */
export class ByteWriter {
  buf: Buffer;
  /** DataView over `buf` (multi-byte stores), replaced together with it. */
  dv: DataView;
  pos = 0;
  /** A buffer given with useBuffer() (the worker's frame arena), which reset() comes back to. */
  private home: Buffer | undefined = undefined;
  private homeDv: DataView | undefined = undefined;

  constructor(initialCapacity = 4096) {
    this.buf = Buffer.allocUnsafeSlow(Math.max(64, initialCapacity | 0));
    this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  }

  /**
   * Writes into `buf` (`dv` over it) from now on, moving what it holds there. When a write
   * needs more room the writer grows out of it as usual; reset() comes back to it.
   */
  useBuffer(buf: Buffer, dv: DataView): void {
    if (this.pos > buf.length) throw new Error(`ByteWriter.useBuffer: ${this.pos} bytes held, the buffer has ${buf.length}`);
    this.buf.copy(buf, 0, 0, this.pos);
    this.buf = buf;
    this.dv = dv;
    this.home = buf;
    this.homeDv = dv;
  }

  /** Stops using the buffer given to useBuffer(): what it holds moves to a buffer of its own. */
  leaveBuffer(): void {
    if (this.home === undefined) return;
    if (this.buf === this.home) this.moveTo(Math.max(4096, 2 * this.pos));
    this.home = undefined;
    this.homeDv = undefined;
  }

  /** Current capacity in bytes. */
  get capacity(): number {
    return this.buf.length;
  }

  /** Makes room for at least `n` more bytes after `pos`. */
  ensure(n: number): void {
    if (this.pos + n > this.buf.length) this.grow(n);
  }

  private grow(n: number): void {
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    this.moveTo(cap);
  }

  /** Moves what it holds to a new buffer of `cap` bytes. */
  private moveTo(cap: number): void {
    const next = Buffer.allocUnsafeSlow(cap);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.dv = new DataView(next.buffer, next.byteOffset, next.length);
  }

  /** Forgets the content; capacity is kept (or, after growing out of useBuffer's buffer, that buffer is back). */
  reset(): void {
    this.pos = 0;
    if (this.home !== undefined && this.buf !== this.home) {
      this.buf = this.home;
      this.dv = this.homeDv!;
    }
  }

  /** A view (no copy) of the bytes written so far; valid until the next write or reset. */
  view(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/**
 * Appends many encoded records into one reused buffer and hands them out as one view per
 * batch. Subclasses say how one record is written.
 */
export abstract class RecordBatchWriter<R> {
  readonly writer: ByteWriter;
  protected n = 0;

  constructor(initialCapacity: number) {
    this.writer = new ByteWriter(initialCapacity);
  }

  protected abstract write(w: ByteWriter, rec: R): void;

  append(rec: R): void {
    this.write(this.writer, rec);
    this.n++;
  }

  /** Counts `n` records someone appended to `writer` already encoded (the transcoder's frames). */
  added(n: number): void {
    this.n += n;
  }

  /** Records appended since the last finish(). */
  get count(): number {
    return this.n;
  }

  /** Bytes appended since the last finish(). */
  get byteLength(): number {
    return this.writer.pos;
  }

  /** The batch (a view, valid until the next append) and a reset for the next one. */
  finish(): Uint8Array {
    const view = this.writer.view();
    this.writer.reset();
    this.n = 0;
    return view;
  }
}
