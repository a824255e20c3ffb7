// What a running collector costs when little or nothing comes: CPU per second and wake-ups per
// second of each of serve's threads, from /proc/PID/task/TID/schedstat (nanoseconds on CPU and
// times the thread was run), over a window after the process has settled.
//
//   node dist/bench/idle.js [options]
//
//   --settle 60        seconds after "flow-collector started" before the window (V8's memory
//                      reducer runs a few full collections in the first ~40 s after start-up)
//   --seconds 30       the window
//   --rate 0           datagrams/s sent during settle + window by `flow-collector blast` (0: none)
//   --synth v9         what blast sends (v5, v9, ipfix, sflow)
//   --core 0           serve's core (taskset); blast runs on the other one
//   --workers 1        serve --workers
//
// Wake-ups are what a halted vCPU pays for (docs/benchmarks.md, "A tenth machine"): each costs
// hundreds of µs of CPU on some VMs, so at low rates and when idle they are most of the cost.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eachOption } from './args.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

interface Args {
  settle: number;
  seconds: number;
  rate: number;
  synth: string;
  core: number;
  workers: number;
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = { settle: 60, seconds: 30, rate: 0, synth: 'v9', core: 0, workers: 1 };
  const num = (name: string, v: string, min: number): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`${name} must be a number >= ${min}, got ${v}`);
    return n;
  };
  eachOption(argv, (name, value) => {
    if (name === '--settle') a.settle = num(name, value(), 0);
    else if (name === '--seconds') a.seconds = num(name, value(), 0.1);
    else if (name === '--rate') a.rate = num(name, value(), 0);
    else if (name === '--synth') a.synth = value();
    else if (name === '--core') a.core = num(name, value(), 0);
    else if (name === '--workers') a.workers = num(name, value(), 1);
    else throw new Error(`unknown argument ${name}`);
  });
  return a;
}

interface ThreadSample {
  ns: number;
  runs: number;
}

/** schedstat of every thread of `pid`: ns on CPU and times run, by thread id. */
function threads(pid: number): Map<number, ThreadSample> {
  const out = new Map<number, ThreadSample>();
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const f = readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').trim().split(' ');
      out.set(Number(t), { ns: Number(f[0]), runs: Number(f[2]) });
    } catch {
      // the thread ended
    }
  }
  return out;
}

export interface ThreadCost {
  tid: number;
  main: boolean;
  cpuMsPerSec: number;
  runsPerSec: number;
}

/** Per-thread CPU ms/s and runs/s between two samples `seconds` apart (threads in both). */
export function threadCosts(pid: number, a: Map<number, ThreadSample>, b: Map<number, ThreadSample>, seconds: number): ThreadCost[] {
  const out: ThreadCost[] = [];
  for (const [tid, s1] of b) {
    const s0 = a.get(tid);
    if (s0 === undefined) continue;
    out.push({ tid, main: tid === pid, cpuMsPerSec: (s1.ns - s0.ns) / 1e6 / seconds, runsPerSec: (s1.runs - s0.runs) / seconds });
  }
  return out.sort((x, y) => x.tid - y.tid);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function waitStarted(p: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start in ${timeoutMs} ms: ${err.slice(-500)}`)), timeoutMs);
    p.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('"flow-collector started"')) {
        clearTimeout(timer);
        resolve();
      }
    });
    p.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code}) before it started: ${err.slice(-500)}`));
    });
  });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), 'fc-idle-'));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const cfg = join(dir, 'serve.yaml');
  writeFileSync(
    cfg,
    [`workers: ${args.workers}`, 'listeners:', `  - { address: 127.0.0.1, port: ${port}, protocol: auto }`, 'metrics: { address: 127.0.0.1:0 }', 'outputs:', `  - { type: file, path: ${join(dir, 'flows.bin')}, format: flowpb }`].join('\n') + '\n',
  );
  const serve = spawn('taskset', ['-c', String(args.core), process.execPath, CLI, 'serve', '--config', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  let blast: ChildProcess | undefined;
  try {
    await waitStarted(serve, 60_000);
    if (args.rate > 0) {
      const other = String(args.core === 0 ? 1 : 0);
      const duration = args.settle + args.seconds + 5;
      blast = spawn('taskset', ['-c', other, process.execPath, CLI, 'blast', '--target', `127.0.0.1:${port}`, '--synth', args.synth, '--rate', String(args.rate), '--duration', String(duration)], { stdio: 'ignore' });
    }
    await sleep(args.settle * 1000);
    const a = threads(serve.pid!);
    await sleep(args.seconds * 1000);
    const b = threads(serve.pid!);
    const costs = threadCosts(serve.pid!, a, b, args.seconds);
    const load = args.rate > 0 ? `blast --synth ${args.synth} at ${args.rate}/s` : 'no traffic';
    console.log(`serve, ${args.workers} worker(s) on core ${args.core}, ${load}; ${args.seconds} s window after ${args.settle} s`);
    for (const c of costs) {
      if (c.cpuMsPerSec === 0 && c.runsPerSec === 0) continue;
      console.log(`  thread ${c.tid}${c.main ? ' (main)' : ''}: ${c.cpuMsPerSec.toFixed(2)} ms CPU/s, ${c.runsPerSec.toFixed(1)} runs/s`);
    }
    const busiest = costs.filter((c) => !c.main).reduce<ThreadCost | undefined>((m, c) => (m === undefined || c.cpuMsPerSec > m.cpuMsPerSec ? c : m), undefined);
    const total = costs.reduce((s, c) => s + c.cpuMsPerSec, 0);
    const runs = costs.reduce((s, c) => s + c.runsPerSec, 0);
    console.log(`total: ${total.toFixed(2)} ms CPU/s, ${runs.toFixed(1)} runs/s; busiest other thread ${busiest === undefined ? '-' : `${busiest.cpuMsPerSec.toFixed(2)} ms/s, ${busiest.runsPerSec.toFixed(1)} runs/s`}`);
  } finally {
    blast?.kill('SIGKILL');
    serve.kill('SIGTERM');
    await new Promise((r) => (serve.exitCode !== null ? r(undefined) : serve.once('exit', r)));
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: Error) => {
    console.error(err.message);
    process.exit(1);
  });
}
