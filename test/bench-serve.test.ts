/**
 * The serve benchmark's instruments (bench/serve-replay.ts): the replay sender rewrites sequence
 * numbers per exporter the way the export formats define them and counts exactly what it sent;
 * the output counter agrees with splitDelimited at any chunk boundary; the metrics parser sums
 * label sets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { splitDelimited } from '../src/encode/mod.js';
import { loadAddon, openSource, sourceAddress, type Batch } from '../src/ingest/mod.js';
import { countDelimitedFile, pairRatios, parseMetrics, rateRatios, replay, spreadOf } from '../bench/serve-replay.js';
import type { Stream, StreamMeta } from '../bench/serve-streams.js';
import { makeTempDir } from './support/tools.js';

const skipNoAddon = loadAddon().addon ? false : 'the native addon is not built';

/** A fake stream: datagram i is `sizes[i]` bytes, header version `version`, its index at byte 20. */
function fakeStream(version: 9 | 10, flows: number[], records: number[], hasTemplates: boolean[]): Stream {
  const n = flows.length;
  const offsets = new Uint32Array(n);
  const lengths = new Uint32Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    offsets[i] = total;
    lengths[i] = 40 + i * 8;
    total += lengths[i]!;
  }
  const data = Buffer.alloc(total);
  for (let i = 0; i < n; i++) {
    data.writeUInt16BE(version, offsets[i]!);
    data.writeUInt16BE(i, offsets[i]! + 20);
  }
  const meta: StreamMeta = {
    name: version === 9 ? 'v9' : 'ipfix',
    version,
    exporter: 'fake',
    pcapFlows: 0,
    datagrams: n,
    bytes: total,
    flows,
    records,
    hasTemplates,
    totalFlows: flows.reduce((s, x) => s + x, 0),
    flowsPerDatagram: 0,
    distinctKeys: 0,
    counters: {},
    problems: [],
    cacheKey: 'fake',
  };
  return { meta, data, offsets, lengths };
}

async function replayAndCapture(stream: Stream, rate: number, duration: number, exporters: number) {
  const got: { src: string; index: number; seq: number; time: number }[] = [];
  const v9 = stream.meta.version === 9;
  const src = await openSource({
    host: '127.0.0.1',
    port: 0,
    rcvbuf: 8 << 20,
    batchSize: 64,
    slotSize: 2048,
    logger: () => {},
    onBatch: (b: Batch) => {
      for (let i = 0; i < b.count; i++) {
        const d = b.data.subarray(i * b.slotSize, i * b.slotSize + b.lengths[i]!);
        got.push({ src: sourceAddress(b, i), index: d.readUInt16BE(20), seq: d.readUInt32BE(v9 ? 12 : 8), time: d.readUInt32BE(v9 ? 8 : 4) });
      }
    },
  });
  try {
    let measured = 0;
    const res = replay(stream, src.port, rate, duration, exporters, { warmup: 0.2, onMeasure: () => measured++ });
    assert.equal(measured, 1, 'onMeasure once, between warm-up and the measured part');
    for (let i = 0; i < 200 && got.length < res.datagrams; i++) await new Promise((r) => setTimeout(r, 10));
    return { res, got };
  } finally {
    await src.close();
  }
}

for (const version of [9, 10] as const) {
  test(`replay: ${version === 9 ? 'v9 packet' : 'IPFIX record'} sequence numbers per exporter, exact flow counts`, { skip: skipNoAddon }, async () => {
    const flows = [3, 10, 10, 9, 10, 4, 10];
    const records = flows.map((f, i) => f + (i === 0 ? 1 : 0)); // an options record in datagram 0
    const hasTemplates = flows.map((_, i) => i === 0 || i === 5);
    const stream = fakeStream(version, flows, records, hasTemplates);
    const { res, got } = await replayAndCapture(stream, 2000, 0.5, 3);
    assert.equal(got.length, res.datagrams, 'every datagram sent arrived');
    assert.equal(res.preambleDatagrams, 3);
    assert.ok(res.measuredDatagrams >= 900 && res.measuredDatagrams <= 1000, `${res.measuredDatagrams} datagrams at 2000/s for 0.5 s`);
    assert.ok(res.warmupDatagrams >= 350 && res.warmupDatagrams <= 400, `${res.warmupDatagrams} warm-up datagrams at 2000/s for 0.2 s`);
    assert.equal(res.datagrams, res.preambleDatagrams + res.warmupDatagrams + res.measuredDatagrams);
    assert.equal(res.flows, res.preambleDatagrams * flows[0]! + res.warmupFlows + res.measuredFlows);
    assert.equal(
      res.flows,
      got.reduce((s, g) => s + flows[g.index]!, 0),
      'flows sent = sum of the flows of the datagrams received',
    );
    assert.equal(
      res.records,
      got.reduce((s, g) => s + records[g.index]!, 0),
    );
    const bySrc = new Map<string, typeof got>();
    for (const g of got) bySrc.set(g.src, [...(bySrc.get(g.src) ?? []), g]);
    assert.deepEqual([...bySrc.keys()].sort(), ['127.0.2.1', '127.0.2.2', '127.0.2.3']);
    const now = Date.now() / 1000;
    for (const [srcAddr, list] of bySrc) {
      // The preamble: the first template datagram, then the stream in order from a start offset.
      assert.equal(list[0]!.index, 0, `${srcAddr} starts with the template datagram`);
      for (let i = 1; i < list.length; i++) {
        const prev = list[i - 1]!;
        const step = (list[i]!.seq - prev.seq) >>> 0;
        assert.equal(step, version === 9 ? 1 : records[prev.index], `${srcAddr} datagram ${i}: sequence step`);
        if (i > 1) assert.equal(list[i]!.index, (prev.index + 1) % flows.length, `${srcAddr} datagram ${i}: stream order`);
      }
      for (const g of list) assert.ok(Math.abs(g.time - now) < 5, 'export time rewritten to now');
    }
  });
}

