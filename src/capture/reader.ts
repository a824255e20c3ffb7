/**
 * Capture file reader: classic pcap and pcapng, parsed from a whole in-memory Buffer into the
 * UDP datagrams they carry. Payloads are views (`subarray`) into the input buffer, never copies.
 *
 * The reader never loops without advancing: every record or block consumes at least its fixed
 * header, and lengths are checked against the bytes that remain before they are used.
 */

import { formatIPv4, formatIPv6 } from './addr.js';

/** One UDP datagram found in a capture. */
export interface UdpDatagram {
  /** UDP payload: a view into the capture buffer (no copy). */
  payload: Buffer;
  srcAddr: string;
  dstAddr: string;
  srcPort: number;
  dstPort: number;
  /** Capture timestamp, seconds since the epoch (0 when the format carries none, e.g. pcapng SPB). */
  tsSec: number;
  /** Nanoseconds within `tsSec` (0..999,999,999). */
  tsNsec: number;
  /** 0-based position of the frame among all packet records of the file (tshark's frame.number - 1). */
  index: number;
}

/** Why a frame did not yield a datagram. */
export type SkipReason =
  /** Link layer carries something other than IPv4/IPv6 (ARP, LLC, MPLS...). */
  | 'nonIp'
  /** IP packet whose transport is not UDP (TCP, ICMP, ESP, no-next-header...). */
  | 'nonUdp'
  /** IP fragment: non-first fragments, and first fragments whose datagram is incomplete. */
  | 'fragment'
  /** Frame captured shorter than its headers or declared lengths (snaplen cut). */
  | 'truncated'
  /** Headers that cannot be right: IP version mismatch, IHL < 5, UDP length < 8... */
  | 'malformed'
  /** Interface link type the reader does not decode. */
  | 'unsupportedLinkType'
  /** The last record or block of the file is cut short; reading stopped there. */
  | 'truncatedRecord';

export const SKIP_REASONS: readonly SkipReason[] = [
  'nonIp',
  'nonUdp',
  'fragment',
  'truncated',
  'malformed',
  'unsupportedLinkType',
  'truncatedRecord',
];

export type CaptureFormat = 'pcap' | 'pcapng';

export interface CaptureReadResult {
  format: CaptureFormat;
  datagrams: UdpDatagram[];
  /** Packet records seen (every EPB/SPB/PB or pcap record, decoded or not). */
  frames: number;
  /** Frames that yielded no datagram, by reason; every reason is present (0 when none). */
  skipped: Record<SkipReason, number>;
}

export interface ReadCaptureOptions {
  /** Used in error messages only. */
  fileName?: string;
}

/** A capture file that cannot be read: names the byte offset where it went wrong and why. */
export class CaptureFormatError extends Error {
  override readonly name = 'CaptureFormatError';
  constructor(
    readonly reason: string,
    readonly offset: number,
    readonly fileName?: string,
  ) {
    super(`${fileName ?? 'capture'}: at offset ${offset}: ${reason}`);
  }
}

// Link-layer types (LINKTYPE_* values as stored in files).
export const LINKTYPE_NULL = 0;
export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW_12 = 12;
export const LINKTYPE_RAW_14 = 14;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LOOP = 108;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;
export const LINKTYPE_LINUX_SLL2 = 276;

const PCAP_MAGIC_US = 0xa1b2c3d4;
const PCAP_MAGIC_NS = 0xa1b23c4d;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BOM = 0x1a2b3c4d;

/** Largest record/block we accept as plausible; anything larger is corruption, not data. */
const MAX_RECORD = 0x4000000; // 64 MiB

