/**
 * Decoder fuzzer: seeds, mutators, the fuzz loop and its invariants, and a runner that executes
 * the loop in a worker thread under a watchdog (a decode call that does not return within the
 * hang limit gets the worker terminated and the datagram reported).
 *
 * Used by bench/fuzz.ts (npm run fuzz, 1M iterations) and test/fuzz.test.ts (a small sample).
 * Every run is reproducible from its seed: all randomness comes from one seeded PRNG, and
 * receive times are synthetic.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { setFlagsFromString } from 'node:v8';
import { ExporterTable, FlowDecoder, MAX_EXTRAS, type Exporter, type FlowRecord } from '../src/decode/mod.js';
import type { TemplateLimits } from '../src/templates/limits.js';
import * as B from '../test/support/sflow-builder.js';
import { TranscodeComparer } from '../test/support/transcode.js';
import { tcpFrame, udpFrame } from '../src/capture/mod.js';
import {
  Bytes,
  IPFIX_V4,
  IPFIX_V4_APPNAME,
  IPFIX_V6,
  V9_CISCO,
  V9_CISCO64,
  VARLEN,
  ipfixDatagram,
  ipfixMessage,
  ipfixOptionsTemplateSet,
  ipfixTemplateSet,
  records,
  set,
  v5Datagram,
  v9Datagram,
  v9Message,
  v9OptionsTemplateSet,
  v9TemplateSet,
  type Field,
  type Template,
} from './datagrams.js';

/** Small template limits for fuzzing, so eviction and rejection paths run often. */
export const FUZZ_LIMITS = {
  maxSources: 64,
  maxTemplates: 32,
  maxTemplateFields: 128,
  maxRecordLength: 8192,
  pendingMaxBytesPerScope: 16 * 1024,
  pendingMaxBytesTotal: 256 * 1024,
  pendingMaxAgeMs: 5_000,
  maxOptionsRecords: 64,
};

// ---------------------------------------------------------------------------------------------
// PRNG (sfc32, seeded by splitmix32): fast, good enough, reproducible.

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.u32() / 4294967296) * n);
  }

  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.u32() / 4294967296 < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 255;
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Seeds: sequences of datagrams from one exporter (templates first, then data).

export interface SeedCase {
  name: string;
  datagrams: Uint8Array[];
}

const concat = B.concat;

function legacy(version: 1 | 7, n: number): Uint8Array {
  const b = new Bytes().u16(version).u16(n).u32(3_600_000).u32(1_773_489_600).u32(0);
  if (version === 7) b.u32(42).u32(0);
  for (let i = 0; i < n; i++) {
    b.bytes([10, 0, 0, i]).bytes([10, 0, 1, i]).bytes([10, 0, 0, 1]).u16(1).u16(2).u32(10 + i).u32(1000 + i).u32(3_500_000).u32(3_599_000).u16(1000 + i).u16(80);
    if (version === 1) b.u16(0).u8(6).u8(0).u8(0x1b).u8(0).u16(0).u32(0);
    else b.u8(0).u8(0x1b).u8(6).u8(0).u16(64512).u16(15169).u8(24).u8(16).u16(0).u32(0x0a000001);
  }
  return b.done();
}

/** v9 template with vendor fields, reduced-size counters, MACs, MPLS labels and IPv6. */
const V9_ODD: Template = {
  id: 270,
  fields: [
    { id: 27, len: 16 },
    { id: 28, len: 16 },
    { id: 8, len: 4 },
    { id: 1, len: 3 }, // reduced-size encoding
    { id: 2, len: 5 },
    { id: 56, len: 6 }, // SRC_MAC
    { id: 80, len: 6 }, // DST_MAC (IN_DST_MAC)
    { id: 70, len: 3 }, // MPLS label 1
    { id: 71, len: 3 },
    { id: 33000, len: 4 }, // Cisco ASA ingress ACL id
    { id: 40005, len: 1 }, // ASA event
    { id: 22, len: 4 },
    { id: 21, len: 4 },
    { id: 32, len: 2 }, // ICMP type/code
    { id: 60, len: 1 }, // IP_PROTOCOL_VERSION
    { id: 0, len: 0 }, // zero-length field of type 0
  ],
};

/** IPFIX sub-template for lists. */
const IPFIX_SUB: Template = { id: 401, fields: [{ id: 8, len: 4 }, { id: 7, len: 2 }] };

/** IPFIX template with a string, enterprise fields (one variable-length), and RFC 6313 lists. */
const IPFIX_RICH: Template = {
  id: 400,
  fields: [
    { id: 8, len: 4 },
    { id: 12, len: 4 },
    { id: 4, len: 1 },
    { id: 1, len: 8 },
    { id: 2, len: 4 },
    { id: 22, len: 4 }, // flowStartSysUpTime
    { id: 21, len: 4 }, // flowEndSysUpTime
    { id: 96, len: VARLEN }, // applicationName
    { id: 12235, len: VARLEN, pen: 9 }, // Cisco enterprise element, variable length
    { id: 1, len: 8, pen: 29305 }, // reverse octetDeltaCount (RFC 5103)
    { id: 100, len: 4, pen: 35632 }, // unknown enterprise element
    { id: 291, len: VARLEN }, // basicList
    { id: 292, len: VARLEN }, // subTemplateList
    { id: 293, len: VARLEN }, // subTemplateMultiList
  ],
};

