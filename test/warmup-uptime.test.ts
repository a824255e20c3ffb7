/**
 * After the warm-up, exporters whose times are past 2^31 ms (a router up more than 24.8 days) or
 * that send their boot time (softflowd's IPFIX) must not deoptimise the decode path. Before
 * NO_TIME (src/counting.ts) and the warm-up's long-up and boot-time exporters, the first such
 * datagram changed how the decoder's context stored those times and deoptimised decode, setCtx,
 * templateSet, transcodeSet, prepareTx and the scope look-ups at once: softflowd's IPFIX lost
 * datagrams at start-up (docs/benchmarks.md, "A sixteenth machine"). Their first data comes
 * before their templates, as at every start-up against running exporters: before the pending
 * buffer kept Buffers and headers of one shape (src/templates/pending.ts) and the warm-up
 * replayed data that waited (lateTemplates), that deoptimised decode, setCtx, the pending
 * buffer, replay and the transcoders too. An sFlow agent's sequence number past 2^31 deoptimised
 * the sFlow decoder before its datagram state started as doubles and the warm-up's sequence
 * numbers went past 2^31 (docs/benchmarks.md, "A seventeenth machine").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { runCommand } from './support/tools.js';

const CHILD = fileURLToPath(new URL('./support/warmup-uptime.js', import.meta.url));

test('after the warm-up, a router up 39 days and a softflowd-style IPFIX exporter (data before templates), v5 and sFlow past 2^31 in sequence, deoptimise nothing on the flow path', { timeout: 120_000 }, async () => {
  // serve's V8 settings (no on-stack replacement); optimising on the thread that runs the code, so
  // what was optimised before REAL does not depend on how busy the machine is.
  const r = await runCommand(process.execPath, ['--no-use-osr', '--no-concurrent-recompilation', '--trace-deopt', CHILD], { timeoutMs: 110_000 });
  assert.equal(r.code, 0, `child failed: ${r.stderr.toString().slice(-2000)}`);
  const lines = r.stdout.toString().split('\n');
  const start = lines.indexOf('REAL');
  const end = lines.indexOf('DONE');
  assert.ok(start > 0 && end > start, 'the child decoded the datagrams');
  const res = JSON.parse(lines[end + 1]!) as { datagrams: number; flows: number; errors: Record<string, number> };
  // The router's first 5 datagrams and softflowd's first 3 wait for their templates; every flow
  // is decoded in the end.
  assert.deepEqual(res.errors, { 'template.missing': 8 });
  // v9, IPFIX, v5 (20 per datagram), sFlow (4 flow samples per datagram).
  assert.equal(res.flows, 600 * 20 + 600 * 12 + 300 * 20 + 300 * 4);
  // Nothing at all: not the per-datagram and per-set code, not the transcoders (the router's
  // layout is new and optimised on its own traffic), not the options path. (softflowd's real
  // options, from its pcap, still deoptimise optionsSet and onOptions once: docs/benchmarks.md.)
  const after = lines.slice(start + 1, end).filter((l) => l.includes('[bailout'));
  assert.deepEqual(
    after.map((l) => l.replace(/0x[0-9a-f]+ /g, '').slice(0, 200)),
    [],
    'deoptimisations after the warm-up',
  );
});
