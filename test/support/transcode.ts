/**
 * The fused transcoder against the reference path: two FlowDecoders over the same datagrams,
 * one writing every record with writeFlowMessageDelimited (the reference), one with `frames`
 * (the transcoder, plus the reference writer for the records it leaves to the sink, into the
 * same buffer). After each datagram their bytes, return values and counters must be equal.
 *
 * Also a generator of random NetFlow v9 / IPFIX streams over many template layouts (edge
 * values included, options data with sampler tables, interface names and VRF names).
 */
import { ByteWriter, writeFlowMessageDelimited } from '../../src/encode/mod.js';
import { FlowDecoder, type Exporter, type FlowRecord, type FrameSink } from '../../src/decode/mod.js';
import { Rng } from '../../bench/fuzz-core.js';
import { Bytes, ipfixMessage, ipfixOptionsTemplateSet, ipfixTemplateSet, set, v9Message, v9OptionsTemplateSet, v9TemplateSet, VARLEN, type Field, type Template } from '../../bench/datagrams.js';

export interface CompareOptions {
  sampling?: Record<string, unknown>;
  limits?: Record<string, unknown>;
  /** FlowDecoder's transcodeAfter for the fast decoder (default 0: every data set transcoded). */
  transcodeAfter?: number;
  /**
   * Where the fast decoder's writer is before each datagram (default 0), by datagram number: the
   * frames are compared from there.
   */
  fastStart?: (datagram: number) => number;
}

class WriterSink implements FrameSink {
  readonly writer = new ByteWriter(1 << 16);
  frames = 0;
  readonly byType = new Float64Array(16);
  framesAdded(type: number, n: number, from: number): void {
    if (from > this.writer.pos) throw new Error(`frames from ${from} past the writer position ${this.writer.pos}`);
    this.frames += n;
    this.byType[type & 15]! += n;
  }
}

export class TranscodeComparer {
  readonly ref: FlowDecoder;
  readonly fast: FlowDecoder;
  private readonly refOut = new ByteWriter(1 << 16);
  private readonly fastOut = new WriterSink();
  private readonly fastStart: ((datagram: number) => number) | undefined;
  refFlows = 0;
  /** Datagrams after which the fast writer's buffer was another than before it (it grew). */
  grew = 0;
  /** Frames and reference-path records of the fast decoder. */
  fastFlows = 0;
  datagrams = 0;
  bytes = 0;

  constructor(o: CompareOptions = {}) {
    this.fastStart = o.fastStart;
    const refOut = this.refOut;
    const fastOut = this.fastOut;
    this.ref = new FlowDecoder({
      sink: {
        onFlow: (rec: FlowRecord) => {
          writeFlowMessageDelimited(refOut, rec);
          this.refFlows++;
        },
      },
      ...(o.sampling !== undefined ? { sampling: o.sampling } : {}),
      ...(o.limits !== undefined ? { limits: o.limits } : {}),
    });
    this.fast = new FlowDecoder({
      sink: {
        onFlow: (rec: FlowRecord) => {
          writeFlowMessageDelimited(fastOut.writer, rec);
          this.fastFlows++;
        },
      },
      frames: fastOut,
      transcodeAfter: o.transcodeAfter ?? 0,
      ...(o.sampling !== undefined ? { sampling: o.sampling } : {}),
      ...(o.limits !== undefined ? { limits: o.limits } : {}),
    });
  }

  /** Feeds one datagram to both; returns a description of the first difference, or undefined. */
  feed(buf: Uint8Array, exporter: Exporter, recvSec: number, recvNsec: number): string | undefined {
    this.datagrams++;
    const e1 = this.ref.decode(buf, 0, buf.length, exporter, recvSec, recvNsec);
    const before = this.fastOut.frames;
    const fw = this.fastOut.writer;
    const start = this.fastStart?.(this.datagrams - 1) ?? 0;
    fw.pos = start;
    const bufBefore = fw.buf;
    const e2 = this.fast.decode(buf, 0, buf.length, exporter, recvSec, recvNsec);
    if (fw.buf !== bufBefore) this.grew++;
    this.fastFlows += this.fastOut.frames - before;
    if (e1 !== e2) return `decode returned ${String(e1)} (reference) and ${String(e2)} (fast)`;
    const a = this.refOut.view();
    const b = fw.buf.subarray(start, fw.pos);
    this.bytes += a.length;
    const diff = firstDifference(a, b);
    this.refOut.reset();
    this.fastOut.writer.reset();
    if (diff !== undefined) return diff;
    if (this.refFlows !== this.fastFlows) return `flows: ${this.refFlows} (reference) and ${this.fastFlows} (fast)`;
    const c1 = JSON.stringify(this.ref.counters.snapshot());
    const c2 = JSON.stringify(this.fast.counters.snapshot());
    if (c1 !== c2) return `counters differ:\n  reference ${c1}\n  fast      ${c2}`;
    return undefined;
  }

