// Ingest benchmark: native addon (recvmmsg) vs Node dgram, on loopback.
//
//   node dist/bench/ingest.js [options]
//
//   --mode drain|rate|all     what to run (default all)
//   --paths addon,dgram,c     receive paths to measure (default addon,dgram); c (rate mode) is
//                             bench/c/recv-reference.c, built with cc into bench/.cache: the
//                             kernel's receive alone, in C, with the addon's socket options,
//                             batches and waits (--pacing, --adaptive), in a process of its own
//                             on the receiver's core; what the addon costs beyond it is the
//                             runtime's (Node, libuv, the JS call per batch)
//   --count N                 drain mode: datagrams queued before draining (default 200000)
//   --reps N                  drain mode: repetitions, best is reported (default 3)
//   --round N                 drain mode: datagrams queued per round (default 2000; must fit the
//                             8 MB receive buffer both paths get)
//   --size BYTES              datagram payload size (default 512)
//   --rates R1,R2,...         rate mode: offered datagrams/s (default 50000,150000,300000)
//   --duration S              rate mode: seconds per run (default 4)
//   --pacing US1,US2          rate mode: addon pacing values to try (default 0,1000)
//   --adaptive                rate mode: adaptive pacing, as serve reads (each --pacing value is
//                             then the longest wait, listeners[].max_read_delay_us; the addon picks
//                             shorter ones when the buffer fills fast); default a fixed wait
//   --core N                  rate mode: pin this process (all its threads) to core N and start the
//                             sender on another core (--sender-core, default the first other core)
//   --sender-core M           rate mode: the sender's core (with --core)
//   --batch N                 datagrams per batch (default 256)
//   --exporters N             distinct source addresses 127.0.2.x (default 8)
//   --segments N              rate mode: datagrams per sendmmsg message, split by the kernel
//                             with UDP GSO (UDP_SEGMENT) so one sender core can offer 300k/s
//                             (default 16; 1 = plain sendmmsg, one datagram per message)
//   --rcvbuf BYTES            rate mode: receive buffer requested by both paths (default 32 MiB;
//                             the addon gets it via SO_RCVBUFFORCE, dgram is capped at
//                             net.core.rmem_max)
//   --json                    print the results as JSON too
//
// drain: in rounds of --round datagrams, the process queues datagrams into
// its own receive socket with sendmmsg (it cannot read meanwhile), then
// measures the CPU time (user+sys, process.cpuUsage) spent draining the
// queue; totals over --count datagrams give datagrams per CPU second
// (= datagrams/s per core) and CPU µs per datagram.
//
// rate: a child process (this script, role "sender") offers a fixed rate
// with the addon's sendmmsg, paced every ~1 ms; the receiver counts what
// arrives and its own CPU time. Loss = offered - received. On loopback the
// kernel's UDP receive path (softirq) runs in the sender's context, so the
// receiver CPU shown is what the collector process itself spends. The wait
// column (the addon's chosen wait) is sampled from inside batches, so the
// bench adds no wake-up of its own to the receiver's.
//
// The bench re-executes itself with --no-memory-reducer: V8's memory reducer
// would run full collections ~8 s after start-up inside whichever run is
// measuring then.
//
// All paths run the same consumer: it reads every datagram's length and
// first byte (a stand-in for a decoder's first touch).

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pace } from './pacer.js';
import { BatchSender, loadAddon, openSource, type Batch, type BatchSource, type IngestPath } from '../src/ingest/mod.js';
import { coreArg, eachOption } from './args.js';
import { coresOf, pin } from './proc.js';

/** The addon or dgram path, or 'c': the C reference receiver (bench/c/recv-reference.c, rate mode). */
type ReceivePath = IngestPath | 'c';

