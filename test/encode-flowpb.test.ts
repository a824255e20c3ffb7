import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { FlowRecord } from '../src/decode/record.js';
import {
  DelimitedBatchWriter,
  FlowPbEncoder,
  splitDelimited,
  delimitedFrameEnd,
  delimitedMessageStart,
} from '../src/encode/mod.js';
import { addExtras, ipv4Record, ipv6Record } from './encode-fixtures.js';

const protoPath = fileURLToPath(new URL('../../proto/flow.proto', import.meta.url));
const root = new protobuf.Root().loadSync(protoPath, { keepCase: true });
const FlowMessage = root.lookupType('flowpb.FlowMessage');

const u64 = (n: number) => BigInt(n).toString();
const ns = (sec: number, nsec: number) => (BigInt(sec) * 1000000000n + BigInt(nsec)).toString();
const addr = (a: Uint8Array, len: number) => Array.from(a.subarray(0, len));

/** What protobufjs must decode, computed from the record independently of the encoder. */
function expected(r: FlowRecord): Record<string, unknown> {
  const list = (a: number[], n: number) => a.slice(0, n);
  return {
    type: r.type,
    time_received_ns: ns(r.timeReceivedSec, r.timeReceivedNsec),
    sequence_num: r.sequenceNum,
    sampling_rate: u64(r.samplingRate),
    sampler_address: addr(r.samplerAddress, r.samplerAddressLen),
    time_flow_start_ns: ns(r.timeFlowStartSec, r.timeFlowStartNsec),
    time_flow_end_ns: ns(r.timeFlowEndSec, r.timeFlowEndNsec),
    bytes: u64(r.bytes),
    packets: u64(r.packets),
    src_addr: addr(r.srcAddr, r.srcAddrLen),
    dst_addr: addr(r.dstAddr, r.dstAddrLen),
    etype: r.etype,
    proto: r.proto,
    src_port: r.srcPort,
    dst_port: r.dstPort,
    in_if: r.inIf,
    out_if: r.outIf,
    src_mac: u64(r.srcMac),
    dst_mac: u64(r.dstMac),
    src_vlan: r.srcVlan,
    dst_vlan: r.dstVlan,
    vlan_id: r.vlanId,
    ip_tos: r.ipTos,
    forwarding_status: r.forwardingStatus,
    ip_ttl: r.ipTtl,
    ip_flags: r.ipFlags,
    tcp_flags: r.tcpFlags,
    icmp_type: r.icmpType,
    icmp_code: r.icmpCode,
    ipv6_flow_label: r.ipv6FlowLabel,
    fragment_id: r.fragmentId,
    fragment_offset: r.fragmentOffset,
    src_as: r.srcAs,
    dst_as: r.dstAs,
    next_hop: addr(r.nextHop, r.nextHopLen),
    next_hop_as: r.nextHopAs,
    src_net: r.srcNet,
    dst_net: r.dstNet,
    bgp_next_hop: addr(r.bgpNextHop, r.bgpNextHopLen),
    bgp_communities: list(r.bgpCommunities, r.bgpCommunitiesCount),
    as_path: list(r.asPath, r.asPathCount),
    mpls_ttl: list(r.mplsTtl, r.mplsCount),
    mpls_label: list(r.mplsLabel, r.mplsCount),
    mpls_ip: r.mplsIpLen > 0 ? [addr(r.mplsIp, r.mplsIpLen)] : [],
    observation_domain_id: r.observationDomainId,
    observation_point_id: r.observationPointId,
    layer_stack: list(r.layerStack, r.layerCount),
    layer_size: list(r.layerSize, r.layerCount),
    ipv6_routing_header_addresses: r.ipv6RoutingHeaderAddresses
      .slice(0, r.ipv6RoutingHeaderAddressesCount)
      .map((a) => Array.from(a)),
    ipv6_routing_header_seg_left: r.ipv6RoutingHeaderSegLeft,
    protocol_name: r.protocolName,
    bytes_in: u64(r.bytesIn),
    bytes_out: u64(r.bytesOut),
    packets_in: u64(r.packetsIn),
    packets_out: u64(r.packetsOut),
    export_version: r.exportVersion,
    in_if_name: r.inIfName,
    out_if_name: r.outIfName,
    in_if_desc: r.inIfDesc,
    out_if_desc: r.outIfDesc,
    template_id: r.templateId,
    raw_bytes: u64(r.rawBytes),
    raw_packets: u64(r.rawPackets),
    vrf_name: r.vrfName,
  };
}

