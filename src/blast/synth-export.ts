/**
 * Synthetic NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) exporters: per observation domain an
 * IPv4 and an IPv6 data template (23-25 fields, 64-bit counters; IPFIX adds a variable-length
 * applicationName), an options template describing the sampler table (samplerId → random
 * interval) and its options data; data datagrams of one template each, filled to about
 * MAX_PAYLOAD bytes. Data records carry samplerId, so the collector takes the rate from the
 * table.
 */
import {
  beginMessage, beginSet, ByteWriter, endMessage, endSet, makeFlow, maxRecordLen, optionsRecord, optionsTemplateRecord, Rng, templateRecord,
  templateSetId, writeRecord, VARLEN, type Field,
} from '../synth/mod.js';
import { PacketList, type ExporterStream, type ExporterSynthOptions } from './stream.js';

/** UDP payload budget per datagram: fits a 1500-byte MTU with IPv6 and UDP headers. */
export const MAX_PAYLOAD = 1400;

// Element ids are the same numbers in v9 and IPFIX for these.
const V9_V4: Field[] = [
  [8, 4], [12, 4], [7, 2], [11, 2], [4, 1], [5, 1], [6, 1], [10, 4], [14, 4], [15, 4],
  [16, 4], [17, 4], [9, 1], [13, 1], [1, 8], [2, 8], [22, 4], [21, 4], [58, 2], [61, 1],
  [48, 2], [89, 1], [56, 6], [80, 6],
];
const V9_V6: Field[] = [
  [27, 16], [28, 16], [7, 2], [11, 2], [4, 1], [5, 1], [6, 1], [10, 4], [14, 4], [62, 16],
  [16, 4], [17, 4], [29, 1], [30, 1], [31, 3], [1, 8], [2, 8], [22, 4], [21, 4], [58, 2],
  [61, 1], [48, 2], [89, 1],
];
const IPFIX_V4: Field[] = [
  [8, 4], [12, 4], [7, 2], [11, 2], [4, 1], [5, 1], [6, 2], [10, 4], [14, 4], [15, 4],
  [16, 4], [17, 4], [9, 1], [13, 1], [1, 8], [2, 8], [152, 8], [153, 8], [58, 2], [61, 1],
  [136, 1], [48, 2], [89, 1], [192, 1], [96, VARLEN],
];
const IPFIX_V6: Field[] = [
  [27, 16], [28, 16], [7, 2], [11, 2], [4, 1], [5, 1], [6, 2], [10, 4], [14, 4], [62, 16],
  [16, 4], [17, 4], [29, 1], [30, 1], [31, 4], [1, 8], [2, 8], [152, 8], [153, 8], [58, 2],
  [61, 1], [136, 1], [48, 2], [89, 1], [96, VARLEN],
];
/** Options: scope (v9: System; IPFIX: samplerId), then samplerId/samplerMode/samplerRandomInterval. */
const V9_OPT_SCOPE: Field[] = [[1, 4]];
const V9_OPT_FIELDS: Field[] = [[48, 2], [49, 1], [50, 4]];
const IPFIX_OPT_SCOPE: Field[] = [[48, 2]];
const IPFIX_OPT_FIELDS: Field[] = [[49, 1], [50, 4]];

export const TEMPLATE_V4 = 256;
export const TEMPLATE_V6 = 257;
export const TEMPLATE_OPTIONS = 258;
/** The sampler the data records name. */
export const SAMPLER_ID = 1;

export interface ExportSynthOptions extends ExporterSynthOptions {
  version: 9 | 10;
  /** Unix seconds the records' times are relative to. */
  baseSec: number;
}

/** Observation domain / source id of exporter e's domain d. */
export function domainId(exporter: number, d: number): number {
  return (exporter + 1) * 16 + d;
}

/** One exporter: template datagrams (one per domain) first, then `pool` data datagrams. */
export function synthExportExporter(o: ExportSynthOptions): ExporterStream {
  const version = o.version;
  const v9 = version === 9;
  const rng = new Rng(o.seed ^ (o.exporter * 2654435761));
  const clock = { uptimeMs: 3_600_000 + o.exporter * 1000, exportMs: o.baseSec * 1000, samplerId: SAMPLER_ID };
  const list = new PacketList();
  const w = new ByteWriter(MAX_PAYLOAD + 256);
  const seqOff = v9 ? 12 : 8;
  const timeOff = v9 ? 8 : 4;
  const v4 = v9 ? V9_V4 : IPFIX_V4;
  const v6 = v9 ? V9_V6 : IPFIX_V6;
  // Sequence numbers are stamped when sent.
  const header = (d: number) => beginMessage(w, version, { uptimeMs: clock.uptimeMs, exportSec: o.baseSec, seq: 0, domain: domainId(o.exporter, d) });
  // Template datagrams: templates, options template, and the sampler table (options data).
  for (let d = 0; d < o.domains; d++) {
    header(d);
    let s = beginSet(w, templateSetId(version, false));
    templateRecord(w, TEMPLATE_V4, v4);
    templateRecord(w, TEMPLATE_V6, v6);
    endSet(w, s, version);
    s = beginSet(w, templateSetId(version, true));
    if (v9) optionsTemplateRecord(w, version, TEMPLATE_OPTIONS, V9_OPT_SCOPE, V9_OPT_FIELDS);
    else optionsTemplateRecord(w, version, TEMPLATE_OPTIONS, IPFIX_OPT_SCOPE, IPFIX_OPT_FIELDS);
    endSet(w, s, version);
    // Options data: the sampler table (one row for our sampler; scope System 0 in v9), mode random.
    s = beginSet(w, TEMPLATE_OPTIONS);
    if (v9) optionsRecord(w, V9_OPT_SCOPE, V9_OPT_FIELDS, [0, SAMPLER_ID, 2, o.samplingRate]);
    else optionsRecord(w, IPFIX_OPT_SCOPE, IPFIX_OPT_FIELDS, [SAMPLER_ID, 2, o.samplingRate]);
    endSet(w, s, version);
    // IPFIX sequence counts data records: the options data record is one.
    list.add(endMessage(w, version, 4), { seqOff, seqStep: 1, domain: d, timeOff, flows: 0, template: true });
  }
  // Data datagrams: domain d = i % domains; IPv6 template for every third.
  let k = 0;
  for (let i = 0; i < o.pool; i++) {
    const d = i % o.domains;
    const isV6 = i % 3 === 2;
    const fields = isV6 ? v6 : v4;
    header(d);
    const s = beginSet(w, isV6 ? TEMPLATE_V6 : TEMPLATE_V4);
    const n = Math.max(1, Math.floor((MAX_PAYLOAD - w.p) / maxRecordLen(fields)));
    for (let r = 0; r < n; r++) writeRecord(w, fields, makeFlow(rng, o.exporter, k++, isV6), clock);
    endSet(w, s, version);
    list.add(endMessage(w, version, n), { seqOff, seqStep: v9 ? 1 : n, domain: d, timeOff, flows: n, template: false });
  }
  return list.build(o.source, `${v9 ? 'v9' : 'ipfix'} exporter ${o.exporter + 1}`, o.domains, [], o.domains);
}
