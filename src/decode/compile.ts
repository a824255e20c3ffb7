/**
 * Template compiler: turns a learned template into a specialised record decoder, generated
 * once per layout, that reads one record straight from the datagram into a FlowRecord with
 * no per-field objects. See docs/fields.md for which element feeds which FlowRecord field.
 */
import type { Counters } from './stats.js';
import { DataType, type ElementInfo, type FlowRecord } from './record.js';
import { u32, u64, uN } from './read.js';
import { NTP_UNIX_OFFSET, setEndDeltaUs, setEndMs, setEndNtp, setStartDeltaUs, setStartMs, setStartNtp } from './time.js';
import { ipfixElement, protocolName, v9Element } from './registry/mod.js';
import { PerLayout, VARIABLE_LENGTH, minRecordLength, type TemplateDef, type TemplateScope } from '../templates/mod.js';
import { decodeList } from './lists.js';
import type { SetTranscoder } from './transcode.js';
import { HeaderProtocol, WalkResult, ipPacketLength, walkHeader, walkIpPacket } from './packet.js';

/** Per-datagram values a compiled decoder needs besides the record bytes. */
export interface DecodeCtx {
  /** Export time from the message header, in seconds. */
  exportSec: number;
  /** v9: the header's sysUptime (ms); NO_TIME (src/counting.ts) for IPFIX. */
  sysUptime: number;
  /** IPFIX: device boot time in ms since the epoch from options data, or NO_TIME. */
  uptimeBase: number;
  scope: TemplateScope<CompiledTemplate> | undefined;
  counters: Counters;
}

/** Decodes one record at `p` (bounded by `end`) into `rec`; returns the next offset or -1. */
export type RecordFn = (buf: Uint8Array, p: number, end: number, rec: FlowRecord, ctx: DecodeCtx) => number;

export interface CompiledTemplate {
  readonly def: TemplateDef;
  /** Element info per field, in template order. */
  readonly infos: readonly ElementInfo[];
  /** Smallest record size (variable-length fields count 1). */
  readonly minLen: number;
  /** Data-record decoder (also usable for options templates, which are decoded generically). */
  readonly decode: RecordFn;
  /**
   * The fused flowpb transcoder of this layout (transcode.ts), compiled on first use: null when
   * the layout takes the reference path, undefined until asked for.
   */
  transcoder: SetTranscoder | null | undefined;
  /** Data sets decoded with this layout while a transcoder was wanted and not yet compiled. */
  uses: number;
}

const V9_SCOPE_NAMES = ['', 'scopeSystem', 'scopeInterface', 'scopeLineCard', 'scopeCache', 'scopeTemplate'];
const v9ScopeInfos = new Map<number, ElementInfo>();

/** NetFlow v9 options scope field types (RFC 3954 section 6.1) are not information elements. */
export function v9ScopeInfo(type: number): ElementInfo {
  let i = v9ScopeInfos.get(type);
  if (i === undefined) {
    const name = V9_SCOPE_NAMES[type] ?? `scope${type}`;
    i = Object.freeze({ pen: 0, id: type, name, type: DataType.unsigned64, known: type >= 1 && type <= 5 });
    if (v9ScopeInfos.size < 4096) v9ScopeInfos.set(type, i);
  }
  return i;
}

export function fieldInfos(def: TemplateDef): ElementInfo[] {
  return def.fields.map((f, i) => {
    if (def.protocol === 9) return def.options && i < def.scopeCount ? v9ScopeInfo(f.id) : v9Element(f.id);
    return ipfixElement(f.pen, f.id);
  });
}

/** Helpers visible to generated code (the transcoder's code too). */
export const RECORD_HELPERS = {
  f32(b: Uint8Array, p: number): number {
    return new DataView(b.buffer, b.byteOffset + p, 4).getFloat32(0);
  },
  f64(b: Uint8Array, p: number): number {
    return new DataView(b.buffer, b.byteOffset + p, 8).getFloat64(0);
  },
  u32,
  u64,
  uN,
  setStartMs,
  setEndMs,
  setStartNtp,
  setEndNtp,
  setStartDeltaUs,
  setEndDeltaUs,
  protocolName,
  decodeList,
  walkHeader,
  walkIpPacket,
  ipPacketLength,
  /** Where a record's own addresses wait while a packet section is walked. */
  keptSrc: new Uint8Array(16),
  keptDst: new Uint8Array(16),
  copy(from: Uint8Array, to: Uint8Array, n: number): void {
    for (let i = 0; i < n; i++) to[i] = from[i]!;
  },
  isZero(a: Uint8Array, len: number): boolean {
    for (let i = 0; i < len; i++) if (a[i] !== 0) return false;
    return true;
  },
};

