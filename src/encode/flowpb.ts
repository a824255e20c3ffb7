/**
 * Hand-written protobuf encoder for `flowpb.FlowMessage` (proto/flow.proto).
 *
 * proto3 semantics: zero values, empty strings/bytes and empty repeated fields are not written;
 * repeated scalars are packed. uint64 fields arrive as JS numbers (exact up to 2^53); the ns
 * timestamps arrive as (seconds, nanoseconds) pairs and are encoded exactly with 32-bit hi/lo
 * arithmetic (their value exceeds 2^53).
 *
 * Hot path: one `ensure()` per record for an upper bound of its size, then straight stores
 * into the writer's Buffer; no allocation per record in steady state.
 */
import type { FlowRecord } from '../decode/record.js';
import { ByteWriter, RecordBatchWriter } from './writer.js';

const TWO32 = 4294967296;
const TWO48 = 281474976710656;

// Wire types.
const VARINT = 0;
const LEN = 2;

/** A field key (tag << 3 | wire type). All our keys are < 16384, i.e. at most 2 varint bytes. */
function key(field: number, wireType: number): number {
  return (field << 3) | wireType;
}

// Precomputed keys, one per field. Keys < 128 are written as one byte, others as two.
const K_TYPE = key(1, VARINT);
const K_SAMPLING_RATE = key(3, VARINT);
const K_SEQUENCE_NUM = key(4, VARINT);
const K_SRC_ADDR = key(6, LEN);
const K_DST_ADDR = key(7, LEN);
const K_BYTES = key(9, VARINT);
const K_PACKETS = key(10, VARINT);
const K_SAMPLER_ADDRESS = key(11, LEN);
const K_NEXT_HOP = key(12, LEN);
const K_NEXT_HOP_AS = key(13, VARINT);
const K_SRC_AS = key(14, VARINT);
const K_DST_AS = key(15, VARINT);
const K_SRC_NET = key(16, VARINT);
const K_DST_NET = key(17, VARINT);
const K_IN_IF = key(18, VARINT);
const K_OUT_IF = key(19, VARINT);
const K_PROTO = key(20, VARINT);
const K_SRC_PORT = key(21, VARINT);
const K_DST_PORT = key(22, VARINT);
const K_IP_TOS = key(23, VARINT);
const K_FORWARDING_STATUS = key(24, VARINT);
const K_IP_TTL = key(25, VARINT);
const K_TCP_FLAGS = key(26, VARINT);
const K_SRC_MAC = key(27, VARINT);
const K_DST_MAC = key(28, VARINT);
const K_VLAN_ID = key(29, VARINT);
const K_ETYPE = key(30, VARINT);
const K_ICMP_TYPE = key(31, VARINT);
const K_ICMP_CODE = key(32, VARINT);
const K_SRC_VLAN = key(33, VARINT);
const K_DST_VLAN = key(34, VARINT);
const K_FRAGMENT_ID = key(35, VARINT);
const K_FRAGMENT_OFFSET = key(36, VARINT);
const K_IPV6_FLOW_LABEL = key(37, VARINT);
const K_IP_FLAGS = key(38, VARINT);
const K_OBSERVATION_DOMAIN_ID = key(70, VARINT);
const K_OBSERVATION_POINT_ID = key(71, VARINT);
const K_MPLS_TTL = key(80, LEN);
const K_MPLS_LABEL = key(81, LEN);
const K_MPLS_IP = key(82, LEN);
const K_BGP_NEXT_HOP = key(100, LEN);
const K_BGP_COMMUNITIES = key(101, LEN);
const K_AS_PATH = key(102, LEN);
const K_LAYER_STACK = key(103, LEN);
const K_LAYER_SIZE = key(104, LEN);
const K_IPV6_RH_ADDRESSES = key(105, LEN);
const K_IPV6_RH_SEG_LEFT = key(106, VARINT);
const K_PROTOCOL_NAME = key(107, LEN);
const K_TIME_RECEIVED_NS = key(110, VARINT);
const K_TIME_FLOW_START_NS = key(111, VARINT);
const K_TIME_FLOW_END_NS = key(112, VARINT);
const K_BYTES_IN = key(113, VARINT);
const K_BYTES_OUT = key(114, VARINT);
const K_PACKETS_IN = key(115, VARINT);
const K_PACKETS_OUT = key(116, VARINT);
const K_EXPORT_VERSION = key(1000, VARINT);
const K_IN_IF_NAME = key(1001, LEN);
const K_OUT_IF_NAME = key(1002, LEN);
const K_IN_IF_DESC = key(1003, LEN);
const K_OUT_IF_DESC = key(1004, LEN);
const K_TEMPLATE_ID = key(1005, VARINT);
const K_RAW_BYTES = key(1006, VARINT);
const K_RAW_PACKETS = key(1007, VARINT);
const K_VRF_NAME = key(1008, LEN);

