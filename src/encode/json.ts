/**
 * Hand-written NDJSON encoder for FlowRecord (schema: docs/encoding.md).
 *
 * Every FlowMessage field is always emitted, in proto order, under its snake_case proto name
 * (stable schema): numbers as exact integer digits, addresses as strings ("" when absent), MACs
 * as aa:bb:cc:dd:ee:ff, repeated fields as arrays ([] when empty), enums by name. Then
 * `"fields": {...}` holds every other element the exporter sent, by registry name, formatted
 * by its abstract data type.
 *
 * Bytes are written straight into a reusable Buffer (ByteWriter) from precomputed key bytes;
 * JSON.stringify is used only to escape strings that are not plain printable ASCII.
 */
import { DataType, type FlowRecord } from '../decode/record.js';
import { ByteWriter, RecordBatchWriter } from './writer.js';
import {
  wAscii,
  wHex,
  wIp,
  wIpv4,
  wIpv6,
  wMac,
  wMacBytes,
  wNs,
  wU32,
  wU64HiLo,
  wUint,
} from './format.js';

const TWO32 = 4294967296;
/** Seconds between the NTP epoch (1900) and the Unix epoch (1970). */
const NTP_UNIX_OFFSET = 2208988800;

function ascii(s: string): Uint8Array {
  const a = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) a[i] = s.charCodeAt(i);
  return a;
}

/**
 * A precomputed constant byte string, stored as big-endian 32-bit words plus a tail so it can
 * be written with a few DataView stores instead of one store per byte.
 */
interface Raw {
  readonly words: Uint32Array;
  readonly tail: Uint8Array;
  readonly length: number;
}

function raw(s: string): Raw {
  const a = ascii(s);
  const nw = a.length >>> 2;
  const words = new Uint32Array(nw);
  for (let i = 0; i < nw; i++) {
    words[i] = ((a[4 * i]! << 24) | (a[4 * i + 1]! << 16) | (a[4 * i + 2]! << 8) | a[4 * i + 3]!) >>> 0;
  }
  return { words, tail: a.subarray(nw * 4), length: a.length };
}

let keysTotal = 0;
/** Precomputed `,"name":` (the first key has `{` instead of the comma). */
function k(name: string, first = false): Raw {
  const r = raw(`${first ? '{' : ','}"${name}":`);
  keysTotal += r.length;
  return r;
}

const K_TYPE = k('type', true);
const K_TIME_RECEIVED_NS = k('time_received_ns');
const K_SEQUENCE_NUM = k('sequence_num');
const K_SAMPLING_RATE = k('sampling_rate');
const K_SAMPLER_ADDRESS = k('sampler_address');
const K_TIME_FLOW_START_NS = k('time_flow_start_ns');
const K_TIME_FLOW_END_NS = k('time_flow_end_ns');
const K_BYTES = k('bytes');
const K_PACKETS = k('packets');
const K_SRC_ADDR = k('src_addr');
const K_DST_ADDR = k('dst_addr');
const K_ETYPE = k('etype');
const K_PROTO = k('proto');
const K_SRC_PORT = k('src_port');
const K_DST_PORT = k('dst_port');
const K_IN_IF = k('in_if');
const K_OUT_IF = k('out_if');
const K_SRC_MAC = k('src_mac');
const K_DST_MAC = k('dst_mac');
const K_SRC_VLAN = k('src_vlan');
const K_DST_VLAN = k('dst_vlan');
const K_VLAN_ID = k('vlan_id');
const K_IP_TOS = k('ip_tos');
const K_FORWARDING_STATUS = k('forwarding_status');
const K_IP_TTL = k('ip_ttl');
const K_IP_FLAGS = k('ip_flags');
const K_TCP_FLAGS = k('tcp_flags');
const K_ICMP_TYPE = k('icmp_type');
const K_ICMP_CODE = k('icmp_code');
const K_IPV6_FLOW_LABEL = k('ipv6_flow_label');
const K_FRAGMENT_ID = k('fragment_id');
const K_FRAGMENT_OFFSET = k('fragment_offset');
const K_SRC_AS = k('src_as');
const K_DST_AS = k('dst_as');
const K_NEXT_HOP = k('next_hop');
const K_NEXT_HOP_AS = k('next_hop_as');
const K_SRC_NET = k('src_net');
const K_DST_NET = k('dst_net');
const K_BGP_NEXT_HOP = k('bgp_next_hop');
const K_BGP_COMMUNITIES = k('bgp_communities');
const K_AS_PATH = k('as_path');
const K_MPLS_TTL = k('mpls_ttl');
const K_MPLS_LABEL = k('mpls_label');
const K_MPLS_IP = k('mpls_ip');
const K_OBSERVATION_DOMAIN_ID = k('observation_domain_id');
const K_OBSERVATION_POINT_ID = k('observation_point_id');
const K_LAYER_STACK = k('layer_stack');
const K_LAYER_SIZE = k('layer_size');
const K_IPV6_RH_ADDRESSES = k('ipv6_routing_header_addresses');
const K_IPV6_RH_SEG_LEFT = k('ipv6_routing_header_seg_left');
const K_PROTOCOL_NAME = k('protocol_name');
const K_BYTES_IN = k('bytes_in');
const K_BYTES_OUT = k('bytes_out');
const K_PACKETS_IN = k('packets_in');
const K_PACKETS_OUT = k('packets_out');
const K_EXPORT_VERSION = k('export_version');
const K_IN_IF_NAME = k('in_if_name');
const K_OUT_IF_NAME = k('out_if_name');
const K_IN_IF_DESC = k('in_if_desc');
const K_OUT_IF_DESC = k('out_if_desc');
const K_TEMPLATE_ID = k('template_id');
const K_RAW_BYTES = k('raw_bytes');
const K_RAW_PACKETS = k('raw_packets');
const K_VRF_NAME = k('vrf_name');
const K_FIELDS = k('fields');