type AddrProp = 'srcAddr' | 'dstAddr' | 'nextHop' | 'bgpNextHop' | 'mplsIp';
/** Address properties: held as an offset into the datagram and a length in fused code. */
export const ADDR_PROPS: ReadonlySet<string> = new Set<AddrProp>(['srcAddr', 'dstAddr', 'nextHop', 'bgpNextHop', 'mplsIp']);

const NUMERIC: Record<number, string> = {
  4: 'proto',
  5: 'ipTos',
  6: 'tcpFlags',
  7: 'srcPort',
  9: 'srcNet',
  10: 'inIf',
  11: 'dstPort',
  13: 'dstNet',
  14: 'outIf',
  16: 'srcAs',
  17: 'dstAs',
  29: 'srcNet',
  30: 'dstNet',
  31: 'ipv6FlowLabel',
  54: 'fragmentId',
  58: 'srcVlan',
  59: 'dstVlan',
  88: 'fragmentOffset',
  89: 'forwardingStatus',
  128: 'nextHopAs',
  138: 'observationPointId',
  149: 'observationDomainId',
  176: 'icmpType',
  177: 'icmpCode',
  178: 'icmpType',
  179: 'icmpCode',
  192: 'ipTtl',
  197: 'ipFlags',
  243: 'vlanId',
  256: 'etype',
};

const ADDR: Record<number, [AddrProp, 4 | 16]> = {
  8: ['srcAddr', 4],
  12: ['dstAddr', 4],
  27: ['srcAddr', 16],
  28: ['dstAddr', 16],
  15: ['nextHop', 4],
  62: ['nextHop', 16],
  18: ['bgpNextHop', 4],
  63: ['bgpNextHop', 16],
  47: ['mplsIp', 4],
};

/** Counter and time elements kept in locals and resolved after the record is read. */
const LOCALS = new Set([1, 2, 23, 24, 85, 86, 231, 232, 298, 299, 312, 21, 22, 150, 151, 152, 153, 154, 155, 156, 157, 158, 159, 160, 60, 32, 139, 34, 50, 305, 306, 309, 310]);
/** Elements kept in `fields` and also copied to an internal look-up key. */
const KEYS: Record<number, string> = { 48: 'samplerId', 302: 'selectorId', 234: 'ingressVrfId' };
const REVERSE_PEN = 29305;
const START_ORDER = [152, 150, 154, 156, 158, 22];
const END_ORDER = [153, 151, 155, 157, 159, 21];
/**
 * Sampled-packet sections, walked with the packet header walker (packet.ts). One per record:
 * dataLinkFrameSection (315), else layer2packetSection (104, v9 and the deprecated IPFIX id),
 * both from the Ethernet header, else ipHeaderPacketSection (313), from the IP header.
 * ipPayloadPacketSection (314) has no headers to walk.
 */
const WALK_ORDER = [315, 104, 313];
/** Elements that make each record one sampled packet (packets = 1 without a packet count). */
const PACKET_REPORT = [104, 312, 313, 314, 315];
/** Counted per record whose section was cut before the walk ended, or was not walked. */
const SECTION_TRUNCATED = 'section.truncated';
const SECTION_NOT_WALKED = 'section.not_walked';

/**
 * An unsigned big-endian read of `len` bytes at `at`. Fused code reads 2 and 4 bytes through `bv`,
 * a DataView over the datagram buffer (one load each, against 2 or 4 byte loads with their bounds
 * checks): 6 % off the v9 decode loop. The generated code checks the record's bounds before it
 * reads, so the DataView never throws.
 */
function readExpr(len: number, at: string, fused: boolean): string {
  switch (len) {
    case 1:
      return `buf[${at}]`;
    case 2:
      return fused ? `bv.getUint16(${at})` : `((buf[${at}] << 8) | buf[${at} + 1])`;
    case 4:
      return fused ? `bv.getUint32(${at})` : `H.u32(buf, ${at})`;
    case 8:
      return fused ? `(bv.getUint32(${at}) * 4294967296 + bv.getUint32(${at} + 4))` : `H.u64(buf, ${at})`;
    default:
      return `H.uN(buf, ${at}, ${len})`;
  }
}

