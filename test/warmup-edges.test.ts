/**
 * After the warm-up, a real exporter's first records must not deoptimise what it optimised,
 * whatever values their fields hold: V8 compiles a compare that never ran as a deoptimisation,
 * and a transcoder thrown away at start-up ran unoptimised for 120-340 ms while datagrams queued
 * (softflowd's and pmacctd's first flows with interface 0 did it; docs/benchmarks.md). The child
 * program runs a warmed-up worker pipeline on a real socket and sends it the warm-up's own
 * templates, then records in which each numeric field in turn takes a value of every range of
 * its width (and NetFlow v5 records and sFlow samples likewise); V8's own deoptimisation trace must show nothing from the first data on. A layout
 * the warm-up has not seen, optimised on traffic with no field 0, must not be deoptimised by 0s
 * either (the transcoders test a field for 0 before anything else).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { runCommand } from './support/tools.js';

const CHILD = fileURLToPath(new URL('./support/warmup-edges.js', import.meta.url));

test('after the warm-up, records with 0, 2^21, 2^32 ... in any numeric field deoptimise nothing, nor 0s a transcoder never saw', { timeout: 120_000 }, async () => {
  // serve's V8 settings (src/service/jit.ts): no on-stack replacement. And V8 optimising on the
  // thread that runs the code (serve's does it on helper threads): a function is optimised as soon
  // as it is hot, so what was optimised before REAL does not depend on how busy the machine is.
  const r = await runCommand(process.execPath, ['--no-use-osr', '--no-concurrent-recompilation', '--trace-opt', '--trace-deopt', CHILD], { timeoutMs: 110_000 });
  assert.equal(r.code, 0, `child failed: ${r.stderr.toString().slice(-2000)}`);
  const lines = r.stdout.toString().split('\n');
  const fresh = lines.indexOf('FRESH');
  const start = lines.indexOf('REAL');
  const sent = lines.indexOf('SENT');
  const end = lines.indexOf('DONE');
  assert.ok(fresh > 0 && start > fresh && sent > start && end > sent, 'the child sent the records and saw them written');
  const res = JSON.parse(lines.filter((l) => l.startsWith('{')).pop()!) as { sent: number; flows: number; written: number; datagrams: number; counters: Record<string, number>; byType: Record<string, number>; sflow: number };
  assert.equal(res.datagrams, res.sent);
  assert.equal(res.written, res.flows);
  assert.equal(['netflow_v9', 'ipfix', 'netflow_v5'].reduce((a, p) => a + (res.counters[`records.${p}`] ?? 0), 0) + res.sflow, res.flows);
  assert.ok((res.counters['records.netflow_v5'] ?? 0) > 90, 'NetFlow v5 records too');
  assert.ok(res.sflow > 100 && res.byType['sflow'] === res.sflow, `sFlow samples too: ${JSON.stringify(res.byType)}`);
  // Every field of every warm-up template, v9 and IPFIX, and of v5: hundreds of records.
  assert.ok(res.flows > 6500, `${res.flows} flows`);
  // The layout the warm-up has not seen was optimised on its non-zero traffic before REAL (else
  // its zeros after REAL would show nothing either way).
  const name = (l: string) => /<JSFunction (\S+)/.exec(l)?.[1] ?? '';
  // (--trace-opt's line when V8 optimised a function, synchronously as here or not.)
  const optimised = (l: string) => /^\[completed (compiling|optimizing) .*TURBOFAN/.test(l);
  const warmed = new Set(lines.slice(0, fresh).filter(optimised).map(name));
  const freshOnes = lines.slice(fresh, start).filter((l) => optimised(l) && /^transcodeV9_/.test(name(l)) && !warmed.has(name(l)));
  assert.ok(freshOnes.length > 0, 'the fresh layout\'s transcoder was optimised before REAL');
  // From SENT on the program waits for the output (until, its `written`, the outputs' stats):
  // their own deoptimisations are not the flow path's.
  const waiting = new Set(['until', 'written', 'stats']);
  const after = lines.slice(start + 1, end).filter((l, i) => l.includes('[bailout') && !(start + 1 + i > sent && waiting.has(name(l))));
  assert.deepEqual(
    after.map((l) => l.replace(/0x[0-9a-f]+ /g, '').slice(0, 220)),
    [],
    'deoptimisations after the warm-up',
  );
});
