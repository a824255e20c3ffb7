import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collectingDecoder } from './support/collect.js';
import { Exporter, FlowDecoder, resolveSampling, SamplingConfigError } from '../src/decode/mod.js';
import { DelimitedBatchWriter } from '../src/encode/mod.js';
import {
  ipfixMessage, v9Message, set, ipfixTemplateRecord, v9TemplateRecord, v9OptionsTemplateRecord,
  u8, u16, u32, u64, ip4, str, varlen,
} from './support/export-builder.js';

const V9_DATA = v9TemplateRecord(300, [{ id: 8, len: 4 }, { id: 12, len: 4 }, { id: 1, len: 4 }, { id: 2, len: 4 }, { id: 10, len: 2 }, { id: 14, len: 2 }, { id: 48, len: 1 }]);
const v9rec = (sampler: number, inIf = 1, outIf = 2) => [...ip4('10.0.0.1'), ...ip4('10.0.0.2'), ...u32(1000), ...u32(10), ...u16(inIf), ...u16(outIf), ...u8(sampler)];

test('v9 sampler table from options data (samplerId -> samplerRandomInterval), applied per record', () => {
  const { flows, feed } = collectingDecoder();
  const opt = v9OptionsTemplateRecord(301, [{ id: 1, len: 4 }], [{ id: 48, len: 1 }, { id: 49, len: 1 }, { id: 50, len: 4 }]);
  const rows = [...u32(0), ...u8(1), ...u8(2), ...u32(100), ...u32(0), ...u8(2), ...u8(2), ...u32(1000)];
  // Options data comes AFTER the flows in the datagram and is still applied first.
  feed(v9Message([set(0, V9_DATA), set(1, opt, true), set(300, [...v9rec(1), ...v9rec(2), ...v9rec(3)], true), set(301, rows, true)]));
  assert.deepEqual(flows.map((f) => f.sampling_rate), [100, 1000, 0], 'sampler 3 is unknown: 0');
  assert.deepEqual(flows.map((f) => f.bytes), [1000, 1000, 1000], 'not renormalised by default');
});

test('samplingInterval with an interface scope, and a scope-wide table entry', () => {
  const { flows, feed } = collectingDecoder();
  const opt = v9OptionsTemplateRecord(302, [{ id: 2, len: 4 }], [{ id: 34, len: 4 }, { id: 35, len: 1 }]);
  const data = v9TemplateRecord(303, [{ id: 8, len: 4 }, { id: 10, len: 2 }]);
  feed(v9Message([set(0, data), set(1, opt, true), set(302, [...u32(7), ...u32(512), ...u8(2)], true), set(303, [...ip4('1.1.1.1'), ...u16(7), ...ip4('1.1.1.2'), ...u16(8)], true)]));
  assert.deepEqual(flows.map((f) => f.sampling_rate), [512, 0]);
});

test('Nokia-style samplingPacketInterval/Space, population/size and probability; in-record and options', () => {
  const { flows, feed } = collectingDecoder();
  // Options: selectorId 5 -> 1 in (1+999) = 1000
  const opt = ipfixTemplateRecord(400, [{ id: 302, len: 4 }, { id: 305, len: 4 }, { id: 306, len: 4 }], 1);
  const data = ipfixTemplateRecord(401, [{ id: 8, len: 4 }, { id: 302, len: 4 }]);
  const inrec = ipfixTemplateRecord(402, [{ id: 8, len: 4 }, { id: 309, len: 4 }, { id: 310, len: 4 }]);
  const prob = ipfixTemplateRecord(403, [{ id: 8, len: 4 }, { id: 311, len: 8 }]);
  const p = Buffer.alloc(8);
  p.writeDoubleBE(0.01);
  feed(ipfixMessage([
    set(2, [...data, ...inrec, ...prob]), set(3, opt),
    set(401, [...ip4('1.1.1.1'), ...u32(5)]), set(400, [...u32(5), ...u32(1), ...u32(999)]),
    set(402, [...ip4('1.1.1.2'), ...u32(10), ...u32(20_000)]), set(403, [...ip4('1.1.1.3'), ...p]),
  ]));
  assert.deepEqual(flows.map((f) => [f.src_addr, f.sampling_rate]), [['1.1.1.1', 1000], ['1.1.1.2', 2000], ['1.1.1.3', 100]]);
  assert.equal(flows[0]!.fields.selectorId, 5, 'the key stays visible in fields');
});

