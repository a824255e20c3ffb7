/**
 * The serve benchmark's rotating sinks (bench/sink.ts) against the real collectors: serve
 * reopening its file on SIGHUP while the bench renames, counts and deletes pieces under load,
 * and nfcapd rotating its own files (-t 3). Every flow sent is counted exactly once, across the
 * pieces, and nothing is left behind.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { NFCAPD_ROTATE_SECONDS, RotatedDelimitedFile, RotatedNfcapdDir, fileSize, heldOpen } from '../bench/sink.js';
import { metric, runCli, scrape, startServe, until } from './support/serve.js';
import { makeTempDir, skipUnlessCommands } from './support/tools.js';
import { freeUdpPort } from '../bench/proc.js';

const tmp = makeTempDir('fc-sink-');
after(() => tmp.cleanup());

interface Blasted {
  flows: number;
  datagrams: number;
}

/** Runs `flow-collector blast --synth v9` at the port while `tick()` runs every tickMs. */
async function blastWhileRotating(port: number, tick: () => void, tickMs: number, args: string[]): Promise<Blasted> {
  const t = setInterval(tick, tickMs);
  try {
    const r = await runCli(['blast', '--json', '--target', `127.0.0.1:${port}`, '--synth', 'v9', '--exporters', '2', ...args], {}, 60_000);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Blasted;
  } finally {
    clearInterval(t);
  }
}

/**
 * serve with `args` writing flowpb to `path`, rotated by a RotatedDelimitedFile (`rotateMs`,
 * `mode`) ticked every `tickMs` while `flow-collector blast` sends `blast`; returns what the
 * sink counted, what serve's "stopped" line says and what was sent.
 */
async function rotateServe(
  path: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  sinkOpts: { rotateMs: number; mode?: 'frames' | 'sizes'; tickMs: number },
  blast: string[],
): Promise<{ c: ReturnType<RotatedDelimitedFile['finish']>; stopped: Record<string, unknown>; sent: Blasted }> {
  const s = await startServe([...args, '--output', `file:${path}`, '--format', 'flowpb', '--metrics-addr', '127.0.0.1:0'], env);
  const sink = new RotatedDelimitedFile(path, s.proc.pid!, false, sinkOpts.rotateMs, sinkOpts.mode);
  let sent: Blasted;
  try {
    assert.ok(heldOpen(s.proc.pid!, path), 'serve holds its output file open');
    sent = await blastWhileRotating(s.listeners[0]!.port, () => sink.tick(), sinkOpts.tickMs, blast);
    await until(async () => metric(await scrape(s.metricsUrl), 'flow_collector_flows_delivered_total') === sent.flows, `${sent.flows} flows delivered`, 20_000);
    sink.tick();
  } finally {
    assert.equal(await s.stop('SIGTERM'), 0);
  }
  return { c: sink.finish(), stopped: s.logs.find((l) => l['msg'] === 'flow-collector stopped')!, sent };
}

test('rotating sink: serve reopens on SIGHUP; each flow is counted once across the pieces, deleted as soon as serve writes to the next', async () => {
  const dir = join(tmp.dir, 'serve');
  mkdirSync(dir);
  const path = join(dir, 'flows.pb');
  const s = await startServe(['--listen', '127.0.0.1:0', '--output', `file:${path}`, '--format', 'flowpb', '--metrics-addr', '127.0.0.1:0']);
  const sink = new RotatedDelimitedFile(path, s.proc.pid!, false, 250);
  // The files in the directory before each tick: the collector's file and at most the piece it
  // has left since the last tick, never an older one. A piece is taken at the first tick after
  // the collector wrote to its new file: one still there after such a tick was taken late.
  let most = 0;
  let late = 0;
  const tick = () => {
    const before = readdirSync(dir);
    most = Math.max(most, before.length);
    const written = fileSize(path) > 0;
    sink.tick();
    if (written) for (const f of before) if (f !== 'flows.pb' && existsSync(join(dir, f))) late++;
  };
  let sent: Blasted;
  try {
    // ~4 s of v9 at 2,000 datagrams/s, ticks every 100 ms, a rotation every 250 ms: about 16 pieces.
    sent = await blastWhileRotating(s.listeners[0]!.port, tick, 100, ['--rate', '2000', '--duration', '4']);
    await until(async () => metric(await scrape(s.metricsUrl), 'flow_collector_flows_delivered_total') === sent.flows, `${sent.flows} flows delivered`, 20_000);
    sink.tick(); // one more rotation after the load: the last piece is counted by finish()
  } finally {
    assert.equal(await s.stop('SIGTERM'), 0);
  }
  const c = sink.finish();
  assert.deepEqual(c.problems, []);
  assert.ok(sent.flows > 10_000, `blast sent ${sent.flows} flows`);
  assert.equal(c.records, sent.flows);
  assert.ok(c.pieces >= 8, `${c.pieces} pieces rotated`);
  assert.ok(most <= 2, `${most} files in the directory before a tick: finished pieces were left for a rotation`);
  assert.equal(late, 0, 'pieces still there after a tick that followed a write to the new file');
  // Serve logged each reopen, and nothing is left in the directory.
  assert.ok(s.logs.filter((l) => l['msg'] === 'SIGHUP: reopening output files').length >= 8);
  assert.deepEqual(readdirSync(dir), []);
  assert.ok(sink.cpuSeconds > 0);
});

