/**
 * Decode throughput per core: NetFlow v5, v9 and IPFIX datagrams of realistic size (20-30
 * records each) through FlowDecoder into the normalised record, alone and followed by the flowpb
 * (length-delimited batch) and NDJSON encoders; and `transcode`, the fused per-template path
 * straight to the flowpb batch (src/decode/transcode.ts).
 *
 *   npm run bench            (= npm run build && node dist/bench/decode.js)
 *   node dist/bench/decode.js [--seconds 2] [--runs 3] [--only ipfix] [--markdown]
 *
 * Each case is warmed up, then run `runs` times for about `seconds` each; the median run is
 * reported. The loop is single-threaded, so records per CPU-second (process.cpuUsage) is the
 * per-core figure; wall-clock figures are shown next to it (the machine is shared).
 */
import { ExporterTable, FlowDecoder, type FlowRecord } from '../src/decode/mod.js';
import { DelimitedBatchWriter, NdjsonBatchWriter } from '../src/encode/mod.js';
import {
  IPFIX_V4,
  IPFIX_V4_APPNAME,
  IPFIX_V6,
  V9_CISCO,
  V9_CISCO64,
  ipfixDatagram,
  ipfixMessage,
  ipfixTemplateSet,
  v5Datagram,
  v9Datagram,
  v9Message,
  v9TemplateSet,
  type Template,
} from './datagrams.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : dflt;
}
const SECONDS = Number(arg('seconds', '2'));
const RUNS = Number(arg('runs', '3'));
const ONLY = arg('only', '');
const MARKDOWN = process.argv.includes('--markdown');

/** Distinct datagrams per case, rotated, so the loop does not decode one buffer forever. */
const VARIANTS = 16;

interface Case {
  name: string;
  recordsPerDatagram: number;
  bytesPerDatagram: number;
  /** Template datagram (v9/IPFIX), decoded once before the timed loop. */
  prime?: Uint8Array;
  datagrams: Uint8Array[];
}

function v9Case(name: string, t: Template, n: number): Case {
  const datagrams = Array.from({ length: VARIANTS }, (_, i) => v9Datagram(t, n, false, { sequence: i * n, sourceId: 0 }));
  return { name, recordsPerDatagram: n, bytesPerDatagram: datagrams[0]!.length, prime: v9Message({}, [v9TemplateSet([t])], 1), datagrams };
}

function ipfixCase(name: string, t: Template, n: number): Case {
  const datagrams = Array.from({ length: VARIANTS }, (_, i) => ipfixDatagram(t, n, false, { sequence: i * n, domain: 1 }));
  return { name, recordsPerDatagram: n, bytesPerDatagram: datagrams[0]!.length, prime: ipfixMessage({ domain: 1 }, [ipfixTemplateSet([t])]), datagrams };
}

const CASES: Case[] = [
  { name: 'NetFlow v5 (30 rec)', recordsPerDatagram: 30, bytesPerDatagram: 24 + 30 * 48, datagrams: Array.from({ length: VARIANTS }, (_, i) => v5Datagram(30, i + 1)) },
  v9Case('NetFlow v9 Cisco 20 fields (25 rec)', V9_CISCO, 25),
  v9Case('NetFlow v9 Cisco 64-bit ctrs (25 rec)', V9_CISCO64, 25),
  ipfixCase('IPFIX IPv4 20 fields (24 rec)', IPFIX_V4, 24),
  ipfixCase('IPFIX IPv6 21 fields (20 rec)', IPFIX_V6, 20),
  ipfixCase('IPFIX IPv4 + varlen appName (22 rec)', IPFIX_V4_APPNAME, 22),
].filter((c) => ONLY === '' || c.name.toLowerCase().includes(ONLY.toLowerCase()));

type Mode = 'decode' | 'decode+flowpb' | 'transcode' | 'decode+json';
const MODES: Mode[] = ['decode', 'decode+flowpb', 'transcode', 'decode+json'];

interface Measure {
  records: number;
  wallNs: number;
  cpuNs: number;
}

/** Builds a decoder whose sink does what `mode` says, and a per-datagram batch flush. */
function setup(mode: Mode): { decoder: FlowDecoder; flush: () => number; touched: () => number } {
  let acc = 0;
  let sink: { onFlow(r: FlowRecord): void };
  let flush: () => number;
  if (mode === 'decode') {
    sink = {
      onFlow(r) {
        acc += r.bytes; // touch one field so the record is not dead
      },
    };
    flush = () => 0;
  } else if (mode === 'decode+flowpb') {
    const w = new DelimitedBatchWriter(256 * 1024);
    sink = { onFlow: (r) => w.append(r) };
    flush = () => w.finish().length;
  } else if (mode === 'transcode') {
    // The fast path: v9 / IPFIX records transcoded per template into the same batch (v5 records
    // still through the FlowRecord).
    const w = new DelimitedBatchWriter(256 * 1024);
    sink = { onFlow: (r) => w.append(r) };
    flush = () => w.finish().length;
    return { decoder: new FlowDecoder({ sink, frames: { writer: w.writer, framesAdded: (_t, n) => w.added(n) } }), flush, touched: () => acc };
  } else {
    const w = new NdjsonBatchWriter(1024 * 1024);
    sink = { onFlow: (r) => w.append(r) };
    flush = () => w.finish().length;
  }
  const decoder = new FlowDecoder({ sink });
  return { decoder, flush, touched: () => acc };
}