/** flowpb.FlowMessage.FlowType names, quoted. */
const TYPE_NAMES = ['FLOWUNKNOWN', 'SFLOW_5', 'NETFLOW_V5', 'NETFLOW_V9', 'IPFIX'].map((n) =>
  raw(`"${n}"`),
);

/** flowpb.FlowMessage.LayerStack names, quoted, by code. */
const LAYER_NAMES: (Raw | undefined)[] = [];
for (const [name, code] of [
  ['Ethernet', 0],
  ['IPv4', 1],
  ['IPv6', 2],
  ['TCP', 3],
  ['UDP', 4],
  ['MPLS', 5],
  ['Dot1Q', 6],
  ['ICMP', 7],
  ['ICMPv6', 8],
  ['GRE', 9],
  ['IPv6HeaderRouting', 10],
  ['IPv6HeaderFragment', 11],
  ['Geneve', 12],
  ['Teredo', 13],
  ['Custom', 99],
] as const) {
  LAYER_NAMES[code] = raw(`"${name}"`);
}

const A_TRUE = raw('true');
const A_FALSE = raw('false');
const A_NULL = raw('null');

function wRaw(dv: DataView, b: Buffer, p: number, r: Raw): number {
  const words = r.words;
  const nw = words.length;
  for (let i = 0; i < nw; i++) dv.setUint32(p + 4 * i, words[i]!);
  p += nw * 4;
  const tail = r.tail;
  const nt = tail.length;
  for (let i = 0; i < nt; i++) b[p + i] = tail[i]!;
  return p + nt;
}

/** A quoted address ("" when len is 0). */
function wQIp(b: Buffer, p: number, src: Uint8Array, len: number): number {
  b[p++] = 34;
  p = wIp(b, p, src, 0, len);
  b[p] = 34;
  return p + 1;
}

function wQMac(b: Buffer, p: number, n: number): number {
  b[p++] = 34;
  p = wMac(b, p, n);
  b[p] = 34;
  return p + 1;
}

function wU32Array(b: Buffer, p: number, arr: ArrayLike<number>, count: number): number {
  b[p++] = 91;
  for (let i = 0; i < count; i++) {
    if (i > 0) b[p++] = 44;
    p = wU32(b, p, arr[i]! >>> 0);
  }
  b[p] = 93;
  return p + 1;
}

function clampCount(count: number, arr: ArrayLike<unknown>): number {
  return count < arr.length ? (count > 0 ? count : 0) : arr.length;
}

/**
 * A JSON string from a JS string. Capacity for 6 * s.length + 2 bytes must be ensured (the
 * worst case: every UTF-16 unit escaped as \uXXXX; UTF-8 needs at most 3 bytes per unit).
 */
