/**
 * sFlow v5 datagram decoder (sflow.org "sFlow Version 5", July 2004).
 *
 * One FlowRecord per flow sample (0:1 and expanded 0:3), handed synchronously to the FlowSink;
 * one CounterRecord per counter sample (0:2 and expanded 0:4) that carries generic interface
 * or Ethernet counters, handed to the optional CounterSink. Both records are reused.
 *
 * Hot-path rules: reads are manual big-endian reads from the datagram buffer, every length is
 * bounds-checked against its enclosing structure, every skip or error is counted in `Counters`
 * under a stable `sflow.*` reason (docs/sflow.md), nothing throws, and every loop consumes at
 * least four bytes per iteration or is bounded by a constant, so garbage always terminates.
 */
import type { Counters } from '../stats.js';
import type { Exporter } from '../exporter.js';
import { COUNTER_ZERO } from '../../counting.js';
import { FlowRecord, FlowType, MAX_REPEATED, type ElementInfo, type FlowSink } from '../record.js';
import { CounterRecord, type CounterSink } from './counters.js';
import { walkHeader, WalkResult } from '../packet.js';
import { ianaElement, protocolName } from '../registry/mod.js';

export interface SflowDecoderOptions {
  counters: Counters;
  flows: FlowSink;
  counterSink?: CounterSink;
}

/** Stable reason strings counted by the decoder (see docs/sflow.md). */
export const SflowReason = {
  truncated: 'sflow.truncated',
  badVersion: 'sflow.bad_version',
  badAgentAddress: 'sflow.bad_agent_address',
  sampleUnknownType: 'sflow.sample.unknown_type',
  sampleTruncated: 'sflow.sample.truncated',
  flowRecordUnknownType: 'sflow.flow_record.unknown_type',
  counterRecordUnknownType: 'sflow.counter_record.unknown_type',
  recordTruncated: 'sflow.record.truncated',
  headerTruncated: 'sflow.header.truncated',
  headerUnsupported: 'sflow.header.unsupported_protocol',
  addressUnknownType: 'sflow.record.bad_address_type',
} as const;

/** IANA IPFIX element 244 dot1qPriority: carries extended switch's src_priority as an extra. */
const DOT1Q_PRIORITY: ElementInfo = ianaElement(244);

/** flow_sample output format 2: multiple output interfaces (goflow2 keeps the raw word). */
const MULTIPLE_OUTPUTS = 0x80000000;
/** forwarding_status "dropped, unknown reason" (RFC 7270 forwardingStatus, status 2 << 6). */
const FWD_DROPPED = 128;

function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

export class SflowDecoder {
  private readonly counters: Counters;
  private readonly flows: FlowSink;
  private readonly counterSink: CounterSink | undefined;
  private readonly rec = new FlowRecord();
  private readonly crec = new CounterRecord();

  // Per-datagram state (set by decode, read by the sample decoders).
  private agentOff = 0;
  private agentLen = 0;
  private agentBuf: Uint8Array = new Uint8Array(0);
  private subAgentId = 0;
  // 32-bit unsigned: doubles from the start (src/counting.ts).
  private dgSeq = COUNTER_ZERO;
  private uptime = COUNTER_ZERO;
  private recvSec = 0;
  private recvNsec = 0;

  constructor(opts: SflowDecoderOptions) {
    this.counters = opts.counters;
    this.flows = opts.flows;
    this.counterSink = opts.counterSink;
  }

  /**
   * Decodes one sFlow v5 datagram `buf[off, off+len)` received from `exporter` at
   * recvSec.recvNsec. Never throws: malformed input is counted and skipped.
   */
  /** First error reason of the datagram being decoded (unknown sample/record types are skipped by design, not errors). */
  private error: string | undefined;

  private fail(reason: string): void {
    this.counters.inc(reason);
    if (this.error === undefined) this.error = reason;
  }

  /** Decodes one datagram; returns its first error reason, or undefined. Never throws. */
  decode(buf: Uint8Array, off: number, len: number, exporter: Exporter, recvSec: number, recvNsec: number): string | undefined {
    this.error = undefined;
    this.decodeDatagram(buf, off, len, exporter, recvSec, recvNsec);
    return this.error;
  }

