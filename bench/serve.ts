// Benchmark of the collector service (`flow-collector serve`), and optionally
// of nfcapd on the same load.
//
//   npm run bench:serve -- [options]      (= npm run build && node dist/bench/serve.js)
//
//   --streams v9,ipfix         replay streams (bench/serve-streams.ts): softflowd NetFlow v9,
//                              pmacctd nfprobe IPFIX
//   --rates 20000,50000,100000 offered datagrams/s
//                              (with two or more, the summary gives each collector's CPU per
//                              flow at the lowest rate over the highest, medians of the runs)
//   --workers 1,2              serve --workers values; 1 worker runs pinned to core 1
//                              (taskset -c 1), 2 workers to cores 0,1 (the sender shares core 0)
//   --core 1                   the one-core collectors' core (0 or 1; the sender and the harness
//                              take the other). A VM's two vCPUs can differ for a while: on one
//                              machine the decode loop ran 1.7x slower on core 1 than on core 0
//                              for a quarter hour (the host's doing), and serve's CPU per flow
//                              with it, while nfcapd's did not change
//   --reps 3                   repetitions of each cell
//   --interleave               run the collectors of a stream and rate in turn, one repetition
//                              of each after the other (serve, nfcapd, serve, nfcapd, ...),
//                              instead of all repetitions of one collector and then the other's,
//                              and report serve/other per pair of neighbouring runs (min, median,
//                              max): the machine's drift over minutes (this VM's host changes speed
//                              by 10-20 % from one quarter hour to the next) then moves both sides
//                              of each ratio alike
//   --consistency              ten consecutive runs of ONE cell (one stream, rate and workers value;
//                              --reps changes the count): prints every run and the spread
//                              (min/median/max, max/min) of CPU µs per flow sent and per flow
//                              written and of the written share, against the goal "ten runs
//                              within 10 %"; with --interleave and --collectors serve,nfcapd
//                              also the max/min of the ten serve/nfcapd ratios (a host that
//                              drifts between runs moves both collectors alike)
//   --duration 5               seconds of paced sending per run, measured
//   --warmup 20                seconds sent at the rate before the measured part: V8 compiles
//                              the hot paths on its own threads (in serve's CPU time), and its
//                              memory reducer runs two or three full GCs on the main thread and
//                              its helpers once, at a multiple of 8 s after start-up's last full
//                              GC (8.3 s after the start on one host, 16.3 s on another, in every
//                              run: ~30-50 ms of main thread and ~50 ms of helper CPU): inside
//                              the window that one-off cost 20k ~0.08 µs per IPFIX flow, 100k a
//                              fifth of it (docs/benchmarks.md); 20 s puts it before the window
//   --exporters 8              source addresses 127.0.2.1.. the stream is replayed from (each its
//                              own exporter with its own sequence numbers)
//   --nfcapd                   also run nfcapd (nfdump) on the same cells, pinned to core 1
//                              (once per stream and rate: it has no workers)
//   --hand                     also run the library wired by hand (bench/serve-hand.ts: one
//                              thread, recvmmsg → FlowDecoder → flowpb → file), pinned to core 1
//   --collectors serve,hand,nfcapd  which collectors to run (default serve)
//   --nfcapd-rcvbuf BYTES      nfcapd -B (default 64 MiB, what serve's addon asks for)
//   --quiet-sample S           seconds of /proc/stat sampled before each run (default 1)
//   --busy-threshold F         CPU share of the machine, outside the measured processes, above which
//                              a run is marked busy (default 0.1 = 10 % of the 2 cores)
//   --wait-quiet S             before each run, wait up to S seconds for a quiet sample (default 30)
//   --retry-busy N             run a busy repetition again, up to N more times (default 2); the
//                              summary takes the first quiet attempt, else the last one (marked)
//   --json FILE                write every run and the summary as JSON
//   --keep-output              keep serve's output files (default: deleted after counting)
//   --out-dir DIR              where the collectors write (default /dev/shm, a tmpfs: the disk
//                              and its writeback threads stay out of the measurement)
//   --sink rotate|append       rotate (default): the output is rotated while the load runs and
//                              each finished piece counted and deleted (bench/sink.ts: serve and
//                              the hand-wired collector every second by rename + SIGHUP, nfcapd
//                              with -t 3; a piece is deleted at the first tick, every 250 ms, after
//                              it is finished), so a run reuses the pages of the output it deleted, as a
//                              rotated file on a disk does; append: one file per run that grows by
//                              GBs (on this VM each fresh page faults in from the host: the sink
//                              then costs more than decoding; docs/benchmarks.md)
//   --count frames|sizes       frames (default): every piece of serve's output is read and its
//                              frames counted; sizes: serve's pieces are only measured and
//                              deleted, the flows are the "delivered" of serve's "flow-collector
//                              stopped" line and the bytes on disk must equal its output_bytes.
//                              Reading the output costs the bench ~0.2 ns per byte (at v9 200k,
//                              0.6-0.7 s of CPU per run on the cores serve's 2 workers use:
//                              docs/benchmarks.md); nfcapd and the hand-wired one are always read
//   --cache DIR                stream cache (default bench/.cache)
//   --serve-args "..."         extra arguments for serve (split on spaces)
//   --node-args "..."          node flags for serve and the hand-wired collector (e.g. "--cpu-prof
//                              --cpu-prof-dir=/tmp/prof"; split on spaces)
//   --serve-output FILE        serve's output other than its JSON log lines (what flags such as
//                              --trace-gc print) appended to FILE after each run, headed by the
//                              cell, the rep and when the window opened (seconds after the start)
//   --host-probe SECONDS       before each run, time the decode loop alone (dist/bench/transcode.js
//                              v9 --interface-names, no I/O) for SECONDS on the collector's core and report its ns
//                              per v9 flow with the run: how fast the host ran JIT code just then
//                              (on drifting hosts it moves 2x within minutes; default 0: off)
//   --keep-awake               while each run's sender runs (warm-up and measured part), a SCHED_IDLE
//                              busy loop per collector core (chrt -i 0): it runs only when nothing
//                              else wants the core, so the vCPU never halts between the collector's
//                              reads, and its CPU is not the collector's. It separates the work per
//                              flow from what waking a halted vCPU costs on this host (the premium
//                              of low rates: docs/benchmarks.md); the loops' CPU is left out of
//                              "other"
//   --listener k=v,k=v         listener settings (batch_size=16, receive_buffer_bytes=..., spread=...):
//                              serve then gets a config file with that listener instead of --listen
//
// Per run: serve starts pinned, the bench waits for GET /readyz on the metrics
// address of its "flow-collector started" log line, samples 0.5 s of idle CPU,
// then a sender child pinned to core 0 sends the template datagram of the
// stream from every exporter, waits 200 ms, and replays the stream at the
// rate with the addon's sendmmsg (bench/pacer.ts, the ingest bench's pacer),
// rewriting sequence numbers (v9: packet count at offset 12; IPFIX: data
// record count at offset 8) and export times per exporter. When the socket
// queue is empty and the output file stops growing, the bench scrapes
// /metrics, reads /proc/net/udp, and reads the CPU time of serve (utime+stime
// of /proc/PID/stat, threads included) - the CPU window runs from just before
// the sender starts to here: start-up, idle time before it and shutdown are
// excluded. Then SIGTERM; serve drains and exits; the records in the output
// are counted: with --sink rotate (the default) piece by piece while the load
// runs and the rest after the exit (bench/sink.ts: delimited frames for serve
// and the hand-wired collector, `nfdump -I` for nfcapd), with --sink append
// from the one file after the exit.
//
// Kernel drops are also read from /proc/net/udp when the measured part begins:
// what was lost at start-up and in the warm-up (cold code, the first drains) is
// reported apart ("before the measured part"), and sampled every 250 ms from the
// sender's start with the steal on the collector's cores (bench/drop-timeline.ts):
// each run notes when its drops came and whether the host was taking the core then.
//
// Internal role: --role sender (the load generator child).