function richRecords(n: number): Uint8Array {
  const b = new Bytes();
  for (let i = 0; i < n; i++) {
    b.bytes([10, 0, 0, i & 255]).bytes([10, 9, 9, 9]).u8(6).uN(123_456 + i, 8).u32(99 + i).u32(3_500_000).u32(3_599_000);
    b.varlen(Buffer.from(i % 2 ? 'https' : 'a-rather-long-application-name-'.repeat(i % 3 === 0 ? 10 : 1)));
    b.varlen(Buffer.from('cisco-ent-value'));
    b.uN(5555 + i, 8).u32(7);
    // basicList of 3 IPv4 addresses (element 8, length 4), semantic allOf.
    const bl = new Bytes().u8(3).u16(8).u16(4).bytes([1, 1, 1, 1]).bytes([2, 2, 2, 2]).bytes([3, 3, 3, i & 255]);
    b.varlen(bl.done());
    // subTemplateList of 2 records of template 401.
    const stl = new Bytes().u8(4).u16(401).bytes(records(IPFIX_SUB, 2, i));
    b.varlen(stl.done());
    // subTemplateMultiList: one group of template 401.
    const recs = records(IPFIX_SUB, 1, i);
    const stml = new Bytes().u8(0xff).u16(401).u16(4 + recs.length).bytes(recs);
    b.varlen(stml.done());
  }
  return b.done();
}

function builtinSeeds(): SeedCase[] {
  const out: SeedCase[] = [];
  out.push({ name: 'v5 30', datagrams: [v5Datagram(30, 3)] });
  out.push({ name: 'v5 1', datagrams: [v5Datagram(1, 4)] });
  out.push({ name: 'v1', datagrams: [legacy(1, 5)] });
  out.push({ name: 'v7', datagrams: [legacy(7, 4)] });
  // NetFlow v9
  out.push({ name: 'v9 cisco tpl+data', datagrams: [v9Datagram(V9_CISCO, 25, true)] });
  out.push({ name: 'v9 cisco64 tpl, data', datagrams: [v9Message({}, [v9TemplateSet([V9_CISCO64])], 1), v9Datagram(V9_CISCO64, 10, false)] });
  out.push({
    name: 'v9 options + odd template',
    datagrams: [
      v9Message(
        { sourceId: 7 },
        [
          v9TemplateSet([V9_ODD]),
          v9OptionsTemplateSet({ id: 257, scope: [{ id: 1, len: 4 }], options: [{ id: 34, len: 4 }, { id: 35, len: 1 }] }),
          set(257, new Bytes().u32(0).u32(100).u8(2).done()),
          set(270, records(V9_ODD, 4)),
        ],
        6,
      ),
    ],
  });
  // IPFIX
  out.push({ name: 'ipfix v4 tpl+data', datagrams: [ipfixDatagram(IPFIX_V4, 24, true)] });
  out.push({ name: 'ipfix v6 tpl, data', datagrams: [ipfixMessage({}, [ipfixTemplateSet([IPFIX_V6])]), ipfixDatagram(IPFIX_V6, 20, false)] });
  out.push({ name: 'ipfix appname', datagrams: [ipfixDatagram(IPFIX_V4_APPNAME, 22, true, { domain: 3 })] });
  const opt = ipfixOptionsTemplateSet({
    id: 500,
    scope: [{ id: 149, len: 4 }],
    options: [{ id: 160, len: 8 }, { id: 305, len: 4 }, { id: 96, len: VARLEN }],
  });
  const optData = set(500, new Bytes().u32(5).uN(1_773_480_000_000, 8).u32(1000).varlen(Buffer.from('sampler')).done(), false);
  out.push({
    name: 'ipfix rich (lists, enterprise, options)',
    datagrams: [
      ipfixMessage({ domain: 5 }, [ipfixTemplateSet([IPFIX_SUB, IPFIX_RICH]), opt, optData]),
      ipfixMessage({ domain: 5, sequence: 2 }, [set(400, richRecords(4), false)]),
      ipfixMessage({ domain: 5, sequence: 3 }, [set(400, richRecords(2), false), ipfixTemplateSet([IPFIX_SUB, IPFIX_RICH]), optData]),
    ],
  });
  // Data before template (pending buffer), then template, then a withdrawal and withdraw-all.
  out.push({
    name: 'ipfix pending + withdrawal',
    datagrams: [
      ipfixDatagram(IPFIX_V4, 5, false, { domain: 9 }),
      ipfixMessage({ domain: 9 }, [ipfixTemplateSet([IPFIX_V4])]),
      ipfixMessage({ domain: 9 }, [set(2, new Bytes().u16(300).u16(0).done(), false)]),
      ipfixMessage({ domain: 9 }, [set(2, new Bytes().u16(2).u16(0).done(), false)]),
    ],
  });
  // sFlow v5
  const frame = tcpFrame({ srcAddr: '10.0.0.1', dstAddr: '10.0.0.2', srcPort: 1234, dstPort: 80, flags: 'SA', payload: new Uint8Array(40) });
  const frame6 = udpFrame({ srcAddr: '2001:db8::1', dstAddr: '2001:db8::2', srcPort: 53, dstPort: 5353, payload: new Uint8Array(20) });
  out.push({
    name: 'sflow',
    datagrams: [
      B.datagram([
        B.flowSample([B.rawHeader(frame), B.extendedSwitch({ srcVlan: 10, srcPriority: 0, dstVlan: 20, dstPriority: 0 }), B.extendedRouter({ nextHop: '10.0.0.254', srcMaskLen: 24, dstMaskLen: 16 })], { samplingRate: 512 }),
        B.flowSample([B.rawHeader(frame6), B.sampledIPv4({ length: 100, protocol: 6, src: '10.1.1.1', dst: '10.2.2.2', srcPort: 1, dstPort: 2, tcpFlags: 2, tos: 0 })], { expanded: true }),
        B.counterSample([B.ethernetCounters([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13])]),
      ]),
    ],
  });
  // Sampled-packet sections (walked by the packet header walker): IPFIX dataLinkFrameSection
  // with its size and offset, ipHeaderPacketSection and ipPayloadPacketSection, v9
  // layer2packetSection with its offset; frames with VLAN, MPLS + control word, IPv6 options.
  const vlanTcp = tcpFrame({ srcAddr: '10.0.0.1', dstAddr: '10.0.0.2', srcPort: 1234, dstPort: 80, flags: 'S', vlan: [5, 6] });
  const eompls = B.mplsFrame([{ label: 100, ttl: 64 }, { label: 200, ttl: 63 }], concat([Uint8Array.from([0, 0, 0, 1]), frame]));
  const ip6 = udpFrame({ srcAddr: '2001:db8::1', dstAddr: '2001:db8::2', srcPort: 53, dstPort: 53, link: 'raw', ipv6ExtensionHeaders: [{ type: 0 }, { type: 44, data: Uint8Array.from([0, 1, 0, 0, 0, 9]) }] });
  const l2: Template = { id: 600, fields: [{ id: 312, len: 2 }, { id: 409, len: 2 }, { id: 6, len: 1 }, { id: 315, len: VARLEN }] };
  const l3: Template = { id: 601, fields: [{ id: 313, len: VARLEN }, { id: 314, len: VARLEN }] };
  const v9l2: Template = { id: 602, fields: [{ id: 10, len: 4 }, { id: 102, len: 2 }, { id: 104, len: 64 }] };
  const l2Data = new Bytes();
  for (const f of [vlanTcp, eompls, frame6]) l2Data.u16(f.length + 4).u16(0).u8(2).varlen(f);
  const l3Data = new Bytes().varlen(ip6).varlen(Uint8Array.from([1, 2, 3])).varlen(vlanTcp.subarray(22, 22 + 30)).varlen([]);
  const v9Data = new Bytes();
  for (const f of [eompls, vlanTcp]) v9Data.u32(3).u16(0).bytes(concat([f, new Uint8Array(64)]).subarray(0, 64));
  out.push({
    name: 'packet sections',
    datagrams: [
      ipfixMessage({ domain: 11 }, [ipfixTemplateSet([l2, l3]), set(600, l2Data.done(), false), set(601, l3Data.done(), false)]),
      v9Message({ sourceId: 12 }, [v9TemplateSet([v9l2]), set(602, v9Data.done())], 3),
    ],
  });
  return out;
}