interface Args {
  mode: 'drain' | 'rate' | 'all' | 'sender';
  paths: ReceivePath[];
  count: number;
  reps: number;
  round: number;
  size: number;
  rates: number[];
  duration: number;
  pacing: number[];
  batch: number;
  exporters: number;
  segments: number;
  rcvbuf: number;
  json: boolean;
  port: number;
  rate: number;
  adaptive: boolean;
  core: number | undefined;
  senderCore: number | undefined;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    mode: 'all',
    paths: ['addon', 'dgram'],
    count: 200000,
    reps: 3,
    round: 2000,
    size: 512,
    rates: [50000, 150000, 300000],
    duration: 4,
    pacing: [0, 1000],
    batch: 256,
    exporters: 8,
    segments: 16,
    rcvbuf: 32 << 20,
    json: false,
    port: 0,
    rate: 0,
    adaptive: false,
    core: undefined,
    senderCore: undefined,
  };
  const list = (v: string) => v.split(',').filter(Boolean).map(Number);
  eachOption(argv, (k, v) => {
    switch (k) {
      case '--mode':
        a.mode = v() as Args['mode'];
        break;
      case '--paths':
        a.paths = v()
          .split(',')
          .filter(Boolean)
          .map((p) => {
            if (p !== 'addon' && p !== 'dgram' && p !== 'c') throw new Error(`--paths: unknown path "${p}" (addon, dgram, c)`);
            return p;
          });
        break;
      case '--count':
        a.count = Number(v());
        break;
      case '--reps':
        a.reps = Number(v());
        break;
      case '--round':
        a.round = Number(v());
        break;
      case '--size':
        a.size = Number(v());
        break;
      case '--rates':
        a.rates = list(v());
        break;
      case '--duration':
        a.duration = Number(v());
        break;
      case '--pacing':
        a.pacing = list(v());
        break;
      case '--batch':
        a.batch = Number(v());
        break;
      case '--exporters':
        a.exporters = Number(v());
        break;
      case '--segments':
        a.segments = Number(v());
        break;
      case '--rcvbuf':
        a.rcvbuf = Number(v());
        break;
      case '--json':
        a.json = true;
        break;
      case '--port':
        a.port = Number(v());
        break;
      case '--rate':
        a.rate = Number(v());
        break;
      case '--adaptive':
        a.adaptive = true;
        break;
      case '--core':
        a.core = coreArg(k, v());
        break;
      case '--sender-core':
        a.senderCore = coreArg(k, v());
        break;
      default:
        throw new Error(`unknown argument ${k}`);
    }
  });
  if (a.senderCore !== undefined && a.core === undefined) throw new Error('--sender-core needs --core');
  if (a.core !== undefined) {
    a.senderCore ??= a.core === 0 ? 1 : 0;
    if (a.senderCore === a.core) throw new Error(`--sender-core: ${a.senderCore} is the receiver's core; give another`);
  }
  return a;
}

/** Packed datagrams: each carries a sequence number in its first 4 bytes. */
function makeLoad(count: number, size: number) {
  const data = Buffer.alloc(count * size);
  const offsets = new Uint32Array(count);
  const lengths = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    offsets[i] = i * size;
    lengths[i] = size;
    data.writeUInt32BE(i, i * size);
    data.fill(i & 0xff, i * size + 4, (i + 1) * size);
  }
  return { data, offsets, lengths };
}

function senders(exporters: number, port: number): BatchSender[] {
  return Array.from(
    { length: exporters },
    (_, k) =>
      new BatchSender({
        source: `127.0.2.${k + 1}`,
        sndbuf: 4 << 20,
        destinations: [{ host: '127.0.0.1', port }],
      }),
  );
}

/** Send count datagrams from load, round-robin over senders, chunks of chunk. */
function sendN(ss: BatchSender[], load: ReturnType<typeof makeLoad>, count: number, chunk: number, cursor: { k: number }) {
  let sent = 0;
  let stalls = 0;
  const cap = load.offsets.length;
  while (sent < count) {
    const n = Math.min(chunk, count - sent, cap);
    const s = ss[cursor.k++ % ss.length]!;
    const start = sent % (cap - n + 1);
    const got = s.send(load.data, load.offsets.subarray(start, start + n), load.lengths.subarray(start, start + n), n);
    sent += got;
    if (got === 0 && ++stalls > 100000) break; // send buffer stuck
  }
  return sent;
}