import { execFileSync } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAddon } from '../src/ingest/mod.js';
import { pairRatios, parseMetrics, rateRatios, replay, spreadOf, type SenderResult } from './serve-replay.js';
import { NFCAPD_ROTATE_SECONDS, SINK_TICK_MS, RotatedDelimitedFile, RotatedNfcapdDir, type CountMode, type RotatingSink, type SinkMode } from './sink.js';
import { allProcesses, threadUsPerFlow, descendants, loadAverage, machineCpu, otherProcesses, machineDelta, pin, processCpu, socketRcvbufs, udpPort, udpSnmp, freeUdpPort, type MachineCpu, type ProcCpu } from './proc.js';
import { defaultCacheDir, loadStream, STREAM_NAMES, type Stream, type StreamName } from './serve-streams.js';
import { eachOption } from './args.js';
import { formatBursts, startDropTimeline, type DropBurst } from './drop-timeline.js';
import { httpGet, jsonLines, keepAwake, liveDirs, serveReady, sleep, start, stop, type Spawned } from './spawned.js';

const SELF = fileURLToPath(import.meta.url);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SERVE_MAIN = join(ROOT, 'dist/src/cli/main.js');
const HAND_MAIN = join(ROOT, 'dist/bench/serve-hand.js');
const TRANSCODE_MAIN = join(ROOT, 'dist/bench/transcode.js');

type Collector = 'serve' | 'hand' | 'nfcapd';

interface Args {
  role: 'main' | 'sender';
  streams: StreamName[];
  rates: number[];
  workers: number[];
  reps: number;
  consistency: boolean;
  interleave: boolean;
  core: 0 | 1;
  duration: number;
  exporters: number;
  collectors: Collector[];
  nfcapdRcvbuf: number;
  quietSample: number;
  busyThreshold: number;
  waitQuiet: number;
  retryBusy: number;
  warmup: number;
  json: string | undefined;
  keepOutput: boolean;
  outDir: string;
  sink: SinkMode;
  count: CountMode;
  cache: string;
  serveArgs: string[];
  nodeArgs: string[];
  serveOutput: string;
  hostProbe: number;
  keepAwake: boolean;
  listenerOpts: Record<string, string | number>;
  // sender role
  stream: StreamName;
  port: number;
  rate: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    role: 'main',
    streams: [...STREAM_NAMES],
    rates: [20000, 50000, 100000],
    workers: [1, 2],
    reps: 3,
    consistency: false,
    interleave: false,
    core: 1,
    duration: 5,
    exporters: 8,
    collectors: ['serve'],
    nfcapdRcvbuf: 64 << 20,
    quietSample: 1,
    busyThreshold: 0.1,
    waitQuiet: 30,
    retryBusy: 2,
    warmup: 20,
    json: undefined,
    keepOutput: false,
    outDir: existsSync('/dev/shm') ? '/dev/shm' : tmpdir(),
    sink: 'rotate',
    count: 'frames',
    cache: defaultCacheDir(),
    serveArgs: [],
    nodeArgs: [],
    serveOutput: '',
    hostProbe: 0,
    keepAwake: false,
    listenerOpts: {},
    stream: 'v9',
    port: 0,
    rate: 0,
  };
  const nums = (v: string) => v.split(',').filter(Boolean).map(Number);
  let repsGiven = false;
  eachOption(argv, (k, v) => {
    switch (k) {
      case '--role':
        a.role = v() as Args['role'];
        break;
      case '--streams':
        a.streams = v().split(',').filter(Boolean) as StreamName[];
        for (const s of a.streams) if (!STREAM_NAMES.includes(s)) throw new Error(`unknown stream ${s} (${STREAM_NAMES.join(', ')})`);
        break;
      case '--rates':
        a.rates = nums(v());
        break;
      case '--workers':
        a.workers = nums(v());
        break;
      case '--reps':
        a.reps = Number(v());
        repsGiven = true;
        break;
      case '--consistency':
        a.consistency = true;
        break;
      case '--interleave':
        a.interleave = true;
        break;
      case '--core': {
        const c = Number(v());
        if (c !== 0 && c !== 1) throw new Error('--core is 0 or 1');
        a.core = c;
        break;
      }
      case '--duration':
        a.duration = Number(v());
        break;
      case '--exporters':
        a.exporters = Number(v());
        break;
      case '--hand':
        if (!a.collectors.includes('hand')) a.collectors.push('hand');
        break;
      case '--nfcapd':
        if (!a.collectors.includes('nfcapd')) a.collectors.push('nfcapd');
        break;
      case '--collectors':
        a.collectors = v().split(',').filter(Boolean) as Collector[];
        for (const c of a.collectors) if (c !== 'serve' && c !== 'hand' && c !== 'nfcapd') throw new Error(`unknown collector ${c}`);
        break;
      case '--nfcapd-rcvbuf':
        a.nfcapdRcvbuf = Number(v());
        break;
      case '--quiet-sample':
        a.quietSample = Number(v());
        break;
      case '--busy-threshold':
        a.busyThreshold = Number(v());
        break;
      case '--warmup':
        a.warmup = Number(v());
        break;
      case '--wait-quiet':
        a.waitQuiet = Number(v());
        break;
      case '--retry-busy':
        a.retryBusy = Number(v());
        break;
      case '--json':
        a.json = v();
        break;
      case '--keep-output':
        a.keepOutput = true;
        break;
      case '--out-dir':
        a.outDir = v();
        break;
      case '--sink': {
        const m = v();
        if (m !== 'rotate' && m !== 'append') throw new Error(`--sink wants rotate or append, not ${m}`);
        a.sink = m;
        break;
      }
      case '--count': {
        const m = v();
        if (m !== 'frames' && m !== 'sizes') throw new Error(`--count wants frames or sizes, not ${m}`);
        a.count = m;
        break;
      }
      case '--cache':
        a.cache = v();
        break;
      case '--serve-args':
        a.serveArgs = v().split(' ').filter(Boolean);
        break;
      case '--node-args':
        a.nodeArgs = v().split(' ').filter(Boolean);
        break;
      case '--serve-output':
        a.serveOutput = v();
        break;
      case '--keep-awake':
        a.keepAwake = true;
        break;
      case '--host-probe':
        a.hostProbe = Number(v());
        if (!(a.hostProbe >= 0)) throw new Error('--host-probe: seconds, 0 or more');
        break;
      case '--listener':
        for (const kv of v().split(',').filter(Boolean)) {
          const [key, val] = kv.split('=');
          if (!key || val === undefined) throw new Error(`--listener wants key=value[,key=value]: ${kv}`);
          a.listenerOpts[key] = /^\d+$/.test(val) ? Number(val) : val;
        }
        break;
      case '--stream':
        a.stream = v() as StreamName;
        break;
      case '--port':
        a.port = Number(v());
        break;
      case '--rate':
        a.rate = Number(v());
        break;
      default:
        throw new Error(`unknown argument ${k}`);
    }
  });
  if (a.consistency) {
    if (!repsGiven) a.reps = 10;
    if (a.streams.length !== 1 || a.rates.length !== 1 || a.workers.length !== 1)
      throw new Error('--consistency runs one cell: give one --streams, one --rates and one --workers value');
  }
  if (!(a.reps >= 1) || !(a.duration > 0) || !(a.exporters >= 1 && a.exporters <= 254)) throw new Error('bad --reps, --duration or --exporters');
  // Checked with the arguments: otherwise the run fails only after the streams are built.
  if (a.role === 'main' && !existsSync(a.outDir)) throw new Error(`--out-dir ${a.outDir}: no such directory (create it, or leave --out-dir out for /dev/shm)`);
  return a;
}

