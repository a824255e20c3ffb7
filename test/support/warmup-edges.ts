/**
 * Child program of test/warmup-edges.test.ts, run with --trace-deopt (V8 prints every
 * deoptimisation on stdout). A worker's pipeline, built and warmed up as serve's worker does,
 * receives on a real socket, from a new exporter, the warm-up's own NetFlow v9 and IPFIX templates
 * (softflowd's, pmacctd's, router-style ones), and then records of each in which one numeric field
 * at a time takes a value from each range of its width (0, 1, 127, 128, 16383, 16384, 2^21 - 1,
 * 2^21, 2^31, 2^32 - 1, 2^32, 2^40...): the values real exporters send that take their own branch
 * of a transcoder. The records are the warm-up's own (src/synth) with that field's bytes
 * overwritten, so which fields are swept does not depend on the warm-up's list (and two data
 * datagrams of each template with the same sequence number); NetFlow v5 records likewise, and sFlow
 * v5 flow samples with each of their interfaces, ports, protocol, ToS, flags and VLAN so. Prints "REAL"
 * after the templates and before the first data, "DONE" once every flow is written, then the
 * counts as JSON.
 */
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { loadConfig, parseServeArgs } from '../../src/config/mod.js';
import { Pipeline } from '../../src/service/pipeline.js';
import type { WorkerInit } from '../../src/service/messages.js';
import { IPFIX_TEMPLATES, V9_TEMPLATES, type Template } from '../../src/service/warmup.js';
import { beginMessage, beginSet, ByteWriter, endMessage, endSet, flowSample, makeFlow, Rng, sampledFrame, sflowHeader, templateRecord, templateSetId, v5Header, v5Record, writeRecord, type Flow, type NetflowVersion } from '../../src/synth/mod.js';
import { makeTempDir } from './tools.js';
import { until } from './serve.js';

/** Information elements not swept: addresses, times, the IP version, MAC addresses. */
const NOT_SWEPT = new Set([8, 12, 15, 27, 28, 62, 21, 22, 150, 151, 152, 153, 60, 56, 80]);
const VALUES = [0, 1, 0x7f, 0x80, 0xff, 0x3fff, 0x4000, 0xffff, 0x1fffff, 0x200000, 0xffffff, 0x7fffffff, 0x80000000, 0xffffffff, 2 ** 32, 2 ** 40];
const RECORDS_PER_SET = 10;

/**
 * Records in which each field of `fields` (offset, length) in turn takes every value of VALUES
 * that fits its width, the rest of each record as `write` makes it (a new one each time).
 */
function sweptRecords(fields: readonly (readonly [number, number])[], write: (w: ByteWriter) => void): Buffer[] {
  const out: Buffer[] = [];
  for (const [off, len] of fields) {
    for (const v of VALUES) {
      if (v >= 2 ** (8 * len)) continue;
      const w = new ByteWriter(512);
      write(w);
      const end = w.p;
      w.p = off;
      w.uint(len, v);
      w.p = end;
      out.push(w.take());
    }
  }
  return out;
}

/** The datagrams of one protocol: templates, then records sweeping every numeric field. */
function sweep(version: NetflowVersion, templates: readonly Template[], nowMs: number): { datagrams: Buffer[]; flows: number } {
  const w = new ByteWriter(1 << 16);
  const rng = new Rng(7);
  const clock = { uptimeMs: 7_200_000, exportMs: nowMs, samplerId: 1 };
  let seq = 0;
  const header = () => beginMessage(w, version, { uptimeMs: clock.uptimeMs, exportSec: Math.floor(nowMs / 1000), seq, domain: 3 });
  const datagrams: Buffer[] = [];
  header();
  const s = beginSet(w, templateSetId(version, false));
  for (const tp of templates) templateRecord(w, tp.id, tp.fields);
  endSet(w, s, version);
  datagrams.push(endMessage(w, version, templates.length));
  seq++;
  let flows = 0;
  let k = 0;
  for (const tp of templates) {
    const at: [number, number][] = [];
    let off = 0;
    for (const [id, len] of tp.fields) {
      if (!NOT_SWEPT.has(id)) at.push([off, len]);
      off += len;
    }
    const records = sweptRecords(at, (r) => writeRecord(r, tp.fields, makeFlow(rng, 1, k++, tp.v6), clock));
    for (let i = 0; i < records.length; i += RECORDS_PER_SET) {
      const batch = records.slice(i, i + RECORDS_PER_SET);
      header();
      const d = beginSet(w, tp.id);
      for (const b of batch) w.bytes(b);
      endSet(w, d, version);
      datagrams.push(endMessage(w, version, batch.length));
      // The fifth and sixth data datagrams of each template with the same sequence number, as an
      // IPFIX exporter's after a message of templates only, or two exporters' may be (not the
      // first ones: a layout's first three data sets from an exporter take the reference path).
      if (i !== 4 * RECORDS_PER_SET || records.length <= 5 * RECORDS_PER_SET) seq += version === 9 ? 1 : batch.length;
      flows += batch.length;
    }
  }
  return { datagrams, flows };
}

