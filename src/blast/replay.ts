/**
 * Replay streams from capture files (pcap, pcapng; raw .dat payloads, split when they are
 * several exports back to back): the datagrams are grouped by their original exporter (source
 * address; one group for .dat files), kept in capture order, and decoded once with the
 * collector's FlowDecoder to know the flows of each (what blast reports as flows sent) and the
 * data records (the IPFIX sequence step). Each group is then one exporter stream whose sequence
 * numbers and export times blast rewrites as it sends. The preamble (and template refreshes)
 * send, per domain, the first datagram of the capture that carries templates; it stays in the
 * cycle where the capture has it, with the capture's own later template datagrams.
 */
import { loadCaptureFile, splitConcatenatedExports, type UdpDatagram } from '../capture/mod.js';
import { Exporter, FlowDecoder } from '../decode/mod.js';
import { PacketList, type ExporterStream } from './stream.js';

export interface ReplaySource {
  /** Original exporter address ("" for .dat files). */
  address: string;
  stream: ExporterStream;
  /** Datagrams that are not NetFlow/IPFIX/sFlow (sent as they are, not counted as flows). */
  unknown: number;
}

/** Where a datagram's sequence number and export time are, its domain key, whether it has templates. */
interface Layout {
  seqOff: number;
  timeOff: number;
  domainKey: string;
  template: boolean;
  kind: 'v5' | 'v9' | 'ipfix' | 'sflow' | 'other';
}

function layout(d: Buffer): Layout {
  const other: Layout = { seqOff: -1, timeOff: -1, domainKey: '', template: false, kind: 'other' };
  if (d.length < 8) return other;
  const v = d.readUInt16BE(0);
  if ((v === 5 || v === 7) && d.length >= 24) return { seqOff: 16, timeOff: 8, domainKey: `e${d[20]}/${d[21]}`, template: false, kind: 'v5' };
  if (v === 1 && d.length >= 16) return { seqOff: -1, timeOff: 8, domainKey: '', template: false, kind: 'v5' };
  if (v === 9 && d.length >= 20) return { seqOff: 12, timeOff: 8, domainKey: `s${d.readUInt32BE(16)}`, template: hasTemplates(d, 9), kind: 'v9' };
  if (v === 10 && d.length >= 16) return { seqOff: 8, timeOff: 4, domainKey: `d${d.readUInt32BE(12)}`, template: hasTemplates(d, 10), kind: 'ipfix' };
  if (v === 0 && d.readUInt32BE(0) === 5 && d.length >= 28) {
    const type = d.readUInt32BE(4);
    if (type === 1) return { seqOff: 16, timeOff: -1, domainKey: `a${d.readUInt32BE(12)}`, template: false, kind: 'sflow' };
    if (type === 2 && d.length >= 40) return { seqOff: 28, timeOff: -1, domainKey: `a${d.readUInt32BE(24)}`, template: false, kind: 'sflow' };
  }
  return other;
}

/** Whether an export datagram has a template or options template set (v9 ids 0/1, IPFIX 2/3). */
/** Whether an export datagram has a template or options template set (v9 ids 0/1, IPFIX 2/3). */
export function hasTemplates(d: Buffer, version: 9 | 10): boolean {
  let p = version === 9 ? 20 : 16;
  const end = version === 9 ? d.length : Math.min(d.length, d.readUInt16BE(2));
  while (p + 4 <= end) {
    const id = d.readUInt16BE(p);
    const len = d.readUInt16BE(p + 2);
    if (version === 9 ? id <= 1 : id === 2 || id === 3) return true;
    if (len < 4) break;
    p += len;
  }
  return false;
}

/** Loads the files (in order) into one replay source per original exporter. */
export async function loadReplay(files: readonly string[]): Promise<ReplaySource[]> {
  const groups = new Map<string, UdpDatagram[]>();
  for (const path of files) {
    const f = await loadCaptureFile(path);
    for (const d of f.datagrams) {
      const key = f.format === 'dat' ? '' : d.srcAddr;
      const parts = f.format === 'dat' ? splitConcatenatedExports(d.payload) : [d.payload];
      let list = groups.get(key);
      if (list === undefined) groups.set(key, (list = []));
      for (const p of parts) list.push({ ...d, payload: p });
    }
  }
  const out: ReplaySource[] = [];
  for (const [address, datagrams] of groups) {
    let flows = 0;
    let options = 0;
    const dec = new FlowDecoder({ sink: { onFlow: () => void flows++ } });
    const ex = new Exporter(address === '' ? '192.0.2.1' : address, 0);
    const list = new PacketList();
    const domains = new Map<string, number>();
    /** Domains whose first template datagram is already marked: the preamble sends one per domain. */
    const templated = new Set<number>();
    let unknown = 0;
    const now = Math.floor(Date.now() / 1000);
    for (const d of datagrams) {
      const buf = Buffer.from(d.payload);
      const l = layout(buf);
      if (l.kind === 'other') unknown++;
      const before = flows;
      const optBefore = optionsRecords(dec);
      dec.decode(buf, 0, buf.length, ex, d.tsSec || now, 0);
      const opt = optionsRecords(dec) - optBefore;
      options += opt;
      const n = flows - before;
      let dom = domains.get(l.domainKey);
      if (dom === undefined) domains.set(l.domainKey, (dom = domains.size));
      const step = l.kind === 'v5' ? buf.readUInt16BE(2) : l.kind === 'ipfix' ? n + opt : 1;
      const first = l.template && !templated.has(dom);
      if (first) templated.add(dom);
      list.add(buf, { seqOff: l.seqOff, seqStep: step, domain: dom, timeOff: l.timeOff, flows: n, template: first });
    }
    void options;
    out.push({ address, stream: list.build('', address === '' ? 'replay' : `replay of ${address}`, Math.max(1, domains.size), [], 0), unknown });
  }
  return out;
}

function optionsRecords(dec: FlowDecoder): number {
  return (dec.counters.snapshot() as Record<string, number>)['options.records'] ?? 0;
}

/** A stream sharing `s`'s datagrams with its own sequence counters, for another exporter. */
export function cloneStream(s: ExporterStream, source: string, label: string): ExporterStream {
  return { ...s, source, label, templates: [...s.templates], seq: new Float64Array(s.seq.length) };
}
