/**
 * `flow-collector serve` publishing to a local nats-server (started here: ephemeral port, its
 * own store on a tmpfs) while a sender child replays the softflowd NetFlow v9 stream of the
 * serve benchmark (bench/serve-streams.ts; bench/serve.ts's sender role) at fixed datagram
 * rates. Per run: flows sent, decoded, acknowledged by JetStream, counted in the stream (an
 * ordered headers-only consumer sums the Flow-Count headers), drops by reason, and the
 * collector's CPU time per flow (utime + stime of the serve process, all threads, from the end
 * of the sender's warm-up until every decoded flow is acknowledged or dropped).
 *
 *   npm run bench:nats -- [options]      (= npm run build && node dist/bench/nats.js)
 *
 *   --rates 20000,50000,100000  offered datagrams/s
 *   --reps 3                    runs per rate (a fresh nats-server and serve each)
 *   --duration 5 --warmup 2     seconds measured, seconds sent before (JIT warm-up)
 *   --workers 1                 serve workers: 1 runs pinned to core 1, 2 to cores 0,1; the
 *                               sender, nats-server and this harness are pinned to core 0
 *   --exporters 8               source addresses the stream is replayed from
 *   --format flowpb-batch       the output's format
 *   --output k=v,...            more settings of the nats output (batch_size, max_batch_bytes, ...)
 *   --listener k=v,...          more settings of the listener (receive_buffer_bytes, ...)
 *   --nats k=v,...              more settings of the nats section (ack_window, ...)
 *   --profile DIR               --cpu-prof profiles of serve's threads into DIR
 *   --node-args "A B"           more node flags for serve (--trace-gc, --no-memory-reducer, ...)
 *   --serve-output FILE         serve's non-JSON output (what such flags print) appended to FILE
 *   --store DIR                 where nats-server keeps its store (default /dev/shm); the store
 *                               and the stream's max_bytes are sized to what a run sends
 *   --server-cores 0            cores nats-server is pinned to ('' : not pinned)
 *   --no-verify                 skip reading the stream back
 *   --json FILE                 every run as JSON
 *
 * Not a test: figures depend on the machine (docs/benchmarks.md and docs/nats.md have ours).
 */
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { loadAddon } from '../src/ingest/mod.js';
import { HEADER_COUNT } from '../src/output/nats/mod.js';
import { metric, scrape, startServe, type ServeProcess } from '../test/support/serve.js';
import { client, startNatsServer } from '../test/support/nats.js';
import { pin, processCpu, threadUsPerFlow, udpPort, type ProcCpu } from './proc.js';
import { defaultCacheDir, loadStream } from './serve-streams.js';
import type { SenderResult } from './serve-replay.js';
import { eachOption, keyValues } from './args.js';

const SERVE_BENCH = fileURLToPath(new URL('./serve.js', import.meta.url));

interface Args {
  rates: number[];
  reps: number;
  duration: number;
  warmup: number;
  workers: number;
  exporters: number;
  format: string;
  output: Record<string, string>;
  listener: Record<string, string>;
  nats: Record<string, string>;
  profile: string;
  nodeArgs: string[];
  serveOutput: string;
  store: string;
  serverCores: string;
  verify: boolean;
  json: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    rates: [20_000, 50_000, 100_000],
    reps: 3,
    duration: 5,
    warmup: 2,
    workers: 1,
    exporters: 8,
    format: 'flowpb-batch',
    output: {},
    listener: {},
    nats: {},
    profile: '',
    nodeArgs: [],
    serveOutput: '',
    store: existsSync('/dev/shm') ? '/dev/shm' : tmpdir(),
    serverCores: '0',
    verify: true,
    json: '',
  };
  eachOption(argv, (k, v) => {
    switch (k) {
      case '--rates':
        a.rates = v().split(',').filter(Boolean).map(Number);
        break;
      case '--reps':
      case '--duration':
      case '--warmup':
      case '--workers':
      case '--exporters':
        a[k.slice(2) as 'reps'] = Number(v());
        break;
      case '--serve-output':
        a.serveOutput = v();
        break;
      case '--format':
      case '--profile':
      case '--store':
      case '--json':
        a[k.slice(2) as 'format'] = v();
        break;
      case '--output':
        a.output = keyValues(v());
        break;
      case '--listener':
        a.listener = keyValues(v());
        break;
      case '--nats':
        a.nats = keyValues(v());
        break;
      case '--node-args':
        a.nodeArgs = v().split(' ').filter(Boolean);
        break;
      case '--server-cores':
        a.serverCores = v();
        break;
      case '--no-verify':
        a.verify = false;
        break;
      default:
        throw new Error(`unknown option ${k}`);
    }
  });
  return a;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs the serve bench's sender; `onMeasure` when its warm-up is over. */