  private decodeDatagram(buf: Uint8Array, off: number, len: number, exporter: Exporter, recvSec: number, recvNsec: number): void {
    const end = off + len;
    const b = buf;
    if (!(off >= 0 && len >= 8 && end <= buf.length)) {
      this.fail(SflowReason.truncated);
      return;
    }
    if (u32(b, off) !== 5) {
      this.fail(SflowReason.badVersion);
      return;
    }
    const at = u32(b, off + 4);
    let o = off + 8;
    if (at === 1) {
      this.agentLen = 4;
    } else if (at === 2) {
      this.agentLen = 16;
    } else if (at === 0) {
      this.agentLen = 0; // UNKNOWN: fall back to the exporter's address below
    } else {
      this.fail(SflowReason.badAgentAddress);
      return;
    }
    if (end - o < this.agentLen + 16) {
      this.fail(SflowReason.truncated);
      return;
    }
    if (this.agentLen === 0) {
      this.agentBuf = exporter.addr;
      this.agentOff = 0;
      this.agentLen = exporter.addr.length;
    } else {
      this.agentBuf = b;
      this.agentOff = o;
      o += this.agentLen;
    }
    this.subAgentId = u32(b, o);
    this.dgSeq = u32(b, o + 4);
    this.uptime = u32(b, o + 8);
    let n = u32(b, o + 12);
    o += 16;
    this.recvSec = recvSec;
    this.recvNsec = recvNsec;

    while (n > 0) {
      if (end - o < 8) {
        this.fail(SflowReason.truncated);
        return;
      }
      const fmt = u32(b, o);
      const slen = u32(b, o + 4);
      o += 8;
      if (slen > end - o) {
        this.fail(SflowReason.truncated);
        return;
      }
      const send = o + slen;
      switch (fmt) {
        case 1:
          this.flowSample(b, o, send, false);
          break;
        case 3:
          this.flowSample(b, o, send, true);
          break;
        case 2:
          if (this.counterSink !== undefined) this.counterSample(b, o, send, false);
          break;
        case 4:
          if (this.counterSink !== undefined) this.counterSample(b, o, send, true);
          break;
        default:
          this.counters.inc(SflowReason.sampleUnknownType);
      }
      o = send + ((4 - (slen & 3)) & 3);
      if (o > end) o = end;
      n--;
    }
  }

  private flowSample(b: Uint8Array, o: number, end: number, expanded: boolean): void {
    const rec = this.rec;
    const hdr = expanded ? 44 : 32;
    if (end - o < hdr) {
      this.fail(SflowReason.sampleTruncated);
      return;
    }
    rec.reset();
    rec.type = FlowType.SFLOW_5;
    rec.exportVersion = 5;
    rec.timeReceivedSec = this.recvSec;
    rec.timeReceivedNsec = this.recvNsec;
    rec.timeFlowStartSec = this.recvSec;
    rec.timeFlowStartNsec = this.recvNsec;
    rec.timeFlowEndSec = this.recvSec;
    rec.timeFlowEndNsec = this.recvNsec;
    const al = this.agentLen;
    const ab = this.agentBuf;
    const ao = this.agentOff;
    const sa = rec.samplerAddress;
    for (let i = 0; i < al; i++) sa[i] = ab[ao + i]!;
    rec.samplerAddressLen = al;
    rec.observationDomainId = this.subAgentId;
    rec.packets = 1;

    rec.sequenceNum = u32(b, o);
    let p: number;
    let outFmt: number;
    let outVal: number;
    let inFmt: number;
    let inVal: number;
    if (expanded) {
      rec.observationPointId = u32(b, o + 8);
      rec.samplingRate = u32(b, o + 12);
      inFmt = u32(b, o + 24);
      inVal = u32(b, o + 28);
      outFmt = u32(b, o + 32);
      outVal = u32(b, o + 36);
      p = o + 40;
    } else {
      rec.observationPointId = u32(b, o + 4) & 0x00ffffff;
      rec.samplingRate = u32(b, o + 8);
      const inw = u32(b, o + 20);
      const outw = u32(b, o + 24);
      inFmt = inw >>> 30;
      inVal = inw & 0x3fffffff;
      outFmt = outw >>> 30;
      outVal = outw & 0x3fffffff;
      p = o + 28;
    }
    // Input is always an ifIndex in practice; other formats are kept raw like goflow2 does.
    rec.inIf = inFmt === 0 ? inVal : ((inFmt << 30) | inVal) >>> 0;
    if (outFmt === 0) {
      rec.outIf = outVal;
    } else if (outFmt === 1) {
      rec.outIf = 0;
      rec.forwardingStatus = FWD_DROPPED;
    } else {
      rec.outIf = (MULTIPLE_OUTPUTS | (outVal & 0x3fffffff)) >>> 0;
    }
    let nrec = u32(b, p);
    p += 4;
    let hadHeader = false;
    while (nrec > 0) {
      if (end - p < 8) {
        this.fail(SflowReason.sampleTruncated);
        break;
      }
      const rf = u32(b, p);
      const rl = u32(b, p + 4);
      p += 8;
      if (rl > end - p) {
        this.fail(SflowReason.recordTruncated);
        break;
      }
      switch (rf) {
        case 1:
          this.rawHeader(b, p, rl);
          hadHeader = true;
          break;
        case 2:
          if (rl < 24) this.fail(SflowReason.recordTruncated);
          else if (!hadHeader) this.sampledEthernet(b, p);
          break;
        case 3:
          if (rl < 32) this.fail(SflowReason.recordTruncated);
          else if (!hadHeader) this.sampledIPv4(b, p);
          break;
        case 4:
          if (rl < 56) this.fail(SflowReason.recordTruncated);
          else if (!hadHeader) this.sampledIPv6(b, p);
          break;
        case 1001:
          if (rl < 16) this.fail(SflowReason.recordTruncated);
          else this.extendedSwitch(b, p);
          break;
        case 1002:
          this.extendedRouter(b, p, p + rl);
          break;
        case 1003:
          this.extendedGateway(b, p, p + rl);
          break;
        default:
          this.counters.inc(SflowReason.flowRecordUnknownType);
      }
      p += rl + ((4 - (rl & 3)) & 3);
      if (p > end) p = end;
      nrec--;
    }
    this.flows.onFlow(rec);
  }

