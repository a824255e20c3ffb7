/**
 * Synthetic NetFlow v5 exporters (Cisco's v5 format): 30 records of 48 bytes per datagram, one
 * engine per "domain" (engine_id = domain index), the sampling interval in the header.
 */
import { makeFlow, Rng } from './flows.js';
import { PacketList, type ExporterStream, type ExporterSynthOptions } from './stream.js';

export const V5_RECORDS = 30;

export interface V5SynthOptions extends ExporterSynthOptions {
  /** Unix seconds the records' times are relative to. */
  baseSec: number;
}

export function synthV5Exporter(o: V5SynthOptions): ExporterStream {
  const rng = new Rng(o.seed ^ (o.exporter * 2246822519));
  const uptimeMs = 3_600_000 + o.exporter * 1000;
  const list = new PacketList();
  let k = 0;
  // Mode 01 (packet interval) in the top two bits, the interval in the other 14.
  const sampling = o.samplingRate > 1 ? (1 << 14) | Math.min(o.samplingRate, 0x3fff) : 0;
  for (let i = 0; i < o.pool; i++) {
    const d = i % o.domains;
    const b = Buffer.alloc(24 + 48 * V5_RECORDS);
    b.writeUInt16BE(5, 0);
    b.writeUInt16BE(V5_RECORDS, 2);
    b.writeUInt32BE(uptimeMs, 4);
    b.writeUInt32BE(o.baseSec >>> 0, 8);
    b.writeUInt32BE(0, 12);
    b[20] = 0; // engine type
    b[21] = d; // engine id
    b.writeUInt16BE(sampling, 22);
    for (let r = 0; r < V5_RECORDS; r++) {
      const f = makeFlow(rng, o.exporter, k++, false);
      const p = 24 + 48 * r;
      f.src.copy(b, p);
      f.dst.copy(b, p + 4);
      f.nextHop.copy(b, p + 8);
      b.writeUInt16BE(f.inIf, p + 12);
      b.writeUInt16BE(f.outIf, p + 14);
      b.writeUInt32BE(f.packets, p + 16);
      b.writeUInt32BE(f.bytes, p + 20);
      b.writeUInt32BE((uptimeMs - f.startAgoMs) >>> 0, p + 24);
      b.writeUInt32BE((uptimeMs - f.endAgoMs) >>> 0, p + 28);
      b.writeUInt16BE(f.srcPort, p + 32);
      b.writeUInt16BE(f.dstPort, p + 34);
      b[p + 37] = f.tcpFlags;
      b[p + 38] = f.proto;
      b[p + 39] = f.tos;
      b.writeUInt16BE(f.srcAs & 0xffff, p + 40);
      b.writeUInt16BE(f.dstAs & 0xffff, p + 42);
      b[p + 44] = f.srcMask;
      b[p + 45] = f.dstMask;
    }
    list.add(b, { seqOff: 16, seqStep: V5_RECORDS, domain: d, timeOff: 8, flows: V5_RECORDS, template: false });
  }
  return list.build(o.source, `v5 exporter ${o.exporter + 1}`, o.domains, [], 0);
}
