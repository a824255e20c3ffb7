/**
 * Capture writing: classic pcap files and the frames to put in them (Ethernet or raw IP,
 * IPv4/IPv6, UDP/TCP/ICMP) with correct lengths and checksums. Used to generate traffic for real
 * exporters (softflowd, pmacctd) and to wrap export payloads for tshark.
 */

import { parseAddress } from './addr.js';
import { LINKTYPE_ETHERNET } from './reader.js';

export interface PcapFrame {
  /** Link-layer frame bytes as they go on the wire. */
  data: Uint8Array;
  tsSec?: number;
  /** Fraction of a second: microseconds, or nanoseconds when the file is written `nanosecond`. */
  tsFrac?: number;
  /** Length on the wire when larger than `data` (a snaplen cut); defaults to data.length. */
  origLen?: number;
}

export interface WritePcapOptions {
  /** Link type of every frame: 1 Ethernet (default), 101 raw IP, 113 SLL... */
  linkType?: number;
  snaplen?: number;
  /** Write the nanosecond-resolution magic; tsFrac is then in ns. */
  nanosecond?: boolean;
  /** Byte order of headers; default little endian (what libpcap writes on x86). */
  bigEndian?: boolean;
}

/** Builds a classic pcap file. Frames without timestamps get 1 s, 2 s, ... so order is visible. */
export function writePcap(frames: ReadonlyArray<PcapFrame | Uint8Array>, options: WritePcapOptions = {}): Buffer {
  const be = options.bigEndian === true;
  let size = 24;
  for (const f of frames) size += 16 + (f instanceof Uint8Array ? f : f.data).length;
  const out = Buffer.alloc(size);
  const w32 = be ? (v: number, o: number) => out.writeUInt32BE(v >>> 0, o) : (v: number, o: number) => out.writeUInt32LE(v >>> 0, o);
  const w16 = be ? (v: number, o: number) => out.writeUInt16BE(v, o) : (v: number, o: number) => out.writeUInt16LE(v, o);
  w32(options.nanosecond ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  w16(2, 4);
  w16(4, 6);
  w32(0, 8); // thiszone
  w32(0, 12); // sigfigs
  w32(options.snaplen ?? 262144, 16);
  w32(options.linkType ?? LINKTYPE_ETHERNET, 20);
  let off = 24;
  frames.forEach((f, i) => {
    const fr: PcapFrame = f instanceof Uint8Array ? { data: f } : f;
    w32(fr.tsSec ?? i + 1, off);
    w32(fr.tsFrac ?? 0, off + 4);
    w32(fr.data.length, off + 8);
    w32(Math.max(fr.origLen ?? fr.data.length, fr.data.length), off + 12);
    out.set(fr.data, off + 16);
    off += 16 + fr.data.length;
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Checksums

/** Ones'-complement sum of 16-bit big-endian words (odd trailing byte padded), not folded. */
function sum16(b: Uint8Array, start: number, end: number, acc = 0): number {
  let s = acc;
  let i = start;
  for (; i + 1 < end; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (i < end) s += b[i]! << 8;
  return s;
}

function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** RFC 1071 Internet checksum of a byte range. */
export function internetChecksum(b: Uint8Array, start = 0, end = b.length): number {
  return ~fold(sum16(b, start, end)) & 0xffff;
}

// ---------------------------------------------------------------------------------------------
// Frame building

export interface Ipv6ExtensionHeader {
  /** Header type: 0 hop-by-hop, 43 routing, 60 destination options, 44 fragment, 51 AH. */
  type: number;
  /**
   * Bytes after the next-header and length octets. Padded with zeros (Pad1 options) up to the
   * header's unit size; for a fragment header, the 6 bytes of offset/flags and identification.
   */
  data?: Uint8Array;
}

export interface FrameOptions {
  srcAddr: string;
  dstAddr: string;
  /** 'ethernet' (default) or 'raw' (the IP packet alone, for LINKTYPE_RAW). */
  link?: 'ethernet' | 'raw';
  srcMac?: string;
  dstMac?: string;
  /** 802.1Q tags, outermost first (a second tag makes QinQ; the outer one uses TPID 0x88a8). */
  vlan?: number | number[];
  ttl?: number;
  /** IPv4 TOS / IPv6 traffic class. */
  tos?: number;
  /** IPv4 identification. */
  ipId?: number;
  /** IPv4 options (padded to 4 bytes), to exercise IHL > 5. */
  ipv4Options?: Uint8Array;
  /** IPv4 fragment offset in 8-byte units. */
  fragmentOffset?: number;
  moreFragments?: boolean;
  dontFragment?: boolean;
  /** IPv6 extension headers between the fixed header and the transport header, in order. */
  ipv6ExtensionHeaders?: Ipv6ExtensionHeader[];
  flowLabel?: number;
  /** Leave the transport checksum zero instead of computing it (UDP over IPv4 only). */
  noTransportChecksum?: boolean;
}

export interface UdpFrameOptions extends FrameOptions {
  srcPort: number;
  dstPort: number;
  payload?: Uint8Array;
}

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

export interface TcpFrameOptions extends FrameOptions {
  srcPort: number;
  dstPort: number;
  /** A bit mask (TCP_SYN | TCP_ACK) or letters from "FSRPAUEC" ("SA" = SYN+ACK). */
  flags?: number | string;
  seq?: number;
  ack?: number;
  window?: number;
  payload?: Uint8Array;
}

export interface IcmpFrameOptions extends FrameOptions {
  /** ICMP type (ICMPv6 type for IPv6 addresses): 8/128 echo request by default. */
  type?: number;
  code?: number;
  /** Identifier and sequence of echo messages (the 4 "rest of header" bytes otherwise). */
  id?: number;
  seq?: number;
  payload?: Uint8Array;
}

/** Parses "SA", "FPU"... into a TCP flag mask. */
export function tcpFlagMask(flags: number | string): number {
  if (typeof flags === 'number') return flags & 0xff;
  const letters = 'FSRPAUEC';
  let m = 0;
  for (const ch of flags.toUpperCase()) {
    const bit = letters.indexOf(ch);
    if (bit < 0) throw new Error(`unknown TCP flag letter "${ch}" in "${flags}"`);
    m |= 1 << bit;
  }
  return m;
}

export function udpFrame(o: UdpFrameOptions): Buffer {
  const payload = o.payload ?? new Uint8Array(0);
  const seg = Buffer.alloc(8 + payload.length);
  seg.writeUInt16BE(o.srcPort, 0);
  seg.writeUInt16BE(o.dstPort, 2);
  if (seg.length > 0xffff) throw new Error(`UDP datagram too large (${seg.length} bytes)`);
  seg.writeUInt16BE(seg.length, 4);
  seg.set(payload, 8);
  return ipFrame(o, 17, seg, 6);
}

export function tcpFrame(o: TcpFrameOptions): Buffer {
  const payload = o.payload ?? new Uint8Array(0);
  const seg = Buffer.alloc(20 + payload.length);
  seg.writeUInt16BE(o.srcPort, 0);
  seg.writeUInt16BE(o.dstPort, 2);
  seg.writeUInt32BE((o.seq ?? 1) >>> 0, 4);
  seg.writeUInt32BE((o.ack ?? 0) >>> 0, 8);
  seg[12] = 5 << 4; // data offset: 5 words, no options
  seg[13] = tcpFlagMask(o.flags ?? TCP_ACK);
  seg.writeUInt16BE(o.window ?? 65535, 14);
  seg.set(payload, 20);
  return ipFrame(o, 6, seg, 16);
}

export function icmpFrame(o: IcmpFrameOptions): Buffer {
  const v6 = parseAddress(o.srcAddr).length === 16;
  const payload = o.payload ?? new Uint8Array(0);
  const seg = Buffer.alloc(8 + payload.length);
  seg[0] = o.type ?? (v6 ? 128 : 8);
  seg[1] = o.code ?? 0;
  seg.writeUInt16BE(o.id ?? 1, 4);
  seg.writeUInt16BE(o.seq ?? 1, 6);
  seg.set(payload, 8);
  if (v6) return ipFrame(o, 58, seg, 2);
  // ICMPv4's checksum covers the message only, no pseudo header.
  seg.writeUInt16BE(internetChecksum(seg), 2);
  return ipFrame(o, 1, seg, -1);
}

/**
 * Wraps a transport segment in IP (and Ethernet unless `link: 'raw'`). `csumAt` is the offset of
 * the transport checksum to fill using the pseudo header, or -1 when already done.
 */
function ipFrame(o: FrameOptions, proto: number, seg: Buffer, csumAt: number): Buffer {
  const src = parseAddress(o.srcAddr);
  const dst = parseAddress(o.dstAddr);
  if (src.length !== dst.length) throw new Error(`address families differ: ${o.srcAddr} / ${o.dstAddr}`);
  const v6 = src.length === 16;

  if (csumAt >= 0 && !(o.noTransportChecksum && proto === 17 && !v6)) {
    // Pseudo header: addresses, protocol, transport length.
    let s = sum16(src, 0, src.length);
    s = sum16(dst, 0, dst.length, s);
    s += proto + (seg.length & 0xffff) + Math.floor(seg.length / 0x10000);
    s = sum16(seg, 0, seg.length, s);
    let c = ~fold(s) & 0xffff;
    if (c === 0 && proto === 17) c = 0xffff; // 0 means "no checksum" for UDP
    seg.writeUInt16BE(c, csumAt);
  }

  let ip: Buffer;
  if (!v6) {
    const opts = o.ipv4Options ?? new Uint8Array(0);
    const optLen = (opts.length + 3) & ~3;
    const hlen = 20 + optLen;
    if (hlen > 60) throw new Error('IPv4 options longer than 40 bytes');
    const total = hlen + seg.length;
    if (total > 0xffff) throw new Error(`IPv4 packet too large (${total} bytes)`);
    ip = Buffer.alloc(total);
    ip[0] = 0x40 | (hlen / 4);
    ip[1] = o.tos ?? 0;
    ip.writeUInt16BE(total, 2);
    ip.writeUInt16BE((o.ipId ?? 1) & 0xffff, 4);
    const frag = ((o.fragmentOffset ?? 0) & 0x1fff) | (o.moreFragments ? 0x2000 : 0) | (o.dontFragment ? 0x4000 : 0);
    ip.writeUInt16BE(frag, 6);
    ip[8] = o.ttl ?? 64;
    ip[9] = proto;
    src.copy(ip, 12);
    dst.copy(ip, 16);
    ip.set(opts, 20);
    ip.writeUInt16BE(internetChecksum(ip, 0, hlen), 10);
    seg.copy(ip, hlen);
  } else {
    const exts = (o.ipv6ExtensionHeaders ?? []).map((h) => encodeExtension(h));
    const extLen = exts.reduce((n, e) => n + e.length, 0);
    const payloadLen = extLen + seg.length;
    if (payloadLen > 0xffff) throw new Error(`IPv6 payload too large (${payloadLen} bytes)`);
    ip = Buffer.alloc(40 + payloadLen);
    ip.writeUInt32BE(((6 << 28) | ((o.tos ?? 0) << 20) | ((o.flowLabel ?? 0) & 0xfffff)) >>> 0, 0);
    ip.writeUInt16BE(payloadLen, 4);
    const types = (o.ipv6ExtensionHeaders ?? []).map((h) => h.type);
    ip[6] = types.length > 0 ? types[0]! : proto;
    ip[7] = o.ttl ?? 64;
    src.copy(ip, 8);
    dst.copy(ip, 24);
    let p = 40;
    exts.forEach((e, i) => {
      e[0] = i + 1 < types.length ? types[i + 1]! : proto;
      e.copy(ip, p);
      p += e.length;
    });
    seg.copy(ip, p);
  }

  if (o.link === 'raw') return ip;
  const tags = o.vlan === undefined ? [] : Array.isArray(o.vlan) ? o.vlan : [o.vlan];
  const frame = Buffer.alloc(14 + 4 * tags.length + ip.length);
  parseMac(o.dstMac ?? '02:00:00:00:00:02').copy(frame, 0);
  parseMac(o.srcMac ?? '02:00:00:00:00:01').copy(frame, 6);
  let p = 12;
  tags.forEach((tag, i) => {
    frame.writeUInt16BE(i === 0 && tags.length > 1 ? 0x88a8 : 0x8100, p);
    frame.writeUInt16BE(tag & 0x0fff, p + 2);
    p += 4;
  });
  frame.writeUInt16BE(v6 ? 0x86dd : 0x0800, p);
  ip.copy(frame, p + 2);
  return frame;
}

function encodeExtension(h: Ipv6ExtensionHeader): Buffer {
  const data = h.data ?? new Uint8Array(0);
  if (h.type === 44) {
    const e = Buffer.alloc(8);
    e.set(data.subarray(0, 6), 2);
    return e;
  }
  if (h.type === 51) {
    // AH: length in 4-byte units minus 2, total a multiple of 8 for IPv6.
    const total = Math.max(16, (2 + data.length + 7) & ~7);
    const e = Buffer.alloc(total);
    e[1] = total / 4 - 2;
    e.set(data, 2);
    return e;
  }
  const total = Math.max(8, (2 + data.length + 7) & ~7);
  if (total > 2048) throw new Error('IPv6 extension header too long');
  const e = Buffer.alloc(total);
  e[1] = total / 8 - 1;
  e.set(data, 2);
  return e;
}

function parseMac(mac: string): Buffer {
  const parts = mac.split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) throw new Error(`invalid MAC address: ${mac}`);
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

export interface WrapOptions {
  srcAddr: string;
  dstAddr: string;
  srcPort: number;
  dstPort: number;
  /** Timestamp of the first frame (seconds); the rest follow 1 ms apart. Default 1. */
  startSec?: number;
}

/** One Ethernet/IP/UDP frame per payload, in order, as a classic pcap file. */
export function wrapPayloadsAsPcap(payloads: ReadonlyArray<Uint8Array>, o: WrapOptions): Buffer {
  const start = o.startSec ?? 1;
  const frames: PcapFrame[] = payloads.map((payload, i) => ({
    data: udpFrame({ srcAddr: o.srcAddr, dstAddr: o.dstAddr, srcPort: o.srcPort, dstPort: o.dstPort, payload, ipId: i + 1 }),
    tsSec: start + Math.floor(i / 1000),
    tsFrac: (i % 1000) * 1000,
  }));
  return writePcap(frames, { linkType: LINKTYPE_ETHERNET });
}