/** Recognises a capture by its first bytes; null when it is neither pcap nor pcapng. */
export function detectCaptureFormat(buf: Uint8Array): CaptureFormat | null {
  if (buf.length < 4) return null;
  const be = ((buf[0]! << 24) | (buf[1]! << 16) | (buf[2]! << 8) | buf[3]!) >>> 0;
  const le = ((buf[3]! << 24) | (buf[2]! << 16) | (buf[1]! << 8) | buf[0]!) >>> 0;
  if (be === PCAP_MAGIC_US || be === PCAP_MAGIC_NS || le === PCAP_MAGIC_US || le === PCAP_MAGIC_NS) {
    return 'pcap';
  }
  if (be === PCAPNG_SHB) return 'pcapng';
  return null;
}

/** A counter record with every reason at 0. */
export function emptySkipped(): Record<SkipReason, number> {
  return {
    nonIp: 0,
    nonUdp: 0,
    fragment: 0,
    truncated: 0,
    malformed: 0,
    unsupportedLinkType: 0,
    truncatedRecord: 0,
  };
}

/** Parses a whole pcap or pcapng file. Throws CaptureFormatError on anything else or on corruption. */
export function readCapture(buf: Buffer, options: ReadCaptureOptions = {}): CaptureReadResult {
  const fmt = detectCaptureFormat(buf);
  if (fmt === 'pcap') return readPcap(buf, options.fileName);
  if (fmt === 'pcapng') return readPcapng(buf, options.fileName);
  throw new CaptureFormatError(
    buf.length < 4 ? `file too short (${buf.length} bytes) to be a capture` : 'not a pcap or pcapng file (unknown magic)',
    0,
    options.fileName,
  );
}

// ---------------------------------------------------------------------------------------------
// Classic pcap