// ---------------------------------------------------------------------------------------------
// Primitive writers: (buffer, position, ...) -> new position. Callers have ensured capacity.

function wKey(b: Buffer, p: number, k: number): number {
  if (k < 128) {
    b[p] = k;
    return p + 1;
  }
  b[p] = (k & 127) | 128;
  b[p + 1] = k >>> 7;
  return p + 2;
}

/** Varint of an unsigned 32-bit integer. */
function wVarint32(b: Buffer, p: number, v: number): number {
  while (v > 127) {
    b[p++] = (v & 127) | 128;
    v >>>= 7;
  }
  b[p++] = v;
  return p;
}

/** Varint of the 64-bit value hi * 2^32 + lo (both unsigned 32-bit). */
function wVarintHiLo(b: Buffer, p: number, hi: number, lo: number): number {
  while (hi !== 0 || lo > 127) {
    b[p++] = (lo & 127) | 128;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  b[p++] = lo;
  return p;
}

/** Varint of a non-negative integer held in a double (exact up to 2^53). */
function wVarint64(b: Buffer, p: number, n: number): number {
  if (n <= 0xffffffff) return wVarint32(b, p, n >>> 0);
  return wVarintHiLo(b, p, Math.floor(n / TWO32) >>> 0, n >>> 0);
}

function varint32Size(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

/**
 * Writes sec * 1e9 + nsec as a varint, exactly. sec < 2^32, 0 <= nsec < 1e9 (a larger nsec is
 * still exact as long as the total is below 2^64).
 *   sec = a * 2^16 + c;  total = (a * 1e9) * 2^16 + (c * 1e9 + nsec)
 * Every intermediate product stays below 2^53.
 */
function wVarintNs(b: Buffer, p: number, sec: number, nsec: number): number {
  const a = Math.floor(sec / 65536);
  const c = sec - a * 65536;
  const low = c * 1e9 + nsec; // < 2^46 + nsec
  const mid = a * 1e9; // < 2^46
  const midHi = Math.floor(mid / 65536);
  const midLo = mid - midHi * 65536;
  const t = midLo * 65536 + low; // < 2^48
  const hi = midHi + Math.floor(t / TWO32);
  return wVarintHiLo(b, p, hi >>> 0, t >>> 0);
}

function wBytes(b: Buffer, p: number, k: number, src: Uint8Array, len: number): number {
  p = wKey(b, p, k);
  p = wVarint32(b, p, len);
  for (let i = 0; i < len; i++) b[p + i] = src[i]!;
  return p + len;
}

/** Writes a string field (key, length, UTF-8). ASCII fast path, Buffer.write otherwise. */
function wString(b: Buffer, p: number, k: number, s: string): number {
  p = wKey(b, p, k);
  const n = s.length;
  const start = p;
  if (n < 128) {
    b[p++] = n;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 127) return wStringSlow(b, start, s);
      b[p++] = c;
    }
    return p;
  }
  return wStringSlow(b, start, s);
}

function wStringSlow(b: Buffer, p: number, s: string): number {
  const len = Buffer.byteLength(s, 'utf8');
  p = wVarint32(b, p, len);
  b.write(s, p, len, 'utf8');
  return p + len;
}

/** Packed repeated uint32. */
function wPacked(b: Buffer, p: number, k: number, arr: ArrayLike<number>, count: number): number {
  let size = 0;
  for (let i = 0; i < count; i++) size += varint32Size(arr[i]! >>> 0);
  p = wKey(b, p, k);
  p = wVarint32(b, p, size);
  for (let i = 0; i < count; i++) p = wVarint32(b, p, arr[i]! >>> 0);
  return p;
}

function clampCount(count: number, arr: ArrayLike<unknown>): number {
  return count < arr.length ? (count > 0 ? count : 0) : arr.length;
}

