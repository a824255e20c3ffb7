/**
 * Synthetic NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) exporters: per observation domain an
 * IPv4 and an IPv6 data template (23-25 fields, 64-bit counters; IPFIX adds a variable-length
 * applicationName), an options template describing the sampler table (samplerId → random
 * interval) and its options data; data datagrams of one template each, filled to about
 * MAX_PAYLOAD bytes. Data records carry samplerId, so the collector takes the rate from the
 * table.
 */
import { makeFlow, Rng, type Flow } from './flows.js';
import { PacketList, type ExporterStream, type ExporterSynthOptions } from './stream.js';

/** UDP payload budget per datagram: fits a 1500-byte MTU with IPv6 and UDP headers. */
export const MAX_PAYLOAD = 1400;
const VARLEN = 0xffff;

interface Field {
  id: number;
  len: number;
}

const f = (id: number, len: number): Field => ({ id, len });

// Element ids are the same numbers in v9 and IPFIX for these.
const V9_V4: Field[] = [
  f(8, 4), f(12, 4), f(7, 2), f(11, 2), f(4, 1), f(5, 1), f(6, 1), f(10, 4), f(14, 4), f(15, 4),
  f(16, 4), f(17, 4), f(9, 1), f(13, 1), f(1, 8), f(2, 8), f(22, 4), f(21, 4), f(58, 2), f(61, 1),
  f(48, 2), f(89, 1), f(56, 6), f(80, 6),
];
const V9_V6: Field[] = [
  f(27, 16), f(28, 16), f(7, 2), f(11, 2), f(4, 1), f(5, 1), f(6, 1), f(10, 4), f(14, 4), f(62, 16),
  f(16, 4), f(17, 4), f(29, 1), f(30, 1), f(31, 3), f(1, 8), f(2, 8), f(22, 4), f(21, 4), f(58, 2),
  f(61, 1), f(48, 2), f(89, 1),
];
const IPFIX_V4: Field[] = [
  f(8, 4), f(12, 4), f(7, 2), f(11, 2), f(4, 1), f(5, 1), f(6, 2), f(10, 4), f(14, 4), f(15, 4),
  f(16, 4), f(17, 4), f(9, 1), f(13, 1), f(1, 8), f(2, 8), f(152, 8), f(153, 8), f(58, 2), f(61, 1),
  f(136, 1), f(48, 2), f(89, 1), f(192, 1), f(96, VARLEN),
];
const IPFIX_V6: Field[] = [
  f(27, 16), f(28, 16), f(7, 2), f(11, 2), f(4, 1), f(5, 1), f(6, 2), f(10, 4), f(14, 4), f(62, 16),
  f(16, 4), f(17, 4), f(29, 1), f(30, 1), f(31, 4), f(1, 8), f(2, 8), f(152, 8), f(153, 8), f(58, 2),
  f(61, 1), f(136, 1), f(48, 2), f(89, 1), f(96, VARLEN),
];
/** Options: scope (v9: System; IPFIX: samplerId), then samplerId/samplerMode/samplerRandomInterval. */
const V9_OPT_SCOPE: Field[] = [f(1, 4)];
const V9_OPT_FIELDS: Field[] = [f(48, 2), f(49, 1), f(50, 4)];
const IPFIX_OPT_SCOPE: Field[] = [f(48, 2)];
const IPFIX_OPT_FIELDS: Field[] = [f(49, 1), f(50, 4)];

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

