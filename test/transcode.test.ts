/**
 * The fused per-template transcoder (src/decode/transcode.ts) writes the same bytes as the
 * reference path (FlowRecord + writeFlowMessageDelimited) for every record: random streams over
 * many layouts with edge values and sampling options, the benchmark templates, the conformance
 * corpus when present, and real exporters (softflowd NetFlow v9 / IPFIX, pmacctd IPFIX). The
 * layouts exporters use must take the fast path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Exporter, FlowDecoder, FRAME_ARENA_BYTES, TranscodeCtx, claimFrameArena, compileTemplate, compileTranscoder, releaseFrameArena } from '../src/decode/mod.js';
import { TranscodeComparer, randomStream } from './support/transcode.js';
import { Rng } from '../bench/fuzz-core.js';
import { IPFIX_V4, IPFIX_V4_APPNAME, IPFIX_V6, V9_CISCO, V9_CISCO64, ipfixDatagram, v5Datagram, v9Datagram } from '../bench/datagrams.js';
import { buildTraffic, exportWithSoftflowd, killSoftflowd, pcapOf } from './support/softflowd.js';
import { killPmacctd, nfprobeConf, nfprobeTraffic, runPmacctd, skipPmacct } from './support/pmacct.js';
import { makeTempDir, skipUnlessCommands } from './support/tools.js';
import { until } from './support/wait.js';
import { writePcap } from '../src/capture/mod.js';
import { ByteWriter, splitDelimited } from '../src/encode/mod.js';
import { loadConfig } from '../src/config/mod.js';
import { Pipeline } from '../src/service/pipeline.js';
import type { WorkerInit } from '../src/service/messages.js';
import { createSocket } from 'node:dgram';
import { ipfixMessage, ipfixTemplateRecord, set, u32, ip4, str, varlen, v9Message, v9OptionsTemplateRecord, v9TemplateRecord } from './support/export-builder.js';
import { randomUUID } from 'node:crypto';
import protobuf from 'protobufjs';

const RECV = 1_773_489_600;

function feedAll(c: TranscodeComparer, datagrams: readonly Uint8Array[], exporter: Exporter, what: string): void {
  for (let i = 0; i < datagrams.length; i++) {
    const d = c.feed(datagrams[i]!, exporter, RECV + i, (i * 7_919_123) % 1e9);
    assert.equal(d, undefined, `${what}: datagram ${i}: ${d}`);
  }
}

const SAMPLING: (Record<string, unknown> | undefined)[] = [
  undefined,
  { defaults: [{ exporter: '0.0.0.0/0', rate: 7 }] },
  { overrides: [{ exporter: '192.0.2.1', rate: 3 }], renormalize: true },
  { renormalize: true },
  { defaults: [{ exporter: '::/0', rate: 1 }], renormalize: true },
];

test('transcoder: random v9 and IPFIX streams over many layouts give the reference bytes', () => {
  let fused = 0;
  let reference = 0;
  let frames = 0;
  for (let seed = 1; seed <= 240; seed++) {
    const r = new Rng(seed);
    const v9 = seed % 2 === 0;
    const c = new TranscodeComparer({ sampling: SAMPLING[seed % SAMPLING.length] });
    const ex = new Exporter(seed % 3 === 0 ? '2001:db8::1' : '192.0.2.1', 2055);
    feedAll(c, randomStream(r, { layouts: 6, datagrams: 50, v9 }), ex, `seed ${seed} (${v9 ? 'v9' : 'IPFIX'})`);
    fused += c.transcoded.fused;
    reference += c.transcoded.reference;
    frames += c.refFlows;
  }
  // Both paths ran: most layouts fused, some (lists, packet sections, MPLS) on the reference path.
  assert.ok(fused > 20_000, `fused records: ${fused}`);
  assert.ok(reference > 500, `reference-path records: ${reference}`);
  assert.equal(fused + reference, frames);
});

test('transcoder, arena form: in the frame arena, filling up at any record of a data set, gives the reference bytes', () => {
  // Each datagram's frames start a few frames short of the arena's end: the arena form stops at
  // a record (ctx.bail), the generic form grows the writer out of the arena and does the rest;
  // reset() brings the arena back for the next datagram.
  let fused = 0;
  let grew = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const r = new Rng(1000 + seed);
    const v9 = seed % 2 === 0;
    const c = new TranscodeComparer({ sampling: SAMPLING[seed % SAMPLING.length], fastStart: (i) => (i % 3 === 0 ? 0 : FRAME_ARENA_BYTES - 1536 - ((i * 389) % 2500)) });
    assert.ok(claimFrameArena(c.fastWriter), 'the arena is free');
    try {
      const arena = c.fastWriter.buf;
      assert.equal(arena.length, FRAME_ARENA_BYTES);
      feedAll(c, randomStream(r, { layouts: 6, datagrams: 40, v9 }), new Exporter('192.0.2.1', 2055), `seed ${seed} (${v9 ? 'v9' : 'IPFIX'}, arena)`);
      c.fastWriter.reset();
      assert.equal(c.fastWriter.buf, arena, 'reset() comes back to the arena');
    } finally {
      releaseFrameArena(c.fastWriter);
    }
    fused += c.transcoded.fused;
    grew += c.grew;
  }
  assert.ok(fused > 5_000, `fused records: ${fused}`);
  // Datagrams whose frames outgrew the arena (each is a stop of the arena form mid-datagram).
  assert.ok(grew > 300, `datagrams that outgrew the arena: ${grew}`);
});

test('frame arena: one writer at a time; what a writer holds moves in and out with it', () => {
  const a = new ByteWriter(64);
  const b = new ByteWriter(64);
  a.buf.set([1, 2, 3]);
  a.pos = 3;
  assert.equal(claimFrameArena(a), true);
  assert.equal(a.buf.length, FRAME_ARENA_BYTES);
  assert.deepEqual([...a.view()], [1, 2, 3]);
  assert.equal(claimFrameArena(a), true, 'the holder claiming again');
  assert.equal(claimFrameArena(b), false, 'another writer while a has it');
  assert.notEqual(b.buf.length, FRAME_ARENA_BYTES);
  // Growing out of it and back at reset().
  const arena = a.buf;
  a.pos = FRAME_ARENA_BYTES - 2;
  a.ensure(10);
  assert.notEqual(a.buf, arena);
  a.reset();
  assert.equal(a.buf, arena);
  a.buf.set([7, 8]);
  a.pos = 2;
  releaseFrameArena(b); // not the holder: nothing happens
  assert.equal(a.buf, arena);
  releaseFrameArena(a);
  assert.notEqual(a.buf, arena);
  assert.deepEqual([...a.view()], [7, 8]);
  a.reset();
  assert.notEqual(a.buf, arena, 'after release, reset() keeps the writer\'s own buffer');
  assert.equal(claimFrameArena(b), true, 'free again');
  releaseFrameArena(b);
});

test('transcoder: exporters interleaved datagram by datagram, each with its own sampler and interface tables, give the reference bytes', () => {
  // The per-data-set caches (frame prefix, sampler address, interface fields, table look-ups)
  // must follow every switch of exporter and table.
  let fused = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const r = new Rng(1000 + seed);
    const v9 = seed % 2 === 0;
    const c = new TranscodeComparer({ sampling: SAMPLING[seed % SAMPLING.length] });
    const exporters = [new Exporter('192.0.2.1', 2055), new Exporter('192.0.2.2', 2055), new Exporter('2001:db8::7', 2055)];
    const streams = exporters.map(() => randomStream(r, { layouts: 3, datagrams: 40, v9 }));
    for (let i = 0; i < 40; i++) {
      for (let e = 0; e < exporters.length; e++) {
        const d = c.feed(streams[e]![i]!, exporters[e]!, RECV + i, (i * 7_919_123 + e) % 1e9);
        assert.equal(d, undefined, `seed ${seed} exporter ${e} datagram ${i}: ${d}`);
      }
    }
    fused += c.transcoded.fused;
  }
  assert.ok(fused > 5_000, `fused records: ${fused}`);
});

test('transcoder: the benchmark templates take the fast path, same bytes', () => {
  const c = new TranscodeComparer();
  const ex = new Exporter('198.51.100.7', 9995);
  const ds: Uint8Array[] = [];
  for (const t of [V9_CISCO, V9_CISCO64]) for (let i = 0; i < 5; i++) ds.push(v9Datagram(t, 20, i === 0, { sequence: i * 20 }));
  feedAll(c, ds, ex, 'v9');
  const c2 = new TranscodeComparer();
  const ds2: Uint8Array[] = [];
  for (const t of [IPFIX_V4, IPFIX_V6, IPFIX_V4_APPNAME]) for (let i = 0; i < 5; i++) ds2.push(ipfixDatagram(t, 20, i === 0, { sequence: i * 20 }));
  feedAll(c2, ds2, ex, 'IPFIX');
  assert.equal(c.transcoded.reference + c2.transcoded.reference, 0);
  assert.equal(c.transcoded.fused, 200);
  assert.equal(c2.transcoded.fused, 300);
});

const FlowMessage = new protobuf.Root().loadSync(fileURLToPath(new URL('../../proto/flow.proto', import.meta.url)), { keepCase: true }).lookupType('flowpb.FlowMessage');

test('transcoder: layouts it does not cover get none (reference path), others get one per layout', () => {
  const list = compileTemplate({ protocol: 10, id: 300, options: false, scopeCount: 0, fields: [{ id: 8, pen: 0, length: 4 }, { id: 291, pen: 0, length: 0xffff }] });
  assert.equal(compileTranscoder(list), null);
  const mpls = compileTemplate({ protocol: 9, id: 300, options: false, scopeCount: 0, fields: [{ id: 8, pen: 0, length: 4 }, { id: 70, pen: 0, length: 3 }] });
  assert.equal(compileTranscoder(mpls), null);
  const plain = compileTemplate({ protocol: 9, id: 300, options: false, scopeCount: 0, fields: [{ id: 8, pen: 0, length: 4 }, { id: 1, pen: 0, length: 4 }] });
  const tc = compileTranscoder(plain);
  assert.equal(typeof tc, 'function');
  // Called directly (the exported API), with a fresh context and two buffers in turn: its
  // DataView follows the buffer. Records: srcAddr 10.0.0.k, bytes 1000 + k, at offset 3.
  const ctx = new TranscodeCtx();
  const w = new ByteWriter(4096);
  for (const k of [1, 2]) {
    const buf = new Uint8Array(3 + 16);
    buf.set([10, 0, 0, k, 0, 0, 3, 232 + k, 10, 0, 0, k + 10, 0, 0, 0, 7], 3);
    w.pos = 0;
    const end = tc!(buf, 3, 19, w, ctx);
    assert.equal(end, 19);
    assert.equal(ctx.n, 2);
    const msgs = splitDelimited(w.buf.subarray(0, w.pos)).map((m) => FlowMessage.decode(m) as unknown as { src_addr: Uint8Array; bytes: unknown });
    assert.deepEqual([...msgs[0]!.src_addr], [10, 0, 0, k]);
    assert.equal(Number(msgs[0]!.bytes), 1000 + k);
    assert.deepEqual([...msgs[1]!.src_addr], [10, 0, 0, k + 10]);
    assert.equal(Number(msgs[1]!.bytes), 7);
  }
});

test('transcoder: one per layout in a worker, whatever the template id or decoder; each frame carries its own id', () => {
  // Every decoder of a worker (the warm-up's, each listener's) gets the same transcoder for a
  // layout, so one warmed up serves them all; the template id comes in the context.
  const fields = [{ id: 8, pen: 0, length: 4 }, { id: 12, pen: 0, length: 4 }, { id: 1, pen: 0, length: 4 }, { id: 2, pen: 0, length: 4 }];
  const a = compileTranscoder(compileTemplate({ protocol: 9, id: 300, options: false, scopeCount: 0, fields }));
  const b = compileTranscoder(compileTemplate({ protocol: 9, id: 301, options: false, scopeCount: 0, fields }));
  const ipfix = compileTranscoder(compileTemplate({ protocol: 10, id: 300, options: false, scopeCount: 0, fields }));
  assert.equal(typeof a, 'function');
  assert.equal(a, b);
  assert.notEqual(a, ipfix, 'IPFIX writes another export_version: another transcoder');
  const buf = new Uint8Array([10, 0, 0, 1, 10, 0, 0, 2, 0, 0, 1, 0, 0, 0, 0, 4]);
  for (const id of [300, 301, 70000 % 65536]) {
    const ctx = new TranscodeCtx();
    ctx.templateId = id;
    const w = new ByteWriter(256);
    assert.equal(a!(buf, 0, buf.length, w, ctx), buf.length);
    const [m] = splitDelimited(w.buf.subarray(0, w.pos)).map((x) => FlowMessage.decode(x) as unknown as { template_id: number; bytes: unknown });
    assert.equal(m!.template_id, id);
    assert.equal(Number(m!.bytes), 256);
  }
  // Through decoders with their own template caches: the second decoder's id-301 layout is
  // the first one's id-300 transcoder, and its frames still match the reference bytes.
  const layout = [[8, 4], [12, 4], [1, 4], [2, 4], [7, 2], [11, 2], [4, 1]].map(([id, len]) => ({ id: id!, len: len! }));
  for (const id of [300, 301]) {
    const c = new TranscodeComparer();
    const ex = new Exporter('192.0.2.9', 2055);
    const recs = (k: number) => Array.from({ length: 5 }, (_, i) => [...ip4(`10.0.${k}.${i}`), ...ip4('10.9.9.9'), ...u32(1000 + i), ...u32(2 + i), 0, 80, 1, 187, 6]).flat();
    const ds = [0, 1, 2, 3, 4, 5].map((k) => v9Message(k === 0 ? [set(0, v9TemplateRecord(id, layout)), set(id, recs(k))] : [set(id, recs(k))], { seq: k }));
    feedAll(c, ds, ex, `template ${id}`);
    assert.ok(c.transcoded.fused > 0, `template ${id}: transcoded`);
  }
});

test('template ids: templates of one layout (one exporter or several) keep their own ids on both paths, and their own options rows', () => {
  // The template cache compiles a layout once and shares it; the id must come from each set.
  const layout = [[8, 4], [12, 4], [1, 4], [2, 4]].map(([id, len]) => ({ id: id!, len: len! }));
  const rec = [...ip4('10.0.0.1'), ...ip4('10.0.0.2'), ...u32(256), ...u32(4)];
  const sets = (ids: number[], k: number) => v9Message([...(k === 0 ? [set(0, ids.flatMap((id) => v9TemplateRecord(id, layout)))] : []), ...ids.map((id) => set(id, rec))], { seq: k });
  const a = new Exporter('192.0.2.21', 2055);
  const b = new Exporter('192.0.2.22', 2055);
  const feed = (dec: FlowDecoder) => {
    for (let k = 0; k < 6; k++) {
      dec.decode(sets([300, 301], k), 0, sets([300, 301], k).length, a, RECV + k, 0);
      dec.decode(sets([302], k), 0, sets([302], k).length, b, RECV + k, 0);
    }
  };
  const ids: number[] = [];
  feed(new FlowDecoder({ sink: { onFlow: (r) => ids.push(r.templateId) } }));
  assert.deepEqual(ids.slice(0, 3), [300, 301, 302]);
  assert.deepEqual(ids.slice(-3), [300, 301, 302]);
  const w = new ByteWriter(1 << 16);
  const fast = new FlowDecoder({ sink: { onFlow: () => assert.fail('fast path expected') }, frames: { writer: w, framesAdded: () => {} }, transcodeAfter: 0 });
  feed(fast);
  assert.equal(fast.transcoded.fused, 18);
  const frameIds = splitDelimited(w.buf.subarray(0, w.pos)).map((m) => (FlowMessage.decode(m) as unknown as { template_id: number }).template_id);
  assert.deepEqual(frameIds.slice(0, 6), [300, 301, 302, 300, 301, 302]);
  // Options rows of two options templates with one layout are two rows, each under its own id.
  const rows: number[] = [];
  const dec = new FlowDecoder({ sink: { onFlow: () => {} } });
  dec.observeOptions((_scope, row) => rows.push(row.templateId));
  const opt = (id: number) => [...v9OptionsTemplateRecord(id, [{ id: 2, len: 4 }], [{ id: 34, len: 4 }])];
  const m = v9Message([set(1, [...opt(260), ...opt(261)]), set(260, [...u32(1), ...u32(10)]), set(261, [...u32(2), ...u32(20)])], { seq: 0 });
  dec.decode(m, 0, m.length, a, RECV, 0);
  assert.deepEqual(rows, [260, 261]);
});

test('record readers: one per layout in a worker, shared by template caches and ids; a different layout or protocol gets its own', () => {
  const fields = [{ id: 8, pen: 0, length: 4 }, { id: 12, pen: 0, length: 4 }, { id: 1, pen: 0, length: 4 }];
  const a = compileTemplate({ protocol: 9, id: 300, options: false, scopeCount: 0, fields });
  const b = compileTemplate({ protocol: 9, id: 301, options: false, scopeCount: 0, fields });
  assert.equal(a.decode, b.decode);
  assert.equal(a.infos, b.infos);
  assert.equal(b.def.id, 301);
  assert.notEqual(compileTemplate({ protocol: 10, id: 300, options: false, scopeCount: 0, fields }).decode, a.decode);
  assert.notEqual(compileTemplate({ protocol: 9, id: 300, options: false, scopeCount: 0, fields: [...fields.slice(0, 2), { id: 1, pen: 0, length: 8 }] }).decode, a.decode);
  assert.notEqual(compileTemplate({ protocol: 9, id: 300, options: false, scopeCount: 0, fields: [...fields.slice(0, 2), { id: 2, pen: 0, length: 4 }] }).decode, a.decode);
});

test('transcoder: a fresh context holds no undefined where a transcoder compares objects', () => {
  // Transcoders, startSet and Sampling.prepare are shared by a worker's decoders and optimised
  // on the warm-up's; V8 does not record a function's first few calls, so a later decoder's
  // first data set meeting an undefined there deoptimised them all as real data began.
  const ctx = new TranscodeCtx();
  for (const k of ['bvFor', 'saFor', 'eIn', 'eOut', 'vIn', 'vOut', 'eIf', 'tablesFor'] as const) assert.equal(typeof ctx[k], 'object', k);
  assert.notEqual(ctx.eIn, undefined);
});

test('transcoder: v9 uptime times at the edges of the two-halves arithmetic give the reference bytes', () => {
  // Nanoseconds = exportSec * 1e9 + td * 1e6, added as 32-bit halves: low halves summing to
  // exactly 2^32 (a carry), one below, negative and small times (the seconds path), wrapped uptimes.
  const M = 1n << 32n;
  const inv = (a: bigint, m: bigint): bigint => {
    let [r0, r1, s0, s1] = [a % m, m, 1n, 0n];
    while (r1 !== 0n) {
      const q = r0 / r1;
      [r0, r1] = [r1, r0 - q * r1];
      [s0, s1] = [s1, s0 - q * s1];
    }
    return ((s0 % m) + m) % m;
  };
  const tpl = v9TemplateRecord(300, [{ id: 8, len: 4 }, { id: 22, len: 4 }, { id: 21, len: 4 }, { id: 1, len: 4 }]);
  const c = new TranscodeComparer();
  const ex = new Exporter('192.0.2.61', 2055);
  let seq = 0;
  for (const exportSec of [1_000_000_000, 1_773_489_600, 0xffffffff, 72_057_594, 0, 1]) {
    const eLo = (BigInt(exportSec) * 1_000_000_000n) % M;
    // td * 1e6 = k * 2^32 - eLo (mod 2^32): 1e6 = 64 * 15625, and eLo is a multiple of 64.
    const carry = Number(((((M - eLo) % M) / 64n) * inv(15625n, 1n << 26n)) % (1n << 26n));
    const tds = [carry, carry - 1, carry + 1, 0, -1, -1000, -2_000_000_000, 2_000_000_000, 999, -999];
    for (const uptime of [5_000_000, 10, 0xfffffff0]) {
      const recs = tds.flatMap((td) => [...ip4('10.1.2.3'), ...u32((uptime + td) >>> 0), ...u32((uptime + td + 1) >>> 0), ...u32(100)]);
      const d = v9Message([set(0, tpl), set(300, recs, true)], { uptime, unixSecs: exportSec, seq: seq++, count: 1 + tds.length });
      assert.equal(c.feed(d, ex, RECV, 0), undefined, `exportSec ${exportSec} uptime ${uptime}`);
    }
  }
  assert.ok(c.transcoded.fused > 100, `fused records: ${c.transcoded.fused}`);
});

test('transcoder: look-ups kept across data sets follow options that rename an interface or change a rate, and survive options repeated unchanged', () => {
  // Interface 1's name and the scope's sampler rate, as the fused path writes them, datagram by
  // datagram: its cached look-ups must be dropped when a table changes, not before.
  const frames = new ByteWriter(1 << 16);
  let n = 0;
  const dec = new FlowDecoder({ sink: { onFlow: () => assert.fail('all records take the fused path') }, frames: { writer: frames, framesAdded: (_t, k) => void (n += k) }, transcodeAfter: 0 });
  const ex = new Exporter('192.0.2.44', 2055);
  const ifOpt = ipfixTemplateRecord(500, [{ id: 10, len: 4 }, { id: 82, len: 0xffff }, { id: 34, len: 4 }], 1);
  const data = ipfixTemplateRecord(502, [{ id: 8, len: 4 }, { id: 10, len: 4 }, { id: 14, len: 4 }]);
  const rec = [...ip4('10.0.0.1'), ...u32(1), ...u32(2)];
  const opt = (name: string, rate: number) => set(500, [...u32(1), ...varlen(str(name)), ...u32(rate)]);
  const seen: { name: string; rate: number }[] = [];
  const feed = (sets: number[][], seq: number) => {
    frames.pos = 0;
    n = 0;
    const d = ipfixMessage(sets, { seq });
    assert.equal(dec.decode(d, 0, d.length, ex, 1_700_000_000, seq), undefined);
    const msgs = splitDelimited(frames.buf.subarray(0, frames.pos)).map((m) => FlowMessage.decode(m) as unknown as { in_if_name: string; sampling_rate: unknown });
    assert.equal(msgs.length, n);
    for (const m of msgs) seen.push({ name: m.in_if_name, rate: Number(m.sampling_rate) });
  };
  feed([set(3, ifOpt), set(2, data), opt('Gi0/0/1', 100), set(502, [...rec, ...rec])], 1);
  feed([opt('Gi0/0/1', 100), set(502, rec), set(502, rec)], 2);
  feed([set(502, rec), opt('Gi0/0/9', 100), set(502, rec)], 3);
  feed([set(502, rec)], 4);
  feed([opt('Gi0/0/9', 10), set(502, rec)], 5);
  feed([set(502, rec)], 6);
  assert.equal(dec.transcoded.fused, 9);
  assert.deepEqual(seen, [
    { name: 'Gi0/0/1', rate: 100 }, { name: 'Gi0/0/1', rate: 100 },
    { name: 'Gi0/0/1', rate: 100 }, { name: 'Gi0/0/1', rate: 100 },
    // Options data is applied before the datagram's data sets, wherever it sits.
    { name: 'Gi0/0/9', rate: 100 }, { name: 'Gi0/0/9', rate: 100 },
    { name: 'Gi0/0/9', rate: 100 },
    { name: 'Gi0/0/9', rate: 10 },
    { name: 'Gi0/0/9', rate: 10 },
  ]);
});

test('transcoder: data that waited for its template, replayed with its own datagram headers between the data sets of the datagram that brought it, gives the reference bytes', () => {
  // A message's per-datagram inputs (export time, uptime, sequence, receive time, sampler) are
  // prepared once per message for its data sets: each replayed set must get its own datagram's,
  // and the data sets after the replay the current one's again.
  const c = new TranscodeComparer({ sampling: { defaults: [{ exporter: '0.0.0.0/0', rate: 5 }] } });
  const ex = new Exporter('192.0.2.77', 2055);
  const tplA = v9TemplateRecord(300, [{ id: 8, len: 4 }, { id: 22, len: 4 }, { id: 21, len: 4 }, { id: 1, len: 4 }, { id: 2, len: 4 }]);
  const tplB = v9TemplateRecord(301, [{ id: 8, len: 4 }, { id: 12, len: 4 }, { id: 22, len: 4 }, { id: 21, len: 4 }, { id: 1, len: 4 }]);
  const recA = (uptime: number, k: number) => [...ip4(`10.0.0.${k}`), ...u32(uptime - 5000 - k), ...u32(uptime - 100 - k), ...u32(1000 + k), ...u32(k + 1)];
  const recB = (uptime: number, k: number) => [...ip4(`10.1.0.${k}`), ...ip4(`10.2.0.${k}`), ...u32(uptime - 7000 - k), ...u32(uptime - 300 - k), ...u32(2000 + k)];
  const msgs: { d: Buffer; recv: number }[] = [];
  const hdr = (i: number) => ({ uptime: 3_600_000 + 977_123 * i, unixSecs: 1_700_000_000 + 61 * i, seq: 100 + 13 * i });
  const h1 = hdr(1);
  msgs.push({ d: v9Message([set(0, tplA), set(300, [...recA(h1.uptime, 1), ...recA(h1.uptime, 2)]), set(301, recB(h1.uptime, 3))], h1), recv: RECV + 1 });
  const h2 = hdr(2);
  msgs.push({ d: v9Message([set(301, [...recB(h2.uptime, 4), ...recB(h2.uptime, 5)]), set(300, recA(h2.uptime, 6))], h2), recv: RECV + 50 });
  const h3 = hdr(3);
  msgs.push({ d: v9Message([set(300, recA(h3.uptime, 7)), set(0, tplB), set(301, recB(h3.uptime, 8)), set(300, recA(h3.uptime, 9))], h3), recv: RECV + 99 });
  for (const [i, m] of msgs.entries()) assert.equal(c.feed(m.d, ex, m.recv, 1000 * i), undefined, `datagram ${i + 1}`);
  // Every record took the fused path: 3 of template B replayed in datagram 3, then its own 3.
  assert.equal(c.transcoded.fused, 9);
  assert.equal(c.transcoded.reference, 0);
  assert.equal(c.refFlows, 9);
});

test('transcoder: interface names and descriptions for many ingress/egress pairs (more than are kept per entry), unknown interfaces and empty fields give the reference bytes', () => {
  // IPFIX interface options (ifIndex, interfaceName, interfaceDescription): 300 interfaces, some
  // with an empty name or description, non-ASCII in one; ifIndex 0 and 9999 are not in the table.
  const c = new TranscodeComparer();
  const ex = new Exporter('192.0.2.45', 2055);
  const ifOpt = ipfixTemplateRecord(500, [{ id: 10, len: 4 }, { id: 82, len: 0xffff }, { id: 83, len: 0xffff }], 1);
  const data = ipfixTemplateRecord(502, [{ id: 8, len: 4 }, { id: 10, len: 4 }, { id: 14, len: 4 }, { id: 1, len: 4 }]);
  const rows: number[] = [];
  for (let i = 1; i <= 300; i++) {
    const name = i % 7 === 0 ? '' : i === 5 ? 'Gi0/0/5-é' : `GigabitEthernet0/0/${i}`;
    const desc = i % 3 === 0 ? '' : `uplink ${i} to rack ${i % 4}`;
    rows.push(...u32(i), ...varlen(str(name)), ...varlen(str(desc)));
  }
  let seq = 1;
  const feed = (sets: ReturnType<typeof set>[]) => {
    const d = ipfixMessage(sets, { seq: seq++ });
    const diff = c.feed(d, ex, 1_700_000_000 + seq, seq * 1000);
    assert.equal(diff, undefined, `datagram ${seq - 1}: ${diff}`);
  };
  feed([set(3, ifOpt), set(2, data), set(500, rows)]);
  // Three ingress values against 302 egress ones (more than the 256 encoded pairs kept per
  // ingress entry), both sides changing from one record to the next, then the same pairs in
  // reverse order; 20 records per data set.
  const egress = [0, 9999, ...Array.from({ length: 300 }, (_, i) => i + 1)];
  const pairs: [number, number][] = [];
  for (const o of egress) for (const i of [1, 2, 9999]) pairs.push([i, o]);
  let recs: number[] = [];
  let k = 0;
  for (const [i, o] of [...pairs, ...pairs.slice().reverse()]) {
    recs.push(...ip4('10.0.0.1'), ...u32(i), ...u32(o), ...u32(100 + k++));
    if (recs.length === 20 * 16) {
      feed([set(502, recs)]);
      recs = [];
    }
  }
  if (recs.length > 0) feed([set(502, recs)]);
  assert.equal(c.transcoded.fused, 2 * pairs.length);
});

// The conformance corpus, when present beside the repository.
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CORPUS = resolve(REPO_ROOT, '..', 'shared', 'conformance');
const CORPUS_SKIP = existsSync(join(CORPUS, 'cases.json')) ? false : `conformance corpus not present at ${CORPUS}`;

test('transcoder: every conformance corpus case gives the reference bytes', { skip: CORPUS_SKIP }, () => {
  const cases = (JSON.parse(readFileSync(join(CORPUS, 'cases.json'), 'utf8')) as { cases: { name: string; files: string[] }[] }).cases;
  let fused = 0;
  for (const k of cases) {
    const ds = k.files.map((f) => new Uint8Array(readFileSync(join(CORPUS, 'vendor', f))));
    for (const s of [undefined, { renormalize: true, defaults: [{ exporter: '0.0.0.0/0', rate: 10 }] }]) {
      const c = new TranscodeComparer(s === undefined ? {} : { sampling: s });
      feedAll(c, ds, new Exporter('192.0.2.10', 2055), k.name);
      fused += c.transcoded.fused;
    }
  }
  assert.ok(fused > 0, 'the corpus has v9 / IPFIX flows on the fast path');
});

const SOFTFLOWD_SKIP = skipUnlessCommands('softflowd');

test('transcoder: softflowd NetFlow v9 and IPFIX take the fast path, same bytes', { skip: SOFTFLOWD_SKIP, timeout: 120_000 }, async (t) => {
  const tmp = makeTempDir('transcode-softflowd-');
  t.after(() => {
    killSoftflowd();
    tmp.cleanup();
  });
  const { pkts } = buildTraffic();
  const pcap = join(tmp.dir, 'traffic.pcap');
  writeFileSync(pcap, pcapOf(pkts));
  for (const args of [['-v', '9', '-A', 'milli'], ['-v', '10', '-A', 'milli'], ['-v', '9', '-a']]) {
    const { datagrams } = await exportWithSoftflowd(tmp.dir, pcap, args);
    const c = new TranscodeComparer();
    feedAll(c, datagrams.map((d) => new Uint8Array(d.data)), new Exporter('127.0.0.1', datagrams[0]?.port ?? 0), `softflowd ${args.join(' ')}`);
    assert.ok(c.transcoded.fused > 0, `softflowd ${args.join(' ')}: flows transcoded`);
    assert.equal(c.transcoded.reference, 0, `softflowd ${args.join(' ')}: no record on the reference path`);
  }
});

test('transcoder: pmacctd nfprobe IPFIX and v9 (sampled) take the fast path, same bytes', { skip: skipPmacct, timeout: 120_000 }, async (t) => {
  const tmp = makeTempDir('transcode-pmacct-');
  t.after(() => {
    killPmacctd();
    tmp.cleanup();
  });
  const { frames } = nfprobeTraffic(3);
  const pcap = join(tmp.dir, 'traffic.pcap');
  writeFileSync(pcap, writePcap(frames));
  for (const [version, rate] of [[10, 1], [10, 4], [9, 4]] as const) {
    const run = await runPmacctd(tmp.dir, nfprobeConf(pcap, version, rate), { plugin: 'nfprobe' });
    const c = new TranscodeComparer();
    feedAll(c, run.datagrams.map((d) => new Uint8Array(d.data)), new Exporter('127.0.0.1', run.datagrams[0]?.port ?? 0), `pmacct v${version} rate ${rate}`);
    assert.ok(c.transcoded.fused > 0, `pmacct v${version}: flows transcoded`);
    assert.equal(c.transcoded.reference, 0, `pmacct v${version}: no record on the reference path`);
  }
});

test('transcoder: a FlowDecoder without frames keeps the FlowRecord path', () => {
  let flows = 0;
  const dec = new FlowDecoder({ sink: { onFlow: () => void flows++ } });
  const d = v9Datagram(V9_CISCO, 10, true);
  assert.equal(dec.decode(d, 0, d.length, new Exporter('192.0.2.1'), RECV, 0), undefined);
  assert.equal(flows, 10);
  assert.deepEqual({ ...dec.transcoded }, { fused: 0, reference: 0 });
});

// ---------------------------------------------------------------------------------------------
// Wired in: a worker's pipeline takes the fast path when every output writes flowpb.

async function runPipeline(dir: string, outputs: Record<string, unknown>[], datagrams: readonly Uint8Array[], expectFlows: number): Promise<{ flows: Record<string, number>; transcoded: { fused: number; reference: number } }> {
  const file = join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify({ listeners: [{ name: 'in', address: '127.0.0.1', port: 0 }], outputs }));
  const config = loadConfig({ env: {}, file }).config;
  const init: WorkerInit = { index: 0, config, ports: [0], storeChannel: `transcode-${randomUUID()}`, stdoutPort: null, snapshotMs: 1000, forceDgram: false };
  const p = new Pipeline(init, { log: () => {} });
  const tx = createSocket('udp4');
  try {
    const [l] = await p.open();
    await new Promise<void>((r) => tx.bind(0, '127.0.0.1', () => r()));
    for (const d of datagrams) {
      await new Promise<void>((res, rej) => tx.send(d, l!.port, '127.0.0.1', (e) => (e ? rej(e) : res())));
    }
    await until(() => Object.values(p.snapshot().flows).reduce((a, b) => a + b, 0) >= expectFlows, 'the flows to be decoded', 20_000);
    const flows = p.snapshot().flows;
    await p.stop(Date.now() + 5000);
    return { flows, transcoded: p.transcoded() };
  } finally {
    tx.close();
    await p.close();
  }
}


test('pipeline: flowpb file outputs get the transcoded frames, byte for byte what the FlowRecord path writes; flow counts unchanged', async (t) => {
  const tmp = makeTempDir('transcode-pipeline-');
  t.after(() => tmp.cleanup());
  // v9 records on the fast path, an MPLS layout on the reference path, NetFlow v5 (records only).
  const mpls = { id: 400, fields: [{ id: 8, len: 4 }, { id: 12, len: 4 }, { id: 1, len: 4 }, { id: 70, len: 3 }, { id: 71, len: 3 }] };
  const ds: Uint8Array[] = [];
  for (let i = 0; i < 6; i++) {
    ds.push(v9Datagram(V9_CISCO, 15, i === 0, { sequence: i }));
    ds.push(v9Datagram(mpls, 3, i === 0, { sequence: 100 + i }));
  }
  ds.push(v5Datagram(4));
  const total = 6 * 15 + 6 * 3 + 4;
  const fast = await runPipeline(tmp.dir, [
    { type: 'file', path: join(tmp.dir, 'a.pb'), format: 'flowpb' },
    { type: 'file', path: join(tmp.dir, 'b.pb'), format: 'flowpb' },
  ], ds, total);
  const slow = await runPipeline(tmp.dir, [
    { type: 'file', path: join(tmp.dir, 'c.pb'), format: 'flowpb' },
    { type: 'file', path: join(tmp.dir, 'c.ndjson'), format: 'json' },
  ], ds, total);
  assert.deepEqual(fast.flows, { netflow_v9: 108, netflow_v5: 4 });
  assert.deepEqual(slow.flows, fast.flows);
  // The first 3 data sets of a layout take the FlowRecord path (FlowDecoder's transcodeAfter).
  assert.deepEqual(fast.transcoded, { fused: 45, reference: 63 });
  assert.deepEqual(slow.transcoded, { fused: 0, reference: 0 }, 'a JSON output keeps every output on the FlowRecord path');
  const a = readFileSync(join(tmp.dir, 'a.pb'));
  const b = readFileSync(join(tmp.dir, 'b.pb'));
  const c = readFileSync(join(tmp.dir, 'c.pb'));
  assert.equal(splitDelimited(a).length, total);
  // The receive times differ between the runs: compare with time_received_ns (field 110) dropped.
  const strip = (buf: Uint8Array) => splitDelimited(buf).map((m) => Buffer.from(withoutField(m, 110)).toString('hex'));
  assert.deepEqual(strip(a), strip(c));
  assert.ok(a.equals(b), 'both fast outputs got the same bytes');
  assert.equal(readFileSync(join(tmp.dir, 'c.ndjson'), 'utf8').trim().split('\n').length, total);
});

/** A FlowMessage without one varint field (all our keys are 1 or 2 bytes). */
function withoutField(m: Uint8Array, field: number): Uint8Array {
  const out: number[] = [];
  let p = 0;
  while (p < m.length) {
    const start = p;
    let key = 0;
    let shift = 0;
    let c: number;
    do {
      c = m[p++]!;
      key += (c & 127) * 2 ** shift;
      shift += 7;
    } while (c >= 128);
    const wt = key & 7;
    if (wt === 0) {
      while (m[p++]! >= 128);
    } else if (wt === 2) {
      let len = 0;
      shift = 0;
      do {
        c = m[p++]!;
        len += (c & 127) * 2 ** shift;
        shift += 7;
      } while (c >= 128);
      p += len;
    } else throw new Error(`wire type ${wt}`);
    if (key >>> 3 !== field) for (let i = start; i < p; i++) out.push(m[i]!);
  }
  return Uint8Array.from(out);
}