test('countDelimitedFile agrees with splitDelimited across chunk boundaries, reports a cut tail', () => {
  const tmp = makeTempDir('bench-serve-');
  try {
    const parts: Buffer[] = [];
    for (let i = 0; i < 500; i++) {
      const len = (i * 37) % 300; // 0..299: one- and two-byte length prefixes
      const pre = len < 128 ? Buffer.of(len) : Buffer.of((len & 127) | 128, len >> 7);
      parts.push(pre, Buffer.alloc(len, i & 255));
    }
    const file = Buffer.concat(parts);
    const path = join(tmp.dir, 'out.pb');
    writeFileSync(path, file);
    const expected = splitDelimited(file).length;
    assert.equal(expected, 500);
    for (const chunk of [301, 512, 4096, 1 << 20]) {
      const c = countDelimitedFile(path, chunk);
      assert.deepEqual(c, { records: 500, bytes: file.length, trailingBytes: 0 }, `chunk ${chunk}`);
    }
    // Three-byte prefixes (frames of 16 KiB and more) among the short ones.
    const mixed = Buffer.concat([file, Buffer.of(0xa0, 0x9c, 0x01), Buffer.alloc(20000, 7), file, Buffer.of(0x80, 0x80, 0x01), Buffer.alloc(16384, 9), Buffer.of(5), Buffer.alloc(5)]);
    writeFileSync(path, mixed);
    assert.equal(splitDelimited(mixed).length, 1003);
    for (const chunk of [20011, 65536, 1 << 20]) assert.deepEqual(countDelimitedFile(path, chunk), { records: 1003, bytes: mixed.length, trailingBytes: 0 }, `mixed, chunk ${chunk}`);
    writeFileSync(path, file.subarray(0, file.length - 5));
    const cut = countDelimitedFile(path, 512);
    assert.equal(cut.records, 499);
    assert.ok(cut.trailingBytes > 0);
  } finally {
    tmp.cleanup();
  }
});

test('parseMetrics sums label sets and skips comments', () => {
  const { sums, samples } = parseMetrics(
    [
      '# HELP flow_collector_kernel_drops_total Kernel drops',
      '# TYPE flow_collector_kernel_drops_total counter',
      'flow_collector_kernel_drops_total{worker="0"} 3',
      'flow_collector_kernel_drops_total{worker="1"} 4',
      'flow_collector_up 1',
      'bad line',
    ].join('\n'),
  );
  assert.equal(sums.get('flow_collector_kernel_drops_total'), 7);
  assert.equal(sums.get('flow_collector_up'), 1);
  assert.equal(samples.length, 3);
});

test('spreadOf: min, median, max and max/min of repeated runs', () => {
  assert.deepEqual(spreadOf([0.5, 0.55, 0.45]), { n: 3, min: 0.45, median: 0.5, max: 0.55, ratio: 0.55 / 0.45 });
  const even = spreadOf([4, 1, 3, 2]);
  assert.equal(even.median, 2.5);
  assert.equal(even.ratio, 4);
  assert.equal(spreadOf([NaN, 2]).n, 1);
  assert.ok(Number.isNaN(spreadOf([]).ratio));
});