function decode(buf: Uint8Array): Record<string, unknown> {
  const msg = FlowMessage.decode(buf);
  return FlowMessage.toObject(msg, {
    longs: String,
    enums: Number,
    bytes: Array,
    defaults: true,
    arrays: true,
  });
}

/** protobufjs's own encoding of the same values (for the size comparison). */
function reference(r: FlowRecord): Uint8Array {
  const e = expected(r);
  const obj: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) {
    // proto3: default values are not on the wire (protobufjs writes any field that is set).
    if (v === 0 || v === '0' || v === '' || (Array.isArray(v) && v.length === 0)) continue;
    obj[k] = Array.isArray(v) && (k.endsWith('addr') || k.endsWith('address') || k.endsWith('hop'))
      ? Uint8Array.from(v as number[])
      : k === 'mpls_ip' || k === 'ipv6_routing_header_addresses'
        ? (v as number[][]).map((a) => Uint8Array.from(a))
        : v;
  }
  return FlowMessage.encode(FlowMessage.fromObject(obj)).finish();
}

function fixtures(): FlowRecord[] {
  const a = ipv4Record();
  addExtras(a); // extras are JSON-only; they must not disturb the protobuf
  return [a, ipv6Record(), new FlowRecord()];
}

test('flowpb: every field decodes with protobufjs to the record values', () => {
  const enc = new FlowPbEncoder();
  for (const rec of fixtures()) {
    const got = decode(enc.encode(rec));
    const want = expected(rec);
    for (const key of Object.keys(want)) {
      assert.deepEqual(got[key], want[key], `field ${key}`);
    }
    // Nothing decoded that we did not expect (e.g. a wrong tag lands in an unexpected field).
    assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort());
  }
});

test('flowpb: proto3 encoding is minimal (same size as protobufjs, zeros omitted)', () => {
  const enc = new FlowPbEncoder();
  for (const rec of fixtures()) {
    const ours = enc.encode(rec);
    assert.equal(ours.length, reference(rec).length);
  }
  assert.equal(enc.encode(new FlowRecord()).length, 0);
});

test('flowpb: exact big values (ns times in 2026 and 2106, counters near 2^53)', () => {
  const enc = new FlowPbEncoder();
  const rec = ipv4Record();
  const got = decode(enc.encode(rec));
  assert.equal(got.time_received_ns, '1773489600123456789');
  assert.equal(got.time_flow_start_ns, '1773489540000000005');
  assert.equal(got.bytes, '9007199254740991');
  assert.equal(got.packets, '9007199254740992');
  assert.equal(got.sampling_rate, '4294967296');
  assert.equal(got.src_mac, String(0x001122aabbcc));
  const six = decode(enc.encode(ipv6Record()));
  assert.equal(six.time_flow_start_ns, '4294967295999999999');

  // A sweep of sec/nsec pairs against BigInt.
  const r = new FlowRecord();
  for (let i = 0; i < 2000; i++) {
    r.timeReceivedSec = Math.floor(Math.random() * 0xffffffff);
    r.timeReceivedNsec = Math.floor(Math.random() * 1e9);
    r.bytes = Math.floor(Math.random() * Number.MAX_SAFE_INTEGER);
    const d = decode(enc.encode(r));
    assert.equal(d.time_received_ns, ns(r.timeReceivedSec, r.timeReceivedNsec));
    assert.equal(d.bytes, u64(r.bytes));
  }
});

test('flowpb: non-ASCII strings are UTF-8', () => {
  const enc = new FlowPbEncoder();
  const rec = ipv4Record();
  rec.inIfName = 'x'.repeat(200); // long ASCII: 2-byte length prefix
  rec.outIfDesc = 'é'.repeat(70); // 140 UTF-8 bytes from 70 UTF-16 units
  const got = decode(enc.encode(rec));
  assert.equal(got.out_if_name, 'Überlink – 東京 😀');
  assert.equal(got.vrf_name, 'VRF-Ä');
  assert.equal(got.in_if_desc, 'say "hi"\\ \n\ttab');
  assert.equal(got.in_if_name, 'x'.repeat(200));
  assert.equal(got.out_if_desc, 'é'.repeat(70));
});

