// Exporter lookup per datagram (src/service/exporters.ts): nanoseconds per ExporterIntern.of call
// over a batch whose datagrams come from N sources in turn (the worst case: no run of one source).
//
//   node dist/bench/exporters.js [--family 6|4] [--sources 8] [--rounds 200000]
//
// Pin it (taskset -c 1) and compare builds in alternation; the host moves the figure by ±20 %.
import { ExporterIntern } from '../src/service/exporters.js';
import { allocBatch } from '../src/ingest/mod.js';
import { eachOption } from './args.js';

const args = { family: 6, sources: 8, rounds: 200_000 };
eachOption(process.argv.slice(2), (name, value) => {
  const n = Number(value());
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}: a positive integer, got ${String(n)}`);
  if (name === '--family' && (n === 4 || n === 6)) args.family = n;
  else if (name === '--sources') args.sources = n;
  else if (name === '--rounds') args.rounds = n;
  else throw new Error(`unknown or bad argument ${name}`);
});

const BATCH = 64;
const b = allocBatch(BATCH, 16);
for (let i = 0; i < BATCH; i++) {
  const s = i % args.sources;
  b.families[i] = args.family;
  b.ports[i] = 2055;
  // 2001:db8::s or 10.0.s.s: sources that share all but their last bytes.
  if (args.family === 6) b.addrs.set([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, s >> 8, s & 255], i * 16);
  else b.addrs.set([10, 0, s >> 8, s & 255], i * 16);
}
const intern = new ExporterIntern();
let x = 0;
for (let r = 0; r < 4; r++) {
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < args.rounds; k++) for (let i = 0; i < BATCH; i++) x ^= intern.of(b, i).port;
  const ns = Number(process.hrtime.bigint() - t0) / (args.rounds * BATCH);
  // The first round warms up (V8 compiles the lookup).
  if (r > 0) console.log(`IPv${args.family}, ${args.sources} sources in turn: ${ns.toFixed(1)} ns per datagram`);
}
if (x === -1) console.log(x);
