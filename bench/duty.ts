/**
 * What the host charges for the same work at different duty cycles: a fixed piece of work run in
 * bursts (busy for `burst` ms of every `period` ms, idle in between, as serve is at low rates)
 * and its CPU cost per unit compared with the same work run without a pause. No sockets, no
 * files: if a unit costs more CPU at a low duty cycle, the host (a halted vCPU's clock, its
 * caches, its physical core's frequency) charges it, not serve. The 20k-vs-100k goal of issue 8
 * is judged against this (docs/benchmarks.md, "A twenty-third machine").
 *
 *   node dist/bench/duty.js [options]
 *
 *   --cells 10/100,25/100,50/100,100/1000,100/100   burst/period in ms; burst >= period runs
 *                         without a pause (the reference: the last such cell, or none)
 *   --work decode,alu     decode: serve's transcoder on the v9 replay stream (bench/decode-loop.ts),
 *                         ns per flow; alu: an integer loop in registers, ns per 1,000 steps;
 *                         none: only the --wakes table
 *   --wakes 1,10,100,1000 also the CPU charged per wake-up after an idle sleep of each length in ms
 *                         (a timer and nothing else, as an idle worker's or main thread's timers):
 *                         what one wake-up costs on this host, and per second at that period
 *   --seconds 4           per cell and round
 *   --rounds 3            every cell once per round, in turn (host drift shows as round-to-round)
 *   --core N              pin this process (all its threads) to core N (taskset -a -p)
 *   --keep-awake          with --core: a SCHED_IDLE busy loop on that core while measuring, so the
 *                         vCPU never halts between bursts (it runs only when this process does not)
 *   --cache DIR           the stream cache (bench/.cache)
 *
 * CPU is this process's (process.cpuUsage: user + system, all threads) over each cell's window.
 */
import { pathToFileURL } from 'node:url';
import { coreArg, eachOption } from './args.js';
import { decodeLoop, type DecodeLoop } from './decode-loop.js';
import { pin, processCpu } from './proc.js';
import { spreadOf } from './serve-replay.js';
import { keepAwake as startKeepAwake, sleep, type Spawned } from './spawned.js';

const median = (xs: readonly number[]): number => spreadOf(xs).median;

export interface Cell {
  burstMs: number;
  periodMs: number;
}

/** `10/100,100/100` as cells; throws naming the piece that is not burst/period in ms. */
export function parseCells(v: string): Cell[] {
  return v
    .split(',')
    .filter(Boolean)
    .map((p) => {
      const m = /^(\d+(?:\.\d+)?)\/(\d+(?:\.\d+)?)$/.exec(p.trim());
      const burstMs = Number(m?.[1]);
      const periodMs = Number(m?.[2]);
      if (!m || !(burstMs > 0) || !(periodMs > 0)) throw new Error(`--cells: want burst/period in ms (such as 10/100), got ${p}`);
      return { burstMs, periodMs };
    });
}

export const continuous = (c: Cell): boolean => c.burstMs >= c.periodMs;
export const cellName = (c: Cell): string => (continuous(c) ? 'no pause' : `${c.burstMs}/${c.periodMs} ms (${Math.round((100 * c.burstMs) / c.periodMs)} %)`);

/** One kind of work: `unit()` does a small fixed amount and returns how many counted units it did. */
interface Work {
  name: string;
  per: string;
  unit(): number;
}

function aluWork(): Work {
  let x = 0x9e3779b9 | 0;
  let sink = 0;
  return {
    name: 'alu',
    per: 'ns per 1,000 steps',
    unit(): number {
      // xorshift32, 20,000 steps: registers only, no memory traffic.
      for (let i = 0; i < 20_000; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
      }
      sink = (sink + x) | 0;
      if (sink === 0x7fffffff) console.log('');
      return 20;
    },
  };
}

function decodeWork(loop: DecodeLoop): Work {
  let at = 0;
  let k = 8;
  return {
    name: 'decode',
    per: 'ns per flow',
    unit(): number {
      const f0 = loop.frames();
      loop.range(at, 16, k);
      at += 16;
      if (at >= loop.datagrams) {
        at = 0;
        k++;
      }
      return loop.frames() - f0;
    },
  };
}

/** `1,10,100` as sleep lengths in ms; throws naming the piece that is not a positive number. */
export function parseWakes(v: string): number[] {
  return v
    .split(',')
    .filter(Boolean)
    .map((p) => {
      const ms = Number(p.trim());
      if (!(ms > 0) || !Number.isFinite(ms)) throw new Error(`--wakes: want sleep lengths in ms (such as 1,10,100), got ${p}`);
      return ms;
    });
}

/**
 * CPU µs charged per wake-up of a timer after an idle sleep of `ms`, with no work in between:
 * at least 3 wake-ups and about `seconds` of sleeping.
 */
async function wakeCost(ms: number, seconds: number): Promise<number> {
  const n = Math.max(3, Math.round((seconds * 1000) / ms));
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) await sleep(ms);
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / n;
}

/** The wake-up table: per sleep length its rounds, median µs per wake-up, and µs per second at that period. */
export function reportWakes(wakes: readonly number[], byWake: readonly number[][]): string[] {
  const out = ['#### wake-ups (CPU µs per wake-up after an idle sleep, no work)', '', '| sleep | rounds | median | per second at that period |', '|---|---|---:|---:|'];
  wakes.forEach((ms, i) => {
    const xs = byWake[i]!;
    const m = median(xs);
    out.push(`| ${ms} ms | ${xs.map((x) => x.toFixed(1)).join(', ')} | ${m.toFixed(1)} | ${((m * 1000) / ms).toFixed(1)} |`);
  });
  out.push('');
  return out;
}