/** Upper bound of the encoded size of `r`, so the body can be written without checks. */
function sizeBound(r: FlowRecord): number {
  // ~70 scalar fields at <= 2 + 10 bytes, 5 addresses at <= 2 + 1 + 16, repeated and string
  // headers at <= 2 + 5 each.
  let n = 1280;
  n += 11 * (r.bgpCommunitiesCount + r.asPathCount + 2 * r.mplsCount + 2 * r.layerCount);
  const rc = r.ipv6RoutingHeaderAddressesCount;
  for (let i = 0; i < rc && i < r.ipv6RoutingHeaderAddresses.length; i++) {
    n += 8 + (r.ipv6RoutingHeaderAddresses[i]?.length ?? 0);
  }
  n +=
    3 *
    (r.protocolName.length +
      r.inIfName.length +
      r.outIfName.length +
      r.inIfDesc.length +
      r.outIfDesc.length +
      r.vrfName.length);
  return n;
}

/** Key bytes of a field (tag, wire type) as they appear on the wire. */
export function keyBytes(k: number): number[] {
  return k < 128 ? [k] : [(k & 127) | 128, k >>> 7];
}

/*
 * Offsets in generated code are int32 arithmetic: `(p + 2) | 0` instead of `p + 2`, `p = (p + 2)
 * | 0` instead of `p += 2` or `p++`. V8 then adds without an overflow check and the deopt point
 * that goes with it (a transcoder had about 120 of them); offsets stay far below 2^31, so the
 * value is the same. The decode loop ran 3-7 % faster (docs/benchmarks.md).
 */
/** The offset base + k in generated code (int32; base p unless given). */
export function at(k: number | string, base = 'p'): string {
  return k === 0 ? base : `(${base} + ${k}) | 0`;
}
/** Advances p by k in generated code (int32). */
export function adv(k: number | string): string {
  return `p = (p + ${k}) | 0;`;
}
/** Stores x at p and advances p by one, in generated code. */
function put(x: string): string {
  return `b[p] = ${x}; ${adv(1)}`;
}

/** Statements writing the key bytes at p and advancing p. */
function keyCode(k: number): string {
  const kb = keyBytes(k);
  return kb.length === 1 ? put(String(kb[0])) : `b[p] = ${kb[0]}; b[${at(1)}] = ${kb[1]}; ${adv(2)}`;
}

/** Varint of u (already an unsigned 32-bit integer): literal stores below 2^21, a loop above. */
const U32_VARINT = `
    if (u < 0x80) { ${put('u')} }
    else if (u < 0x4000) { b[p] = u | 128; b[${at(1)}] = u >>> 7; ${adv(2)} }
    else if (u < 0x200000) { b[p] = u | 128; b[${at(1)}] = (u >>> 7) | 128; b[${at(2)}] = u >>> 14; ${adv(3)} }
    else { while (u > 127) { ${put('u | 128')} u >>>= 7; } ${put('u')} }`;

/** How one FlowMessage field is written; the order of FIELDS is the order on the wire. */
export type FieldSpec =
  | { kind: 'u32' | 'u64' | 'mac' | 'str' | 'strSlow'; prop: string; key: number }
  | { kind: 'ns'; sec: string; nsec: string; key: number }
  | { kind: 'addr'; prop: string; key: number }
  | { kind: 'code'; code: string };

/**
 * Code writing the varint of hi * 2^32 + lo at b[p] (locals hi, lo: whole numbers below 2^32;
 * u scratch): the time fields' encoding, shared by the body writer and the transcoders.
 */
export const VARINT64_HI_LO = `
      if (hi === 0) {
        while (lo > 127) { ${put('lo | 128')} lo >>>= 7; }
        ${put('lo')}
      } else {
        b[p] = lo | 128; b[${at(1)}] = (lo >>> 7) | 128; b[${at(2)}] = (lo >>> 14) | 128; b[${at(3)}] = (lo >>> 21) | 128;
        u = hi >>> 3;
        lo = (lo >>> 28) | ((hi & 7) << 4);
        if (u >= 0x200000 && u < 0x10000000) {
          // 2^56 <= value < 2^63 (every time from 2002 to 2262): nine bytes.
          b[${at(4)}] = lo | 128; b[${at(5)}] = u | 128; b[${at(6)}] = (u >>> 7) | 128; b[${at(7)}] = (u >>> 14) | 128; b[${at(8)}] = u >>> 21; ${adv(9)}
        } else if (u === 0) { b[${at(4)}] = lo; ${adv(5)} } else {
          b[${at(4)}] = lo | 128; ${adv(5)}
          while (u > 127) { ${put('u | 128')} u >>>= 7; }
          ${put('u')}
        }
      }`;

