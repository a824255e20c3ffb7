import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIPv6 } from 'node:net';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { DataType, FlowRecord } from '../src/decode/record.js';
import { JsonEncoder, NdjsonBatchWriter, formatIp, formatMac } from '../src/encode/mod.js';
import { addExtras, info, ipv4Record, ipv6Record } from './encode-fixtures.js';

const protoPath = fileURLToPath(new URL('../../proto/flow.proto', import.meta.url));
const FlowMessage = new protobuf.Root()
  .loadSync(protoPath, { keepCase: true })
  .lookupType('flowpb.FlowMessage');
/** JSON keys: every field of proto/flow.proto, in tag order as declared, then "fields". */
const SCHEMA_KEYS = [...FlowMessage.fieldsArray.map((f) => f.name), 'fields'];

const ns = (sec: number, nsec: number) => (BigInt(sec) * 1000000000n + BigInt(nsec)).toString();

/** The raw text of a top-level numeric member (for values beyond 2^53). */
function rawNumber(line: string, key: string): string {
  const m = new RegExp(`"${key}":(-?[0-9.e+]+)[,}]`).exec(line);
  assert.ok(m, `no numeric ${key} in ${line.slice(0, 80)}...`);
  return m[1]!;
}

/** The raw text of a member of the "fields" object. */
function rawField(line: string, key: string): string {
  const fields = line.slice(line.indexOf('"fields":{'));
  return rawNumber(fields, key.replace(/[#.]/g, (c) => `\\${c}`));
}

test('json: IPv4 record, every FlowMessage field with its snake_case name', () => {
  const enc = new JsonEncoder();
  const rec = ipv4Record();
  const line = enc.encodeToString(rec);
  const o = JSON.parse(line);
  const want = {
    type: 'IPFIX',
    sequence_num: 4294967295,
    sampling_rate: 4294967296,
    sampler_address: '192.0.2.1',
    bytes: 9007199254740991,
    src_addr: '10.1.2.3',
    dst_addr: '198.51.100.200',
    etype: 2048,
    proto: 6,
    src_port: 51514,
    dst_port: 443,
    in_if: 10,
    out_if: 4000000000,
    src_mac: '00:11:22:aa:bb:cc',
    dst_mac: 'fe:ff:ff:ff:ff:0e',
    src_vlan: 100,
    dst_vlan: 200,
    vlan_id: 300,
    ip_tos: 184,
    forwarding_status: 64,
    ip_ttl: 63,
    ip_flags: 2,
    tcp_flags: 27,
    icmp_type: 8,
    icmp_code: 1,
    ipv6_flow_label: 1048575,
    fragment_id: 54321,
    fragment_offset: 185,
    src_as: 65001,
    dst_as: 4200000000,
    next_hop: '203.0.113.254',
    next_hop_as: 3356,
    src_net: 24,
    dst_net: 32,
    bgp_next_hop: '203.0.113.1',
    bgp_communities: [0xfde80064, 0xffffff01, 1],
    as_path: [65001, 4200000000, 3356, 127],
    mpls_ttl: [64, 255, 1],
    mpls_label: [16, 1048575, 300],
    mpls_ip: ['192.0.2.77'],
    observation_domain_id: 0x01020304,
    observation_point_id: 7,
    layer_stack: ['Ethernet', 'Dot1Q', 'IPv4', 'TCP', 'Custom'],
    layer_size: [14, 4, 20, 32, 1400],
    ipv6_routing_header_addresses: ['2001:db8::a', '2001:db8:1::b'],
    ipv6_routing_header_seg_left: 1,
    protocol_name: 'TCP',
    bytes_in: 2 ** 53 - 2,
    bytes_out: 4294967313,
    packets_in: 127,
    packets_out: 128,
    export_version: 10,
    in_if_name: 'Gi0/0/0',
    out_if_name: 'Überlink – 東京 😀',
    in_if_desc: 'say "hi"\\ \n\ttab',
    out_if_desc: 'core',
    template_id: 256,
    raw_bytes: 1500,
    raw_packets: 1,
    vrf_name: 'VRF-Ä',
    fields: {},
  };
  for (const [k, v] of Object.entries(want)) assert.deepEqual(o[k], v, k);
  // Numbers beyond 2^53 as exact digits.
  assert.equal(rawNumber(line, 'time_received_ns'), '1773489600123456789');
  assert.equal(rawNumber(line, 'time_flow_start_ns'), '1773489540000000005');
  assert.equal(rawNumber(line, 'time_flow_end_ns'), '1773489599999999999');
  assert.equal(rawNumber(line, 'packets'), '9007199254740992');
  // Exactly the schema: the proto's fields (incl. extensions) + fields, in proto order.
  assert.deepEqual(Object.keys(o), SCHEMA_KEYS);
  assert.equal(SCHEMA_KEYS.length, 65);
});

test('json: IPv6 record and RFC 5952 addresses; zero values are emitted', () => {
  const enc = new JsonEncoder();
  const rec = ipv6Record();
  const line = enc.encodeToString(rec);
  const o = JSON.parse(line);
  assert.equal(o.type, 'NETFLOW_V9');
  assert.equal(o.sampler_address, '2001:db8::1');
  assert.equal(o.src_addr, 'fe80::1:2:3:4');
  assert.equal(o.dst_addr, '2001:db8::1:0:0:1');
  assert.equal(o.next_hop, '::ffff:192.0.2.1');
  assert.equal(o.bgp_next_hop, '::');
  assert.equal(rawNumber(line, 'time_flow_start_ns'), '4294967295999999999');
  assert.equal(rawNumber(line, 'time_received_ns'), ns(rec.timeReceivedSec, 1));
  assert.equal(o.time_flow_end_ns, 0);
  assert.equal(o.src_mac, '00:00:00:00:00:00');
  assert.equal(o.in_if, 0);
  assert.deepEqual(o.as_path, []);
  assert.deepEqual(o.mpls_ip, []);
  assert.deepEqual(o.layer_stack, []);
  assert.equal(o.mpls_label.length, 0);
  assert.equal(o.in_if_name, '');
});

test('json: empty record keeps the full schema', () => {
  const enc = new JsonEncoder();
  const o = JSON.parse(enc.encodeToString(new FlowRecord()));
  assert.deepEqual(Object.keys(o), SCHEMA_KEYS);
  assert.equal(o.type, 'FLOWUNKNOWN');
  assert.equal(o.src_addr, '');
  assert.equal(o.time_received_ns, 0);
  assert.deepEqual(o.fields, {});
  // Unknown enum codes are written as numbers (proto3 JSON mapping).
  const r = new FlowRecord();
  r.type = 9;
  r.layerStack[0] = 42;
  r.layerCount = 1;
  const u = JSON.parse(enc.encodeToString(r));
  assert.equal(u.type, 9);
  assert.deepEqual(u.layer_stack, [42]);
});

test('json: extras of every data type in the fields map', () => {
  const enc = new JsonEncoder();
  const rec = ipv4Record();
  const cases = addExtras(rec);
  const line = enc.encodeToString(rec);
  const o = JSON.parse(line);
  assert.deepEqual(Object.keys(o.fields), cases.map((c) => c.key));
  for (const c of cases) {
    if (c.raw !== undefined) assert.equal(rawField(line, c.key), c.raw, c.key);
    else assert.deepEqual(o.fields[c.key], c.value, c.key);
  }
});

test('json: out-of-range extra references never read outside the buffer', () => {
  const enc = new JsonEncoder();
  const rec = new FlowRecord();
  const buf = Uint8Array.from([1, 2, 3, 4]);
  rec.addExtra(info('octetDeltaCount', DataType.unsigned64, 1), buf, 2, 10);
  rec.addExtra(info('packetDeltaCount', DataType.unsigned64, 2), buf, 9, 4);
  const o = JSON.parse(enc.encodeToString(rec));
  assert.equal(o.fields.octetDeltaCount, 0x0304);
  assert.equal(o.fields.packetDeltaCount, '');
});

test('json: NDJSON batch lines and single-line encode', () => {
  const batch = new NdjsonBatchWriter(128);
  const a = ipv4Record();
  addExtras(a);
  const recs = [a, ipv6Record(), new FlowRecord()];
  for (const r of recs) batch.append(r);
  assert.equal(batch.count, 3);
  const text = Buffer.from(batch.finish()).toString('utf8');
  assert.equal(batch.count, 0);
  assert.ok(text.endsWith('\n'));
  const lines = text.split('\n');
  assert.equal(lines.length, 4);
  assert.equal(lines[3], '');
  const enc = new JsonEncoder();
  recs.forEach((r, i) => {
    assert.equal(lines[i], enc.encodeToString(r));
    const one = Buffer.from(enc.encode(r)).toString('utf8');
    assert.equal(one, `${lines[i]}\n`);
    JSON.parse(lines[i]!);
  });
});

test('json: the output buffer is reused, not regrown, across many records', () => {
  const enc = new JsonEncoder();
  const a = ipv4Record();
  addExtras(a);
  const recs = [a, ipv6Record()];
  enc.encode(a);
  const buf = enc.writer.buf;
  const cap = enc.writer.capacity;
  for (let i = 0; i < 5000; i++) {
    const out = enc.encode(recs[i & 1]!);
    assert.equal(out.buffer, buf.buffer);
  }
  assert.equal(enc.writer.buf, buf);
  assert.equal(enc.writer.capacity, cap);

  const batch = new NdjsonBatchWriter(1024);
  for (let i = 0; i < 50; i++) batch.append(recs[i & 1]!);
  batch.finish();
  const bbuf = batch.writer.buf;
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 50; i++) batch.append(recs[i & 1]!);
    assert.equal(batch.finish().buffer, bbuf.buffer);
  }
});

test('formatIp / formatMac', () => {
  assert.equal(formatIp(Uint8Array.from([0, 0, 0, 0]), 4), '0.0.0.0');
  assert.equal(formatIp(Uint8Array.from([255, 255, 255, 255]), 4), '255.255.255.255');
  assert.equal(formatIp(new Uint8Array(16), 0), '');
  const a = new Uint8Array(16);
  a.set([10, 20, 30, 40]);
  assert.equal(formatIp(a, 4), '10.20.30.40');
  const six = (...g: number[]) => Uint8Array.from(g.flatMap((x) => [x >> 8, x & 255]));
  assert.equal(formatIp(six(0, 0, 0, 0, 0, 0, 0, 1)), '::1');
  assert.equal(formatIp(six(1, 0, 0, 0, 0, 0, 0, 0)), '1::');
  assert.equal(formatIp(six(0x2001, 0xdb8, 0, 1, 1, 1, 1, 1)), '2001:db8:0:1:1:1:1:1'); // single 0 kept
  assert.equal(formatIp(six(0x2001, 0, 0, 1, 0, 0, 0, 1)), '2001:0:0:1::1'); // longest run
  assert.equal(formatIp(six(0x2001, 0xdb8, 0, 0, 1, 0, 0, 1)), '2001:db8::1:0:0:1'); // first on tie
  assert.equal(formatIp(six(0x2001, 0xDB8, 0xABCD, 0x12, 0, 0, 0xF, 0xFFFF)), '2001:db8:abcd:12::f:ffff');
  assert.equal(formatIp(six(0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0280)), '::ffff:192.0.2.128');
  assert.equal(formatIp(Uint8Array.from([1, 2, 3])), '010203');
  assert.equal(formatMac(0), '00:00:00:00:00:00');
  assert.equal(formatMac(0xffffffffffff), 'ff:ff:ff:ff:ff:ff');
  assert.equal(formatMac(0x0a0b0c0d0e0f), '0a:0b:0c:0d:0e:0f');
});

test('formatIp matches the WHATWG URL serialiser on random IPv6 addresses', () => {
  // Biased towards zero groups so compression cases are common.
  for (let i = 0; i < 3000; i++) {
    const b = new Uint8Array(16);
    for (let g = 0; g < 8; g++) {
      if (Math.random() < 0.5) continue;
      const v = Math.random() < 0.3 ? Math.floor(Math.random() * 16) : Math.floor(Math.random() * 65536);
      b[2 * g] = v >> 8;
      b[2 * g + 1] = v & 255;
    }
    const mapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
    if (mapped) continue;
    const long = Array.from({ length: 8 }, (_, g) => ((b[2 * g]! << 8) | b[2 * g + 1]!).toString(16)).join(':');
    const want = new URL(`http://[${long}]/`).hostname.slice(1, -1);
    const got = formatIp(b);
    assert.equal(got, want, long);
    assert.ok(isIPv6(got));
  }
});

test('json: integer digits match String() over random values of every magnitude', () => {
  const enc = new JsonEncoder();
  const r = new FlowRecord();
  for (let i = 0; i < 3000; i++) {
    const mag = 10 ** Math.floor(Math.random() * 10);
    r.srcPort = Math.floor(Math.random() * mag) % 65536;
    r.inIf = Math.floor(Math.random() * mag * 4.29);
    r.srcAs = i % 2 === 0 ? 0xffffffff - (i % 1000) : i;
    r.bytes = Math.floor(Math.random() * 10 ** Math.floor(Math.random() * 16));
    r.timeReceivedSec = Math.floor(Math.random() * 0xffffffff);
    r.timeReceivedNsec = Math.floor(Math.random() * 10 ** Math.floor(Math.random() * 10)) % 1e9;
    const line = enc.encodeToString(r);
    const o = JSON.parse(line);
    assert.equal(o.src_port, r.srcPort);
    assert.equal(o.in_if, r.inIf >>> 0);
    assert.equal(o.src_as, r.srcAs);
    assert.equal(rawNumber(line, 'bytes'), String(r.bytes));
    assert.equal(rawNumber(line, 'time_received_ns'), ns(r.timeReceivedSec, r.timeReceivedNsec));
  }
});