function wStr(b: Buffer, p: number, s: string): number {
  const n = s.length;
  const start = p;
  b[p++] = 34;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 34 || c === 92) {
      return start + b.write(JSON.stringify(s), start, 'utf8');
    }
    b[p++] = c;
  }
  b[p] = 34;
  return p + 1;
}

function strBound(s: string): number {
  return 6 * s.length + 2;
}

/** Upper bound of the bytes written before the "fields" map. */
function fixedBound(r: FlowRecord): number {
  let n = keysTotal + 2048;
  n += 11 * (r.bgpCommunitiesCount + r.asPathCount + 2 * r.mplsCount + r.layerCount);
  n += 21 * r.layerCount;
  const rc = r.ipv6RoutingHeaderAddressesCount;
  for (let i = 0; i < rc && i < r.ipv6RoutingHeaderAddresses.length; i++) {
    n += 48 + 2 * (r.ipv6RoutingHeaderAddresses[i]?.length ?? 0);
  }
  n +=
    strBound(r.protocolName) +
    strBound(r.inIfName) +
    strBound(r.outIfName) +
    strBound(r.inIfDesc) +
    strBound(r.outIfDesc) +
    strBound(r.vrfName);
  return n;
}

/** Appends the JSON object for `rec` (no trailing newline) to `w`. */
export function writeFlowJson(w: ByteWriter, r: FlowRecord): void {
  w.ensure(fixedBound(r));
  const b = w.buf;
  const dv = w.dv;
  let p = w.pos;
  let v: number;

  p = wRaw(dv, b, p, K_TYPE);
  v = r.type;
  const tn = TYPE_NAMES[v];
  p = tn !== undefined ? wRaw(dv, b, p, tn) : wUint(b, p, v);
  p = wRaw(dv, b, p, K_TIME_RECEIVED_NS);
  p = wNs(b, p, r.timeReceivedSec, r.timeReceivedNsec);
  p = wRaw(dv, b, p, K_SEQUENCE_NUM);
  p = wU32(b, p, r.sequenceNum >>> 0);
  p = wRaw(dv, b, p, K_SAMPLING_RATE);
  p = wUint(b, p, r.samplingRate);
  p = wRaw(dv, b, p, K_SAMPLER_ADDRESS);
  p = wQIp(b, p, r.samplerAddress, r.samplerAddressLen);
  p = wRaw(dv, b, p, K_TIME_FLOW_START_NS);
  p = wNs(b, p, r.timeFlowStartSec, r.timeFlowStartNsec);
  p = wRaw(dv, b, p, K_TIME_FLOW_END_NS);
  p = wNs(b, p, r.timeFlowEndSec, r.timeFlowEndNsec);
  p = wRaw(dv, b, p, K_BYTES);
  p = wUint(b, p, r.bytes);
  p = wRaw(dv, b, p, K_PACKETS);
  p = wUint(b, p, r.packets);
  p = wRaw(dv, b, p, K_SRC_ADDR);
  p = wQIp(b, p, r.srcAddr, r.srcAddrLen);
  p = wRaw(dv, b, p, K_DST_ADDR);
  p = wQIp(b, p, r.dstAddr, r.dstAddrLen);
  p = wRaw(dv, b, p, K_ETYPE);
  p = wU32(b, p, r.etype >>> 0);
  p = wRaw(dv, b, p, K_PROTO);
  p = wU32(b, p, r.proto >>> 0);
  p = wRaw(dv, b, p, K_SRC_PORT);
  p = wU32(b, p, r.srcPort >>> 0);
  p = wRaw(dv, b, p, K_DST_PORT);
  p = wU32(b, p, r.dstPort >>> 0);
  p = wRaw(dv, b, p, K_IN_IF);
  p = wU32(b, p, r.inIf >>> 0);
  p = wRaw(dv, b, p, K_OUT_IF);
  p = wU32(b, p, r.outIf >>> 0);
  p = wRaw(dv, b, p, K_SRC_MAC);
  p = wQMac(b, p, r.srcMac);
  p = wRaw(dv, b, p, K_DST_MAC);
  p = wQMac(b, p, r.dstMac);
  p = wRaw(dv, b, p, K_SRC_VLAN);
  p = wU32(b, p, r.srcVlan >>> 0);
  p = wRaw(dv, b, p, K_DST_VLAN);
  p = wU32(b, p, r.dstVlan >>> 0);
  p = wRaw(dv, b, p, K_VLAN_ID);
  p = wU32(b, p, r.vlanId >>> 0);
  p = wRaw(dv, b, p, K_IP_TOS);
  p = wU32(b, p, r.ipTos >>> 0);
  p = wRaw(dv, b, p, K_FORWARDING_STATUS);
  p = wU32(b, p, r.forwardingStatus >>> 0);
  p = wRaw(dv, b, p, K_IP_TTL);
  p = wU32(b, p, r.ipTtl >>> 0);
  p = wRaw(dv, b, p, K_IP_FLAGS);
  p = wU32(b, p, r.ipFlags >>> 0);
  p = wRaw(dv, b, p, K_TCP_FLAGS);
  p = wU32(b, p, r.tcpFlags >>> 0);
  p = wRaw(dv, b, p, K_ICMP_TYPE);
  p = wU32(b, p, r.icmpType >>> 0);
  p = wRaw(dv, b, p, K_ICMP_CODE);
  p = wU32(b, p, r.icmpCode >>> 0);
  p = wRaw(dv, b, p, K_IPV6_FLOW_LABEL);
  p = wU32(b, p, r.ipv6FlowLabel >>> 0);
  p = wRaw(dv, b, p, K_FRAGMENT_ID);
  p = wU32(b, p, r.fragmentId >>> 0);
  p = wRaw(dv, b, p, K_FRAGMENT_OFFSET);
  p = wU32(b, p, r.fragmentOffset >>> 0);
  p = wRaw(dv, b, p, K_SRC_AS);
  p = wU32(b, p, r.srcAs >>> 0);
  p = wRaw(dv, b, p, K_DST_AS);
  p = wU32(b, p, r.dstAs >>> 0);
  p = wRaw(dv, b, p, K_NEXT_HOP);
  p = wQIp(b, p, r.nextHop, r.nextHopLen);
  p = wRaw(dv, b, p, K_NEXT_HOP_AS);
  p = wU32(b, p, r.nextHopAs >>> 0);
  p = wRaw(dv, b, p, K_SRC_NET);
  p = wU32(b, p, r.srcNet >>> 0);
  p = wRaw(dv, b, p, K_DST_NET);
  p = wU32(b, p, r.dstNet >>> 0);
  p = wRaw(dv, b, p, K_BGP_NEXT_HOP);
  p = wQIp(b, p, r.bgpNextHop, r.bgpNextHopLen);
  p = wRaw(dv, b, p, K_BGP_COMMUNITIES);
  p = wU32Array(b, p, r.bgpCommunities, clampCount(r.bgpCommunitiesCount, r.bgpCommunities));
  p = wRaw(dv, b, p, K_AS_PATH);
  p = wU32Array(b, p, r.asPath, clampCount(r.asPathCount, r.asPath));
  const mc = clampCount(r.mplsCount, r.mplsTtl);
  p = wRaw(dv, b, p, K_MPLS_TTL);
  p = wU32Array(b, p, r.mplsTtl, mc);
  p = wRaw(dv, b, p, K_MPLS_LABEL);
  p = wU32Array(b, p, r.mplsLabel, mc);
  p = wRaw(dv, b, p, K_MPLS_IP);
  b[p++] = 91;
  if (r.mplsIpLen > 0) p = wQIp(b, p, r.mplsIp, r.mplsIpLen);
  b[p++] = 93;
  p = wRaw(dv, b, p, K_OBSERVATION_DOMAIN_ID);
  p = wU32(b, p, r.observationDomainId >>> 0);
  p = wRaw(dv, b, p, K_OBSERVATION_POINT_ID);
  p = wU32(b, p, r.observationPointId >>> 0);
  const lc = clampCount(r.layerCount, r.layerStack);
  p = wRaw(dv, b, p, K_LAYER_STACK);
  b[p++] = 91;
  for (let i = 0; i < lc; i++) {
    if (i > 0) b[p++] = 44;
    v = r.layerStack[i]!;
    const ln = LAYER_NAMES[v];
    p = ln !== undefined ? wRaw(dv, b, p, ln) : wU32(b, p, v >>> 0);
  }
  b[p++] = 93;
  p = wRaw(dv, b, p, K_LAYER_SIZE);
  p = wU32Array(b, p, r.layerSize, lc);
  p = wRaw(dv, b, p, K_IPV6_RH_ADDRESSES);
  b[p++] = 91;
  const rc = clampCount(r.ipv6RoutingHeaderAddressesCount, r.ipv6RoutingHeaderAddresses);
  for (let i = 0; i < rc; i++) {
    if (i > 0) b[p++] = 44;
    const a = r.ipv6RoutingHeaderAddresses[i]!;
    p = wQIp(b, p, a, a.length);
  }
  b[p++] = 93;
  p = wRaw(dv, b, p, K_IPV6_RH_SEG_LEFT);
  p = wU32(b, p, r.ipv6RoutingHeaderSegLeft >>> 0);
  p = wRaw(dv, b, p, K_PROTOCOL_NAME);
  p = wStr(b, p, r.protocolName);
  p = wRaw(dv, b, p, K_BYTES_IN);
  p = wUint(b, p, r.bytesIn);
  p = wRaw(dv, b, p, K_BYTES_OUT);
  p = wUint(b, p, r.bytesOut);
  p = wRaw(dv, b, p, K_PACKETS_IN);
  p = wUint(b, p, r.packetsIn);
  p = wRaw(dv, b, p, K_PACKETS_OUT);
  p = wUint(b, p, r.packetsOut);
  p = wRaw(dv, b, p, K_EXPORT_VERSION);
  p = wU32(b, p, r.exportVersion >>> 0);
  p = wRaw(dv, b, p, K_IN_IF_NAME);
  p = wStr(b, p, r.inIfName);
  p = wRaw(dv, b, p, K_OUT_IF_NAME);
  p = wStr(b, p, r.outIfName);
  p = wRaw(dv, b, p, K_IN_IF_DESC);
  p = wStr(b, p, r.inIfDesc);
  p = wRaw(dv, b, p, K_OUT_IF_DESC);
  p = wStr(b, p, r.outIfDesc);
  p = wRaw(dv, b, p, K_TEMPLATE_ID);
  p = wU32(b, p, r.templateId >>> 0);
  p = wRaw(dv, b, p, K_RAW_BYTES);
  p = wUint(b, p, r.rawBytes);
  p = wRaw(dv, b, p, K_RAW_PACKETS);
  p = wUint(b, p, r.rawPackets);
  p = wRaw(dv, b, p, K_VRF_NAME);
  p = wStr(b, p, r.vrfName);
  p = wRaw(dv, b, p, K_FIELDS);
  b[p++] = 123;
  w.pos = p;

  writeFields(w, r);
  w.ensure(2);
  w.buf[w.pos++] = 125; // } of fields
  w.buf[w.pos++] = 125; // } of the record
}