/** Corpus cases (cases.json) when the shared corpus is present. */
function corpusSeeds(dir: string): SeedCase[] {
  const casesPath = join(dir, 'cases.json');
  if (!existsSync(casesPath)) return [];
  const cases = JSON.parse(readFileSync(casesPath, 'utf8')) as { cases: { name: string; files: string[] }[] };
  const out: SeedCase[] = [];
  for (const c of cases.cases) {
    const dgs: Uint8Array[] = [];
    for (const f of c.files) {
      const p = join(dir, 'vendor', f);
      if (existsSync(p)) dgs.push(new Uint8Array(readFileSync(p)));
    }
    if (dgs.length > 0) out.push({ name: `corpus: ${c.name}`, datagrams: dgs });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Structure-aware helpers

interface SetRef {
  off: number;
  id: number;
  len: number;
}

/** Walks the sets of a v9/IPFIX datagram (as far as their lengths make sense). */
function walkSets(b: Uint8Array): SetRef[] {
  if (b.length < 4) return [];
  const v = (b[0]! << 8) | b[1]!;
  if (v !== 9 && v !== 10) return [];
  const out: SetRef[] = [];
  let p = v === 9 ? 20 : 16;
  while (p + 4 <= b.length && out.length < 512) {
    const id = (b[p]! << 8) | b[p + 1]!;
    const len = (b[p + 2]! << 8) | b[p + 3]!;
    out.push({ off: p, id, len });
    if (len < 4) break;
    p += len;
  }
  return out;
}

/** Offsets of template record headers and field specifiers inside the template sets. */
function templateSpots(b: Uint8Array): { headers: number[]; fields: number[] } {
  const headers: number[] = [];
  const fields: number[] = [];
  const v = b.length >= 2 ? (b[0]! << 8) | b[1]! : 0;
  for (const s of walkSets(b)) {
    if (s.id > 3) continue;
    const end = Math.min(b.length, s.off + s.len);
    let p = s.off + 4;
    const options = s.id === 1 || s.id === 3;
    while (p + 4 <= end && headers.length < 4096) {
      headers.push(p);
      let count = (b[p + 2]! << 8) | b[p + 3]!;
      let q = p + 4;
      if (options && v === 9) {
        if (p + 6 > end) break;
        count = (count + ((b[p + 4]! << 8) | b[p + 5]!)) / 4;
        q = p + 6;
      } else if (options) q = p + 6;
      for (let i = 0; i < count && q + 4 <= end; i++) {
        fields.push(q);
        const ent = v === 10 && b[q]! & 0x80;
        q += ent ? 8 : 4;
      }
      if (q <= p) break;
      p = q;
    }
  }
  return { headers, fields };
}

const INTERESTING16 = [0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 255, 256, 257, 0x7fff, 0x8000, 0xfffe, 0xffff];
const INTERESTING8 = [0, 1, 2, 3, 4, 0x7f, 0x80, 0xfe, 0xff];

function put16(b: Uint8Array, at: number, v: number): void {
  if (at + 2 > b.length) return;
  b[at] = (v >>> 8) & 255;
  b[at + 1] = v & 255;
}

// ---------------------------------------------------------------------------------------------
// Mutators (each returns a new or modified buffer)

type Mutator = (r: Rng, b: Uint8Array) => Uint8Array;

const MUTATORS: [string, number, Mutator][] = [
  [
    'bitflip',
    10,
    (r, b) => {
      const n = r.range(1, 8);
      for (let i = 0; i < n && b.length > 0; i++) b[r.int(b.length)]! ^= 1 << r.int(8);
      return b;
    },
  ],
  [
    'byteset',
    10,
    (r, b) => {
      const n = r.range(1, 6);
      for (let i = 0; i < n && b.length > 0; i++) b[r.int(b.length)] = r.chance(0.5) ? r.pick(INTERESTING8) : r.u32() & 255;
      return b;
    },
  ],
  [
    'word16',
    6,
    (r, b) => {
      if (b.length >= 2) put16(b, r.int(b.length - 1), r.pick(INTERESTING16));
      return b;
    },
  ],
  [
    'set-length',
    12,
    (r, b) => {
      const sets = walkSets(b);
      if (sets.length === 0) return b;
      const s = r.pick(sets);
      const choices = [0, 1, 3, 4, 5, s.len - 1, s.len + 1, s.len - 4, s.len + 4, s.len * 2, 0xffff, r.int(65536), b.length - s.off, b.length - s.off + 1];
      put16(b, s.off + 2, r.pick(choices) & 0xffff);
      return b;
    },
  ],
  [
    'set-id',
    5,
    (r, b) => {
      const sets = walkSets(b);
      if (sets.length === 0) return b;
      const s = r.pick(sets);
      put16(b, s.off, r.pick([0, 1, 2, 3, 4, 255, 256, 257, 258, 259, 260, 270, 300, 400, 401, 500, 0xffff, r.int(65536)]));
      return b;
    },
  ],
  [
    'template-field',
    14,
    (r, b) => {
      const { fields } = templateSpots(b);
      if (fields.length === 0) return b;
      const f = r.pick(fields);
      if (r.chance(0.6)) put16(b, f + 2, r.pick([0, 1, 2, 3, 5, 7, 8, 9, 16, 17, 255, 1000, 0x7fff, 0xfffe, 0xffff, r.int(65536)]));
      else put16(b, f, r.pick([0, 1, 2, 8, 27, 152, 160, 291, 292, 293, 0x8000 | 12235, 0x8000, 0x7fff, 0xffff, r.int(65536)]));
      return b;
    },
  ],
  [
    'template-header',
    8,
    (r, b) => {
      const { headers } = templateSpots(b);
      if (headers.length === 0) return b;
      const h = r.pick(headers);
      if (r.chance(0.4)) put16(b, h, r.pick([0, 1, 2, 3, 255, 256, 300, 400, 401, 0xffff, r.int(65536)]));
      else put16(b, h + 2, r.pick([0, 1, 2, 3, 4, 100, 513, 1000, 0x7fff, 0xffff, r.int(65536)]));
      if (r.chance(0.3)) put16(b, h + 4, r.pick([0, 1, 2, 4, 8, 0xffff]));
      return b;
    },
  ],
  [
    'header',
    6,
    (r, b) => {
      // Counts and lengths in the message header (v5/v9 count, IPFIX length, sFlow sample count).
      if (b.length < 4) return b;
      const v = (b[0]! << 8) | b[1]!;
      if (v === 10 && r.chance(0.7)) put16(b, 2, r.pick([0, 15, 16, 17, b.length - 1, b.length + 1, b.length * 2, 0xffff, r.int(65536)]));
      else if (v === 0 && b.length >= 28) put16(b, 26, r.pick(INTERESTING16));
      else put16(b, 2, r.pick(INTERESTING16));
      if (r.chance(0.2) && b.length >= 20) put16(b, r.pick([12, 14, 16, 18]), r.pick(INTERESTING16)); // domain / source id
      return b;
    },
  ],
  [
    'truncate',
    8,
    (r, b) => b.slice(0, r.int(b.length + 1)),
  ],
  [
    'extend',
    5,
    (r, b) => concat([b, r.chance(0.5) ? r.bytes(r.range(1, 64)) : new Uint8Array(r.range(1, 300))]),
  ],
  [
    'delete',
    4,
    (r, b) => {
      if (b.length < 2) return b;
      const at = r.int(b.length);
      const n = r.range(1, Math.min(32, b.length - at));
      return concat([b.subarray(0, at), b.subarray(at + n)]);
    },
  ],
  [
    'insert',
    4,
    (r, b) => {
      const at = r.int(b.length + 1);
      return concat([b.subarray(0, at), r.bytes(r.range(1, 16)), b.subarray(at)]);
    },
  ],
  [
    'dup-chunk',
    3,
    (r, b) => {
      if (b.length < 8) return b;
      const at = r.int(b.length - 4);
      const n = r.range(4, Math.min(256, b.length - at));
      const to = r.int(b.length + 1);
      return concat([b.subarray(0, to), b.subarray(at, at + n), b.subarray(to)]);
    },
  ],
  [
    'varlen',
    4,
    (r, b) => {
      // A 255 escape (3-byte varlen) with an arbitrary 16-bit length, somewhere in the data.
      if (b.length < 4) return b;
      const at = r.int(b.length - 2);
      b[at] = 255;
      put16(b, at + 1, r.pick([0, 1, 254, 255, 256, b.length, 0xffff, r.int(65536)]));
      return b;
    },
  ],
];
const MUTATOR_WEIGHT = MUTATORS.reduce((a, m) => a + m[1], 0);

function mutate(r: Rng, src: Uint8Array, rounds: number, used: string[]): Uint8Array {
  let b: Uint8Array = src.slice();
  for (let i = 0; i < rounds; i++) {
    let w = r.int(MUTATOR_WEIGHT);
    for (const [name, weight, fn] of MUTATORS) {
      if (w < weight) {
        b = fn(r, b);
        used.push(name);
        break;
      }
      w -= weight;
    }
  }
  return b;
}

// ---------------------------------------------------------------------------------------------
// Generators

/** Random bytes behind a valid version header (length often plausible). */
function randomWithHeader(r: Rng): Uint8Array {
  const kind = r.pick([1, 5, 7, 9, 10, 10, 9, 0]);
  const n = r.pick([r.range(0, 32), r.range(16, 200), r.range(100, 1500)]);
  const b = r.bytes(Math.max(n, 4));
  put16(b, 0, kind);
  if (kind === 10 && r.chance(0.7)) put16(b, 2, b.length);
  if (kind === 0 && b.length >= 8) {
    b[2] = 0;
    b[3] = 5;
    b[4] = 0;
    b[5] = 0;
    b[6] = 0;
    b[7] = r.pick([1, 2, 3]);
  }
  if (kind === 5 && r.chance(0.5)) put16(b, 2, r.range(1, 30));
  if ((kind === 9 || kind === 10) && r.chance(0.6)) {
    // Plausible set headers with random contents.
    let p = kind === 9 ? 20 : 16;
    while (p + 4 <= b.length) {
      const len = Math.min(b.length - p, r.pick([4, 8, r.range(4, 64), r.range(4, 600)]));
      put16(b, p, r.pick([0, 1, 2, 3, r.range(256, 270)]));
      put16(b, p + 2, len);
      p += Math.max(4, len);
    }
  }
  return b;
}

function randomField(r: Rng, ipfix: boolean): Field {
  const id = r.chance(0.7) ? r.range(1, 240) : r.int(ipfix ? 0x8000 : 65536);
  const len = r.pick([1, 2, 4, 8, 16, 6, 3, 0, ipfix ? VARLEN : 5, r.int(65536), r.range(1, 64)]);
  if (ipfix && r.chance(0.1)) return { id: id & 0x7fff, len, pen: r.pick([9, 29305, 2636, r.u32() || 1]) };
  return { id, len };
}

/** A datagram of many random templates (ids from a wide range), to flood the template cache. */
function templateFlood(r: Rng, maxFields: number): { datagram: Uint8Array; domain: number } {
  const ipfix = r.chance(0.5);
  const count = r.pick([r.range(1, 20), r.range(20, 120), r.range(100, 300)]);
  const templates: Template[] = [];
  let size = 0;
  for (let i = 0; i < count && size < 60_000; i++) {
    const nf = r.chance(0.05) ? r.range(maxFields, maxFields + 400) : r.range(1, 24);
    const fields: Field[] = [];
    for (let k = 0; k < nf; k++) fields.push(randomField(r, ipfix));
    templates.push({ id: r.range(256, 65535), fields });
    size += 4 + nf * 8;
  }
  const domain = r.pick([0, 1, r.int(8), r.u32()]);
  const tset = ipfix ? ipfixTemplateSet(templates) : v9TemplateSet(templates);
  // Data for some of them (random bytes) so records and the pending buffer are exercised too.
  const data: Uint8Array[] = [];
  for (let i = 0; i < r.range(0, 4); i++) data.push(set(r.chance(0.5) && templates.length > 0 ? r.pick(templates).id : r.range(256, 65535), r.bytes(r.range(0, 400)), !ipfix));
  const sets = r.chance(0.5) ? [tset, ...data] : [...data, tset];
  const total = sets.reduce((a, s) => a + s.length, 0);
  if (total > 65_000) return { datagram: ipfix ? ipfixMessage({ domain }, [tset.subarray(0, 4)]) : v9Message({ sourceId: domain }, [], 0), domain };
  return { datagram: ipfix ? ipfixMessage({ domain }, sets) : v9Message({ sourceId: domain }, sets, templates.length), domain };
}

// ---------------------------------------------------------------------------------------------
// The loop

export interface FuzzOptions {
  seed: number;
  iterations: number;
  limits: Partial<TemplateLimits>;
  /** The conformance corpus directory (optional). */
  corpusDir?: string;
  /** Distinct exporters (address + port) used; more than maxSources exercises eviction. */
  exporters?: number;
  /** Progress callback period in iterations. */
  progressEvery?: number;
  /** Stop after this many findings. */
  maxFindings?: number;
  /** Extra datagrams decoded first, each by a fresh decoder (regression reproducers). */
  regressions?: { name: string; prefix: string[]; datagram: string }[];
}

export interface Finding {
  /** transcode: the fused transcoder's frames differ from the reference encoder's. */
  kind: 'exception' | 'invariant' | 'record' | 'escaped' | 'hang' | 'crash' | 'transcode';
  iteration: number;
  message: string;
  protocol?: string;
  stack?: string;
  /** The datagram (hex) and the datagrams fed before it to the same exporter in its episode. */
  datagram?: string;
  prefix?: string[];
  /** A smaller datagram that still triggers the problem (same prefix), when minimisation worked. */
  minimized?: string;
  mutations?: string[];
}

export interface FuzzStats {
  seed: number;
  iterations: number;
  seeds: number;
  corpusSeeds: number;
  findings: Finding[];
  counters: Record<string, number>;
  records: number;
  heapBefore: number;
  /** Heap used (after gc) with the decoder alive, sampled every `progressEvery` iterations and at the end. */
  heapSamples: [number, number][];
  /** Heap used (after gc) once the decoder is dropped. */
  heapAfter: number;
  maxScopes: number;
  maxPendingBytes: number;
  maxTemplatesInScope: number;
  evictions: number;
  elapsedMs: number;
}

export interface LoopHooks {
  /** Shared state for the watchdog: [0] iteration, [1] datagram length, [2] in decode (0/1); bytes from offset 16. */
  shared?: SharedArrayBuffer;
  progress?(iteration: number, stats: Partial<FuzzStats>): void;
  finding?(f: Finding): void;
}

export const SHARED_BYTES = 16 + 65_536 + 1024;

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function fromHex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'hex'));
}