test('configured default, override (most specific CIDR wins) and renormalisation with raw values', () => {
  const { flows, feed } = collectingDecoder({
    sampling: {
      defaults: [{ exporter: '192.0.2.0/24', rate: 64 }],
      overrides: [{ exporter: '198.51.100.0/24', rate: 10 }, { exporter: '198.51.100.7', rate: 20 }],
      renormalize: true,
    },
  });
  const tpl = set(0, v9TemplateRecord(300, [{ id: 8, len: 4 }, { id: 1, len: 4 }, { id: 2, len: 4 }]));
  const rec = set(300, [...ip4('10.0.0.1'), ...u32(1500), ...u32(3)]);
  feed(v9Message([tpl, rec]), new Exporter('192.0.2.5'));
  feed(v9Message([tpl, rec]), new Exporter('198.51.100.1'));
  feed(v9Message([tpl, rec]), new Exporter('198.51.100.7'));
  feed(v9Message([tpl, rec]), new Exporter('203.0.113.1'));
  assert.deepEqual(flows.map((f) => f.sampling_rate), [64, 10, 20, 0]);
  assert.deepEqual(flows.map((f) => f.bytes), [1500 * 64, 15000, 30000, 1500]);
  assert.deepEqual(flows.map((f) => f.raw_bytes), [1500, 1500, 1500, 0]);
  assert.deepEqual(flows.map((f) => f.raw_packets), [3, 3, 3, 0]);
});

test('exporters interleaved, the same Exporter objects in two decoders with other sampling settings: each datagram gets its exporter\'s rate and its scope\'s table', () => {
  const a = collectingDecoder({ sampling: { defaults: [{ exporter: '192.0.2.0/24', rate: 64 }] } });
  const b = collectingDecoder({ sampling: { overrides: [{ exporter: '192.0.2.7', rate: 5 }] } });
  const e1 = new Exporter('192.0.2.7', 2055);
  const e2 = new Exporter('198.51.100.1', 2055);
  const e3 = new Exporter('192.0.2.9', 2055);
  const opt = v9OptionsTemplateRecord(301, [{ id: 1, len: 4 }], [{ id: 48, len: 1 }, { id: 49, len: 1 }, { id: 50, len: 4 }]);
  // Only decoder a learns a sampler table, only for e2: sampler 1 -> 1 in 100.
  a.feed(v9Message([set(1, opt, true), set(301, [...u32(0), ...u8(1), ...u8(2), ...u32(100)], true)], { count: 2 }), e2);
  const data = v9Message([set(0, V9_DATA), set(300, v9rec(1), true)], { count: 2 });
  const order: [typeof a, Exporter, number][] = [
    [a, e1, 64], [b, e1, 5], [a, e2, 100], [b, e3, 0], [a, e3, 64], [b, e2, 0], [b, e1, 5], [a, e1, 64], [a, e2, 100], [a, e3, 64],
  ];
  for (let round = 0; round < 3; round++) {
    for (const [d, e, rate] of order) {
      const before = d.flows.length;
      assert.equal(d.feed(data, e), undefined);
      assert.equal(d.flows.length, before + 1);
      assert.equal(d.flows[before]!.sampling_rate, rate, `round ${round}: ${d === a ? 'a' : 'b'} ${e.key}`);
    }
  }
});

test('NetFlow v5 header rate; override applies to v5 too', () => {
  const v5 = Buffer.alloc(24 + 48);
  v5.writeUInt16BE(5, 0);
  v5.writeUInt16BE(1, 2);
  v5.writeUInt32BE(1_700_000_000, 8);
  v5.writeUInt16BE((1 << 14) | 300, 22);
  v5.writeUInt32BE(7, 24 + 16);
  const a = collectingDecoder();
  a.feed(v5);
  assert.equal(a.flows[0]!.sampling_rate, 300);
  assert.equal(a.flows[0]!.fields.samplingAlgorithm, 1);
  const b = collectingDecoder({ sampling: { overrides: [{ exporter: '192.0.2.1', rate: 50 }] } });
  b.feed(v5);
  assert.equal(b.flows[0]!.sampling_rate, 50);
});

