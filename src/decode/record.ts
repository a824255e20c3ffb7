/**
 * The normalised flow record: one per decoded data record, with the fields of goflow2's
 * `flowpb.FlowMessage` (see proto/flow.proto) plus ServiceRadar's additions and our extension
 * fields (tags >= 1000).
 *
 * Hot-path contract: decoders fill ONE reused FlowRecord per datagram stream and hand it to a
 * sink synchronously; the sink must encode or copy it before returning. Nothing in here is
 * allocated per record: addresses live in preallocated 16-byte arrays with a length (0 = absent,
 * 4 = IPv4, 16 = IPv6), repeated fields in preallocated arrays with a count, and every field a
 * router sent that has no FlowMessage slot is referenced (descriptor, buffer, offset, length)
 * in the `extra*` arrays rather than copied.
 */

/** flowpb.FlowMessage.FlowType */
export const FlowType = {
  FLOWUNKNOWN: 0,
  SFLOW_5: 1,
  NETFLOW_V5: 2,
  NETFLOW_V9: 3,
  IPFIX: 4,
} as const;

/** flowpb.FlowMessage.LayerStack */
export const LayerStack = {
  Ethernet: 0,
  IPv4: 1,
  IPv6: 2,
  TCP: 3,
  UDP: 4,
  MPLS: 5,
  Dot1Q: 6,
  ICMP: 7,
  ICMPv6: 8,
  GRE: 9,
  IPv6HeaderRouting: 10,
  IPv6HeaderFragment: 11,
  Geneve: 12,
  Teredo: 13,
  Custom: 99,
} as const;

/**
 * Abstract data types of RFC 7012 (and the registry CSV), as small integers so compiled
 * decoders and encoders can switch on them cheaply.
 */
export const DataType = {
  octetArray: 0,
  unsigned8: 1,
  unsigned16: 2,
  unsigned32: 3,
  unsigned64: 4,
  signed8: 5,
  signed16: 6,
  signed32: 7,
  signed64: 8,
  float32: 9,
  float64: 10,
  boolean: 11,
  macAddress: 12,
  string: 13,
  dateTimeSeconds: 14,
  dateTimeMilliseconds: 15,
  dateTimeMicroseconds: 16,
  dateTimeNanoseconds: 17,
  ipv4Address: 18,
  ipv6Address: 19,
  basicList: 20,
  subTemplateList: 21,
  subTemplateMultiList: 22,
} as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

/**
 * What the registry knows of one information element. Shared, immutable, one object per
 * (pen, id) for the life of the process; templates point at these.
 */
export interface ElementInfo {
  /** Private enterprise number; 0 for IANA elements. */
  readonly pen: number;
  readonly id: number;
  /** Registry name (camelCase), or `<pen>.<id>` / `<id>` when unknown. */
  readonly name: string;
  readonly type: DataTypeCode;
  /** True when the registry (IANA table or vendor overlay) knows this element. */
  readonly known: boolean;
}

/**
 * A decoded value of a structured (RFC 6313) or otherwise non-scalar extra field, built on the
 * slow path. Lists are rare; they allocate.
 */
export type StructuredValue = unknown;

/** Maximum entries kept for each repeated FlowMessage field (MPLS stack, AS path, ...). */
export const MAX_REPEATED = 32;
/** Maximum number of extra (non-FlowMessage) fields kept per record. */
export const MAX_EXTRAS = 256;

function addr(): Uint8Array {
  return new Uint8Array(16);
}

