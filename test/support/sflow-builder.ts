/**
 * A small sFlow v5 datagram builder for tests (XDR, big-endian, opaque data padded to 4 bytes),
 * written from the sFlow v5 specification. Every function returns plain bytes so tests can
 * also cut and garble them.
 */
import { parseAddress } from '../../src/capture/mod.js';

class Xdr {
  private parts: number[] = [];
  u32(v: number): this {
    v = v >>> 0;
    this.parts.push(v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
    return this;
  }
  u64(v: bigint): this {
    this.u32(Number((v >> 32n) & 0xffffffffn));
    return this.u32(Number(v & 0xffffffffn));
  }
  /** Fixed-length opaque: the bytes then zero padding to a multiple of 4. */
  opaque(b: Uint8Array): this {
    for (const x of b) this.parts.push(x);
    while (this.parts.length % 4 !== 0) this.parts.push(0);
    return this;
  }
  /** sFlow `address`: type 1 + 4 bytes, or type 2 + 16 bytes. */
  address(text: string): this {
    const a = parseAddress(text);
    this.u32(a.length === 4 ? 1 : 2);
    return this.opaque(a);
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

/** One record or sample: data_format (enterprise << 12 | format), length, then the data. */
export function tlv(format: number, data: Uint8Array, enterprise = 0): Uint8Array {
  const x = new Xdr().u32(((enterprise << 12) | format) >>> 0).u32(data.length).opaque(data);
  return x.bytes();
}

/** The parts one after another in one new array. */
export function concat(parts: ReadonlyArray<Uint8Array>): Uint8Array {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export interface DatagramOptions {
  agent?: string;
  subAgentId?: number;
  sequence?: number;
  uptimeMs?: number;
  version?: number;
  /** Overrides the sample count written in the header (for garbled datagrams). */
  numSamples?: number;
}

export function datagram(samples: ReadonlyArray<Uint8Array>, o: DatagramOptions = {}): Uint8Array {
  const x = new Xdr().u32(o.version ?? 5).address(o.agent ?? '192.0.2.1');
  x.u32(o.subAgentId ?? 0).u32(o.sequence ?? 1).u32(o.uptimeMs ?? 1000).u32(o.numSamples ?? samples.length);
  return concat([x.bytes(), ...samples]);
}

/** sFlow interface, as (format, value): format 0 ifIndex, 1 discarded, 2 multiple outputs. */
export interface Iface {
  format?: number;
  value: number;
}

export interface FlowSampleOptions {
  expanded?: boolean;
  sequence?: number;
  sourceIdType?: number;
  sourceIdIndex?: number;
  samplingRate?: number;
  samplePool?: number;
  drops?: number;
  input?: Iface;
  output?: Iface;
}

export function flowSample(records: ReadonlyArray<Uint8Array>, o: FlowSampleOptions = {}): Uint8Array {
  const x = new Xdr().u32(o.sequence ?? 1);
  const inp = o.input ?? { value: 1 };
  const out = o.output ?? { value: 2 };
  if (o.expanded) {
    x.u32(o.sourceIdType ?? 0).u32(o.sourceIdIndex ?? 1);
    x.u32(o.samplingRate ?? 1).u32(o.samplePool ?? 0).u32(o.drops ?? 0);
    x.u32(inp.format ?? 0).u32(inp.value).u32(out.format ?? 0).u32(out.value);
  } else {
    x.u32((((o.sourceIdType ?? 0) << 24) | ((o.sourceIdIndex ?? 1) & 0xffffff)) >>> 0);
    x.u32(o.samplingRate ?? 1).u32(o.samplePool ?? 0).u32(o.drops ?? 0);
    x.u32((((inp.format ?? 0) << 30) | inp.value) >>> 0).u32((((out.format ?? 0) << 30) | out.value) >>> 0);
  }
  x.u32(records.length);
  return tlv(o.expanded ? 3 : 1, concat([x.bytes(), ...records]));
}

export interface CounterSampleOptions {
  expanded?: boolean;
  sequence?: number;
  sourceIdType?: number;
  sourceIdIndex?: number;
}

export function counterSample(records: ReadonlyArray<Uint8Array>, o: CounterSampleOptions = {}): Uint8Array {
  const x = new Xdr().u32(o.sequence ?? 1);
  if (o.expanded) x.u32(o.sourceIdType ?? 0).u32(o.sourceIdIndex ?? 1);
  else x.u32((((o.sourceIdType ?? 0) << 24) | ((o.sourceIdIndex ?? 1) & 0xffffff)) >>> 0);
  x.u32(records.length);
  return tlv(o.expanded ? 4 : 2, concat([x.bytes(), ...records]));
}

// --- flow records --------------------------------------------------------------------------

export function rawHeader(header: Uint8Array, o: { protocol?: number; frameLength?: number; stripped?: number } = {}): Uint8Array {
  const x = new Xdr().u32(o.protocol ?? 1).u32(o.frameLength ?? header.length + 4).u32(o.stripped ?? 4);
  x.u32(header.length).opaque(header);
  return tlv(1, x.bytes());
}

function mac(text: string): Uint8Array {
  return Uint8Array.from(text.split(':').map((h) => parseInt(h, 16)));
}

export function sampledEthernet(o: { length: number; srcMac: string; dstMac: string; type: number }): Uint8Array {
  const x = new Xdr().u32(o.length).opaque(mac(o.srcMac)).opaque(mac(o.dstMac)).u32(o.type);
  return tlv(2, x.bytes());
}

export interface SampledIpOptions {
  length: number;
  protocol: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  tcpFlags?: number;
  /** tos for IPv4, priority for IPv6 */
  tos?: number;
}

export function sampledIPv4(o: SampledIpOptions): Uint8Array {
  const x = new Xdr().u32(o.length).u32(o.protocol).opaque(parseAddress(o.src)).opaque(parseAddress(o.dst));
  x.u32(o.srcPort).u32(o.dstPort).u32(o.tcpFlags ?? 0).u32(o.tos ?? 0);
  return tlv(3, x.bytes());
}

export function sampledIPv6(o: SampledIpOptions): Uint8Array {
  const x = new Xdr().u32(o.length).u32(o.protocol).opaque(parseAddress(o.src)).opaque(parseAddress(o.dst));
  x.u32(o.srcPort).u32(o.dstPort).u32(o.tcpFlags ?? 0).u32(o.tos ?? 0);
  return tlv(4, x.bytes());
}

export function extendedSwitch(o: { srcVlan: number; srcPriority: number; dstVlan: number; dstPriority: number }): Uint8Array {
  return tlv(1001, new Xdr().u32(o.srcVlan).u32(o.srcPriority).u32(o.dstVlan).u32(o.dstPriority).bytes());
}

export function extendedRouter(o: { nextHop: string; srcMaskLen: number; dstMaskLen: number }): Uint8Array {
  return tlv(1002, new Xdr().address(o.nextHop).u32(o.srcMaskLen).u32(o.dstMaskLen).bytes());
}

export interface AsPathSegment {
  /** 1 = AS_SET, 2 = AS_SEQUENCE */
  type: number;
  path: number[];
}

export function extendedGateway(o: {
  nextHop: string;
  as: number;
  srcAs: number;
  srcPeerAs: number;
  segments: AsPathSegment[];
  communities: number[];
  localPref: number;
}): Uint8Array {
  const x = new Xdr().address(o.nextHop).u32(o.as).u32(o.srcAs).u32(o.srcPeerAs).u32(o.segments.length);
  for (const s of o.segments) {
    x.u32(s.type).u32(s.path.length);
    for (const a of s.path) x.u32(a);
  }
  x.u32(o.communities.length);
  for (const c of o.communities) x.u32(c);
  x.u32(o.localPref);
  return tlv(1003, x.bytes());
}

// --- counter records -----------------------------------------------------------------------

export interface GenericCounters {
  ifIndex: number;
  ifType: number;
  ifSpeed: bigint;
  ifDirection: number;
  ifStatus: number;
  ifInOctets: bigint;
  ifInUcastPkts: number;
  ifInMulticastPkts: number;
  ifInBroadcastPkts: number;
  ifInDiscards: number;
  ifInErrors: number;
  ifInUnknownProtos: number;
  ifOutOctets: bigint;
  ifOutUcastPkts: number;
  ifOutMulticastPkts: number;
  ifOutBroadcastPkts: number;
  ifOutDiscards: number;
  ifOutErrors: number;
  ifPromiscuousMode: number;
}

export function genericCounters(c: GenericCounters): Uint8Array {
  const x = new Xdr().u32(c.ifIndex).u32(c.ifType).u64(c.ifSpeed).u32(c.ifDirection).u32(c.ifStatus);
  x.u64(c.ifInOctets).u32(c.ifInUcastPkts).u32(c.ifInMulticastPkts).u32(c.ifInBroadcastPkts);
  x.u32(c.ifInDiscards).u32(c.ifInErrors).u32(c.ifInUnknownProtos);
  x.u64(c.ifOutOctets).u32(c.ifOutUcastPkts).u32(c.ifOutMulticastPkts).u32(c.ifOutBroadcastPkts);
  x.u32(c.ifOutDiscards).u32(c.ifOutErrors).u32(c.ifPromiscuousMode);
  return tlv(1, x.bytes());
}

/** The 13 dot3Stats counters in sFlow order (alignment, FCS, single collision, ... symbol). */
export function ethernetCounters(values: readonly number[]): Uint8Array {
  if (values.length !== 13) throw new Error('ethernet counters: 13 values');
  const x = new Xdr();
  for (const v of values) x.u32(v);
  return tlv(2, x.bytes());
}

// --- raw frames that the capture writer cannot build ---------------------------------------

/** Ethernet header + MPLS label stack (labels outermost first) + payload (an IP packet). */
export function mplsFrame(labels: ReadonlyArray<{ label: number; ttl: number; exp?: number }>, payload: Uint8Array): Uint8Array {
  const x = new Xdr();
  const eth = Uint8Array.from([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0x47]);
  labels.forEach((l, i) => {
    const bos = i === labels.length - 1 ? 1 : 0;
    x.u32(((l.label << 12) | ((l.exp ?? 0) << 9) | (bos << 8) | l.ttl) >>> 0);
  });
  return concat([eth, x.bytes(), payload]);
}