export const FLOWPB_FIELDS: readonly FieldSpec[] = [
  { kind: 'u32', prop: 'type', key: K_TYPE },
  { kind: 'ns', sec: 'timeReceivedSec', nsec: 'timeReceivedNsec', key: K_TIME_RECEIVED_NS },
  { kind: 'u32', prop: 'sequenceNum', key: K_SEQUENCE_NUM },
  { kind: 'u64', prop: 'samplingRate', key: K_SAMPLING_RATE },
  { kind: 'addr', prop: 'samplerAddress', key: K_SAMPLER_ADDRESS },
  { kind: 'ns', sec: 'timeFlowStartSec', nsec: 'timeFlowStartNsec', key: K_TIME_FLOW_START_NS },
  { kind: 'ns', sec: 'timeFlowEndSec', nsec: 'timeFlowEndNsec', key: K_TIME_FLOW_END_NS },
  { kind: 'u64', prop: 'bytes', key: K_BYTES },
  { kind: 'u64', prop: 'packets', key: K_PACKETS },
  { kind: 'addr', prop: 'srcAddr', key: K_SRC_ADDR },
  { kind: 'addr', prop: 'dstAddr', key: K_DST_ADDR },
  { kind: 'u32', prop: 'etype', key: K_ETYPE },
  { kind: 'u32', prop: 'proto', key: K_PROTO },
  { kind: 'u32', prop: 'srcPort', key: K_SRC_PORT },
  { kind: 'u32', prop: 'dstPort', key: K_DST_PORT },
  { kind: 'u32', prop: 'inIf', key: K_IN_IF },
  { kind: 'u32', prop: 'outIf', key: K_OUT_IF },
  { kind: 'mac', prop: 'srcMac', key: K_SRC_MAC },
  { kind: 'mac', prop: 'dstMac', key: K_DST_MAC },
  { kind: 'u32', prop: 'srcVlan', key: K_SRC_VLAN },
  { kind: 'u32', prop: 'dstVlan', key: K_DST_VLAN },
  { kind: 'u32', prop: 'vlanId', key: K_VLAN_ID },
  { kind: 'u32', prop: 'ipTos', key: K_IP_TOS },
  { kind: 'u32', prop: 'forwardingStatus', key: K_FORWARDING_STATUS },
  { kind: 'u32', prop: 'ipTtl', key: K_IP_TTL },
  { kind: 'u32', prop: 'ipFlags', key: K_IP_FLAGS },
  { kind: 'u32', prop: 'tcpFlags', key: K_TCP_FLAGS },
  { kind: 'u32', prop: 'icmpType', key: K_ICMP_TYPE },
  { kind: 'u32', prop: 'icmpCode', key: K_ICMP_CODE },
  { kind: 'u32', prop: 'ipv6FlowLabel', key: K_IPV6_FLOW_LABEL },
  { kind: 'u32', prop: 'fragmentId', key: K_FRAGMENT_ID },
  { kind: 'u32', prop: 'fragmentOffset', key: K_FRAGMENT_OFFSET },
  { kind: 'u32', prop: 'srcAs', key: K_SRC_AS },
  { kind: 'u32', prop: 'dstAs', key: K_DST_AS },
  { kind: 'addr', prop: 'nextHop', key: K_NEXT_HOP },
  { kind: 'u32', prop: 'nextHopAs', key: K_NEXT_HOP_AS },
  { kind: 'u32', prop: 'srcNet', key: K_SRC_NET },
  { kind: 'u32', prop: 'dstNet', key: K_DST_NET },
  { kind: 'addr', prop: 'bgpNextHop', key: K_BGP_NEXT_HOP },
  // Repeated fields: rare outside sFlow, general helpers.
  { kind: 'code', code: `
  if (r.bgpCommunitiesCount !== 0 && (v = H.clampCount(r.bgpCommunitiesCount, r.bgpCommunities)) > 0) p = H.wPacked(b, p, ${K_BGP_COMMUNITIES}, r.bgpCommunities, v);
  if (r.asPathCount !== 0 && (v = H.clampCount(r.asPathCount, r.asPath)) > 0) p = H.wPacked(b, p, ${K_AS_PATH}, r.asPath, v);
  if (r.mplsCount !== 0 && (v = H.clampCount(r.mplsCount, r.mplsTtl)) > 0) {
    p = H.wPacked(b, p, ${K_MPLS_TTL}, r.mplsTtl, v);
    p = H.wPacked(b, p, ${K_MPLS_LABEL}, r.mplsLabel, v);
  }
  if ((v = r.mplsIpLen) > 0) p = H.wBytes(b, p, ${K_MPLS_IP}, r.mplsIp, v);` },
  { kind: 'u32', prop: 'observationDomainId', key: K_OBSERVATION_DOMAIN_ID },
  { kind: 'u32', prop: 'observationPointId', key: K_OBSERVATION_POINT_ID },
  { kind: 'code', code: `
  if (r.layerCount !== 0 && (v = H.clampCount(r.layerCount, r.layerStack)) > 0) {
    p = H.wPacked(b, p, ${K_LAYER_STACK}, r.layerStack, v);
    p = H.wPacked(b, p, ${K_LAYER_SIZE}, r.layerSize, v);
  }
  if (r.ipv6RoutingHeaderAddressesCount !== 0) {
    v = H.clampCount(r.ipv6RoutingHeaderAddressesCount, r.ipv6RoutingHeaderAddresses);
    for (i = 0; i < v; i++) { a = r.ipv6RoutingHeaderAddresses[i]; p = H.wBytes(b, p, ${K_IPV6_RH_ADDRESSES}, a, a.length); }
  }` },
  { kind: 'u32', prop: 'ipv6RoutingHeaderSegLeft', key: K_IPV6_RH_SEG_LEFT },
  { kind: 'str', prop: 'protocolName', key: K_PROTOCOL_NAME },
  { kind: 'u64', prop: 'bytesIn', key: K_BYTES_IN },
  { kind: 'u64', prop: 'bytesOut', key: K_BYTES_OUT },
  { kind: 'u64', prop: 'packetsIn', key: K_PACKETS_IN },
  { kind: 'u64', prop: 'packetsOut', key: K_PACKETS_OUT },
  { kind: 'u32', prop: 'exportVersion', key: K_EXPORT_VERSION },
  { kind: 'str', prop: 'inIfName', key: K_IN_IF_NAME },
  { kind: 'str', prop: 'outIfName', key: K_OUT_IF_NAME },
  { kind: 'strSlow', prop: 'inIfDesc', key: K_IN_IF_DESC },
  { kind: 'strSlow', prop: 'outIfDesc', key: K_OUT_IF_DESC },
  { kind: 'u32', prop: 'templateId', key: K_TEMPLATE_ID },
  { kind: 'u64', prop: 'rawBytes', key: K_RAW_BYTES },
  { kind: 'u64', prop: 'rawPackets', key: K_RAW_PACKETS },
  { kind: 'strSlow', prop: 'vrfName', key: K_VRF_NAME },
];