/**
 * Generates and builds the record decoder for a template. The reader (with its field infos and
 * record length) is built once per layout in a worker and shared by every template cache
 * (layouts.ts): the warm-up's decoder then warms the readers real data runs (JSON outputs, a
 * layout's first data sets). The reader does not set `templateId`: the caller sets it from the
 * data set.
 */
export function compileTemplate(def: TemplateDef): CompiledTemplate {
  const r = readers.get(def, () => {
    const infos = fieldInfos(def);
    const minLen = minRecordLength(def);
    const g = generateRecordCode(def, minLen, false)!;
    const name = `decodeTemplate${def.protocol === 9 ? 'V9' : 'Ipfix'}${def.options ? 'Options' : ''}`;
    const factory = new Function('I', 'H', `return function ${name}(buf, p, end, rec, ctx) {\n${g.decl}\n${g.code}\nreturn p;\n};`);
    return { infos, minLen, decode: factory(infos, RECORD_HELPERS) as RecordFn };
  });
  return { def, infos: r.infos, minLen: r.minLen, decode: r.decode, transcoder: undefined, uses: 0 };
}

/** Readers built in this worker, by layout. */
const readers = new PerLayout<{ infos: ElementInfo[]; minLen: number; decode: RecordFn }>(64);

/** A record reader's generated source (see generateRecordCode). */
export interface RecordCode {
  /** Declarations of the reader's locals. */
  readonly decl: string;
  /** Statements reading one record at p (bounded by end) and deriving its fields. */
  readonly code: string;
  /** Fused form: the FlowRecord properties the code assigns (as locals r_<prop>). */
  readonly touched: ReadonlySet<string>;
  /** The record gets protocol_name (from proto). */
  readonly protocolName: boolean;
  /**
   * Fused form: for a flow time ('Start' / 'End') the code may leave as nanosecond halves
   * (r_timeFlow<S>Hi / Lo, Hi NaN when it did not), the statements that set its seconds and
   * nanoseconds instead, for times the halves' fast encoding does not cover.
   */
  readonly timeSlow: Readonly<Record<string, string>>;
}

/*
 * Fused flow times as nanoseconds in two halves, r_timeFlow<S>Hi * 2^32 + r_timeFlow<S>Lo, all
 * steps exact in doubles (products below 2^53, splits by powers of two): no division, and the
 * transcoder writes the common range (2^56 to 2^63 ns: 2002 to 2262) straight from them.
 *
 * v9 sysUpTime-relative: t = exportSec * 1000 + td ms, td a signed 32-bit offset; exportSec *
 * 1e9 is kept split per export time (locals eHi / eLo, see transcode.ts), td * 1e6 (below 2^52)
 * is split and added.
 */
function fusedUptimeNs(S: string, td: string): string {
  return `tx = ${td} * 1000000; th = Math.floor(tx * ${2 ** -32}); tx = tx - th * 4294967296 + eLo; th = th + eHi; if (tx >= 4294967296) { tx = tx - 4294967296; th = th + 1; } r_timeFlow${S}Hi = th; r_timeFlow${S}Lo = tx; r_timeFlow${S}Td = ${td};`;
}

/**
 * Seconds and nanoseconds of the same time, as time.ts's setters compute them: floor(t / 1000) =
 * exportSec + floor(td / 1000) and the nanoseconds (td - 1000 * floor(td / 1000)) * 1e6, in
 * integers (an int32 division by a constant).
 */
function fusedUptimeSecNs(S: string, td: string): string {
  return `td = ${td}; tq = (td / 1000) | 0; if (tq * 1000 > td) tq = tq - 1 | 0; r_timeFlow${S}Sec = ctx.exportSec + tq; r_timeFlow${S}Nsec = (td - tq * 1000) * 1000000;`;
}

/**
 * IPFIX flowStart/EndMilliseconds (8 bytes at o<id>): its 32-bit halves times 1e6, the low
 * product (below 2^52) split and carried into the high one (the high half of a time before
 * 2106 is below 2^10, so its product stays far below 2^53).
 */
