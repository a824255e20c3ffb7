/**
 * Raw packet header walker, shared by sFlow "sampled header" records (flow record 0:1) and the
 * sampled-packet sections of NetFlow v9 / IPFIX records (`layer2packetSection` 104,
 * `dataLinkFrameSection` 315, `ipHeaderPacketSection` 313; compile.ts calls it).
 *
 * Walks Ethernet -> 802.1Q/802.1ad tags -> MPLS label stack (-> pseudowire control word ->
 * Ethernet) -> IPv4 / IPv6 (with extension headers) -> TCP / UDP / ICMP / ICMPv6 and fills the
 * fields of a reused FlowRecord. It reads straight from the datagram buffer (manual big-endian
 * reads), never reads outside [off, off + len), never allocates on the common path, never throws,
 * and stops quietly where the header was cut: whatever lies before the cut is decoded, the rest
 * is left as it was. It writes every field it finds; a caller that owns some of them already
 * (a NetFlow / IPFIX template's own elements) saves and restores those around the walk, so the
 * sFlow path pays nothing for that.
 */
import { LayerStack, MAX_REPEATED, type FlowRecord } from './record.js';
import { protocolName } from './registry/mod.js';

/** sFlow header_protocol values (sFlow v5 spec, "sampled_header"). */
export const HeaderProtocol = {
  ETHERNET_ISO88023: 1,
  IPV4: 11,
  IPV6: 12,
  MPLS: 13,
} as const;

/** Outcome of a walk, for counting by the caller. */
export const WalkResult = {
  /** Walked down to the transport header (or to a protocol we do not descend into). */
  ok: 0,
  /** The header ended before the walk did; fields up to the cut are set. */
  truncated: 1,
  /** header_protocol (or IP version) we do not decode (token ring, FDDI, ...): nothing set. */
  unsupported: 2,
} as const;
export type WalkResultCode = (typeof WalkResult)[keyof typeof WalkResult];

const ETYPE_IPV4 = 0x0800;
const ETYPE_IPV6 = 0x86dd;
const ETYPE_VLAN = 0x8100;
const ETYPE_QINQ = 0x88a8;
const ETYPE_QINQ_OLD = 0x9100;
const ETYPE_MPLS_UC = 0x8847;
const ETYPE_MPLS_MC = 0x8848;

/** Bounded walk: at most this many VLAN tags and IPv6 extension headers are followed. */
const MAX_VLAN_TAGS = 8;
const MAX_EXT_HEADERS = 16;

function pushLayer(rec: FlowRecord, layer: number, size: number): void {
  const i = rec.layerCount;
  if (i < MAX_REPEATED) {
    rec.layerStack[i] = layer;
    rec.layerSize[i] = size;
    rec.layerCount = i + 1;
  }
}

/** Adds `size` bytes to the last layer (headers without a LayerStack value of their own). */
function growLastLayer(rec: FlowRecord, size: number): void {
  const i = rec.layerCount - 1;
  if (i >= 0) rec.layerSize[i] = rec.layerSize[i]! + size;
}

function mac48(b: Uint8Array, o: number): number {
  return (((b[o]! << 8) | b[o + 1]!) * 4294967296) + (((b[o + 2]! << 24) | (b[o + 3]! << 16) | (b[o + 4]! << 8) | b[o + 5]!) >>> 0);
}

/**
 * Decodes the sampled header `buf[off, off+len)` of sFlow header_protocol `proto` into `rec`.
 * Returns a WalkResult code; never throws.
 */
export function walkHeader(buf: Uint8Array, off: number, len: number, proto: number, rec: FlowRecord): WalkResultCode {
  const end = off + len;
  switch (proto) {
    case HeaderProtocol.ETHERNET_ISO88023:
      return walkEthernet(buf, off, end, rec, false);
    case HeaderProtocol.IPV4:
      rec.etype = ETYPE_IPV4;
      return walkIPv4(buf, off, end, rec);
    case HeaderProtocol.IPV6:
      rec.etype = ETYPE_IPV6;
      return walkIPv6(buf, off, end, rec);
    case HeaderProtocol.MPLS:
      return walkMpls(buf, off, end, rec, false);
    default:
      return WalkResult.unsupported;
  }
}

