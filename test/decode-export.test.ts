import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collectingDecoder } from './support/collect.js';
import { Exporter } from '../src/decode/mod.js';
import {
  ipfixMessage, v9Message, set, ipfixTemplateRecord, v9TemplateRecord, v9OptionsTemplateRecord,
  u8, u16, u32, u64, ip4, ip6, str, varlen,
} from './support/export-builder.js';

const T4 = [
  { id: 8, len: 4 }, { id: 12, len: 4 }, { id: 7, len: 2 }, { id: 11, len: 2 }, { id: 4, len: 1 },
  { id: 1, len: 8 }, { id: 2, len: 8 }, { id: 152, len: 8 }, { id: 153, len: 8 },
];
const rec4 = (src: string, dst: string, sp: number, dp: number, bytes: number) =>
  [...ip4(src), ...ip4(dst), ...u16(sp), ...u16(dp), ...u8(6), ...u64(bytes), ...u64(3), ...u64(1_700_000_000_123), ...u64(1_700_000_001_456)];

test('IPFIX: template and data in one message; FlowMessage fields and times', () => {
  const { flows, feed, dec } = collectingDecoder();
  const err = feed(ipfixMessage([set(2, ipfixTemplateRecord(256, T4)), set(256, [...rec4('10.0.0.1', '10.0.0.2', 1234, 443, 5000), ...rec4('10.0.0.3', '10.0.0.4', 53, 5353, 77)])], { seq: 42, domain: 7 }));
  assert.equal(err, undefined);
  assert.equal(flows.length, 2);
  const f = flows[0]!;
  assert.equal(f.type, 'IPFIX');
  assert.equal(f.src_addr, '10.0.0.1');
  assert.equal(f.dst_addr, '10.0.0.2');
  assert.equal(f.src_port, 1234);
  assert.equal(f.dst_port, 443);
  assert.equal(f.proto, 6);
  assert.equal(f.protocol_name, 'TCP');
  assert.equal(f.etype, 0x0800);
  assert.equal(f.bytes, 5000);
  assert.equal(f.packets, 3);
  assert.equal(f.sequence_num, 42);
  assert.equal(f.observation_domain_id, 7);
  assert.equal(f.sampler_address, '192.0.2.1');
  assert.equal(String(f.time_flow_start_ns), '1700000000123000000');
  assert.equal(String(f.time_flow_end_ns), '1700000001456000000');
  assert.equal(flows[1]!.bytes, 77);
  assert.equal(dec.counters.get('records.ipfix'), 2);
});

test('data before its template in the same message is decoded (templates pass first)', () => {
  const { flows, feed, dec } = collectingDecoder();
  const err = feed(ipfixMessage([set(256, rec4('10.0.0.1', '10.0.0.2', 1, 2, 3)), set(2, ipfixTemplateRecord(256, T4))]));
  assert.equal(err, undefined);
  assert.equal(flows.length, 1);
  assert.equal(dec.counters.get('template.missing'), 0);
});

test('pending buffer: data without a template waits and is decoded when the template arrives', () => {
  const { flows, feed, dec } = collectingDecoder();
  assert.equal(feed(ipfixMessage([set(256, rec4('10.0.0.1', '10.0.0.2', 1, 2, 99))], { seq: 5, exportTime: 1_700_000_100 })), 'template.missing');
  assert.equal(flows.length, 0);
  assert.equal(feed(ipfixMessage([set(2, ipfixTemplateRecord(256, T4))], { seq: 6 })), undefined);
  assert.equal(flows.length, 1);
  assert.equal(flows[0]!.bytes, 99);
  assert.equal(flows[0]!.sequence_num, 5, 'decoded with the header it arrived with');
  const c = dec.counters.snapshot();
  assert.equal(c['pending.buffered'], 1);
  assert.equal(c['pending.replayed'], 1);
  // Another exporter's template does not release this exporter's data.
  feed(ipfixMessage([set(257, rec4('10.0.0.1', '10.0.0.2', 1, 2, 1))]), new Exporter('192.0.2.9'));
  feed(ipfixMessage([set(2, ipfixTemplateRecord(257, T4))]));
  assert.equal(flows.length, 1);
});