/** NetFlow v5 record fields swept: offset and length (interfaces, counters, ports, flags, protocol, ToS, AS, masks). */
const V5_FIELDS: readonly [number, number][] = [[12, 2], [14, 2], [16, 4], [20, 4], [32, 2], [34, 2], [37, 1], [38, 1], [39, 1], [40, 2], [42, 2], [44, 1], [45, 1]];

/** NetFlow v5 datagrams of records in which each field of V5_FIELDS in turn takes every value of its width. */
function sweepV5(nowMs: number): { datagrams: Buffer[]; flows: number } {
  const rng = new Rng(5);
  const uptimeMs = 7_200_000;
  let k = 0;
  const records = sweptRecords(V5_FIELDS, (r) => v5Record(r, makeFlow(rng, 3, k++, false), uptimeMs));
  const datagrams: Buffer[] = [];
  let seq = 0;
  for (let i = 0; i < records.length; i += RECORDS_PER_SET) {
    const batch = records.slice(i, i + RECORDS_PER_SET);
    const w = new ByteWriter(2048);
    v5Header(w, { count: batch.length, uptimeMs, exportSec: Math.floor(nowMs / 1000), exportNsec: (nowMs % 1000) * 1e6, seq, engineType: 0, engineId: 0, sampling: 0 });
    for (const b of batch) w.bytes(b);
    datagrams.push(w.take());
    seq += batch.length;
  }
  return { datagrams, flows: records.length };
}

/** The flow properties an sFlow sample carries (sample header, sampled frame), with their widths in bits, swept in sweepSflow. */
const SFLOW_PROPS: readonly [string, number][] = [['inIf', 32], ['outIf', 32], ['srcPort', 16], ['dstPort', 16], ['proto', 8], ['tos', 8], ['tcpFlags', 8], ['vlan', 12]];

/** sFlow v5 datagrams of flow samples in which each of SFLOW_PROPS in turn takes each of VALUES, IPv4 and IPv6. */
function sweepSflow(): { datagrams: Buffer[]; flows: number } {
  const rng = new Rng(9);
  const flows: Flow[] = [];
  let k = 0;
  for (const [name, bits] of SFLOW_PROPS) {
    for (const v of VALUES) {
      if (v >= 2 ** bits) continue;
      for (const v6 of [false, true]) {
        const f = makeFlow(rng, 4, k++, v6);
        (f as unknown as Record<string, number>)[name] = v;
        flows.push(f);
      }
    }
  }
  const datagrams: Buffer[] = [];
  const w = new ByteWriter(1 << 16);
  for (let i = 0; i < flows.length; i += RECORDS_PER_SET) {
    const batch = flows.slice(i, i + RECORDS_PER_SET);
    const seq = i / RECORDS_PER_SET + 1;
    sflowHeader(w, { agent: new Uint8Array([198, 51, 100, 7]), subAgent: 0, seq, uptimeMs: 7_200_000, samples: batch.length });
    batch.forEach((f, j) => flowSample(w, { seq: i + j, sourceId: f.inIf & 0xffffff, rate: 512, pool: (i + j) * 512 }, f, sampledFrame(f, rng)));
    datagrams.push(w.take());
  }
  return { datagrams, flows: flows.length };
}

/** A router-style v9 template the warm-up does not have. */
const FRESH_TEMPLATE: Template = { id: 300, v6: false, fields: [[8, 4], [12, 4], [15, 4], [10, 4], [14, 4], [2, 4], [1, 4], [16, 4], [17, 4], [9, 1], [13, 1], [4, 1], [5, 1]] };
/** Datagrams of the fresh layout sent before REAL, RECORDS_PER_SET records each. */
const FRESH_ROUNDS = 600;

/**
 * The fresh layout's template datagram, datagrams of records with no field 0 (sent before REAL),
 * and datagrams in which each swept field in turn is 0, the others as before (after REAL).
 */