/**
 * Decodes an IP packet that starts at `off` (IPFIX `ipHeaderPacketSection`): IPv4 or IPv6 by the
 * version nibble; any other version is `unsupported` and sets nothing.
 */
export function walkIpPacket(buf: Uint8Array, off: number, len: number, rec: FlowRecord): WalkResultCode {
  if (len < 1) return WalkResult.truncated;
  const v = buf[off]! >> 4;
  if (v === 4) return walkHeader(buf, off, len, HeaderProtocol.IPV4, rec);
  if (v === 6) return walkHeader(buf, off, len, HeaderProtocol.IPV6, rec);
  return WalkResult.unsupported;
}

/** `inPw`: the frame is a pseudowire's payload (a second pseudowire inside it is not followed). */
function walkEthernet(b: Uint8Array, o: number, end: number, rec: FlowRecord, inPw: boolean): WalkResultCode {
  if (end - o < 14) return WalkResult.truncated;
  rec.dstMac = mac48(b, o);
  rec.srcMac = mac48(b, o + 6);
  let etype = (b[o + 12]! << 8) | b[o + 13]!;
  pushLayer(rec, LayerStack.Ethernet, 14);
  o += 14;
  let tags = 0;
  while ((etype === ETYPE_VLAN || etype === ETYPE_QINQ || etype === ETYPE_QINQ_OLD) && tags < MAX_VLAN_TAGS) {
    if (end - o < 4) {
      rec.etype = etype;
      return WalkResult.truncated;
    }
    // The innermost tag wins (as goflow2 ends up doing for stacked tags); VID only, no PCP/DEI.
    rec.vlanId = ((b[o]! << 8) | b[o + 1]!) & 0x0fff;
    etype = (b[o + 2]! << 8) | b[o + 3]!;
    pushLayer(rec, LayerStack.Dot1Q, 4);
    o += 4;
    tags++;
  }
  if (etype < 0x0600) {
    // 802.3 length field (LLC/SNAP frame): no EtherType to report, nothing more to decode.
    return WalkResult.ok;
  }
  rec.etype = etype;
  return walkEtype(b, o, end, etype, rec, inPw);
}

function walkEtype(b: Uint8Array, o: number, end: number, etype: number, rec: FlowRecord, inPw: boolean): WalkResultCode {
  switch (etype) {
    case ETYPE_IPV4:
      return walkIPv4(b, o, end, rec);
    case ETYPE_IPV6:
      return walkIPv6(b, o, end, rec);
    case ETYPE_MPLS_UC:
    case ETYPE_MPLS_MC:
      return walkMpls(b, o, end, rec, inPw);
    default:
      return WalkResult.ok;
  }
}

/**
 * MPLS label stack, then the payload, which has no type field of its own. As Wireshark does by
 * default, the first nibble after the bottom-of-stack entry decides: 4 IPv4, 6 IPv6, 0 the
 * pseudowire control word (RFC 4385) followed by an Ethernet frame (Ethernet over MPLS,
 * RFC 4448); anything else (1 = associated channel, RFC 4385; Ethernet without a control word,
 * which cannot be told apart reliably) ends the walk after the labels.
 */
function walkMpls(b: Uint8Array, o: number, end: number, rec: FlowRecord, inPw: boolean): WalkResultCode {
  const start = o;
  let bottom = false;
  while (!bottom) {
    if (end - o < 4) {
      if (o > start) pushLayer(rec, LayerStack.MPLS, o - start);
      return WalkResult.truncated;
    }
    const label = (b[o]! << 12) | (b[o + 1]! << 4) | (b[o + 2]! >> 4);
    bottom = (b[o + 2]! & 1) === 1;
    const n = rec.mplsCount;
    if (n < MAX_REPEATED) {
      rec.mplsLabel[n] = label;
      rec.mplsTtl[n] = b[o + 3]!;
      rec.mplsCount = n + 1;
    }
    o += 4;
  }
  pushLayer(rec, LayerStack.MPLS, o - start);
  if (o >= end) return WalkResult.truncated;
  const v = b[o]! >> 4;
  if (v === 4) {
    rec.etype = ETYPE_IPV4;
    return walkIPv4(b, o, end, rec);
  }
  if (v === 6) {
    rec.etype = ETYPE_IPV6;
    return walkIPv6(b, o, end, rec);
  }
  if (v === 0 && !inPw) {
    // The 4-byte control word counts towards the MPLS layer, so layer sizes still add up.
    if (end - o < 4) return WalkResult.truncated;
    growLastLayer(rec, 4);
    return walkEthernet(b, o + 4, end, rec, true);
  }
  return WalkResult.ok;
}