interface Consumer {
  received: number;
  firstBytes: number;
  onBatch(b: Batch): void;
}

function consumer(): Consumer {
  const c: Consumer = {
    received: 0,
    firstBytes: 0,
    onBatch(b: Batch) {
      const data = b.data;
      const slot = b.slotSize;
      let acc = 0;
      for (let i = 0; i < b.count; i++) {
        if (b.lengths[i]! > 0) acc += data[i * slot]!;
      }
      c.firstBytes += acc;
      c.received += b.count;
    },
  };
  return c;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(cond: () => boolean, idleMs: number, maxMs: number, progress: () => number) {
  const end = Date.now() + maxMs;
  let last = progress();
  let lastChange = Date.now();
  while (!cond() && Date.now() < end) {
    await sleep(5);
    const p = progress();
    if (p !== last) {
      last = p;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > idleMs) {
      break;
    }
  }
}

interface DrainResult {
  path: IngestPath;
  count: number;
  received: number;
  drops: number | null;
  cpuUs: number;
  wallUs: number;
  perCoreDps: number;
  cpuUsPerDatagram: number;
}

async function drainOnce(path: IngestPath, args: Args): Promise<DrainResult> {
  const c = consumer();
  const src = await openSource({
    host: '127.0.0.1',
    port: 0,
    forceDgram: path === 'dgram',
    rcvbuf: 4 << 20, // = net.core.rmem_max here, so both paths get the same buffer
    batchSize: args.batch,
    slotSize: 2048,
    onBatch: c.onBatch,
    logger: () => {},
  });
  if (src.path !== path) throw new Error(`wanted ${path}, got ${src.path}`);
  const load = makeLoad(Math.min(args.round, 4096), args.size);
  const ss = senders(args.exporters, src.port);
  const cursor = { k: 0 };
  let sent = 0;
  let cpuUs = 0;
  let wallNs = 0n;
  while (sent < args.count) {
    // Queue one round while this thread cannot read, then time the drain.
    const n = sendN(ss, load, Math.min(args.round, args.count - sent), 256, cursor);
    sent += n;
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await new Promise<void>((resolve) => {
      const check = () => {
        if (c.received >= sent || Number(process.hrtime.bigint() - t0) > 5e9) resolve();
        else setImmediate(check);
      };
      setImmediate(check);
    });
    const cpu1 = process.cpuUsage();
    wallNs += process.hrtime.bigint() - t0;
    cpuUs += cpu1.user - cpu0.user + (cpu1.system - cpu0.system);
    if (c.received < sent) {
      // Lost in the kernel (queue overflow): resynchronise.
      await waitUntil(() => false, 100, 2000, () => c.received);
      sent = c.received;
    }
  }
  for (const s of ss) s.close();
  const drops = src.stats().kernelDrops;
  await src.close();
  return {
    path,
    count: args.count,
    received: c.received,
    drops,
    cpuUs,
    wallUs: Number(wallNs) / 1000,
    perCoreDps: c.received / (cpuUs / 1e6),
    cpuUsPerDatagram: cpuUs / c.received,
  };
}

interface RateResult {
  path: ReceivePath;
  pacingUs: number;
  offered: number;
  sent: number;
  achievedRate: number;
  received: number;
  lossPct: number;
  kernelDrops: number | null;
  rcvbuf: number;
  cpuPct: number;
  cpuUsPerDatagram: number;
  userUsPerDatagram: number;
  systemUsPerDatagram: number;
  batches: number;
  adaptive: boolean;
  /** The addon's wait after a wake-up, µs, median of samples every 100 ms while sending (null on the dgram path). */
  waitUs: number | null;
  receiverCores: string;
  senderCores: string;
}

/** What a receiver measured over the sending. */
interface Received {
  received: number;
  userUs: number;
  systemUs: number;
  kernelDrops: number | null;
  rcvbuf: number;
  batches: number;
  waitUs: number | null;
  receiverCores: string;
}

interface Receiver {
  port: number;
  /** The sender is ready: the measured part starts. */
  begin(): void;
  /** The sender is done and sent `sent`: wait for them, end the measured part. */
  end(sent: number): Promise<Received>;
}

/** The addon or dgram path in this process (pinned by main with --core). */
async function inProcessReceiver(path: IngestPath, pacingUs: number, args: Args): Promise<Receiver> {
  const c = consumer();
  // The wait the addon chose, sampled at most every 100 ms from inside a batch: a timer of the
  // bench's own would wake the receiver between its reads and charge it for that.
  const waits: number[] = [];
  let nextSample = 0;
  let sampling = false;
  const src: BatchSource = await openSource({
    host: '127.0.0.1',
    port: 0,
    forceDgram: path === 'dgram',
    rcvbuf: args.rcvbuf,
    batchSize: args.batch,
    slotSize: 2048,
    pacingUs,
    adaptivePacing: args.adaptive,
    onBatch: (b) => {
      c.onBatch(b);
      if (!sampling) return;
      const t = performance.now();
      if (t < nextSample) return;
      nextSample = t + 100;
      const w = src.stats().readDelayUs;
      if (w !== null) waits.push(w);
    },
    logger: () => {},
  });
  let cpu0 = process.cpuUsage();
  let r0 = 0;
  return {
    port: src.port,
    begin() {
      cpu0 = process.cpuUsage();
      r0 = c.received;
      sampling = true;
    },
    async end(sent) {
      sampling = false;
      await waitUntil(() => c.received - r0 >= sent, 100, 3000, () => c.received);
      const cpu1 = process.cpuUsage();
      const st = src.stats();
      await src.close();
      waits.sort((x, y) => x - y);
      return {
        received: c.received - r0,
        userUs: cpu1.user - cpu0.user,
        systemUs: cpu1.system - cpu0.system,
        kernelDrops: st.kernelDrops,
        rcvbuf: st.rcvbuf,
        batches: st.batches,
        waitUs: waits.length > 0 ? waits[waits.length >> 1]! : null,
        receiverCores: coresOf(process.pid),
      };
    },
  };
}

/** bench/c/recv-reference.c, built into bench/.cache on first use (or when the source changed). */
function referenceBinary(): string {
  const src = fileURLToPath(new URL('../../bench/c/recv-reference.c', import.meta.url));
  const bin = fileURLToPath(new URL('../../bench/.cache/recv-reference', import.meta.url));
  if (existsSync(bin) && statSync(bin).mtimeMs >= statSync(src).mtimeMs) return bin;
  mkdirSync(dirname(bin), { recursive: true });
  try {
    execFileSync('cc', ['-O2', '-o', bin, src], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new Error('--paths c builds bench/c/recv-reference.c with cc: no C compiler found (apt-get install gcc)');
    throw new Error(`--paths c: cc failed to build ${src}: ${e.stderr?.toString() ?? e.message}`);
  }
  return bin;
}

/** The C reference receiver: a process of its own, on this process's cores (main pins them with --core). */
async function referenceReceiver(pacingUs: number, args: Args): Promise<Receiver> {
  const child = spawn(referenceBinary(), [String(args.batch), '2048', String(args.rcvbuf), String(pacingUs), args.adaptive ? '1' : '0', '1000'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  const port = await new Promise<number>((res, rej) => {
    const on = () => {
      const m = /^port (\d+)\n/.exec(out);
      if (m) {
        child.stdout.off('data', on);
        res(Number(m[1]));
      }
    };
    child.stdout.on('data', on);
    void exited.then((code) => rej(new Error(`recv-reference exited (${code}) before it bound: ${out}`)));
  });
  const receiverCores = coresOf(child.pid!);
  return {
    port,
    begin() {},
    async end(sent) {
      // It exits by itself once no datagram has come for a second.
      const code = await exited;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (code !== 0 || line === undefined) throw new Error(`recv-reference exited (${code}): ${out}`);
      const r = JSON.parse(line) as { received: number; batches: number; rcvbuf: number; userUs: number; systemUs: number; drops: number; waitUs: number };
      if (r.received > sent) throw new Error(`recv-reference received ${r.received} of ${sent} sent: something else sent to its port`);
      return {
        received: r.received,
        userUs: r.userUs,
        systemUs: r.systemUs,
        kernelDrops: r.drops,
        rcvbuf: r.rcvbuf,
        batches: r.batches,
        waitUs: r.waitUs < 0 || pacingUs === 0 ? null : r.waitUs,
        receiverCores,
      };
    },
  };
}

async function rateOnce(path: ReceivePath, rate: number, pacingUs: number, args: Args): Promise<RateResult> {
  const rx = path === 'c' ? await referenceReceiver(pacingUs, args) : await inProcessReceiver(path, pacingUs, args);
  const self = fileURLToPath(import.meta.url);
  const onSenderCore = args.senderCore === undefined ? [] : ['-c', String(args.senderCore), process.execPath];
  const child = spawn(
    onSenderCore.length > 0 ? 'taskset' : process.execPath,
    [
      ...onSenderCore,
      self,
      '--mode',
      'sender',
      '--port',
      String(rx.port),
      '--rate',
      String(rate),
      '--duration',
      String(args.duration),
      '--size',
      String(args.size),
      '--exporters',
      String(args.exporters),
      '--segments',
      String(args.segments),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  // The child prints "ready" when its sockets are open, then the result.
  await new Promise<void>((res) => {
    const on = () => {
      if (out.includes('ready\n')) {
        child.stdout.off('data', on);
        res();
      }
    };
    child.stdout.on('data', on);
  });
  const senderCores = coresOf(child.pid!);
  const exited = new Promise<void>((res) => child.on('exit', () => res()));
  rx.begin();
  await exited;
  const result = JSON.parse(out.slice(out.indexOf('ready\n') + 6)) as { sent: number; seconds: number };
  const r = await rx.end(result.sent);
  const cpuUs = r.userUs + r.systemUs;
  return {
    path,
    pacingUs,
    offered: rate,
    sent: result.sent,
    achievedRate: result.sent / result.seconds,
    received: r.received,
    lossPct: (100 * (result.sent - r.received)) / result.sent,
    kernelDrops: r.kernelDrops,
    rcvbuf: r.rcvbuf,
    cpuPct: (100 * cpuUs) / 1e6 / result.seconds,
    cpuUsPerDatagram: cpuUs / r.received,
    userUsPerDatagram: r.userUs / r.received,
    systemUsPerDatagram: r.systemUs / r.received,
    batches: r.batches,
    adaptive: path !== 'dgram' && args.adaptive && pacingUs > 0,
    waitUs: r.waitUs,
    receiverCores: r.receiverCores,
    senderCores,
  };
}

/** Child role: offer `rate` datagrams/s for `duration` seconds. */
function runSender(args: Args): void {
  const ss = senders(args.exporters, args.port);
  // Messages of `segs` datagrams each, split by the kernel (UDP GSO).
  const segs = Math.max(1, Math.min(args.segments, Math.floor(65507 / args.size)));
  const msgs = 64;
  const data = Buffer.alloc(msgs * segs * args.size);
  for (let i = 0; i < msgs * segs; i++) data.fill(i & 0xff, i * args.size, (i + 1) * args.size);
  const offsets = Uint32Array.from({ length: msgs }, (_, i) => i * segs * args.size);
  const lengths = new Uint32Array(msgs).fill(segs * args.size);
  process.stdout.write('ready\n');
  let k = 0;
  const { sent, seconds } = pace({
    rate: args.rate,
    duration: args.duration,
    quantum: segs,
    maxBurst: msgs,
    send: (n) => {
      const s = ss[k++ % ss.length]!;
      return segs > 1 ? s.sendSegmented(data, offsets, lengths, n, args.size) : s.send(data, offsets, lengths, n);
    },
  });
  for (const s of ss) s.close();
  process.stdout.write(JSON.stringify({ sent, seconds }) + '\n');
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

const NO_REDUCER = '--no-memory-reducer';

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.mode === 'sender') return runSender(args);
  if (!process.execArgv.includes(NO_REDUCER)) {
    // V8's memory reducer runs full collections ~8 s after start-up, in whichever run is measuring
    // then (the second rate of a list, typically): not the receive path's cost. Run without it.
    const r = spawnSync(process.execPath, [NO_REDUCER, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
    process.exitCode = r.status ?? 1;
    return;
  }
  const addon = loadAddon();
  if (!addon.addon) throw new Error(`the bench needs the native addon (sender): ${addon.error}`);
  const results: { drain: DrainResult[]; rate: RateResult[] } = { drain: [], rate: [] };

  if (args.mode === 'drain' || args.mode === 'all') {
    console.log(`\n### Drain a full socket queue (${fmt(args.count)} datagrams of ${args.size} bytes, best of ${args.reps})\n`);
    console.log('| path | datagrams/s per core | CPU µs/datagram | drain wall ms | received | kernel drops |');
    console.log('|---|---:|---:|---:|---:|---:|');
    const best = new Map<IngestPath, DrainResult>();
    for (const path of args.paths) {
      if (path === 'c') continue; // rate mode only
      for (let r = 0; r < args.reps; r++) {
        const res = await drainOnce(path, args);
        const b = best.get(path);
        if (!b || res.perCoreDps > b.perCoreDps) best.set(path, res);
      }
      const b = best.get(path)!;
      results.drain.push(b);
      console.log(
        `| ${path} | ${fmt(b.perCoreDps)} | ${fmt(b.cpuUsPerDatagram, 2)} | ${fmt(b.wallUs / 1000, 1)} | ${fmt(b.received)}/${fmt(b.count)} | ${b.drops ?? 'n/a'} |`,
      );
    }
    const a = best.get('addon');
    const d = best.get('dgram');
    if (a && d) console.log(`\naddon/dgram per-core ratio: ${fmt(a.perCoreDps / d.perCoreDps, 2)}x`);
  }

  if (args.mode === 'rate' || args.mode === 'all') {
    if (args.core !== undefined) pin(process.pid, args.core);
    const where = args.core === undefined ? 'unpinned' : `receiver on core ${args.core}, sender on core ${args.senderCore}`;
    const waits = args.adaptive ? 'adaptive pacing: the longest wait' : 'a fixed wait';
    console.log(`\n### Fixed offered rates (${args.duration} s each, ${args.size}-byte datagrams, ${args.exporters} exporters, ${where}; pacing µs = ${waits}; V8's memory reducer ${process.execArgv.includes(NO_REDUCER) ? 'off' : 'on'})\n`);
    console.log('| path | pacing µs | wait µs (median) | rcvbuf granted | offered/s | sent/s | received | loss % | kernel drops | receiver CPU % | CPU µs/datagram (user + system) | datagrams/batch |');
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const rate of args.rates) {
      const configs: [ReceivePath, number][] = [];
      for (const path of args.paths) {
        if (path === 'dgram') configs.push(['dgram', 0]);
        else for (const p of args.pacing) configs.push([path, p]);
      }
      for (const [path, pacing] of configs) {
        const r = await rateOnce(path, rate, pacing, args);
        results.rate.push(r);
        console.log(
          `| ${path} | ${path === 'dgram' ? '-' : pacing} | ${r.waitUs === null ? '-' : fmt(r.waitUs)} | ${fmt(r.rcvbuf / 1048576, 0)} MiB | ${fmt(rate)} | ${fmt(r.achievedRate)} | ${fmt(r.received)} | ${fmt(r.lossPct, 2)} | ${r.kernelDrops ?? 'n/a'} | ${fmt(r.cpuPct, 1)} | ${fmt(r.cpuUsPerDatagram, 2)} (${fmt(r.userUsPerDatagram, 2)} + ${fmt(r.systemUsPerDatagram, 2)}) | ${fmt(r.received / Math.max(r.batches, 1), 1)} |`,
        );
      }
    }
  }
  if (args.json) console.log(JSON.stringify(results, null, 2));
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
