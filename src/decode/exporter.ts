import { isIPv4, isIPv6 } from 'node:net';
import { COUNTER_ZERO } from '../counting.js';

/**
 * The device that sent a datagram. Interned (one object per address and port) by whoever
 * feeds the decoder, so the hot path never builds a key string per datagram.
 */
export class Exporter {
  /** Address bytes: 4 for IPv4 (IPv4-mapped IPv6 is normalised to IPv4), 16 for IPv6. */
  readonly addr: Uint8Array;
  /** Printable address, also the scope key ("192.0.2.1", "2001:db8::1"). */
  readonly key: string;
  readonly port: number;
  /** "key|port": the exporter's part of a template scope's key when scopes include the port. */
  readonly keyPort: string;
  /**
   * The template scope this exporter's last datagram used, remembered by the TemplateCache
   * (`scopeOwner`) that found it, so that the next one skips the cache's two Map look-ups (with
   * many exporters interleaved the cache's own last-used scope rarely matches): valid for the
   * domain and protocol `scopeDk` while the owner has removed no scope since (`scopeGen`, its
   * count of removals; doubles from the start, as are `scopeDk`'s values past 2^31). An evicted
   * scope stays reachable from here until the exporter's next datagram: one per exporter.
   */
  scopeOwner: object | null = null;
  scopeGen = COUNTER_ZERO;
  scopeDk = COUNTER_ZERO;
  scope: object | null = null;
  /** The configured sampling rates of this exporter, remembered by the Sampling (`ratesOwner`) that matched them. */
  ratesOwner: object | null = null;
  rates: object | null = null;

  constructor(address: string, port = 0) {
    const norm = normaliseAddress(address);
    this.key = norm;
    this.port = port;
    this.keyPort = `${norm}|${port}`;
    this.addr = addressBytes(norm);
  }
}

/** Normalises an IP address string: IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes plain IPv4. */
export function normaliseAddress(address: string): string {
  const a = address.toLowerCase();
  if (a.startsWith('::ffff:')) {
    const rest = a.slice(7);
    if (isIPv4(rest)) return rest;
    // ::ffff:c000:0201 form
    const m = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(rest);
    if (m) {
      const hi = parseInt(m[1]!, 16);
      const lo = parseInt(m[2]!, 16);
      return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
    }
  }
  if (!isIPv4(a) && !isIPv6(a)) throw new Error(`not an IP address: ${address}`);
  return a;
}

/** Bytes of a normalised address string: 4 for IPv4, 16 for IPv6. */
export function addressBytes(address: string): Uint8Array {
  if (isIPv4(address)) {
    return Uint8Array.from(address.split('.').map((x) => Number(x)));
  }
  const out = new Uint8Array(16);
  let s = address;
  // Trailing dotted IPv4 (e.g. ::1.2.3.4)
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const b = v4[1]!.split('.').map(Number);
    s = s.slice(0, -v4[1]!.length) + ((b[0]! << 8) | b[1]!).toString(16) + ':' + ((b[2]! << 8) | b[3]!).toString(16);
  }
  const [head, tail] = s.includes('::') ? s.split('::') as [string, string] : [s, undefined];
  const hp = head ? head.split(':') : [];
  const tp = tail ? tail.split(':') : [];
  const groups = tail === undefined ? hp : [...hp, ...new Array(8 - hp.length - tp.length).fill('0'), ...tp];
  for (let i = 0; i < 8; i++) {
    const g = parseInt(groups[i] ?? '0', 16);
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 255;
  }
  return out;
}

/** Interns Exporter objects by address and port. */
export class ExporterTable {
  private readonly map = new Map<string, Exporter>();
  get(address: string, port: number): Exporter {
    const k = `${address}|${port}`;
    let e = this.map.get(k);
    if (e === undefined) {
      e = new Exporter(address, port);
      this.map.set(k, e);
    }
    return e;
  }
}
