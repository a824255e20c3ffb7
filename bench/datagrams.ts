/**
 * Builders for NetFlow v5, NetFlow v9 and IPFIX export datagrams, and a set of realistic
 * templates (Cisco-like v9, typical IPFIX IPv4/IPv6, IPFIX with a variable-length string, and an
 * IPFIX template with enterprise fields and RFC 6313 lists). Shared by the decode benchmark and
 * the fuzzer. Written from RFC 3954 / RFC 7011 / RFC 6313 and Cisco's v5 record format.
 */

/** Big-endian byte writer that grows as needed. */
export class Bytes {
  private buf = new Uint8Array(256);
  len = 0;

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  u8(v: number): this {
    this.room(1);
    this.buf[this.len++] = v & 255;
    return this;
  }

  u16(v: number): this {
    this.room(2);
    this.buf[this.len++] = (v >>> 8) & 255;
    this.buf[this.len++] = v & 255;
    return this;
  }

  u32(v: number): this {
    this.room(4);
    v = v >>> 0;
    this.buf[this.len++] = v >>> 24;
    this.buf[this.len++] = (v >>> 16) & 255;
    this.buf[this.len++] = (v >>> 8) & 255;
    this.buf[this.len++] = v & 255;
    return this;
  }

  /** Unsigned integer of `n` bytes (1..8) from a non-negative safe integer. */
  uN(v: number, n: number): this {
    this.room(n);
    for (let i = n - 1; i >= 0; i--) {
      this.buf[this.len + i] = v % 256;
      v = Math.floor(v / 256);
    }
    this.len += n;
    return this;
  }

  bytes(b: ArrayLike<number>): this {
    this.room(b.length);
    for (let i = 0; i < b.length; i++) this.buf[this.len++] = b[i]!;
    return this;
  }

  /** IPFIX variable-length encoding: 1-byte length, or 255 + 2-byte length. */
  varlen(b: ArrayLike<number>): this {
    if (b.length < 255) this.u8(b.length);
    else this.u8(255).u16(b.length);
    return this.bytes(b);
  }

  /** Overwrites a u16 at `at` (for lengths known at the end). */
  patch16(at: number, v: number): this {
    this.buf[at] = (v >>> 8) & 255;
    this.buf[at + 1] = v & 255;
    return this;
  }

