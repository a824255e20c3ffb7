/**
 * Warm-up: synthetic datagrams of every protocol (NetFlow v5, v9 and IPFIX with the templates
 * common exporters send, sFlow v5) run through a throwaway decoder and throwaway outputs before
 * a worker reads its sockets, so the first real datagrams meet compiled code instead of the
 * interpreter. Cold, the first wake-up of a busy port took 220-320 ms for 4,096 datagrams and
 * the receive buffer overflowed meanwhile (docs/benchmarks.md).
 *
 * Nothing here touches the worker's real state: the worker builds a decoder (with its own template
 * cache and counters) and outputs for the warm-up the way it builds its own, and drops them after. Only code (V8's compiled
 * functions and type feedback) carries over, which is the point.
 */
import { ExporterTable, type Exporter } from '../decode/mod.js';

// ---------------------------------------------------------------------------------------------
// Synthetic datagrams

/** A small deterministic generator (xorshift32): the same datagrams on every start. */
class Rand {
  constructor(private s: number) {}
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  below(n: number): number {
    return this.next() % n;
  }
}

/** Field writer over a growing list of bytes. */
class Out {
  private readonly b: number[] = [];
  get length(): number {
    return this.b.length;
  }
  u8(v: number): this {
    this.b.push(v & 255);
    return this;
  }
  u16(v: number): this {
    return this.u8(v >>> 8).u8(v);
  }
  u32(v: number): this {
    return this.u16(v >>> 16).u16(v & 0xffff);
  }
  u64(v: number): this {
    return this.u32(Math.floor(v / 2 ** 32)).u32(v >>> 0);
  }
  bytes(a: ArrayLike<number>): this {
    for (let i = 0; i < a.length; i++) this.u8(a[i]!);
    return this;
  }
  /** An unsigned value of `len` bytes (1, 2, 4, 8) or raw bytes for addresses. */
  field(len: number, v: number | number[]): this {
    if (Array.isArray(v)) return this.bytes(v);
    if (len === 1) return this.u8(v);
    if (len === 2) return this.u16(v);
    if (len === 4) return this.u32(v);
    if (len === 8) return this.u64(v);
    for (let i = len - 1; i >= 0; i--) this.u8(Math.floor(v / 2 ** (8 * i)));
    return this;
  }
  pad4(): this {
    while (this.b.length % 4 !== 0) this.u8(0);
    return this;
  }
  setU16(at: number, v: number): void {
    this.b[at] = (v >>> 8) & 255;
    this.b[at + 1] = v & 255;
  }
  buffer(): Buffer {
    return Buffer.from(this.b);
  }
}

/** A flow with the values a template may ask for. */
interface SynthFlow {
  v6: boolean;
  src: number[];
  dst: number[];
  srcPort: number;
  dstPort: number;
  proto: number;
  tos: number;
  tcpFlags: number;
  bytes: number;
  packets: number;
  input: number;
  output: number;
  srcAs: number;
  dstAs: number;
  srcMask: number;
  dstMask: number;
  nextHop: number[];
  srcMac: number[];
  dstMac: number[];
  vlan: number;
  direction: number;
}