  /** The fast decoder's frame writer. */
  get fastWriter(): ByteWriter {
    return this.fastOut.writer;
  }

  get transcoded(): { fused: number; reference: number } {
    return { ...this.fast.transcoded };
  }
}

function firstDifference(a: Uint8Array, b: Uint8Array): string | undefined {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) {
      return `bytes differ at ${i}: reference ${hex(a, i)} fast ${hex(b, i)}`;
    }
  }
  if (a.length !== b.length) return `lengths differ: reference ${a.length} bytes, fast ${b.length}`;
  return undefined;
}

function hex(b: Uint8Array, at: number): string {
  return `...${Buffer.from(b.subarray(Math.max(0, at - 16), at)).toString('hex')}[${Buffer.from(b.subarray(at, at + 16)).toString('hex')}]`;
}

// ---------------------------------------------------------------------------------------------
// Random streams

/** Elements with the lengths exporters use for them (first = usual), and odd ones. */
const POOL: [number, number[]][] = [
  [1, [4, 8, 2, 1, 3]], [2, [4, 8, 2]], [4, [1, 2]], [5, [1]], [6, [1, 2]], [7, [2, 1, 4]], [8, [4]], [9, [1]], [10, [2, 4, 8]],
  [11, [2]], [12, [4]], [13, [1]], [14, [2, 4]], [15, [4]], [16, [2, 4]], [17, [2, 4]], [18, [4]], [21, [4]], [22, [4]],
  [23, [4, 8]], [24, [4, 8]], [27, [16]], [28, [16]], [29, [1]], [30, [1]], [31, [3, 4]], [32, [2]], [34, [4]], [48, [1, 2, 4]],
  [50, [4]], [54, [4, 2]], [56, [6]], [57, [6]], [58, [2]], [59, [2]], [60, [1]], [61, [1]], [62, [16]], [63, [16]], [47, [4]],
  [80, [6]], [81, [6]], [85, [8, 4]], [86, [8, 4]], [88, [2]], [89, [1, 4]], [128, [4]], [136, [1]], [138, [4, 8]], [139, [2]],
  [148, [4, 8]], [149, [4]], [150, [4]], [151, [4]], [152, [8]], [153, [8]], [154, [8]], [155, [8]], [156, [8]], [157, [8]],
  [158, [4]], [159, [4]], [160, [8]], [176, [1]], [177, [1]], [178, [1]], [179, [1]], [192, [1]], [197, [1]], [225, [4]],
  [226, [4]], [231, [8, 4]], [232, [8, 4]], [234, [4]], [243, [2]], [256, [2]], [298, [8]], [299, [8]], [302, [4]],
  [305, [4]], [306, [4]], [309, [4]], [310, [4]], [311, [8, 4]], [312, [2]], [314, [VARLEN]], [82, [VARLEN, 8]], [94, [VARLEN]],
  [95, [4]], [99, [9]], [200, [3]], [0, [4]],
  // Reference-path layouts: MPLS label stacks, sampled-packet sections, RFC 6313 lists.
  [70, [3]], [71, [3]], [315, [64, VARLEN]], [313, [40]], [104, [64]], [291, [VARLEN]],
];

const EDGE = [0, 1, 2, 127, 128, 255, 256, 16383, 16384, 65535, 2 ** 21 - 1, 2 ** 21, 2 ** 28, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1];

/** A random byte string of a field's length; numbers biased to edges. */
function value(r: Rng, len: number): number[] {
  const out: number[] = new Array<number>(len).fill(0);
  const mode = r.int(6);
  if (mode === 0) return out; // zero
  if (mode === 1) return out.fill(255); // all ones
  if (mode === 2 && len <= 8) {
    // An edge value, right-aligned.
    let v = r.pick(EDGE);
    for (let i = len - 1; i >= 0 && v > 0; i--) {
      out[i] = v % 256;
      v = Math.floor(v / 256);
    }
    return out;
  }
  if (mode === 3 && len >= 2) {
    // Small values (ICMP-looking ports, small protocols).
    out[len - 1] = r.int(256);
    out[len - 2] = r.int(4);
    return out;
  }
  for (let i = 0; i < len; i++) out[i] = r.int(256);
  return out;
}

export interface RandomLayout {
  template: Template;
  v9: boolean;
}

export function randomLayout(r: Rng, id: number, v9: boolean): RandomLayout {
  const n = 1 + r.int(18);
  const fields: Field[] = [];
  for (let i = 0; i < n; i++) {
    const [eid, lens] = r.pick(POOL);
    let len = r.chance(0.8) ? lens[0]! : r.pick(lens);
    if (v9 && len === VARLEN) len = 4;
    const pen = !v9 && r.chance(0.06) ? (r.chance(0.5) ? 29305 : 9) : 0;
    fields.push(pen !== 0 ? { id: eid, len, pen } : { id: eid, len });
  }
  return { template: { id, fields }, v9 };
}