/** Checks a decoded record for out-of-range values and out-of-bounds byte references. */
function recordProblem(rec: FlowRecord): string | undefined {
  for (const [name, len] of [
    ['srcAddr', rec.srcAddrLen],
    ['dstAddr', rec.dstAddrLen],
    ['nextHop', rec.nextHopLen],
    ['bgpNextHop', rec.bgpNextHopLen],
    ['samplerAddress', rec.samplerAddressLen],
  ] as const) {
    if (len !== 0 && len !== 4 && len !== 16) return `${name}Len = ${len}`;
  }
  if (rec.extraCount < 0 || rec.extraCount > MAX_EXTRAS) return `extraCount = ${rec.extraCount}`;
  for (let i = 0; i < rec.extraCount; i++) {
    const buf = rec.extraBuf[i];
    if (buf === undefined) continue;
    const off = rec.extraOff[i]!;
    const len = rec.extraLen[i]!;
    if (off < 0 || len < 0 || off + len > buf.length) return `extra ${rec.extraInfo[i]?.name} references [${off}, ${off + len}) of a ${buf.length}-byte buffer`;
  }
  for (const [name, v] of [
    ['bytes', rec.bytes],
    ['packets', rec.packets],
    ['timeFlowStartSec', rec.timeFlowStartSec],
    ['timeFlowEndSec', rec.timeFlowEndSec],
    ['timeFlowStartNsec', rec.timeFlowStartNsec],
    ['timeFlowEndNsec', rec.timeFlowEndNsec],
  ] as const) {
    if (!Number.isFinite(v)) return `${name} = ${v}`;
  }
  if (rec.mplsCount > 32 || rec.layerCount > 32 || rec.asPathCount > 32 || rec.bgpCommunitiesCount > 32) return 'repeated field count above 32';
  return undefined;
}

