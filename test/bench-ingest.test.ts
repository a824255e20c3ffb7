/**
 * bench/ingest.ts rate mode, the receive-only control of issue 8's 20k-against-100k goal: with
 * --core the receiver runs on that core and the sender on another, --adaptive reads as serve does
 * (the wait shrinks to keep the buffer an eighth full), and each run reports its CPU split into
 * user and system time. `--paths c` runs the C reference receiver (the kernel's receive alone, with
 * the addon's options, batches and waits) the same way. Bad core and path arguments fail naming the
 * flag.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { loadAddon } from '../src/ingest/mod.js';
import { runCommand, skipUnlessCommands } from './support/tools.js';

const INGEST = fileURLToPath(new URL('../bench/ingest.js', import.meta.url));

interface RateRow {
  path: string;
  sent: number;
  received: number;
  kernelDrops: number | null;
  cpuUsPerDatagram: number;
  userUsPerDatagram: number;
  systemUsPerDatagram: number;
  adaptive: boolean;
  waitUs: number | null;
  receiverCores: string;
  senderCores: string;
}

async function rateRun(extra: string[], rows = 1): Promise<{ row: RateRow; rows: RateRow[]; text: string }> {
  // 4,000 datagrams/s into a small buffer (256 KiB asked; 1 MiB granted here): a fixed 50 ms wait
  // fits (~200 datagrams a wait), and adaptive pacing must choose a shorter one (~13 ms here) to
  // keep the buffer at most an eighth full.
  const args = ['--mode', 'rate', '--paths', 'addon', '--rates', '4000', '--pacing', '50000', '--duration', '1.5', '--rcvbuf', '262144', '--segments', '1', '--core', '0', '--json', ...extra];
  const r = await runCommand(process.execPath, [INGEST, ...args], { timeoutMs: 60_000 });
  const text = r.stdout.toString();
  assert.equal(r.code, 0, r.stderr.toString());
  const json = JSON.parse(text.slice(text.indexOf('\n{\n') + 1)) as { rate: RateRow[] };
  assert.equal(json.rate.length, rows);
  return { row: json.rate[0]!, rows: json.rate, text };
}

const skip = skipUnlessCommands('taskset') || (cpus().length < 2 ? 'needs two cores' : false) || (loadAddon().addon ? false : 'native addon not built');

test('bench ingest: --core pins the receiver and the sender apart; a fixed wait is kept, --adaptive shortens it', { skip, timeout: 90_000 }, async () => {
  const fixed = await rateRun([]);
  const adaptive = await rateRun(['--adaptive']);
  for (const { row, text } of [fixed, adaptive]) {
    assert.equal(row.received, row.sent, 'every datagram received');
    assert.equal(row.kernelDrops, 0);
    assert.equal(row.receiverCores, '0');
    assert.equal(row.senderCores, '1');
    assert.match(text, /receiver on core 0, sender on core 1/);
    assert.match(text, /V8's memory reducer off\)/, 'measured without the memory reducer');
    assert.ok(Math.abs(row.userUsPerDatagram + row.systemUsPerDatagram - row.cpuUsPerDatagram) < 1e-9, 'user + system = the CPU per datagram');
    assert.ok(row.systemUsPerDatagram > 0, 'recvmmsg shows as system time');
  }
  assert.equal(fixed.row.adaptive, false);
  assert.equal(fixed.row.waitUs, 50_000, 'a fixed wait is the --pacing value');
  assert.match(fixed.text, /pacing µs = a fixed wait/);
  assert.equal(adaptive.row.adaptive, true);
  assert.match(adaptive.text, /pacing µs = adaptive pacing: the longest wait/);
  const w = adaptive.row.waitUs!;
  assert.ok(w >= 1000 && w < 50_000, `adaptive pacing chose ${w} µs: shorter than the 50 ms cap for a small buffer at 4,000/s`);
});

test('bench ingest: --paths c runs the C reference receiver on the receiver core, reading every datagram with the addon\'s waits', { skip: skip || skipUnlessCommands('cc'), timeout: 120_000 }, async () => {
  // The later of two --paths wins; --paths c alone then addon,c in one run, fixed and adaptive.
  const fixed = await rateRun(['--paths', 'c']);
  const both = await rateRun(['--paths', 'addon,c', '--adaptive'], 2);
  const [addon, c] = both.rows as [RateRow, RateRow];
  assert.equal(fixed.row.path, 'c');
  assert.equal(addon.path, 'addon');
  assert.equal(c.path, 'c');
  for (const row of [fixed.row, c]) {
    assert.equal(row.received, row.sent, 'every datagram received');
    assert.equal(row.kernelDrops, 0);
    assert.equal(row.receiverCores, '0', 'the reference runs on the receiver core');
    assert.equal(row.senderCores, '1');
    assert.ok(row.systemUsPerDatagram > 0, 'recvmmsg shows as system time');
    assert.ok(Math.abs(row.userUsPerDatagram + row.systemUsPerDatagram - row.cpuUsPerDatagram) < 1e-9);
  }
  assert.equal(fixed.row.adaptive, false);
  assert.equal(fixed.row.waitUs, 50_000, 'a fixed wait is the --pacing value');
  assert.equal(c.adaptive, true);
  // The same rule as the addon: a small buffer at 4,000/s gets a wait well under the 50 ms cap.
  for (const row of [addon, c]) assert.ok(row.waitUs! >= 1000 && row.waitUs! < 50_000, `${row.path} chose ${row.waitUs} µs`);
  assert.ok(Math.abs(c.waitUs! - addon.waitUs!) < 0.5 * addon.waitUs!, `c waits ${c.waitUs} µs, the addon ${addon.waitUs}: the same rule`);
  assert.match(both.text, /^\| c \| 50000 \|/m);
});

test('bench ingest: bad --core / --sender-core / --paths values fail naming the flag', { skip: skipUnlessCommands('taskset') }, async () => {
  const cases: [string[], RegExp][] = [
    [['--core', 'x'], /--core wants a core number \(0, 1, \.\.\.\), not "x"/],
    [['--core', '0', '--sender-core', '0'], /--sender-core: 0 is the receiver's core; give another/],
    [['--sender-core', '1'], /--sender-core needs --core/],
    [['--core', '4096'], /--core: core 4096 does not exist \(this machine has \d+: 0-\d+\)/],
    [['--paths', 'addon,x'], /--paths: unknown path "x" \(addon, dgram, c\)/],
  ];
  for (const [args, msg] of cases) {
    const r = await runCommand(process.execPath, [INGEST, '--mode', 'rate', ...args], { timeoutMs: 30_000 });
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr.toString(), msg);
  }
});
