/**
 * Interface counters from sFlow counter samples (sample types 0:2 and 0:4), one reused
 * CounterRecord per counter sample that carries generic interface (0:1) and/or Ethernet (0:2)
 * counter records.
 *
 * 64-bit counters (ifSpeed, ifInOctets, ifOutOctets) are kept exactly as two unsigned 32-bit
 * halves (`*Hi`, `*Lo`); use `u64ToNumber` / `u64ToBigInt` to read them. All 32-bit counters are
 * plain numbers (exact).
 */

/** Receives counter records synchronously; must not keep `rec` after returning. */
export interface CounterSink {
  onCounters(rec: CounterRecord): void;
}

/** Exact 2^32 multiplier for hi/lo pairs. */
const TWO32 = 4294967296;

/** hi * 2^32 + lo as a number: exact below 2^53, rounded above. */
export function u64ToNumber(hi: number, lo: number): number {
  return hi * TWO32 + lo;
}

/** hi * 2^32 + lo as an exact bigint (allocates; slow path). */
export function u64ToBigInt(hi: number, lo: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

export class CounterRecord {
  // --- where it came from ---------------------------------------------------------------
  /** Receive time of the datagram. */
  timeReceivedSec = 0;
  timeReceivedNsec = 0;
  /** Agent address from the datagram header (4 = IPv4, 16 = IPv6 bytes used). */
  agentAddress = new Uint8Array(16);
  agentAddressLen = 0;
  subAgentId = 0;
  /** Datagram sequence number. */
  datagramSequenceNum = 0;
  /** Agent uptime in milliseconds from the datagram header. */
  uptimeMs = 0;
  /** Counter sample sequence number. */
  sampleSequenceNum = 0;
  /** sFlow data source: type (0 = ifIndex, 1 = smonVlanDataSource, 2 = entPhysicalEntry) and index. */
  sourceIdType = 0;
  sourceIdIndex = 0;

  // --- generic interface counters (counter record 0:1) ----------------------------------
  hasGeneric = false;
  ifIndex = 0;
  ifType = 0;
  ifSpeedHi = 0;
  ifSpeedLo = 0;
  /** 0 = unknown, 1 = full-duplex, 2 = half-duplex, 3 = in, 4 = out. */
  ifDirection = 0;
  /** bit 0 = ifAdminStatus up, bit 1 = ifOperStatus up. */
  ifStatus = 0;
  ifInOctetsHi = 0;
  ifInOctetsLo = 0;
  ifInUcastPkts = 0;
  ifInMulticastPkts = 0;
  ifInBroadcastPkts = 0;
  ifInDiscards = 0;
  ifInErrors = 0;
  ifInUnknownProtos = 0;
  ifOutOctetsHi = 0;
  ifOutOctetsLo = 0;
  ifOutUcastPkts = 0;
  ifOutMulticastPkts = 0;
  ifOutBroadcastPkts = 0;
  ifOutDiscards = 0;
  ifOutErrors = 0;
  ifPromiscuousMode = 0;

  // --- Ethernet interface counters (counter record 0:2) ---------------------------------
  hasEthernet = false;
  dot3StatsAlignmentErrors = 0;
  dot3StatsFCSErrors = 0;
  dot3StatsSingleCollisionFrames = 0;
  dot3StatsMultipleCollisionFrames = 0;
  dot3StatsSQETestErrors = 0;
  dot3StatsDeferredTransmissions = 0;
  dot3StatsLateCollisions = 0;
  dot3StatsExcessiveCollisions = 0;
  dot3StatsInternalMacTransmitErrors = 0;
  dot3StatsCarrierSenseErrors = 0;
  dot3StatsFrameTooLongs = 0;
  dot3StatsInternalMacReceiveErrors = 0;
  dot3StatsSymbolErrors = 0;

  get ifSpeed(): number {
    return u64ToNumber(this.ifSpeedHi, this.ifSpeedLo);
  }
  get ifInOctets(): number {
    return u64ToNumber(this.ifInOctetsHi, this.ifInOctetsLo);
  }
  get ifOutOctets(): number {
    return u64ToNumber(this.ifOutOctetsHi, this.ifOutOctetsLo);
  }

  reset(): void {
    this.timeReceivedSec = 0;
    this.timeReceivedNsec = 0;
    this.agentAddressLen = 0;
    this.subAgentId = 0;
    this.datagramSequenceNum = 0;
    this.uptimeMs = 0;
    this.sampleSequenceNum = 0;
    this.sourceIdType = 0;
    this.sourceIdIndex = 0;
    this.hasGeneric = false;
    this.ifIndex = 0;
    this.ifType = 0;
    this.ifSpeedHi = 0;
    this.ifSpeedLo = 0;
    this.ifDirection = 0;
    this.ifStatus = 0;
    this.ifInOctetsHi = 0;
    this.ifInOctetsLo = 0;
    this.ifInUcastPkts = 0;
    this.ifInMulticastPkts = 0;
    this.ifInBroadcastPkts = 0;
    this.ifInDiscards = 0;
    this.ifInErrors = 0;
    this.ifInUnknownProtos = 0;
    this.ifOutOctetsHi = 0;
    this.ifOutOctetsLo = 0;
    this.ifOutUcastPkts = 0;
    this.ifOutMulticastPkts = 0;
    this.ifOutBroadcastPkts = 0;
    this.ifOutDiscards = 0;
    this.ifOutErrors = 0;
    this.ifPromiscuousMode = 0;
    this.hasEthernet = false;
    this.dot3StatsAlignmentErrors = 0;
    this.dot3StatsFCSErrors = 0;
    this.dot3StatsSingleCollisionFrames = 0;
    this.dot3StatsMultipleCollisionFrames = 0;
    this.dot3StatsSQETestErrors = 0;
    this.dot3StatsDeferredTransmissions = 0;
    this.dot3StatsLateCollisions = 0;
    this.dot3StatsExcessiveCollisions = 0;
    this.dot3StatsInternalMacTransmitErrors = 0;
    this.dot3StatsCarrierSenseErrors = 0;
    this.dot3StatsFrameTooLongs = 0;
    this.dot3StatsInternalMacReceiveErrors = 0;
    this.dot3StatsSymbolErrors = 0;
  }
}