function synthFlow(r: Rand, v6: boolean): SynthFlow {
  const addr = (): number[] =>
    v6 ? [0x20, 0x01, 0x0d, 0xb8, 0, r.below(256), 0, 0, 0, 0, 0, 0, 0, r.below(256), r.below(256), 1 + r.below(254)] : [198, 51, r.below(256), 1 + r.below(254)];
  const kind = r.below(8);
  // Mostly TCP and UDP, some ICMP (type/code in the destination port, as v5 and softflowd do).
  const proto = kind < 4 ? 6 : kind < 7 ? 17 : v6 ? 58 : 1;
  const icmp = proto === 1 || proto === 58;
  // Counters as routers send them: mostly small, now and then beyond 32 bits.
  const big = r.below(16) === 0;
  return {
    v6,
    src: addr(),
    dst: addr(),
    srcPort: icmp ? 0 : 1024 + r.below(60000),
    dstPort: icmp ? (8 << 8) : [53, 80, 443, 123, 22][r.below(5)]!,
    proto,
    tos: r.below(4) << 2,
    tcpFlags: proto === 6 ? 0x10 | r.below(0x20) : 0,
    bytes: big ? 2 ** 32 + r.next() : 40 + r.below(1_500_000),
    packets: 1 + r.below(1000),
    input: 1 + r.below(48),
    output: 1 + r.below(48),
    srcAs: r.below(65536),
    dstAs: r.below(4) === 0 ? 4_200_000_000 + r.below(1000) : r.below(65536),
    srcMask: 8 + r.below(25),
    dstMask: 8 + r.below(25),
    nextHop: v6 ? [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1] : [192, 0, 2, 1],
    srcMac: [0x02, 0, 0, 0, r.below(256), r.below(256)],
    dstMac: [0x02, 0, 0, 1, r.below(256), r.below(256)],
    vlan: r.below(4095),
    direction: r.below(2),
  };
}

/** Element id → the flow value it carries (and the time elements, filled per datagram). */
type Times = { uptimeMs: number; nowMs: number };
function value(id: number, len: number, f: SynthFlow, t: Times): number | number[] {
  switch (id) {
    case 1:
      return f.bytes % 2 ** (8 * Math.min(len, 6));
    case 2:
      return f.packets;
    case 4:
      return f.proto;
    case 5:
      return f.tos;
    case 6:
      return f.tcpFlags;
    case 7:
      return f.srcPort;
    case 11:
      return f.dstPort;
    case 8:
    case 27:
      return f.src;
    case 12:
    case 28:
      return f.dst;
    case 15:
    case 62:
      return f.nextHop;
    case 9:
    case 29:
      return f.srcMask;
    case 13:
    case 30:
      return f.dstMask;
    case 10:
      return f.input;
    case 14:
      return f.output;
    case 16:
      return len === 2 ? f.srcAs & 0xffff : f.srcAs;
    case 17:
      return len === 2 ? f.dstAs & 0xffff : f.dstAs;
    case 56:
      return f.srcMac;
    case 80:
      return f.dstMac;
    case 58:
      return f.vlan;
    case 60:
      return f.v6 ? 6 : 4;
    case 61:
      return f.direction;
    case 136:
      return 1 + (f.packets & 3);
    case 32:
    case 139:
      return f.dstPort;
    case 21:
      return t.uptimeMs;
    case 22:
      return t.uptimeMs - 5000;
    case 152:
      return t.nowMs - 5000;
    case 153:
      return t.nowMs;
    case 150:
      return Math.floor(t.nowMs / 1000) - 5;
    case 151:
      return Math.floor(t.nowMs / 1000);
    default:
      return 0;
  }
}

type Field = [id: number, len: number];

/** NetFlow v9 templates softflowd sends (IPv4, IPv4 ICMP, IPv6, IPv6 ICMP). */
const V9_TEMPLATES: { id: number; v6: boolean; fields: Field[] }[] = [
  { id: 1024, v6: false, fields: [[8, 4], [12, 4], [22, 4], [21, 4], [1, 4], [2, 4], [10, 4], [14, 4], [61, 1], [136, 1], [7, 2], [11, 2], [4, 1], [6, 1], [60, 1], [5, 1]] },
  { id: 1025, v6: false, fields: [[8, 4], [12, 4], [22, 4], [21, 4], [1, 4], [2, 4], [10, 4], [14, 4], [61, 1], [136, 1], [32, 2], [4, 1], [60, 1], [5, 1]] },
  { id: 2048, v6: true, fields: [[27, 16], [28, 16], [22, 4], [21, 4], [1, 4], [2, 4], [10, 4], [14, 4], [61, 1], [136, 1], [7, 2], [11, 2], [4, 1], [6, 1], [60, 1], [5, 1]] },
  // A router-style template: next hop, masks, AS numbers.
  { id: 260, v6: false, fields: [[8, 4], [12, 4], [15, 4], [10, 2], [14, 2], [2, 4], [1, 4], [22, 4], [21, 4], [7, 2], [11, 2], [6, 1], [4, 1], [5, 1], [16, 2], [17, 2], [9, 1], [13, 1]] },
];

