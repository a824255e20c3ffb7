/**
 * bench/duty.ts: the same work in bursts at several duty cycles against the same work without a
 * pause. Its options fail naming the bad piece, its report divides by the no-pause cell, and a
 * short real run pinned to a core with --keep-awake prints every cell, runs its busy loop and
 * leaves no process behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cellName, parseCells, parseWakes, report, reportWakes } from '../bench/duty.js';
import { readStat } from '../bench/proc.js';
import { skipUnlessCommands } from './support/tools.js';

const DUTY = fileURLToPath(new URL('../bench/duty.js', import.meta.url));

/** Live processes in process group `pgid`. */
function inGroup(pgid: number): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => readStat(Number(d))?.pgrp === pgid)
    .map(Number);
}

test('bench duty: --cells parses burst/period pairs and names the piece it cannot read', () => {
  assert.deepEqual(parseCells('10/100,100/100,2.5/50'), [
    { burstMs: 10, periodMs: 100 },
    { burstMs: 100, periodMs: 100 },
    { burstMs: 2.5, periodMs: 50 },
  ]);
  assert.throws(() => parseCells('10/100,10-100'), /--cells: want burst\/period in ms \(such as 10\/100\), got 10-100/);
  assert.throws(() => parseCells('0/100'), /got 0\/100/);
  assert.equal(cellName({ burstMs: 10, periodMs: 100 }), '10/100 ms (10 %)');
  assert.equal(cellName({ burstMs: 200, periodMs: 100 }), 'no pause');
});

test('bench duty: each cell is reported over the median of the last no-pause cell', () => {
  const cells = parseCells('10/100,100/100');
  const lines = report(new Map([['alu', { per: 'ns per 1,000 steps', byCell: [[12, 13, 11], [10, 9, 11]] }]]), cells);
  assert.ok(lines.includes('| 10/100 ms (10 %) | 12.0, 13.0, 11.0 | 12.0 | 1.200x |'), lines.join('\n'));
  assert.ok(lines.includes('| no pause | 10.0, 9.0, 11.0 | 10.0 | 1.000x |'), lines.join('\n'));
  const noRef = report(new Map([['alu', { per: 'x', byCell: [[12]] }]]), parseCells('10/100'));
  assert.ok(noRef.includes('| 10/100 ms (10 %) | 12.0 | 12.0 | - |'), noRef.join('\n'));
});

test('bench duty: --wakes parses sleep lengths, and its table gives µs per wake-up and per second', () => {
  assert.deepEqual(parseWakes('1,10,2.5'), [1, 10, 2.5]);
  assert.throws(() => parseWakes('1,0'), /--wakes: want sleep lengths in ms \(such as 1,10,100\), got 0/);
  assert.throws(() => parseWakes('1,x'), /got x/);
  const lines = reportWakes([10, 1000], [[40, 60, 50], [500]]);
  assert.ok(lines.includes('| 10 ms | 40.0, 60.0, 50.0 | 50.0 | 5000.0 |'), lines.join('\n'));
  assert.ok(lines.includes('| 1000 ms | 500.0 | 500.0 | 500.0 |'), lines.join('\n'));
});

test('bench duty: --work none --wakes measures only the wake-ups', { timeout: 60_000 }, async () => {
  const child = spawn(process.execPath, [DUTY, '--work', 'none', '--wakes', '5,20', '--seconds', '0.2', '--rounds', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  assert.equal(code, 0, `the run exits by itself: ${err}`);
  assert.doesNotMatch(out, /#### alu|#### decode/);
  for (const ms of [5, 20]) {
    const row = new RegExp(`\\| ${ms} ms \\| ([\\d.]+), ([\\d.]+) \\| ([\\d.]+) \\| ([\\d.]+) \\|`).exec(out);
    assert.ok(row, out);
    // A wake-up costs some CPU, and the per-second figure is the median times the wake-ups a
    // second (the median as printed is rounded to 0.05 either way).
    assert.ok(Number(row[3]) > 0, `a wake-up after ${ms} ms costs CPU: ${row[0]}`);
    assert.ok(Math.abs(Number(row[4]) - (Number(row[3]) * 1000) / ms) <= (0.05 * 1000) / ms + 0.05, row[0]);
  }
  const none = spawn(process.execPath, [DUTY, '--work', 'none'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let noneErr = '';
  none.stderr.on('data', (d) => (noneErr += d));
  assert.notEqual(await new Promise<number | null>((r) => none.on('exit', r)), 0);
  assert.match(noneErr, /--work none needs --wakes/);
});

test('bench duty: a short run pinned to core 0 and kept awake measures every cell and stops its busy loop', { skip: skipUnlessCommands('taskset', 'chrt'), timeout: 60_000 }, async () => {
  // Its own process group, so anything it leaves running can be found after it exits.
  const child = spawn(process.execPath, [DUTY, '--work', 'alu', '--seconds', '0.4', '--rounds', '2', '--cells', '20/100,100/100', '--core', '0', '--keep-awake'], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  // A run that does not end (its busy loop holding it open, say) is killed with its group.
  const guard = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 30_000);
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  clearTimeout(guard);
  assert.equal(code, 0, `the run exits by itself: ${err}`);
  const heading = /kept awake by a SCHED_IDLE busy loop \(([\d.]+) s CPU\)/.exec(out);
  assert.ok(heading, out);
  // The bursts leave 80 % of 0.8 s idle; the loop runs in it.
  assert.ok(Number(heading[1]) > 0.1, `the busy loop ran (${heading[1]} s)`);
  assert.match(out, /\| 20\/100 ms \(20 %\) \| [\d.]+, [\d.]+ \| [\d.]+ \| [\d.]+x \|/);
  assert.match(out, /\| no pause \| [\d.]+, [\d.]+ \| [\d.]+ \| 1\.000x \|/);
  await new Promise((r) => setTimeout(r, 200));
  const left = inGroup(child.pid!);
  for (const pid of left) process.kill(pid, 'SIGKILL');
  assert.deepEqual(left, [], 'no process of the run is left');
});