test('IPFIX withdrawal of one template and of all data templates', () => {
  const { flows, feed, dec } = collectingDecoder();
  feed(ipfixMessage([set(2, [...ipfixTemplateRecord(256, T4), ...ipfixTemplateRecord(257, T4)])]));
  feed(ipfixMessage([set(2, [...u16(256), ...u16(0)])]));
  assert.equal(feed(ipfixMessage([set(256, rec4('1.1.1.1', '2.2.2.2', 1, 2, 3))])), 'template.missing');
  feed(ipfixMessage([set(257, rec4('1.1.1.1', '2.2.2.2', 1, 2, 3))]));
  assert.equal(flows.length, 1);
  feed(ipfixMessage([set(2, [...u16(2), ...u16(0)])]));
  assert.equal(feed(ipfixMessage([set(257, rec4('1.1.1.1', '2.2.2.2', 1, 2, 3))])), 'template.missing');
  assert.equal(dec.counters.get('template.withdrawn'), 2);
});

test('variable-length fields (1-byte and 3-byte forms), reduced-size counters, enterprise fields kept', () => {
  const { flows, feed } = collectingDecoder();
  const tpl = ipfixTemplateRecord(300, [
    { id: 8, len: 4 }, { id: 1, len: 2 }, { id: 2, len: 1 }, { id: 82, len: 0xffff }, { id: 83, len: 0xffff },
    { id: 7, len: 2 }, { id: 999, len: 3, pen: 9 }, { id: 1, len: 4, pen: 29305 },
  ]);
  const long = 'x'.repeat(300);
  const data = [...ip4('10.1.1.1'), ...u16(1500), ...u8(2), ...varlen(str('eth0')), ...varlen(str(long)), ...u16(80), 0xaa, 0xbb, 0xcc, ...u32(700)];
  assert.equal(feed(ipfixMessage([set(2, tpl), set(300, data, true)])), undefined);
  assert.equal(flows.length, 1, 'padding after the record is not a record');
  const f = flows[0]!;
  assert.equal(f.bytes, 1500 + 700, 'biflow: bytes = forward + reverse');
  assert.equal(f.bytes_in, 1500);
  assert.equal(f.bytes_out, 700);
  assert.equal(f.packets, 2);
  assert.equal(f.src_port, 80);
  assert.equal(f.fields.interfaceName, 'eth0');
  assert.equal(f.fields.interfaceDescription, long);
  assert.equal(f.fields['9.999'], 'aabbcc', 'unknown enterprise element kept as hex, named pen.id');
});

test('RFC 6313 subTemplateList and basicList decoded into the fields map', () => {
  const { flows, feed } = collectingDecoder();
  const inner = ipfixTemplateRecord(400, [{ id: 70, len: 3 }, { id: 82, len: 0xffff }]);
  const outer = ipfixTemplateRecord(401, [{ id: 8, len: 4 }, { id: 292, len: 0xffff }, { id: 291, len: 0xffff }]);
  const stl = [0x03, ...u16(400), 0x00, 0x01, 0x01, ...varlen(str('a')), 0x00, 0x02, 0x01, ...varlen(str('bc'))];
  const bl = [0x03, ...u16(7), ...u16(2), ...u16(80), ...u16(443)];
  const data = [...ip4('10.9.9.9'), ...varlen(stl), ...varlen(bl)];
  assert.equal(feed(ipfixMessage([set(2, [...inner, ...outer]), set(401, data)])), undefined);
  const f = flows[0]!;
  assert.deepEqual(f.fields.subTemplateList, {
    semantic: 'allOf', templateId: 400,
    records: [{ mplsTopLabelStackSection: '000101', interfaceName: 'a' }, { mplsTopLabelStackSection: '000201', interfaceName: 'bc' }],
  });
  assert.deepEqual(f.fields.basicList, { semantic: 'allOf', element: 'sourceTransportPort', values: [80, 443] });
});