  private rawHeader(b: Uint8Array, p: number, rl: number): void {
    const rec = this.rec;
    if (rl < 16) {
      this.fail(SflowReason.recordTruncated);
      return;
    }
    const proto = u32(b, p);
    rec.bytes = u32(b, p + 4);
    let hl = u32(b, p + 12);
    if (hl > rl - 16) {
      this.fail(SflowReason.recordTruncated);
      hl = rl - 16;
    }
    const r = walkHeader(b, p + 16, hl, proto, rec);
    if (r === WalkResult.truncated) this.fail(SflowReason.headerTruncated);
    else if (r === WalkResult.unsupported) this.counters.inc(SflowReason.headerUnsupported);
  }

  private sampledEthernet(b: Uint8Array, p: number): void {
    const rec = this.rec;
    rec.bytes = u32(b, p);
    rec.srcMac = mac48(b, p + 4);
    rec.dstMac = mac48(b, p + 12);
    rec.etype = u32(b, p + 20) & 0xffff;
  }

  private sampledIPv4(b: Uint8Array, p: number): void {
    this.sampledIp(b, p, 4, 0x0800);
  }

  private sampledIPv6(b: Uint8Array, p: number): void {
    this.sampledIp(b, p, 16, 0x86dd);
  }

  /**
   * sampled_ipv4 / sampled_ipv6 (sFlow v5 flow records 3 and 4): length, protocol, source and
   * destination address (n bytes each), then ports, TCP flags and ToS / priority as 32-bit words.
   */
  private sampledIp(b: Uint8Array, p: number, n: 4 | 16, etype: number): void {
    const rec = this.rec;
    rec.bytes = u32(b, p);
    const proto = u32(b, p + 4) & 0xff;
    rec.proto = proto;
    rec.protocolName = protocolName(proto);
    const s = rec.srcAddr;
    const d = rec.dstAddr;
    for (let i = 0; i < n; i++) {
      s[i] = b[p + 8 + i]!;
      d[i] = b[p + 8 + n + i]!;
    }
    rec.srcAddrLen = n;
    rec.dstAddrLen = n;
    const q = p + 8 + 2 * n;
    rec.srcPort = u32(b, q) & 0xffff;
    rec.dstPort = u32(b, q + 4) & 0xffff;
    rec.tcpFlags = u32(b, q + 8) & 0xff;
    rec.ipTos = u32(b, q + 12) & 0xff;
    rec.etype = etype;
  }

  private extendedSwitch(b: Uint8Array, p: number): void {
    const rec = this.rec;
    rec.srcVlan = u32(b, p) & 0xffff;
    rec.dstVlan = u32(b, p + 8) & 0xffff;
    // src_priority (802.1p, 0-7) as dot1qPriority, referencing its low byte in the datagram.
    if (u32(b, p + 4) <= 255) rec.addExtra(DOT1Q_PRIORITY, b, p + 7, 1);
  }

