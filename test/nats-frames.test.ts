/**
 * The NATS publisher's two ways in give the same messages: flows handed over one record at a
 * time (onFlow, the FlowRecord path) and the same flows as ready-made flowpb frames, one data
 * set at a time (onFrames, the transcoder's fast path, which copies runs of frames at once).
 * Both publish to a real nats-server; the messages read back must match one for one: subject,
 * bytes, Flow-Count, and (flowpb-batch) the cuts at batch_size and max_batch_bytes; a flow
 * bigger than a message is rejected and counted the same way on both. For flowpb (one
 * FlowMessage per message) the frames lose their length prefix.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../src/config/mod.js';
import { FlowRecord, FlowType } from '../src/decode/mod.js';
import { ByteWriter, writeFlowMessageDelimited } from '../src/encode/mod.js';
import { HEADER_COUNT, NatsPublisher } from '../src/output/nats/mod.js';
import { Rng } from '../src/synth/mod.js';
import { makeTempDir } from './support/tools.js';
import { until } from './support/serve.js';
import { client, haveNatsServer, readStream, startNatsServer, type NatsServer } from './support/nats.js';

const skip = haveNatsServer ? false : 'nats-server is not installed';
const tmp = makeTempDir('fc-nats-frames-');
const servers: NatsServer[] = [];
after(async () => {
  for (const n of servers) await n.stop().catch(() => {});
  tmp.cleanup();
});

/** A flow of varying size (the counters' varints; callers add long interface names). */
function record(rng: Rng, i: number, exporter: number): FlowRecord {
  const r = new FlowRecord();
  r.type = FlowType.NETFLOW_V9;
  r.samplerAddress.set([192, 0, 2, exporter]);
  r.samplerAddressLen = 4;
  r.srcAddr.set([10, 0, (i >> 8) & 255, i & 255]);
  r.srcAddrLen = 4;
  r.dstAddr.set([172, 16, rng.int(256), rng.int(256)]);
  r.dstAddrLen = 4;
  r.srcPort = rng.int(65536);
  r.dstPort = 443;
  r.proto = 6;
  r.bytes = rng.int(1 << 30) * (rng.int(2) === 0 ? 1 : 4096);
  r.packets = 1 + rng.int(1000);
  r.sequenceNum = i;
  return r;
}

function framesOf(recs: FlowRecord[]): Buffer {
  const w = new ByteWriter(1024);
  for (const r of recs) writeFlowMessageDelimited(w, r);
  return Buffer.from(w.buf.subarray(0, w.pos));
}

for (const format of ['flowpb-batch', 'flowpb'] as const) {
  const batch = format === 'flowpb-batch';
  const what = batch ? 'cut the same messages at batch_size and max_batch_bytes' : 'publish the same one-flow messages';
  test(`${format}: onFrames and onFlow (one record at a time) ${what}; an oversize flow is rejected on both`, { skip }, () => compare(format));
}

// Small data sets (1..6 flows, as pmacct sends): most fit the open batch whole and take the
// publisher's copy-the-run path, so its flow and byte bounds are met exactly at the cut.
test('flowpb-batch: data sets of 1..6 flows, copied whole into the open batch, cut exactly like one record at a time', { skip }, () => compare('flowpb-batch', 6, 900, 'small', 2560));