/** IPFIX templates: pmacct nfprobe (IPv4, IPv6) and a switch/router style one with MACs and VLANs. */
const IPFIX_TEMPLATES: { id: number; v6: boolean; fields: Field[] }[] = [
  { id: 1024, v6: false, fields: [[153, 8], [152, 8], [1, 8], [2, 8], [60, 1], [10, 4], [14, 4], [61, 1], [8, 4], [12, 4], [7, 2], [11, 2], [5, 1], [6, 1], [4, 1]] },
  { id: 2048, v6: true, fields: [[153, 8], [152, 8], [1, 8], [2, 8], [60, 1], [10, 4], [14, 4], [61, 1], [27, 16], [28, 16], [5, 1], [7, 2], [11, 2], [6, 1], [4, 1]] },
  { id: 300, v6: false, fields: [[8, 4], [12, 4], [7, 2], [11, 2], [4, 1], [6, 1], [5, 1], [1, 8], [2, 8], [152, 8], [153, 8], [10, 4], [14, 4], [56, 6], [80, 6], [58, 2], [15, 4], [16, 4], [17, 4], [9, 1], [13, 1]] },
  { id: 301, v6: true, fields: [[27, 16], [28, 16], [7, 2], [11, 2], [4, 1], [6, 1], [5, 1], [1, 8], [2, 8], [150, 4], [151, 4], [10, 4], [14, 4], [62, 16], [29, 1], [30, 1], [16, 4], [17, 4]] },
];

const RECORDS_PER_SET = 12;

function v9Datagrams(r: Rand, t: Times, seq: number): Buffer[] {
  const out: Buffer[] = [];
  const header = (o: Out, count: number) => o.u16(9).u16(count).u32(t.uptimeMs).u32(Math.floor(t.nowMs / 1000)).u32(seq++).u32(1);
  // Templates and the sampling options (softflowd's: system scope, interval and algorithm).
  const tpl = new Out();
  header(tpl, V9_TEMPLATES.length + 1);
  const tset = tpl.length;
  tpl.u16(0).u16(0);
  for (const tp of V9_TEMPLATES) {
    tpl.u16(tp.id).u16(tp.fields.length);
    for (const [id, len] of tp.fields) tpl.u16(id).u16(len);
  }
  tpl.setU16(tset + 2, tpl.length - tset);
  tpl.u16(1).u16(4 + 6 + 4 + 8 + 2).u16(256).u16(4).u16(8).u16(1).u16(4).u16(34).u16(4).u16(35).u16(1).u16(0);
  out.push(tpl.buffer());
  const opt = new Out();
  header(opt, 1);
  opt.u16(256).u16(4 + 9 + 3).u32(0).u32(100).u8(2).u8(0).u16(0);
  out.push(opt.buffer());
  for (const tp of V9_TEMPLATES) {
    const d = new Out();
    header(d, RECORDS_PER_SET);
    const at = d.length;
    d.u16(tp.id).u16(0);
    for (let k = 0; k < RECORDS_PER_SET; k++) {
      const f = synthFlow(r, tp.v6);
      for (const [id, len] of tp.fields) d.field(len, value(id, len, f, t));
    }
    d.pad4();
    d.setU16(at + 2, d.length - at);
    out.push(d.buffer());
  }
  return out;
}

