/**
 * A restart against exporters that are already sending: what every rollout or node reboot meets.
 * `flow-collector blast` (synthetic NetFlow v9, IPFIX or sFlow: layouts of its own, not the
 * warm-up's; N exporters x 2 domains; no template preamble, each exporter's templates again after
 * every --template-every of its datagrams) starts sending first, pinned to the other core; --lead
 * seconds later serve starts (one worker, pinned), so its first data from each exporter comes
 * before the templates it needs and waits in the pending buffer. Its /metrics are read at fixed
 * times after it is ready (counted from the start-up line; workers publish once a second): kernel
 * drops on its sockets, datagrams, flows, data sets buffered / replayed / expired. The verdict is
 * the kernel drops at the last reading: datagrams lost at start-up (and after).
 *
 *   node dist/bench/restart.js [--stream v9|ipfix|sflow] [--rate 50000] [--runs 3] [--lead 3]
 *        [--at 1,5,15] [--exporters 8] [--template-every 20] [--output file|stdout] [--core 0]
 *        [--workers 1] [--out-dir /dev/shm] [--serve-args "..."]
 *
 * --output file (default): flowpb into a file in --out-dir, rotated every second and deleted
 * (bench/sink.ts), as bench/serve does; stdout: flowpb to serve's stdout, which is /dev/null.
 * --workers 2: serve on both cores (the sender shares one of them), one SO_REUSEPORT socket per
 * worker; the kernel spreads the exporters over them.
 * Datagrams sent before serve's socket exists are not counted anywhere: no collector was there.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eachOption } from './args.js';
import { freeUdpPort, udpPort } from './proc.js';
import { parseMetrics } from './serve-replay.js';
import { ROTATE_SECONDS, RotatedDelimitedFile, SINK_TICK_MS } from './sink.js';
import { httpGet, liveDirs, serveReady, sleep, start, stop, type Spawned } from './spawned.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

interface Args {
  stream: 'v9' | 'ipfix' | 'sflow';
  rate: number;
  runs: number;
  lead: number;
  at: number[];
  exporters: number;
  templateEvery: number;
  output: 'file' | 'stdout';
  core: 0 | 1;
  workers: 1 | 2;
  outDir: string;
  serveArgs: string[];
}

function parseArgs(argv: string[]): Args {
  const a: Args = { stream: 'v9', rate: 50_000, runs: 3, lead: 3, at: [1, 5, 15], exporters: 8, templateEvery: 20, output: 'file', core: 0, workers: 1, outDir: '/dev/shm', serveArgs: [] };
  const positive = (name: string, v: string): number => {
    const n = Number(v);
    if (!(n > 0) || !Number.isFinite(n)) throw new Error(`${name}: a positive number, not ${v}`);
    return n;
  };
  eachOption(argv, (name, value) => {
    switch (name) {
      case '--stream': {
        const s = value();
        if (s !== 'v9' && s !== 'ipfix' && s !== 'sflow') throw new Error(`--stream: v9, ipfix or sflow, not ${s}`);
        a.stream = s;
        break;
      }
      case '--rate':
        a.rate = positive(name, value());
        break;
      case '--runs':
        a.runs = Math.floor(positive(name, value()));
        break;
      case '--lead':
        a.lead = positive(name, value());
        break;
      case '--at':
        a.at = value()
          .split(',')
          .map((x) => positive(name, x))
          .sort((x, y) => x - y);
        break;
      case '--exporters':
        a.exporters = Math.floor(positive(name, value()));
        break;
      case '--template-every':
        a.templateEvery = Math.floor(positive(name, value()));
        break;
      case '--output': {
        const o = value();
        if (o !== 'file' && o !== 'stdout') throw new Error(`--output: file or stdout, not ${o}`);
        a.output = o;
        break;
      }
      case '--core': {
        const c = value();
        if (c !== '0' && c !== '1') throw new Error(`--core: 0 or 1, not ${c}`);
        a.core = Number(c) as 0 | 1;
        break;
      }
      case '--workers': {
        const w = value();
        if (w !== '1' && w !== '2') throw new Error(`--workers: 1 or 2 (this bench has two cores to pin to), not ${w}`);
        a.workers = Number(w) as 1 | 2;
        break;
      }
      case '--out-dir':
        a.outDir = value();
        break;
      case '--serve-args':
        a.serveArgs = value().split(' ').filter((x) => x !== '');
        break;
      default:
        throw new Error(`unknown argument ${name}`);
    }
  });
  return a;
}

/** One reading of serve's counters. */
export interface Reading {
  /** Seconds after serve was ready. */
  at: number;
  kernelDrops: number;
  /** Drops on the port in /proc/net/udp (every socket of it), the kernel's own count. */
  procDrops: number;
  datagrams: number;
  flows: number;
  buffered: number;
  replayed: number;
  expired: number;
  pendingDropped: number;
}

function labelled(samples: { name: string; labels: string; value: number }[], name: string, label: string): number {
  let n = 0;
  for (const s of samples) if (s.name === name && s.labels.includes(label)) n += s.value;
  return n;
}

