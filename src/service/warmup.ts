/**
 * Warm-up: synthetic datagrams of every protocol (NetFlow v5, v9 and IPFIX with the templates
 * common exporters send, sFlow v5) run through a throwaway decoder and throwaway outputs before
 * a worker reads its sockets, so the first real datagrams meet compiled code instead of the
 * interpreter. Cold, the first wake-up of a busy port took 220-320 ms for 4,096 datagrams and
 * the receive buffer overflowed meanwhile (docs/benchmarks.md).
 *
 * Nothing here touches the worker's real state: the worker builds a decoder (with its own template
 * cache and counters) and outputs for the warm-up the way it builds its own, and drops them after. Only code (V8's compiled
 * functions and type feedback) carries over, which is the point.
 */
import { ExporterTable, type Exporter } from '../decode/mod.js';
import {
  beginMessage, beginSet, ByteWriter, countersSample, endMessage, endSet, flowSample, makeFlow, optionsRecord, optionsTemplateRecord, Rng, sampledFrame,
  sflowHeader, templateRecord, templateSetId, v5Header, v5Record, writeRecord, type Field, type Flow, type NetflowVersion, type RecordClock,
} from '../synth/mod.js';

// ---------------------------------------------------------------------------------------------
// Synthetic datagrams (built by src/synth; the templates are what common exporters send)

export interface Template {
  id: number;
  v6: boolean;
  fields: Field[];
}
interface OptionsTemplate {
  id: number;
  scope: Field[];
  fields: Field[];
  /** The one options data record: scope values first. */
  values: (number | string)[];
}

/** NetFlow v9 templates softflowd sends (IPv4, IPv4 ICMP, IPv6) and a router-style one. */
export const V9_TEMPLATES: readonly Template[] = [
  { id: 1024, v6: false, fields: [[8, 4], [12, 4], [22, 4], [21, 4], [1, 4], [2, 4], [10, 4], [14, 4], [61, 1], [136, 1], [7, 2], [11, 2], [4, 1], [6, 1], [60, 1], [5, 1]] },
  { id: 1025, v6: false, fields: [[8, 4], [12, 4], [22, 4], [21, 4], [1, 4], [2, 4], [10, 4], [14, 4], [61, 1], [136, 1], [32, 2], [4, 1], [60, 1], [5, 1]] },
  { id: 2048, v6: true, fields: [[27, 16], [28, 16], [22, 4], [21, 4], [1, 4], [2, 4], [10, 4], [14, 4], [61, 1], [136, 1], [7, 2], [11, 2], [4, 1], [6, 1], [60, 1], [5, 1]] },
  // A router-style template: next hop, masks, AS numbers.
  { id: 260, v6: false, fields: [[8, 4], [12, 4], [15, 4], [10, 2], [14, 2], [2, 4], [1, 4], [22, 4], [21, 4], [7, 2], [11, 2], [6, 1], [4, 1], [5, 1], [16, 2], [17, 2], [9, 1], [13, 1]] },
];
/**
 * softflowd's options (1.1.0): scope Interface, samplingInterval, samplingAlgorithm and the
 * interface's name (IF_NAME, 16 bytes): every flow of that ifIndex then carries the name, and
 * the transcoders' interface table path (encodeIf) gets warm too, as do frames of 128 bytes or
 * more (a two-byte length prefix), which the names make.
 */
const V9_OPTIONS: OptionsTemplate = { id: 256, scope: [[2, 4]], fields: [[34, 4], [35, 1], [82, 16]], values: [1, 1, 2, 'GigabitEthernet0'] };