/** Template-cache invariants against the configured limits; returns the first violation. */
export function cacheProblem(decoder: FlowDecoder): string | undefined {
  const t = decoder.templates;
  const L = t.limits;
  if (t.scopeCount > L.maxSources) return `scopeCount ${t.scopeCount} > maxSources ${L.maxSources}`;
  if (t.pendingBytes > L.pendingMaxBytesTotal) return `pendingBytes ${t.pendingBytes} > pendingMaxBytesTotal ${L.pendingMaxBytesTotal}`;
  if (t.pendingBytes < 0) return `pendingBytes ${t.pendingBytes} < 0`;
  let sum = 0;
  let n = 0;
  for (const s of t.scopes()) {
    n++;
    if (s.templates.size > L.maxTemplates) return `scope ${s.key}: ${s.templates.size} templates > maxTemplates ${L.maxTemplates}`;
    for (const e of s.templates.values()) {
      if (e.def.fields.length > L.maxTemplateFields) return `scope ${s.key}: template ${e.def.id} has ${e.def.fields.length} fields > ${L.maxTemplateFields}`;
    }
    if (s.pending.byteSize > L.pendingMaxBytesPerScope) return `scope ${s.key}: pending ${s.pending.byteSize} > per-scope ${L.pendingMaxBytesPerScope}`;
    if (s.options.size > L.maxOptionsRecords) return `scope ${s.key}: ${s.options.size} options rows > ${L.maxOptionsRecords}`;
    sum += s.pending.byteSize;
  }
  if (n !== t.scopeCount) return `scopes() yields ${n} scopes, scopeCount says ${t.scopeCount}`;
  if (sum !== t.pendingBytes) return `pending budget ${t.pendingBytes} bytes != sum over scopes ${sum} (accounting leak)`;
  return undefined;
}

