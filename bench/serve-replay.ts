// Pieces of the serve benchmark (bench/serve.ts) that tests exercise on
// their own: the stream replay (sender role), counting length-delimited
// output files, parsing Prometheus text.

import { closeSync, openSync, readSync } from 'node:fs';
import { BatchSender } from '../src/ingest/mod.js';
import { pace, sleepSync } from './pacer.js';
import type { Stream } from './serve-streams.js';

export interface SenderResult {
  /** Datagrams the kernel accepted, preamble and warm-up included. */
  datagrams: number;
  /** Flows in those datagrams (the FlowDecoder's count per stream datagram). */
  flows: number;
  /** Data records (IPFIX sequence units) in those datagrams. */
  records: number;
  preambleDatagrams: number;
  /** Datagrams and flows sent during the warm-up (preamble excluded). */
  warmupDatagrams: number;
  warmupFlows: number;
  /** Datagrams and flows sent in the measured part (after the warm-up). */
  measuredDatagrams: number;
  measuredFlows: number;
  /** Wall seconds of the measured part. */
  seconds: number;
  stalls: number;
  calls: number;
  /** CPU seconds of the sender process (user + system) during the measured part. */
  cpuSeconds: number;
  perExporter: number[];
}

export interface ReplayOptions {
  /** Seconds sent at the rate before the measured part (default 0). */
  warmup?: number;
  /** Called between the warm-up and the measured part. */
  onMeasure?: () => void;
}

/**
 * Replays the stream from `exporters` source addresses: first the stream's first template
 * datagram from each (the preamble), 200 ms for the collector to learn them, then the stream in
 * order, round-robin over the exporters, each with its own position and sequence numbers: for
 * `warmup` seconds, then (after `onMeasure`) for `duration` seconds.
 */
export function replay(stream: Stream, port: number, rate: number, duration: number, exporters: number, opts: ReplayOptions = {}): SenderResult {
  const { data, offsets, lengths, meta } = stream;
  const n = meta.datagrams;
  const v9 = meta.version === 9;
  const senders = Array.from(
    { length: exporters },
    (_, k) => new BatchSender({ source: `127.0.2.${k + 1}`, sndbuf: 4 << 20, destinations: [{ host: '127.0.0.1', port }] }),
  );
  const state = senders.map((s, k) => ({ s, pos: (k * 97) % n, seq: 1000 * (k + 1), sent: 0 }));
  let datagrams = 0;
  let flows = 0;
  let records = 0;
  /** Stamps datagrams [from, to) with the exporter's running sequence and the time. */
  const stamp = (e: (typeof state)[number], from: number, to: number) => {
    const now = Math.floor(Date.now() / 1000);
    let seq = e.seq;
    for (let i = from; i < to; i++) {
      const o = offsets[i]!;
      if (v9) {
        data.writeUInt32BE(now >>> 0, o + 8);
        data.writeUInt32BE(seq >>> 0, o + 12);
        seq++;
      } else {
        data.writeUInt32BE(now >>> 0, o + 4);
        data.writeUInt32BE(seq >>> 0, o + 8);
        seq += meta.records[i]!;
      }
    }
  };
  /** Counts datagrams [from, from+got) as sent and advances the exporter's sequence. */
  const account = (e: (typeof state)[number], from: number, got: number) => {
    for (let i = from; i < from + got; i++) {
      flows += meta.flows[i]!;
      records += meta.records[i]!;
      e.seq += v9 ? 1 : meta.records[i]!;
    }
    e.sent += got;
    datagrams += got;
  };
  // Preamble: the first datagram with templates, from every exporter.
  const first = meta.hasTemplates.indexOf(true);
  let preamble = 0;
  if (first >= 0) {
    for (const e of state) {
      for (let tries = 0; tries < 1000; tries++) {
        stamp(e, first, first + 1);
        const got = e.s.send(data, offsets.subarray(first), lengths.subarray(first), 1);
        if (got === 1) {
          account(e, first, 1);
          preamble++;
          break;
        }
        sleepSync(1);
      }
    }
    sleepSync(200);
  }
  let k = 0;
  const send = (max: number) => {
    const e = state[k++ % state.length]!;
    const from = e.pos;
    const cnt = Math.min(max, n - from);
    stamp(e, from, from + cnt);
    const got = e.s.send(data, offsets.subarray(from), lengths.subarray(from), cnt);
    account(e, from, got);
    e.pos = (from + got) % n;
    return got;
  };
  if ((opts.warmup ?? 0) > 0) pace({ rate, duration: opts.warmup!, maxBurst: 64, send });
  const warm = { datagrams: datagrams - preamble, flows };
  const cpu0 = process.cpuUsage();
  opts.onMeasure?.();
  const r = pace({ rate, duration, maxBurst: 64, send });
  const cpu = process.cpuUsage(cpu0);
  for (const s of senders) s.close();
  return {
    datagrams,
    flows,
    records,
    preambleDatagrams: preamble,
    warmupDatagrams: warm.datagrams,
    warmupFlows: warm.flows - (preamble > 0 ? meta.flows[first]! * preamble : 0),
    measuredDatagrams: datagrams - preamble - warm.datagrams,
    measuredFlows: flows - warm.flows,
    seconds: r.seconds,
    stalls: r.stalls,
    calls: r.calls,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    perExporter: state.map((e) => e.sent),
  };
}