function fusedMillisNs(S: string, id: number): string {
  return `th = bv.getUint32(o${id}); tx = bv.getUint32(o${id} + 4) * 1000000; tq = Math.floor(tx * ${2 ** -32}); tx = tx - tq * 4294967296; th = th * 1000000 + tq; r_timeFlow${S}Hi = th; r_timeFlow${S}Lo = tx;`;
}

/**
 * The source of a record reader for a template. Reference form (fused = false): statements that
 * fill `rec`, return -1 when the record is cut short. Fused form (for the transcoder in
 * transcode.ts): the same reads and derivations into locals `r_<prop>` (addresses as offsets
 * o_<prop> into buf and lengths n_<prop>), extras skipped, `bad = 1; break;` when the record is
 * cut short; undefined when the template needs what only the reference form does (RFC 6313
 * lists, sampled-packet sections, MPLS label stacks).
 */
export function generateRecordCode(def: TemplateDef, minLen: number, fused: boolean): RecordCode | undefined {
  const infos = fieldInfos(def);
  const FAIL = fused ? '{ bad = 1; break; }' : 'return -1;';
  const fields = def.fields;
  const present = new Set<number>();
  const presentRev = new Set<number>();
  for (const f of fields) {
    if (f.pen === 0) present.add(f.id);
    else if (f.pen === REVERSE_PEN) presentRev.add(f.id);
  }
  const options = def.options;
  // Which local-held elements the post-processing actually uses (the rest become extras too).
  const used = new Set<number>();
  const bytesSrc = present.has(1) ? [1] : present.has(23) ? [23] : present.has(231) || present.has(232) ? [231, 232] : present.has(85) ? [85] : present.has(312) ? [312] : [];
  const pktsSrc = present.has(2) ? [2] : present.has(24) ? [24] : present.has(298) || present.has(299) ? [298, 299] : present.has(86) ? [86] : [];
  for (const x of [...bytesSrc, ...pktsSrc]) used.add(x);
  if (present.has(231) || present.has(232)) (used.add(231), used.add(232));
  if (present.has(298) || present.has(299)) (used.add(298), used.add(299));
  const startSrc = START_ORDER.find((x) => present.has(x));
  const endSrc = END_ORDER.find((x) => present.has(x));
  if (startSrc !== undefined) used.add(startSrc);
  if (endSrc !== undefined) used.add(endSrc);
  for (const x of [60, 32, 139, 34, 50, 305, 306, 309, 310]) if (present.has(x)) used.add(x);
  const macSrc = present.has(56) ? 56 : present.has(81) ? 81 : -1;
  const macDst = present.has(80) ? 80 : present.has(57) ? 57 : -1;
  // Sampled-packet section to walk, and the elements that say where it starts / what it is.
  const dataIds = new Set<number>();
  for (let i = options ? def.scopeCount : 0; i < fields.length; i++) if (fields[i]!.pen === 0) dataIds.add(fields[i]!.id);
  const walkId = WALK_ORDER.find((x) => dataIds.has(x)) ?? -1;
  const packetReport = PACKET_REPORT.some((x) => dataIds.has(x));
  // 102 (layer2packetSectionOffset) belongs to 104; 409 (sectionOffset) to 313/314/315; 408
  // (dataLinkFrameType) to 315. A section that does not start at its header is not walked.
  const walkOffsetId = walkId === 104 ? 102 : walkId >= 0 ? 409 : -1;
  let walkSeen = false;
  let offsetSeen = false;
  let frameTypeSeen = false;
  let mplsAssigned = false;

  const lines: string[] = [];
  const decl = new Set<string>();
  const assignedNum = new Set<string>();
  const assignedAddr = new Set<string>();
  const usedLocal = new Set<number>();
  /** Template index of the field each local was read from (a template may repeat an element). */
  const localField = new Map<number, number>();
  let restMin = minLen;
  lines.push(`if (p + ${minLen} > end) ${FAIL}`);
  lines.push('var l = 0;');

  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const variable = f.length === VARIABLE_LENGTH;
    const len = variable ? 'l' : String(f.length);
    if (variable) {
      restMin -= 1;
      lines.push(`l = buf[p++]; if (l === 255) { if (p + 2 > end) ${FAIL} l = (buf[p] << 8) | buf[p + 1]; p += 2; }`);
      lines.push(`if (p + l + ${restMin} > end) ${FAIL}`);
    } else {
      restMin -= f.length;
    }
    const info = infos[i]!;
    const extra = fused ? '' : `rec.addExtra(I[${i}], buf, p, ${len});`;
    let code = extra;
    const isList = info.type === DataType.basicList || info.type === DataType.subTemplateList || info.type === DataType.subTemplateMultiList;
    const scopeField = options && i < def.scopeCount;
    if (isList) {
      if (fused) return undefined;
      code = `rec.addExtraValue(I[${i}], H.decodeList(I[${i}], buf, p, ${len}, ctx, 0));`;
    } else if (!scopeField && f.pen === REVERSE_PEN && (f.id === bytesSrc[0] || f.id === pktsSrc[0]) && bytesSrc.length + pktsSrc.length <= 2 && !variable && f.length >= 1 && f.length <= 8) {
      // RFC 5103 reverse counterpart of the counter chosen for bytes / packets.
      const name = f.id === bytesSrc[0] ? 'rb' : 'rp';
      if (!decl.has(name)) {
        decl.add(name);
        code = `${name} = ${readExpr(f.length, 'p', fused)};`;
      }
    } else if (!scopeField && f.pen === 0 && f.id === walkId && !walkSeen) {
      if (fused) return undefined;
      walkSeen = true;
      code = `ws = p; wn = ${len}; ${extra}`;
    } else if (!scopeField && f.pen === 0 && !variable && f.id === walkOffsetId && !offsetSeen && f.length >= 1 && f.length <= 8) {
      offsetSeen = true;
      code = `wo = ${readExpr(f.length, 'p', fused)}; ${extra}`;
    } else if (!scopeField && f.pen === 0 && !variable && f.id === 408 && walkId === 315 && !frameTypeSeen && f.length >= 1 && f.length <= 8) {
      frameTypeSeen = true;
      code = `wt = ${readExpr(f.length, 'p', fused)}; ${extra}`;
    } else if (!scopeField && f.pen === 0 && !variable) {
      const id = f.id;
      const flen = f.length;
      const num = NUMERIC[id];
      const addr = ADDR[id];
      if (num !== undefined && flen >= 1 && flen <= 8 && !assignedNum.has(num)) {
        assignedNum.add(num);
        code = `rec.${num} = ${readExpr(flen, 'p', fused)};`;
      } else if (addr !== undefined && flen === addr[1]) {
        const [prop, n] = addr;
        const copy: string[] = [];
        for (let k = 0; k < n; k++) copy.push(`a[${k}] = buf[p + ${k}];`);
        if (fused) {
          code = assignedAddr.has(prop) ? `if (n_${prop} === 0 || H.isZeroAt(buf, o_${prop}, n_${prop})) { o_${prop} = p; n_${prop} = ${n}; }` : `o_${prop} = p; n_${prop} = ${n};`;
          assignedAddr.add(prop);
        } else if (!assignedAddr.has(prop)) {
          assignedAddr.add(prop);
          code = `{ const a = rec.${prop}; ${copy.join(' ')} rec.${prop}Len = ${n}; }`;
        } else {
          // A second address element for the same slot (e.g. IPv4 and IPv6 in one template):
          // it wins only when the first was absent or all zero, otherwise it is kept as extra.
          code = `if (H.isZero(rec.${prop}, rec.${prop}Len)) { const a = rec.${prop}; ${copy.join(' ')} rec.${prop}Len = ${n}; } else { ${extra} }`;
        }
      } else if ((id === macSrc || id === macDst) && flen === 6 && !assignedNum.has(id === macSrc ? 'srcMac' : 'dstMac')) {
        const prop = id === macSrc ? 'srcMac' : 'dstMac';
        assignedNum.add(prop);
        code = `rec.${prop} = H.uN(buf, p, 6);`;
      } else if (KEYS[id] !== undefined && flen >= 1 && flen <= 4) {
        code = `rec.${KEYS[id]} = ${readExpr(flen, 'p', fused)}; ${extra}`;
      } else if (id === 311 && (flen === 4 || flen === 8)) {
        // samplingProbability (float64, reduced-size float32 allowed): rate = 1 / p.
        code = `{ const pr = ${flen === 8 ? 'H.f64(buf, p)' : 'H.f32(buf, p)'}; if (pr > 0 && pr <= 1 && rec.samplingRate === 0) rec.samplingRate = Math.round(1 / pr); } ${extra}`;
      } else if (id >= 70 && id <= 79 && flen === 3) {
        if (fused) return undefined;
        mplsAssigned = true;
        code = `{ const v = (buf[p] << 16) | (buf[p + 1] << 8) | buf[p + 2]; if (v !== 0 && rec.mplsCount < 32) { rec.mplsLabel[rec.mplsCount] = v >>> 4; rec.mplsTtl[rec.mplsCount] = 0; rec.mplsCount++; } }`;
      } else if (LOCALS.has(id) && used.has(id) && !usedLocal.has(id) && flen >= 1 && flen <= 8) {
        usedLocal.add(id);
        localField.set(id, i);
        decl.add(`c${id}`);
        decl.add(`o${id}`);
        const ntp = id >= 154 && id <= 157;
        if (ntp && flen !== 8) {
          code = extra;
          usedLocal.delete(id);
        } else if (ntp) {
          code = `c${id} = ${readExpr(4, 'p', fused)}; o${id} = ${readExpr(4, 'p + 4', fused)};`;
        } else if (fused && (id === 152 || id === 153) && flen === 8) {
          // Read as halves where the time is made (fusedMillisNs), and whole only there when it is out of range.
          decl.delete(`c${id}`);
          code = `o${id} = p;`;
        } else {
          code = `c${id} = ${readExpr(flen, 'p', fused)}; o${id} = p;`;
        }
        if (id === 160) code += ` ${extra}`;
      } else if (id === 160 && flen >= 1 && flen <= 8 && !usedLocal.has(160)) {
        usedLocal.add(160);
        localField.set(160, i);
        decl.add('c160');
        decl.add('o160');
        code = `c160 = ${readExpr(flen, 'p', fused)}; o160 = p; ${extra}`;
      }
    }
    lines.push(code);
    // int32 offsets, as in the encoders' generated code (src/encode/flowpb.ts, `at`).
    lines.push(variable ? 'p = (p + l) | 0;' : `p = (p + ${f.length}) | 0;`);
  }

  // Post-processing: counters, times, derived fields.
  const post: string[] = [];
  const has = (id: number) => usedLocal.has(id);
  const sum = (ids: number[]) => ids.filter(has).map((x) => `c${x}`).join(' + ') || '0';
  if (bytesSrc.length > 0 && bytesSrc.some(has)) post.push(`rec.bytes = ${sum(bytesSrc)};`);
  if (pktsSrc.length > 0 && pktsSrc.some(has)) post.push(`rec.packets = ${sum(pktsSrc)};`);
  // A record carrying a packet section or a frame size is one sampled packet, as an sFlow flow
  // sample is (packets = 1 there too).
  else if (packetReport) post.push('rec.packets = 1;');
  if (has(231) || has(232)) post.push(`rec.bytesIn = ${has(231) ? 'c231' : '0'}; rec.bytesOut = ${has(232) ? 'c232' : '0'};`);
  if (has(298) || has(299)) post.push(`rec.packetsIn = ${has(298) ? 'c298' : '0'}; rec.packetsOut = ${has(299) ? 'c299' : '0'};`);
  if (decl.has('rb')) post.push(`rec.bytesIn = rec.bytes; rec.bytesOut = rb; rec.bytes += rb;`);
  if (decl.has('rp')) post.push(`rec.packetsIn = rec.packets; rec.packetsOut = rp; rec.packets += rp;`);
  const timeSlow: Record<string, string> = {};
  const timeCode = (id: number, start: boolean): string => {
    const S = start ? 'Start' : 'End';
    // Fused: the arithmetic of time.ts's setters, into locals.
    const ms = (expr: string): string =>
      fused ? `{ t = ${expr}; r_timeFlow${S}Sec = Math.floor(t / 1000); r_timeFlow${S}Nsec = Math.round((t - r_timeFlow${S}Sec * 1000) * 1e6); }` : `H.set${S}Ms(rec, ${expr});`;
    const ntp = (micro: boolean): string =>
      fused ? `r_timeFlow${S}Sec = c${id} - ${NTP_UNIX_OFFSET}; r_timeFlow${S}Nsec = H.ntpNanos(o${id}, ${micro});` : `H.set${S}Ntp(rec, c${id}, o${id}, ${micro});`;
    switch (id) {
      case 150:
      case 151:
        return ms(`c${id} * 1000`);
      case 152:
      case 153:
        // The halves straight from the field when it has all 8 bytes (not reduced-size).
        if (!fused || fields[localField.get(id)!]!.length !== 8) return ms(`c${id}`);
        timeSlow[S] = ms(readExpr(8, `o${id}`, true));
        return fusedMillisNs(S, id);
      case 154:
      case 155:
        return ntp(true);
      case 156:
      case 157:
        return ntp(false);
      case 158:
      case 159:
        return fused ? ms(`ctx.exportSec * 1000 - c${id} / 1000`) : `H.set${S}DeltaUs(rec, ctx.exportSec, c${id});`;
      default: {
        // sysUpTime-relative: ms since boot. With a header sysUptime (v9) the difference to it
        // is taken as a signed 32-bit value, so a counter that wrapped (49.7 days) still works.
        // Kept as an extra (when there is no time base) with the offset AND length of the field
        // the value was read from: an earlier occurrence of the same element (variable-length,
        // or longer than 8) is not the one in the local and already went to the extras.
        const fi = localField.get(id)!;
        const keep = fused ? ';' : `rec.addExtra(I[${fi}], buf, o${id}, ${fields[fi]!.length});`;
        if (has(160)) return ms(`c160 + c${id}`);
        // Fused: the nanoseconds as two 32-bit halves (fusedUptimeNs), no division per time.
        if (fused) timeSlow[S] = fusedUptimeSecNs(S, `r_timeFlow${S}Td`);
        const uptime = fused
          ? `{ td = (c${id} - ctx.sysUptime) | 0; ${fusedUptimeNs(S, 'td')} }`
          : ms(`ctx.exportSec * 1000 + ((c${id} - ctx.sysUptime) | 0)`);
        return `if (ctx.sysUptime >= 0) ${uptime} else if (ctx.uptimeBase >= 0) ${ms(`ctx.uptimeBase + c${id}`)} else ${keep}`;
      }
    }
  };
  /**
   * The section walk runs after every element of the record has been read and turned into its
   * field, and fills only what the template has no element for. The walker writes whatever it
   * finds, so the fields this template owns are saved before it and put back after it (only
   * templates with a section pay for this; the sFlow path does not): a field the template has an
   * element for is the template's whatever its value, except that an address or EtherType the
   * record left absent or zero (a template with both IPv4 and IPv6 elements zero-fills the other
   * family) is taken from the packet.
   */
  const walkCode = (): string => {
    const owned: string[] = [];
    const own = (prop: string, also = false) => {
      if (assignedNum.has(prop) || also) owned.push(prop);
    };
    own('srcMac');
    own('dstMac');
    own('vlanId', present.has(58) && !present.has(243));
    own('ipTos');
    own('ipTtl');
    own('ipFlags');
    own('fragmentId');
    own('fragmentOffset');
    own('proto'); // protocolName follows proto below, after the walk
    own('ipv6FlowLabel');
    own('srcPort');
    own('dstPort');
    own('tcpFlags');
    own('icmpType', has(32) || has(139));
    own('icmpCode', has(32) || has(139));
    // The walker appends its labels after the template's: dropping them keeps the template's.
    if (mplsAssigned) owned.push('mplsCount');
    const save = owned.map((x) => `const k_${x} = rec.${x};`);
    const restore = owned.map((x) => `rec.${x} = k_${x};`);
    if (assignedNum.has('etype') || has(60)) {
      save.push('const k_etype = rec.etype;');
      restore.push('if (k_etype !== 0) rec.etype = k_etype;');
    }
    for (const [prop, scratch] of [['srcAddr', 'keptSrc'], ['dstAddr', 'keptDst']] as const) {
      if (!assignedAddr.has(prop)) continue;
      save.push(`const k_${prop} = H.isZero(rec.${prop}, rec.${prop}Len) ? 0 : rec.${prop}Len; if (k_${prop} !== 0) H.copy(rec.${prop}, H.${scratch}, k_${prop});`);
      restore.push(`if (k_${prop} !== 0) { H.copy(H.${scratch}, rec.${prop}, k_${prop}); rec.${prop}Len = k_${prop}; }`);
    }
    // No byte count and no frame size in the record: the length of the IP packet found.
    if (!bytesSrc.some(has)) restore.push('rec.bytes = H.ipPacketLength(buf, ws, wn, rec);');
    const call = walkId === 313 ? 'H.walkIpPacket(buf, ws, wn, rec)' : `H.walkHeader(buf, ws, wn, ${HeaderProtocol.ETHERNET_ISO88023}, rec)`;
    const walk = [
      ...save,
      `const wr = ${call};`,
      ...restore,
      `if (wr === ${WalkResult.truncated}) ctx.counters.inc('${SECTION_TRUNCATED}'); else if (wr !== ${WalkResult.ok}) ctx.counters.inc('${SECTION_NOT_WALKED}');`,
    ].join(' ');
    const cond = [offsetSeen ? 'wo === 0' : '', frameTypeSeen ? 'wt === 1' : ''].filter((c) => c !== '').join(' && ');
    if (cond === '') return `if (wn > 0) { ${walk} }`;
    return `if (wn > 0) { if (${cond}) { ${walk} } else ctx.counters.inc('${SECTION_NOT_WALKED}'); }`;
  };
  if (startSrc !== undefined && has(startSrc)) post.push(timeCode(startSrc, true));
  if (endSrc !== undefined && has(endSrc)) post.push(timeCode(endSrc, false));
  if (has(60)) post.push(`if (rec.etype === 0) rec.etype = c60 === 4 ? 0x0800 : c60 === 6 ? 0x86dd : 0;`);
  if (has(32)) post.push(`rec.icmpType = c32 >>> 8; rec.icmpCode = c32 & 255;`);
  if (has(139)) post.push(`rec.icmpType = c139 >>> 8; rec.icmpCode = c139 & 255;`);
  // In-record sampling (RFC 7014 / deprecated RFC 5102 elements); see docs/sampling.md.
  if (has(305) && has(306)) post.push(`if (c305 > 0) rec.samplingRate = Math.round((c305 + c306) / c305);`);
  if (has(310) && has(309)) post.push(`if (c309 > 0 && rec.samplingRate === 0) rec.samplingRate = Math.round(c310 / c309);`);
  if (has(50)) post.push(`if (c50 > 0 && rec.samplingRate === 0) rec.samplingRate = c50;`);
  if (has(34)) post.push(`if (c34 > 0 && rec.samplingRate === 0) rec.samplingRate = c34;`);
  if (present.has(58) && !present.has(243)) post.push('rec.vlanId = rec.srcVlan;');
  // No ICMP type/code element: exporters (v5 style, softflowd, pmacct, many routers) put
  // type * 256 + code in the destination port. dst_port stays as sent.
  if (assignedNum.has('proto') && assignedNum.has('dstPort') && !assignedNum.has('icmpType') && !has(32) && !has(139)) {
    post.push('if ((rec.proto === 1 || rec.proto === 58) && rec.srcPort === 0) { rec.icmpType = rec.dstPort >>> 8; rec.icmpCode = rec.dstPort & 255; }');
  }
  if (walkId >= 0) post.push(walkCode());
  post.push(`if (rec.etype === 0) rec.etype = (rec.srcAddrLen === 16 || rec.dstAddrLen === 16) ? 0x86dd : (rec.srcAddrLen === 4 || rec.dstAddrLen === 4) ? 0x0800 : 0;`);
  // Fused: the transcoder writes protocol_name from r_proto. template_id comes from the data set.
  if (assignedNum.has('proto') && !fused) post.push('rec.protocolName = H.protocolName(rec.proto);');

  let declLine = decl.size > 0 ? `var ${[...decl].map((d) => `${d} = 0`).join(', ')};` : '';
  if (walkId >= 0) declLine += '\nvar ws = -1, wn = 0, wo = 0, wt = 1;';
  let code = `${lines.join('\n')}\n${post.join('\n')}`;
  const touched = new Set<string>();
  if (fused) {
    // Every FlowRecord property the reference form would set becomes a local r_<prop>.
    code = code.replace(/rec\.(\w+)/g, (_m, prop: string) => {
      const addr = /^(\w+)Len$/.exec(prop);
      if (addr !== null && ADDR_PROPS.has(addr[1]!)) return `n_${addr[1]}`;
      touched.add(prop);
      return `r_${prop}`;
    });
    for (const a of assignedAddr) touched.add(a);
    for (const m of code.matchAll(/\br_(\w+)/g)) touched.add(m[1]!);
  }
  return { decl: declLine, code, touched, protocolName: assignedNum.has('proto'), timeSlow };
}