function ipfixDatagrams(r: Rand, t: Times, seq: number): Buffer[] {
  const out: Buffer[] = [];
  const finish = (o: Out) => {
    o.setU16(2, o.length);
    return o.buffer();
  };
  const header = (o: Out) => o.u16(10).u16(0).u32(Math.floor(t.nowMs / 1000)).u32(seq).u32(7);
  const tpl = new Out();
  header(tpl);
  const at = tpl.length;
  tpl.u16(2).u16(0);
  for (const tp of IPFIX_TEMPLATES) {
    tpl.u16(tp.id).u16(tp.fields.length);
    for (const [id, len] of tp.fields) tpl.u16(id).u16(len);
  }
  tpl.setU16(at + 2, tpl.length - at);
  // Options template (RFC 7014 style sampling: selector id scope, packet interval and space).
  tpl.u16(3).u16(4 + 6 + 12).u16(400).u16(3).u16(1).u16(302).u16(2).u16(305).u16(4).u16(306).u16(4);
  out.push(finish(tpl));
  const opt = new Out();
  header(opt);
  // Selector 1 samples 1 packet in 100 (interval 1, space 99).
  opt.u16(400).u16(4 + 10 + 2).u16(1).u32(1).u32(99).pad4();
  out.push(finish(opt));
  for (const tp of IPFIX_TEMPLATES) {
    const d = new Out();
    header(d);
    const s = d.length;
    d.u16(tp.id).u16(0);
    for (let k = 0; k < RECORDS_PER_SET; k++) {
      const f = synthFlow(r, tp.v6);
      for (const [id, len] of tp.fields) d.field(len, value(id, len, f, t));
    }
    d.setU16(s + 2, d.length - s);
    seq += RECORDS_PER_SET;
    out.push(finish(d));
  }
  return out;
}

function v5Datagram(r: Rand, t: Times, seq: number): Buffer {
  const d = new Out();
  d.u16(5).u16(RECORDS_PER_SET).u32(t.uptimeMs).u32(Math.floor(t.nowMs / 1000)).u32((t.nowMs % 1000) * 1e6).u32(seq).u8(0).u8(0).u16(0);
  for (let k = 0; k < RECORDS_PER_SET; k++) {
    const f = synthFlow(r, false);
    d.bytes(f.src).bytes(f.dst).bytes(f.nextHop).u16(f.input).u16(f.output).u32(f.packets).u32(f.bytes >>> 0);
    d.u32(t.uptimeMs - 5000).u32(t.uptimeMs).u16(f.srcPort).u16(f.dstPort).u8(0).u8(f.tcpFlags).u8(f.proto).u8(f.tos);
    d.u16(f.srcAs & 0xffff).u16(f.dstAs & 0xffff).u8(f.srcMask).u8(f.dstMask).u16(0);
  }
  return d.buffer();
}

/** An Ethernet frame's first bytes: optional 802.1Q tag, IPv4 or IPv6, TCP or UDP. */
function frameHeader(f: SynthFlow): number[] {
  const h = new Out();
  h.bytes(f.dstMac).bytes(f.srcMac);
  if (f.vlan > 0) h.u16(0x8100).u16(f.vlan);
  const l4 = f.proto === 6 ? 20 : 8;
  if (f.v6) {
    h.u16(0x86dd).u32((6 << 28) | (f.tos << 20)).u16(l4 + 32).u8(f.proto === 6 || f.proto === 17 ? f.proto : 17).u8(64).bytes(f.src).bytes(f.dst);
  } else {
    const proto = f.proto === 6 || f.proto === 17 ? f.proto : 17;
    h.u16(0x0800).u8(0x45).u8(f.tos).u16(20 + l4 + 32).u16(1).u16(0x4000).u8(64).u8(proto).u16(0).bytes(f.src).bytes(f.dst);
  }
  if (f.proto === 6) h.u16(f.srcPort).u16(f.dstPort).u32(1).u32(0).u8(0x50).u8(f.tcpFlags).u16(1024).u16(0).u16(0);
  else h.u16(f.srcPort || 5353).u16(f.dstPort).u16(l4 + 32).u16(0);
  return Array.from(h.buffer());
}