/** IPFIX templates: pmacct nfprobe (IPv4, IPv6) and a switch/router style one with MACs and VLANs. */
export const IPFIX_TEMPLATES: readonly Template[] = [
  { id: 1024, v6: false, fields: [[153, 8], [152, 8], [1, 8], [2, 8], [60, 1], [10, 4], [14, 4], [61, 1], [8, 4], [12, 4], [7, 2], [11, 2], [5, 1], [6, 1], [4, 1]] },
  { id: 2048, v6: true, fields: [[153, 8], [152, 8], [1, 8], [2, 8], [60, 1], [10, 4], [14, 4], [61, 1], [27, 16], [28, 16], [5, 1], [7, 2], [11, 2], [6, 1], [4, 1]] },
  { id: 300, v6: false, fields: [[8, 4], [12, 4], [7, 2], [11, 2], [4, 1], [6, 1], [5, 1], [1, 8], [2, 8], [152, 8], [153, 8], [10, 4], [14, 4], [56, 6], [80, 6], [58, 2], [15, 4], [16, 4], [17, 4], [9, 1], [13, 1]] },
  { id: 301, v6: true, fields: [[27, 16], [28, 16], [7, 2], [11, 2], [4, 1], [6, 1], [5, 1], [1, 8], [2, 8], [150, 4], [151, 4], [10, 4], [14, 4], [62, 16], [29, 1], [30, 1], [16, 4], [17, 4]] },
  // softflowd's IPFIX (1.1.0): its v9 IPv4 template, sysUpTime-relative times and all.
  { id: 1025, v6: false, fields: V9_TEMPLATES[0]!.fields },
];
/** RFC 7014 style sampling: selector id scope, packet interval and space (1 packet in 100). */
const IPFIX_OPTIONS: OptionsTemplate = { id: 400, scope: [[302, 2]], fields: [[305, 4], [306, 4]], values: [1, 1, 99] };
/**
 * softflowd's IPFIX options (1.1.0): scope meteringProcessId, then systemInitTimeMilliseconds (8
 * bytes), samplingPacketInterval, samplingPacketSpace, selectorAlgorithm and the interface name.
 * Its flows carry sysUpTime-relative times (21, 22) against that boot time. Sent by half the
 * warm-up's exporters (the other half's scopes keep no boot time, as pmacctd's): without it the
 * first softflowd IPFIX datagram deoptimised the options path (a field not seen before, an
 * 8-byte value). The boot time is filled in per round (exportMs - uptimeMs).
 */
function ipfixBootOptions(bootMs: number): OptionsTemplate {
  return { id: 256, scope: [[149, 4]], fields: [[160, 8], [305, 4], [306, 4], [304, 2], [82, 16]], values: [0, bootMs, 1, 0, 3, 'eth0'] };
}

const RECORDS_PER_SET = 12;
const WARMUP_EXPORTERS = 12;
const SFLOW_SAMPLES = 8;
const SFLOW_AGENT = new Uint8Array([192, 0, 2, 10]);

/**
 * Datagrams the decoder reports by design, with what it reports (not a builder error): those
 * counted the way softflowd counts (netflow_v9.count_mismatch), and those whose data waits for
 * its templates (lateTemplates: template.missing).
 */
const EXPECTED_ERROR = new WeakMap<Uint8Array, string>();
/**
 * Datagrams received in the same nanosecond as the one before (warmUp): a batch read without
 * kernel timestamps is stamped once. With the same sequence number too, a data set's head is
 * then the last one's (startSet compares all of them), a path real traffic takes.
 */
const SAME_TIME = new WeakSet<Uint8Array>();

/** One round's generator state. */
interface Round {
  r: Rng;
  w: ByteWriter;
  clock: RecordClock;
  /** Flows made so far (distinct addresses). */
  k: number;
  /** The last flow's interfaces. */
  inIf: number;
  outIf: number;
  /** IPFIX: this exporter sends its boot time (ipfixBootOptions). */
  boot: boolean;
}

/**
 * The numeric fields a flow's edge values (edgeValues) go to: what templates carry as unsigned
 * integers, other than times, addresses and the IP version.
 */
const EDGE_FIELDS = ['bytes', 'packets', 'proto', 'tos', 'tcpFlags', 'srcPort', 'dstPort', 'srcMask', 'dstMask', 'inIf', 'outIf', 'srcAs', 'dstAs', 'vlan', 'direction', 'endReason'] as const;
/**
 * One value of each range a transcoder writes with code of its own: 0, the 1-, 2-, 3- and 5-byte
 * varints (2^31 and more), and one past 2^32 (8-byte counters). A field narrower than the value
 * keeps its low bytes (the synth writer's), so each range of a 1- or 2-byte field comes up too.
 */
const EDGE_VALUES = [0, 0x80 + 3, 0x4000 + 5, 0x200000 + 7, 0x80000000 + 11, 2 ** 40 + 13];

