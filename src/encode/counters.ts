/**
 * Encoders for sFlow interface counters (`CounterRecord`): protobuf (`flowcollector.
 * InterfaceCounters`, proto/counters.proto) and NDJSON (one JSON object per line, same field
 * names as the .proto).
 *
 * Both write into one reusable buffer per encoder: the returned Uint8Array is a view that stays
 * valid until the next call on the same encoder (copy it to keep it). 64-bit values (ifSpeed,
 * octet counters, time_received_ns) are encoded exactly from their 32-bit halves.
 */
import type { CounterRecord } from '../decode/sflow/counters.js';

const TWO32 = 4294967296;
/** Largest `hi` half for which hi * 2^32 + lo stays below 2^53. */
const SAFE_HI = 0x1fffff;

/** Upper bounds: protobuf <= 59 fields * 11 bytes + 18 address bytes; JSON is well under 4 KiB. */
const BUF_SIZE = 4096;

/** Splits sec * 1e9 + nsec into exact 32-bit halves (sec, nsec unsigned, sec < 2^32). */
function nsHalves(sec: number, nsec: number, out: Float64Array): void {
  const sh = Math.floor(sec / 65536);
  const sl = sec - sh * 65536;
  const a = sh * 1e9; // < 2^46, exact
  const hiA = Math.floor(a / 65536);
  const loA = (a - hiA * 65536) * 65536;
  const bb = sl * 1e9 + nsec; // < 2^47, exact
  const hiB = Math.floor(bb / TWO32);
  const loB = bb - hiB * TWO32;
  let lo = loA + loB;
  let hi = hiA + hiB;
  if (lo >= TWO32) {
    lo -= TWO32;
    hi += 1;
  }
  out[0] = hi;
  out[1] = lo;
}

export class CounterEncoder {
  private buf = new Uint8Array(BUF_SIZE);
  private pos = 0;
  private readonly halves = new Float64Array(2);

  // --- protobuf --------------------------------------------------------------------------

  /** Encodes `rec` as a protobuf InterfaceCounters message (no length prefix). */
  encodeProto(rec: CounterRecord): Uint8Array {
    this.pos = 0;
    this.writeProtoBody(rec);
    return this.buf.subarray(0, this.pos);
  }

  /** Encodes `rec` as a varint-length-delimited InterfaceCounters (for streams and files). */
  encodeProtoDelimited(rec: CounterRecord): Uint8Array {
    // Body first at a fixed offset, then the prefix in front of it: the prefix is at most 2 bytes.
    this.pos = 2;
    this.writeProtoBody(rec);
    const bodyLen = this.pos - 2;
    const start = bodyLen < 128 ? 1 : 0;
    const b = this.buf;
    if (start === 1) b[1] = bodyLen;
    else {
      b[0] = (bodyLen & 0x7f) | 0x80;
      b[1] = bodyLen >>> 7;
    }
    return b.subarray(start, this.pos);
  }

  private writeProtoBody(r: CounterRecord): void {
    nsHalves(r.timeReceivedSec, r.timeReceivedNsec, this.halves);
    this.fieldU64(1, this.halves[0]!, this.halves[1]!);
    if (r.agentAddressLen > 0) {
      this.tag(2, 2);
      this.varint32(r.agentAddressLen);
      const b = this.buf;
      for (let i = 0; i < r.agentAddressLen; i++) b[this.pos++] = r.agentAddress[i]!;
    }
    this.fieldU32(3, r.subAgentId);
    this.fieldU32(4, r.datagramSequenceNum);
    this.fieldU32(5, r.sampleSequenceNum);
    this.fieldU32(6, r.sourceIdType);
    this.fieldU32(7, r.sourceIdIndex);
    this.fieldU32(8, r.uptimeMs);
    this.fieldU32(9, r.hasGeneric ? 1 : 0);
    this.fieldU32(10, r.hasEthernet ? 1 : 0);
    this.fieldU32(20, r.ifIndex);
    this.fieldU32(21, r.ifType);
    this.fieldU64(22, r.ifSpeedHi, r.ifSpeedLo);
    this.fieldU32(23, r.ifDirection);
    this.fieldU32(24, r.ifStatus);
    this.fieldU64(25, r.ifInOctetsHi, r.ifInOctetsLo);
    this.fieldU32(26, r.ifInUcastPkts);
    this.fieldU32(27, r.ifInMulticastPkts);
    this.fieldU32(28, r.ifInBroadcastPkts);
    this.fieldU32(29, r.ifInDiscards);
    this.fieldU32(30, r.ifInErrors);
    this.fieldU32(31, r.ifInUnknownProtos);
    this.fieldU64(32, r.ifOutOctetsHi, r.ifOutOctetsLo);
    this.fieldU32(33, r.ifOutUcastPkts);
    this.fieldU32(34, r.ifOutMulticastPkts);
    this.fieldU32(35, r.ifOutBroadcastPkts);
    this.fieldU32(36, r.ifOutDiscards);
    this.fieldU32(37, r.ifOutErrors);
    this.fieldU32(38, r.ifPromiscuousMode);
    this.fieldU32(40, r.dot3StatsAlignmentErrors);
    this.fieldU32(41, r.dot3StatsFCSErrors);
    this.fieldU32(42, r.dot3StatsSingleCollisionFrames);
    this.fieldU32(43, r.dot3StatsMultipleCollisionFrames);
    this.fieldU32(44, r.dot3StatsSQETestErrors);
    this.fieldU32(45, r.dot3StatsDeferredTransmissions);
    this.fieldU32(46, r.dot3StatsLateCollisions);
    this.fieldU32(47, r.dot3StatsExcessiveCollisions);
    this.fieldU32(48, r.dot3StatsInternalMacTransmitErrors);
    this.fieldU32(49, r.dot3StatsCarrierSenseErrors);
    this.fieldU32(50, r.dot3StatsFrameTooLongs);
    this.fieldU32(51, r.dot3StatsInternalMacReceiveErrors);
    this.fieldU32(52, r.dot3StatsSymbolErrors);
  }

