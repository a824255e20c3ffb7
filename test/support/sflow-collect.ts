/** Test sinks for the sFlow decoder: plain-object snapshots of the reused records. */
import { formatIPv4, formatIPv6 } from '../../src/capture/mod.js';
import type { FlowRecord, FlowSink } from '../../src/decode/record.js';
import type { CounterRecord, CounterSink } from '../../src/decode/sflow/mod.js';

export function ipText(a: Uint8Array, len: number): string {
  if (len === 4) return formatIPv4(a, 0);
  if (len === 16) return formatIPv6(a, 0);
  return '';
}

export function macText(v: number): string {
  const hex = v.toString(16).padStart(12, '0');
  return hex.match(/../g)!.join(':');
}

export interface FlowSnapshot {
  type: number;
  exportVersion: number;
  timeReceivedSec: number;
  timeReceivedNsec: number;
  timeFlowStartSec: number;
  timeFlowEndSec: number;
  sequenceNum: number;
  samplingRate: number;
  samplerAddress: string;
  observationDomainId: number;
  observationPointId: number;
  inIf: number;
  outIf: number;
  forwardingStatus: number;
  bytes: number;
  packets: number;
  etype: number;
  srcAddr: string;
  dstAddr: string;
  proto: number;
  protocolName: string;
  srcPort: number;
  dstPort: number;
  tcpFlags: number;
  ipTos: number;
  ipTtl: number;
  ipFlags: number;
  fragmentId: number;
  fragmentOffset: number;
  ipv6FlowLabel: number;
  icmpType: number;
  icmpCode: number;
  srcMac: string;
  dstMac: string;
  vlanId: number;
  srcVlan: number;
  dstVlan: number;
  mplsLabel: number[];
  mplsTtl: number[];
  layerStack: number[];
  layerSize: number[];
  nextHop: string;
  srcNet: number;
  dstNet: number;
  bgpNextHop: string;
  srcAs: number;
  dstAs: number;
  nextHopAs: number;
  asPath: number[];
  bgpCommunities: number[];
  ipv6RoutingHeaderSegLeft: number;
  ipv6RoutingHeaderAddresses: string[];
  extras: Array<{ name: string; bytes: number[] }>;
}

export function snapshotFlow(r: FlowRecord): FlowSnapshot {
  const extras: Array<{ name: string; bytes: number[] }> = [];
  for (let i = 0; i < r.extraCount; i++) {
    const b = r.extraBuf[i]!;
    extras.push({ name: r.extraInfo[i]!.name, bytes: [...b.subarray(r.extraOff[i]!, r.extraOff[i]! + r.extraLen[i]!)] });
  }
  return {
    type: r.type,
    exportVersion: r.exportVersion,
    timeReceivedSec: r.timeReceivedSec,
    timeReceivedNsec: r.timeReceivedNsec,
    timeFlowStartSec: r.timeFlowStartSec,
    timeFlowEndSec: r.timeFlowEndSec,
    sequenceNum: r.sequenceNum,
    samplingRate: r.samplingRate,
    samplerAddress: ipText(r.samplerAddress, r.samplerAddressLen),
    observationDomainId: r.observationDomainId,
    observationPointId: r.observationPointId,
    inIf: r.inIf,
    outIf: r.outIf,
    forwardingStatus: r.forwardingStatus,
    bytes: r.bytes,
    packets: r.packets,
    etype: r.etype,
    srcAddr: ipText(r.srcAddr, r.srcAddrLen),
    dstAddr: ipText(r.dstAddr, r.dstAddrLen),
    proto: r.proto,
    protocolName: r.protocolName,
    srcPort: r.srcPort,
    dstPort: r.dstPort,
    tcpFlags: r.tcpFlags,
    ipTos: r.ipTos,
    ipTtl: r.ipTtl,
    ipFlags: r.ipFlags,
    fragmentId: r.fragmentId,
    fragmentOffset: r.fragmentOffset,
    ipv6FlowLabel: r.ipv6FlowLabel,
    icmpType: r.icmpType,
    icmpCode: r.icmpCode,
    srcMac: macText(r.srcMac),
    dstMac: macText(r.dstMac),
    vlanId: r.vlanId,
    srcVlan: r.srcVlan,
    dstVlan: r.dstVlan,
    mplsLabel: r.mplsLabel.slice(0, r.mplsCount),
    mplsTtl: r.mplsTtl.slice(0, r.mplsCount),
    layerStack: r.layerStack.slice(0, r.layerCount),
    layerSize: r.layerSize.slice(0, r.layerCount),
    nextHop: ipText(r.nextHop, r.nextHopLen),
    srcNet: r.srcNet,
    dstNet: r.dstNet,
    bgpNextHop: ipText(r.bgpNextHop, r.bgpNextHopLen),
    srcAs: r.srcAs,
    dstAs: r.dstAs,
    nextHopAs: r.nextHopAs,
    asPath: r.asPath.slice(0, r.asPathCount),
    bgpCommunities: r.bgpCommunities.slice(0, r.bgpCommunitiesCount),
    ipv6RoutingHeaderSegLeft: r.ipv6RoutingHeaderSegLeft,
    ipv6RoutingHeaderAddresses: r.ipv6RoutingHeaderAddresses.slice(0, r.ipv6RoutingHeaderAddressesCount).map((a) => ipText(a, 16)),
    extras,
  };
}

export type CounterSnapshot = Record<string, number | string | boolean | bigint>;

export function snapshotCounters(c: CounterRecord): CounterSnapshot {
  const out: CounterSnapshot = {};
  for (const [k, v] of Object.entries(c)) {
    if (k === 'agentAddress' || k === 'agentAddressLen') continue;
    if (typeof v === 'number' || typeof v === 'boolean') out[k] = v;
  }
  out['agentAddress'] = ipText(c.agentAddress, c.agentAddressLen);
  return out;
}

export class Collect implements FlowSink, CounterSink {
  flows: FlowSnapshot[] = [];
  counters: CounterSnapshot[] = [];
  onFlow(rec: FlowRecord): void {
    this.flows.push(snapshotFlow(rec));
  }
  onCounters(rec: CounterRecord): void {
    this.counters.push(snapshotCounters(rec));
  }
}