/**
 * Every field of EDGE_FIELDS set to EDGE_VALUES[k % 6], and from k = 6 on the flow is ICMP, its
 * type and code (the destination port's bytes, as v5 and softflowd carry them) from that value:
 * twelve flows (a data set of each template in netflowDatagrams) take every field of a template
 * through every range. Real exporters send all of them (interface 0 for unknown or local traffic,
 * as softflowd's and pmacctd's flows mostly have; 0 counters; TCP flags with CWR, 0x80; protocol
 * 132, SCTP; ICMP codes other than echo's 0; interface indexes of 2^21 and more, as some vendors
 * number them; 4-byte AS numbers; renormalised packet counts past 2^32), and V8 compiles a
 * compare that never ran as a deoptimisation: without them a transcoder optimised here was thrown
 * away by the first real flow with an interface 0 and ran unoptimised for 120-340 ms at start-up
 * (docs/benchmarks.md). test/warmup-edges.test.ts sends each after a warm-up.
 */
function edgeValues(f: Flow, k: number): void {
  const rec = f as unknown as Record<(typeof EDGE_FIELDS)[number], number>;
  const v = EDGE_VALUES[k % EDGE_VALUES.length]!;
  for (const name of EDGE_FIELDS) rec[name] = v;
  if (k >= EDGE_VALUES.length) {
    f.proto = f.v6 ? 58 : 1;
    f.srcPort = 0;
  }
}

/**
 * A flow; one byte counter in 16 beyond 32 bits, as routers now and then send them, and one
 * flow in 4 ended seconds to minutes before the export, as active timeouts and busy exporters
 * report them: uptime arithmetic (milliseconds * 1e6) then leaves the small-integer range, as it
 * does on real data, instead of deoptimising the transcoders when real data first does it.
 */
function flow(t: Round, v6: boolean): Flow {
  const f = makeFlow(t.r, 0, t.k++, v6);
  // Most flows on the same interfaces as the one before, as on an exporter's few busy links
  // (the transcoders keep the last interface look-up; this is the path it takes).
  if (t.k > 1 && t.r.int(4) !== 0) {
    f.inIf = t.inIf;
    f.outIf = t.outIf;
  } else if (t.r.int(2) === 0) {
    // Interface 1 has a name (V9_OPTIONS): flows on it carry it, as softflowd's all do.
    f.inIf = 1 + t.r.int(2);
    f.outIf = 1 + t.r.int(2);
  }
  t.inIf = f.inIf;
  t.outIf = f.outIf;
  if (t.r.int(16) === 0) f.bytes += 2 ** 32;
  // And one in 8 a single small packet (a one-byte varint), as TCP ACKs and DNS queries are.
  else if (t.r.int(8) === 0) {
    f.packets = 1;
    f.bytes = 40 + t.r.int(88);
  }
  if (t.r.int(4) === 0) {
    const older = 3000 + t.r.int(300_000);
    f.startAgoMs += older;
    f.endAgoMs += older;
  }
  return f;
}

/**
 * Templates and sampling options first, then a data datagram per template, as an exporter sends
 * them; with `edges`, a data datagram of edge values per template too (edgeValues).
 */