// ---------------------------------------------------------------------------------------------
// The "fields" map.

/**
 * Writes the extras. A name that occurs more than once in a record (a template may repeat an
 * element) gets `#2`, `#3`, ... appended to its later occurrences, in template order.
 */
function writeFields(w: ByteWriter, r: FlowRecord): void {
  const n = r.extraCount < r.extraInfo.length ? r.extraCount : r.extraInfo.length;
  for (let i = 0; i < n; i++) {
    const info = r.extraInfo[i];
    const name = info !== undefined ? info.name : 'unknown';
    let dup = 1;
    for (let j = 0; j < i; j++) {
      const o = r.extraInfo[j];
      if ((o !== undefined ? o.name : 'unknown') === name) dup++;
    }
    const key = dup === 1 ? name : `${name}#${dup}`;
    const src = r.extraBuf[i];
    const value = r.extraValue[i];
    let off = r.extraOff[i]!;
    let len = r.extraLen[i]!;
    if (src !== undefined) {
      // Never read outside the referenced buffer.
      if (off < 0 || off > src.length) off = src.length;
      if (len < 0) len = 0;
      if (off + len > src.length) len = src.length - off;
    } else {
      len = 0;
    }
    w.ensure(strBound(key) + 2 * len + 72);
    let p = w.pos;
    const b = w.buf;
    if (i > 0) b[p++] = 44;
    p = wStr(b, p, key);
    b[p++] = 58;
    w.pos = p;
    if (value !== undefined) writeValue(w, value, 0);
    else if (src === undefined || info === undefined) w.pos = wRaw(w.dv, b, p, A_NULL);
    else writeTyped(w, info.type, src, off, len);
  }
}