test('NetFlow v9: template, options template (sampler table) and data; times from sysUptime', () => {
  const { flows, feed, dec } = collectingDecoder();
  const tpl = v9TemplateRecord(260, [
    { id: 8, len: 4 }, { id: 12, len: 4 }, { id: 1, len: 4 }, { id: 2, len: 4 }, { id: 22, len: 4 }, { id: 21, len: 4 },
    { id: 10, len: 2 }, { id: 14, len: 2 }, { id: 4, len: 1 }, { id: 56, len: 6 }, { id: 70, len: 3 }, { id: 71, len: 3 }, { id: 48, len: 1 },
  ]);
  const opt = v9OptionsTemplateRecord(261, [{ id: 1, len: 4 }], [{ id: 48, len: 1 }, { id: 49, len: 1 }, { id: 50, len: 4 }]);
  const data = [...ip4('192.168.1.1'), ...ip4('8.8.8.8'), ...u32(1000), ...u32(10), ...u32(40_000), ...u32(90_000),
    ...u16(3), ...u16(4), ...u8(17), 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x00, 0x01, 0x41, 0x00, 0x02, 0x51, ...u8(1)];
  const optData = [...u32(0), ...u8(1), ...u8(2), ...u32(100)];
  const err = feed(v9Message([set(0, tpl), set(1, opt, true), set(261, optData, true), set(260, data, true)], { count: 4, uptime: 100_000, unixSecs: 1_700_000_000, sourceId: 3 }));
  assert.equal(err, undefined);
  assert.equal(flows.length, 1);
  const f = flows[0]!;
  assert.equal(f.type, 'NETFLOW_V9');
  assert.equal(f.observation_domain_id, 3);
  assert.equal(f.src_addr, '192.168.1.1');
  assert.equal(f.in_if, 3);
  assert.equal(f.out_if, 4);
  assert.equal(f.proto, 17);
  assert.equal(f.src_mac, '00:11:22:33:44:55');
  assert.deepEqual(f.mpls_label, [20, 37]);
  // start = unixSecs*1000 - uptime + first = 1_700_000_000_000 - 100_000 + 40_000
  assert.equal(String(f.time_flow_start_ns), '1699999940000000000');
  assert.equal(String(f.time_flow_end_ns), '1699999990000000000');
  const scope = [...dec.templates.scopes()][0]!;
  const rows = [...scope.options.values()];
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.scopeKey, 'scopeSystem=0,samplerId=1');
  assert.deepEqual(rows[0]!.values, { scopeSystem: 0, samplerId: 1, samplerMode: 2, samplerRandomInterval: 100 });
});

test('v9 with variable-length (65535) fields as some exporters send them', () => {
  const { flows, feed } = collectingDecoder();
  const tpl = v9TemplateRecord(3281, [{ id: 8, len: 4 }, { id: 82, len: 0xffff }]);
  assert.equal(feed(v9Message([set(0, tpl), set(3281, [...ip4('1.2.3.4'), ...varlen(str('GigabitEthernet0/1'))], true)], { count: 2 })), undefined);
  assert.equal(flows[0]!.fields.interfaceName, 'GigabitEthernet0/1');
});

test('IPv6 addresses, both address families in one template, and next hops', () => {
  const { flows, feed } = collectingDecoder();
  const tpl = ipfixTemplateRecord(500, [{ id: 8, len: 4 }, { id: 27, len: 16 }, { id: 12, len: 4 }, { id: 28, len: 16 }, { id: 62, len: 16 }]);
  const d = [...ip4('0.0.0.0'), ...ip6('2001:db8::1'), ...ip4('0.0.0.0'), ...ip6('2001:db8::2'), ...ip6('fe80::1')];
  feed(ipfixMessage([set(2, tpl), set(500, d)]));
  const f = flows[0]!;
  assert.equal(f.src_addr, '2001:db8::1');
  assert.equal(f.dst_addr, '2001:db8::2');
  assert.equal(f.next_hop, 'fe80::1');
  assert.equal(f.etype, 0x86dd);
});

test('malformed messages are counted by reason and never throw', () => {
  const { flows, feed, dec } = collectingDecoder();
  const good = ipfixMessage([set(2, ipfixTemplateRecord(256, T4)), set(256, rec4('1.1.1.1', '2.2.2.2', 1, 2, 3))]);
  assert.equal(feed(good.subarray(0, 10)), 'ipfix.truncated_header');
  const badLen = Buffer.from(good);
  badLen.writeUInt16BE(good.length + 10, 2);
  assert.equal(feed(badLen), 'ipfix.truncated');
  const badSet = Buffer.from(good);
  badSet.writeUInt16BE(2, 18);
  assert.equal(feed(badSet), 'ipfix.set.bad_length');
  const longSet = Buffer.from(good);
  longSet.writeUInt16BE(0x7000, 18);
  assert.equal(feed(longSet), 'ipfix.set.truncated');
  assert.equal(feed(Buffer.from([0, 42, 0, 0])), 'datagram.unknown_version');
  assert.equal(feed(Buffer.from([0, 9])), 'datagram.too_short');
  assert.equal(feed(ipfixMessage([set(2, [...u16(100), ...u16(1), ...u16(8), ...u16(4)])])), 'ipfix.template.bad_id');
  assert.equal(feed(ipfixMessage([set(3, ipfixTemplateRecord(300, [{ id: 8, len: 4 }], 0))])), 'ipfix.options_template.bad_scope_count');
  // Fewer bytes than a record after the last one: padding (RFC 7011 3.3.1), non-zero counted.
  const short = ipfixMessage([set(2, ipfixTemplateRecord(256, T4)), set(256, [...rec4('1.1.1.1', '2.2.2.2', 1, 2, 3), 1, 2, 3, 4, 5])]);
  assert.equal(feed(short), undefined);
  assert.equal(dec.counters.get('set.nonzero_padding'), 1);
  assert.equal(flows.length, 1);
  // A variable-length field running past the set end is a truncated record.
  const vt = ipfixTemplateRecord(270, [{ id: 8, len: 4 }, { id: 82, len: 0xffff }]);
  assert.equal(feed(ipfixMessage([set(2, vt), set(270, [...ip4('1.1.1.1'), 200, 65, 66])])), 'record.truncated');
  assert.equal(flows.length, 1);
  assert.equal(dec.counters.get('decode.exception'), 0);
});

