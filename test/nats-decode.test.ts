/**
 * The consumer-side decoder exported by the package (decodeFlowBatch, decodeFlowMessage)
 * against protobufjs on records with every FlowMessage field set, and the subject token of an
 * exporter address.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { FlowRecord } from '../src/decode/record.js';
import { DelimitedBatchWriter, FlowPbEncoder } from '../src/encode/mod.js';
import { decodeFlowBatch, decodeFlowMessage } from '../src/mod.js';
import { exporterToken } from '../src/output/nats/mod.js';
import { addExtras, ipv4Record, ipv6Record } from './encode-fixtures.js';

const root = new protobuf.Root().loadSync(fileURLToPath(new URL('../../proto/flow.proto', import.meta.url)), { keepCase: true });
const FlowMessage = root.lookupType('flowpb.FlowMessage');

/** protobufjs's view, in decodeFlowMessage's terms (numbers, bigint times, byte arrays). */
function reference(buf: Uint8Array): Record<string, unknown> {
  const o = FlowMessage.toObject(FlowMessage.decode(buf), { longs: String, bytes: Array, enums: Number }) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (k.endsWith('_ns')) out[k] = BigInt(v as string);
    else if (Array.isArray(v) && v.length > 0 && Array.isArray(v[0])) out[k] = (v as number[][]).map((b) => Array.from(b));
    else if (Array.isArray(v) && (typeof v[0] === 'string' || typeof v[0] === 'number') && !/addr|hop|address/.test(k)) out[k] = (v as unknown[]).map(Number);
    else if (Array.isArray(v)) out[k] = Array.from(v as number[]);
    else if (typeof v === 'string' && /^\d+$/.test(v) && k !== 'protocol_name' && !k.endsWith('_name') && !k.endsWith('_desc')) out[k] = Number(v);
    else out[k] = v;
  }
  return out;
}

function mine(buf: Uint8Array): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(decodeFlowMessage(buf))) {
    if (k === 'unknown') continue;
    if (v instanceof Uint8Array) out[k] = Array.from(v);
    else if (Array.isArray(v) && v[0] instanceof Uint8Array) out[k] = (v as Uint8Array[]).map((b) => Array.from(b));
    else out[k] = v;
  }
  return out;
}

test('decodeFlowMessage agrees with protobufjs on every field of IPv4 and IPv6 records with extras', () => {
  const enc = new FlowPbEncoder();
  for (const make of [ipv4Record, ipv6Record]) {
    const rec = make(new FlowRecord());
    addExtras(rec);
    // Every kind of field: repeated varints, repeated bytes, strings, extensions.
    rec.asPath[0] = 64512;
    rec.asPath[1] = 4_200_000_000;
    rec.asPathCount = 2;
    rec.bgpCommunities[0] = 0xfde80001;
    rec.bgpCommunitiesCount = 1;
    rec.mplsLabel[0] = 1000;
    rec.mplsTtl[0] = 64;
    rec.mplsCount = 1;
    rec.mplsIp.set([10, 9, 9, 9]);
    rec.mplsIpLen = 4;
    rec.layerStack[0] = 0;
    rec.layerStack[1] = 1;
    rec.layerSize[0] = 14;
    rec.layerSize[1] = 20;
    rec.layerCount = 2;
    rec.protocolName = 'TCP';
    rec.bytesIn = 5;
    rec.packetsOut = 7;
    rec.exportVersion = 10;
    rec.inIfName = 'eth0';
    rec.vrfName = 'blue';
    rec.rawBytes = 2 ** 40;
    rec.templateId = 256;
    rec.observationDomainId = 9;
    const buf = enc.encode(rec).slice();
    const ref = reference(buf);
    assert.ok(Object.keys(ref).length >= 30, `a rich record (${Object.keys(ref).length} fields)`);
    assert.deepEqual(mine(buf), ref);
  }
});

test('decodeFlowBatch: frames of a flowpb-batch message, checked against Flow-Count; flowpb and header-less messages are one FlowMessage', () => {
  const w = new DelimitedBatchWriter();
  const recs = [ipv4Record(new FlowRecord()), ipv6Record(new FlowRecord()), ipv4Record(new FlowRecord())];
  recs[2]!.bytes = 12345;
  for (const r of recs) w.append(r);
  const data = w.finish().slice();
  const h = (fmt: string, count: string) => ({ get: (k: string) => (k === 'Flow-Format' ? fmt : k === 'Flow-Count' ? count : '') });
  const frames = decodeFlowBatch({ data, headers: h('flowpb-batch', '3') });
  assert.equal(frames.length, 3);
  assert.equal(decodeFlowMessage(frames[2]!)['bytes'], 12345);
  assert.throws(() => decodeFlowBatch({ data, headers: h('flowpb-batch', '4') }), /Flow-Count says 4 flows, the message holds 3/);
  assert.throws(() => decodeFlowBatch({ data: data.subarray(0, data.length - 1), headers: h('flowpb-batch', '3') }), /truncated/);
  const one = new FlowPbEncoder().encode(recs[0]!).slice();
  assert.deepEqual(decodeFlowBatch({ data: one, headers: h('flowpb', '1') }), [one]);
  assert.deepEqual(decodeFlowBatch({ data: one }), [one]);
  assert.throws(() => decodeFlowBatch({ data: one, headers: h('json', '1') }), /JSON\.parse/);
  assert.throws(() => decodeFlowBatch({ data: one, headers: h('avro', '1') }), /unknown Flow-Format "avro"/);
});

test('exporterToken: an address as one subject token', () => {
  assert.equal(exporterToken(new Uint8Array([192, 0, 2, 1]), 4), '192_0_2_1');
  const v6 = new Uint8Array(16);
  v6.set([0x20, 0x01, 0x0d, 0xb8]);
  v6[15] = 1;
  assert.equal(exporterToken(v6, 16), '2001_db8__1');
  assert.equal(exporterToken(new Uint8Array(16), 0), 'unknown');
});