function readU32(src: Uint8Array, off: number): number {
  return ((src[off]! << 24) | (src[off + 1]! << 16) | (src[off + 2]! << 8) | src[off + 3]!) >>> 0;
}

/** Unsigned big-endian value of 1..4 bytes. */
function readUpTo4(src: Uint8Array, off: number, len: number): number {
  let v = 0;
  for (let i = 0; i < len; i++) v = v * 256 + src[off + i]!;
  return v;
}

function wQHex(b: Buffer, p: number, src: Uint8Array, off: number, len: number): number {
  b[p++] = 34;
  p = wHex(b, p, src, off, len);
  b[p] = 34;
  return p + 1;
}

/** Unsigned big-endian integer of 1..8 bytes, exact. */
function wUnsignedBE(b: Buffer, p: number, src: Uint8Array, off: number, len: number): number {
  if (len <= 4) return wUint(b, p, readUpTo4(src, off, len));
  const hi = readUpTo4(src, off, len - 4);
  return wU64HiLo(b, p, hi, readU32(src, off + len - 4));
}

/** Signed (two's complement, sign-extended from the top bit) integer of 1..8 bytes, exact. */
function wSignedBE(b: Buffer, p: number, src: Uint8Array, off: number, len: number): number {
  if ((src[off]! & 0x80) === 0) return wUnsignedBE(b, p, src, off, len);
  b[p++] = 45; // '-'
  if (len <= 4) return wUint(b, p, 2 ** (8 * len) - readUpTo4(src, off, len));
  // magnitude = 2^(8*len) - (hi * 2^32 + lo), computed on the hi/lo halves
  const hi = readUpTo4(src, off, len - 4);
  const lo = readU32(src, off + len - 4);
  const mLo = lo === 0 ? 0 : TWO32 - lo;
  const mHi = 2 ** (8 * (len - 4)) - hi - (lo === 0 ? 0 : 1);
  return wU64HiLo(b, p, mHi, mLo);
}