function readPcap(buf: Buffer, fileName?: string): CaptureReadResult {
  if (buf.length < 24) {
    throw new CaptureFormatError(`pcap global header truncated (${buf.length} of 24 bytes)`, 0, fileName);
  }
  const magicBE = buf.readUInt32BE(0);
  const le = !(magicBE === PCAP_MAGIC_US || magicBE === PCAP_MAGIC_NS);
  const magic = le ? buf.readUInt32LE(0) : magicBE;
  const nano = magic === PCAP_MAGIC_NS;
  const u32 = le ? (o: number) => buf.readUInt32LE(o) : (o: number) => buf.readUInt32BE(o);
  const major = le ? buf.readUInt16LE(4) : buf.readUInt16BE(4);
  if (major !== 2) {
    throw new CaptureFormatError(`unsupported pcap major version ${major}`, 4, fileName);
  }
  // Upper 4 bits may carry FCS information; the link type is in the low 28 bits.
  const linkType = u32(20) & 0x0fffffff;

  const result: CaptureReadResult = { format: 'pcap', datagrams: [], frames: 0, skipped: emptySkipped() };
  let off = 24;
  let index = 0;
  while (off < buf.length) {
    if (buf.length - off < 16) {
      result.skipped.truncatedRecord++;
      break;
    }
    const tsSec = u32(off);
    const tsFrac = u32(off + 4);
    const inclLen = u32(off + 8);
    if (inclLen > MAX_RECORD) {
      throw new CaptureFormatError(`implausible pcap record length ${inclLen}`, off + 8, fileName);
    }
    const dataStart = off + 16;
    if (dataStart + inclLen > buf.length) {
      result.skipped.truncatedRecord++;
      break;
    }
    result.frames++;
    const frame = buf.subarray(dataStart, dataStart + inclLen);
    const tsNsec = nano ? tsFrac : tsFrac * 1000;
    decodeFrame(linkType, frame, tsSec, tsNsec, index, result);
    index++;
    off = dataStart + inclLen;
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// pcapng

interface Iface {
  linkType: number;
  /** Timestamp unit: ticks per second as a power of 10 (base10) or of 2. */
  tsBase10: boolean;
  tsExp: number;
  /** if_tsoffset: seconds added to every timestamp. */
  tsOffset: number;
}

function readPcapng(buf: Buffer, fileName?: string): CaptureReadResult {
  const result: CaptureReadResult = { format: 'pcapng', datagrams: [], frames: 0, skipped: emptySkipped() };
  let off = 0;
  let le = true;
  let ifaces: Iface[] = [];
  let index = 0;
  let sawSection = false;

  while (off < buf.length) {
    if (buf.length - off < 12) {
      result.skipped.truncatedRecord++;
      break;
    }
    const typeBE = buf.readUInt32BE(off);
    if (typeBE === PCAPNG_SHB) {
      // Section header: its byte-order magic decides how this section (this block included) is read.
      if (buf.length - off < 28) {
        // A section header that is cut short: nothing more can be read.
        if (!sawSection) throw new CaptureFormatError('pcapng section header truncated', off, fileName);
        result.skipped.truncatedRecord++;
        break;
      }
      const bomBE = buf.readUInt32BE(off + 8);
      if (bomBE === PCAPNG_BOM) le = false;
      else if (buf.readUInt32LE(off + 8) === PCAPNG_BOM) le = true;
      else throw new CaptureFormatError('pcapng section header has a bad byte-order magic', off + 8, fileName);
      const major = le ? buf.readUInt16LE(off + 12) : buf.readUInt16BE(off + 12);
      if (major !== 1) throw new CaptureFormatError(`unsupported pcapng major version ${major}`, off + 12, fileName);
      ifaces = [];
      sawSection = true;
    } else if (!sawSection) {
      throw new CaptureFormatError('pcapng file does not start with a section header block', off, fileName);
    }

    const type = le ? buf.readUInt32LE(off) : typeBE;
    const len = le ? buf.readUInt32LE(off + 4) : buf.readUInt32BE(off + 4);
    if (len < 12 || len % 4 !== 0) {
      throw new CaptureFormatError(`pcapng block length ${len} is invalid (type 0x${type.toString(16)})`, off + 4, fileName);
    }
    if (len > MAX_RECORD) {
      throw new CaptureFormatError(`implausible pcapng block length ${len}`, off + 4, fileName);
    }
    if (off + len > buf.length) {
      result.skipped.truncatedRecord++;
      break;
    }
    const trailer = le ? buf.readUInt32LE(off + len - 4) : buf.readUInt32BE(off + len - 4);
    if (trailer !== len) {
      throw new CaptureFormatError(
        `pcapng block trailing length ${trailer} does not match leading length ${len}`,
        off + len - 4,
        fileName,
      );
    }
    const body = buf.subarray(off + 8, off + len - 4);
    const u32 = le ? (o: number) => body.readUInt32LE(o) : (o: number) => body.readUInt32BE(o);
    const u16 = le ? (o: number) => body.readUInt16LE(o) : (o: number) => body.readUInt16BE(o);

    switch (type) {
      case 1: {
        // Interface Description Block
        if (body.length < 8) throw new CaptureFormatError('pcapng interface description block too short', off, fileName);
        const iface: Iface = { linkType: u16(0), tsBase10: true, tsExp: 6, tsOffset: 0 };
        walkOptions(body, 8, le, off + 8, fileName, (code, value) => {
          if (code === 9 && value.length >= 1) {
            const r = value[0]!;
            iface.tsBase10 = (r & 0x80) === 0;
            iface.tsExp = r & 0x7f;
          } else if (code === 14 && value.length >= 8) {
            const v = le ? value.readBigInt64LE(0) : value.readBigInt64BE(0);
            iface.tsOffset = Number(v);
          }
        });
        if (iface.tsBase10 ? iface.tsExp > 18 : iface.tsExp > 63) {
          throw new CaptureFormatError(`unsupported if_tsresol 0x${(iface.tsBase10 ? 0 : 0x80) | iface.tsExp}`, off, fileName);
        }
        ifaces.push(iface);
        break;
      }
      case 6: {
        // Enhanced Packet Block
        if (body.length < 20) throw new CaptureFormatError('pcapng enhanced packet block too short', off, fileName);
        const ifId = u32(0);
        const capLen = u32(12);
        if (20 + capLen > body.length) {
          throw new CaptureFormatError(`enhanced packet block captured length ${capLen} exceeds the block`, off + 20, fileName);
        }
        const iface = ifaces[ifId];
        if (!iface) throw new CaptureFormatError(`enhanced packet block names undefined interface ${ifId}`, off + 8, fileName);
        result.frames++;
        const [tsSec, tsNsec] = pcapngTime(iface, u32(4), u32(8));
        decodeFrame(iface.linkType, body.subarray(20, 20 + capLen), tsSec, tsNsec, index, result);
        index++;
        break;
      }
      case 3: {
        // Simple Packet Block: interface 0, no timestamp; data is min(original length, block room).
        if (body.length < 4) throw new CaptureFormatError('pcapng simple packet block too short', off, fileName);
        const iface = ifaces[0];
        if (!iface) throw new CaptureFormatError('simple packet block before any interface description', off, fileName);
        const origLen = u32(0);
        const capLen = Math.min(origLen, body.length - 4);
        result.frames++;
        decodeFrame(iface.linkType, body.subarray(4, 4 + capLen), 0, 0, index, result);
        index++;
        break;
      }
      case 2: {
        // Obsolete Packet Block (pcapng drafts): 16-bit interface id, then as EPB.
        if (body.length < 20) throw new CaptureFormatError('pcapng packet block too short', off, fileName);
        const ifId = u16(0);
        const capLen = u32(12);
        if (20 + capLen > body.length) {
          throw new CaptureFormatError(`packet block captured length ${capLen} exceeds the block`, off + 20, fileName);
        }
        const iface = ifaces[ifId];
        if (!iface) throw new CaptureFormatError(`packet block names undefined interface ${ifId}`, off + 8, fileName);
        result.frames++;
        const [tsSec, tsNsec] = pcapngTime(iface, u32(4), u32(8));
        decodeFrame(iface.linkType, body.subarray(20, 20 + capLen), tsSec, tsNsec, index, result);
        index++;
        break;
      }
      default:
        // Section header (handled above), name resolution, statistics, custom, decryption secrets...
        break;
    }
    off += len;
  }
  return result;
}

function walkOptions(
  body: Buffer,
  start: number,
  le: boolean,
  bodyFileOffset: number,
  fileName: string | undefined,
  visit: (code: number, value: Buffer) => void,
): void {
  let o = start;
  while (o + 4 <= body.length) {
    const code = le ? body.readUInt16LE(o) : body.readUInt16BE(o);
    const vlen = le ? body.readUInt16LE(o + 2) : body.readUInt16BE(o + 2);
    if (code === 0) return; // opt_endofopt
    if (o + 4 + vlen > body.length) {
      throw new CaptureFormatError(`pcapng option ${code} length ${vlen} overruns its block`, bodyFileOffset + o + 2, fileName);
    }
    visit(code, body.subarray(o + 4, o + 4 + vlen));
    o += 4 + ((vlen + 3) & ~3);
  }
}

const POW10 = [1n, 10n, 100n, 1000n, 10000n, 100000n, 1000000n, 10000000n, 100000000n, 1000000000n];

function pcapngTime(iface: Iface, hi: number, lo: number): [number, number] {
  if (iface.tsBase10 && iface.tsExp === 6) {
    // Microseconds: fits exactly in a double for any realistic date.
    const ticks = hi * 4294967296 + lo;
    const sec = Math.floor(ticks / 1e6);
    return [sec + iface.tsOffset, (ticks - sec * 1e6) * 1000];
  }
  const ticks = (BigInt(hi) << 32n) | BigInt(lo);
  let sec: bigint;
  let nsec: bigint;
  if (iface.tsBase10) {
    const e = iface.tsExp;
    const unit = 10n ** BigInt(e);
    sec = ticks / unit;
    const frac = ticks % unit;
    nsec = e <= 9 ? frac * POW10[9 - e]! : frac / 10n ** BigInt(e - 9);
  } else {
    const e = BigInt(iface.tsExp);
    sec = ticks >> e;
    const frac = ticks & ((1n << e) - 1n);
    nsec = (frac * 1000000000n) >> e;
  }
  return [Number(sec) + iface.tsOffset, Number(nsec)];
}

// ---------------------------------------------------------------------------------------------
// Link layer, IP, UDP

/**
 * Decodes one frame of the given link type; pushes the datagram onto `result.datagrams`, or
 * counts why not in `result.skipped`.
 */
function decodeFrame(
  linkType: number,
  frame: Buffer,
  tsSec: number,
  tsNsec: number,
  index: number,
  result: CaptureReadResult,
): void {
  const r = extractUdp(linkType, frame);
  if (typeof r === 'string') {
    result.skipped[r]++;
    return;
  }
  r.tsSec = tsSec;
  r.tsNsec = tsNsec;
  r.index = index;
  result.datagrams.push(r);
}

/**
 * Finds the UDP datagram inside one link-layer frame. Returns the datagram (timestamps and index
 * zero) or the reason it has none. Exposed for callers that get frames from elsewhere.
 */
export function extractUdp(linkType: number, frame: Buffer): UdpDatagram | SkipReason {
  let off: number;
  let etherType: number;
  switch (linkType) {
    case LINKTYPE_ETHERNET:
      if (frame.length < 14) return 'truncated';
      etherType = frame.readUInt16BE(12);
      off = 14;
      break;
    case LINKTYPE_LINUX_SLL:
      if (frame.length < 16) return 'truncated';
      etherType = frame.readUInt16BE(14);
      off = 16;
      break;
    case LINKTYPE_LINUX_SLL2:
      if (frame.length < 20) return 'truncated';
      etherType = frame.readUInt16BE(0);
      off = 20;
      break;
    case LINKTYPE_RAW:
    case LINKTYPE_RAW_12:
    case LINKTYPE_RAW_14:
    case LINKTYPE_IPV4:
    case LINKTYPE_IPV6:
      return ipPacket(frame, 0, 0);
    case LINKTYPE_NULL:
    case LINKTYPE_LOOP: {
      if (frame.length < 4) return 'truncated';
      // Address family: host byte order of the capturing machine for NULL, network order for
      // LOOP; accept either. 2 = AF_INET; 24, 28, 30 = AF_INET6 on the BSDs and macOS; 10 = Linux.
      let af = frame.readUInt32LE(0);
      if (af > 0xffff) af = frame.readUInt32BE(0);
      if (af === 2) return ipPacket(frame, 4, 4);
      if (af === 24 || af === 28 || af === 30 || af === 10) return ipPacket(frame, 4, 6);
      return 'nonIp';
    }
    default:
      return 'unsupportedLinkType';
  }
  // 802.1Q / 802.1ad / legacy QinQ tags, any depth.
  while (etherType === 0x8100 || etherType === 0x88a8 || etherType === 0x9100 || etherType === 0x9200) {
    if (frame.length < off + 4) return 'truncated';
    etherType = frame.readUInt16BE(off + 2);
    off += 4;
  }
  if (etherType === 0x0800) return ipPacket(frame, off, 4);
  if (etherType === 0x86dd) return ipPacket(frame, off, 6);
  return 'nonIp';
}

/** `expect` is 4 or 6 when the link layer said which, 0 to go by the version nibble. */
function ipPacket(frame: Buffer, off: number, expect: 0 | 4 | 6): UdpDatagram | SkipReason {
  if (frame.length <= off) return 'truncated';
  const version = frame[off]! >> 4;
  if (expect !== 0 && version !== expect) return 'malformed';
  if (version === 4) return ipv4(frame, off);
  if (version === 6) return ipv6(frame, off);
  return expect === 0 ? 'nonIp' : 'malformed';
}

function ipv4(frame: Buffer, off: number): UdpDatagram | SkipReason {
  if (frame.length < off + 20) return 'truncated';
  const ihl = (frame[off]! & 0x0f) * 4;
  if (ihl < 20) return 'malformed';
  const totalLen = frame.readUInt16BE(off + 2);
  if (totalLen < ihl) {
    // Total length 0 appears with TCP segmentation offload captures; anything else is broken.
    if (totalLen !== 0) return 'malformed';
  }
  const fragWord = frame.readUInt16BE(off + 6);
  const fragOffset = fragWord & 0x1fff;
  const moreFragments = (fragWord & 0x2000) !== 0;
  const proto = frame[off + 9]!;
  if (fragOffset !== 0) return 'fragment';
  if (proto !== 17) return 'nonUdp';
  if (moreFragments) return 'fragment';
  const end = totalLen === 0 ? frame.length : off + totalLen;
  if (end > frame.length || frame.length < off + ihl) return 'truncated';
  const src = formatIPv4(frame, off + 12);
  const dst = formatIPv4(frame, off + 16);
  return udp(frame, off + ihl, end, totalLen === 0, src, dst);
}

function ipv6(frame: Buffer, off: number): UdpDatagram | SkipReason {
  if (frame.length < off + 40) return 'truncated';
  const payloadLen = frame.readUInt16BE(off + 4);
  let next = frame[off + 6]!;
  // Payload length 0 means a jumbogram (hop-by-hop option); take what was captured.
  const end = payloadLen === 0 ? frame.length : off + 40 + payloadLen;
  if (end > frame.length) return 'truncated';
  let p = off + 40;
  for (;;) {
    switch (next) {
      case 17: {
        const src = formatIPv6(frame, off + 8);
        const dst = formatIPv6(frame, off + 24);
        return udp(frame, p, end, payloadLen === 0, src, dst);
      }
      case 0: // hop-by-hop options
      case 43: // routing
      case 60: // destination options
      case 135: // mobility
      case 139: // HIP
      case 140: {
        // shim6
        if (p + 8 > end) return 'truncated';
        const hlen = (frame[p + 1]! + 1) * 8;
        next = frame[p]!;
        p += hlen;
        if (p > end) return 'truncated';
        break;
      }
      case 51: {
        // authentication header: length in 4-byte units, minus 2
        if (p + 8 > end) return 'truncated';
        const hlen = (frame[p + 1]! + 2) * 4;
        next = frame[p]!;
        p += hlen;
        if (p > end) return 'truncated';
        break;
      }
      case 44: {
        // fragment header: only an atomic fragment (offset 0, no more fragments) is whole.
        if (p + 8 > end) return 'truncated';
        const w = frame.readUInt16BE(p + 2);
        if ((w & 0xfff8) !== 0 || (w & 1) !== 0) return 'fragment';
        next = frame[p]!;
        p += 8;
        break;
      }
      default:
        return 'nonUdp';
    }
  }
}

/**
 * `end` is where the IP layer says the packet ends (already checked to be within the frame);
 * `derived` when the IP header gave no length and `end` is just the end of what was captured.
 */
function udp(
  frame: Buffer,
  p: number,
  end: number,
  derived: boolean,
  srcAddr: string,
  dstAddr: string,
): UdpDatagram | SkipReason {
  if (p + 8 > end) return derived ? 'truncated' : 'malformed';
  const udpLen = frame.readUInt16BE(p + 4);
  let payEnd: number;
  if (udpLen === 0) {
    // IPv6 jumbograms (RFC 2675) carry 0 here; the IP layer bounds the datagram.
    payEnd = end;
  } else {
    if (udpLen < 8) return 'malformed';
    payEnd = p + udpLen;
    // With a declared IP length, a UDP length beyond it is a lie; without one, a capture cut.
    if (payEnd > end) return derived ? 'truncated' : 'malformed';
  }
  return {
    payload: frame.subarray(p + 8, payEnd),
    srcAddr,
    dstAddr,
    srcPort: frame.readUInt16BE(p),
    dstPort: frame.readUInt16BE(p + 2),
    tsSec: 0,
    tsNsec: 0,
    index: 0,
  };
}
