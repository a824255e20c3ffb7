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

  constructor(initialCapacity = 4096) {
    this.buf = Buffer.allocUnsafeSlow(Math.max(64, initialCapacity | 0));
    this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
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
    const next = Buffer.allocUnsafeSlow(cap);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.dv = new DataView(next.buffer, next.byteOffset, next.length);
  }

  /** Forgets the content; capacity is kept. */
  reset(): void {
    this.pos = 0;
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
