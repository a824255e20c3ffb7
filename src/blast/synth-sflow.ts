/**
 * Synthetic sFlow v5 agents (sflow.org "sFlow Version 5"): datagrams of flow samples, each with
 * a raw packet header record (the first 128 bytes of a real Ethernet/IPv4 or IPv6 frame) and an
 * extended switch record; every fourth datagram also carries a counters sample with generic
 * interface counters. One sub-agent per "domain"; the agent address is the exporter's source
 * address when it is IPv4.
 */
import { isIPv4 } from 'node:net';
import { ByteWriter, countersSample, flowSample, makeFlow, Rng, sampledFrame, sflowHeader } from '../synth/mod.js';
import { PacketList, type ExporterStream, type ExporterSynthOptions } from './stream.js';

export const SFLOW_SAMPLES = 5;

export type SflowSynthOptions = ExporterSynthOptions;

export function synthSflowExporter(o: SflowSynthOptions): ExporterStream {
  const rng = new Rng(o.seed ^ (o.exporter * 3266489917));
  const agent = isIPv4(o.source) ? Buffer.from(o.source.split('.').map(Number)) : Buffer.from([192, 0, 2, (o.exporter % 254) + 1]);
  const list = new PacketList();
  const w = new ByteWriter(2048);
  const sampleSeq = new Map<number, number>();
  let k = 0;
  for (let i = 0; i < o.pool; i++) {
    const d = i % o.domains;
    const withCounters = i % 4 === 3;
    // Datagram sequence: stamped when sent.
    sflowHeader(w, { agent, subAgent: d, seq: 0, uptimeMs: 3_600_000 + i * 40, samples: SFLOW_SAMPLES + (withCounters ? 1 : 0) });
    for (let s = 0; s < SFLOW_SAMPLES; s++) {
      const f = makeFlow(rng, o.exporter, k++, k % 3 === 2);
      const seq = (sampleSeq.get(f.inIf) ?? 0) + 1;
      sampleSeq.set(f.inIf, seq);
      flowSample(w, { seq, sourceId: f.inIf, rate: o.samplingRate, pool: seq * o.samplingRate }, f, sampledFrame(f, rng));
    }
    if (withCounters) countersSample(w, i + 1, 1 + (i % 48), i);
    list.add(w.take(), { seqOff: 16, seqStep: 1, domain: d, timeOff: -1, flows: SFLOW_SAMPLES, template: false });
  }
  return list.build(o.source, `sflow agent ${o.exporter + 1}`, o.domains, [], 0);
}
