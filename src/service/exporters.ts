/**
 * Exporters by source address and port, from a receive batch's arrays, without building a string
 * per datagram: an IPv4 source is a number, an IPv6 source a 9-character key of its eight 16-bit
 * words and the port; the text form (Exporter.key, the template scope's key) is built once per
 * new exporter. The last exporter of each family is remembered, since datagrams come in runs
 * from one exporter. Each family keeps at most `max` exporters and starts over when a flood of
 * (spoofed) sources fills it: exporters seen again are made again, and nothing is lost by that,
 * because template state is keyed by the address text, not by these objects.
 */
import { Exporter, ExporterTable } from '../decode/mod.js';
import { formatIPv6, type Batch } from '../ingest/mod.js';

export class ExporterIntern {
  private readonly v4 = new Map<number, Exporter>();
  private readonly v6 = new Map<string, Exporter>();
  private lastKey = -1;
  private last: Exporter | undefined;
  /** The last IPv6 exporter, its address bytes and port (-1: none yet). */
  private readonly last6Addr = new Uint8Array(16);
  private last6Port = -1;
  private last6: Exporter | undefined;
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
    if (b.families[i] !== 4) return this.of6(a, o, port);
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

  private of6(a: Uint8Array, o: number, port: number): Exporter {
    const l = this.last6Addr;
    if (port === this.last6Port) {
      let k = 0;
      while (k < 16 && a[o + k] === l[k]) k++;
      if (k === 16) return this.last6!;
    }
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
    let e = this.v6.get(key);
    if (e === undefined) {
      if (this.v6.size >= this.max) this.v6.clear();
      e = new Exporter(formatIPv6(a.subarray(o, o + 16)), port);
      this.v6.set(key, e);
    }
    for (let k = 0; k < 16; k++) l[k] = a[o + k]!;
    this.last6Port = port;
    this.last6 = e;
    return e;
  }
}
