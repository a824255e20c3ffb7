/**
 * Synthetic sFlow v5 agents (sflow.org "sFlow Version 5"): datagrams of flow samples, each with
 * a raw packet header record (the first 128 bytes of a real Ethernet/IPv4 or IPv6 frame) and an
 * extended switch record; every fourth datagram also carries a counters sample with generic
 * interface counters. One sub-agent per "domain"; the agent address is the exporter's source
 * address when it is IPv4.
 */
import { isIPv4 } from 'node:net';
import { icmpFrame, tcpFrame, udpFrame } from '../capture/mod.js';
import { ipv4String, ipv6String } from '../decode/mod.js';
import { makeFlow, Rng, type Flow } from './flows.js';
import { PacketList, type ExporterStream, type ExporterSynthOptions } from './stream.js';

export const SFLOW_SAMPLES = 5;
const HEADER_BYTES = 128;

export type SflowSynthOptions = ExporterSynthOptions;

function frameOf(f: Flow, rng: Rng): Buffer {
  const srcAddr = f.v6 ? ipv6String(f.src, 0) : ipv4String(f.src, 0);
  const dstAddr = f.v6 ? ipv6String(f.dst, 0) : ipv4String(f.dst, 0);
  const size = Math.max(0, Math.min(1400, Math.floor(f.bytes / f.packets)) - 54);
  const payload = new Uint8Array(size); // zeros: the sampled header is for the collector, not a protocol analyser
  const base = { srcAddr, dstAddr, tos: f.tos, ttl: f.ttl, srcMac: macString(f.srcMac), dstMac: macString(f.dstMac), vlan: f.vlan };
  if (f.proto === 6) return tcpFrame({ ...base, srcPort: f.srcPort, dstPort: f.dstPort, flags: f.tcpFlags || 0x10, seq: rng.next(), payload });
  if (f.proto === 17) return udpFrame({ ...base, srcPort: f.srcPort, dstPort: f.dstPort, payload });
  return icmpFrame({ ...base, id: rng.int(65_536), seq: rng.int(100), payload: payload.subarray(0, 56) });
}

function macString(b: Buffer): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export function synthSflowExporter(o: SflowSynthOptions): ExporterStream {
  const rng = new Rng(o.seed ^ (o.exporter * 3266489917));
  const agent = isIPv4(o.source) ? Buffer.from(o.source.split('.').map(Number)) : Buffer.from([192, 0, 2, (o.exporter % 254) + 1]);
  const list = new PacketList();
  const sampleSeq = new Map<number, number>();
  let k = 0;
  for (let i = 0; i < o.pool; i++) {
    const d = i % o.domains;
    const withCounters = i % 4 === 3;
    const b = Buffer.alloc(2048);
    b.writeUInt32BE(5, 0);
    b.writeUInt32BE(1, 4); // IPv4 agent address
    agent.copy(b, 8);
    b.writeUInt32BE(d, 12); // sub-agent
    b.writeUInt32BE(0, 16); // datagram sequence: stamped when sent
    b.writeUInt32BE(3_600_000 + i * 40, 20); // uptime ms
    b.writeUInt32BE(SFLOW_SAMPLES + (withCounters ? 1 : 0), 24);
    let p = 28;
    for (let s = 0; s < SFLOW_SAMPLES; s++) {
      const f = makeFlow(rng, o.exporter, k++, k % 3 === 2);
      const ifIndex = f.inIf;
      const seq = (sampleSeq.get(ifIndex) ?? 0) + 1;
      sampleSeq.set(ifIndex, seq);
      const frame = frameOf(f, rng);
      const hdr = frame.subarray(0, Math.min(HEADER_BYTES, frame.length));
      const hdrPadded = (hdr.length + 3) & ~3;
      const start = p;
      b.writeUInt32BE(1, p); // flow sample, enterprise 0
      p += 8;
      b.writeUInt32BE(seq, p);
      b.writeUInt32BE(ifIndex, p + 4); // source id: type 0 (ifIndex)
      b.writeUInt32BE(o.samplingRate, p + 8);
      b.writeUInt32BE((seq * o.samplingRate) >>> 0, p + 12); // sample pool
      b.writeUInt32BE(0, p + 16); // drops
      b.writeUInt32BE(f.inIf, p + 20);
      b.writeUInt32BE(f.outIf, p + 24);
      b.writeUInt32BE(2, p + 28); // records
      p += 32;
      // Raw packet header.
      b.writeUInt32BE(1, p);
      b.writeUInt32BE(16 + hdrPadded, p + 4);
      b.writeUInt32BE(1, p + 8); // ETHERNET-ISO88023
      b.writeUInt32BE(frame.length + 4, p + 12); // frame length on the wire, FCS included
      b.writeUInt32BE(4, p + 16); // bytes stripped (the FCS)
      b.writeUInt32BE(hdr.length, p + 20);
      hdr.copy(b, p + 24);
      p += 24 + hdrPadded;
      // Extended switch.
      b.writeUInt32BE(1001, p);
      b.writeUInt32BE(16, p + 4);
      b.writeUInt32BE(f.vlan, p + 8);
      b.writeUInt32BE(0, p + 12);
      b.writeUInt32BE(f.vlan, p + 16);
      b.writeUInt32BE(0, p + 20);
      p += 24;
      b.writeUInt32BE(p - start - 8, start + 4);
    }
    if (withCounters) {
      const start = p;
      const ifIndex = 1 + (i % 48);
      b.writeUInt32BE(2, p); // counters sample
      b.writeUInt32BE(0, p + 8 - 4); // length, set below
      b.writeUInt32BE(i + 1, p + 8);
      b.writeUInt32BE(ifIndex, p + 12);
      b.writeUInt32BE(1, p + 16); // records
      p += 20;
      b.writeUInt32BE(1, p); // generic interface counters
      b.writeUInt32BE(88, p + 4);
      let q = p + 8;
      q = b.writeUInt32BE(ifIndex, q);
      q = b.writeUInt32BE(6, q); // ethernetCsmacd
      b.writeBigUInt64BE(10_000_000_000n, q);
      q += 8;
      q = b.writeUInt32BE(1, q); // full duplex
      q = b.writeUInt32BE(3, q); // admin and oper up
      b.writeBigUInt64BE(BigInt(i) * 1_000_000n + 12_345n, q);
      q += 8;
      for (let c = 0; c < 6; c++) q = b.writeUInt32BE(i * 100 + c, q); // unicast, multicast, broadcast, discards, errors, unknown protocols
      b.writeBigUInt64BE(BigInt(i) * 2_000_000n + 54_321n, q);
      q += 8;
      for (let c = 0; c < 5; c++) q = b.writeUInt32BE(i * 50 + c, q); // unicast, multicast, broadcast, discards, errors
      q = b.writeUInt32BE(0, q); // promiscuous: false
      p = q;
      b.writeUInt32BE(p - start - 8, start + 4);
    }
    list.add(Buffer.from(b.subarray(0, p)), { seqOff: 16, seqStep: 1, domain: d, timeOff: -1, flows: SFLOW_SAMPLES, template: false });
  }
  return list.build(o.source, `sflow agent ${o.exporter + 1}`, o.domains, [], 0);
}