  /**
   * Reads an sFlow `address` into dst; returns its length (0, 4 or 16), -1 when it does not fit
   * (not counted here), -2 for an unknown address type (counted here).
   */
  private address(b: Uint8Array, p: number, end: number, dst: Uint8Array): number {
    if (end - p < 4) return -1;
    const t = u32(b, p);
    const n = t === 1 ? 4 : t === 2 ? 16 : t === 0 ? 0 : -2;
    if (n === -2) {
      this.fail(SflowReason.addressUnknownType);
      return -2;
    }
    if (end - p - 4 < n) return -1;
    for (let i = 0; i < n; i++) dst[i] = b[p + 4 + i]!;
    return n;
  }

  private extendedRouter(b: Uint8Array, p: number, end: number): void {
    const rec = this.rec;
    const n = this.address(b, p, end, rec.nextHop);
    if (n === -2) return;
    if (n < 0 || end - p - 4 - n < 8) {
      this.fail(SflowReason.recordTruncated);
      rec.nextHopLen = 0;
      return;
    }
    rec.nextHopLen = n;
    p += 4 + n;
    rec.srcNet = u32(b, p);
    rec.dstNet = u32(b, p + 4);
  }

  private extendedGateway(b: Uint8Array, p: number, end: number): void {
    const rec = this.rec;
    const n = this.address(b, p, end, rec.bgpNextHop);
    if (n === -2) return;
    if (n < 0 || end - p - 4 - n < 16) {
      this.fail(SflowReason.recordTruncated);
      rec.bgpNextHopLen = 0;
      return;
    }
    rec.bgpNextHopLen = n;
    p += 4 + n;
    const routerAs = u32(b, p);
    const srcAs = u32(b, p + 4);
    let segs = u32(b, p + 12);
    p += 16;
    let count = 0;
    let first = 0;
    let last = 0;
    let total = 0;
    const path = rec.asPath;
    while (segs > 0) {
      if (end - p < 8) {
        this.fail(SflowReason.recordTruncated);
        return;
      }
      const len = u32(b, p + 4);
      p += 8;
      if (len > (end - p) / 4) {
        this.fail(SflowReason.recordTruncated);
        return;
      }
      for (let i = 0; i < len; i++) {
        const as = u32(b, p);
        if (total === 0) first = as;
        last = as;
        total++;
        if (count < MAX_REPEATED) path[count++] = as;
        p += 4;
      }
      segs--;
    }
    rec.asPathCount = count;
    rec.srcAs = srcAs > 0 ? srcAs : routerAs;
    if (total > 0) {
      rec.dstAs = last;
      rec.nextHopAs = first;
    } else {
      rec.dstAs = routerAs;
    }
    if (end - p < 4) {
      this.fail(SflowReason.recordTruncated);
      return;
    }
    const nc = u32(b, p);
    p += 4;
    if (nc > (end - p) / 4) {
      this.fail(SflowReason.recordTruncated);
      return;
    }
    const comm = rec.bgpCommunities;
    const keep = nc < MAX_REPEATED ? nc : MAX_REPEATED;
    for (let i = 0; i < keep; i++) comm[i] = u32(b, p + i * 4);
    rec.bgpCommunitiesCount = keep;
  }