test('zero-filled tail after the last set is padding, not an error (Palo Alto)', () => {
  const { flows, feed } = collectingDecoder();
  const m = v9Message([set(0, v9TemplateRecord(256, [{ id: 8, len: 4 }])), set(256, ip4('9.9.9.9'))], { count: 2 });
  const padded = Buffer.concat([m, Buffer.alloc(600)]);
  assert.equal(feed(padded), undefined);
  assert.equal(flows.length, 1);
});

test('v9 sysUpTime times survive the 32-bit uptime wrap', () => {
  const { flows, feed } = collectingDecoder();
  const tpl = v9TemplateRecord(290, [{ id: 22, len: 4 }, { id: 21, len: 4 }]);
  // Uptime just wrapped to 1000 ms; the flow started 2000 ms earlier (before the wrap).
  feed(v9Message([set(0, tpl), set(290, [...u32(0xffffffff - 999), ...u32(500)])], { count: 2, uptime: 1000, unixSecs: 1_700_000_000 }));
  assert.equal(String(flows[0]!.time_flow_start_ns), '1699999998000000000');
  assert.equal(String(flows[0]!.time_flow_end_ns), '1699999999500000000');
});

test('v9 count check ignores records replayed from the pending buffer', () => {
  const { flows, feed } = collectingDecoder();
  const tpl = v9TemplateRecord(291, [{ id: 8, len: 4 }]);
  assert.equal(feed(v9Message([set(291, [...ip4('1.1.1.1'), ...ip4('1.1.1.2')])], { count: 2 })), 'template.missing');
  assert.equal(feed(v9Message([set(0, tpl), set(0, v9TemplateRecord(292, [{ id: 12, len: 4 }]))], { count: 2 })), undefined);
  assert.equal(flows.length, 2);
});

test('RFC 6313 subTemplateMultiList with two templates, and withdrawal of all options templates', () => {
  const { flows, feed, dec } = collectingDecoder();
  const a = ipfixTemplateRecord(410, [{ id: 7, len: 2 }]);
  const b = ipfixTemplateRecord(411, [{ id: 8, len: 4 }]);
  const outer = ipfixTemplateRecord(412, [{ id: 293, len: 0xffff }]);
  const stml = [0x03, ...u16(410), ...u16(8), ...u16(80), ...u16(443), ...u16(411), ...u16(8), ...ip4('10.0.0.9')];
  feed(ipfixMessage([set(2, [...a, ...b, ...outer]), set(412, varlen(stml))]));
  assert.deepEqual(flows[0]!.fields.subTemplateMultiList, {
    semantic: 'allOf',
    groups: [
      { templateId: 410, records: [{ sourceTransportPort: 80 }, { sourceTransportPort: 443 }] },
      { templateId: 411, records: [{ sourceIPv4Address: '10.0.0.9' }] },
    ],
  });
  feed(ipfixMessage([set(3, ipfixTemplateRecord(420, [{ id: 149, len: 4 }, { id: 34, len: 4 }], 1))]));
  const scope = [...dec.templates.scopes()][0]!;
  assert.ok(scope.get(420));
  feed(ipfixMessage([set(3, [...u16(3), ...u16(0)])]));
  assert.equal(scope.get(420), undefined);
  assert.ok(scope.get(412), 'data templates stay');
});