function recordBytes(r: Rng, t: Template, into: Bytes): void {
  for (const f of t.fields) {
    if (f.len === VARLEN) {
      const k = r.chance(0.1) ? 255 + r.int(40) : r.int(20);
      into.varlen(value(r, k));
    } else into.bytes(value(r, f.len));
  }
}

export interface StreamOptions {
  /** Templates per exporter stream. */
  layouts: number;
  datagrams: number;
  v9: boolean;
}

/**
 * A random stream from one exporter: templates first, then data datagrams of 1..12 records of a
 * random template (sometimes several data sets in one datagram), with sampler / interface / VRF
 * options data now and then (also between two data sets), a truncated record or trailing garbage
 * sometimes.
 */
export function randomStream(r: Rng, o: StreamOptions): Uint8Array[] {
  const layouts: RandomLayout[] = [];
  for (let i = 0; i < o.layouts; i++) layouts.push(randomLayout(r, 256 + i, o.v9));
  const out: Uint8Array[] = [];
  const tpl = o.v9 ? v9TemplateSet(layouts.map((l) => l.template)) : ipfixTemplateSet(layouts.map((l) => l.template));
  const uptime = r.pick([0, 1000, 3_600_000, 0xfffffff0]);
  const exportSec = r.pick([1_773_489_600, 0, 0xffffffff, 1_000_000_000]);
  let seq = r.u32();
  const msg = (sets: Uint8Array[], count: number): Uint8Array =>
    o.v9 ? v9Message({ sysUptime: uptime, exportSec, sequence: seq++, sourceId: 7 }, sets, count) : ipfixMessage({ exportSec, sequence: seq++, domain: r.chance(0.5) ? 7 : 0 }, sets);
  out.push(msg([tpl], layouts.length));
  // Options: sampler table (by samplerId / selectorId / interface / scope), interface and VRF names.
  const optId = 300;
  const opt = o.v9
    ? { id: optId, scope: [{ id: 2, len: 4 }], options: [{ id: 48, len: 2 }, { id: 34, len: 4 }, { id: 82, len: 8 }, { id: 83, len: 16 }] }
    : { id: optId, scope: [{ id: 10, len: 4 }], options: [{ id: 302, len: 4 }, { id: 305, len: 4 }, { id: 306, len: 4 }, { id: 82, len: VARLEN }, { id: 234, len: 4 }, { id: 236, len: VARLEN }] };
  const optSet = o.v9 ? v9OptionsTemplateSet(opt) : ipfixOptionsTemplateSet(opt);
  out.push(msg([optSet], 1));
  for (let d = 0; d < o.datagrams; d++) {
    const sets: Uint8Array[] = [];
    let count = 0;
    const options = (): void => {
      const b = new Bytes();
      const rows = 1 + r.int(3);
      for (let k = 0; k < rows; k++) {
        b.u32(r.int(4)); // interface
        if (o.v9) {
          b.u16(r.int(3)).u32(r.pick([0, 1, 10, 100, 1000])).bytes(value(r, 8)).bytes(Array.from(Buffer.from('ifdesc-ä'.padEnd(16, 'x'))).slice(0, 16));
        } else {
          b.u32(r.int(3)).u32(r.pick([0, 1, 9])).u32(r.pick([0, 99])).varlen(Array.from(Buffer.from(`eth${r.int(9)}`)));
          b.u32(r.int(3)).varlen(Array.from(Buffer.from(r.chance(0.5) ? 'vrf-red' : 'vrf-ü')));
        }
        count++;
      }
      sets.push(set(optId, b.done(), o.v9));
    };
    const data = (): void => {
      const l = r.pick(layouts);
      const b = new Bytes();
      const n = 1 + r.int(12);
      for (let k = 0; k < n; k++) recordBytes(r, l.template, b);
      if (r.chance(0.05)) b.bytes([0, 0, 0]); // padding
      else if (r.chance(0.03)) b.bytes(value(r, 1 + r.int(6))); // garbage or a cut record
      count += n;
      sets.push(set(l.template.id, b.done(), false));
    };
    if (r.chance(0.15)) options();
    data();
    // More data sets in the same datagram (as softflowd and routers send them), now and then
    // with options data between them that changes the tables the next one is looked up in.
    for (let more = r.chance(0.3) ? 1 + r.int(3) : 0; more > 0; more--) {
      if (r.chance(0.3)) options();
      data();
    }
    out.push(msg(sets, count));
  }
  return out;
}
