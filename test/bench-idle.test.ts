/**
 * bench/idle: per-thread CPU and wake-ups of a running serve. The figures depend on the machine
 * and are not asserted; that the harness finds serve's threads and the traffic shows in them is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { threadCosts } from '../bench/idle.js';
import { skipUnlessCommands } from './support/tools.js';

const BENCH = fileURLToPath(new URL('../bench/idle.js', import.meta.url));

test('bench/idle threadCosts: per-second CPU and runs of the threads present in both samples', () => {
  const a = new Map([
    [10, { ns: 1e6, runs: 5 }],
    [11, { ns: 0, runs: 0 }],
    [12, { ns: 5e6, runs: 1 }],
  ]);
  const b = new Map([
    [10, { ns: 3e6, runs: 9 }],
    [12, { ns: 5e6, runs: 1 }],
    [13, { ns: 7e6, runs: 3 }],
  ]);
  assert.deepEqual(threadCosts(10, a, b, 2), [
    { tid: 10, main: true, cpuMsPerSec: 1, runsPerSec: 2 },
    { tid: 12, main: false, cpuMsPerSec: 0, runsPerSec: 0 },
  ]);
});

function run(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(process.execPath, [BENCH, ...args], { timeout: 120_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))),
  );
}

test('bench/idle: a serve with traffic has a worker thread that runs far more than the idle threads', { skip: skipUnlessCommands('taskset'), timeout: 180_000 }, async () => {
  const out = await run(['--settle', '2', '--seconds', '2', '--rate', '2000', '--synth', 'v9']);
  assert.match(out, /blast --synth v9 at 2000\/s/);
  assert.match(out, /thread \d+ \(main\): [\d.]+ ms CPU\/s, [\d.]+ runs\/s/);
  const busiest = /busiest other thread ([\d.]+) ms\/s, ([\d.]+) runs\/s/.exec(out);
  assert.ok(busiest, out);
  // 2,000 datagrams/s read at least every 100 ms (the default read delay's cap): ten or more
  // runs a second, against an idle worker's one.
  assert.ok(Number(busiest[2]) >= 5, out);
  assert.ok(Number(busiest[1]) > 0, out);
});
