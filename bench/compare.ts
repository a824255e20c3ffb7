/**
 * The public benchmark: flow-collector against the collectors a user would pick instead, on the
 * same export streams from real exporters, at fixed offered rates. `npm run bench:compare`.
 *
 *   node dist/bench/compare.js [--streams v9,softflowd-ipfix,ipfix,sflow]
 *        [--collectors serve-file,serve-nats,nfcapd,sfcapd,nfacctd,sfacctd,node-netflowv9]
 *        [--rates 20000,50000,100000,max] [--duration 5] [--exporters 8]
 *        [--rcvbuf 4194304] [--sink rotate|append] [--settle 10] [--out bench/results]
 *        [--cache DIR] [--quiet]
 *
 * Per cell (stream × collector × rate): the collector starts pinned to core 1 (`taskset -c 1`)
 * and is left idle for --settle seconds (what a process does in its first seconds, a runtime's
 * start-up collections, is not what it costs per flow; every collector gets the same),
 * `flow-collector blast` replays the stream's pcap from --exporters loopback addresses pinned to
 * core 0 for --duration seconds; the window ends when the collector's socket queue is empty and
 * its output has stopped growing. Measured: CPU seconds of the collector's process tree over the
 * window (/proc: utime + stime, children included) per decoded flow; flows decoded as a share of
 * flows sent (blast's count) from the collector's own output; kernel drops (the drops column of
 * /proc/net/udp for the port); the tree's largest memory (Pss summed, sampled every 200 ms).
 * The file outputs (serve-file, nfcapd, sfcapd) are rotated while the load runs and each finished
 * piece is counted and deleted (--sink rotate, as bench/serve.ts does; bench/sink.ts says why);
 * --sink append keeps one growing file per collector, counted at the end.
 *
 * Writes compare.json, compare.md and compare.svg (+ compare.png with @resvg/resvg-js) to --out.
 * Run it under `flock /tmp/flow-bench.lock` on a shared machine. Not a test (a smoke test runs
 * one short cell: test/bench-compare.test.ts).
 */
import { execFileSync, spawn } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { collector, COLLECTORS, killAll, type CollectorName, type Running } from './compare-collectors.js';
import { COMPARE_STREAMS, loadCompareStream, type CompareStream, type CompareStreamInfo } from './compare-streams.js';
import { plotSvg, svgToPng, type PlotCell } from './compare-plot.js';
import { processCpu, descendants, udpPort, loadAverage, freeUdpPort, pin } from './proc.js';
import { defaultCacheDir } from './serve-streams.js';
import { hasCommand } from '../test/support/tools.js';
import { eachOption } from './args.js';
import { SINK_TICK_MS, type SinkMode } from './sink.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Args {
  streams: CompareStream[];
  collectors: CollectorName[];
  rates: (number | 'max')[];
  duration: number;
  exporters: number;
  rcvbuf: number;
  sink: SinkMode;
  settle: number;
  out: string;
  cache: string;
  quiet: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    streams: [...COMPARE_STREAMS],
    collectors: [...COLLECTORS],
    rates: [20_000, 50_000, 100_000, 'max'],
    duration: 5,
    exporters: 8,
    rcvbuf: 4 << 20,
    sink: 'rotate',
    settle: 10,
    out: join(ROOT, 'bench', 'results'),
    cache: defaultCacheDir(),
    quiet: false,
  };
  eachOption(argv, (k, v) => {
    switch (k) {
      case '--streams':
        a.streams = v().split(',') as CompareStream[];
        for (const s of a.streams) if (!COMPARE_STREAMS.includes(s)) throw new Error(`--streams: unknown stream ${s}; use ${COMPARE_STREAMS.join(', ')}`);
        break;
      case '--collectors':
        a.collectors = v().split(',') as CollectorName[];
        for (const c of a.collectors) if (!COLLECTORS.includes(c)) throw new Error(`--collectors: unknown collector ${c}; use ${COLLECTORS.join(', ')}`);
        break;
      case '--rates':
        a.rates = v()
          .split(',')
          .map((r) => (r === 'max' ? 'max' : Number(r)));
        for (const r of a.rates) if (r !== 'max' && !(r > 0)) throw new Error(`--rates: ${r} is not a rate`);
        break;
      case '--duration':
        a.duration = Number(v());
        break;
      case '--exporters':
        a.exporters = Number(v());
        break;
      case '--rcvbuf':
        a.rcvbuf = Number(v());
        break;
      case '--sink': {
        const m = v();
        if (m !== 'rotate' && m !== 'append') throw new Error(`--sink: ${m}; use rotate or append`);
        a.sink = m;
        break;
      }
      case '--settle':
        a.settle = Number(v());
        if (!(a.settle >= 0)) throw new Error(`--settle: ${a.settle} is not a number of seconds`);
        break;
      case '--out':
        a.out = v();
        break;
      case '--cache':
        a.cache = v();
        break;
      case '--quiet':
        a.quiet = true;
        break;
      default:
        throw new Error(`unknown option ${k}`);
    }
  });
  return a;
}

