/**
 * sFlow v5 (sflow.org "sFlow Version 5"): the datagram header, flow samples (a raw packet header
 * record with the first bytes of an Ethernet frame, and an extended switch record) and counters
 * samples with generic interface counters.
 */
import { icmpFrame, tcpFrame, udpFrame } from '../capture/mod.js';
import { ipv4String, ipv6String } from '../decode/mod.js';
import type { Flow } from './flow.js';
import type { Rng } from './rng.js';
import type { ByteWriter } from './writer.js';

/** Bytes of the sampled frame a raw packet header record carries. */
export const SFLOW_HEADER_BYTES = 128;

export interface SflowHeader {
  /** IPv4 agent address. */
  agent: Uint8Array;
  subAgent: number;
  seq: number;
  uptimeMs: number;
  samples: number;
}

export function sflowHeader(w: ByteWriter, h: SflowHeader): void {
  w.u32(5).u32(1).bytes(h.agent).u32(h.subAgent).u32(h.seq).u32(h.uptimeMs).u32(h.samples);
}

export interface FlowSampleHeader {
  seq: number;
  /** Source id: type 0 (ifIndex) and the index. */
  sourceId: number;
  rate: number;
  pool: number;
}

/** A flow sample (0:1) of `f`: raw packet header (0:1) of `frame`, extended switch (0:1001). */
export function flowSample(w: ByteWriter, s: FlowSampleHeader, f: Flow, frame: Uint8Array): void {
  const hdr = frame.subarray(0, Math.min(SFLOW_HEADER_BYTES, frame.length));
  const start = w.p;
  w.u32(1).u32(0).u32(s.seq).u32(s.sourceId).u32(s.rate).u32(s.pool).u32(0).u32(f.inIf).u32(f.outIf).u32(2);
  // Raw packet header: ETHERNET-ISO88023, frame length on the wire with the FCS, 4 bytes stripped (the FCS).
  w.u32(1).u32(16 + ((hdr.length + 3) & ~3)).u32(1).u32(frame.length + 4).u32(4).u32(hdr.length).bytes(hdr).pad4();
  w.u32(1001).u32(16).u32(f.vlan).u32(0).u32(f.vlan).u32(0);
  w.setU32(start + 4, w.p - start - 8);
}

/**
 * A counters sample (0:2) with generic interface counters (0:1) of a 10 Gb/s full-duplex
 * interface that is up; the counters are derived from `n` (past 2^32 for a large `n`).
 */
export function countersSample(w: ByteWriter, seq: number, ifIndex: number, n: number): void {
  w.u32(2).u32(12 + 8 + 88).u32(seq).u32(ifIndex).u32(1);
  w.u32(1).u32(88).u32(ifIndex).u32(6).u64(10_000_000_000).u32(1).u32(3);
  // In: octets, unicast, multicast, broadcast, discards, errors, unknown protocols.
  w.u64(n * 1_000_000 + 12_345);
  for (let c = 0; c < 6; c++) w.u32(n * 100 + c);
  // Out: octets, unicast, multicast, broadcast, discards, errors; promiscuous: false.
  w.u64(n * 2_000_000 + 54_321);
  for (let c = 0; c < 5; c++) w.u32(n * 50 + c);
  w.u32(0);
}

/** The Ethernet frame a flow's packet could be (802.1Q tagged unless the VLAN is 0); zero payload. */
export function sampledFrame(f: Flow, rng: Rng): Buffer {
  const srcAddr = f.v6 ? ipv6String(f.src, 0) : ipv4String(f.src, 0);
  const dstAddr = f.v6 ? ipv6String(f.dst, 0) : ipv4String(f.dst, 0);
  const size = Math.max(0, Math.min(1400, Math.floor(f.bytes / f.packets)) - 54);
  const payload = new Uint8Array(size); // zeros: the sampled header is for the collector, not a protocol analyser
  const base = { srcAddr, dstAddr, tos: f.tos, ttl: f.ttl, srcMac: macString(f.srcMac), dstMac: macString(f.dstMac), vlan: f.vlan || undefined };
  if (f.proto === 6) return tcpFrame({ ...base, srcPort: f.srcPort, dstPort: f.dstPort, flags: f.tcpFlags || 0x10, seq: rng.next(), payload });
  if (f.proto === 17) return udpFrame({ ...base, srcPort: f.srcPort, dstPort: f.dstPort, payload });
  return icmpFrame({ ...base, id: rng.int(65_536), seq: rng.int(100), payload: payload.subarray(0, 56) });
}

function macString(b: Buffer): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}