/**
 * Statements writing one field of FLOWPB_FIELDS at b[p] (locals v, u, hi, lo, sec, ns, a, s, n,
 * i, c and helpers H as in writeBody). `src` maps a FlowRecord property to the expression that
 * holds its value: the record's property for writeBody, a local for the per-template
 * transcoder (src/decode/transcode.ts), so both write the same bytes.
 */
export function flowpbFieldCode(f: FieldSpec, src: (prop: string) => string = (prop) => `r.${prop}`): string {
  switch (f.kind) {
    case 'code':
      return f.code;
    case 'u32':
      return `
  if ((v = ${src(f.prop)}) !== 0) {
    ${keyCode(f.key)}
    u = v >>> 0;${U32_VARINT}
  }`;
    case 'u64':
      return `
  if ((v = ${src(f.prop)}) !== 0) {
    ${keyCode(f.key)}
    if (v <= 0xffffffff) {
      u = v >>> 0;${U32_VARINT}
    } else p = H.wVarint64(b, p, v);
  }`;
    case 'mac':
      // 48-bit: usually above 2^32, so the hi/lo form is written inline too.
      return `
  if ((v = ${src(f.prop)}) !== 0) {
    ${keyCode(f.key)}
    if (v <= 0xffffffff) {
      u = v >>> 0;${U32_VARINT}
    } else if (v < ${TWO48}) {
      lo = v >>> 0;
      u = Math.floor(v / ${TWO32});
      b[p] = lo | 128; b[${at(1)}] = (lo >>> 7) | 128; b[${at(2)}] = (lo >>> 14) | 128; b[${at(3)}] = (lo >>> 21) | 128;
      lo = (lo >>> 28) | ((u & 7) << 4);
      u >>>= 3;
      if (u === 0) { b[${at(4)}] = lo; ${adv(5)} } else {
        b[${at(4)}] = lo | 128; ${adv(5)}
        while (u > 127) { ${put('u | 128')} u >>>= 7; }
        ${put('u')}
      }
    } else p = H.wVarint64(b, p, v);
  }`;
    case 'ns':
      // sec * 1e9 + nsec split exactly into 32-bit words; unusual values take wVarintNs.
      return `
  sec = ${src(f.sec)};
  ns = ${src(f.nsec)};
  if (sec !== 0 || ns !== 0) {
    ${keyCode(f.key)}
    if ((sec >>> 0) === sec && (ns >>> 0) === ns) {
      lo = ((Math.imul(sec, 1e9) >>> 0) + ns) >>> 0;
      hi = Math.round((sec * 1e9 + ns - lo) / ${TWO32});${VARINT64_HI_LO}
    } else p = H.wVarintNs(b, p, sec, ns);
  }`;
    case 'addr': {
      const copy = (n: number) => Array.from({ length: n }, (_, i) => `b[${at(i)}] = a[${i}];`).join(' ');
      return `
  if ((v = ${src(`${f.prop}Len`)}) > 0) {
    a = ${src(f.prop)};
    if (v === 4) { ${keyCode(f.key)} ${put('4')} ${copy(4)} ${adv(4)} }
    else if (v === 16) { ${keyCode(f.key)} ${put('16')} ${copy(16)} ${adv(16)} }
    else p = H.wBytes(b, p, ${f.key}, a, v);
  }`;
    }
    case 'str': {
      // Short ASCII written inline; anything else takes wString / wStringSlow.
      const kl = keyBytes(f.key).length;
      return `
  s = ${src(f.prop)};
  if ((n = s.length) !== 0) {
    if (n < 128) {
      ${keyBytes(f.key).map((x, i) => `b[${at(i)}] = ${x};`).join(' ')} b[${at(kl)}] = n;
      for (i = 0; i < n; i++) {
        if ((c = s.charCodeAt(i)) > 127) break;
        b[${at(`${kl + 1} + i`)}] = c;
      }
      p = i === n ? ${at(`${kl + 1} + n`)} : H.wStringSlow(b, ${at(kl)}, s);
    } else p = H.wString(b, p, ${f.key}, s);
  }`;
    }
    case 'strSlow':
      return `
  if (${src(f.prop)}.length !== 0) p = H.wString(b, p, ${f.key}, ${src(f.prop)});`;
  }
}

