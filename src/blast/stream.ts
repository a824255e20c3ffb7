/**
 * What blast sends: per exporter, its datagrams packed back to back in one buffer, with per
 * datagram what the sender rewrites (the sequence number and the export time) and what it counts
 * (flows). Synthesised traffic (synth-*.ts) and replayed captures (replay.ts) both become this.
 *
 * Sequence numbers are kept per exporter and per "domain" (v5 engine, v9 source id, IPFIX
 * observation domain, sFlow sub-agent), stepped the way each protocol defines them:
 *   NetFlow v5  flow_sequence (offset 16): flows exported before this datagram; step = count
 *   NetFlow v9  package sequence (offset 12): datagrams of the source id before; step = 1
 *   IPFIX       sequence number (offset 8): data records of the domain before; step = records
 *   sFlow v5    datagram sequence (after the agent address): step = 1
 */

export type Protocol = 'v5' | 'v9' | 'ipfix' | 'sflow';

/** Builder of one exporter's packet list. */
export class PacketList {
  private chunks: Buffer[] = [];
  private bytes = 0;
  readonly seqOff: number[] = [];
  readonly seqStep: number[] = [];
  readonly domain: number[] = [];
  readonly timeOff: number[] = [];
  readonly flows: number[] = [];
  readonly template: boolean[] = [];

  get length(): number {
    return this.chunks.length;
  }

  /**
   * Adds a datagram. `seqOff`/`timeOff` are byte offsets in it (-1: not rewritten); `domain` is
   * the index of its sequence counter; `seqStep` how far it advances that counter.
   */
  add(d: Buffer, p: { seqOff: number; seqStep: number; domain: number; timeOff: number; flows: number; template: boolean }): void {
    this.chunks.push(d);
    this.bytes += d.length;
    this.seqOff.push(p.seqOff);
    this.seqStep.push(p.seqStep);
    this.domain.push(p.domain);
    this.timeOff.push(p.timeOff);
    this.flows.push(p.flows);
    this.template.push(p.template);
  }

  /**
   * The exporter stream: `templates` are the indexes sent as the preamble and at each template
   * refresh (they must be contiguous, first), `cycle` starts after them unless the templates
   * are part of the cycle (replays: they stay where the capture had them).
   */
  build(source: string, label: string, domains: number, seqStart: number[], cycleFrom: number): ExporterStream {
    const data = Buffer.concat(this.chunks, this.bytes);
    const n = this.chunks.length;
    const offsets = new Uint32Array(n);
    const lengths = new Uint32Array(n);
    let o = 0;
    for (let i = 0; i < n; i++) {
      offsets[i] = o;
      lengths[i] = this.chunks[i]!.length;
      o += this.chunks[i]!.length;
    }
    const templates: number[] = [];
    for (let i = 0; i < n; i++) if (this.template[i]) templates.push(i);
    return {
      source,
      label,
      data,
      offsets,
      lengths,
      seqOff: Int32Array.from(this.seqOff),
      seqStep: Uint32Array.from(this.seqStep),
      domain: Uint16Array.from(this.domain),
      timeOff: Int32Array.from(this.timeOff),
      flows: Uint32Array.from(this.flows),
      templates,
      cycleFrom,
      seq: Float64Array.from({ length: domains }, (_, i) => seqStart[i] ?? 0),
    };
  }
}

/** What every synthetic exporter is made from (synth-v5, synth-export, synth-sflow). */
export interface ExporterSynthOptions {
  /** Exporter index (0-based): makes addresses and domain ids distinct. */
  exporter: number;
  source: string;
  domains: number;
  /** Data datagrams per exporter, cycled. */
  pool: number;
  samplingRate: number;
  seed: number;
}

export interface ExporterStream {
  /** Address the exporter's socket binds to ('' = let blast choose). */
  source: string;
  /** For messages: "v9 exporter 3", "capture 192.0.2.1". */
  label: string;
  data: Buffer;
  offsets: Uint32Array;
  lengths: Uint32Array;
  seqOff: Int32Array;
  seqStep: Uint32Array;
  domain: Uint16Array;
  timeOff: Int32Array;
  flows: Uint32Array;
  /** Datagrams with templates (the preamble and the template refreshes send these). */
  templates: number[];
  /** The data cycle is [cycleFrom, datagrams). */
  cycleFrom: number;
  /** Next sequence number per domain. */
  seq: Float64Array;
}

/**
 * Writes the next sequence numbers and the export time into datagrams [from, from + count) of
 * `e`, without advancing the counters (commit() does, for what was sent).
 */
export function stamp(e: ExporterStream, from: number, count: number, nowSec: number, scratch: Float64Array): void {
  scratch.set(e.seq);
  const d = e.data;
  for (let i = from; i < from + count; i++) {
    const o = e.offsets[i]!;
    const so = e.seqOff[i]!;
    const dom = e.domain[i]!;
    if (so >= 0) {
      d.writeUInt32BE(scratch[dom]! % 4294967296, o + so);
    }
    scratch[dom] = scratch[dom]! + e.seqStep[i]!;
    const to = e.timeOff[i]!;
    if (to >= 0) d.writeUInt32BE(nowSec >>> 0, o + to);
  }
}

/** Advances the sequence counters over datagrams [from, from + count) that were sent; returns their flows. */
export function commit(e: ExporterStream, from: number, count: number): number {
  let flows = 0;
  for (let i = from; i < from + count; i++) {
    const dom = e.domain[i]!;
    e.seq[dom] = e.seq[dom]! + e.seqStep[i]!;
    flows += e.flows[i]!;
  }
  return flows;
}

/** Bytes of datagrams [from, from + count). */
export function byteCount(e: ExporterStream, from: number, count: number): number {
  let b = 0;
  for (let i = from; i < from + count; i++) b += e.lengths[i]!;
  return b;
}