function freshLayout(nowMs: number): { template: Buffer; plain: Buffer[]; zeros: Buffer[]; zeroFlows: number } {
  const w = new ByteWriter(1 << 16);
  const rng = new Rng(11);
  const clock = { uptimeMs: 7_200_000, exportMs: nowMs, samplerId: 1 };
  const tp = FRESH_TEMPLATE;
  const header = (seq: number) => beginMessage(w, 9, { uptimeMs: clock.uptimeMs, exportSec: Math.floor(nowMs / 1000), seq, domain: 3 });
  header(999);
  const t = beginSet(w, templateSetId(9, false));
  templateRecord(w, tp.id, tp.fields);
  endSet(w, t, 9);
  const template = endMessage(w, 9, 1);
  let k = 0;
  const record = (): Buffer => {
    const f = makeFlow(rng, 2, k++, false);
    // Small values, none of them 0 (makeFlow's AS numbers and masks never are).
    f.inIf = 1 + rng.int(40);
    f.outIf = 1 + rng.int(40);
    f.proto = 6;
    f.tos = 1 + rng.int(100);
    f.packets = 1 + rng.int(100);
    f.bytes = 40 * f.packets;
    f.srcAs = 1 + rng.int(60_000);
    f.dstAs = 1 + rng.int(60_000);
    const r = new ByteWriter(512);
    writeRecord(r, tp.fields, f, clock);
    return r.take();
  };
  const pack = (records: Buffer[], seq: number): Buffer => {
    header(seq);
    const s = beginSet(w, tp.id);
    for (const b of records) w.bytes(b);
    endSet(w, s, 9);
    return endMessage(w, 9, records.length);
  };
  const plain = Array.from({ length: 16 }, (_, i) => pack(Array.from({ length: RECORDS_PER_SET }, record), 1000 + i));
  const zeroed: Buffer[] = [];
  let off = 0;
  for (const [id, len] of tp.fields) {
    if (!NOT_SWEPT.has(id)) {
      const b = record();
      b.fill(0, off, off + len);
      zeroed.push(b);
    }
    off += len;
  }
  const zeros: Buffer[] = [];
  for (let i = 0; i < zeroed.length; i += RECORDS_PER_SET) zeros.push(pack(zeroed.slice(i, i + RECORDS_PER_SET), 2000 + i));
  return { template, plain, zeros, zeroFlows: zeroed.length };
}

async function main(): Promise<void> {
  const tmp = makeTempDir('warmup-edges-');
  const env: NodeJS.ProcessEnv = { FLOW_COLLECTOR_OUTPUTS: JSON.stringify([{ type: 'file', path: join(tmp.dir, 'flows.pb'), format: 'flowpb' }]) };
  const { flags } = parseServeArgs(['--listen', '127.0.0.1:0', '--workers', '1']);
  const config = loadConfig({ env, flags }).config;
  const init: WorkerInit = { index: 0, config, ports: [0], storeChannel: 'warmup-edges', stdoutPort: null, snapshotMs: 1000, forceDgram: false };
  const p = new Pipeline(init, { log: () => {} });
  await p.warmUp();
  const [l] = await p.open();
  if (l === undefined) throw new Error('no listener');
  const nowMs = Date.now();
  const v9 = sweep(9, V9_TEMPLATES, nowMs);
  const ipfix = sweep(10, IPFIX_TEMPLATES, nowMs);
  const v5 = sweepV5(nowMs);
  const sflow = sweepSflow();
  const sock = createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  const send = (d: Buffer) => new Promise<void>((resolve, reject) => sock.send(d, l.port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  // A layout the warm-up has not seen (a router's: no ports, the AS numbers, the masks): its
  // transcoder is compiled and optimised on this traffic alone, none of whose fields is ever 0;
  // the records after REAL then set each field to 0 and to every other range in turn.
  const fresh = freshLayout(nowMs);
  console.log('FRESH');
  await send(fresh.template);
  let sent = 1;
  for (let i = 0; i < FRESH_ROUNDS; i++) {
    await send(fresh.plain[i % fresh.plain.length]!);
    if (++sent % 16 === 0) await until(() => p.snapshot().listeners[0]!.datagrams >= sent, `${sent} datagrams read`, 20_000);
  }
  await until(() => p.snapshot().listeners[0]!.datagrams >= sent, `${sent} datagrams read`, 20_000);
  // The templates first: the first real template deoptimises the template observer's code once
  // (the warm-up's observers return before it; src/service/pipeline.ts), a one-off per worker
  // that is not what this program looks at.
  await send(v9.datagrams[0]!);
  await send(ipfix.datagrams[0]!);
  sent += 2;
  await until(() => p.snapshot().listeners[0]!.datagrams >= sent, 'the templates read', 20_000);
  console.log('REAL');
  // No polling from here until everything is sent (the receive buffer holds it all): what the
  // program calls to wait (snapshot, until) has its own deoptimisations, not the flow path's.
  const data = [...v9.datagrams.slice(1), ...ipfix.datagrams.slice(1), ...v5.datagrams, ...sflow.datagrams, ...fresh.zeros];
  for (const d of data) {
    await send(d);
    if (++sent % 16 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const flows = v9.flows + ipfix.flows + v5.flows + sflow.flows + fresh.zeroFlows + FRESH_ROUNDS * RECORDS_PER_SET;
  const written = () => p.outputs.reduce((a, o) => a + o.stats().delivered, 0);
  console.log('SENT');
  await until(() => written() >= flows, `${flows} flows written`, 20_000);
  console.log('DONE');
  const snap = p.snapshot();
  sock.close();
  await p.stop(Date.now() + 5000);
  await p.close();
  tmp.cleanup();
  console.log(JSON.stringify({ sent, flows, written: written(), datagrams: snap.listeners[0]!.datagrams, counters: snap.counters, byType: snap.flows, sflow: sflow.flows }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