function netflowDatagrams(t: Round, version: NetflowVersion, seq: number, edges: boolean): Buffer[] {
  const { w, clock } = t;
  const templates = version === 9 ? V9_TEMPLATES : IPFIX_TEMPLATES;
  const opt = version === 9 ? V9_OPTIONS : t.boot ? ipfixBootOptions(clock.exportMs - clock.uptimeMs) : IPFIX_OPTIONS;
  const header = () => beginMessage(w, version, { uptimeMs: clock.uptimeMs, exportSec: Math.floor(clock.exportMs / 1000), seq, domain: version === 9 ? 1 : 7 });
  const out: Buffer[] = [];
  // v9 counts datagrams, IPFIX data records (the options data record is one).
  let prevSeq = seq;
  const push = (records: number, data: number) => {
    out.push(endMessage(w, version, records));
    prevSeq = seq;
    seq += version === 9 ? 1 : data;
  };
  header();
  let s = beginSet(w, templateSetId(version, false));
  for (const tp of templates) templateRecord(w, tp.id, tp.fields);
  endSet(w, s, version);
  s = beginSet(w, templateSetId(version, true));
  optionsTemplateRecord(w, version, opt.id, opt.scope, opt.fields);
  endSet(w, s, version);
  push(templates.length + 1, 0);
  header();
  s = beginSet(w, opt.id);
  optionsRecord(w, opt.scope, opt.fields, opt.values);
  endSet(w, s, version);
  // softflowd counts flow records only, so its options datagrams say 0: the decoder reports
  // that (netflow_v9.count_mismatch) and decodes them anyway; real softflowd traffic takes that
  // path all the time.
  push(version === 9 ? 0 : 1, 1);
  if (version === 9) EXPECTED_ERROR.set(out[out.length - 1]!, 'netflow_v9.count_mismatch');
  for (const tp of templates) {
    header();
    s = beginSet(w, tp.id);
    // 11 or 12 records: with an odd count, v9 sets of softflowd's 42-byte records end in
    // padding, as softflowd's do (the padding check then runs during the warm-up too).
    const n = RECORDS_PER_SET - t.r.int(2);
    for (let k = 0; k < n; k++) writeRecord(w, tp.fields, flow(t, tp.v6), clock);
    endSet(w, s, version);
    push(n, n);
  }
  // A data set of edge values for each template (edgeValues), every other round: as many
  // records as the rest of the round, and V8 needs them seen, not seen often.
  for (const tp of edges ? templates : []) {
    header();
    s = beginSet(w, tp.id);
    const n = 2 * EDGE_VALUES.length;
    for (let k = 0; k < n; k++) {
      const f = flow(t, tp.v6);
      edgeValues(f, k);
      writeRecord(w, tp.fields, f, clock);
    }
    endSet(w, s, version);
    push(n, n);
  }
  // And one datagram with a data set of every template, as softflowd mixes its IPv4 and ICMP
  // sets (the sets after the first share its header fields); its v9 count is the number of
  // sets, as some exporters write it (accepted, and a check that otherwise never runs). Its
  // sequence number is the last datagram's, as an IPFIX exporter's is after a message of
  // templates only, or another exporter's may be: the IPFIX one is received in the same
  // nanosecond as that datagram too (SAME_TIME). Without them the first real datagram with its
  // predecessor's sequence number deoptimised prepareTx (startSet's compare of the times).
  seq = prevSeq;
  header();
  let records = 0;
  for (const tp of templates) {
    s = beginSet(w, tp.id);
    const n = 1 + t.r.int(4);
    for (let k = 0; k < n; k++) writeRecord(w, tp.fields, flow(t, tp.v6), clock);
    endSet(w, s, version);
    records += n;
  }
  push(templates.length, records);
  if (version === 10) SAME_TIME.add(out[out.length - 1]!);
  if (version === 10) lateTemplates(t, templates[0]!, opt, header, push, out);
  return out;
}

/**
 * Data before its templates, as every running exporter's is when the collector starts: IPFIX
 * withdraws a data and the options template (RFC 7011 8.1), data sets of both then wait in the
 * pending buffer, and the templates' return replays them. Without it the first start-up against
 * running exporters deoptimised decode (a branch the warm-up never took).
 */
function lateTemplates(round: Round, tp: Template, opt: OptionsTemplate, header: () => void, push: (records: number, data: number) => void, out: Buffer[]): void {
  // Its own random numbers: the rest of the round stays as it was without these datagrams.
  const t: Round = { ...round, r: new Rng(0x5bd1e995 ^ round.k) };
  const { w, clock } = t;
  header();
  let s = beginSet(w, templateSetId(10, false));
  templateRecord(w, tp.id, []);
  endSet(w, s, 10);
  s = beginSet(w, templateSetId(10, true));
  templateRecord(w, opt.id, []);
  endSet(w, s, 10);
  s = beginSet(w, opt.id);
  optionsRecord(w, opt.scope, opt.fields, opt.values);
  endSet(w, s, 10);
  s = beginSet(w, tp.id);
  const n = 1 + t.r.int(RECORDS_PER_SET);
  for (let k = 0; k < n; k++) writeRecord(w, tp.fields, flow(t, tp.v6), clock);
  endSet(w, s, 10);
  push(2, n + 1);
  EXPECTED_ERROR.set(out[out.length - 1]!, 'template.missing');
  header();
  s = beginSet(w, templateSetId(10, false));
  templateRecord(w, tp.id, tp.fields);
  endSet(w, s, 10);
  s = beginSet(w, templateSetId(10, true));
  optionsTemplateRecord(w, 10, opt.id, opt.scope, opt.fields);
  endSet(w, s, 10);
  push(2, 0);
}