/** Value bytes of element `id` for a flow (v9 times are sysUptime-relative). */
function putValue(b: Buffer, o: number, fl: Field, r: Flow, uptimeMs: number, exportMs: number, samplerId: number): number {
  const len = fl.len;
  switch (fl.id) {
    case 8: case 27: r.src.copy(b, o); return len;
    case 12: case 28: r.dst.copy(b, o); return len;
    case 15: case 62: r.nextHop.copy(b, o); return len;
    case 7: return b.writeUInt16BE(r.srcPort, o) - o;
    case 11: return b.writeUInt16BE(r.dstPort, o) - o;
    case 4: b[o] = r.proto; return 1;
    case 5: b[o] = r.tos; return 1;
    case 6: if (len === 2) b.writeUInt16BE(r.tcpFlags, o); else b[o] = r.tcpFlags; return len;
    case 10: return b.writeUInt32BE(r.inIf, o) - o;
    case 14: return b.writeUInt32BE(r.outIf, o) - o;
    case 16: return b.writeUInt32BE(r.srcAs >>> 0, o) - o;
    case 17: return b.writeUInt32BE(r.dstAs >>> 0, o) - o;
    case 9: case 29: b[o] = r.srcMask; return 1;
    case 13: case 30: b[o] = r.dstMask; return 1;
    case 31: if (len === 3) b.writeUIntBE(r.flowLabel, o, 3); else b.writeUInt32BE(r.flowLabel, o); return len;
    case 1: b.writeBigUInt64BE(BigInt(r.bytes), o); return 8;
    case 2: b.writeBigUInt64BE(BigInt(r.packets), o); return 8;
    case 22: return b.writeUInt32BE((uptimeMs - r.startAgoMs) >>> 0, o) - o;
    case 21: return b.writeUInt32BE((uptimeMs - r.endAgoMs) >>> 0, o) - o;
    case 152: b.writeBigUInt64BE(BigInt(exportMs - r.startAgoMs), o); return 8;
    case 153: b.writeBigUInt64BE(BigInt(exportMs - r.endAgoMs), o); return 8;
    case 58: return b.writeUInt16BE(r.vlan, o) - o;
    case 61: b[o] = r.direction; return 1;
    case 136: b[o] = r.endReason; return 1;
    case 48: return b.writeUInt16BE(samplerId, o) - o;
    case 89: b[o] = 0x40; return 1; // forwarded, unknown reason
    case 192: b[o] = r.ttl; return 1;
    case 56: r.srcMac.copy(b, o); return 6;
    case 80: r.dstMac.copy(b, o); return 6;
    case 96: {
      const s = Buffer.from(r.app, 'ascii');
      b[o] = s.length;
      s.copy(b, o + 1);
      return 1 + s.length;
    }
    default:
      throw new Error(`blast: no value for element ${fl.id}`);
  }
}

function maxRecordLen(fields: Field[]): number {
  return fields.reduce((s, x) => s + (x.len === VARLEN ? 1 + 16 : x.len), 0);
}

/** Field specifiers (id, length) from `p`; returns the offset after them. */
function fieldSpecs(b: Buffer, p: number, fields: readonly Field[]): number {
  for (const x of fields) {
    b.writeUInt16BE(x.id, p);
    b.writeUInt16BE(x.len, p + 2);
    p += 4;
  }
  return p;
}

function templateRecord(b: Buffer, o: number, id: number, fields: Field[]): number {
  b.writeUInt16BE(id, o);
  b.writeUInt16BE(fields.length, o + 2);
  return fieldSpecs(b, o + 4, fields) - o;
}

/** v9 options template record: id, scope length in bytes, option length in bytes, specs. */
function v9OptionsTemplate(b: Buffer, o: number): number {
  b.writeUInt16BE(TEMPLATE_OPTIONS, o);
  b.writeUInt16BE(V9_OPT_SCOPE.length * 4, o + 2);
  b.writeUInt16BE(V9_OPT_FIELDS.length * 4, o + 4);
  return fieldSpecs(b, fieldSpecs(b, o + 6, V9_OPT_SCOPE), V9_OPT_FIELDS) - o;
}

/** IPFIX options template record: id, field count, scope field count, specs. */
function ipfixOptionsTemplate(b: Buffer, o: number): number {
  const all = [...IPFIX_OPT_SCOPE, ...IPFIX_OPT_FIELDS];
  b.writeUInt16BE(TEMPLATE_OPTIONS, o);
  b.writeUInt16BE(all.length, o + 2);
  b.writeUInt16BE(IPFIX_OPT_SCOPE.length, o + 4);
  return fieldSpecs(b, o + 6, all) - o;
}

/** Ends a set: v9 pads it to a multiple of 4 bytes (RFC 3954); IPFIX sets stay unpadded (padding is optional there). */
function endSet(b: Buffer, start: number, p: number, v9: boolean): number {
  if (v9) while ((p - start) % 4 !== 0) b[p++] = 0;
  b.writeUInt16BE(p - start, start + 2);
  return p;
}

