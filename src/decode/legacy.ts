/**
 * NetFlow v1, v5 and v7: fixed-format header and records (Cisco's NetFlow export datagram
 * formats). One FlowRecord per record, written straight from the datagram buffer.
 */
import { FlowType, type FlowRecord, type FlowSink } from './record.js';
import type { Counters } from './stats.js';
import type { Exporter } from './exporter.js';
import { u16, u32 } from './read.js';
import { ianaElement, protocolName } from './registry/mod.js';

const HEADER = { 1: 16, 5: 24, 7: 24 } as const;
const RECORD = { 1: 48, 5: 48, 7: 52 } as const;
const MAX_COUNT = { 1: 24, 5: 30, 7: 28 } as const;
const RECORDS_REASON = { 1: 'records.netflow_v1', 5: 'records.netflow_v5', 7: 'records.netflow_v7' } as const;

const ENGINE_TYPE = ianaElement(38);
const ENGINE_ID = ianaElement(39);
const SAMPLING_ALGORITHM = ianaElement(35);
const SAMPLING_INTERVAL = ianaElement(34);
const V7_ROUTER_SC = ianaElement(130); // exporterIPv4Address: the router shortcut address (v7)

export class LegacyDecoder {
  constructor(
    private readonly rec: FlowRecord,
    private readonly sink: FlowSink,
    private readonly counters: Counters,
  ) {}

  /** Decodes a v1/v5/v7 datagram; returns an error reason, or undefined when all went well. */
  decode(version: 1 | 5 | 7, buf: Uint8Array, off: number, len: number, exporter: Exporter, recvSec: number, recvNsec: number): string | undefined {
    const hlen = HEADER[version];
    if (len < hlen) {
      this.counters.inc(`netflow_v${version}.truncated_header`);
      return `netflow_v${version}.truncated_header`;
    }
    const count = u16(buf, off + 2);
    const rlen = RECORD[version];
    if (count === 0 || count > MAX_COUNT[version]) {
      this.counters.inc(`netflow_v${version}.bad_count`);
      return `netflow_v${version}.bad_count`;
    }
    if (hlen + count * rlen > len) {
      this.counters.inc(`netflow_v${version}.truncated`);
      return `netflow_v${version}.truncated`;
    }
    const uptime = u32(buf, off + 4);
    const secs = u32(buf, off + 8);
    const nsecs = u32(buf, off + 12);
    if (nsecs >= 1_000_000_000) {
      this.counters.inc(`netflow_v${version}.bad_header`);
      return `netflow_v${version}.bad_header`;
    }
    const sequence = version === 1 ? 0 : u32(buf, off + 16);
    // Export time in ms since the epoch (fractional: unix_nsecs is kept).
    const nowMs = secs * 1000 + nsecs / 1e6;
    let samplingRate = 0;
    let samplingMode = 0;
    if (version === 5) {
      const si = u16(buf, off + 22);
      samplingMode = si >>> 14;
      samplingRate = si & 0x3fff;
    }
    const rec = this.rec;
    const addr = exporter.addr;
    const type = FlowType.NETFLOW_V5;
    let p = off + hlen;
    for (let i = 0; i < count; i++, p += rlen) {
      rec.reset();
      rec.type = type;
      rec.exportVersion = version;
      rec.timeReceivedSec = recvSec;
      rec.timeReceivedNsec = recvNsec;
      rec.sequenceNum = sequence;
      rec.samplingRate = samplingRate;
      for (let k = 0; k < addr.length; k++) rec.samplerAddress[k] = addr[k]!;
      rec.samplerAddressLen = addr.length;
      const s = rec.srcAddr;
      s[0] = buf[p]!; s[1] = buf[p + 1]!; s[2] = buf[p + 2]!; s[3] = buf[p + 3]!;
      rec.srcAddrLen = 4;
      const d = rec.dstAddr;
      d[0] = buf[p + 4]!; d[1] = buf[p + 5]!; d[2] = buf[p + 6]!; d[3] = buf[p + 7]!;
      rec.dstAddrLen = 4;
      const n = rec.nextHop;
      n[0] = buf[p + 8]!; n[1] = buf[p + 9]!; n[2] = buf[p + 10]!; n[3] = buf[p + 11]!;
      rec.nextHopLen = 4;
      rec.etype = 0x0800;
      rec.inIf = u16(buf, p + 12);
      rec.outIf = u16(buf, p + 14);
      rec.packets = u32(buf, p + 16);
      rec.bytes = u32(buf, p + 20);
      // First/Last are sysUptime values; their difference to the header's is taken as a signed
      // 32-bit number so a wrapped uptime counter (every 49.7 days) gives the right time.
      setMs(rec, nowMs + ((u32(buf, p + 24) - uptime) | 0), true);
      setMs(rec, nowMs + ((u32(buf, p + 28) - uptime) | 0), false);
      rec.srcPort = u16(buf, p + 32);
      rec.dstPort = u16(buf, p + 34);
      if (version === 1) {
        rec.proto = buf[p + 38]!;
        rec.ipTos = buf[p + 39]!;
        rec.tcpFlags = buf[p + 40]!;
      } else {
        rec.tcpFlags = buf[p + 37]!;
        rec.proto = buf[p + 38]!;
        rec.ipTos = buf[p + 39]!;
        rec.srcAs = u16(buf, p + 40);
        rec.dstAs = u16(buf, p + 42);
        rec.srcNet = buf[p + 44]!;
        rec.dstNet = buf[p + 45]!;
      }
      rec.protocolName = protocolName(rec.proto);
      // ICMP type and code travel in the destination port (type * 256 + code).
      if ((rec.proto === 1 || rec.proto === 58) && rec.srcPort === 0) {
        rec.icmpType = rec.dstPort >>> 8;
        rec.icmpCode = rec.dstPort & 255;
      }
      if (version === 5) {
        rec.addExtra(ENGINE_TYPE, buf, off + 20, 1);
        rec.addExtra(ENGINE_ID, buf, off + 21, 1);
        rec.addExtraValue(SAMPLING_ALGORITHM, samplingMode);
        rec.addExtraValue(SAMPLING_INTERVAL, samplingRate);
      } else if (version === 7) {
        rec.addExtraValue(V7_FLAGS1, buf[p + 36]!);
        rec.addExtraValue(V7_FLAGS2, u16(buf, p + 46));
        rec.addExtra(V7_ROUTER_SC, buf, p + 48, 4);
      }
      this.sink.onFlow(rec);
    }
    this.counters.inc(RECORDS_REASON[version], count);
    const extra = len - hlen - count * rlen;
    if (extra > 0) this.counters.inc(`netflow_v${version}.trailing_bytes`);
    return undefined;
  }
}

/** v7 flag fields have no information element; they are named for the v7 record format. */
const V7_FLAGS1 = Object.freeze({ pen: 0, id: 0, name: 'v7Flags1', type: 1 as const, known: true });
const V7_FLAGS2 = Object.freeze({ pen: 0, id: 0, name: 'v7Flags2', type: 2 as const, known: true });

function setMs(rec: FlowRecord, ms: number, start: boolean): void {
  const s = Math.floor(ms / 1000);
  const ns = Math.round((ms - s * 1000) * 1e6);
  if (start) {
    rec.timeFlowStartSec = s;
    rec.timeFlowStartNsec = ns;
  } else {
    rec.timeFlowEndSec = s;
    rec.timeFlowEndNsec = ns;
  }
}