function setAddr4(dst: Uint8Array, b: Uint8Array, o: number): void {
  dst[0] = b[o]!;
  dst[1] = b[o + 1]!;
  dst[2] = b[o + 2]!;
  dst[3] = b[o + 3]!;
}

function setAddr16(dst: Uint8Array, b: Uint8Array, o: number): void {
  for (let i = 0; i < 16; i++) dst[i] = b[o + i]!;
}

function walkIPv4(b: Uint8Array, o: number, end: number, rec: FlowRecord): WalkResultCode {
  if (end - o < 20) return WalkResult.truncated;
  const ihl = (b[o]! & 0x0f) * 4;
  rec.ipTos = b[o + 1]!;
  rec.fragmentId = (b[o + 4]! << 8) | b[o + 5]!;
  const ff = (b[o + 6]! << 8) | b[o + 7]!;
  rec.ipFlags = ff >> 13;
  rec.fragmentOffset = ff & 0x1fff;
  rec.ipTtl = b[o + 8]!;
  const proto = b[o + 9]!;
  rec.proto = proto;
  rec.protocolName = protocolName(proto);
  setAddr4(rec.srcAddr, b, o + 12);
  rec.srcAddrLen = 4;
  setAddr4(rec.dstAddr, b, o + 16);
  rec.dstAddrLen = 4;
  const hlen = ihl < 20 ? 20 : ihl;
  pushLayer(rec, LayerStack.IPv4, hlen);
  if (end - o < hlen) return WalkResult.truncated;
  // Only the first fragment carries the transport header.
  if ((ff & 0x1fff) !== 0) return WalkResult.ok;
  return walkTransport(b, o + hlen, end, proto, rec);
}

function walkIPv6(b: Uint8Array, o: number, end: number, rec: FlowRecord): WalkResultCode {
  if (end - o < 40) return WalkResult.truncated;
  const w = ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  rec.ipTos = (w >>> 20) & 0xff;
  rec.ipv6FlowLabel = w & 0xfffff;
  let nh = b[o + 6]!;
  rec.ipTtl = b[o + 7]!;
  setAddr16(rec.srcAddr, b, o + 8);
  rec.srcAddrLen = 16;
  setAddr16(rec.dstAddr, b, o + 24);
  rec.dstAddrLen = 16;
  rec.proto = nh;
  rec.protocolName = protocolName(nh);
  pushLayer(rec, LayerStack.IPv6, 40);
  o += 40;
  for (let i = 0; i < MAX_EXT_HEADERS; i++) {
    switch (nh) {
      case 0: // hop-by-hop options
      case 60: // destination options
      case 135: // mobility
      case 139: // HIP
      case 140: { // shim6
        if (end - o < 2) return WalkResult.truncated;
        const size = (b[o + 1]! + 1) * 8;
        nh = b[o]!;
        growLastLayer(rec, size);
        o += size;
        break;
      }
      case 51: { // authentication header: length in 4-octet units minus 2
        if (end - o < 2) return WalkResult.truncated;
        const size = (b[o + 1]! + 2) * 4;
        nh = b[o]!;
        growLastLayer(rec, size);
        o += size;
        break;
      }
      case 43: { // routing
        if (end - o < 8) return WalkResult.truncated;
        const size = (b[o + 1]! + 1) * 8;
        const type = b[o + 2]!;
        rec.ipv6RoutingHeaderSegLeft = b[o + 3]!;
        if (type === 4) readSegmentList(b, o, size, end, rec);
        nh = b[o]!;
        pushLayer(rec, LayerStack.IPv6HeaderRouting, size);
        o += size;
        break;
      }
      case 44: { // fragment
        if (end - o < 8) return WalkResult.truncated;
        nh = b[o]!;
        const fo = (b[o + 2]! << 8) | b[o + 3]!;
        rec.fragmentOffset = fo >> 3;
        rec.ipFlags = fo & 7;
        rec.fragmentId = ((b[o + 4]! << 24) | (b[o + 5]! << 16) | (b[o + 6]! << 8) | b[o + 7]!) >>> 0;
        pushLayer(rec, LayerStack.IPv6HeaderFragment, 8);
        o += 8;
        if ((fo >> 3) !== 0) {
          rec.proto = nh;
          rec.protocolName = protocolName(nh);
          return WalkResult.ok;
        }
        break;
      }
      default:
        rec.proto = nh;
        rec.protocolName = protocolName(nh);
        if (o > end) return WalkResult.truncated;
        return walkTransport(b, o, end, nh, rec);
    }
    rec.proto = nh;
    rec.protocolName = protocolName(nh);
    if (o > end) return WalkResult.truncated;
  }
  return WalkResult.ok;
}