export interface Cell {
  stream: CompareStream;
  collector: CollectorName;
  version: string;
  rate: number | 'max';
  /** blast: datagrams and flows sent, achieved datagrams/s. */
  sentDatagrams: number;
  sentFlows: number;
  achievedRate: number;
  decodedFlows: number;
  /** decoded / sent, in %. */
  decodedPercent: number;
  cpuSeconds: number;
  /** CPU µs per decoded flow (whole process tree). */
  cpuUsPerFlow: number | null;
  /** CPU of the collector over the window, % of one core. */
  cpuPercent: number;
  kernelDrops: number;
  memMaxMiB: number;
  windowSeconds: number;
  /** CPU seconds the harness spent counting and deleting the rotated output (on core 0, with blast). */
  countCpuSeconds: number;
  rcvbuf: number[];
  notes: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Memory of the process trees: the proportional set size (smaps_rollup Pss) summed, so pages
 * shared between a daemon and its plugin processes (pmacct's pipe) count once; VmRSS where
 * smaps_rollup is missing.
 */
function treeMemKiB(pids: number[]): number {
  let kib = 0;
  for (const root of pids) {
    for (const pid of [root, ...descendants(root)]) {
      try {
        const m = /^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
        if (m) {
          kib += Number(m[1]);
          continue;
        }
      } catch {
        // older kernel, or gone
      }
      try {
        const m = /^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
        if (m) kib += Number(m[1]);
      } catch {
        // gone
      }
    }
  }
  return kib;
}

function treeCpu(pids: number[]): number {
  let s = 0;
  for (const p of pids) s += processCpu(p)?.seconds ?? 0;
  return s;
}

function rcvbufs(port: number): number[] {
  try {
    const out = execFileSync('ss', ['-uanmH', `sport = :${port}`], { encoding: 'utf8' });
    return [...out.matchAll(/\brb(\d+)/g)].map((m) => Number(m[1]));
  } catch {
    return [];
  }
}

interface BlastJson {
  datagrams: number;
  flows: number;
  achievedRate: number;
  seconds: number;
}

function runBlast(stream: CompareStreamInfo, port: number, rate: number | 'max', a: Args): Promise<BlastJson> {
  return new Promise((resolve, reject) => {
    const args = ['-c', '0', process.execPath, CLI, 'blast', '--json', '--target', `127.0.0.1:${port}`, '--rate', String(rate), '--duration', String(a.duration), '--exporters', String(a.exporters), stream.pcap];
    const c = spawn('taskset', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (b: Buffer) => (out += b.toString()));
    c.stderr.on('data', (b: Buffer) => (err += b.toString()));
    c.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`blast exited ${code}: ${err}`));
      try {
        resolve(JSON.parse(out) as BlastJson);
      } catch {
        reject(new Error(`blast printed no JSON: ${out}${err}`));
      }
    });
  });
}