export class FlowRecord {
  // --- flowpb.FlowMessage ---------------------------------------------------------------
  type = 0; // 1
  /** time_received_ns = 110, split into seconds and nanoseconds to stay exact in a double. */
  timeReceivedSec = 0;
  timeReceivedNsec = 0;
  sequenceNum = 0; // 4
  samplingRate = 0; // 3
  samplerAddress = addr(); // 11
  samplerAddressLen = 0;
  /** time_flow_start_ns = 111 */
  timeFlowStartSec = 0;
  timeFlowStartNsec = 0;
  /** time_flow_end_ns = 112 */
  timeFlowEndSec = 0;
  timeFlowEndNsec = 0;
  bytes = 0; // 9
  packets = 0; // 10
  srcAddr = addr(); // 6
  srcAddrLen = 0;
  dstAddr = addr(); // 7
  dstAddrLen = 0;
  etype = 0; // 30
  proto = 0; // 20
  srcPort = 0; // 21
  dstPort = 0; // 22
  inIf = 0; // 18
  outIf = 0; // 19
  srcMac = 0; // 27 (48-bit value, exact in a double)
  dstMac = 0; // 28
  srcVlan = 0; // 33
  dstVlan = 0; // 34
  vlanId = 0; // 29
  ipTos = 0; // 23
  forwardingStatus = 0; // 24
  ipTtl = 0; // 25
  ipFlags = 0; // 38
  tcpFlags = 0; // 26
  icmpType = 0; // 31
  icmpCode = 0; // 32
  ipv6FlowLabel = 0; // 37
  fragmentId = 0; // 35
  fragmentOffset = 0; // 36
  srcAs = 0; // 14
  dstAs = 0; // 15
  nextHop = addr(); // 12
  nextHopLen = 0;
  nextHopAs = 0; // 13
  srcNet = 0; // 16
  dstNet = 0; // 17
  bgpNextHop = addr(); // 100
  bgpNextHopLen = 0;
  bgpCommunities: number[] = new Array<number>(MAX_REPEATED).fill(0); // 101
  bgpCommunitiesCount = 0;
  asPath: number[] = new Array<number>(MAX_REPEATED).fill(0); // 102
  asPathCount = 0;
  mplsTtl: number[] = new Array<number>(MAX_REPEATED).fill(0); // 80
  mplsLabel: number[] = new Array<number>(MAX_REPEATED).fill(0); // 81
  /** mpls_ttl and mpls_label share one count (one entry per label stack entry). */
  mplsCount = 0;
  mplsIp = addr(); // 82 (top label's IP, when an exporter sends one)
  mplsIpLen = 0;
  observationDomainId = 0; // 70
  observationPointId = 0; // 71
  layerStack: number[] = new Array<number>(MAX_REPEATED).fill(0); // 103
  layerSize: number[] = new Array<number>(MAX_REPEATED).fill(0); // 104
  layerCount = 0;
  ipv6RoutingHeaderAddresses: Uint8Array[] = []; // 105 (slow path, sFlow SRv6 only)
  ipv6RoutingHeaderAddressesCount = 0;
  ipv6RoutingHeaderSegLeft = 0; // 106

  // --- ServiceRadar additions -----------------------------------------------------------
  /** protocol_name = 107: a static string from the IANA protocol table ("" = unknown). */
  protocolName = '';
  bytesIn = 0; // 113
  bytesOut = 0; // 114
  packetsIn = 0; // 115
  packetsOut = 0; // 116

  // --- flow-collector extensions (tags >= 1000, documented in docs/fields.md) -------------
  /** 1000: export protocol version as on the wire: 1, 5, 7, 9, 10 (IPFIX) or 5 for sFlow. */
  exportVersion = 0;
  /** 1001 / 1002: interface names from options data (enrichment). */
  inIfName = '';
  outIfName = '';
  /** 1003 / 1004: interface descriptions from options data. */
  inIfDesc = '';
  outIfDesc = '';
  /** 1005: the template id the record was decoded with (0 for v1/v5/v7/sFlow). */
  templateId = 0;
  /** 1006: bytes as received before sampling renormalisation (set only when renormalised). */
  rawBytes = 0;
  /** 1007: packets as received before sampling renormalisation. */
  rawPackets = 0;
  /** 1008: VRF name from options data. */
  vrfName = '';

  // --- internal, not encoded: keys for sampler and enrichment look-ups ------------------
  /** samplerId (48) of the record, or -1. */
  samplerId = -1;
  /** selectorId (302) of the record, or -1. */
  selectorId = -1;
  /** ingressVRFID (234) of the record, or -1. */
  ingressVrfId = -1;