// ---------------------------------------------------------------------------------------------
// Sender (child role)

async function runSenderRole(args: Args): Promise<void> {
  const stream = await loadStream(args.stream, args.cache);
  const res = replay(stream, args.port, args.rate, args.duration, args.exporters, {
    warmup: args.warmup,
    onMeasure: () => writeSync(1, 'measure\n'),
  });
  process.stdout.write(JSON.stringify(res) + '\n');
}

// ---------------------------------------------------------------------------------------------
// Helpers

function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Datagrams received per /metrics: the first of the known names present, else any *datagram*_total. */
function receivedMetric(sums: Map<string, number>): { name: string; value: number } | undefined {
  const known = [
    'flow_collector_datagrams_received_total',
    'flow_collector_received_datagrams_total',
    'flow_collector_datagrams_total',
    'flow_collector_ingest_datagrams_total',
  ];
  for (const n of known) if (sums.has(n)) return { name: n, value: sums.get(n)! };
  for (const [n, v] of sums) if (/datagram/.test(n) && n.endsWith('_total') && !/drop|error|truncat|invalid|fail/.test(n)) return { name: n, value: v };
  return undefined;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function fmt(n: number | undefined, digits = 0): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

// ---------------------------------------------------------------------------------------------
// Quiet-machine check

interface QuietCheck {
  loadavg: number[];
  /** Busy share of the whole machine (0..1) over the sample, before the run. */
  busyBefore: number;
  perCpuBusy: number[];
  /** Seconds spent waiting for a quiet sample. */
  waitedSeconds: number;
}

async function quietSample(seconds: number): Promise<QuietCheck> {
  const a = machineCpu();
  await sleep(seconds * 1000);
  const d = machineDelta(a, machineCpu());
  return { loadavg: loadAverage(), busyBefore: d.busy / (d.seconds * d.perCpuBusy.length), perCpuBusy: d.perCpuBusy, waitedSeconds: 0 };
}

/** Samples until the machine is quiet or `maxWait` seconds have passed; returns the last sample. */
async function quietCheck(args: Args): Promise<QuietCheck> {
  const t0 = Date.now();
  for (;;) {
    const q = await quietSample(args.quietSample);
    q.waitedSeconds = (Date.now() - t0) / 1000;
    if (q.busyBefore <= args.busyThreshold || q.waitedSeconds >= args.waitQuiet) return q;
  }
}

// ---------------------------------------------------------------------------------------------
// One run

interface RunResult {
  collector: Collector;
  stream: StreamName;
  rate: number;
  workers: number;
  rep: number;
  cores: string;
  port: number;
  sender: SenderResult;
  /** CPU seconds of the collector over the window (just before the sender started → just before SIGTERM). */
  cpuSeconds: number;
  cpuUser: number;
  cpuSystem: number;
  /** Same window from /proc/PID/task/.../schedstat (ns resolution), a cross-check. */
  cpuSchedstatSeconds: number;
  /** Window length, wall seconds. */
  windowSeconds: number;
  /** schedstat CPU µs per flow sent over the window: main thread, busiest other thread, the rest. */
  threadsUsPerFlow: { main: number; busiest: number; rest: number };
  /** CPU of the collector in the 0.5 s idle sample after readiness, as a share of a core. */
  idleCpuShare: number;
  /** CPU from just before the sender started to the last /proc read before the process was gone (shutdown included). */
  cpuToExitSeconds: number | undefined;
  cpuUsPerFlow: number;
  /** CPU µs per flow written: cpuUsPerFlow / decodedShare (higher when flows are lost before the file). */
  cpuUsPerWrittenFlow: number;
  /** Flows written (records in the output file, or nfdump's count). */
  decoded: number;
  decodedShare: number;
  outputBytes: number;
  /** Pieces of output the rotating sink counted and deleted (0 with --sink append). */
  sinkPieces: number;
  /** CPU seconds the sink's counting took over the measured window (this process and nfdump). */
  sinkCpuSeconds: number;
  outputProblems: string[];
  /** Datagrams read: serve's metric; for nfcapd the kernel's UDP InDatagrams over the window. */
  received: number | undefined;
  receivedMetric: string | undefined;
  kernelDropsMetric: number | undefined;
  kernelDropsProc: number;
  /** Kernel drops (/proc/net/udp) before the measured part: start-up and warm-up. */
  startupDrops: number;
  sockets: number;
  /** /proc/net/udp's drops per socket of the port at the end (start-up included). */
  dropsBySocket: number[];
  rcvbufs: number[];
  /** sent - (received + drops); 0 when the counts reconcile. */
  unaccounted: number | undefined;
  snmp: Record<string, number>;
  quiet: QuietCheck;
  /** Busy CPU-seconds of the machine over the window outside collector and sender (softirq/irq shown apart). */
  otherCpuShare: number;
  /** CPU seconds of other processes over the window, by command name. */
  otherProcesses: { comm: string; seconds: number }[];
  softirqSeconds: number;
  /** CPU time the hypervisor gave to others (steal), all CPUs, over the window. */
  stealSeconds: number;
  /** Kernel drops by when they happened (seconds from the sender's start), with the steal then. */
  dropBursts: DropBurst[];
  busy: boolean;
  /** --host-probe: the decode loop's ns per v9 flow on the collector's core just before the run. */
  hostProbeNs: number | undefined;
  /** CPU seconds of the --keep-awake loops over the window (undefined without the option). */
  awakeSeconds: number | undefined;
  exitCode: number | null;
  exitSignal: string | null;
  exitSeconds: number;
  startedLog: Record<string, unknown> | undefined;
  stoppedLog: Record<string, unknown> | undefined;
  logProblems: string[];
  metricsSample: Record<string, number>;
  notes: string[];
  /** Attempt number of this repetition (runs of a busy machine are retried). */
  attempt?: number;
  /** A busy attempt that was run again: not in the summary. */
  discarded?: boolean;
}

/** Runs the sender child; `onMeasure` is called when its warm-up ends and the measured part begins. */
async function runSender(stream: StreamName, port: number, rate: number, args: Args, onMeasure: () => void): Promise<SenderResult & { pid: number }> {
  const s = start('taskset', [
    '-c',
    String(1 - args.core),
    process.execPath,
    SELF,
    '--role',
    'sender',
    '--stream',
    stream,
    '--cache',
    args.cache,
    '--port',
    String(port),
    '--rate',
    String(rate),
    '--duration',
    String(args.duration),
    '--exporters',
    String(args.exporters),
    '--warmup',
    String(args.warmup),
  ]);
  let measuring = false;
  s.child.stdout!.on('data', () => {
    if (!measuring && s.stdout().includes('measure\n')) {
      measuring = true;
      onMeasure();
    }
  });
  const { code } = await s.exited;
  if (!measuring) throw new Error(`sender never started its measured part: ${s.stderr()}`);
  if (code !== 0) throw new Error(`sender exited ${code}: ${s.stderr()}`);
  return { ...(JSON.parse(s.stdout().trim().split('\n').pop()!) as SenderResult), pid: s.child.pid! };
}

/** Waits until the port's queue is empty and `size()` has not changed for `stableMs`. */
async function waitDrained(port: number, size: () => number, stableMs: number, maxMs: number): Promise<boolean> {
  const end = Date.now() + maxMs;
  let last = -1;
  let since = Date.now();
  while (Date.now() < end) {
    const q = udpPort(port).rxQueue;
    const s = size();
    if (q !== 0 || s !== last) {
      last = s;
      since = Date.now();
    } else if (Date.now() - since >= stableMs) {
      return true;
    }
    await sleep(50);
  }
  return false;
}

/**
 * Writes and deletes about one run's output in the output directory before the first run. On a
 * machine whose memory was full of page cache (a test suite had just run), the first run's
 * output pages on tmpfs came from direct reclaim in the collector's own system time: the first
 * of ten consistency runs cost 0.280 µs/flow against 0.207-0.213 for the other nine, all of the
 * difference system time (1.04 s against 0.52). Priming moves that reclaim out of the runs.
 */
function primeOutputDir(dir: string, bytes: number): void {
  const path = join(dir, `serve-bench-prime-${process.pid}`);
  const chunk = Buffer.alloc(8 * 2 ** 20, 1);
  const fd = openSync(path, 'w');
  try {
    for (let n = 0; n < bytes; n += chunk.length) writeSync(fd, chunk);
  } finally {
    closeSync(fd);
    rmSync(path, { force: true });
  }
}

function cpuDelta(a: ProcCpu, b: ProcCpu) {
  return { seconds: b.seconds - a.seconds, user: b.user - a.user, system: b.system - a.system, sched: b.schedstatSeconds - a.schedstatSeconds };
}

/** Polls the process's CPU every 10 ms until it is gone; returns the last reading. */
async function cpuUntilExit(pid: number, exited: Promise<unknown>): Promise<ProcCpu | undefined> {
  let last: ProcCpu | undefined;
  let done = false;
  void exited.then(() => (done = true));
  while (!done) {
    const c = processCpu(pid);
    if (c === undefined) break;
    last = c;
    await sleep(10);
  }
  return last;
}

/** --host-probe: the decode loop alone on the collector's core, ns per v9 flow. */
function hostProbe(args: Args): number {
  // With the interface names, whatever serve's default: a host speed index comparable with the
  // probes of earlier runs (docs/benchmarks.md), which all decoded them.
  const out = execFileSync('taskset', ['-c', String(args.core), process.execPath, '--no-use-osr', TRANSCODE_MAIN, 'v9', String(args.hostProbe), '1', '--cache', args.cache, '--interface-names'], { encoding: 'utf8' });
  const m = /([\d.]+) ns CPU per flow/.exec(out);
  if (!m) throw new Error(`host probe: no figure in ${out}`);
  return Number(m[1]);
}

/** --listen, or a config file with the listener and its --listener settings. */
function listenArgs(dir: string, port: number, args: Args): string[] {
  if (Object.keys(args.listenerOpts).length === 0) return ['--listen', `127.0.0.1:${port}`];
  const path = join(dir, 'serve-config.json');
  writeFileSync(path, JSON.stringify({ listeners: [{ address: '127.0.0.1', port, ...args.listenerOpts }] }));
  return ['--config', path];
}

/** CPU seconds of these processes so far (0 for one that has exited). */
function cpuOf(ps: readonly Spawned[]): number {
  let s = 0;
  for (const p of ps) s += processCpu(p.child.pid!)?.seconds ?? 0;
  return s;
}

async function stopAll(ps: readonly Spawned[]): Promise<void> {
  await Promise.all(ps.filter((p) => p.child.exitCode === null && p.child.signalCode === null).map((p) => stop(p, 'SIGKILL', 1000)));
}

async function runOnce(collector: Collector, streamName: StreamName, stream: Stream, rate: number, workers: number, rep: number, args: Args): Promise<RunResult> {
  const notes: string[] = [];
  const quiet = await quietCheck(args);
  const hostProbeNs = args.hostProbe > 0 ? hostProbe(args) : undefined;
  const port = await freeUdpPort();
  const dir = mkdtempSync(join(args.outDir, `serve-bench-${collector}-`));
  liveDirs.add(dir);
  const outPath = join(dir, 'flows.pb');
  let rotation: ReturnType<typeof setInterval> | undefined;
  const cores = collector !== 'serve' || workers === 1 ? String(args.core) : '0,1';
  let proc: Spawned;
  let startedLog: Record<string, unknown> | undefined;
  let metricsUrl: string | undefined;
  let awake: Spawned[] = [];
  const spawnedAt = process.hrtime.bigint();
  try {
    if (collector === 'serve' || collector === 'hand') {
      proc =
        collector === 'serve'
          ? start('taskset', [
              '-c',
              cores,
              process.execPath,
              ...args.nodeArgs,
              SERVE_MAIN,
              'serve',
              ...listenArgs(dir, port, args),
              '--output',
              `file:${outPath}`,
              '--format',
              'flowpb',
              '--workers',
              String(workers),
              '--metrics-addr',
              '127.0.0.1:0',
              '--log-level',
              'info',
              ...args.serveArgs,
            ])
          : start('taskset', ['-c', cores, process.execPath, ...args.nodeArgs, HAND_MAIN, '--listen', `127.0.0.1:${port}`, '--output', `file:${outPath}`]);
      ({ metricsUrl, startedLog } = await serveReady(proc, collector));
    } else {
      proc = start('taskset', ['-c', cores, 'nfcapd', '-b', '127.0.0.1', '-p', String(port), '-w', dir, '-B', String(args.nfcapdRcvbuf), '-t', String(args.sink === 'rotate' ? NFCAPD_ROTATE_SECONDS : 3600)]);
      const deadline = Date.now() + 10_000;
      while (udpPort(port).sockets === 0 && Date.now() < deadline) await sleep(20);
      if (udpPort(port).sockets === 0) {
        proc.child.kill('SIGKILL');
        throw new Error(`nfcapd did not open port ${port}:\n${proc.stderr()}\n${proc.stdout()}`);
      }
      await sleep(100);
    }
    const pid = proc.child.pid!;
    // The output is counted by the sink either way; it rotates only when ticked (--sink rotate).
    const sink: RotatingSink =
      collector === 'nfcapd' ? new RotatedNfcapdDir(dir, args.keepOutput) : new RotatedDelimitedFile(outPath, pid, args.keepOutput, undefined, collector === 'serve' && args.count === 'sizes' ? 'sizes' : 'frames');
    const rcvbufs = socketRcvbufs(port);
    // Idle sample, then the window.
    const idle0 = processCpu(pid)!;
    await sleep(500);
    const idle1 = processCpu(pid)!;
    const idleCpuShare = (idle1.seconds - idle0.seconds) / 0.5;
    const snmp0 = udpSnmp();
    if (args.keepAwake) awake = keepAwake(cores);
    let awake0 = 0;
    // The window opens when the sender's warm-up ends.
    let p0 = allProcesses();
    let m0: MachineCpu = machineCpu();
    let cpu0 = processCpu(pid)!;
    let t0 = process.hrtime.bigint();
    let startupDrops = 0;
    // serve is rotated every ROTATE_SECONDS, nfcapd rotates by itself; every tick takes finished pieces.
    if (args.sink === 'rotate') rotation = setInterval(() => sink.tick(), SINK_TICK_MS);
    let sinkCpu0 = 0;
    // From the sender's start: when drops happen, and the host's steal on the collector's cores then.
    const timeline = startDropTimeline(port, cores.split(',').map(Number));
    const sender = await runSender(streamName, port, rate, args, () => {
      sinkCpu0 = sink.cpuSeconds;
      awake0 = cpuOf(awake);
      // Kernel drops so far: start-up (templates, cold code, first drains) and the warm-up.
      startupDrops = udpPort(port).drops;
      p0 = allProcesses();
      m0 = machineCpu();
      cpu0 = processCpu(pid) ?? cpu0;
      t0 = process.hrtime.bigint();
    });
    const size = () => sink.size();
    // nfcapd writes its file in blocks as they fill: its size says little; its queue does.
    const drained = await waitDrained(port, size, collector === 'nfcapd' ? 500 : 300, 60_000);
    if (!drained) notes.push('did not drain within 60 s');
    // The window ends here: the queue is empty and the output has stopped growing.
    const cpu1 = processCpu(pid)!;
    const m1 = machineCpu();
    const dropBursts = timeline.stop();
    const awakeSeconds = args.keepAwake ? cpuOf(awake) - awake0 : undefined;
    const others = otherProcesses(p0, allProcesses(), new Set([process.pid, pid, ...descendants(pid), sender.pid, ...awake.map((a) => a.child.pid!)])).filter((o) => o.seconds >= 0.02);
    const windowSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    await stopAll(awake);
    // The sink's counting (this process, nfdump) over the window: not "other" load.
    const sinkCpu = sink.cpuSeconds - sinkCpu0;
    const snmp1 = udpSnmp();
    // serve's metrics come from once-a-second worker snapshots (taken on the worker's event
    // loop, so they can lag more under load): scrape until received + drops account for
    // everything sent and the flow counters have not moved for 1.5 s, or nothing has moved for
    // 3 s; at most 15 s.
    let metricsText = '';
    if (metricsUrl) {
      const end = Date.now() + 15_000;
      let last = '';
      let since = Date.now();
      while (Date.now() < end) {
        try {
          metricsText = (await httpGet(`${metricsUrl}/metrics`)).body;
        } catch (e) {
          notes.push(`/metrics failed: ${(e as Error).message}`);
          break;
        }
        const { sums } = parseMetrics(metricsText);
        const got = (receivedMetric(sums)?.value ?? 0) + (sums.get('flow_collector_kernel_drops_total') ?? 0);
        const key = [got, sums.get('flow_collector_flows_delivered_total'), sums.get('flow_collector_flows_dropped_total')].join(' ');
        if (key !== last) {
          last = key;
          since = Date.now();
        } else if (Date.now() - since > (got >= sender.datagrams ? 1500 : 3000)) break;
        await sleep(250);
      }
    }
    const udp = udpPort(port);
    // Stop.
    const tStop = process.hrtime.bigint();
    clearInterval(rotation);
    proc.child.kill('SIGTERM');
    const killer = setTimeout(() => {
      notes.push('no exit within 60 s of SIGTERM: SIGKILL');
      proc.child.kill('SIGKILL');
    }, 60_000);
    const [lastCpu, exit] = await Promise.all([cpuUntilExit(pid, proc.exited), proc.exited]);
    clearTimeout(killer);
    const exitSeconds = Number(process.hrtime.bigint() - tStop) / 1e9;
    if (args.serveOutput !== '' && collector !== 'nfcapd') {
      const text = (proc.stdout() + '\n' + proc.stderr()).split('\n').filter((l) => l !== '' && !l.startsWith('{'));
      const windowAt = (Number(t0 - spawnedAt) / 1e9).toFixed(2);
      appendFileSync(args.serveOutput, `# ${collector} ${streamName} ${rate}/s w${workers} rep ${rep}: window from ${windowAt} s after the start\n${text.join('\n')}\n`);
    }

    // Counts.
    const { sums, samples } = parseMetrics(metricsText);
    const recv = receivedMetric(sums);
    const kdm = sums.get('flow_collector_kernel_drops_total');
    const metricsSample: Record<string, number> = {};
    for (const s of samples) if (s.name.startsWith('flow_collector_')) metricsSample[s.name + s.labels] = s.value;
    const outputProblems: string[] = [];
    let stoppedLog: Record<string, unknown> | undefined;
    const logProblems: string[] = [];
    const counted = sink.finish();
    const outputBytes = counted.bytes;
    const sinkPieces = args.sink === 'rotate' ? counted.pieces : 0;
    outputProblems.push(...counted.problems);
    notes.push(...counted.notes);
    if (collector !== 'nfcapd') {
      const lines = jsonLines(proc.stderr() + '\n' + proc.stdout());
      stoppedLog = lines.find((l) => l['msg'] === 'flow-collector stopped');
      for (const l of lines) {
        const level = Number(l['level']);
        if (level >= 40 || l['level'] === 'warn' || l['level'] === 'error') logProblems.push(JSON.stringify(l).slice(0, 400));
      }
    }
    // --count sizes: the flows are serve's own count of what its output accepted, and the bytes
    // on disk must be the bytes it says it wrote.
    let decoded = counted.records;
    if (!counted.framesCounted) {
      const st = stoppedLog as Record<string, number> | undefined;
      decoded = typeof st?.['delivered'] === 'number' ? st['delivered'] : 0;
      if (typeof st?.['output_bytes'] !== 'number') outputProblems.push('--count sizes: no output_bytes in the "flow-collector stopped" line');
      else if (st['output_bytes'] !== outputBytes) outputProblems.push(`--count sizes: ${outputBytes} bytes on disk, serve wrote ${st['output_bytes']}`);
    }
    const kernelDropsProc = udp.drops;
    const snmp: Record<string, number> = {};
    for (const k of Object.keys(snmp1)) snmp[k] = snmp1[k]! - (snmp0[k] ?? 0);
    // UDP InDatagrams counts datagrams read by applications (udp_recvmsg), network-namespace wide:
    // nfcapd's only count of what it read; for serve a cross-check of its metric.
    // Other UDP traffic in the namespace shows as OutDatagrams beyond what the sender sent.
    const foreign = Math.max(0, (snmp['OutDatagrams'] ?? 0) - sender.datagrams);
    const snmpRead = snmp['InDatagrams'] === undefined ? undefined : snmp['InDatagrams'] - foreign;
    const received = recv?.value ?? (collector === 'nfcapd' ? snmpRead : undefined);
    if (recv && snmpRead !== undefined && snmpRead !== recv.value)
      notes.push(`received: ${recv.name} ${recv.value}, kernel UDP InDatagrams ${snmpRead} (${foreign} foreign datagrams subtracted)`);
    const drops = kdm ?? kernelDropsProc;
    const unaccounted = received === undefined ? undefined : sender.datagrams - received - drops;
    if (kdm !== undefined && kdm !== kernelDropsProc) notes.push(`kernel drops: /metrics ${kdm}, /proc/net/udp ${kernelDropsProc}`);
    for (const p of outputProblems) notes.push(p);
    const delivered = sums.get('flow_collector_flows_delivered_total');
    if (collector === 'serve') {
      // (With --count sizes `decoded` is serve's own count: the bytes check above stands in for
      // these two.)
      if (counted.framesCounted && delivered !== undefined && delivered !== decoded) notes.push(`flows_delivered_total ${delivered} at the last scrape, ${decoded} records in the file`);
      for (const smp of samples) {
        if (smp.value > 0 && (smp.name === 'flow_collector_flows_dropped_total' || smp.name === 'flow_collector_datagrams_dropped_total' || smp.name === 'flow_collector_output_write_errors_total' || smp.name === 'flow_collector_datagrams_truncated_total'))
          notes.push(`${smp.name}${smp.labels.replace(/output="[^"]*",?/, '')} = ${smp.value}`);
      }
      const st = stoppedLog as Record<string, number> | undefined;
      if (st) {
        if (counted.framesCounted && typeof st['delivered'] === 'number' && st['delivered'] !== decoded) notes.push(`stopped log: delivered ${st['delivered']}, file has ${decoded}`);
        if (typeof st['datagrams'] === 'number' && recv && st['datagrams'] !== recv.value) notes.push(`stopped log: datagrams ${st['datagrams']}, /metrics ${recv.value}`);
        if (typeof st['dropped'] === 'number' && st['dropped'] > 0) notes.push(`stopped log: dropped ${st['dropped']}`);
      }
    }
    if (dropBursts.length > 0) notes.push(formatBursts(dropBursts));
    if (unaccounted) notes.push(`sent ${sender.datagrams} != received ${received} + drops ${drops} (${unaccounted} unaccounted)`);
    if (collector !== 'nfcapd' && !recv) notes.push('no datagrams-received metric found');
    if (exit.code !== 0) notes.push(`exit code ${exit.code}${exit.signal ? ` signal ${exit.signal}` : ''}`);
    if (collector !== 'nfcapd' && !stoppedLog) notes.push('no "flow-collector stopped" log line');
    const d = cpuDelta(cpu0, cpu1);
    const threadsUsPerFlow = threadUsPerFlow(pid, cpu0, cpu1, sender.measuredFlows);
    const md = machineDelta(m0, m1);
    // Loopback delivery (softirq) runs in the sender's context; subtracting /proc/stat's softirq
    // column as well made quiet runs come out negative (-3 to -8 %): it is in the tasks' times.
    const other = md.busy - d.seconds - sender.cpuSeconds - sinkCpu - (awakeSeconds ?? 0);
    const otherCpuShare = other / (md.seconds * md.perCpuBusy.length);
    const busy = quiet.busyBefore > args.busyThreshold || otherCpuShare > args.busyThreshold;
    if (busy)
      notes.push(
        `busy machine (before: ${fmt(100 * quiet.busyBefore, 0)} % of the cores busy; during: ${fmt(100 * otherCpuShare, 0)} % busy outside collector and sender, of it steal ${fmt((100 * md.steal) / (md.seconds * md.perCpuBusy.length), 0)} %; top: ${
          others
            .slice(0, 3)
            .map((o) => `${o.comm} ${fmt(o.seconds, 2)} s`)
            .join(', ') || 'no process'
        })`,
      );
    if (sender.measuredDatagrams < 0.98 * rate * args.duration) notes.push(`sender reached only ${fmt(sender.measuredDatagrams / sender.seconds)} datagrams/s`);
    return {
      collector,
      stream: streamName,
      rate,
      workers,
      rep,
      cores,
      port,
      sender,
      cpuSeconds: d.seconds,
      threadsUsPerFlow,
      cpuUser: d.user,
      cpuSystem: d.system,
      cpuSchedstatSeconds: d.sched,
      windowSeconds,
      idleCpuShare,
      cpuToExitSeconds: lastCpu ? lastCpu.seconds - cpu0.seconds : undefined,
      cpuUsPerFlow: (d.seconds * 1e6) / sender.measuredFlows,
      cpuUsPerWrittenFlow: (d.seconds * 1e6) / sender.measuredFlows / (decoded / sender.flows),
      decoded,
      decodedShare: decoded / sender.flows,
      outputBytes,
      outputProblems,
      sinkPieces,
      sinkCpuSeconds: sinkCpu,
      received,
      receivedMetric: recv?.name,
      kernelDropsMetric: kdm,
      kernelDropsProc,
      startupDrops,
      sockets: udp.sockets,
      dropsBySocket: udp.dropsBySocket,
      rcvbufs,
      unaccounted,
      snmp,
      quiet,
      otherCpuShare,
      otherProcesses: others,
      softirqSeconds: md.softirq,
      stealSeconds: md.steal,
      dropBursts,
      busy,
      hostProbeNs,
      awakeSeconds,
      exitCode: exit.code,
      exitSignal: exit.signal,
      exitSeconds,
      startedLog,
      stoppedLog,
      logProblems,
      metricsSample,
      notes,
    };
  } finally {
    clearInterval(rotation);
    await stopAll(awake);
    liveDirs.delete(dir);
    if (!args.keepOutput) rmSync(dir, { recursive: true, force: true });
    else notes.push(`output kept in ${dir}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Summary

interface CellSummary {
  collector: Collector;
  stream: StreamName;
  rate: number;
  workers: number;
  cores: string;
  reps: number;
  flowsPerDatagram: number;
  achievedRate: number;
  cpuUsPerFlow: { min: number; median: number; max: number; spread: number };
  cpuShareOfCore: number;
  cpuUsPerWrittenFlow: number;
  decodedShare: { min: number; median: number; max: number };
  kernelDropsMetric: number | undefined;
  kernelDropsProc: number;
  startupDrops: number;
  unaccounted: number;
  busyRuns: number;
  /** Receive buffers granted (ss skmem rb), first run. */
  rcvbufs: number[];
  notes: string[];
}

function summarise(runs: RunResult[], stream: Stream): CellSummary {
  const r0 = runs[0]!;
  const cpu = runs.map((r) => r.cpuUsPerFlow);
  const dec = runs.map((r) => r.decodedShare);
  const med = median(cpu);
  const notes = runs.flatMap((r) => r.notes.map((n) => `rep ${r.rep}: ${n}`));
  const sum = (f: (r: RunResult) => number | undefined) => (runs.some((r) => f(r) === undefined) ? undefined : runs.reduce((s, r) => s + f(r)!, 0));
  return {
    collector: r0.collector,
    stream: r0.stream,
    rate: r0.rate,
    workers: r0.workers,
    cores: r0.cores,
    reps: runs.length,
    flowsPerDatagram: stream.meta.flowsPerDatagram,
    achievedRate: median(runs.map((r) => r.sender.measuredDatagrams / r.sender.seconds)),
    cpuUsPerFlow: { min: Math.min(...cpu), median: med, max: Math.max(...cpu), spread: (Math.max(...cpu) - Math.min(...cpu)) / med },
    cpuShareOfCore: median(runs.map((r) => r.cpuSeconds / r.windowSeconds)),
    cpuUsPerWrittenFlow: median(runs.map((r) => r.cpuUsPerWrittenFlow)),
    decodedShare: { min: Math.min(...dec), median: median(dec), max: Math.max(...dec) },
    kernelDropsMetric: sum((r) => r.kernelDropsMetric),
    kernelDropsProc: runs.reduce((s, r) => s + r.kernelDropsProc, 0),
    startupDrops: runs.reduce((s, r) => s + r.startupDrops, 0),
    unaccounted: runs.reduce((s, r) => s + Math.abs(r.unaccounted ?? 0), 0),
    busyRuns: runs.filter((r) => r.busy).length,
    rcvbufs: r0.rcvbufs,
    notes,
  };
}

function tableHeader(): string {
  return [
    '| collector | stream | workers (cores) | offered dg/s | sent dg/s | flows/dg | CPU µs/flow median (min–max) | spread | max/min | µs/written flow | CPU % of a core | written % (min) | kernel drops /metrics · /proc (before the measured part) | sent − recv − drops | rcvbuf MiB | busy runs |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ].join('\n');
}

function tableRow(c: CellSummary): string {
  const cores = c.cores === '0,1' ? `${c.workers} (cores 0,1; the sender shares one)` : `1 (core ${c.cores})`;
  return `| ${c.collector} | ${c.stream} | ${cores} | ${fmt(c.rate)} | ${fmt(c.achievedRate)} | ${fmt(c.flowsPerDatagram, 1)} | ${fmt(c.cpuUsPerFlow.median, 3)} (${fmt(c.cpuUsPerFlow.min, 3)}–${fmt(c.cpuUsPerFlow.max, 3)}) | ${fmt(100 * c.cpuUsPerFlow.spread, 1)} % | ${fmt(c.cpuUsPerFlow.max / c.cpuUsPerFlow.min, 2)} | ${fmt(c.cpuUsPerWrittenFlow, 3)} | ${fmt(100 * c.cpuShareOfCore, 0)} | ${fmt(100 * c.decodedShare.median, 2)} (${fmt(100 * c.decodedShare.min, 2)}) | ${c.kernelDropsMetric === undefined ? '-' : fmt(c.kernelDropsMetric)} · ${fmt(c.kernelDropsProc)} (${fmt(c.startupDrops)}) | ${fmt(c.unaccounted)} | ${c.rcvbufs.map((b) => fmt(b / 1048576)).join('+') || '?'} | ${c.busyRuns}/${c.reps} |`;
}

/** --consistency: every run of one cell and the spread between them. */
function consistencyReport(runs: RunResult[], interleaved: boolean): string[] {
  const r0 = runs[0]!;
  const out: string[] = [];
  out.push(`#### ${runs.length} ${interleaved ? "runs, interleaved with the other collectors' (one repetition of each in turn)" : 'consecutive runs'}: ${r0.collector} ${r0.stream} ${fmt(r0.rate)} datagrams/s, ${r0.workers} worker(s)`);
  out.push('');
  out.push('| run | CPU µs/flow sent | CPU µs/flow written | written % | kernel drops (before the measured part) | CPU % of a core | busy |');
  out.push('|---:|---:|---:|---:|---:|---:|---|');
  for (const r of runs)
    out.push(
      `| ${r.rep} | ${fmt(r.cpuUsPerFlow, 3)} | ${fmt(r.cpuUsPerWrittenFlow, 3)} | ${fmt(100 * r.decodedShare, 2)} | ${fmt(r.kernelDropsMetric ?? r.kernelDropsProc)} (${fmt(r.startupDrops)}) | ${fmt((100 * r.cpuSeconds) / r.windowSeconds, 0)} | ${r.busy ? 'yes' : ''} |`,
    );
  out.push('');
  out.push('| measure | min | median | max | max/min |');
  out.push('|---|---:|---:|---:|---:|');
  const row = (name: string, xs: number[], digits: number, scale = 1) => {
    const s = spreadOf(xs.map((x) => x * scale));
    out.push(`| ${name} | ${fmt(s.min, digits)} | ${fmt(s.median, digits)} | ${fmt(s.max, digits)} | ${fmt(s.ratio, 3)} |`);
    return s;
  };
  const sent = row('CPU µs per flow sent (whole process)', runs.map((r) => r.cpuUsPerFlow), 3);
  const written = row('CPU µs per flow written', runs.map((r) => r.cpuUsPerWrittenFlow), 3);
  row('written % of flows sent', runs.map((r) => r.decodedShare), 2, 100);
  const probes = runs.map((r) => r.hostProbeNs);
  if (probes.every((x) => x !== undefined)) row('host probe: decode loop ns per v9 flow before the run', probes as number[], 1);
  out.push('');
  const ok = (s: { ratio: number }) => (s.ratio <= 1.1 ? 'yes' : 'NO');
  out.push(
    `- within 10 % (max/min <= 1.10): CPU per flow sent ${ok(sent)} (${fmt(sent.ratio, 3)}), per flow written ${ok(written)} (${fmt(written.ratio, 3)}); busy runs kept: ${runs.filter((r) => r.busy).length}`,
  );
  return out;
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.role === 'sender') return runSenderRole(args);
  const addon = loadAddon();
  if (!addon.addon) throw new Error(`the bench needs the native addon (sender): ${addon.error}`);
  for (const cmd of ['taskset', ...(args.collectors.includes('nfcapd') ? ['nfcapd', 'nfdump'] : [])]) if (!hasCommand(cmd)) throw new Error(`${cmd} is not installed`);
  if (cpus().length < 2) throw new Error('the bench pins to cores 0 and 1: it needs 2 cores');
  // The harness itself stays with the sender, away from the collector's core (--core).
  try {
    pin(process.pid, 1 - args.core);
  } catch {
    console.error(`warning: could not pin the harness to core ${1 - args.core}`);
  }
  const streams = new Map<StreamName, Stream>();
  for (const s of args.streams) {
    const st = await loadStream(s, args.cache, (m) => console.error(m));
    streams.set(s, st);
    const m = st.meta;
    console.error(
      `stream ${s}: ${m.exporter}, ${fmt(m.datagrams)} datagrams, ${fmt(m.totalFlows)} flows (${fmt(m.flowsPerDatagram, 2)} per datagram, FlowDecoder), ${fmt(m.bytes / m.datagrams)} bytes per datagram${m.problems.length ? `; PROBLEMS: ${m.problems.join('; ')}` : ''}`,
    );
  }
  type Cell = { collector: Collector; stream: StreamName; rate: number; workers: number };
  // Groups of cells on the same load (stream and rate): with --interleave a group's cells take
  // turns, one repetition each.
  const groups: Cell[][] = [];
  for (const stream of args.streams)
    for (const rate of args.rates) {
      const g: Cell[] = [];
      if (args.collectors.includes('serve')) for (const workers of args.workers) g.push({ collector: 'serve', stream, rate, workers });
      if (args.collectors.includes('hand')) g.push({ collector: 'hand', stream, rate, workers: 1 });
      if (args.collectors.includes('nfcapd')) g.push({ collector: 'nfcapd', stream, rate, workers: 1 });
      groups.push(g);
    }
  const cells = groups.flat();
  const runs: RunResult[] = [];
  const summaries: CellSummary[] = [];
  const cellRunsAll: RunResult[][] = [];
  console.error(
    `${cells.length} cells x ${args.reps} reps x ${args.duration} s${args.interleave ? ' (collectors interleaved)' : ''}, ${args.exporters} exporters, output ${args.sink === 'rotate' ? 'rotated' : 'appended to one file'} in ${args.outDir}`,
  );
  primeOutputDir(args.outDir, Math.min(4 * 2 ** 30, Math.max(...args.rates) * (args.duration + args.warmup) * 31 * 140));
  const runRep = async (cell: Cell, rep: number): Promise<RunResult> => {
    const st = streams.get(cell.stream)!;
    let r: RunResult;
    for (let attempt = 0; ; attempt++) {
      r = await runOnce(cell.collector, cell.stream, st, cell.rate, cell.workers, rep, args);
      r.attempt = attempt + 1;
      runs.push(r);
      if (!r.busy || attempt >= args.retryBusy) break;
      r.discarded = true;
      console.error(`${cell.collector} ${cell.stream} ${fmt(cell.rate)}/s w${cell.workers} rep ${rep}: busy machine (${r.notes.join('; ')}), again`);
    }
    console.error(
      `${cell.collector} ${cell.stream} ${fmt(cell.rate)}/s w${cell.workers} rep ${rep}: ${fmt(r.cpuUsPerFlow, 3)} µs/flow (schedstat ${fmt((r.cpuSchedstatSeconds * 1e6) / r.sender.measuredFlows, 3)}: main ${fmt(r.threadsUsPerFlow.main, 3)}, busiest thread ${fmt(r.threadsUsPerFlow.busiest, 3)}, rest ${fmt(r.threadsUsPerFlow.rest, 3)}; user ${fmt((r.cpuUser * 1e6) / r.sender.measuredFlows, 3)}, system ${fmt((r.cpuSystem * 1e6) / r.sender.measuredFlows, 3)}), ` +
        `${r.decoded > 0 ? fmt(r.outputBytes / r.decoded, 0) : '-'} B/flow written${r.sinkPieces > 0 ? ` (${r.sinkPieces} pieces rotated, counted in ${fmt(r.sinkCpuSeconds, 2)} s CPU on core ${1 - args.core})` : ''}, decoded ${fmt(100 * r.decodedShare, 2)} %, sent ${fmt(r.sender.datagrams)} recv ${r.received ?? '-'} drops ${r.kernelDropsMetric ?? '-'}/${r.kernelDropsProc} (${r.startupDrops} before the measured part${r.dropsBySocket.length > 1 ? `; by socket ${r.dropsBySocket.map((d) => fmt(d)).join(' / ')}` : ''}), ` +
        `idle ${fmt(100 * r.idleCpuShare, 1)} %, other ${fmt(100 * r.otherCpuShare, 1)} %, exit ${fmt(r.exitSeconds, 2)} s${r.hostProbeNs !== undefined ? `, host probe ${fmt(r.hostProbeNs, 1)} ns/flow` : ''}${r.awakeSeconds !== undefined ? `, kept awake (busy loops ${fmt(r.awakeSeconds, 2)} s)` : ''}${r.notes.length ? ` [${r.notes.join('; ')}]` : ''}`,
    );
    return r;
  };
  for (const g of groups) {
    const byCell = g.map(() => [] as RunResult[]);
    if (args.interleave) {
      for (let rep = 1; rep <= args.reps; rep++) for (let i = 0; i < g.length; i++) byCell[i]!.push(await runRep(g[i]!, rep));
    } else {
      for (let i = 0; i < g.length; i++) for (let rep = 1; rep <= args.reps; rep++) byCell[i]!.push(await runRep(g[i]!, rep));
    }
    for (let i = 0; i < g.length; i++) {
      summaries.push(summarise(byCell[i]!, streams.get(g[i]!.stream)!));
      cellRunsAll.push(byCell[i]!);
    }
  }
  const lines: string[] = [];
  lines.push(
    `### serve benchmark (${args.duration} s per run, ${args.reps} reps, ${args.exporters} exporters, output ${args.sink === 'rotate' ? 'rotated while running' : 'one growing file'} on ${args.outDir}${args.keepAwake ? ', collector cores kept awake by SCHED_IDLE busy loops' : ''}, Node ${process.version}, ${cpus().length} cores: ${cpus()[0]?.model ?? '?'})`,
  );
  lines.push('');
  for (const s of args.streams) {
    const m = streams.get(s)!.meta;
    lines.push(`- ${s}: ${m.exporter}, ${fmt(m.datagrams)} distinct datagrams, ${fmt(m.flowsPerDatagram, 2)} flows per datagram (FlowDecoder), ${fmt(m.bytes / m.datagrams)} bytes per datagram`);
  }
  lines.push('');
  lines.push(tableHeader());
  for (const c of summaries) lines.push(tableRow(c));
  const notes = summaries.filter((c) => c.notes.length > 0);
  if (notes.length > 0) {
    lines.push('');
    for (const c of notes) lines.push(`- ${c.collector} ${c.stream} ${fmt(c.rate)}/s w${c.workers}: ${c.notes.join('; ')}`);
  }
  const ratios: string[] = [];
  for (const c of summaries.filter((x) => x.collector === 'serve')) {
    for (const other of ['hand', 'nfcapd'] as const) {
      const n = summaries.find((x) => x.collector === other && x.stream === c.stream && x.rate === c.rate);
      if (n) ratios.push(`- ${c.stream} ${fmt(c.rate)}/s, ${c.workers} worker(s): serve/${other} CPU per flow = ${fmt(c.cpuUsPerFlow.median / n.cpuUsPerFlow.median, 2)}x`);
    }
  }
  if (args.interleave) ratios.push(...pairRatios(cellRunsAll, fmt));
  ratios.push(...rateRatios(cellRunsAll, fmt));
  if (ratios.length > 0) lines.push('', ...ratios);
  if (args.consistency) for (const cr of cellRunsAll) lines.push('', ...consistencyReport(cr, args.interleave));
  console.log(lines.join('\n'));
  if (args.json) {
    writeFileSync(
      args.json,
      JSON.stringify(
        {
          args: { ...args, role: undefined, stream: undefined, port: undefined, rate: undefined },
          machine: { nproc: cpus().length, cpu: cpus()[0]?.model, node: process.version, loadavg: loadAverage() },
          streams: Object.fromEntries([...streams].map(([k, v]) => [k, { ...v.meta, flows: undefined, records: undefined, hasTemplates: undefined }])),
          summaries,
          runs,
        },
        null,
        2,
      ),
    );
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