/** Prometheus text format → metric name → value summed over label sets (and the labelled samples). */
export function parseMetrics(text: string): { sums: Map<string, number>; samples: { name: string; labels: string; value: number }[] } {
  const sums = new Map<string, number>();
  const samples: { name: string; labels: string; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const value = Number(m[3]);
    if (!Number.isFinite(value)) continue;
    samples.push({ name: m[1]!, labels: m[2] ?? '', value });
    sums.set(m[1]!, (sums.get(m[1]!) ?? 0) + value);
  }
  return { sums, samples };
}

const countBuffers = new Map<number, Buffer>();

/**
 * Counts the length-delimited records of a file: reads it in chunks, finds each chunk's last
 * complete frame, and counts the frames on the way (a length prefix longer than 5 bytes or a
 * frame longer than a chunk is an error).
 */
export function countDelimitedFile(path: string, chunk = 32 << 20): { records: number; bytes: number; trailingBytes: number } {
  const fd = openSync(path, 'r');
  const CHUNK = chunk;
  // One buffer per chunk size, reused: the rotating sink counts a piece every second during a run.
  let buf = countBuffers.get(CHUNK);
  if (buf === undefined) countBuffers.set(CHUNK, (buf = Buffer.alloc(CHUNK * 2)));
  let carry = 0;
  let records = 0;
  let bytes = 0;
  try {
    for (;;) {
      const got = readSync(fd, buf, carry, CHUNK, null);
      bytes += got;
      const end = carry + got;
      if (got === 0) break;
      // Last complete frame boundary in buf[0, end).
      let p = 0;
      let boundary = 0;
      let frames = 0;
      for (;;) {
        // Prefixes of one and two bytes (frames under 16 KiB: every flow) without the loop.
        if (p + 2 <= end) {
          const c0 = buf[p]!;
          if (c0 < 128) {
            if (p + 1 + c0 > end) break;
            p += 1 + c0;
            boundary = p;
            frames++;
            continue;
          }
          const c1 = buf[p + 1]!;
          if (c1 < 128) {
            const l2 = (c0 & 127) | (c1 << 7);
            if (p + 2 + l2 > end) break;
            p += 2 + l2;
            boundary = p;
            frames++;
            continue;
          }
        }
        let len = 0;
        let shift = 0;
        let q = p;
        let ok = false;
        while (q < end && shift <= 28) {
          const c = buf[q++]!;
          len += (c & 127) * 2 ** shift;
          if (c < 128) {
            ok = true;
            break;
          }
          shift += 7;
        }
        if (!ok || q + len > end) break;
        p = q + len;
        boundary = p;
        frames++;
      }
      if (boundary === 0 && end >= CHUNK) throw new Error(`${path}: a frame longer than ${CHUNK} bytes or a malformed prefix`);
      records += frames;
      buf.copy(buf, 0, boundary, end);
      carry = end - boundary;
    }
  } finally {
    closeSync(fd);
  }
  return { records, bytes, trailingBytes: carry };
}

/** Spread of repeated measurements: the run-to-run consistency the speed issue asks for. */
export interface Spread {
  n: number;
  min: number;
  median: number;
  max: number;
  /** max / min (1 = every run the same). */
  ratio: number;
}

export function spreadOf(xs: readonly number[]): Spread {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return { n: 0, min: NaN, median: NaN, max: NaN, ratio: NaN };
  const m = s.length >> 1;
  const median = s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  return { n: s.length, min: s[0]!, median, max: s[s.length - 1]!, ratio: s[s.length - 1]! / s[0]! };
}

/** One measured run, as far as pairRatios needs it. */
export interface PairedRun {
  collector: string;
  stream: string;
  rate: number;
  workers: number;
  rep: number;
  /** CPU per flow sent in the measured part. */
  cpuUsPerFlow: number;
  /** CPU per flow written: above cpuUsPerFlow when the run lost datagrams. */
  cpuUsPerWrittenFlow?: number;
}