function sflowDatagram(r: Rand, t: Times, seq: number): Buffer {
  const d = new Out();
  const samples = 8;
  d.u32(5).u32(1).bytes([192, 0, 2, 10]).u32(0).u32(seq).u32(t.uptimeMs).u32(samples + 1);
  for (let k = 0; k < samples; k++) {
    const f = synthFlow(r, k % 4 === 3);
    const hdr = frameHeader(f);
    const rec = new Out();
    // Raw packet header record (0:1).
    rec.u32(1);
    const rl = rec.length;
    rec.u32(0).u32(1).u32(64 + (f.bytes % 1400)).u32(4).u32(hdr.length).bytes(hdr).pad4();
    const rawLen = rec.length - rl - 4;
    // Extended switch (0:1001).
    rec.u32(1001).u32(16).u32(f.vlan).u32(0).u32(f.vlan).u32(0);
    const body = rec.buffer();
    body.writeUInt32BE(rawLen, rl);
    // Flow sample (0:1).
    d.u32(1).u32(32 + body.length).u32(seq * samples + k).u32(f.input).u32(1024).u32(seq * 1024).u32(0).u32(f.input).u32(f.output).u32(2).bytes(body);
  }
  // One counters sample (0:2) with generic interface counters (0:1).
  d.u32(2).u32(12 + 8 + 88).u32(seq).u32(3).u32(1).u32(1).u32(88);
  d.u32(3).u32(6).u64(10_000_000_000).u32(1).u32(3).u64(r.next() * 1000).u32(r.next()).u32(0).u32(0).u32(0).u32(0).u32(0);
  d.u64(r.next() * 1000).u32(r.next()).u32(0).u32(0).u32(0).u32(0).u32(0);
  d.u32(0);
  return d.buffer();
}

/**
 * One round of synthetic datagrams of every protocol: templates (and sampling options) first,
 * then data, as an exporter sends them. `round` varies sequence numbers and values.
 */
export function warmupDatagrams(round: number, nowMs = Date.now()): Buffer[] {
  const r = new Rand(0x9e3779b9 ^ (round * 2654435761));
  const t: Times = { uptimeMs: 3_600_000 + round * 100, nowMs };
  return [...v9Datagrams(r, t, round * 8), ...ipfixDatagrams(r, t, round * 1000), v5Datagram(r, t, round * RECORDS_PER_SET), sflowDatagram(r, t, round)];
}

// ---------------------------------------------------------------------------------------------
// Running them

/** What the warm-up drives: a throwaway decoder built exactly as the worker builds its own. */
export interface WarmupTarget {
  decode(buf: Uint8Array, off: number, len: number, exporter: Exporter, recvSec: number, recvNsec: number): string | undefined;
  /** End of a batch (the outputs' flush). */
  flush(): void;
}

export interface WarmupResult {
  datagrams: number;
  /** Datagrams the throwaway decoder reported an error for (0 unless a builder is wrong). */
  errors: number;
  /** Wall milliseconds spent. */
  ms: number;
}

/**
 * Decodes `rounds` rounds of synthetic datagrams from a few exporters (their own exporter
 * table) through `target`, flushing after each round as the ingest path does after a batch.
 */
export function warmUp(target: WarmupTarget, rounds = 400): WarmupResult {
  const t0 = performance.now();
  const table = new ExporterTable();
  const exporters = [table.get('192.0.2.1', 2055), table.get('192.0.2.2', 4739), table.get('2001:db8::2', 6343)];
  let datagrams = 0;
  let errors = 0;
  const nowMs = Date.now();
  const sec = Math.floor(nowMs / 1000);
  // A handful of distinct rounds replayed (building them costs more than decoding them).
  const distinct = Array.from({ length: 8 }, (_, k) => warmupDatagrams(k, nowMs));
  for (let round = 0; round < rounds; round++) {
    const batch = distinct[round % distinct.length]!;
    const ex = exporters[round % exporters.length]!;
    for (const d of batch) {
      if (target.decode(d, 0, d.length, ex, sec, 0) !== undefined) errors++;
      datagrams++;
    }
    target.flush();
  }
  return { datagrams, errors, ms: performance.now() - t0 };
}
