/**
 * Exporters by source address and port, from a receive batch's arrays, without building a string
 * per datagram: an IPv4 source is a number; an IPv6 source is read as four 32-bit words and found
 * by a 30-bit hash of them and the port, in a chain of the sources with that hash, compared word
 * by word. The text form (Exporter.key, the template scope's key) is built once per new exporter.
 * The last exporter of each family is remembered, since datagrams come in runs from one exporter.
 * Each family keeps at most `max` exporters and starts over when a flood of (spoofed) sources
 * fills it: exporters seen again are made again, and nothing is lost by that, because template
 * state is keyed by the address text, not by these objects.
 */
import { Exporter, ExporterTable } from '../decode/mod.js';
import { formatIPv6, type Batch } from '../ingest/mod.js';

/** An interned IPv6 exporter: its address as four big-endian 32-bit words, its port, and the next source of its hash. */
class Source6 {
  constructor(
    readonly exporter: Exporter,
    readonly w0: number,
    readonly w1: number,
    readonly w2: number,
    readonly w3: number,
    readonly port: number,
    readonly next: Source6 | undefined,
  ) {}

  is(w0: number, w1: number, w2: number, w3: number, port: number): boolean {
    return this.w3 === w3 && this.w2 === w2 && this.w1 === w1 && this.w0 === w0 && this.port === port;
  }
}

/** Slots of ExporterIntern's IPv4 look-up cache: 2^(32 - SLOT_SHIFT). */
const SLOT_SHIFT = 24;
const SLOTS = 2 ** (32 - SLOT_SHIFT);

/** Before the first IPv6 source: matches none (port -1). */
const NO_SOURCE6 = new Source6(new Exporter('::'), 0, 0, 0, 0, -1, undefined);

export class ExporterIntern {
  private readonly v4 = new Map<number, Exporter>();
  /** IPv6 sources by sourceHash6: the head of each hash's chain. */
  private readonly v6 = new Map<number, Source6>();
  private v6Count = 0;
  private lastKey = -1;
  private last: Exporter | undefined;
  /**
   * IPv4 exporters found lately, in SLOTS slots by a multiplicative hash of the address's last
   * two bytes and the port, each beside its key (-1: none): with many exporters interleaved the
   * last one rarely matches, and a Map look-up by a key past 2^31 (a heap number) cost ~20 ns a
   * datagram more than a slot does.
   */
  private readonly slotKey = new Float64Array(SLOTS).fill(-1);
  private readonly slotExporter: (Exporter | undefined)[] = new Array<Exporter | undefined>(SLOTS).fill(undefined);
  private last6 = NO_SOURCE6;
  /** Exporters by address text, for template scopes that arrive from the store. */
  readonly table = new ExporterTable();

  constructor(private readonly max = 65_536) {}

  /** Exporters interned now, both families. */
  get size(): number {
    return this.v4.size + this.v6Count;
  }

  /** The exporter of datagram i of batch b. */
  of(b: Batch, i: number): Exporter {
    const o = i * 16;
    const a = b.addrs;
    const port = b.ports[i]!;
    if (b.families[i] !== 4) return this.of6(a, b.addrsView, o, port);
    const k = (((a[o]! << 24) | (a[o + 1]! << 16) | (a[o + 2]! << 8) | a[o + 3]!) >>> 0) * 65536 + port;
    if (k === this.lastKey) return this.last!;
    const slot = sourceSlot4(a[o + 2]!, a[o + 3]!, port);
    let e: Exporter | undefined;
    if (this.slotKey[slot] === k) {
      e = this.slotExporter[slot]!;
    } else {
      e = this.v4.get(k);
      if (e === undefined) {
        if (this.v4.size >= this.max) {
          this.v4.clear();
          this.slotKey.fill(-1);
          this.slotExporter.fill(undefined);
        }
        e = new Exporter(`${a[o]}.${a[o + 1]}.${a[o + 2]}.${a[o + 3]}`, port);
        this.v4.set(k, e);
      }
      this.slotKey[slot] = k;
      this.slotExporter[slot] = e;
    }
    this.lastKey = k;
    this.last = e;
    return e;
  }

  private of6(a: Uint8Array, dv: DataView, o: number, port: number): Exporter {
    const w0 = dv.getInt32(o);
    const w1 = dv.getInt32(o + 4);
    const w2 = dv.getInt32(o + 8);
    const w3 = dv.getInt32(o + 12);
    if (this.last6.is(w0, w1, w2, w3, port)) return this.last6.exporter;
    const h = sourceHash6(w0, w1, w2, w3, port);
    let s = this.v6.get(h);
    while (s !== undefined && !s.is(w0, w1, w2, w3, port)) s = s.next;
    if (s === undefined) {
      if (this.v6Count >= this.max) {
        this.v6.clear();
        this.v6Count = 0;
      }
      s = new Source6(new Exporter(formatIPv6(a.subarray(o, o + 16)), port), w0, w1, w2, w3, port, this.v6.get(h));
      this.v6.set(h, s);
      this.v6Count++;
    }
    this.last6 = s;
    return s.exporter;
  }
}

/**
 * The slot of ExporterIntern's IPv4 look-up cache for a source: a multiplicative hash of its
 * address's last two bytes (`x`, `y`) and its port.
 */
export function sourceSlot4(x: number, y: number, port: number): number {
  return Math.imul((x << 24) | (y << 16) | port, 0x9e3779b1) >>> SLOT_SHIFT;
}

/**
 * A 30-bit hash (a small integer to V8, so a cheap Map key) of an IPv6 source: its address as four
 * big-endian 32-bit words and its port, each mixed in by multiplication (MurmurHash3's 32-bit
 * constants).
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
