/**
 * The serve benchmark end to end, small: `dist/bench/serve.js` builds the softflowd v9 stream
 * (a real exporter), runs serve and nfcapd on it at a low rate with the rotating output, and
 * accounts for every flow sent, counted across the rotated pieces. What it measures is not
 * asserted (figures depend on the machine); that it counts right is.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAddon } from '../src/ingest/mod.js';
import { makeTempDir, skipUnlessCommands } from './support/tools.js';

const BENCH = fileURLToPath(new URL('../bench/serve.js', import.meta.url));
const tmp = makeTempDir('fc-bench-run-');
after(() => tmp.cleanup());

const skip = skipUnlessCommands('softflowd', 'nfcapd', 'nfdump', 'taskset') || (loadAddon().addon ? false : 'the native addon is not built');

interface Run {
  collector: string;
  decoded: number;
  decodedShare: number;
  sinkPieces: number;
  outputProblems: string[];
  sender: { flows: number; datagrams: number };
  received: number | undefined;
  unaccounted: number | undefined;
  hostProbeNs: number | undefined;
  awakeSeconds: number | undefined;
  windowSeconds: number;
  otherCpuShare: number;
}

/** Processes running the --keep-awake busy loop's shell command. */
function busyLoops(): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('while :; do :; done')) pids.push(Number(d));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

test('bench/serve: an --out-dir that does not exist is refused before anything runs, naming the option', { timeout: 60_000 }, async () => {
  const missing = join(tmp.dir, 'no-such-dir');
  const stderr = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [BENCH, '--streams', 'v9', '--rates', '2000', '--cache', join(tmp.dir, 'cache-unused'), '--out-dir', missing], { timeout: 50_000 }, (err, _out, errText) =>
      err ? resolve(errText) : reject(new Error('the bench ran with a missing --out-dir')),
    ),
  );
  assert.match(stderr, new RegExp(`--out-dir ${missing}: no such directory`));
  assert.equal(existsSync(join(tmp.dir, 'cache-unused')), false, 'nothing was built');
});

test('bench/serve: serve and nfcapd at 2,000 datagrams/s, output rotated, every flow counted', { skip, timeout: 180_000 }, async () => {
  const json = join(tmp.dir, 'out.json');
  const serveOutput = join(tmp.dir, 'serve-output.txt');
  const args = [
    BENCH,
    '--streams', 'v9',
    '--rates', '2000',
    '--workers', '1',
    '--collectors', 'serve,nfcapd',
    '--reps', '1',
    '--duration', '3',
    '--warmup', '1',
    '--wait-quiet', '0',
    '--retry-busy', '0',
    '--cache', join(tmp.dir, 'cache'),
    '--out-dir', tmp.dir,
    '--json', json,
    '--node-args', '--trace-gc',
    '--serve-output', serveOutput,
    '--host-probe', '0.3',
    '--keep-awake',
  ];
  const loopsBefore = busyLoops();
  await new Promise<void>((resolve, reject) =>
    execFile(process.execPath, args, { timeout: 170_000, maxBuffer: 16 << 20 }, (err, _out, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve())),
  );
  const out = JSON.parse(readFileSync(json, 'utf8')) as { runs: Run[]; args: { sink: string }; machine: { nproc: number } };
  assert.equal(out.args.sink, 'rotate');
  const byCollector = new Map(out.runs.map((r) => [r.collector, r]));
  for (const name of ['serve', 'nfcapd']) {
    const r = byCollector.get(name);
    assert.ok(r, `${name} ran`);
    assert.deepEqual(r.outputProblems, [], name);
    // Every datagram sent was read or dropped (2,000/s drops none), every flow is in the output.
    assert.equal(r.unaccounted, 0, name);
    assert.equal(r.received, r.sender.datagrams, name);
    assert.equal(r.decoded, r.sender.flows, name);
    assert.equal(r.decodedShare, 1, name);
    // --host-probe: the decode loop timed on the collector's core before the run.
    assert.ok(typeof r.hostProbeNs === 'number' && r.hostProbeNs > 0, `${name}: host probe ${r.hostProbeNs}`);
    // --keep-awake: a busy loop took the collector's core whenever the collector did not (at
    // 2,000 datagrams/s most of the window), and its CPU is not counted as other load: counted,
    // the other load would be at least the loop's own seconds (plus the machine's background, which
    // on some hosts is a quarter of the two cores by itself, so no fixed bound).
    assert.ok(typeof r.awakeSeconds === 'number' && r.awakeSeconds > 0.3 * r.windowSeconds, `${name}: busy loops ${r.awakeSeconds} s in a ${r.windowSeconds} s window`);
    const otherSeconds = r.otherCpuShare * r.windowSeconds * out.machine.nproc;
    assert.ok(otherSeconds < 0.8 * r.awakeSeconds, `${name}: other load ${otherSeconds} s against the loops' ${r.awakeSeconds} s`);
  }
  // ... and the loops ended with their runs.
  assert.deepEqual(busyLoops().filter((p) => !loopsBefore.includes(p)), []);
  // serve's file was rotated under load (every second), nfcapd's by its own -t 3.
  assert.ok(byCollector.get('serve')!.sinkPieces >= 2, `serve: ${byCollector.get('serve')!.sinkPieces} pieces`);
  assert.ok(byCollector.get('nfcapd')!.sinkPieces >= 1, `nfcapd: ${byCollector.get('nfcapd')!.sinkPieces} pieces`);
  // --serve-output: serve's non-JSON output (here --trace-gc's lines) under a header naming the
  // run and when its window opened; nothing of nfcapd's, and none of serve's JSON log lines.
  const text = readFileSync(serveOutput, 'utf8');
  const heads = text.split('\n').filter((l) => l.startsWith('# '));
  assert.equal(heads.length, 1, text.slice(0, 500));
  assert.match(heads[0]!, /^# serve v9 2000\/s w1 rep 1: window from \d+\.\d\d s after the start$/);
  assert.match(text, /ms: (Scavenge|Mark-Compact)/);
  assert.doesNotMatch(text, /^\{/m);
});