class Message {
  readonly b = Buffer.alloc(MAX_PAYLOAD + 256);
  p: number;
  records = 0;
  constructor(private readonly version: 9 | 10, private readonly domain: number, uptimeMs: number, exportSec: number) {
    const b = this.b;
    b.writeUInt16BE(version, 0);
    if (version === 9) {
      b.writeUInt32BE(uptimeMs >>> 0, 4);
      b.writeUInt32BE(exportSec >>> 0, 8);
      b.writeUInt32BE(domain >>> 0, 16);
      this.p = 20;
    } else {
      b.writeUInt32BE(exportSec >>> 0, 4);
      b.writeUInt32BE(domain >>> 0, 12);
      this.p = 16;
    }
  }
  done(): Buffer {
    if (this.version === 9) this.b.writeUInt16BE(this.records, 2);
    else this.b.writeUInt16BE(this.p, 2);
    return Buffer.from(this.b.subarray(0, this.p));
  }
}

/** One exporter: template datagrams (one per domain) first, then `pool` data datagrams. */
export function synthExportExporter(o: ExportSynthOptions): ExporterStream {
  const v9 = o.version === 9;
  const rng = new Rng(o.seed ^ (o.exporter * 2654435761));
  const uptimeMs = 3_600_000 + o.exporter * 1000;
  const exportMs = o.baseSec * 1000;
  const list = new PacketList();
  const seqOff = v9 ? 12 : 8;
  const timeOff = v9 ? 8 : 4;
  const v4 = v9 ? V9_V4 : IPFIX_V4;
  const v6 = v9 ? V9_V6 : IPFIX_V6;
  // Template datagrams: templates, options template, and the sampler table (options data).
  for (let d = 0; d < o.domains; d++) {
    const m = new Message(o.version, domainId(o.exporter, d), uptimeMs, o.baseSec);
    const b = m.b;
    let s = m.p;
    b.writeUInt16BE(v9 ? 0 : 2, s);
    m.p = s + 4;
    m.p += templateRecord(b, m.p, TEMPLATE_V4, v4);
    m.p += templateRecord(b, m.p, TEMPLATE_V6, v6);
    m.records += 2;
    m.p = endSet(b, s, m.p, v9);
    s = m.p;
    b.writeUInt16BE(v9 ? 1 : 3, s);
    m.p = s + 4;
    m.p += v9 ? v9OptionsTemplate(b, m.p) : ipfixOptionsTemplate(b, m.p);
    m.records++;
    m.p = endSet(b, s, m.p, v9);
    // Options data: the sampler table (one row for our sampler).
    s = m.p;
    b.writeUInt16BE(TEMPLATE_OPTIONS, s);
    m.p = s + 4;
    if (v9) m.p = b.writeUInt32BE(0, m.p); // scope System: 0
    m.p = b.writeUInt16BE(SAMPLER_ID, m.p);
    b[m.p++] = 2; // samplerMode: random
    m.p = b.writeUInt32BE(o.samplingRate, m.p);
    m.records++;
    m.p = endSet(b, s, m.p, v9);
    // IPFIX sequence counts data records: the options data record is one.
    list.add(m.done(), { seqOff, seqStep: 1, domain: d, timeOff, flows: 0, template: true });
  }
  // Data datagrams: domain d = i % domains; IPv6 template for every third.
  let k = 0;
  for (let i = 0; i < o.pool; i++) {
    const d = i % o.domains;
    const isV6 = i % 3 === 2;
    const fields = isV6 ? v6 : v4;
    const m = new Message(o.version, domainId(o.exporter, d), uptimeMs, o.baseSec);
    const b = m.b;
    const s = m.p;
    b.writeUInt16BE(isV6 ? TEMPLATE_V6 : TEMPLATE_V4, s);
    m.p = s + 4;
    const room = MAX_PAYLOAD - m.p - 4;
    const perRecord = maxRecordLen(fields);
    const n = Math.max(1, Math.floor(room / perRecord));
    for (let r = 0; r < n; r++) {
      const flow = makeFlow(rng, o.exporter, k++, isV6);
      for (const x of fields) m.p += putValue(b, m.p, x, flow, uptimeMs, exportMs, SAMPLER_ID);
    }
    m.records += n;
    m.p = endSet(b, s, m.p, v9);
    list.add(m.done(), { seqOff, seqStep: v9 ? 1 : n, domain: d, timeOff, flows: n, template: false });
  }
  return list.build(o.source, `${v9 ? 'v9' : 'ipfix'} exporter ${o.exporter + 1}`, o.domains, [], o.domains);
}