function runOnce(c: Case, mode: Mode, iterations: number): Measure & { outBytes: number; errors: number } {
  const { decoder, flush } = setup(mode);
  const exp = new ExporterTable().get('192.0.2.10', 2055);
  if (c.prime) decoder.decode(c.prime, 0, c.prime.length, exp, 1_773_489_600, 0);
  const dg = c.datagrams;
  let outBytes = 0;
  let errors = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    const d = dg[i & (VARIANTS - 1)]!;
    if (decoder.decode(d, 0, d.length, exp, 1_773_489_600, 0) !== undefined) errors++;
    outBytes += flush();
  }
  const wallNs = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(cpu0);
  const counted = decoder.counters.get(c.name.startsWith('NetFlow v5') ? 'records.netflow_v5' : c.name.startsWith('NetFlow v9') ? 'records.netflow_v9' : 'records.ipfix');
  return { records: counted, wallNs, cpuNs: (cpu.user + cpu.system) * 1000, outBytes, errors };
}

interface Row {
  case: string;
  mode: Mode;
  bytes: number;
  recPerSecWall: number;
  recPerCpuSec: number;
  nsPerRecCpu: number;
  outBytesPerRec: number;
  note: string;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function measure(c: Case, mode: Mode): Row {
  // Calibrate (also the warm-up): double the iterations until a run takes ~0.3 s.
  let iters = 64;
  for (;;) {
    const m = runOnce(c, mode, iters);
    if (m.wallNs > 3e8) break;
    iters *= 2;
  }
  const first = runOnce(c, mode, iters);
  const target = Math.max(1, Math.round((iters * SECONDS * 1e9) / first.wallNs));
  const runs: (Measure & { outBytes: number; errors: number })[] = [];
  for (let r = 0; r < RUNS; r++) runs.push(runOnce(c, mode, target));
  const byCpu = runs.map((m) => m.records / (m.cpuNs / 1e9));
  const byWall = runs.map((m) => m.records / (m.wallNs / 1e9));
  const med = runs[byCpu.indexOf(median(byCpu))]!;
  if (med.records !== target * c.recordsPerDatagram) throw new Error(`${c.name} ${mode}: decoded ${med.records} records, expected ${target * c.recordsPerDatagram}`);
  return {
    case: c.name,
    mode,
    bytes: c.bytesPerDatagram,
    recPerSecWall: median(byWall),
    recPerCpuSec: median(byCpu),
    nsPerRecCpu: med.cpuNs / med.records,
    outBytesPerRec: med.outBytes / med.records,
    note: med.errors > 0 ? `${med.errors} datagrams returned an error` : '',
  };
}

function fmtM(x: number): string {
  return `${(x / 1e6).toFixed(2)} M`;
}

function main(): void {
  const rows: Row[] = [];
  for (const c of CASES) {
    for (const mode of MODES) {
      try {
        rows.push(measure(c, mode));
      } catch (e) {
        rows.push({ case: c.name, mode, bytes: c.bytesPerDatagram, recPerSecWall: NaN, recPerCpuSec: NaN, nsPerRecCpu: NaN, outBytesPerRec: NaN, note: `failed: ${(e as Error).message}` });
      }
      const r = rows[rows.length - 1]!;
      if (!MARKDOWN) {
        process.stderr.write(`${r.case.padEnd(40)} ${r.mode.padEnd(14)} ${fmtM(r.recPerCpuSec).padStart(9)} rec/CPU-s  ${r.nsPerRecCpu.toFixed(0).padStart(5)} ns/rec  ${r.note}\n`);
      }
    }
  }
  const header = '| Datagram | Bytes | Mode | Records/s per core (CPU) | ns/record (CPU) | Records/s (wall) | Output bytes/record |';
  const lines = [header, '|---|---:|---|---:|---:|---:|---:|'];
  for (const r of rows) {
    lines.push(
      `| ${r.case} | ${r.bytes} | ${r.mode} | ${Number.isNaN(r.recPerCpuSec) ? r.note : fmtM(r.recPerCpuSec)} | ${Number.isNaN(r.nsPerRecCpu) ? '-' : r.nsPerRecCpu.toFixed(0)} | ${Number.isNaN(r.recPerSecWall) ? '-' : fmtM(r.recPerSecWall)} | ${Number.isNaN(r.outBytesPerRec) || r.mode === 'decode' ? '-' : r.outBytesPerRec.toFixed(0)} |`,
    );
  }
  process.stdout.write(`\nNode ${process.version}, ${SECONDS} s x ${RUNS} runs per row, median run; 1 thread.\n\n${lines.join('\n')}\n`);
  const goal = rows.filter((r) => r.mode === 'decode' && !r.case.startsWith('NetFlow v5'));
  const below = goal.filter((r) => !(r.recPerCpuSec >= 2e6));
  process.stdout.write(
    below.length === 0
      ? '\nGoal met: every v9/IPFIX case decodes >= 2 M records per CPU-second.\n'
      : `\nBelow the 2 M records/s/core goal: ${below.map((r) => `${r.case} (${fmtM(r.recPerCpuSec)})`).join(', ')}\n`,
  );
}

main();