function runSender(port: number, rate: number, args: Args, onMeasure: () => void): Promise<SenderResult> {
  const argv = ['-c', '0', process.execPath, SERVE_BENCH, '--role', 'sender', '--stream', 'v9', '--cache', defaultCacheDir()];
  argv.push('--port', String(port), '--rate', String(rate), '--duration', String(args.duration), '--exporters', String(args.exporters), '--warmup', String(args.warmup));
  const child = spawn('taskset', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let measuring = false;
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString();
    if (!measuring && out.includes('measure\n')) {
      measuring = true;
      onMeasure();
    }
  });
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => {
      if (code !== 0 || !measuring) reject(new Error(`sender exited ${code}: ${err}`));
      else resolve(JSON.parse(out.trim().split('\n').pop()!) as SenderResult);
    });
  });
}

interface Row {
  /** schedstat CPU µs per flow sent: main thread, busiest other thread (the worker), the rest. */
  threadsUsPerFlow: { main: number; busiest: number; rest: number };
  rate: number;
  rep: number;
  sentDatagrams: number;
  sentFlows: number;
  measuredFlows: number;
  decoded: number;
  acked: number;
  ackedMessages: number;
  /** Flows in the stream by the Flow-Count headers (-1: not read). */
  inStream: number;
  streamMessages: number;
  /** The stream's bytes at the end, and per flow in it. */
  streamBytes: number;
  storedBytesPerFlow: number;
  duplicateIds: number;
  dropped: number;
  kernelDrops: number;
  cpuSeconds: number;
  /** Of cpuSeconds: system time (kernel: socket writes, page faults...). */
  cpuSystemSeconds: number;
  /** nats-server's CPU seconds over the same window, and the sender's over its measured part. */
  serverCpuSeconds: number;
  senderCpuSeconds: number;
  windowSeconds: number;
  cpuUsPerFlow: number;
  flowsPerMessage: number;
  ackedFlowsPerS: number;
  why: string;
}

/**
 * What one run stores, measured: flowpb-batch messages of this stream took 135-136 bytes per
 * flow in nats-server's file store (`storedBytesPerFlow` in every row, 2026-11-30).
 */
const STORED_BYTES_PER_FLOW = 135;

/**
 * Store and stream limit for a run at `rate`: everything it sends with a quarter to spare, at
 * most 80 % of the store's free space, so that the stream does not reach its limit while the run
 * goes on (nats-server would then discard its oldest messages as well as store new ones).
 * Measured 2026-11-30: long runs drop as many flows with the limit sized as they did against the
 * former fixed 4 GB; the cause is elsewhere (nats-server's CPU per message rises some 10 s into a
 * run, docs/benchmarks.md), but the limit is one confound less.
 */
function storeLimit(args: Args, rate: number, flowsPerDatagram: number): { bytes: number; need: number; free: number } {
  const need = Math.ceil(rate * (args.warmup + args.duration) * flowsPerDatagram * STORED_BYTES_PER_FLOW * 1.25);
  const st = statfsSync(args.store);
  const free = st.bavail * st.bsize;
  return { bytes: Math.max(64 << 20, Math.min(need, Math.floor(free * 0.8))), need, free };
}