  private tag(field: number, wire: number): void {
    this.varint32((field << 3) | wire);
  }

  private varint32(v: number): void {
    const b = this.buf;
    let p = this.pos;
    v = v >>> 0;
    while (v >= 0x80) {
      b[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    b[p++] = v;
    this.pos = p;
  }

  /** proto3: zero values are omitted. */
  private fieldU32(field: number, v: number): void {
    if (v === 0) return;
    this.tag(field, 0);
    this.varint32(v);
  }

  private fieldU64(field: number, hi: number, lo: number): void {
    hi = hi >>> 0;
    lo = lo >>> 0;
    if (hi === 0 && lo === 0) return;
    this.tag(field, 0);
    const b = this.buf;
    let p = this.pos;
    while (hi !== 0 || lo >= 0x80) {
      b[p++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi = hi >>> 7;
    }
    b[p++] = lo;
    this.pos = p;
  }

  // --- NDJSON ----------------------------------------------------------------------------

  /** Encodes `rec` as one JSON object followed by "\n" (UTF-8; all output is ASCII). */
  encodeJson(rec: CounterRecord): Uint8Array {
    this.pos = 0;
    const r = rec;
    this.ascii('{"time_received_ns":');
    this.timeNs(r.timeReceivedSec, r.timeReceivedNsec);
    this.ascii(',"sampler_address":"');
    this.ip(r.agentAddress, r.agentAddressLen);
    this.ascii('"');
    this.jsonU32(',"sub_agent_id":', r.subAgentId);
    this.jsonU32(',"sequence_num":', r.datagramSequenceNum);
    this.jsonU32(',"sample_sequence_num":', r.sampleSequenceNum);
    this.jsonU32(',"source_id_type":', r.sourceIdType);
    this.jsonU32(',"source_id_index":', r.sourceIdIndex);
    this.jsonU32(',"uptime_ms":', r.uptimeMs);
    this.ascii(r.hasGeneric ? ',"has_generic":true' : ',"has_generic":false');
    this.ascii(r.hasEthernet ? ',"has_ethernet":true' : ',"has_ethernet":false');
    this.jsonU32(',"if_index":', r.ifIndex);
    if (r.hasGeneric) {
      this.jsonU32(',"if_type":', r.ifType);
      this.jsonU64(',"if_speed":', r.ifSpeedHi, r.ifSpeedLo);
      this.jsonU32(',"if_direction":', r.ifDirection);
      this.jsonU32(',"if_status":', r.ifStatus);
      this.jsonU64(',"if_in_octets":', r.ifInOctetsHi, r.ifInOctetsLo);
      this.jsonU32(',"if_in_ucast_pkts":', r.ifInUcastPkts);
      this.jsonU32(',"if_in_multicast_pkts":', r.ifInMulticastPkts);
      this.jsonU32(',"if_in_broadcast_pkts":', r.ifInBroadcastPkts);
      this.jsonU32(',"if_in_discards":', r.ifInDiscards);
      this.jsonU32(',"if_in_errors":', r.ifInErrors);
      this.jsonU32(',"if_in_unknown_protos":', r.ifInUnknownProtos);
      this.jsonU64(',"if_out_octets":', r.ifOutOctetsHi, r.ifOutOctetsLo);
      this.jsonU32(',"if_out_ucast_pkts":', r.ifOutUcastPkts);
      this.jsonU32(',"if_out_multicast_pkts":', r.ifOutMulticastPkts);
      this.jsonU32(',"if_out_broadcast_pkts":', r.ifOutBroadcastPkts);
      this.jsonU32(',"if_out_discards":', r.ifOutDiscards);
      this.jsonU32(',"if_out_errors":', r.ifOutErrors);
      this.jsonU32(',"if_promiscuous_mode":', r.ifPromiscuousMode);
    }
    if (r.hasEthernet) {
      this.jsonU32(',"dot3_stats_alignment_errors":', r.dot3StatsAlignmentErrors);
      this.jsonU32(',"dot3_stats_fcs_errors":', r.dot3StatsFCSErrors);
      this.jsonU32(',"dot3_stats_single_collision_frames":', r.dot3StatsSingleCollisionFrames);
      this.jsonU32(',"dot3_stats_multiple_collision_frames":', r.dot3StatsMultipleCollisionFrames);
      this.jsonU32(',"dot3_stats_sqe_test_errors":', r.dot3StatsSQETestErrors);
      this.jsonU32(',"dot3_stats_deferred_transmissions":', r.dot3StatsDeferredTransmissions);
      this.jsonU32(',"dot3_stats_late_collisions":', r.dot3StatsLateCollisions);
      this.jsonU32(',"dot3_stats_excessive_collisions":', r.dot3StatsExcessiveCollisions);
      this.jsonU32(',"dot3_stats_internal_mac_transmit_errors":', r.dot3StatsInternalMacTransmitErrors);
      this.jsonU32(',"dot3_stats_carrier_sense_errors":', r.dot3StatsCarrierSenseErrors);
      this.jsonU32(',"dot3_stats_frame_too_longs":', r.dot3StatsFrameTooLongs);
      this.jsonU32(',"dot3_stats_internal_mac_receive_errors":', r.dot3StatsInternalMacReceiveErrors);
      this.jsonU32(',"dot3_stats_symbol_errors":', r.dot3StatsSymbolErrors);
    }
    this.ascii('}\n');
    return this.buf.subarray(0, this.pos);
  }

  /** Writes an ASCII string (keys and literals; all static). */
  private ascii(s: string): void {
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < s.length; i++) b[p++] = s.charCodeAt(i);
    this.pos = p;
  }

  /** Writes a non-negative integer < 2^53 in decimal without allocating. */
  private digits(v: number): void {
    const b = this.buf;
    if (v < 10) {
      b[this.pos++] = 48 + v;
      return;
    }
    let n = 0;
    let t = v;
    while (t >= 1) {
      t = Math.floor(t / 10);
      n++;
    }
    let p = this.pos + n;
    this.pos = p;
    while (v >= 1) {
      const q = Math.floor(v / 10);
      b[--p] = 48 + (v - q * 10);
      v = q;
    }
  }

  private jsonU32(key: string, v: number): void {
    this.ascii(key);
    this.digits(v >>> 0);
  }

  private jsonU64(key: string, hi: number, lo: number): void {
    this.ascii(key);
    hi = hi >>> 0;
    lo = lo >>> 0;
    if (hi <= SAFE_HI) this.digits(hi * TWO32 + lo);
    else this.ascii(((BigInt(hi) << 32n) | BigInt(lo)).toString()); // >= 2^53: exact, rare
  }

  /** sec * 1e9 + nsec in decimal, exactly: the seconds then nine nanosecond digits. */
  private timeNs(sec: number, nsec: number): void {
    if (sec === 0) {
      this.digits(nsec);
      return;
    }
    this.digits(sec);
    const b = this.buf;
    let p = this.pos + 9;
    this.pos = p;
    let v = nsec;
    for (let i = 0; i < 9; i++) {
      const q = Math.floor(v / 10);
      b[--p] = 48 + (v - q * 10);
      v = q;
    }
  }

  /** IPv4 dotted quad or RFC 5952 IPv6 text. */
  private ip(a: Uint8Array, len: number): void {
    const b = this.buf;
    if (len === 4) {
      for (let i = 0; i < 4; i++) {
        if (i > 0) b[this.pos++] = 46;
        this.digits(a[i]!);
      }
      return;
    }
    if (len !== 16) return;
    // Longest run (>= 2) of zero groups is compressed to "::".
    let bestStart = -1;
    let bestLen = 1;
    let runStart = -1;
    for (let g = 0; g <= 8; g++) {
      const zero = g < 8 && a[g * 2] === 0 && a[g * 2 + 1] === 0;
      if (zero) {
        if (runStart < 0) runStart = g;
      } else if (runStart >= 0) {
        if (g - runStart > bestLen) {
          bestStart = runStart;
          bestLen = g - runStart;
        }
        runStart = -1;
      }
    }
    for (let g = 0; g < 8; g++) {
      if (g === bestStart) {
        b[this.pos++] = 58;
        b[this.pos++] = 58;
        g += bestLen - 1;
        continue;
      }
      if (g > 0 && g !== bestStart + bestLen) b[this.pos++] = 58;
      this.hex((a[g * 2]! << 8) | a[g * 2 + 1]!);
    }
  }

  private hex(v: number): void {
    const b = this.buf;
    let started = false;
    for (let s = 12; s >= 0; s -= 4) {
      const d = (v >> s) & 15;
      if (d !== 0 || started || s === 0) {
        b[this.pos++] = d < 10 ? 48 + d : 87 + d;
        started = true;
      }
    }
  }
}