const f64 = new Float64Array(1);
const f64b = new Uint8Array(f64.buffer);
const f32 = new Float32Array(1);
const f32b = new Uint8Array(f32.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function readF64(src: Uint8Array, off: number): number {
  for (let i = 0; i < 8; i++) f64b[LITTLE_ENDIAN ? 7 - i : i] = src[off + i]!;
  return f64[0]!;
}

function readF32(src: Uint8Array, off: number): number {
  for (let i = 0; i < 4; i++) f32b[LITTLE_ENDIAN ? 3 - i : i] = src[off + i]!;
  return f32[0]!;
}

/** Non-finite floats are not JSON numbers: they are written as the strings "NaN", "Infinity". */
function wFloat(b: Buffer, p: number, x: number, single: boolean): number {
  if (!Number.isFinite(x)) return wAscii(b, p, x !== x ? '"NaN"' : x > 0 ? '"Infinity"' : '"-Infinity"');
  return wAscii(b, p, single ? float32Text(x) : String(x));
}

/** Shortest decimal that reads back as the same float32 (e.g. 0.1, not 0.10000000149011612). */
function float32Text(x: number): string {
  for (let prec = 1; prec <= 9; prec++) {
    const y = Number(x.toPrecision(prec));
    if (Math.fround(y) === x) return String(y);
  }
  return String(x);
}

/** NTP-format timestamp (RFC 7011 dateTimeMicroseconds / dateTimeNanoseconds) as Unix ns. */
function wNtpAsUnixNs(b: Buffer, p: number, src: Uint8Array, off: number, micro: boolean): number {
  const sec = readU32(src, off);
  const frac = readU32(src, off + 4);
  if (sec === 0 && frac === 0) {
    b[p] = 48;
    return p + 1;
  }
  // Era 0 (1968-2036) when the top bit is set, era 1 (2036-2104) otherwise (RFC 5905).
  let unixSec = sec >= 0x80000000 ? sec - NTP_UNIX_OFFSET : sec + TWO32 - NTP_UNIX_OFFSET;
  // For microseconds the low 11 fraction bits carry no information (RFC 7011 6.1.9).
  let nsec = micro
    ? Math.round((frac * 1e6) / TWO32) * 1000
    : Math.round((frac * 1e9) / TWO32);
  if (nsec >= 1e9) {
    nsec -= 1e9;
    unixSec += 1;
  }
  if (unixSec < 0) return wAscii(b, p, (BigInt(unixSec) * 1000000000n + BigInt(nsec)).toString());
  return wNs(b, p, unixSec, nsec);
}

/** Natural size in bytes of the integer (and integer-like dateTime) types, by type code. */
const INT_SIZE: number[] = [];
INT_SIZE[DataType.unsigned8] = 1;
INT_SIZE[DataType.unsigned16] = 2;
INT_SIZE[DataType.unsigned32] = 4;
INT_SIZE[DataType.unsigned64] = 8;
INT_SIZE[DataType.signed8] = 1;
INT_SIZE[DataType.signed16] = 2;
INT_SIZE[DataType.signed32] = 4;
INT_SIZE[DataType.signed64] = 8;
INT_SIZE[DataType.dateTimeSeconds] = 4;
INT_SIZE[DataType.dateTimeMilliseconds] = 8;

/** A byte-backed extra value by abstract data type; hex when the length does not fit it. */
function writeTyped(w: ByteWriter, type: number, src: Uint8Array, off: number, len: number): void {
  const b = w.buf;
  let p = w.pos;
  switch (type) {
    case DataType.unsigned8:
    case DataType.unsigned16:
    case DataType.unsigned32:
    case DataType.unsigned64:
    case DataType.dateTimeSeconds:
    case DataType.dateTimeMilliseconds:
      // Reduced-size encoding (RFC 7011 6.2): any length from 1 up to the type's size.
      p =
        len >= 1 && len <= INT_SIZE[type]!
          ? wUnsignedBE(b, p, src, off, len)
          : wQHex(b, p, src, off, len);
      break;
    case DataType.signed8:
    case DataType.signed16:
    case DataType.signed32:
    case DataType.signed64:
      p =
        len >= 1 && len <= INT_SIZE[type]!
          ? wSignedBE(b, p, src, off, len)
          : wQHex(b, p, src, off, len);
      break;
    case DataType.float32:
      p = len === 4 ? wFloat(b, p, readF32(src, off), true) : wQHex(b, p, src, off, len);
      break;
    case DataType.float64:
      // float64 may be reduced to a float32 (RFC 7011 6.2).
      if (len === 8) p = wFloat(b, p, readF64(src, off), false);
      else if (len === 4) p = wFloat(b, p, readF32(src, off), true);
      else p = wQHex(b, p, src, off, len);
      break;
    case DataType.boolean: {
      const c = src[off];
      if (len === 1 && c === 1) p = wRaw(w.dv, b, p, A_TRUE);
      else if (len === 1 && c === 2) p = wRaw(w.dv, b, p, A_FALSE);
      else p = wQHex(b, p, src, off, len);
      break;
    }
    case DataType.macAddress:
      if (len === 6) {
        b[p++] = 34;
        p = wMacBytes(b, p, src, off);
        b[p++] = 34;
      } else {
        p = wQHex(b, p, src, off, len);
      }
      break;
    case DataType.string:
      writeBytesString(w, src, off, len);
      return;
    case DataType.dateTimeMicroseconds:
    case DataType.dateTimeNanoseconds:
      p =
        len === 8
          ? wNtpAsUnixNs(b, p, src, off, type === DataType.dateTimeMicroseconds)
          : wQHex(b, p, src, off, len);
      break;
    case DataType.ipv4Address:
      if (len === 4) {
        b[p++] = 34;
        p = wIpv4(b, p, src, off);
        b[p++] = 34;
      } else {
        p = wQHex(b, p, src, off, len);
      }
      break;
    case DataType.ipv6Address:
      if (len === 16) {
        b[p++] = 34;
        p = wIpv6(b, p, src, off);
        b[p++] = 34;
      } else {
        p = wQHex(b, p, src, off, len);
      }
      break;
    default:
      // octetArray, lists the decoder left undecoded, unknown type codes.
      p = wQHex(b, p, src, off, len);
  }
  w.pos = p;
}

const utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/**
 * A string element: ends at the first NUL (zero padding, and garbage some exporters leave after
 * it), printable ASCII copied as is, anything else decoded as UTF-8 (invalid sequences become
 * U+FFFD) and escaped by JSON.stringify.
 */
function writeBytesString(w: ByteWriter, src: Uint8Array, off: number, len: number): void {
  let end = off;
  const lim = off + len;
  while (end < lim && src[end] !== 0) end++;
  const b = w.buf;
  let p = w.pos;
  b[p++] = 34;
  for (let i = off; i < end; i++) {
    const c = src[i]!;
    if (c < 0x20 || c > 0x7e || c === 34 || c === 92) {
      const text = JSON.stringify(utf8.decode(src.subarray(off, end)));
      w.ensure(Buffer.byteLength(text, 'utf8'));
      w.pos += w.buf.write(text, w.pos, 'utf8');
      return;
    }
    b[p++] = c;
  }
  b[p++] = 34;
  w.pos = p;
}

const MAX_DEPTH = 32;

/**
 * A decoded structured value (RFC 6313 lists): arrays, plain objects, strings, numbers,
 * booleans, bigints (as exact integers), byte arrays (as hex strings); null/undefined and
 * anything else (or nesting deeper than MAX_DEPTH) as null.
 */
function writeValue(w: ByteWriter, v: unknown, depth: number): void {
  switch (typeof v) {
    case 'string':
      w.ensure(strBound(v));
      w.pos = wStr(w.buf, w.pos, v);
      return;
    case 'number':
      w.ensure(32);
      if (Number.isInteger(v) && v >= 0) w.pos = wUint(w.buf, w.pos, v);
      else w.pos = wFloat(w.buf, w.pos, v, false);
      return;
    case 'boolean':
      w.ensure(5);
      w.pos = wRaw(w.dv, w.buf, w.pos, v ? A_TRUE : A_FALSE);
      return;
    case 'bigint': {
      const s = v.toString();
      w.ensure(s.length);
      w.pos = wAscii(w.buf, w.pos, s);
      return;
    }
    case 'object':
      if (v === null || depth >= MAX_DEPTH) break;
      if (v instanceof Uint8Array) {
        w.ensure(2 * v.length + 2);
        w.pos = wQHex(w.buf, w.pos, v, 0, v.length);
        return;
      }
      if (Array.isArray(v)) {
        w.ensure(1);
        w.buf[w.pos++] = 91;
        for (let i = 0; i < v.length; i++) {
          if (i > 0) {
            w.ensure(1);
            w.buf[w.pos++] = 44;
          }
          writeValue(w, v[i], depth + 1);
        }
        w.ensure(1);
        w.buf[w.pos++] = 93;
        return;
      }
      {
        w.ensure(1);
        w.buf[w.pos++] = 123;
        let first = true;
        for (const key of Object.keys(v)) {
          w.ensure(strBound(key) + 2);
          if (!first) w.buf[w.pos++] = 44;
          first = false;
          w.pos = wStr(w.buf, w.pos, key);
          w.buf[w.pos++] = 58;
          writeValue(w, (v as Record<string, unknown>)[key], depth + 1);
        }
        w.ensure(1);
        w.buf[w.pos++] = 125;
        return;
      }
    default:
      break;
  }
  w.ensure(4);
  w.pos = wRaw(w.dv, w.buf, w.pos, A_NULL);
}

// ---------------------------------------------------------------------------------------------

/**
 * Encodes records as JSON into one reusable buffer. Views returned by `encode` alias that
 * buffer and are valid only until the next call.
 */
export class JsonEncoder {
  readonly writer: ByteWriter;

  constructor(initialCapacity = 8192) {
    this.writer = new ByteWriter(initialCapacity);
  }

  /** One NDJSON line: the JSON object followed by "\n". */
  encode(rec: FlowRecord): Uint8Array {
    const w = this.writer;
    w.pos = 0;
    writeFlowJson(w, rec);
    w.ensure(1);
    w.buf[w.pos++] = 10;
    return w.buf.subarray(0, w.pos);
  }

  /** The JSON object as a string, without newline (convenience; allocates the string). */
  encodeToString(rec: FlowRecord): string {
    const w = this.writer;
    w.pos = 0;
    writeFlowJson(w, rec);
    return w.buf.toString('utf8', 0, w.pos);
  }
}

/** Batches records as NDJSON lines; `finish()` hands out a view and resets. */
export class NdjsonBatchWriter extends RecordBatchWriter<FlowRecord> {
  constructor(initialCapacity = 256 * 1024) {
    super(initialCapacity);
  }

  protected write(w: ByteWriter, rec: FlowRecord): void {
    writeFlowJson(w, rec);
    w.ensure(1);
    w.buf[w.pos++] = 10;
  }
}