/** SRv6 segment routing header (routing type 4): the segment list, slow path (allocates once). */
function readSegmentList(b: Uint8Array, o: number, size: number, end: number, rec: FlowRecord): void {
  const lastEntry = b[o + 4]!;
  let p = o + 8;
  let n = 0;
  const stop = Math.min(o + size, end);
  while (p + 16 <= stop && n <= lastEntry && n < MAX_REPEATED) {
    let a = rec.ipv6RoutingHeaderAddresses[n];
    if (a === undefined) {
      a = new Uint8Array(16);
      rec.ipv6RoutingHeaderAddresses[n] = a;
    }
    setAddr16(a, b, p);
    n++;
    p += 16;
  }
  rec.ipv6RoutingHeaderAddressesCount = n;
}

function walkTransport(b: Uint8Array, o: number, end: number, proto: number, rec: FlowRecord): WalkResultCode {
  const avail = end - o;
  switch (proto) {
    case 6: { // TCP
      if (avail < 4) return WalkResult.truncated;
      rec.srcPort = (b[o]! << 8) | b[o + 1]!;
      rec.dstPort = (b[o + 2]! << 8) | b[o + 3]!;
      if (avail < 14) {
        pushLayer(rec, LayerStack.TCP, 20);
        return WalkResult.truncated;
      }
      rec.tcpFlags = b[o + 13]!;
      const doff = (b[o + 12]! >> 4) * 4;
      const size = doff < 20 ? 20 : doff;
      pushLayer(rec, LayerStack.TCP, size);
      return avail < size ? WalkResult.truncated : WalkResult.ok;
    }
    case 17: { // UDP
      if (avail < 4) return WalkResult.truncated;
      rec.srcPort = (b[o]! << 8) | b[o + 1]!;
      rec.dstPort = (b[o + 2]! << 8) | b[o + 3]!;
      pushLayer(rec, LayerStack.UDP, 8);
      return avail < 8 ? WalkResult.truncated : WalkResult.ok;
    }
    case 1: // ICMP
    case 58: { // ICMPv6
      if (avail < 2) return WalkResult.truncated;
      rec.icmpType = b[o]!;
      rec.icmpCode = b[o + 1]!;
      pushLayer(rec, proto === 1 ? LayerStack.ICMP : LayerStack.ICMPv6, 8);
      return avail < 4 ? WalkResult.truncated : WalkResult.ok;
    }
    default:
      return WalkResult.ok;
  }
}

/**
 * Length of the IP packet a walk of `buf[off, off+len)` found (IPv4 total length; IPv6 40 +
 * payload length), from the layers it recorded in `rec`; 0 when there is none, when it was cut
 * before the length field, or for an IPv6 jumbogram (payload length 0, RFC 2675).
 */
export function ipPacketLength(buf: Uint8Array, off: number, len: number, rec: FlowRecord): number {
  let o = off;
  const n = rec.layerCount;
  for (let i = 0; i < n; i++) {
    const layer = rec.layerStack[i]!;
    if (layer === LayerStack.IPv4 || layer === LayerStack.IPv6) {
      if (o + 6 > off + len) return 0;
      const v = (buf[o + 2]! << 8) | buf[o + 3]!;
      if (layer === LayerStack.IPv4) return v;
      const plen = (buf[o + 4]! << 8) | buf[o + 5]!;
      return plen === 0 ? 0 : 40 + plen;
    }
    o += rec.layerSize[i]!;
  }
  return 0;
}