test('rotating sink, --count sizes: pieces are measured and deleted unread; their bytes are what serve says it wrote', async () => {
  const dir = join(tmp.dir, 'serve-sizes');
  mkdirSync(dir);
  const path = join(dir, 'flows.pb');
  const { c, stopped, sent } = await rotateServe(path, ['--listen', '127.0.0.1:0'], {}, { rotateMs: 250, mode: 'sizes', tickMs: 100 }, ['--rate', '2000', '--duration', '2']);
  assert.deepEqual(c.problems, []);
  assert.equal(c.framesCounted, false);
  assert.equal(c.records, 0);
  assert.ok(c.pieces >= 4, `${c.pieces} pieces rotated`);
  assert.equal(stopped['delivered'], sent.flows);
  assert.ok(c.bytes > 50 * sent.flows, `${c.bytes} bytes for ${sent.flows} flows`);
  assert.equal(c.bytes, stopped['output_bytes']);
  assert.deepEqual(readdirSync(dir), []);
});

test('rotating sink, two workers: a piece is taken only when neither worker writes to it any more; its bytes are what serve wrote', async () => {
  // Each worker has its own descriptor and reopens when it gets to the SIGHUP's message: a
  // piece taken at the first write to the new file lost what the other worker still wrote.
  const dir = join(tmp.dir, 'serve-2w');
  mkdirSync(dir);
  const path = join(dir, 'flows.pb');
  const env = { FLOW_COLLECTOR_LISTENERS: JSON.stringify([{ name: 'exporters', address: '127.0.0.1', port: 0, spread: 'random' }]) };
  const { c, stopped, sent } = await rotateServe(path, ['--workers', '2'], env, { rotateMs: 100, tickMs: 50 }, ['--rate', '4000', '--duration', '3']);
  assert.deepEqual(c.problems, []);
  assert.equal(c.records, sent.flows);
  assert.equal(c.bytes, stopped['output_bytes']);
  assert.ok(c.pieces >= 8, `${c.pieces} pieces rotated`);
  assert.deepEqual(readdirSync(dir), []);
});

/**
 * A collector with two descriptors on its file, like serve's two workers, one of which switches
 * 300 ms after the SIGHUP (a busy worker, exaggerated) while both keep writing 4-byte frames.
 * Prints the frames it wrote when it gets SIGTERM.
 */
const TWO_WRITERS = `
const fs = require('fs');
const path = process.argv[1];
let a = fs.openSync(path, 'a'), b = fs.openSync(path, 'a'), n = 0;
const frame = Buffer.from([3, 1, 2, 3]);
const t = setInterval(() => { fs.writeSync(a, frame); fs.writeSync(b, frame); n += 2; }, 5);
process.on('SIGHUP', () => { fs.closeSync(a); a = fs.openSync(path, 'a'); setTimeout(() => { fs.closeSync(b); b = fs.openSync(path, 'a'); }, 300); });
process.on('SIGTERM', () => { clearInterval(t); process.stdout.write(String(n), () => process.exit(0)); });
process.stdout.write('ready\\n');
`;

test('rotating sink: a piece one descriptor of the collector still writes to is left for a later tick; every frame is counted', async () => {
  const dir = join(tmp.dir, 'two-writers');
  mkdirSync(dir);
  const path = join(dir, 'flows.pb');
  const child = spawn(process.execPath, ['-e', TWO_WRITERS, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  await until(async () => out.startsWith('ready'), 'the writer started', 10_000);
  const sink = new RotatedDelimitedFile(path, child.pid!, false, 400);
  // Ticks that found a piece still held by the late descriptor (and so left it).
  let held = 0;
  const t = setInterval(() => {
    for (const f of readdirSync(dir)) if (f !== 'flows.pb' && heldOpen(child.pid!, join(dir, f))) held++;
    sink.tick();
  }, 50);
  await new Promise((r) => setTimeout(r, 3000));
  clearInterval(t);
  child.kill('SIGTERM');
  await exited;
  const written = Number(out.slice('ready\n'.length));
  const c = sink.finish();
  assert.deepEqual(c.problems, []);
  assert.ok(c.pieces >= 4, `${c.pieces} pieces rotated`);
  assert.ok(held > 0, 'no tick found a piece still held open');
  assert.ok(written > 500, `${written} frames written`);
  assert.equal(c.records, written);
  assert.deepEqual(readdirSync(dir), []);
});

test('rotating sink: nfcapd -t 3 files are counted with nfdump -I and deleted as they finish', { skip: skipUnlessCommands('nfcapd', 'nfdump') }, async () => {
  const dir = join(tmp.dir, 'nfcapd');
  mkdirSync(dir);
  const port = await freeUdpPort();
  const nfcapd = spawn('nfcapd', ['-b', '127.0.0.1', '-p', String(port), '-w', dir, '-t', String(NFCAPD_ROTATE_SECONDS)], { stdio: 'ignore' });
  const exited = new Promise((resolve) => nfcapd.on('exit', resolve));
  const sink = new RotatedNfcapdDir(dir);
  let sent: Blasted;
  let during: number;
  try {
    await new Promise((r) => setTimeout(r, 300));
    // 7.5 s spans at least two nfcapd rotations; pieces are taken while it runs.
    sent = await blastWhileRotating(port, () => sink.tick(), 200, ['--rate', '1000', '--duration', '7.5']);
    during = readdirSync(dir).length;
  } finally {
    nfcapd.kill('SIGTERM');
    await exited;
  }
  const c = sink.finish();
  assert.deepEqual(c.problems, []);
  assert.equal(c.records, sent.flows);
  assert.ok(c.pieces >= 3, `${c.pieces} nfcapd files`);
  // While the load ran, finished files were deleted: at most the current file and one just finished.
  assert.ok(during <= 2, `${during} files in the directory during the run`);
  assert.deepEqual(readdirSync(dir), []);
});