  // --- every other field the exporter sent ----------------------------------------------
  extraCount = 0;
  extraInfo: (ElementInfo | undefined)[] = new Array(MAX_EXTRAS).fill(undefined);
  /** Buffer the extra field's bytes live in (the datagram, or a pending-buffer copy). */
  extraBuf: (Uint8Array | undefined)[] = new Array(MAX_EXTRAS).fill(undefined);
  extraOff = new Int32Array(MAX_EXTRAS);
  extraLen = new Int32Array(MAX_EXTRAS);
  /** Slow-path decoded value (RFC 6313 lists); undefined for plain byte-backed fields. */
  extraValue: StructuredValue[] = new Array(MAX_EXTRAS).fill(undefined);

  /** Adds an extra field by reference. Fields beyond MAX_EXTRAS are counted by the caller. */
  addExtra(info: ElementInfo, buf: Uint8Array, off: number, len: number): boolean {
    const i = this.extraCount;
    if (i >= MAX_EXTRAS) return false;
    this.extraInfo[i] = info;
    this.extraBuf[i] = buf;
    this.extraOff[i] = off;
    this.extraLen[i] = len;
    this.extraValue[i] = undefined;
    this.extraCount = i + 1;
    return true;
  }

  addExtraValue(info: ElementInfo, value: StructuredValue): boolean {
    const i = this.extraCount;
    if (i >= MAX_EXTRAS) return false;
    this.extraInfo[i] = info;
    this.extraBuf[i] = undefined;
    this.extraOff[i] = 0;
    this.extraLen[i] = 0;
    this.extraValue[i] = value;
    this.extraCount = i + 1;
    return true;
  }

  /** Resets every field to its zero value; called by decoders before filling a record. */
  reset(): void {
    this.type = 0;
    this.timeReceivedSec = 0;
    this.timeReceivedNsec = 0;
    this.sequenceNum = 0;
    this.samplingRate = 0;
    this.samplerAddressLen = 0;
    this.timeFlowStartSec = 0;
    this.timeFlowStartNsec = 0;
    this.timeFlowEndSec = 0;
    this.timeFlowEndNsec = 0;
    this.bytes = 0;
    this.packets = 0;
    this.srcAddrLen = 0;
    this.dstAddrLen = 0;
    this.etype = 0;
    this.proto = 0;
    this.srcPort = 0;
    this.dstPort = 0;
    this.inIf = 0;
    this.outIf = 0;
    this.srcMac = 0;
    this.dstMac = 0;
    this.srcVlan = 0;
    this.dstVlan = 0;
    this.vlanId = 0;
    this.ipTos = 0;
    this.forwardingStatus = 0;
    this.ipTtl = 0;
    this.ipFlags = 0;
    this.tcpFlags = 0;
    this.icmpType = 0;
    this.icmpCode = 0;
    this.ipv6FlowLabel = 0;
    this.fragmentId = 0;
    this.fragmentOffset = 0;
    this.srcAs = 0;
    this.dstAs = 0;
    this.nextHopLen = 0;
    this.nextHopAs = 0;
    this.srcNet = 0;
    this.dstNet = 0;
    this.bgpNextHopLen = 0;
    this.bgpCommunitiesCount = 0;
    this.asPathCount = 0;
    this.mplsCount = 0;
    this.mplsIpLen = 0;
    this.observationDomainId = 0;
    this.observationPointId = 0;
    this.layerCount = 0;
    this.ipv6RoutingHeaderAddressesCount = 0;
    this.ipv6RoutingHeaderSegLeft = 0;
    this.protocolName = '';
    this.bytesIn = 0;
    this.bytesOut = 0;
    this.packetsIn = 0;
    this.packetsOut = 0;
    this.exportVersion = 0;
    this.inIfName = '';
    this.outIfName = '';
    this.inIfDesc = '';
    this.outIfDesc = '';
    this.templateId = 0;
    this.rawBytes = 0;
    this.rawPackets = 0;
    this.vrfName = '';
    this.samplerId = -1;
    this.selectorId = -1;
    this.ingressVrfId = -1;
    // Drop buffer references so a pending-buffer copy is not kept alive by a reused record.
    for (let i = 0; i < this.extraCount; i++) {
      this.extraBuf[i] = undefined;
      this.extraValue[i] = undefined;
    }
    this.extraCount = 0;
  }
}

/** Receives records synchronously from a decoder; must not keep `rec` after returning. */
export interface FlowSink {
  onFlow(rec: FlowRecord): void;
}
