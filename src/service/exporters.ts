/**
 * Exporters by source address and port, from a receive batch's arrays, without building a string
 * per datagram: an IPv4 source is a number; an IPv6 source is found by a 30-bit hash of its bytes
 * and port, checked against the exporter found there, and only when that is another exporter (a
 * hash collision) or none by a 9-character key of its eight 16-bit words and the port. The text
 * form (Exporter.key, the template scope's key) is built once per new exporter. The last exporter
 * of each family is remembered, since datagrams come in runs from one exporter. Each family keeps
 * at most `max` exporters and starts over when a flood of (spoofed) sources fills it: exporters
 * seen again are made again, and nothing is lost by that, because template state is keyed by the
 * address text, not by these objects.
 */
import { Exporter, ExporterTable } from '../decode/mod.js';
import { formatIPv6, type Batch } from '../ingest/mod.js';

/** An interned IPv6 exporter with its address as four 32-bit words (little-endian reads) and port. */
class Source6 {
  constructor(
    readonly exporter: Exporter,
    readonly w0: number,
    readonly w1: number,
    readonly w2: number,
    readonly w3: number,
    readonly port: number,
  ) {}
}

export class ExporterIntern {
  private readonly v4 = new Map<number, Exporter>();
  private readonly v6 = new Map<string, Source6>();
  /** IPv6 sources by sourceHash6, the first one of each hash (a subset of v6). */
  private readonly v6h = new Map<number, Source6>();
  private lastKey = -1;
  private last: Exporter | undefined;
  /** The last IPv6 source (port -1: none yet). */
  private last6: Source6 = new Source6(undefined as unknown as Exporter, 0, 0, 0, 0, -1);
  /** Exporters by address text, for template scopes that arrive from the store. */
  readonly table = new ExporterTable();

  constructor(private readonly max = 65_536) {}

  /** Exporters interned now, both families. */
  get size(): number {
    return this.v4.size + this.v6.size;
  }

  /** The exporter of datagram i of batch b. */
  of(b: Batch, i: number): Exporter {
    const o = i * 16;
    const a = b.addrs;
    const port = b.ports[i]!;
    if (b.families[i] !== 4) return this.of6(a, b.addrsView, o, port);
    const k = (((a[o]! << 24) | (a[o + 1]! << 16) | (a[o + 2]! << 8) | a[o + 3]!) >>> 0) * 65536 + port;
    if (k === this.lastKey) return this.last!;
    let e = this.v4.get(k);
    if (e === undefined) {
      if (this.v4.size >= this.max) this.v4.clear();
      e = new Exporter(`${a[o]}.${a[o + 1]}.${a[o + 2]}.${a[o + 3]}`, port);
      this.v4.set(k, e);
    }
    this.lastKey = k;
    this.last = e;
    return e;
  }

  private of6(a: Uint8Array, dv: DataView, o: number, port: number): Exporter {
    const w0 = dv.getInt32(o, true);
    const w1 = dv.getInt32(o + 4, true);
    const w2 = dv.getInt32(o + 8, true);
    const w3 = dv.getInt32(o + 12, true);
    let s = this.last6;
    if (s.w3 === w3 && s.w2 === w2 && s.w1 === w1 && s.w0 === w0 && s.port === port) return s.exporter;
    const h = sourceHash6(w0, w1, w2, w3, port);
    s = this.v6h.get(h) ?? this.last6;
    if (s.w3 !== w3 || s.w2 !== w2 || s.w1 !== w1 || s.w0 !== w0 || s.port !== port) s = this.byKey6(a, o, port, h, w0, w1, w2, w3);
    this.last6 = s;
    return s.exporter;
  }

  /** A new IPv6 source, or one whose hash another source holds: by a string key. */
  private byKey6(a: Uint8Array, o: number, port: number, h: number, w0: number, w1: number, w2: number, w3: number): Source6 {
    const key = String.fromCharCode(
      (a[o]! << 8) | a[o + 1]!,
      (a[o + 2]! << 8) | a[o + 3]!,
      (a[o + 4]! << 8) | a[o + 5]!,
      (a[o + 6]! << 8) | a[o + 7]!,
      (a[o + 8]! << 8) | a[o + 9]!,
      (a[o + 10]! << 8) | a[o + 11]!,
      (a[o + 12]! << 8) | a[o + 13]!,
      (a[o + 14]! << 8) | a[o + 15]!,
      port,
    );
    let s = this.v6.get(key);
    if (s === undefined) {
      if (this.v6.size >= this.max) {
        this.v6.clear();
        this.v6h.clear();
      }
      s = new Source6(new Exporter(formatIPv6(a.subarray(o, o + 16)), port), w0, w1, w2, w3, port);
      this.v6.set(key, s);
    }
    if (!this.v6h.has(h)) this.v6h.set(h, s);
    return s;
  }
}

/**
 * A 30-bit hash (a small integer to V8, so a cheap Map key) of an IPv6 source: its address as four
 * 32-bit words and its port, each mixed in by multiplication (MurmurHash3's 32-bit constants).
 */
export function sourceHash6(w0: number, w1: number, w2: number, w3: number, port: number): number {
  let h = Math.imul(port ^ 0x2c1b3c6d, 0x85ebca6b);
  h ^= Math.imul(w0, 0xcc9e2d51);
  h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
  h ^= Math.imul(w1, 0xcc9e2d51);
  h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
  h ^= Math.imul(w2, 0xcc9e2d51);
  h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
  h ^= Math.imul(w3, 0xcc9e2d51);
  h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h & 0x3fffffff;
}