async function runCell(stream: CompareStreamInfo, name: CollectorName, rate: number | 'max', a: Args, log: (m: string) => void): Promise<Cell> {
  const col = collector(name);
  const dir = mkdtempSync(join('/dev/shm', `compare-${name}-`));
  const notes: string[] = [];
  let running: Running | undefined;
  try {
    const port = await freeUdpPort();
    running = await col.start(port, dir, '1', a.rcvbuf, a.sink);
    const r = running;
    const pids = running.pids;
    const bufs = rcvbufs(port);
    await sleep(Math.max(300, a.settle * 1000));
    const drops0 = udpPort(port).drops;
    const cpu0 = treeCpu(pids);
    const t0 = process.hrtime.bigint();
    let rssMax = treeMemKiB(pids);
    const sampler = setInterval(() => (rssMax = Math.max(rssMax, treeMemKiB(pids))), 200);
    const rotation = a.sink === 'rotate' ? setInterval(() => r.tick(), SINK_TICK_MS) : undefined;
    let sent: BlastJson;
    try {
      sent = await runBlast(stream, port, rate, a);
      // Drained: the socket queue empty and the output not growing for a while.
      let last = -2;
      let since = Date.now();
      const deadline = Date.now() + 120_000;
      // serve's metrics are once-a-second snapshots; pmacct writes its CSV every second.
      const quiet = name.endsWith('acctd') ? 2500 : name.startsWith('serve') ? 1500 : 600;
      // Asking serve more often than its snapshots change only adds scrapes to its CPU (each
      // renders the whole exposition: a few ms).
      const poll = name.startsWith('serve') ? 500 : 100;
      for (;;) {
        const p = await running.progress();
        const q = udpPort(port).rxQueue;
        if (p !== last || q > 0) {
          last = p;
          since = Date.now();
        } else if (Date.now() - since >= quiet) break;
        if (Date.now() > deadline) {
          notes.push('did not drain within 120 s');
          break;
        }
        await sleep(poll);
      }
    } finally {
      clearInterval(sampler);
      clearInterval(rotation);
    }
    const cpu = treeCpu(pids) - cpu0;
    const windowSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const kernelDrops = udpPort(port).drops - drops0;
    rssMax = Math.max(rssMax, treeMemKiB(pids));
    const version = running.version;
    const fin = await running.finish();
    const countCpuSeconds = running.countCpuSeconds();
    running = undefined;
    notes.push(...fin.notes);
    const decoded = fin.flows;
    const cell: Cell = {
      stream: stream.name,
      collector: name,
      version,
      rate,
      sentDatagrams: sent.datagrams,
      sentFlows: sent.flows,
      achievedRate: sent.achievedRate,
      decodedFlows: decoded,
      decodedPercent: sent.flows > 0 ? (100 * decoded) / sent.flows : 0,
      cpuSeconds: cpu,
      cpuUsPerFlow: decoded > 0 ? (cpu * 1e6) / decoded : null,
      cpuPercent: (100 * cpu) / windowSeconds,
      kernelDrops,
      memMaxMiB: rssMax / 1024,
      windowSeconds,
      countCpuSeconds,
      rcvbuf: bufs,
      notes,
    };
    if (rate !== 'max' && sent.achievedRate < 0.95 * rate) notes.push(`blast reached ${Math.round(sent.achievedRate)} datagrams/s of ${rate}`);
    log(
      `${stream.name} ${name} ${rate}: sent ${sent.datagrams} dg (${Math.round(sent.achievedRate)}/s) ${sent.flows} flows; decoded ${decoded} (${cell.decodedPercent.toFixed(1)} %); ` +
        `CPU ${cpu.toFixed(2)} s = ${cell.cpuUsPerFlow?.toFixed(3) ?? '-'} µs/flow; kernel drops ${kernelDrops}; memory max ${cell.memMaxMiB.toFixed(0)} MiB${notes.length ? `; ${notes.join('; ')}` : ''}`,
    );
    return cell;
  } finally {
    running?.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

function rateLabel(r: number | 'max'): string {
  return r === 'max' ? 'max' : r >= 1000 ? `${r / 1000}k` : String(r);
}

function fmt(n: number, d = 0): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

export function markdownTable(cells: Cell[]): string {
  const rows = [
    '| stream | offered dg/s | collector | achieved dg/s | flows sent | decoded % | CPU µs/decoded flow | CPU % of a core | kernel drops | memory max MiB (PSS) |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const c of cells) {
    rows.push(
      `| ${c.stream} | ${c.rate === 'max' ? 'max' : fmt(c.rate)} | ${c.collector} | ${fmt(c.achievedRate)} | ${fmt(c.sentFlows)} | ${c.decodedPercent.toFixed(1)} | ${c.cpuUsPerFlow === null ? '-' : c.cpuUsPerFlow.toFixed(3)} | ${fmt(c.cpuPercent)} | ${fmt(c.kernelDrops)} | ${fmt(c.memMaxMiB)} |`,
    );
  }
  return rows.join('\n') + '\n';
}

export async function main(argv: string[]): Promise<void> {
  const a = parseArgs(argv);
  const log = (m: string) => {
    if (!a.quiet) process.stderr.write(`${m}\n`);
  };
  if (!hasCommand('taskset')) throw new Error('taskset is not installed (util-linux)');
  if (cpus().length < 2) throw new Error('needs two cores: the collector on core 1, blast on core 0');
  // The harness shares core 0 with blast: it only polls /proc between samples.
  pin(process.pid, 0);
  const streams: CompareStreamInfo[] = [];
  for (const s of a.streams) {
    const info = await loadCompareStream(s, a.cache, log);
    if (info.problems.length) log(`stream ${s}: ${info.problems.join('; ')}`);
    streams.push(info);
  }
  const skipped: string[] = [];
  const failed: string[] = [];
  const cells: Cell[] = [];
  const started = new Date().toISOString();
  for (const st of streams) {
    for (const name of a.collectors) {
      const col = collector(name);
      if (!col.accepts(st)) continue;
      const why = col.missing();
      if (why) {
        if (!skipped.some((x) => x.startsWith(`${name}:`))) skipped.push(`${name}: ${why}`);
        continue;
      }
      for (const rate of a.rates) {
        try {
          cells.push(await runCell(st, name, rate, a, log));
        } catch (e) {
          failed.push(`${st.name} ${name} ${rate}: ${(e as Error).message.slice(0, 2000)}`);
          log(`FAILED ${failed[failed.length - 1]}`);
        }
      }
    }
  }
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    loadAverageAtEnd: loadAverage(),
  };
  const tools = toolVersions();
  const result = { started, finished: new Date().toISOString(), args: a, machine, tools, streams, skipped, failed, cells };
  mkdirSync(a.out, { recursive: true });
  writeFileSync(join(a.out, 'compare.json'), JSON.stringify(result, null, 1) + '\n');
  const md = markdownTable(cells);
  writeFileSync(join(a.out, 'compare.md'), md);
  const rates = a.rates.map(rateLabel);
  const plotCells: PlotCell[] = cells.map((c) => ({
    stream: c.stream,
    collector: c.collector,
    rate: rateLabel(c.rate),
    cpuUsPerFlow: c.cpuUsPerFlow,
    lossPercent: Math.max(0, 100 - c.decodedPercent),
  }));
  const svg = plotSvg(plotCells, rates, `flow collectors, one core each (${machine.cores}-core ${machine.cpu})`);
  writeFileSync(join(a.out, 'compare.svg'), svg);
  const png = await svgToPng(svg);
  if ('png' in png) writeFileSync(join(a.out, 'compare.png'), png.png);
  else log(`no PNG: ${png.error}`);
  process.stdout.write(md);
  if (skipped.length) process.stdout.write(`\nskipped: ${skipped.join('; ')}\n`);
  if (failed.length) {
    process.stdout.write(`\nfailed cells:\n${failed.join('\n')}\n`);
    process.exitCode = 1;
  }
  log(`results in ${a.out}`);
}

function toolVersions(): Record<string, string> {
  const v = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')[0]!.trim();
    } catch (e) {
      return `${(e as { stdout?: string }).stdout ?? ''}${(e as { stderr?: string }).stderr ?? ''}`.split('\n')[0]!.trim() || 'not installed';
    }
  };
  let nfv9 = 'not installed';
  try {
    nfv9 = (JSON.parse(readFileSync(join(ROOT, 'node_modules/node-netflowv9/package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // missing
  }
  return {
    nfcapd: v('nfcapd', ['-V']),
    sfcapd: v('sfcapd', ['-V']),
    nfacctd: v('nfacctd', ['-V']),
    sfacctd: v('sfacctd', ['-V']),
    'nats-server': v('nats-server', ['--version']),
    'node-netflowv9': nfv9,
  };
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    killAll();
    process.exit(130);
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    () => killAll(),
    (err) => {
      killAll();
      console.error(err);
      process.exit(1);
    },
  );
}