/**
 * --interleave (bench/serve.ts): serve's CPU per flow over the other collector's in each
 * repetition (the two runs followed each other on the same load), as min, median and max over
 * the repetitions, and with two or more pairs the ratios' max/min against 10 % (the spread of
 * serve's cost relative to the other collector's: on a host whose speed drifts from one run to
 * the next, the spread of each collector's own runs is mostly the host's). One line per serve
 * cell and other collector. `cellRuns`: each cell's runs.
 */
export function pairRatios(cellRuns: readonly (readonly PairedRun[])[], fmt: (x: number, digits: number) => string = (x, d) => x.toFixed(d)): string[] {
  const out: string[] = [];
  for (const sr of cellRuns) {
    const s0 = sr[0];
    if (s0 === undefined || s0.collector !== 'serve') continue;
    for (const other of ['hand', 'nfcapd']) {
      const or = cellRuns.find((x) => x[0]?.collector === other && x[0].stream === s0.stream && x[0].rate === s0.rate);
      if (or === undefined) continue;
      const xs: number[] = [];
      // The same pairs per flow written, shown when a run of either collector lost datagrams:
      // per flow sent then flatters the one that lost more.
      const ws: number[] = [];
      let lost = false;
      for (const r of sr) {
        const o = or.find((x) => x.rep === r.rep);
        if (o === undefined || !(o.cpuUsPerFlow > 0)) continue;
        xs.push(r.cpuUsPerFlow / o.cpuUsPerFlow);
        const rw = r.cpuUsPerWrittenFlow ?? r.cpuUsPerFlow;
        const ow = o.cpuUsPerWrittenFlow ?? o.cpuUsPerFlow;
        ws.push(rw / ow);
        if (rw > r.cpuUsPerFlow * 1.0005 || ow > o.cpuUsPerFlow * 1.0005) lost = true;
      }
      if (xs.length === 0) continue;
      const s = spreadOf(xs);
      const w = spreadOf(ws);
      out.push(
        `- ${s0.stream} ${fmt(s0.rate, 0)}/s, ${s0.workers} worker(s): serve/${other} CPU per flow in each of ${xs.length} interleaved pairs: ${xs.map((x) => fmt(x, 3)).join(', ')}; median **${fmt(s.median, 3)}x** (${fmt(s.min, 3)}-${fmt(s.max, 3)}); serve cheaper in ${xs.filter((x) => x < 1).length} of ${xs.length}${xs.length > 1 ? `; the ratios' max/min ${fmt(s.ratio, 3)} (within 10 %: ${s.ratio <= 1.1 ? 'yes' : 'no'})` : ''}` +
          (lost ? `; runs lost datagrams, so per flow written: ${ws.map((x) => fmt(x, 3)).join(', ')}, median **${fmt(w.median, 3)}x**, serve cheaper in ${ws.filter((x) => x < 1).length} of ${ws.length}` : ''),
      );
    }
  }
  return out;
}

/**
 * A collector's CPU per flow at the lowest rate of a series over that at the highest (medians of
 * each cell's runs), per collector, stream and workers value with two or more rates: the speed
 * issue's "at a low rate no more per flow than at a high one". One line each, in the order the
 * cells first appear.
 */
export function rateRatios(cellRuns: readonly (readonly PairedRun[])[], fmt: (x: number, digits: number) => string = (x, d) => x.toFixed(d)): string[] {
  const groups = new Map<string, { head: PairedRun; byRate: Map<number, number[]> }>();
  for (const runs of cellRuns) {
    for (const r of runs) {
      const key = `${r.collector} ${r.stream} ${r.workers}`;
      let g = groups.get(key);
      if (g === undefined) groups.set(key, (g = { head: r, byRate: new Map() }));
      const xs = g.byRate.get(r.rate) ?? [];
      xs.push(r.cpuUsPerFlow);
      g.byRate.set(r.rate, xs);
    }
  }
  const out: string[] = [];
  for (const { head, byRate } of groups.values()) {
    if (byRate.size < 2) continue;
    const rates = [...byRate.keys()].sort((a, b) => a - b);
    const lo = spreadOf(byRate.get(rates[0]!)!).median;
    const hi = spreadOf(byRate.get(rates[rates.length - 1]!)!).median;
    const x = lo / hi;
    out.push(
      `- ${head.collector} ${head.stream}, ${head.workers} worker(s): CPU per flow at ${fmt(rates[0]!, 0)}/s over ${fmt(rates[rates.length - 1]!, 0)}/s = **${fmt(x, 2)}x** (medians ${fmt(lo, 3)} / ${fmt(hi, 3)} µs; at most 1.00x: ${x <= 1 ? 'yes' : 'no'})`,
    );
  }
  return out;
}