  private counterSample(b: Uint8Array, o: number, end: number, expanded: boolean): void {
    const c = this.crec;
    const hdr = expanded ? 16 : 12;
    if (end - o < hdr) {
      this.fail(SflowReason.sampleTruncated);
      return;
    }
    c.reset();
    c.timeReceivedSec = this.recvSec;
    c.timeReceivedNsec = this.recvNsec;
    const al = this.agentLen;
    const ab = this.agentBuf;
    const ao = this.agentOff;
    for (let i = 0; i < al; i++) c.agentAddress[i] = ab[ao + i]!;
    c.agentAddressLen = al;
    c.subAgentId = this.subAgentId;
    c.datagramSequenceNum = this.dgSeq;
    c.uptimeMs = this.uptime;
    c.sampleSequenceNum = u32(b, o);
    let p: number;
    if (expanded) {
      c.sourceIdType = u32(b, o + 4);
      c.sourceIdIndex = u32(b, o + 8);
      p = o + 12;
    } else {
      const sid = u32(b, o + 4);
      c.sourceIdType = sid >>> 24;
      c.sourceIdIndex = sid & 0x00ffffff;
      p = o + 8;
    }
    c.ifIndex = c.sourceIdType === 0 ? c.sourceIdIndex : 0;
    let nrec = u32(b, p);
    p += 4;
    while (nrec > 0) {
      if (end - p < 8) {
        this.fail(SflowReason.sampleTruncated);
        break;
      }
      const rf = u32(b, p);
      const rl = u32(b, p + 4);
      p += 8;
      if (rl > end - p) {
        this.fail(SflowReason.recordTruncated);
        break;
      }
      if (rf === 1) {
        if (rl < 88) this.fail(SflowReason.recordTruncated);
        else genericCounters(b, p, c);
      } else if (rf === 2) {
        if (rl < 52) this.fail(SflowReason.recordTruncated);
        else ethernetCounters(b, p, c);
      } else {
        this.counters.inc(SflowReason.counterRecordUnknownType);
      }
      p += rl + ((4 - (rl & 3)) & 3);
      if (p > end) p = end;
      nrec--;
    }
    if (c.hasGeneric || c.hasEthernet) this.counterSink!.onCounters(c);
  }
}

function mac48(b: Uint8Array, o: number): number {
  return (((b[o]! << 8) | b[o + 1]!) * 4294967296) + u32(b, o + 2);
}

function genericCounters(b: Uint8Array, p: number, c: CounterRecord): void {
  c.hasGeneric = true;
  c.ifIndex = u32(b, p);
  c.ifType = u32(b, p + 4);
  c.ifSpeedHi = u32(b, p + 8);
  c.ifSpeedLo = u32(b, p + 12);
  c.ifDirection = u32(b, p + 16);
  c.ifStatus = u32(b, p + 20);
  c.ifInOctetsHi = u32(b, p + 24);
  c.ifInOctetsLo = u32(b, p + 28);
  c.ifInUcastPkts = u32(b, p + 32);
  c.ifInMulticastPkts = u32(b, p + 36);
  c.ifInBroadcastPkts = u32(b, p + 40);
  c.ifInDiscards = u32(b, p + 44);
  c.ifInErrors = u32(b, p + 48);
  c.ifInUnknownProtos = u32(b, p + 52);
  c.ifOutOctetsHi = u32(b, p + 56);
  c.ifOutOctetsLo = u32(b, p + 60);
  c.ifOutUcastPkts = u32(b, p + 64);
  c.ifOutMulticastPkts = u32(b, p + 68);
  c.ifOutBroadcastPkts = u32(b, p + 72);
  c.ifOutDiscards = u32(b, p + 76);
  c.ifOutErrors = u32(b, p + 80);
  c.ifPromiscuousMode = u32(b, p + 84);
}

function ethernetCounters(b: Uint8Array, p: number, c: CounterRecord): void {
  c.hasEthernet = true;
  c.dot3StatsAlignmentErrors = u32(b, p);
  c.dot3StatsFCSErrors = u32(b, p + 4);
  c.dot3StatsSingleCollisionFrames = u32(b, p + 8);
  c.dot3StatsMultipleCollisionFrames = u32(b, p + 12);
  c.dot3StatsSQETestErrors = u32(b, p + 16);
  c.dot3StatsDeferredTransmissions = u32(b, p + 20);
  c.dot3StatsLateCollisions = u32(b, p + 24);
  c.dot3StatsExcessiveCollisions = u32(b, p + 28);
  c.dot3StatsInternalMacTransmitErrors = u32(b, p + 32);
  c.dot3StatsCarrierSenseErrors = u32(b, p + 36);
  c.dot3StatsFrameTooLongs = u32(b, p + 40);
  c.dot3StatsInternalMacReceiveErrors = u32(b, p + 44);
  c.dot3StatsSymbolErrors = u32(b, p + 48);
}

/**
 * True when the payload looks like an sFlow v5 datagram (version word 5 and a known agent
 * address type). A NetFlow v5 header starts with the 16-bit version 5 followed by a non-zero
 * record count, so its first 32-bit word is never 5 for a datagram that carries records.
 */
export function isSflowDatagram(buf: Uint8Array, off: number, len: number): boolean {
  if (len < 28 || off < 0 || off + len > buf.length) return false;
  if (u32(buf, off) !== 5) return false;
  const at = u32(buf, off + 4);
  return at === 1 || at === 2;
}