async function runOnce(args: Args, rate: number, rep: number, storeBytes: number): Promise<Row> {
  const dir = mkdtempSync(join(args.store, 'fc-bench-nats-'));
  const n = await startNatsServer(join(dir, 'nats'), { maxFileStore: storeBytes });
  let s: ServeProcess | undefined;
  try {
    if (args.serverCores !== '') pin(n.proc.pid!, args.serverCores);
    const cfg = join(dir, 'serve.yaml');
    const map = (o: Record<string, string>) => Object.entries(o).map(([k, v]) => `, ${k}: ${v}`).join('');
    writeFileSync(
      cfg,
      [
        'listeners:',
        `  - { name: netflow, address: 127.0.0.1, port: 0, protocol: netflow, subject: flows.raw.netflow${map(args.listener)} }`,
        `workers: ${args.workers}`,
        'metrics: { address: 127.0.0.1:0 }',
        'logging: { level: info, summary_interval_s: 0 }',
        'shutdown: { drain_timeout_ms: 20000 }',
        'nats:',
        `  servers: [${n.url}]`,
        ...Object.entries(args.nats).map(([k, v]) => `  ${k}: ${v}`),
        `  stream: { name: FLOWS, subjects: ["flows.>"], max_bytes: ${storeBytes} }`,
        'outputs:',
        `  - { type: nats, format: ${args.format}${map(args.output)} }`,
        '',
      ].join('\n'),
    );
    const nodeArgs = [...args.nodeArgs, ...(args.profile ? ['--cpu-prof', `--cpu-prof-dir=${args.profile}`] : [])];
    s = await startServe(['--config', cfg], {}, { nodeArgs });
    pin(s.proc.pid!, args.workers === 1 ? '1' : '0,1');
    for (let i = 0; ; i++) {
      if (metric(await scrape(s.metricsUrl), 'flow_collector_ready') === 1) break;
      if (i > 200) throw new Error('serve not ready');
      await sleep(50);
    }
    const port = s.listeners[0]!.port;
    const pid = s.proc.pid!;
    const npid = n.proc.pid!;
    let cpu0 = 0;
    let sys0 = 0;
    let pc0: ProcCpu | undefined;
    let ncpu0 = 0;
    let t0 = 0;
    const sender = await runSender(port, rate, args, () => {
      const c = processCpu(pid)!;
      pc0 = c;
      cpu0 = c.seconds;
      sys0 = c.system;
      ncpu0 = processCpu(npid)!.seconds;
      t0 = Date.now();
    });
    // Until every decoded flow is acknowledged or dropped and the socket is empty (metrics
    // come from the workers once a second), or nothing moved for 5 s.
    let m = await scrape(s.metricsUrl);
    let last = -1;
    let since = Date.now();
    let c1 = processCpu(pid)!;
    let cpu1 = c1.seconds;
    let sys1 = c1.system;
    let ncpu1 = processCpu(npid)!.seconds;
    let t1 = Date.now();
    for (;;) {
      await sleep(100);
      m = await scrape(s.metricsUrl);
      const decoded = metric(m, 'flow_collector_flows_decoded_total');
      const done = metric(m, 'flow_collector_flows_delivered_total') + metric(m, 'flow_collector_flows_dropped_total');
      const received = metric(m, 'flow_collector_datagrams_received_total') + metric(m, 'flow_collector_kernel_drops_total');
      if (done !== last) {
        last = done;
        since = Date.now();
        c1 = processCpu(pid)!;
        cpu1 = c1.seconds;
        sys1 = c1.system;
        ncpu1 = processCpu(npid)!.seconds;
        t1 = Date.now();
      }
      if (received >= sender.datagrams && done >= decoded && udpPort(port).rxQueue === 0) break;
      if (Date.now() - since > 5000) break;
    }
    const decoded = metric(m, 'flow_collector_flows_decoded_total');
    const acked = metric(m, 'flow_collector_flows_delivered_total');
    const ackedMessages = metric(m, 'flow_collector_nats_messages_acked_total');
    await s.stop('SIGTERM');
    if (args.serveOutput !== '') {
      const text = s.stdout().toString().split('\n').filter((l) => l !== '' && !l.startsWith('{'));
      appendFileSync(args.serveOutput, `# rate ${rate} rep ${rep}\n${text.join('\n')}\n`);
    }
    s = undefined;
    let inStream = -1;
    let streamMessages = -1;
    let streamBytes = -1;
    let duplicateIds = 0;
    const nc = await client(n.url);
    try {
      const info = await (await jetstreamManager(nc)).streams.info('FLOWS');
      streamMessages = info.state.messages;
      streamBytes = info.state.bytes;
      if (args.verify && streamMessages > 0) {
        inStream = 0;
        const ids = new Set<string>();
        const c = await jetstream(nc).consumers.get('FLOWS', { headers_only: true });
        const it = await c.consume({ max_messages: 1000 });
        let seen = 0;
        for await (const msg of it) {
          inStream += Number(msg.headers?.get(HEADER_COUNT) ?? NaN);
          const id = msg.headers?.get('Nats-Msg-Id') ?? '';
          if (ids.has(id)) duplicateIds++;
          ids.add(id);
          if (++seen >= streamMessages) break;
        }
      }
    } finally {
      await nc.close();
    }
    const cpuSeconds = cpu1 - cpu0;
    const windowSeconds = (t1 - t0) / 1000;
    return {
      rate,
      rep,
      sentDatagrams: sender.datagrams,
      sentFlows: sender.flows,
      measuredFlows: sender.measuredFlows,
      decoded,
      acked,
      ackedMessages,
      inStream,
      streamMessages,
      streamBytes,
      storedBytesPerFlow: streamBytes / Math.max(1, inStream >= 0 ? inStream : acked),
      duplicateIds,
      dropped: metric(m, 'flow_collector_flows_dropped_total'),
      kernelDrops: metric(m, 'flow_collector_kernel_drops_total'),
      cpuSeconds,
      cpuSystemSeconds: sys1 - sys0,
      serverCpuSeconds: ncpu1 - ncpu0,
      senderCpuSeconds: sender.cpuSeconds,
      windowSeconds,
      cpuUsPerFlow: (cpuSeconds * 1e6) / sender.measuredFlows,
      threadsUsPerFlow: threadUsPerFlow(pid, pc0 ?? c1, c1, sender.measuredFlows),
      flowsPerMessage: ackedMessages > 0 ? acked / ackedMessages : 0,
      ackedFlowsPerS: acked / Math.max(1e-9, sender.seconds + args.warmup),
      why: [...m]
        .filter(([k, v]) => v > 0 && /^flow_collector_(flows_dropped_total|nats_publish_failures_total|nats_retries_total|nats_duplicates_total|datagrams_dropped_total)/.test(k))
        .map(([k, v]) => `${k.replace(/^flow_collector_|output="[^"]*",?/g, '')}=${v}`)
        .join(' '),
    };
  } finally {
    await s?.stop('SIGKILL');
    await n.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (x: number, d = 0) => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (!loadAddon().addon) throw new Error('the native addon is needed to send at these rates');
  if (cpus().length < 2) throw new Error('the bench pins to cores 0 and 1: it needs 2 cores');
  pin(process.pid, '0');
  const stream = await loadStream('v9', defaultCacheDir(), (msg) => console.error(msg));
  const meta = stream.meta;
  console.log(
    `serve -> NATS: ${meta.exporter} v9 stream (${fmt(meta.flowsPerDatagram, 2)} flows/datagram), ${args.exporters} exporters, ${args.workers} worker(s), format ${args.format}` +
      `${Object.keys(args.output).length ? `, output ${JSON.stringify(args.output)}` : ''}${Object.keys(args.nats).length ? `, nats ${JSON.stringify(args.nats)}` : ''}, ${args.warmup} s warm-up + ${args.duration} s per run`,
  );
  console.log('rate dg/s | rep | sent flows | decoded | acked (% of sent) | in stream | msgs | flows/msg | stored B/flow | dropped | kernel drops | CPU s (system) / window s | CPU us/flow (main / worker / rest) | acked flows/s | nats-server CPU s | sender CPU s | notes');
  const rows: Row[] = [];
  for (const rate of args.rates) {
    const cell: Row[] = [];
    const limit = storeLimit(args, rate, meta.flowsPerDatagram);
    console.log(
      `${fmt(rate)}: store and stream limit ${fmt(limit.bytes / 2 ** 30, 1)} GiB in ${args.store}` +
        (limit.bytes < limit.need ? ` (the run needs ~${fmt(limit.need / 2 ** 30, 1)} GiB, ${fmt(limit.free / 2 ** 30, 1)} free: the stream will reach its limit and nats-server discard old messages while it runs)` : ''),
    );
    for (let rep = 1; rep <= args.reps; rep++) {
      const r = await runOnce(args, rate, rep, limit.bytes);
      rows.push(r);
      cell.push(r);
      const pct = (100 * r.acked) / r.sentFlows;
      const stored = r.inStream < 0 ? 'not read' : r.inStream === r.acked && r.duplicateIds === 0 ? `${fmt(r.inStream)} (= acked)` : `${fmt(r.inStream)} (acked ${fmt(r.acked)}, ${r.duplicateIds} duplicate ids)`;
      console.log(
        `${fmt(rate)} | ${rep} | ${fmt(r.sentFlows)} | ${fmt(r.decoded)} | ${fmt(r.acked)} (${fmt(pct, 2)} %) | ${stored} | ${fmt(r.streamMessages)} | ${fmt(r.flowsPerMessage)} | ${fmt(r.storedBytesPerFlow)} | ${fmt(r.dropped)} | ${fmt(r.kernelDrops)} | ${fmt(r.cpuSeconds, 2)} (${fmt(r.cpuSystemSeconds, 2)}) / ${fmt(r.windowSeconds, 1)} | ${fmt(r.cpuUsPerFlow, 3)} (${fmt(r.threadsUsPerFlow.main, 3)} / ${fmt(r.threadsUsPerFlow.busiest, 3)} / ${fmt(r.threadsUsPerFlow.rest, 3)}) | ${fmt(r.ackedFlowsPerS)} | ${fmt(r.serverCpuSeconds, 2)} | ${fmt(r.senderCpuSeconds, 2)} | ${r.why}`,
      );
    }
    const us = cell.map((r) => r.cpuUsPerFlow);
    const st = cell.map((r) => (100 * r.acked) / r.sentFlows);
    console.log(`${fmt(rate)}: CPU us/flow median ${fmt(median(us), 3)} (${fmt(Math.min(...us), 3)}-${fmt(Math.max(...us), 3)}), acked % of sent median ${fmt(median(st), 2)} (${fmt(Math.min(...st), 2)}-${fmt(Math.max(...st), 2)})`);
  }
  if (args.json) writeFileSync(args.json, JSON.stringify({ args, node: process.version, cpu: cpus()[0]?.model, rows }, null, 2));
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