async function read(metricsUrl: string, port: number, at: number): Promise<Reading> {
  const { sums, samples } = parseMetrics((await httpGet(`${metricsUrl}/metrics`)).body);
  return {
    at,
    kernelDrops: sums.get('flow_collector_kernel_drops_total') ?? 0,
    procDrops: udpPort(port).drops,
    datagrams: sums.get('flow_collector_datagrams_received_total') ?? 0,
    flows: sums.get('flow_collector_flows_decoded_total') ?? 0,
    buffered: labelled(samples, 'flow_collector_pending_sets_total', 'event="buffered"'),
    replayed: labelled(samples, 'flow_collector_pending_sets_total', 'event="replayed"'),
    expired: labelled(samples, 'flow_collector_pending_sets_total', 'event="expired"'),
    pendingDropped: sums.get('flow_collector_pending_dropped_total') ?? 0,
  };
}

export interface RunResult {
  /** Seconds from serve's spawn to ready (warm-up included). */
  readySeconds: number;
  /** The warm-up's milliseconds, from the start-up line (warmup_ms). */
  warmupMs: number | undefined;
  readings: Reading[];
}

async function runOnce(a: Args): Promise<RunResult> {
  const port = await freeUdpPort();
  const other = a.core === 0 ? '1' : '0';
  const sendSeconds = a.lead + 30 + a.at[a.at.length - 1]!;
  const blast = start('taskset', [
    '-c',
    other,
    process.execPath,
    MAIN,
    'blast',
    '--target',
    `127.0.0.1:${port}`,
    '--synth',
    a.stream,
    '--rate',
    String(a.rate),
    '--duration',
    String(sendSeconds),
    '--exporters',
    String(a.exporters),
    '--no-preamble',
    '--template-every',
    String(a.templateEvery),
  ]);
  const dir = mkdtempSync(join(a.outDir, 'fc-restart-'));
  liveDirs.add(dir);
  let serve: Spawned | undefined;
  let sink: RotatedDelimitedFile | undefined;
  let ticker: ReturnType<typeof setInterval> | undefined;
  let blastExited = false;
  void blast.exited.then(() => (blastExited = true));
  try {
    await sleep(a.lead * 1000);
    if (blastExited) throw new Error(`blast exited before serve started:\n${blast.stderr()}${blast.stdout()}`);
    const outPath = join(dir, 'flows.pb');
    const serveArgv = [
      '-c',
      a.workers === 1 ? String(a.core) : '0,1',
      process.execPath,
      MAIN,
      'serve',
      '--listen',
      `127.0.0.1:${port}`,
      '--output',
      a.output === 'file' ? `file:${outPath}` : 'stdout',
      '--format',
      'flowpb',
      '--workers',
      String(a.workers),
      '--metrics-addr',
      '127.0.0.1:0',
      '--log-level',
      'info',
      ...a.serveArgs,
    ];
    const t0 = process.hrtime.bigint();
    serve = start('taskset', serveArgv, a.output === 'stdout');
    const { metricsUrl, startedLog } = await serveReady(serve);
    const w = startedLog['warmup_ms'];
    const readyAt = process.hrtime.bigint();
    if (a.output === 'file') {
      sink = new RotatedDelimitedFile(outPath, serve.child.pid!, false, ROTATE_SECONDS * 1000, 'sizes');
      const s = sink;
      ticker = setInterval(() => s.tick(), SINK_TICK_MS);
    }
    const readings: Reading[] = [];
    for (const at of a.at) {
      const wait = at * 1000 - Number(process.hrtime.bigint() - readyAt) / 1e6;
      if (wait > 0) await sleep(wait);
      readings.push(await read(metricsUrl, port, at));
    }
    return { readySeconds: Number(readyAt - t0) / 1e9, warmupMs: typeof w === 'number' ? w : undefined, readings };
  } finally {
    if (ticker !== undefined) clearInterval(ticker);
    if (serve !== undefined) await stop(serve, 'SIGTERM', 10_000);
    await stop(blast, 'SIGINT', 5_000);
    sink?.finish();
    rmSync(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
  }
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');

function runLine(i: number, r: RunResult): string {
  const parts = r.readings.map(
    (x) =>
      `+${x.at} s: kernel drops ${int(x.kernelDrops)} (/proc ${int(x.procDrops)}), datagrams ${int(x.datagrams)}, flows ${int(x.flows)}, ` +
      `pending sets buffered ${int(x.buffered)} replayed ${int(x.replayed)} expired ${int(x.expired)} dropped ${int(x.pendingDropped)}`,
  );
  return `run ${i}: ready ${r.readySeconds.toFixed(2)} s after start (warm-up ${r.warmupMs === undefined ? '?' : `${int(r.warmupMs)} ms`}); ${parts.join('; ')}`;
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  console.log(
    `restart: blast --synth ${a.stream} at ${int(a.rate)} datagrams/s (${a.exporters} exporters x 2 domains, no preamble, templates every ${a.templateEvery} datagrams) ` +
      `on core ${a.core === 0 ? 1 : 0}, serve (${a.workers} worker(s), flowpb to ${a.output}) on core${a.workers === 1 ? ` ${a.core}` : 's 0,1'} ${a.lead} s later; readings at +${a.at.join(', +')} s`,
  );
  const lost: number[] = [];
  for (let i = 1; i <= a.runs; i++) {
    const r = await runOnce(a);
    console.log(runLine(i, r));
    lost.push(r.readings[r.readings.length - 1]!.kernelDrops);
  }
  const last = a.at[a.at.length - 1]!;
  console.log(
    `${a.stream} ${int(a.rate)}/s: kernel drops at +${last} s in ${a.runs} run(s): ${lost.map(int).join(', ')}; ` +
      `no datagram lost at start-up: ${lost.every((x) => x === 0) ? 'yes' : 'no'}`,
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