test('flowpb: length-delimited stream decodes with protobufjs decodeDelimited', () => {
  const batch = new DelimitedBatchWriter(64);
  const small = new FlowRecord();
  small.type = 4;
  small.bytes = 1; // a tiny message: 1-byte prefix
  const huge = ipv6Record();
  huge.inIfDesc = 'd'.repeat(20000); // > 16 KiB: 3-byte prefix, body moved right
  const recs = [ipv4Record(), small, ipv6Record(), huge, new FlowRecord(), ipv4Record()];
  for (const r of recs) batch.append(r);
  assert.equal(batch.count, recs.length);
  const out = batch.finish();
  assert.equal(batch.count, 0);
  assert.equal(batch.byteLength, 0);

  const reader = protobuf.Reader.create(out);
  const decoded: Record<string, unknown>[] = [];
  while (reader.pos < reader.len) {
    const msg = FlowMessage.decodeDelimited(reader);
    decoded.push(FlowMessage.toObject(msg, { longs: String, enums: Number, bytes: Array, defaults: true, arrays: true }));
  }
  assert.equal(decoded.length, recs.length);
  recs.forEach((r, i) => assert.deepEqual(decoded[i], expected(r), `record ${i}`));

  // splitDelimited agrees, and each frame equals the single-message encoding.
  const frames = splitDelimited(out);
  const enc = new FlowPbEncoder();
  recs.forEach((r, i) => assert.deepEqual(Buffer.from(frames[i]!), Buffer.from(enc.encode(r))));
  // encodeDelimited is one frame.
  const one = enc.encodeDelimited(huge);
  assert.equal(FlowMessage.decodeDelimited(protobuf.Reader.create(one)).toJSON().in_if_desc, 'd'.repeat(20000));
  assert.throws(() => splitDelimited(out.subarray(0, out.length - 1)), /truncated/);
});

test('flowpb: the output buffer is reused, not regrown, across many records', () => {
  const enc = new FlowPbEncoder();
  const recs = [ipv4Record(), ipv6Record()];
  enc.encode(recs[0]!);
  const buf = enc.writer.buf;
  const cap = enc.writer.capacity;
  for (let i = 0; i < 20000; i++) {
    const out = enc.encode(recs[i & 1]!);
    assert.equal(out.buffer, buf.buffer);
  }
  assert.equal(enc.writer.buf, buf);
  assert.equal(enc.writer.capacity, cap);

  const batch = new DelimitedBatchWriter(1024);
  for (let i = 0; i < 100; i++) batch.append(recs[i & 1]!);
  batch.finish();
  const bbuf = batch.writer.buf;
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 100; i++) batch.append(recs[i & 1]!);
    const view = batch.finish();
    assert.equal(view.buffer, bbuf.buffer);
  }
  assert.equal(batch.writer.buf, bbuf);
});

test('flowpb: a buffer that is too small grows and keeps earlier content', () => {
  const batch = new DelimitedBatchWriter(64);
  const recs = Array.from({ length: 40 }, (_, i) => {
    const r = ipv4Record();
    r.sequenceNum = i + 1;
    return r;
  });
  for (const r of recs) batch.append(r);
  const frames = splitDelimited(batch.finish());
  assert.equal(frames.length, 40);
  frames.forEach((f, i) => assert.equal(decode(f).sequence_num, i + 1));
});

test('delimited frames: their ends and message starts; malformed and truncated frames', () => {
  // 3 bytes; 130 bytes (a two-byte length prefix); an empty message.
  const big = new Uint8Array(130).fill(7);
  const buf = Uint8Array.from([3, 1, 2, 3, 130, 1, ...big, 0]);
  assert.equal(delimitedFrameEnd(buf, 0), 4);
  assert.equal(delimitedMessageStart(buf, 0), 1);
  assert.equal(delimitedFrameEnd(buf, 4), 4 + 2 + 130);
  assert.equal(delimitedMessageStart(buf, 4), 6);
  assert.equal(delimitedFrameEnd(buf, 136), 137);
  assert.deepEqual(splitDelimited(buf).map((m) => m.length), [3, 130, 0]);
  // A length prefix cut off, one over 5 bytes, a message past the end.
  assert.equal(delimitedFrameEnd(Uint8Array.from([0x80]), 0), -1);
  assert.equal(delimitedFrameEnd(Uint8Array.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), 0), -1);
  assert.equal(delimitedFrameEnd(Uint8Array.from([5, 1, 2]), 0), -2);
  assert.throws(() => splitDelimited(Uint8Array.from([0x80])), /malformed length prefix/);
  assert.throws(() => splitDelimited(Uint8Array.from([5, 1, 2])), /truncated delimited message/);
});