/** Runs `work` in bursts for `seconds`; CPU ns per counted unit. */
async function measure(work: Work, cell: Cell, seconds: number): Promise<number> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let units = 0;
  let next = t0;
  while (performance.now() - t0 < seconds * 1000) {
    const until = continuous(cell) ? t0 + seconds * 1000 : next + cell.burstMs;
    while (performance.now() < until) units += work.unit();
    if (!continuous(cell)) {
      next += cell.periodMs;
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      else next = performance.now();
    }
  }
  const c = process.cpuUsage(c0);
  return ((c.user + c.system) * 1000) / units;
}

/** The report: per work, each cell's rounds, median and median over the last no-pause cell's. */
export function report(results: Map<string, { per: string; byCell: number[][] }>, cells: Cell[]): string[] {
  const out: string[] = [];
  let ref = -1;
  cells.forEach((c, i) => {
    if (continuous(c)) ref = i;
  });
  for (const [name, r] of results) {
    out.push(`#### ${name} (${r.per})`, '', '| burst / period | rounds | median | / no pause |', '|---|---|---:|---:|');
    const refMedian = ref >= 0 ? median(r.byCell[ref]!) : NaN;
    cells.forEach((c, i) => {
      const xs = r.byCell[i]!;
      const m = median(xs);
      out.push(`| ${cellName(c)} | ${xs.map((x) => x.toFixed(1)).join(', ')} | ${m.toFixed(1)} | ${ref >= 0 ? `${(m / refMedian).toFixed(3)}x` : '-'} |`);
    });
    out.push('');
  }
  return out;
}

async function main(): Promise<void> {
  let cells = parseCells('10/100,25/100,50/100,100/1000,100/100');
  let works = ['decode', 'alu'];
  let wakes: number[] = [];
  let seconds = 4;
  let rounds = 3;
  let core: number | undefined;
  let keepAwake = false;
  let cacheDir: string | undefined;
  eachOption(process.argv.slice(2), (arg, value) => {
    if (arg === '--cells') cells = parseCells(value());
    else if (arg === '--work') {
      works = value().split(',');
      for (const w of works) if (w !== 'decode' && w !== 'alu' && w !== 'none') throw new Error(`--work: decode, alu or none, not ${w}`);
      works = works.filter((w) => w !== 'none');
    } else if (arg === '--wakes') wakes = parseWakes(value());
    else if (arg === '--seconds') seconds = Number(value());
    else if (arg === '--rounds') rounds = Number(value());
    else if (arg === '--core') core = coreArg(arg, value());
    else if (arg === '--keep-awake') keepAwake = true;
    else if (arg === '--cache') cacheDir = value();
    else throw new Error(`unknown option ${arg}`);
  });
  if (!(seconds > 0)) throw new Error('--seconds: more than 0');
  if (!(Number.isInteger(rounds) && rounds >= 1)) throw new Error('--rounds: a whole number, 1 or more');
  if (works.length === 0 && wakes.length === 0) throw new Error('--work none needs --wakes (nothing to measure)');
  if (keepAwake && core === undefined) throw new Error('--keep-awake needs --core (the loop runs on that core)');
  if (core !== undefined) pin(process.pid, core);

  const all: Work[] = [];
  for (const w of works) all.push(w === 'alu' ? aluWork() : decodeWork(await decodeLoop('v9', cacheDir)));
  // Warm every work's code before the first window (a second without a pause).
  for (const w of all) await measure(w, { burstMs: 1, periodMs: 1 }, 1);
  if (wakes.length > 0) await wakeCost(1, 0.2);

  let awake: Spawned | undefined;
  let awakeSeconds: number | undefined;
  if (keepAwake) awake = startKeepAwake(String(core))[0];
  const results = new Map<string, { per: string; byCell: number[][] }>();
  for (const w of all) results.set(w.name, { per: w.per, byCell: cells.map(() => []) });
  const byWake: number[][] = wakes.map(() => []);
  try {
    for (let r = 0; r < rounds; r++) {
      for (const w of all)
        for (let i = 0; i < cells.length; i++) {
          const ns = await measure(w, cells[i]!, seconds);
          results.get(w.name)!.byCell[i]!.push(ns);
          console.error(`round ${r + 1} ${w.name} ${cellName(cells[i]!)}: ${ns.toFixed(1)}`);
        }
      for (let i = 0; i < wakes.length; i++) {
        const us = await wakeCost(wakes[i]!, seconds);
        byWake[i]!.push(us);
        console.error(`round ${r + 1} wake-up after ${wakes[i]} ms: ${us.toFixed(1)} µs`);
      }
    }
  } finally {
    // The loop's CPU shows it ran (it gets only what this process leaves idle).
    if (awake?.child.pid !== undefined) awakeSeconds = processCpu(awake.child.pid)?.seconds;
    awake?.child.kill('SIGKILL');
  }
  const awakeNote = keepAwake ? `, kept awake by a SCHED_IDLE busy loop (${awakeSeconds?.toFixed(2) ?? '?'} s CPU)` : '';
  console.log(`### duty cycles (${seconds} s per cell, ${rounds} rounds${core !== undefined ? `, core ${core}` : ''}${awakeNote}, Node ${process.version})`);
  console.log('');
  if (all.length > 0) for (const line of report(results, cells)) console.log(line);
  if (wakes.length > 0) for (const line of reportWakes(wakes, byWake)) console.log(line);
}

// Run as a script, not when a test imports the report.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