type BodyWriter = (b: Buffer, p: number, r: FlowRecord) => number;

/**
 * Writes the message body of `r` at `p`; returns the end position. Capacity ensured.
 *
 * Generated once at load from FIELDS as one straight-line function: V8 stops inlining small
 * helpers into a function this size (cumulative inlining budget), and a call per field was
 * most of the encoder's cost. Per field: a zero check, the key as literal bytes, then the
 * varint with literal stores below 2^21 and a loop above; 4- and 16-byte addresses copied
 * unrolled. Unusual inputs (non-integer times, values >= 2^64, odd address lengths, long or
 * non-ASCII strings, repeated fields) call the general helpers, which give the same bytes.
 */
/** Helpers the generated writers call for unusual values. */
export const FLOWPB_HELPERS = { wVarint32, wVarint64, wVarintNs, wBytes, wString, wStringSlow, wPacked, clampCount, varint32Size };

const writeBody = new Function(
  'H',
  `return function writeBody(b, p, r) {
  var v, u, hi, lo, sec, ns, a, s, n, i, c;${FLOWPB_FIELDS.map((f) => flowpbFieldCode(f)).join('')}
  return p;
};`,
)(FLOWPB_HELPERS) as BodyWriter;

/** Appends one FlowMessage (no length prefix) to `w`. */
export function writeFlowMessage(w: ByteWriter, rec: FlowRecord): void {
  w.ensure(sizeBound(rec));
  w.pos = writeBody(w.buf, w.pos, rec);
}