test('pairRatios: serve over the other collector per repetition of the same load, min/median/max', () => {
  const run = (collector: string, rate: number, rep: number, cpuUsPerFlow: number) => ({ collector, stream: 'v9', rate, workers: 1, rep, cpuUsPerFlow });
  const cells = [
    [run('serve', 50000, 1, 0.2), run('serve', 50000, 2, 0.3), run('serve', 50000, 3, 0.25)],
    [run('nfcapd', 50000, 1, 0.25), run('nfcapd', 50000, 2, 0.2), run('nfcapd', 50000, 3, 0.25)],
    // Another rate: its own pairs, never mixed with the 50k runs.
    [run('serve', 100000, 1, 0.1)],
    [run('nfcapd', 100000, 1, 0.4)],
  ];
  const lines = pairRatios(cells);
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /^- v9 50000\/s, 1 worker\(s\): serve\/nfcapd CPU per flow in each of 3 interleaved pairs: 0\.800, 1\.500, 1\.000; median \*\*1\.000x\*\* \(0\.800-1\.500\); serve cheaper in 1 of 3; the ratios' max\/min 1\.875 \(within 10 %: no\)$/);
  assert.match(lines[1]!, /^- v9 100000\/s, .*pairs: 0\.250; median \*\*0\.250x\*\*.*serve cheaper in 1 of 1$/);
  // Pairs whose ratio stays within 10 % while each collector's runs move together by 1.5x.
  const drift = pairRatios([
    [run('serve', 50000, 1, 0.2), run('serve', 50000, 2, 0.3)],
    [run('nfcapd', 50000, 1, 0.22), run('nfcapd', 50000, 2, 0.32)],
  ]);
  assert.match(drift[0]!, /pairs: 0\.909, 0\.938; .*serve cheaper in 2 of 2; the ratios' max\/min 1\.031 \(within 10 %: yes\)$/);
  // Without the other collector's runs there is no pair.
  assert.deepEqual(pairRatios([cells[0]!]), []);
  // Runs that lost datagrams: the pairs per flow written as well (the 26th machine's v9 100k:
  // serve 0.335 per flow sent with 94 % written, nfcapd 0.322 with 77 %).
  const lossy = pairRatios([
    [{ ...run('serve', 100000, 1, 0.335), cpuUsPerWrittenFlow: 0.335 / 0.94 }, { ...run('serve', 100000, 2, 0.3), cpuUsPerWrittenFlow: 0.3 }],
    [{ ...run('nfcapd', 100000, 1, 0.322), cpuUsPerWrittenFlow: 0.322 / 0.77 }, { ...run('nfcapd', 100000, 2, 0.3), cpuUsPerWrittenFlow: 0.3 }],
  ]);
  assert.match(lossy[0]!, /pairs: 1\.040, 1\.000; .*serve cheaper in 0 of 2; .*; runs lost datagrams, so per flow written: 0\.852, 1\.000, median \*\*0\.926x\*\*, serve cheaper in 1 of 2$/);
  // No loss: the written figures equal the sent ones and the line says nothing more.
  const whole = pairRatios([[{ ...run('serve', 50000, 1, 0.2), cpuUsPerWrittenFlow: 0.2 }], [{ ...run('nfcapd', 50000, 1, 0.25), cpuUsPerWrittenFlow: 0.25 }]]);
  assert.match(whole[0]!, /serve cheaper in 1 of 1$/);
});

test('rateRatios: each collector\'s CPU per flow at the lowest rate over the highest, medians of the cells\' runs', () => {
  const run = (collector: string, stream: string, rate: number, workers: number, cpuUsPerFlow: number) => ({ collector, stream, rate, workers, rep: 1, cpuUsPerFlow });
  const lines = rateRatios([
    [run('serve', 'v9', 100000, 1, 0.2), run('serve', 'v9', 100000, 1, 0.22), run('serve', 'v9', 100000, 1, 0.21)],
    [run('nfcapd', 'v9', 100000, 1, 0.25)],
    // The lowest and the highest rate are compared; 50k is in between.
    [run('serve', 'v9', 20000, 1, 0.25), run('serve', 'v9', 20000, 1, 0.231), run('serve', 'v9', 20000, 1, 0.3)],
    [run('serve', 'v9', 50000, 1, 0.1)],
    [run('nfcapd', 'v9', 20000, 1, 0.2)],
    // Another workers value and another stream are their own series; one rate gives no line.
    [run('serve', 'v9', 200000, 2, 0.19)],
    [run('serve', 'ipfix', 20000, 1, 0.3)],
    [run('serve', 'ipfix', 100000, 1, 0.3)],
  ]);
  assert.deepEqual(lines, [
    '- serve v9, 1 worker(s): CPU per flow at 20000/s over 100000/s = **1.19x** (medians 0.250 / 0.210 µs; at most 1.00x: no)',
    '- nfcapd v9, 1 worker(s): CPU per flow at 20000/s over 100000/s = **0.80x** (medians 0.200 / 0.250 µs; at most 1.00x: yes)',
    '- serve ipfix, 1 worker(s): CPU per flow at 20000/s over 100000/s = **1.00x** (medians 0.300 / 0.300 µs; at most 1.00x: yes)',
  ]);
});