test('IPFIX without a time base keeps flowStartSysUpTime as an extra of its own length when the element repeats', () => {
  // The first occurrence (12 bytes, too long for a counter) is an extra as sent; the time comes
  // from the second (4 bytes), which is kept with ITS offset and length (fuzzer finding: the
  // first occurrence's length was used, reaching past the record).
  const { flows, feed } = collectingDecoder();
  const tpl = ipfixTemplateRecord(530, [{ id: 22, len: 12 }, { id: 22, len: 4 }, { id: 8, len: 4 }]);
  const d = [...new Array<number>(12).fill(0xaa), ...u32(5000), ...ip4('10.0.0.1')];
  assert.equal(feed(ipfixMessage([set(2, tpl), set(530, d)])), undefined);
  const f = flows[0]!;
  assert.equal(f.src_addr, '10.0.0.1');
  assert.equal(f.fields.flowStartSysUpTime, 'aaaaaaaaaaaaaaaaaaaaaaaa');
  assert.equal(f.fields['flowStartSysUpTime#2'], 5000);
  // Variable-length first occurrence, as the fuzzer's template had it.
  const tplV = ipfixTemplateRecord(531, [{ id: 22, len: 0xffff }, { id: 22, len: 4 }]);
  assert.equal(feed(ipfixMessage([set(2, tplV), set(531, [...varlen([1, 2]), ...u32(7000)])])), undefined);
  assert.equal(flows[1]!.fields.flowStartSysUpTime, 258);
  assert.equal(flows[1]!.fields['flowStartSysUpTime#2'], 7000);
});

test('a template id redefined on the wire takes the new layout; repeats of the same bytes are refreshes (v9 and IPFIX, enterprise fields too)', () => {
  for (const v9 of [false, true]) {
    const { flows, feed, dec } = collectingDecoder();
    // Layout A: src addr + bytes (4); layout B: dst addr + bytes (8) + (IPFIX) an enterprise field.
    const A = [{ id: 8, len: 4 }, { id: 1, len: 4 }];
    const B = v9 ? [{ id: 12, len: 4 }, { id: 1, len: 8 }] : [{ id: 12, len: 4 }, { id: 1, len: 8 }, { id: 7, len: 2, pen: 9 }];
    const tpl = (f: { id: number; len: number; pen?: number }[]) => (v9 ? set(0, v9TemplateRecord(300, f)) : set(2, ipfixTemplateRecord(300, f)));
    const msg = (sets: number[][], seq: number) => (v9 ? v9Message(sets, { seq, count: sets.length }) : ipfixMessage(sets, { seq }));
    const recA = [...ip4('10.0.0.1'), ...u32(111)];
    const recB = [...ip4('10.0.0.2'), ...u64(222), ...(v9 ? [] : u16(5))];
    assert.equal(feed(msg([tpl(A), set(300, recA)], 1)), undefined);
    assert.equal(feed(msg([tpl(A), set(300, recA)], 2)), undefined);
    assert.equal(feed(msg([tpl(B), set(300, recB)], 3)), undefined);
    assert.equal(feed(msg([tpl(B), set(300, recB)], 4)), undefined);
    assert.equal(feed(msg([set(300, recB)], 5)), undefined);
    assert.deepEqual(flows.map((f) => [f.src_addr ?? '', f.dst_addr ?? '', f.bytes]), [
      ['10.0.0.1', '', 111], ['10.0.0.1', '', 111],
      ['', '10.0.0.2', 222], ['', '10.0.0.2', 222], ['', '10.0.0.2', 222],
    ], v9 ? 'v9' : 'IPFIX');
    assert.equal(dec.counters.get('template.learned'), 1);
    assert.equal(dec.counters.get('template.changed'), 1);
    assert.equal(dec.counters.get('template.refreshed'), 2);
  }
});

test('the bytes of a known data template in an options template set are parsed as an options template, not taken as its refresh', () => {
  const { feed, dec } = collectingDecoder();
  const rec = v9TemplateRecord(300, [{ id: 8, len: 4 }, { id: 1, len: 4 }]);
  assert.equal(feed(v9Message([set(0, rec)], { seq: 1, count: 1 })), undefined);
  // As a v9 options template, 300's field count (2) is an option scope length: not a multiple of 4.
  assert.notEqual(feed(v9Message([set(1, rec)], { seq: 2, count: 1 })), undefined);
  assert.equal(dec.counters.get('netflow_v9.options_template.bad_length'), 1);
  assert.equal(dec.counters.get('template.refreshed'), 0);
  assert.equal(feed(v9Message([set(0, rec)], { seq: 3, count: 1 })), undefined);
  assert.equal(dec.counters.get('template.refreshed'), 1);
});
