/**
 * Start-up: the first datagrams of a real exporter's stream (bench/serve-streams.ts: softflowd
 * NetFlow v9 or pmacctd IPFIX, from 8 exporters) through a fresh decoder right after the
 * warm-up a serve worker runs (warmUpSettled over two throwaway decoders), no I/O. What the
 * first wake-up of a busy port costs before the receive buffer overflows: milliseconds for the
 * first 1,024, 2,560 and 10,240 datagrams against the steady cost, each run in a fresh process.
 * Pin it to one core as serve is in bench/serve (V8 compiles on background threads, which then
 * share the core, as in serve):
 *
 *   taskset -c 1 node dist/bench/startup.js [v9|ipfix] [runs=5] [--cache DIR] [--digest]
 *
 * Each run also reports the flows the real decoder wrote and the datagrams it refused (the
 * stream's own, e.g. softflowd's miscounted options datagrams), so a warm-up that broke the real
 * path shows; --digest adds a SHA-256 of the real decoder's output (and the hashing to the
 * timings), which test/bench-startup.test.ts compares with a decoder that never saw a warm-up.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { warmUpSettled } from '../src/service/warmup.js';
import { eachOption } from './args.js';
import { BLOCK, BLOCKS, framesDecoder, replayFirst } from './first-datagrams.js';
import { defaultCacheDir, loadStream, type StreamName } from './serve-streams.js';

interface RunResult {
  /** Milliseconds per block of BLOCK datagrams. */
  ms: number[];
  /** Flows the real decoder wrote, and datagrams it reported an error for. */
  flows: number;
  errors: number;
  /** The receive second the datagrams were decoded with (replayFirst). */
  sec: number;
  /** With --digest: SHA-256 of everything the real decoder wrote (the timings then include hashing). */
  digest?: string;
}

async function once(name: StreamName, cacheDir: string, digest: boolean): Promise<RunResult> {
  const st = await loadStream(name, cacheDir);
  // The real decoder exists before the warm-up runs, as a worker's listeners' do.
  const hash = digest ? createHash('sha256') : undefined;
  const real = framesDecoder(128 * 1024, hash);
  const warm = [framesDecoder(1024), framesDecoder(1024)].map((w) => ({ decode: w.dec.decode.bind(w.dec), flush: w.flush }));
  await warmUpSettled(warm, 2000);
  const sec = Math.floor(Date.now() / 1000);
  const ms: number[] = [];
  let t = performance.now();
  const errors = replayFirst(st, real, sec, () => {
    const now = performance.now();
    ms.push(now - t);
    t = now;
  });
  real.flush();
  return { ms, flows: real.flows(), errors, sec, digest: hash?.digest('hex') };
}

const sum = (a: number[], k: number) => a.slice(0, k).reduce((s, x) => s + x, 0);
const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;

let cacheDir = defaultCacheDir();
let digest = false;
const positional: string[] = [];
eachOption(process.argv.slice(2), (opt, value) => {
  if (opt === '--cache') cacheDir = value();
  else if (opt === '--digest') digest = true;
  else if (opt.startsWith('--')) throw new Error(`unknown option ${opt}`);
  else positional.push(opt);
});
const [nameArg, runsArg] = positional;
const name = (nameArg ?? 'v9') as StreamName;
if (name !== 'v9' && name !== 'ipfix') throw new Error(`stream: v9 or ipfix, not ${name}`);
const runs = Number(runsArg ?? 5);
if (!Number.isInteger(runs) || runs < 0) throw new Error(`runs: a whole number, not ${runsArg}`);
if (runs === 0) {
  // One run, in this process: the block times and counts as JSON, for the parent.
  console.log(JSON.stringify(await once(name, cacheDir, digest)));
} else {
  const rows: number[][] = [];
  for (let r = 0; r < runs; r++) {
    const out = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), name, '0', '--cache', cacheDir, ...(digest ? ['--digest'] : [])], { encoding: 'utf8' });
    const res = JSON.parse(out.trim().split('\n').pop()!) as RunResult;
    const ms = res.ms;
    rows.push(ms);
    const steady = Math.min(...ms);
    console.log(`run ${r + 1}: first 1,024 datagrams ${sum(ms, 4).toFixed(1)} ms, 2,560 ${sum(ms, 10).toFixed(1)}, 10,240 ${sum(ms, BLOCKS).toFixed(1)} (steady ${((steady / BLOCK) * 1000).toFixed(1)} ms per 1,000); ${res.flows} flows, ${res.errors} datagrams with errors${res.digest === undefined ? '' : `; receive second ${res.sec}, output sha256 ${res.digest}`}`);
  }
  const col = (k: number) => median(rows.map((ms) => sum(ms, k)));
  console.log(`${name} median of ${runs}: first 1,024 ${col(4).toFixed(1)} ms, 2,560 ${col(10).toFixed(1)}, 10,240 ${col(BLOCKS).toFixed(1)}; steady 1,000 ${median(rows.map((ms) => (Math.min(...ms) * 1000) / BLOCK)).toFixed(1)} ms`);
}