/** Interface and VRF options data, then a data record of ifIndex 1 -> 2 in VRF 9 (one IPFIX message). */
function enrichedMessage(): Uint8Array {
  const ifOpt = ipfixTemplateRecord(500, [{ id: 10, len: 4 }, { id: 82, len: 0xffff }, { id: 83, len: 0xffff }], 1);
  const vrfOpt = ipfixTemplateRecord(501, [{ id: 234, len: 4 }, { id: 236, len: 32 }], 1);
  const data = ipfixTemplateRecord(502, [{ id: 8, len: 4 }, { id: 10, len: 4 }, { id: 14, len: 4 }, { id: 234, len: 4 }]);
  const vrfName = [...str('CUSTOMER-A'), ...new Array(22).fill(0)];
  return ipfixMessage([
    set(3, [...ifOpt, ...vrfOpt]), set(2, data),
    set(500, [...u32(1), ...varlen(str('Gi0/0/1')), ...varlen(str('uplink to core')), ...u32(2), ...varlen(str('Gi0/0/2')), ...varlen(str(''))]),
    set(501, [...u32(9), ...vrfName]),
    set(502, [...ip4('10.0.0.1'), ...u32(1), ...u32(2), ...u32(9)]),
  ]);
}

test('interface names and VRF names from options data enrich records', () => {
  const { flows, feed } = collectingDecoder();
  feed(enrichedMessage());
  const f = flows[0]!;
  assert.equal(f.in_if_name, 'Gi0/0/1');
  assert.equal(f.in_if_desc, 'uplink to core');
  assert.equal(f.out_if_name, 'Gi0/0/2');
  assert.equal(f.vrf_name, 'CUSTOMER-A');
});

test('sampling.interface_names false: no interface name or description on either path; VRF names stay', () => {
  for (const names of [true, false]) {
    const sampling = resolveSampling({ interface_names: names });
    // The FlowRecord path (JSON, library users).
    const { flows, feed } = collectingDecoder({ sampling });
    feed(enrichedMessage());
    const f = flows[0]!;
    assert.equal(f.in_if_name, names ? 'Gi0/0/1' : '');
    assert.equal(f.in_if_desc, names ? 'uplink to core' : '');
    assert.equal(f.out_if_name, names ? 'Gi0/0/2' : '');
    assert.equal(f.vrf_name, 'CUSTOMER-A');
    // The fused flowpb path.
    const enc = new DelimitedBatchWriter(4096);
    const dec = new FlowDecoder({ sampling, transcodeAfter: 0, sink: { onFlow: (r) => enc.append(r) }, frames: { writer: enc.writer, framesAdded: (_t: number, n: number) => enc.added(n) } });
    const b = enrichedMessage();
    dec.decode(b, 0, b.length, new Exporter('192.0.2.1', 2055), 1_700_000_000, 0);
    assert.equal(dec.transcoded.fused, 1, 'the data record went through a transcoder');
    const out = Buffer.from(enc.finish());
    for (const s of ['Gi0/0/1', 'uplink to core', 'Gi0/0/2']) assert.equal(out.includes(s), names, `${s} in the frame: ${names}`);
    assert.ok(out.includes('CUSTOMER-A'));
  }
});

test('sampling configuration errors name the field and the fix', () => {
  assert.throws(() => resolveSampling({ defaults: [{ exporter: '10.0.0.0/33', rate: 1 }] }), (e: Error) => e instanceof SamplingConfigError && /sampling\.defaults\[0\]\.exporter/.test(e.message));
  assert.throws(() => resolveSampling({ overrides: [{ exporter: '10.0.0.1', rate: 0 }] }), /sampling\.overrides\[0\]\.rate: must be a whole number of at least 1/);
  assert.throws(() => resolveSampling({ renormalise: true }), /sampling\.renormalise: unknown setting/);
  assert.throws(() => resolveSampling({ renormalize: 'yes' }), /true or false/);
  assert.throws(() => resolveSampling({ interface_names: 'off' }), /sampling\.interface_names: must be true or false/);
  assert.deepEqual(resolveSampling(undefined), { defaults: [], overrides: [], renormalize: false, interface_names: true });
});

void u64;