function v5Datagram(t: Round, seq: number): Buffer {
  const { w, clock } = t;
  const ms = clock.exportMs;
  v5Header(w, { count: RECORDS_PER_SET, uptimeMs: clock.uptimeMs, exportSec: Math.floor(ms / 1000), exportNsec: (ms % 1000) * 1e6, seq, engineType: 0, engineId: 0, sampling: 0 });
  for (let k = 0; k < RECORDS_PER_SET; k++) v5Record(w, flow(t, false), clock.uptimeMs);
  return w.take();
}

/** Flow samples of IPv4 and (every fourth) IPv6 frames, a third of them untagged, and a counters sample. */
function sflowDatagram(t: Round, seq: number, edge: number): Buffer {
  const w = t.w;
  sflowHeader(w, { agent: SFLOW_AGENT, subAgent: 0, seq, uptimeMs: t.clock.uptimeMs, samples: SFLOW_SAMPLES + 1 });
  for (let k = 0; k < SFLOW_SAMPLES; k++) {
    const f = flow(t, k % 4 === 3);
    if (k % 3 === 0) f.vlan = 0;
    // ICMP and ICMPv6 in every datagram (by chance they were in few: the first real ICMPv6
    // sample then deoptimised the frame walk).
    if (k === 2) f.proto = 1;
    if (k === 3) f.proto = 58;
    // One sample with edge values (edgeValues), each field within what the sample and the
    // frame's headers hold; interfaces with the format bits (the top two) of multiple interfaces
    // (0x8000000b) and, for the last value, an output of dropped packets (format 1, reason 258),
    // as real agents report them.
    if (k === 1) {
      const e = edge % EDGE_VALUES.length;
      const v = EDGE_VALUES[e]!;
      f.inIf = f.outIf = v % 2 ** 32;
      if (e === EDGE_VALUES.length - 1) f.outIf = 0x40000000 + 258;
      f.srcPort = f.dstPort = v & 0xffff;
      f.proto = f.tos = f.tcpFlags = v & 0xff;
      f.vlan = v & 0xfff;
    }
    flowSample(w, { seq: seq * SFLOW_SAMPLES + k, sourceId: f.inIf & 0xffffff, rate: 1024, pool: seq * 1024 }, f, sampledFrame(f, t.r));
  }
  countersSample(w, seq, 3, t.r.next());
  return w.take();
}

/**
 * One round of synthetic datagrams of every protocol: templates (and sampling options) first,
 * then data, as an exporter sends them. `round` varies sequence numbers and values.
 */
export function warmupDatagrams(round: number, nowMs = Date.now()): Buffer[] {
  const t: Round = {
    r: new Rng(0x9e3779b9 ^ (round * 2654435761)),
    w: new ByteWriter(4096),
    // A quarter of the exporters up for more than 24.8 days (sysUptime past 2^31 ms, as most
    // routers' are; their records' times too): a v9 header's uptime past 2^31 first seen in real
    // traffic deoptimised the decode path. (Rounds and exporters pair up so that each exporter
    // gets the same kind every time: round k goes to exporters i with i = k mod 4.)
    clock: { uptimeMs: (round % 4 === 3 ? 3_000_000_000 : 3_600_000) + round * 100, exportMs: nowMs, samplerId: 1 },
    k: 0,
    inIf: 0,
    outIf: 0,
    boot: round % 2 === 1,
  };
  // Sequence numbers of every varint size from round to round (1, 2, 3, 4 and 5 bytes), and past
  // 2^31: an exporter's counter can be anywhere. (The warm-up replays 8 distinct rounds: each
  // comes up; without the 2-byte one, the flowpb body writer met its first such sequence number
  // in real traffic and was deoptimised; without the last, an sFlow agent's did the sFlow decoder.)
  const high = [0, 1 << 7, 1 << 14, 1 << 21, 1 << 28, 2 ** 31][round % 6]!;
  const edges = round % 2 === 0;
  return [...netflowDatagrams(t, 9, high + round * 8, edges), ...netflowDatagrams(t, 10, high + round * 1000, edges), v5Datagram(t, high + round * RECORDS_PER_SET), sflowDatagram(t, high + round, round)];
}

// ---------------------------------------------------------------------------------------------
// Running them

/** What the warm-up drives: a throwaway decoder built exactly as the worker builds its own. */
export interface WarmupTarget {
  decode(buf: Uint8Array, off: number, len: number, exporter: Exporter, recvSec: number, recvNsec: number): string | undefined;
  /** End of a batch (the outputs' flush). */
  flush(): void;
}