function heapUsed(): number {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
  return process.memoryUsage().heapUsed;
}

/** Makes the exporter pool: IPv4 and IPv6 addresses, several ports. */
function exporterPool(n: number): Exporter[] {
  const t = new ExporterTable();
  const out: Exporter[] = [];
  for (let i = 0; i < n; i++) {
    const addr = i % 5 === 4 ? `2001:db8::${(i + 1).toString(16)}` : `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    out.push(t.get(addr, 2055 + (i % 3)));
  }
  return out;
}

/**
 * Runs the fuzz loop in this thread. Decoder exceptions are counted by FlowDecoder as
 * `decode.exception`; the loop checks that counter after every call and reports a finding with
 * the datagram (and the exception's stack, captured from FLOW_COLLECTOR_DEBUG output).
 */
export function fuzzLoop(o: FuzzOptions, hooks: LoopHooks = {}): FuzzStats {
  // Three decoders (the fuzzed one, the transcoder comparison's two) learn ~2.5 templates per
  // iteration and compile readers with new Function; V8's compilation cache keeps those sources
  // well past their use (measured: 65 MiB more heap after 20k iterations, growing linearly),
  // which would hide a real leak in the heap samples. Compiling anew costs the fuzzer nothing.
  setFlagsFromString('--no-compilation-cache');
  const t0 = Date.now();
  const r = new Rng(o.seed);
  const builtin = builtinSeeds();
  const corpus = o.corpusDir ? corpusSeeds(o.corpusDir) : [];
  const seeds = [...builtin, ...corpus];
  const flat: Uint8Array[] = seeds.flatMap((s) => s.datagrams);
  const shared = hooks.shared ? new Int32Array(hooks.shared, 0, 4) : undefined;
  const sharedBytes = hooks.shared ? new Uint8Array(hooks.shared, 16) : undefined;
  const findings: Finding[] = [];
  const maxFindings = o.maxFindings ?? 20;

  // Capture the decoder's exception (printed with console.error under FLOW_COLLECTOR_DEBUG).
  process.env['FLOW_COLLECTOR_DEBUG'] = '1';
  let lastError: unknown;
  const origError = console.error;
  console.error = (...args: unknown[]) => {
    lastError = args[0];
  };

  let records = 0;
  let recordIssue: string | undefined;
  const sink = {
    onFlow(rec: FlowRecord) {
      records++;
      if (recordIssue === undefined) recordIssue = recordProblem(rec);
    },
  };
  const limits = o.limits as Record<string, unknown>;
  let decoder = new FlowDecoder({ sink, limits });
  // The same datagrams through the reference path and the fused transcoder, compared bytewise.
  // FlowDecoder's default transcodeAfter: the flood's one-off layouts stay on the reference path.
  let cmp = new TranscodeComparer({ limits, transcodeAfter: 3 });
  const pool = exporterPool(o.exporters ?? 200);
  const maxFields = decoder.templates.limits.maxTemplateFields;
  let recvSec = 1_773_489_600;
  let maxScopes = 0;
  let maxPending = 0;
  let maxTpl = 0;
  const heapBefore = heapUsed();
  const heapSamples: [number, number][] = [];

  const report = (f: Finding): void => {
    findings.push(f);
    hooks.finding?.(f);
  };

  let it = 0;
  let exceptions = 0;
  let prefix: Uint8Array[] = [];
  let mutations: string[] = [];

  /** Minimises a datagram that makes a fresh decoder (fed `pre` first) raise an exception. */
  const minimize = (pre: Uint8Array[], d: Uint8Array): string | undefined => {
    const fails = (b: Uint8Array): boolean => {
      const dec = new FlowDecoder({ sink: { onFlow() {} }, limits });
      const e = pool[0]!;
      for (const p of pre) dec.decode(p, 0, p.length, e, recvSec, 0);
      dec.decode(b, 0, b.length, e, recvSec, 0);
      return dec.counters.get('decode.exception') > 0;
    };
    if (!fails(d)) return undefined;
    let cur = d;
    // Shorten from the end, then zero bytes one at a time where the exception survives.
    for (let step = cur.length >> 1; step >= 1; step >>= 1) {
      while (cur.length - step >= 4 && fails(cur.subarray(0, cur.length - step))) cur = cur.slice(0, cur.length - step);
    }
    cur = cur.slice();
    for (let i = 4; i < cur.length; i++) {
      if (cur[i] === 0) continue;
      const old = cur[i]!;
      cur[i] = 0;
      if (!fails(cur)) cur[i] = old;
    }
    return hex(cur);
  };

  const budget = o.iterations + (o.regressions ?? []).reduce((n, reg) => n + reg.prefix.length + 1, 0);
  const feed = (d: Uint8Array, exp: Exporter): void => {
    if (it >= budget) return;
    if (shared) {
      const n = Math.min(d.length, sharedBytes!.length);
      sharedBytes!.set(d.subarray(0, n));
      shared[1] = n;
      shared[0] = it;
      Atomics.store(shared, 2, 1);
    }
    const before = decoder.counters.get('decode.exception');
    recordIssue = undefined;
    lastError = undefined;
    let escaped: unknown;
    try {
      decoder.decode(d, 0, d.length, exp, recvSec, (it % 1000) * 1_000_000);
    } catch (e) {
      escaped = e;
    }
    const diff = cmp.feed(d, exp, recvSec, (it % 1000) * 1_000_000);
    if (diff !== undefined && findings.length < maxFindings) {
      report({ kind: 'transcode', iteration: it, message: diff, protocol: decoder.lastProtocol, datagram: hex(d), prefix: prefix.map(hex), mutations });
      // Start the comparison afresh: one difference would repeat in every counter snapshot.
      cmp = new TranscodeComparer({ limits, transcodeAfter: 3 });
    }
    if (shared) Atomics.store(shared, 2, 0);
    if (escaped !== undefined && findings.length < maxFindings) {
      report({ kind: 'escaped', iteration: it, message: String(escaped), stack: (escaped as Error).stack, datagram: hex(d), prefix: prefix.map(hex), mutations });
    }
    if (decoder.counters.get('decode.exception') > before) {
      exceptions++;
      if (findings.length < maxFindings) {
        const err = lastError as Error | undefined;
        report({
          kind: 'exception',
          iteration: it,
          message: err?.message ?? String(err),
          stack: err?.stack,
          protocol: decoder.lastProtocol,
          datagram: hex(d),
          prefix: prefix.map(hex),
          mutations,
          minimized: minimize(prefix, d),
        });
      }
    }
    if (recordIssue !== undefined && findings.length < maxFindings) {
      report({ kind: 'record', iteration: it, message: recordIssue, protocol: decoder.lastProtocol, datagram: hex(d), prefix: prefix.map(hex), mutations });
    }
    it++;
    if (it % 1000 === 0) {
      recvSec++;
      decoder.sweep(recvSec * 1000);
      cmp.ref.sweep(recvSec * 1000);
      cmp.fast.sweep(recvSec * 1000);
    }
    if (it % 257 === 0 || it === budget) {
      const t = decoder.templates;
      maxScopes = Math.max(maxScopes, t.scopeCount);
      maxPending = Math.max(maxPending, t.pendingBytes);
      for (const s of t.scopes()) maxTpl = Math.max(maxTpl, s.templates.size);
      const p = cacheProblem(decoder);
      if (p !== undefined && findings.length < maxFindings) report({ kind: 'invariant', iteration: it, message: p });
    }
    if (o.progressEvery && it % o.progressEvery === 0) {
      heapSamples.push([it, heapUsed()]);
      hooks.progress?.(it, { records, findings, heapSamples, counters: { 'decode.exception': decoder.counters.get('decode.exception') } });
    }
  };

  try {
    // Regression reproducers first, each against a fresh decoder.
    for (const reg of o.regressions ?? []) {
      const main = decoder;
      const mainCmp = cmp;
      decoder = new FlowDecoder({ sink, limits });
      cmp = new TranscodeComparer({ limits, transcodeAfter: 3 });
      prefix = [];
      mutations = [`regression: ${reg.name}`];
      for (const p of reg.prefix) feed(fromHex(p), pool[0]!);
      prefix = reg.prefix.map(fromHex);
      feed(fromHex(reg.datagram), pool[0]!);
      decoder = main;
      cmp = mainCmp;
    }
    while (it < budget && findings.length < maxFindings) {
      const exp = r.chance(0.3) ? pool[r.int(Math.min(8, pool.length))]! : pool[r.int(pool.length)]!;
      const op = r.int(100);
      prefix = [];
      mutations = [];
      if (op < 35) {
        // One mutated seed datagram.
        const d = mutate(r, r.pick(flat), r.range(1, 4), mutations);
        feed(d, exp);
      } else if (op < 60) {
        // A seed case: the earlier datagrams intact (templates), a mutated last one; sometimes
        // the mutated one first (templates mutated), then the rest intact.
        const c = r.pick(seeds);
        const k = r.chance(0.7) ? c.datagrams.length - 1 : r.int(c.datagrams.length);
        for (let i = 0; i < c.datagrams.length; i++) {
          const d = i === k ? mutate(r, c.datagrams[i]!, r.range(1, 3), mutations) : c.datagrams[i]!;
          feed(d, exp);
          prefix.push(d);
        }
      } else if (op < 70) {
        mutations.push('random-with-header');
        feed(randomWithHeader(r), exp);
      } else if (op < 80) {
        mutations.push('template-flood');
        // Floods go to the whole pool (more exporters than maxSources: scopes get evicted).
        const { datagram } = templateFlood(r, maxFields);
        feed(datagram, pool[r.int(pool.length)]!);
      } else if (op < 87) {
        mutations.push('splice');
        const a = r.pick(flat);
        const b = r.pick(flat);
        const cut = r.int(a.length + 1);
        const d = concat([a.subarray(0, cut), b.subarray(r.int(b.length + 1))]);
        feed(r.chance(0.5) ? mutate(r, d, 1, mutations) : d, exp);
      } else if (op < 95) {
        // Intact seed (keeps templates learned so mutated data finds them).
        const c = r.pick(seeds);
        for (const d of c.datagrams) {
          feed(d, exp);
          prefix.push(d);
        }
      } else {
        mutations.push('random');
        feed(r.bytes(r.pick([0, 1, 3, 4, 8, 24, r.range(0, 2000)])), exp);
      }
    }
    // Final check and the sweep of everything (age limit passed).
    const p = cacheProblem(decoder);
    if (p !== undefined) report({ kind: 'invariant', iteration: it, message: p });
    decoder.sweep((recvSec + 3600) * 1000);
    if (decoder.templates.pendingBytes !== 0) report({ kind: 'invariant', iteration: it, message: `pending bytes ${decoder.templates.pendingBytes} left after sweeping past the age limit` });
  } finally {
    console.error = origError;
  }
  const counters = decoder.counters.snapshot();
  heapSamples.push([it, heapUsed()]);
  decoder = undefined as unknown as FlowDecoder;
  cmp = undefined as unknown as TranscodeComparer;
  const heapAfter = heapUsed();
  return {
    seed: o.seed,
    iterations: it,
    seeds: seeds.length,
    corpusSeeds: corpus.length,
    findings,
    counters: { ...counters, 'fuzz.exceptions': exceptions },
    records,
    heapBefore,
    heapSamples,
    heapAfter,
    maxScopes,
    maxPendingBytes: maxPending,
    maxTemplatesInScope: maxTpl,
    evictions: counters['scope.evicted'] ?? 0,
    elapsedMs: Date.now() - t0,
  };
}

// ---------------------------------------------------------------------------------------------
// Worker runner with watchdog

export interface RunOptions extends FuzzOptions {
  /** A decode call running longer than this is reported as a hang and the worker terminated. */
  hangMs?: number;
  onProgress?(iteration: number, stats: Partial<FuzzStats>): void;
  onFinding?(f: Finding): void;
}

export interface RunResult {
  stats?: FuzzStats;
  hang?: Finding;
  findings: Finding[];
}

const HERE = dirname(fileURLToPath(import.meta.url));

/** The conformance corpus next to the repository (../shared/conformance), if present. */
export function defaultCorpusDir(): string | undefined {
  // dist/bench/fuzz-core.js -> repo root is two levels up.
  const root = resolve(HERE, '..', '..');
  const dir = resolve(root, '..', 'shared', 'conformance');
  return existsSync(join(dir, 'cases.json')) ? dir : undefined;
}

export function runInWorker(o: RunOptions): Promise<RunResult> {
  const sab = new SharedArrayBuffer(SHARED_BYTES);
  const view = new Int32Array(sab, 0, 4);
  const bytes = new Uint8Array(sab, 16);
  const { onProgress, onFinding, hangMs = 2000, ...opts } = o;
  const worker = new Worker(join(HERE, 'fuzz-worker.js'), { workerData: { options: opts, sab } });
  const findings: Finding[] = [];
  return new Promise<RunResult>((resolvePromise, reject) => {
    let lastIt = -1;
    let lastChange = Date.now();
    let settled = false;
    let hung = false;
    const finish = (res: RunResult): void => {
      if (settled) return;
      settled = true;
      clearInterval(timer);
      resolvePromise(res);
    };
    const timer = setInterval(() => {
      if (hung) return;
      const cur = Atomics.load(view, 0);
      const inDecode = Atomics.load(view, 2) === 1;
      if (cur !== lastIt || !inDecode) {
        lastIt = cur;
        lastChange = Date.now();
        return;
      }
      if (Date.now() - lastChange > hangMs) {
        const n = view[1]!;
        const hang: Finding = {
          kind: 'hang',
          iteration: cur,
          message: `decode did not return within ${hangMs} ms`,
          datagram: Buffer.from(bytes.slice(0, n)).toString('hex'),
        };
        findings.push(hang);
        hung = true;
        void worker.terminate().then(() => finish({ hang, findings }));
      }
    }, 100);
    void reject;
    worker.on('message', (m: { kind: string; finding?: Finding; iteration?: number; stats?: Partial<FuzzStats> }) => {
      if (m.kind === 'finding') {
        findings.push(m.finding!);
        onFinding?.(m.finding!);
      } else if (m.kind === 'progress') onProgress?.(m.iteration!, m.stats!);
      else if (m.kind === 'done') finish({ stats: m.stats as FuzzStats, findings });
    });
    /** The worker died (uncaught error, out of memory...): report the datagram it was decoding. */
    const crash = (message: string, stack?: string): void => {
      if (settled || hung) return;
      const n = view[1]!;
      const f: Finding = {
        kind: 'crash',
        iteration: Atomics.load(view, 0),
        message: `${message}${Atomics.load(view, 2) === 1 ? ' (inside decode)' : ''}`,
        stack,
        datagram: Buffer.from(bytes.slice(0, n)).toString('hex'),
      };
      findings.push(f);
      finish({ hang: f, findings });
    };
    worker.on('error', (e) => crash(`worker error: ${e.message}`, e.stack));
    worker.on('exit', (code) => crash(`fuzz worker exited with code ${code} before finishing`));
  });
}
