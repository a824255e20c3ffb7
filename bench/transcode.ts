/**
 * The decode -> flowpb transcoder alone, no I/O: the serve benchmark's replay stream (softflowd
 * NetFlow v9 or pmacctd IPFIX, bench/serve-streams.ts) decoded over and over from 8 exporters in
 * turn by one FlowDecoder with a frame sink, CPU nanoseconds per flow after 8 warm passes.
 * Repeat it in fresh processes to see run-to-run spread; it found serve's slow mode (V8 OSR,
 * src/service/jit.ts): compare `node dist/bench/transcode.js` with `node --no-use-osr ...`.
 *
 *   node [--no-use-osr] dist/bench/transcode.js [v9|ipfix] [seconds=3] [runs=1] [--cache DIR] [--interface-names]
 *
 * --cache: the stream cache (default bench/.cache; the stream is built there when missing).
 * --interface-names: as serve with `sampling.interface_names: true` (softflowd's v9 sends two
 * names: 38 more bytes on every flow); by default the names are left out, as serve's default is.
 * With runs > 1 it runs itself that many times in child processes with the same node flags.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { eachOption } from './args.js';
import { decodeLoop } from './decode-loop.js';
import type { StreamName } from './serve-streams.js';

async function once(name: StreamName, seconds: number, cacheDir: string | undefined, interfaceNames: boolean): Promise<string> {
  const loop = await decodeLoop(name, cacheDir, interfaceNames);
  for (let k = 0; k < 8; k++) loop.pass(k);
  const f0 = loop.frames();
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  let k = 8;
  while (Number(process.hrtime.bigint() - t0) < seconds * 1e9) loop.pass(k++);
  const c = process.cpuUsage(c0);
  const flows = loop.frames() - f0;
  const dec = loop.decoder;
  return `${name}: ${(((c.user + c.system) * 1000) / flows).toFixed(1)} ns CPU per flow (${flows} flows, fused ${dec.transcoded.fused}, reference path ${dec.transcoded.reference})`;
}

let cacheDir: string | undefined;
let interfaceNames = false;
const positional: string[] = [];
eachOption(process.argv.slice(2), (arg, value) => {
  if (arg === '--cache') cacheDir = value();
  else if (arg === '--interface-names') interfaceNames = true;
  else if (arg.startsWith('--')) throw new Error(`unknown option ${arg}`);
  else positional.push(arg);
});
const [nameArg, secArg, runsArg] = positional;
const name = (nameArg ?? 'v9') as StreamName;
if (name !== 'v9' && name !== 'ipfix') throw new Error(`stream: v9 or ipfix, not ${name}`);
const runs = Number(runsArg ?? 1);
if (runs > 1) {
  for (let i = 0; i < runs; i++) {
    const out = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), name, secArg ?? '3', '1', ...(cacheDir !== undefined ? ['--cache', cacheDir] : []), ...(interfaceNames ? ['--interface-names'] : [])], { encoding: 'utf8' });
    process.stdout.write(`run ${i + 1}: ${out}`);
  }
} else {
  console.log(await once(name, Number(secArg ?? 3), cacheDir, interfaceNames));
}