/**
 * Size of the length prefix the last delimited message needed (1 below 128 bytes, 2 below
 * 16 KiB). The next body is written after a gap of that size, so the body is moved only when a
 * message's size class differs from its predecessor's: records of one template are of similar
 * size, and most FlowMessages are just under or just over 127 bytes. Only a hint: the output
 * is the same whatever it holds.
 */
let prefixGuess = 2;

/**
 * Appends varint(length) + FlowMessage to `w`: the body is written after a gap of
 * `prefixGuess` bytes, then moved if the minimal length prefix turns out to be another size.
 */
export function writeFlowMessageDelimited(w: ByteWriter, rec: FlowRecord): void {
  w.ensure(sizeBound(rec) + 5);
  const b = w.buf;
  const start = w.pos;
  const gap = prefixGuess;
  const body = start + gap;
  const end = writeBody(b, body, rec);
  const len = end - body;
  const ps = len < 128 ? 1 : len < 16384 ? 2 : varint32Size(len);
  if (ps !== gap) {
    b.copyWithin(start + ps, body, end);
    prefixGuess = ps;
  }
  if (ps === 1) {
    b[start] = len;
  } else if (ps === 2) {
    b[start] = len | 128;
    b[start + 1] = len >>> 7;
  } else {
    wVarint32(b, start, len);
  }
  w.pos = start + ps + len;
}

/**
 * Encodes records into one reusable buffer. The returned views alias that buffer and are valid
 * only until the next call: publish or copy them before encoding the next record.
 */
export class FlowPbEncoder {
  readonly writer: ByteWriter;

  constructor(initialCapacity = 2048) {
    this.writer = new ByteWriter(initialCapacity);
  }

  /** One FlowMessage. */
  encode(rec: FlowRecord): Uint8Array {
    const w = this.writer;
    w.pos = 0;
    writeFlowMessage(w, rec);
    return w.buf.subarray(0, w.pos);
  }

  /** varint(length) + FlowMessage (one frame of the length-delimited stream form). */
  encodeDelimited(rec: FlowRecord): Uint8Array {
    const w = this.writer;
    w.pos = 0;
    writeFlowMessageDelimited(w, rec);
    return w.buf.subarray(0, w.pos);
  }
}

/**
 * Batches records in the length-delimited stream form (varint(length) + FlowMessage, repeated;
 * the same framing as Java's writeDelimitedTo / Go's protodelim). `finish()` hands out a view of
 * the batch and resets; the view is valid until the next `append`.
 */
export class DelimitedBatchWriter extends RecordBatchWriter<FlowRecord> {
  constructor(initialCapacity = 64 * 1024) {
    super(initialCapacity);
  }

  protected write(w: ByteWriter, rec: FlowRecord): void {
    writeFlowMessageDelimited(w, rec);
  }
}

/**
 * The end of the length-delimited frame at `p` (its varint length, then the message): -1 when
 * the length prefix is malformed (over 5 bytes, or cut off by the end of `buf`), -2 when the
 * message runs past the end of `buf`.
 */
export function delimitedFrameEnd(buf: Uint8Array, p: number): number {
  let len = 0;
  let shift = 0;
  for (;;) {
    if (p >= buf.length || shift > 28) return -1;
    const c = buf[p++]!;
    len += (c & 127) * 2 ** shift;
    if (c < 128) break;
    shift += 7;
  }
  return p + len > buf.length ? -2 : p + len;
}

/** Where the message of the frame at `p` starts: past its length prefix. */
export function delimitedMessageStart(buf: Uint8Array, p: number): number {
  while (p < buf.length && buf[p++]! >= 128);
  return p;
}

/**
 * Splits a length-delimited stream into message views (no copies). Throws on a truncated or
 * malformed frame.
 */
export function splitDelimited(buf: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let p = 0;
  while (p < buf.length) {
    const e = delimitedFrameEnd(buf, p);
    if (e === -1) throw new Error('malformed length prefix');
    if (e === -2) throw new Error('truncated delimited message');
    out.push(buf.subarray(delimitedMessageStart(buf, p), e));
    p = e;
  }
  return out;
}
