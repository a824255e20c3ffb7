/**
 * Big-endian field writer over one fixed buffer, reused from datagram to datagram: write a
 * datagram, take() a copy of it, write the next.
 */
export class ByteWriter {
  readonly b: Buffer;
  /** Write position: the length of what is written so far. */
  p = 0;
  constructor(size: number) {
    this.b = Buffer.alloc(size);
  }
  u8(v: number): this {
    this.b[this.p++] = v & 255;
    return this;
  }
  u16(v: number): this {
    this.p = this.b.writeUInt16BE(v & 0xffff, this.p);
    return this;
  }
  /** The low 32 bits of `v`. */
  u32(v: number): this {
    this.p = this.b.writeUInt32BE(v >>> 0, this.p);
    return this;
  }
  /** 0 <= v < 2^53. */
  u64(v: number): this {
    return this.u32(Math.floor(v / 2 ** 32)).u32(v);
  }
  /** The low `len` bytes of an unsigned `v` (below 2^53). */
  uint(len: number, v: number): this {
    if (len === 1) return this.u8(v);
    if (len === 2) return this.u16(v);
    if (len === 4) return this.u32(v);
    if (len === 8) return this.u64(v);
    for (let i = len - 1; i >= 0; i--) this.u8(Math.floor(v / 2 ** (8 * i)));
    return this;
  }
  bytes(a: Uint8Array): this {
    this.b.set(a, this.p);
    this.p += a.length;
    return this;
  }
  /** Zero bytes up to a multiple of 4 counted from `from`. */
  pad4(from = 0): this {
    while ((this.p - from) % 4 !== 0) this.b[this.p++] = 0;
    return this;
  }
  setU16(at: number, v: number): void {
    this.b.writeUInt16BE(v & 0xffff, at);
  }
  setU32(at: number, v: number): void {
    this.b.writeUInt32BE(v >>> 0, at);
  }
  /** A copy of what is written; the writer starts over (zeroed). */
  take(): Buffer {
    const out = Buffer.from(this.b.subarray(0, this.p));
    this.b.fill(0, 0, this.p);
    this.p = 0;
    return out;
  }
}