  done(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

export interface Field {
  id: number;
  /** Field length; 0xffff = variable (IPFIX). */
  len: number;
  /** Enterprise number (IPFIX only). */
  pen?: number;
}

export interface Template {
  id: number;
  fields: Field[];
}

export interface OptionsTemplate {
  id: number;
  scope: Field[];
  options: Field[];
}

export const VARLEN = 0xffff;

// ---------------------------------------------------------------------------------------------
// NetFlow v9 (RFC 3954)

export interface V9Header {
  sysUptime?: number;
  exportSec?: number;
  sequence?: number;
  sourceId?: number;
  /** Header count; by default the number of records (templates + options templates + data). */
  count?: number;
}

/** A set (flowset) with its 4-byte header, padded to a multiple of 4. */
export function set(id: number, body: Uint8Array, pad = true): Uint8Array {
  const padLen = pad ? (4 - ((4 + body.length) % 4)) % 4 : 0;
  const b = new Bytes().u16(id).u16(4 + body.length + padLen).bytes(body);
  for (let i = 0; i < padLen; i++) b.u8(0);
  return b.done();
}

export function v9TemplateSet(templates: readonly Template[]): Uint8Array {
  const b = new Bytes();
  for (const t of templates) {
    b.u16(t.id).u16(t.fields.length);
    for (const f of t.fields) b.u16(f.id).u16(f.len);
  }
  return set(0, b.done(), false);
}

export function v9OptionsTemplateSet(t: OptionsTemplate): Uint8Array {
  const b = new Bytes().u16(t.id).u16(t.scope.length * 4).u16(t.options.length * 4);
  for (const f of [...t.scope, ...t.options]) b.u16(f.id).u16(f.len);
  return set(1, b.done());
}

export function v9Message(h: V9Header, sets: readonly Uint8Array[], records: number): Uint8Array {
  const b = new Bytes()
    .u16(9)
    .u16(h.count ?? records)
    .u32(h.sysUptime ?? 3_600_000)
    .u32(h.exportSec ?? 1_773_489_600)
    .u32(h.sequence ?? 1)
    .u32(h.sourceId ?? 0);
  for (const s of sets) b.bytes(s);
  return b.done();
}

// ---------------------------------------------------------------------------------------------
// IPFIX (RFC 7011)

export interface IpfixHeader {
  exportSec?: number;
  sequence?: number;
  domain?: number;
}

export function ipfixFieldSpecs(b: Bytes, fields: readonly Field[]): void {
  for (const f of fields) {
    if (f.pen !== undefined && f.pen !== 0) b.u16(f.id | 0x8000).u16(f.len).u32(f.pen);
    else b.u16(f.id).u16(f.len);
  }
}

export function ipfixTemplateSet(templates: readonly Template[]): Uint8Array {
  const b = new Bytes();
  for (const t of templates) {
    b.u16(t.id).u16(t.fields.length);
    ipfixFieldSpecs(b, t.fields);
  }
  return set(2, b.done(), false);
}

export function ipfixOptionsTemplateSet(t: OptionsTemplate): Uint8Array {
  const b = new Bytes().u16(t.id).u16(t.scope.length + t.options.length).u16(t.scope.length);
  ipfixFieldSpecs(b, [...t.scope, ...t.options]);
  return set(3, b.done(), false);
}

export function ipfixMessage(h: IpfixHeader, sets: readonly Uint8Array[]): Uint8Array {
  const b = new Bytes()
    .u16(10)
    .u16(0)
    .u32(h.exportSec ?? 1_773_489_600)
    .u32(h.sequence ?? 1)
    .u32(h.domain ?? 1);
  for (const s of sets) b.bytes(s);
  b.patch16(2, b.len);
  return b.done();
}

// ---------------------------------------------------------------------------------------------
// NetFlow v5

export function v5Datagram(n: number, seed = 1): Uint8Array {
  const b = new Bytes().u16(5).u16(n).u32(3_600_000).u32(1_773_489_600).u32(500_000_000).u32(seed).u8(0).u8(1).u16(0);
  for (let i = 0; i < n; i++) {
    const k = seed * 31 + i;
    b.bytes([10, 0, (k >>> 8) & 255, k & 255]); // src
    b.bytes([192, 168, 1, (k * 7) & 255]); // dst
    b.bytes([10, 0, 0, 1]); // next hop
    b.u16(1 + (k % 8)).u16(2 + (k % 5)); // in/out if
    b.u32(1 + (k % 900)).u32(64 + ((k * 1499) % 1_000_000)); // packets, bytes
    b.u32(3_500_000 + (k % 1000)).u32(3_599_000 + (k % 1000)); // first, last
    b.u16(1024 + (k % 50_000)).u16([80, 443, 53, 22][k & 3]!);
    b.u8(0).u8(0x1b).u8([6, 6, 17, 1][k & 3]!).u8(0); // pad, flags, proto, tos
    b.u16(64_512 + (k % 100)).u16(15_169).u8(24).u8(16).u16(0); // src/dst AS, masks, pad
  }
  return b.done();
}

// ---------------------------------------------------------------------------------------------
// Realistic templates and records

/** Cisco IOS-like v9 template: 20 fields, 32-bit counters. */
export const V9_CISCO: Template = {
  id: 260,
  fields: [
    { id: 8, len: 4 }, // IPV4_SRC_ADDR
    { id: 12, len: 4 }, // IPV4_DST_ADDR
    { id: 15, len: 4 }, // IPV4_NEXT_HOP
    { id: 7, len: 2 }, // L4_SRC_PORT
    { id: 11, len: 2 }, // L4_DST_PORT
    { id: 4, len: 1 }, // PROTOCOL
    { id: 5, len: 1 }, // SRC_TOS
    { id: 6, len: 1 }, // TCP_FLAGS
    { id: 10, len: 4 }, // INPUT_SNMP
    { id: 14, len: 4 }, // OUTPUT_SNMP
    { id: 1, len: 4 }, // IN_BYTES
    { id: 2, len: 4 }, // IN_PKTS
    { id: 22, len: 4 }, // FIRST_SWITCHED
    { id: 21, len: 4 }, // LAST_SWITCHED
    { id: 16, len: 4 }, // SRC_AS
    { id: 17, len: 4 }, // DST_AS
    { id: 9, len: 1 }, // SRC_MASK
    { id: 13, len: 1 }, // DST_MASK
    { id: 61, len: 1 }, // DIRECTION
    { id: 89, len: 1 }, // FORWARDING_STATUS
  ],
};

/** The same with 64-bit byte/packet counters (as on ASR / NX-OS). */
export const V9_CISCO64: Template = {
  id: 261,
  fields: V9_CISCO.fields.map((f) => (f.id === 1 || f.id === 2 ? { id: f.id, len: 8 } : f)),
};

/** Typical IPFIX IPv4 template: 20 fields, millisecond times, 64-bit counters. */
export const IPFIX_V4: Template = {
  id: 300,
  fields: [
    { id: 152, len: 8 }, // flowStartMilliseconds
    { id: 153, len: 8 }, // flowEndMilliseconds
    { id: 8, len: 4 }, // sourceIPv4Address
    { id: 12, len: 4 }, // destinationIPv4Address
    { id: 7, len: 2 }, // sourceTransportPort
    { id: 11, len: 2 }, // destinationTransportPort
    { id: 4, len: 1 }, // protocolIdentifier
    { id: 5, len: 1 }, // ipClassOfService
    { id: 6, len: 2 }, // tcpControlBits
    { id: 10, len: 4 }, // ingressInterface
    { id: 14, len: 4 }, // egressInterface
    { id: 1, len: 8 }, // octetDeltaCount
    { id: 2, len: 8 }, // packetDeltaCount
    { id: 15, len: 4 }, // ipNextHopIPv4Address
    { id: 16, len: 4 }, // bgpSourceAsNumber
    { id: 17, len: 4 }, // bgpDestinationAsNumber
    { id: 9, len: 1 }, // sourceIPv4PrefixLength
    { id: 13, len: 1 }, // destinationIPv4PrefixLength
    { id: 61, len: 1 }, // flowDirection
    { id: 136, len: 1 }, // flowEndReason
  ],
};

/** Typical IPFIX IPv6 template. */
export const IPFIX_V6: Template = {
  id: 301,
  fields: [
    { id: 152, len: 8 },
    { id: 153, len: 8 },
    { id: 27, len: 16 }, // sourceIPv6Address
    { id: 28, len: 16 }, // destinationIPv6Address
    { id: 7, len: 2 },
    { id: 11, len: 2 },
    { id: 4, len: 1 },
    { id: 5, len: 1 },
    { id: 6, len: 2 },
    { id: 31, len: 4 }, // flowLabelIPv6
    { id: 10, len: 4 },
    { id: 14, len: 4 },
    { id: 1, len: 8 },
    { id: 2, len: 8 },
    { id: 62, len: 16 }, // ipNextHopIPv6Address
    { id: 16, len: 4 },
    { id: 17, len: 4 },
    { id: 29, len: 1 }, // sourceIPv6PrefixLength
    { id: 30, len: 1 }, // destinationIPv6PrefixLength
    { id: 61, len: 1 },
    { id: 136, len: 1 },
  ],
};

/** IPFIX IPv4 with a variable-length applicationName (as NBAR / AVC exporters send). */
export const IPFIX_V4_APPNAME: Template = {
  id: 302,
  fields: [...IPFIX_V4.fields, { id: 96, len: VARLEN }],
};

const APP_NAMES = ['https', 'dns', 'netflix-video', 'ssh', 'ms-office-365', 'quic', 'ntp', 'youtube'];

/** Field value for record `k` (deterministic, plausible). */
function value(f: Field, k: number): number[] | number {
  switch (f.id) {
    case 8:
      return [10, (k >>> 16) & 255, (k >>> 8) & 255, k & 255];
    case 12:
      return [198, 51, 100, (k * 13) & 255];
    case 15:
      return [203, 0, 113, 1];
    case 27:
      return [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (k >>> 8) & 255, k & 255];
    case 28:
      return [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, (k * 7) & 255];
    case 62:
      return [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    case 7:
      return 1024 + ((k * 7919) % 60_000);
    case 11:
      return [443, 80, 53, 22][k & 3]!;
    case 4:
      return [6, 6, 17, 1][k & 3]!;
    case 5:
      return k & 0xfc;
    case 6:
      return 0x1b;
    case 10:
      return 1 + (k % 48);
    case 14:
      return 49 + (k % 48);
    case 1:
      return 64 + ((k * 104_729) % 10_000_000);
    case 2:
      return 1 + (k % 10_000);
    case 22:
      return 3_500_000 + (k % 60_000);
    case 21:
      return 3_590_000 + (k % 10_000);
    case 152:
      return 1_773_489_540_000 + (k % 60_000);
    case 153:
      return 1_773_489_599_000 + (k % 1000);
    case 16:
      return 64_512 + (k % 1000);
    case 17:
      return 15_169;
    case 9:
    case 29:
      return 24;
    case 13:
    case 30:
      return 16;
    case 31:
      return k & 0xfffff;
    case 61:
      return k & 1;
    case 89:
      return 64;
    case 136:
      return 1 + (k % 4);
    case 96:
      return Array.from(Buffer.from(APP_NAMES[k % APP_NAMES.length]!));
    default:
      return k & 255;
  }
}

/** `n` data records of template `t`, starting at record number `first`. */
export function records(t: Template, n: number, first = 0): Uint8Array {
  const b = new Bytes();
  for (let i = 0; i < n; i++) {
    const k = first + i;
    for (const f of t.fields) {
      const v = value(f, k);
      if (f.len === VARLEN) b.varlen(typeof v === 'number' ? [v & 255] : v);
      else if (typeof v === 'number') b.uN(v, f.len);
      else {
        const bytes = v.slice(0, f.len);
        while (bytes.length < f.len) bytes.push(0);
        b.bytes(bytes);
      }
    }
  }
  return b.done();
}

/** A v9 datagram: the template (optionally) and `n` records. */
export function v9Datagram(t: Template, n: number, withTemplate: boolean, h: V9Header = {}): Uint8Array {
  const sets: Uint8Array[] = [];
  if (withTemplate) sets.push(v9TemplateSet([t]));
  sets.push(set(t.id, records(t, n, h.sequence ?? 0)));
  return v9Message(h, sets, n + (withTemplate ? 1 : 0));
}

/** An IPFIX message: the template (optionally) and `n` records. */
export function ipfixDatagram(t: Template, n: number, withTemplate: boolean, h: IpfixHeader = {}): Uint8Array {
  const sets: Uint8Array[] = [];
  if (withTemplate) sets.push(ipfixTemplateSet([t]));
  sets.push(set(t.id, records(t, n, h.sequence ?? 0), false));
  return ipfixMessage(h, sets);
}
