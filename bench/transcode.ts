/**
 * The decode -> flowpb transcoder alone, no I/O: the serve benchmark's replay stream (softflowd
 * NetFlow v9 or pmacctd IPFIX, bench/serve-streams.ts) decoded over and over from 8 exporters in
 * turn by one FlowDecoder with a frame sink, CPU nanoseconds per flow after 8 warm passes.
 * Repeat it in fresh processes to see run-to-run spread; it found serve's slow mode (V8 OSR,
 * src/service/jit.ts): compare `node dist/bench/transcode.js` with `node --no-use-osr ...`.
 *
 *   node [--no-use-osr] dist/bench/transcode.js [v9|ipfix] [seconds=3] [runs=1]
 *
 * With runs > 1 it runs itself that many times in child processes with the same node flags.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Exporter, FlowDecoder } from '../src/decode/mod.js';
import { DelimitedBatchWriter } from '../src/encode/mod.js';
import { defaultCacheDir, loadStream, type StreamName } from './serve-streams.js';

async function once(name: StreamName, seconds: number): Promise<string> {
  const st = await loadStream(name, defaultCacheDir());
  const enc = new DelimitedBatchWriter(128 * 1024);
  const w = enc.writer;
  let frames = 0;
  const sink = {
    writer: w,
    framesAdded(_type: number, n: number): void {
      frames += n;
      enc.added(n);
      if (w.pos > 65536) enc.finish();
    },
  };
  const dec = new FlowDecoder({ sink: { onFlow: (r) => enc.append(r) }, frames: sink });
  const exporters = Array.from({ length: 8 }, (_, i) => new Exporter(`127.0.2.${i + 1}`, 9999));
  const n = st.meta.datagrams;
  const pass = (k: number): void => {
    for (let i = 0; i < n; i++) dec.decode(st.data, st.offsets[i]!, st.lengths[i]!, exporters[(i + k) & 7]!, 1_700_000_000 + k, 5000);
  };
  for (let k = 0; k < 8; k++) pass(k);
  const f0 = frames;
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  let k = 8;
  while (Number(process.hrtime.bigint() - t0) < seconds * 1e9) pass(k++);
  const c = process.cpuUsage(c0);
  const flows = frames - f0;
  return `${name}: ${(((c.user + c.system) * 1000) / flows).toFixed(1)} ns CPU per flow (${flows} flows, fused ${dec.transcoded.fused}, reference path ${dec.transcoded.reference})`;
}

const [nameArg, secArg, runsArg] = process.argv.slice(2);
const name = (nameArg ?? 'v9') as StreamName;
if (name !== 'v9' && name !== 'ipfix') throw new Error(`stream: v9 or ipfix, not ${name}`);
const runs = Number(runsArg ?? 1);
if (runs > 1) {
  for (let i = 0; i < runs; i++) {
    const out = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), name, secArg ?? '3', '1'], { encoding: 'utf8' });
    process.stdout.write(`run ${i + 1}: ${out}`);
  }
} else {
  console.log(await once(name, Number(secArg ?? 3)));
}