export interface WarmupResult {
  datagrams: number;
  /**
   * Datagrams the throwaway decoder reported an error for (0 unless a builder is wrong; the
   * softflowd-counted options datagrams it reports by design are not counted).
   */
  errors: number;
  /** Wall milliseconds spent. */
  ms: number;
}

/**
 * Decodes `rounds` rounds of synthetic datagrams from a dozen exporters (their own exporter
 * table), each round through the next of `targets` in turn, flushing it after the round as the
 * ingest path does after a batch. Give two throwaway decoders: code that calls a decoder's own
 * closures (its hooks) or reads its objects then has seen more than one, and does not
 * deoptimise when the real decoders' first datagrams come.
 */
export function warmUp(targets: readonly WarmupTarget[], rounds = 400): WarmupResult {
  const t0 = performance.now();
  const table = new ExporterTable();
  // A dozen exporters: what a decoder does once per exporter (a new scope, its first options
  // row, its tables, its interface entries' encoded names) then runs often enough for V8 to
  // record it (feedback is only allocated after a function's first few calls).
  const exporters = Array.from({ length: WARMUP_EXPORTERS }, (_, i) => (i % 3 === 2 ? table.get(`2001:db8::${i + 1}`, 6343) : table.get(`192.0.2.${i + 1}`, 2055 + i)));
  let datagrams = 0;
  let errors = 0;
  // A handful of distinct rounds replayed (building them costs more than decoding them), each
  // exported in another second and received at other nanoseconds, as real datagrams are: time
  // arithmetic on them (seconds * 1e9 split into 32-bit halves) then meets the range of values
  // real ones bring.
  const secs = exportSeconds(Math.floor(Date.now() / 1000), 8);
  const distinct = secs.map((s, k) => warmupDatagrams(k, s * 1000 + 250));
  for (let round = 0; round < rounds; round++) {
    const k = round % distinct.length;
    const batch = distinct[k]!;
    const ex = exporters[round % exporters.length]!;
    const target = targets[round % targets.length]!;
    let nsec = 0;
    for (const d of batch) {
      if (!SAME_TIME.has(d)) nsec = (datagrams * 7_919_123) % 1_000_000_000;
      const e = target.decode(d, 0, d.length, ex, secs[k]! + 1, nsec);
      if (e !== undefined && e !== EXPECTED_ERROR.get(d)) errors++;
      datagrams++;
    }
    target.flush();
  }
  return { datagrams, errors, ms: performance.now() - t0 };
}

/**
 * `n` export times (seconds) up to `now`: consecutive seconds, the earliest moved further back
 * if need be so that seconds * 1e9 mod 2^32 (the low half the transcoders keep) is below 2^31 for
 * some and not for others. Both kinds come in real traffic; code that saw one kind deoptimised on the other.
 */
export function exportSeconds(now: number, n: number): number[] {
  const high = (s: number) => Math.imul(s, 1_000_000_000) >>> 0 >= 2 ** 31;
  const out = Array.from({ length: n }, (_, k) => now - (n - 1 - k));
  if (out.every((s) => high(s) === high(out[0]!))) {
    let s = out[0]! - 1;
    while (high(s) === high(out[0]!)) s--;
    out[0] = s;
  }
  return out;
}

/**
 * warmUp, then short passes until V8's background compiler has installed what it optimised, for
 * at most `settleMs` more. V8 optimises on background threads, which share the worker's core(s):
 * a big function (a transcoder, the flowpb body writer) takes 50-450 ms to compile here. The
 * passes pause to leave the core to the compiler and stop when three in a row take about the
 * same time: what was queued is then installed and the first real datagrams do not compete
 * with the compiler.
 */
export async function warmUpSettled(targets: readonly WarmupTarget[], settleMs: number, rounds?: number): Promise<WarmupResult> {
  const t0 = performance.now();
  const r = warmUp(targets, rounds);
  const settleUntil = performance.now() + settleMs;
  let best = Infinity;
  let stable = 0;
  while (stable < 3 && performance.now() < settleUntil) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    const t = warmUp(targets, 25);
    r.datagrams += t.datagrams;
    r.errors += t.errors;
    const prev = best;
    best = Math.min(best, t.ms);
    stable = t.ms <= prev * 1.25 && t.ms >= prev / 1.25 ? stable + 1 : 0;
  }
  r.ms = performance.now() - t0;
  return r;
}
