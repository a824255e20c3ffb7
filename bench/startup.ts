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
import { createHash, type Hash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { ExporterTable, FlowDecoder } from '../src/decode/mod.js';
import { DelimitedBatchWriter } from '../src/encode/mod.js';
import { warmUpSettled } from '../src/service/warmup.js';
import { defaultCacheDir, loadStream, type StreamName } from './serve-streams.js';

const BLOCK = 256;
const BLOCKS = 40;

/**
 * A decoder writing flowpb frames into a reused buffer, as a worker's with a file output (its
 * encoder starts at 128 KiB; the warm-up's at 1 KiB, as Pipeline.warmUp's).
 */
function decoder(initialBytes = 128 * 1024, hash?: Hash): { dec: FlowDecoder; flush(): void; flows(): number } {
  const enc = new DelimitedBatchWriter(initialBytes);
  const w = enc.writer;
  let flows = 0;
  const frames = {
    writer: w,
    framesAdded(_type: number, n: number): void {
      flows += n;
      enc.added(n);
    },
  };
  const dec = new FlowDecoder({
    sink: {
      onFlow: (r) => {
        flows++;
        enc.append(r);
      },
    },
    frames,
  });
  const flush = hash === undefined ? () => void enc.finish() : () => void hash.update(enc.finish());
  return { dec, flush, flows: () => flows };
}

interface RunResult {
  /** Milliseconds per block of BLOCK datagrams. */
  ms: number[];
  /** Flows the real decoder wrote, and datagrams it reported an error for. */
  flows: number;
  errors: number;
  /** The receive time's seconds the datagrams were decoded with (nanoseconds: (i * 7,919) mod 1e9). */
  sec: number;
  /** With --digest: SHA-256 of everything the real decoder wrote (the timings then include hashing). */
  digest?: string;
}

async function once(name: StreamName, cacheDir: string, digest: boolean): Promise<RunResult> {
  const st = await loadStream(name, cacheDir);
  // The real decoder exists before the warm-up runs, as a worker's listeners' do.
  const hash = digest ? createHash('sha256') : undefined;
  const real = decoder(128 * 1024, hash);
  const warm = [decoder(1024), decoder(1024)].map((w) => ({ decode: w.dec.decode.bind(w.dec), flush: w.flush }));
  await warmUpSettled(warm, 2000);
  const table = new ExporterTable();
  const exporters = Array.from({ length: 8 }, (_, i) => table.get(`127.0.2.${i + 1}`, 9999));
  const n = st.meta.datagrams;
  const sec = Math.floor(Date.now() / 1000);
  const ms: number[] = [];
  let i = 0;
  let errors = 0;
  let t = performance.now();
  for (let b = 0; b < BLOCKS; b++) {
    for (let j = 0; j < BLOCK; j++, i++) {
      const k = i % n;
      // Receive times as the kernel stamps them, a few µs apart.
      if (real.dec.decode(st.data, st.offsets[k]!, st.lengths[k]!, exporters[Math.floor(i / n) & 7]!, sec, (i * 7_919) % 1_000_000_000) !== undefined) errors++;
      // Written out after every batch of 64 datagrams, as serve does after each receive.
      if ((i & 63) === 63) real.flush();
    }
    const now = performance.now();
    ms.push(now - t);
    t = now;
  }
  real.flush();
  return { ms, flows: real.flows(), errors, sec, digest: hash?.digest('hex') };
}

const sum = (a: number[], k: number) => a.slice(0, k).reduce((s, x) => s + x, 0);
const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;

const argv = process.argv.slice(2);
let cacheDir = defaultCacheDir();
const k = argv.indexOf('--cache');
if (k >= 0) {
  cacheDir = argv[k + 1] ?? '';
  if (cacheDir === '') throw new Error('--cache needs a directory');
  argv.splice(k, 2);
}
const digest = argv.includes('--digest');
if (digest) argv.splice(argv.indexOf('--digest'), 1);
const [nameArg, runsArg] = argv;
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