async function compare(format: 'flowpb-batch' | 'flowpb', maxSet = 60, sets = 120, tag = '', maxBatchBytes = 2048): Promise<void> {
  const batch = format === 'flowpb-batch';
  const n = await startNatsServer(join(tmp.dir, `nats-${format}${tag}`));
  servers.push(n);
  const cfgFile = join(tmp.dir, `${format}${tag}.yaml`);
  // max_batch_bytes is kept at least 1024 and at most a quarter of queue.max_bytes.
  writeFileSync(
    cfgFile,
    [
      'listeners: [{ name: a, address: 127.0.0.1, port: 0, protocol: netflow, subject: "flows.{exporter}" }]',
      'queue: { max_bytes: 8388608 }',
      'nats:',
      `  servers: [${n.url}]`,
      '  stream: { name: FR, subjects: ["flows.>", "frames.>"] }',
      `outputs: [{ type: nats, format: ${format}, batch_size: 45, max_batch_bytes: ${maxBatchBytes} }]`,
      '',
    ].join('\n'),
  );
  const { config } = loadConfig({ file: cfgFile });
  const mk = (prefix: string, worker: number) =>
    new NatsPublisher({
      output: config.outputs[0] as never,
      nats: { ...config.nats!, subject_prefix: prefix },
      listeners: config.listeners,
      maxBytes: config.queue.max_bytes,
      policy: config.queue.drop_policy,
      worker,
      log: () => {},
    });
  const byFlow = mk('byflow', 0);
  const byFrames = mk('byframes', 1);
  try {
    await until(async () => byFlow.ready() && byFrames.ready(), 'both publishers ready', 10_000);
    const rng = new Rng(7);
    let total = 0;
    let rejected = 0;
    // Data sets of 1..maxSet flows from 3 exporters; now and then a flow too big for any message.
    for (let set = 0; set < sets; set++) {
      const exporter = 1 + (set % 3);
      const recs: FlowRecord[] = [];
      const k = 1 + rng.int(maxSet);
      for (let j = 0; j < k; j++) {
        const r = record(rng, total++, exporter);
        if (rng.int(90) === 0) {
          r.inIfName = 'x'.repeat(maxBatchBytes + 52);
          rejected++;
        } else if (rng.int(40) === 0) {
          // Over 127 bytes: a two-byte length prefix.
          r.inIfName = 'm'.repeat(200 + rng.int(400));
        }
        recs.push(r);
      }
      for (const r of recs) byFlow.onFlow(r);
      const f = framesOf(recs);
      // As the frame sink hands them: a region of a bigger buffer.
      const host = Buffer.alloc(f.length + 64, 0xee);
      f.copy(host, 17);
      byFrames.onFrames(host, 17, 17 + f.length, k, FlowType.NETFLOW_V9, recs[0]!.samplerAddress.subarray(0, 4));
      if (set % 25 === 0) {
        byFlow.tick();
        byFrames.tick();
      }
    }
    await byFlow.drain(Date.now() + 10_000);
    await byFrames.drain(Date.now() + 10_000);
    const a = byFlow.stats();
    const b = byFrames.stats();
    assert.equal(a.flows, total);
    assert.equal(b.flows, total);
    assert.equal(a.dropped.rejected, rejected);
    assert.equal(b.dropped.rejected, rejected);
    assert.ok(rejected > 0, 'the seed makes some oversize flows');
    assert.equal(b.delivered, a.delivered);
    assert.equal(a.delivered, total - rejected);

    const nc = await client(n.url);
    try {
      const msgs = await readStream(nc, 'FR');
      const flowMsgs = msgs.filter((m) => m.subject.startsWith('byflow.'));
      const frameMsgs = msgs.filter((m) => m.subject.startsWith('byframes.'));
      assert.ok(flowMsgs.length > (batch ? 20 : 3000), `${flowMsgs.length} messages`);
      assert.equal(frameMsgs.length, flowMsgs.length);
      // Per subject, in order (the two publishers interleave differently in the stream).
      const bySubject = (list: typeof msgs, prefix: string) => {
        const m = new Map<string, { count: string; data: Buffer }[]>();
        for (const x of list) {
          const k = x.subject.slice(prefix.length);
          if (!m.has(k)) m.set(k, []);
          m.get(k)!.push({ count: x.header.get(HEADER_COUNT), data: Buffer.from(x.data) });
        }
        return m;
      };
      const A = bySubject(flowMsgs, 'byflow.');
      const B = bySubject(frameMsgs, 'byframes.');
      assert.deepEqual([...B.keys()].sort(), [...A.keys()].sort());
      let counted = 0;
      let cutByCount = 0;
      let cutBySize = 0;
      for (const [k, as] of A) {
        const bs = B.get(k)!;
        assert.equal(bs.length, as.length, k);
        for (let i = 0; i < as.length; i++) {
          assert.equal(bs[i]!.count, as[i]!.count, `${k} #${i} Flow-Count`);
          assert.ok(bs[i]!.data.equals(as[i]!.data), `${k} #${i} bytes`);
          assert.ok(as[i]!.data.length <= maxBatchBytes);
          counted += Number(as[i]!.count);
          if (as[i]!.count === '45') cutByCount++;
          else if (as[i]!.data.length > maxBatchBytes - 548) cutBySize++;
        }
      }
      assert.equal(counted, total - rejected);
      if (batch) assert.ok(cutByCount > 0 && cutBySize > 0, `cuts by count ${cutByCount} and by size ${cutBySize}`);
      else assert.equal(flowMsgs.length, total - rejected, 'one message per flow');
    } finally {
      await nc.close();
    }
  } finally {
    await byFlow.close();
    await byFrames.close();
  }
}
