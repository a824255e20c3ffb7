/**
 * Synthetic NetFlow v5 exporters (Cisco's v5 format): 30 records of 48 bytes per datagram, one
 * engine per "domain" (engine_id = domain index), the sampling interval in the header.
 */
import { ByteWriter, makeFlow, Rng, v5Header, v5Record, V5_HEADER_LEN, V5_RECORD_LEN } from '../synth/mod.js';
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
  const w = new ByteWriter(V5_HEADER_LEN + V5_RECORD_LEN * V5_RECORDS);
  let k = 0;
  // Mode 01 (packet interval) in the top two bits, the interval in the other 14.
  const sampling = o.samplingRate > 1 ? (1 << 14) | Math.min(o.samplingRate, 0x3fff) : 0;
  for (let i = 0; i < o.pool; i++) {
    const d = i % o.domains;
    // Sequence: stamped when sent.
    v5Header(w, { count: V5_RECORDS, uptimeMs, exportSec: o.baseSec, exportNsec: 0, seq: 0, engineType: 0, engineId: d, sampling });
    for (let r = 0; r < V5_RECORDS; r++) v5Record(w, makeFlow(rng, o.exporter, k++, false), uptimeMs);
    list.add(w.take(), { seqOff: 16, seqStep: V5_RECORDS, domain: d, timeOff: 8, flows: V5_RECORDS, template: false });
  }
  return list.build(o.source, `v5 exporter ${o.exporter + 1}`, o.domains, [], 0);
}
