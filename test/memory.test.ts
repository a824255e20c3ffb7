/**
 * serve gives freed memory back to the system now and then (src/service/memory.ts), so that large
 * freed blocks (output batches, an output queue's messages after a NATS outage) leave resident
 * memory. A child process frees 200 MiB of 1 MiB Buffers that were allocated between small live
 * ones: glibc keeps most of it resident (the control), and the trim gives it back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadAddon } from '../src/ingest/mod.js';
import { trimFreedMemory } from '../src/service/mod.js';

const CHILD = fileURLToPath(new URL('./support/malloc-retention.js', import.meta.url));
const glibc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime;
const skip = loadAddon().addon === null ? 'the native addon is not built' : glibc === undefined ? 'not glibc' : false;

interface Child {
  state: string;
  trims: number;
  before: number;
  held: number;
  freed: number;
  after: number;
}

function run(mode: 'trim' | 'none'): Child {
  return JSON.parse(execFileSync(process.execPath, [CHILD, mode], { encoding: 'utf8' })) as Child;
}

test('200 MiB of freed 1 MiB Buffers stay resident under glibc, and the trim gives them back', { skip }, () => {
  const trimmed = run('trim');
  assert.equal(trimmed.state, 'every 3600 s');
  assert.equal(trimmed.trims, 2, 'one at its start, one asked for');
  assert.ok(trimmed.held - trimmed.before > 180, `the Buffers were resident: ${JSON.stringify(trimmed)}`);
  assert.ok(trimmed.freed - trimmed.before > 60, `glibc kept the freed memory: ${JSON.stringify(trimmed)}`);
  assert.ok(trimmed.after - trimmed.before < 30, `the trim gave it back: ${JSON.stringify(trimmed)}`);
  const control = run('none');
  assert.equal(control.state, 'none');
  assert.ok(control.after - control.before > 60, `control, no trimmer: ${JSON.stringify(control)}`);
});

test('on the dgram path (FLOW_COLLECTOR_INGEST=dgram) the trimmer does nothing', () => {
  const t = trimFreedMemory({ path: 'dgram', reason: 'FLOW_COLLECTOR_INGEST=dgram' }, 1000);
  assert.match(t.state, /^off \(FLOW_COLLECTOR_INGEST=dgram/);
  assert.equal(t.trimNow(), false);
  t.stop();
});
