/**
 * sFlow v5 decoder: hand-built datagrams (test/support/sflow-builder.ts) for every sample and
 * record type, header walks (VLAN, QinQ, MPLS, IPv6 extension headers, truncation), skips and
 * garbage; counters encoders; and a tshark cross-check of one datagram per sample/record type.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { icmpFrame, tcpFrame, udpFrame } from '../src/capture/mod.js';
import { Counters } from '../src/decode/stats.js';
import { Exporter } from '../src/decode/exporter.js';
import { FlowType, LayerStack } from '../src/decode/record.js';
import { CounterRecord, SflowDecoder, isSflowDatagram, u64ToBigInt } from '../src/decode/sflow/mod.js';
import { CounterEncoder } from '../src/encode/counters.js';
import * as B from './support/sflow-builder.js';
import { Collect } from './support/sflow-collect.js';
import { decodeSflowWithTshark, field, numField, tsharkSkipReason, type SflowDatagram } from './support/tshark.js';

const EXPORTER = new Exporter('198.51.100.7', 6343);
const RECV_SEC = 1_700_000_000;
const RECV_NSEC = 123_456_789;

function decodeAll(dgs: Uint8Array | Uint8Array[], withCounters = true): { c: Collect; counters: Counters } {
  const c = new Collect();
  const counters = new Counters();
  const dec = new SflowDecoder(withCounters ? { counters, flows: c, counterSink: c } : { counters, flows: c });
  for (const d of Array.isArray(dgs) ? dgs : [dgs]) dec.decode(d, 0, d.length, EXPORTER, RECV_SEC, RECV_NSEC);
  return { c, counters };
}

const GENERIC: B.GenericCounters = {
  ifIndex: 3,
  ifType: 6,
  ifSpeed: 100_000_000_000n,
  ifDirection: 1,
  ifStatus: 3,
  ifInOctets: (1n << 60n) + 12345n, // above 2^53: must stay exact
  ifInUcastPkts: 1001,
  ifInMulticastPkts: 1002,
  ifInBroadcastPkts: 1003,
  ifInDiscards: 1004,
  ifInErrors: 1005,
  ifInUnknownProtos: 1006,
  ifOutOctets: 0xffffffffn + 2n,
  ifOutUcastPkts: 2001,
  ifOutMulticastPkts: 2002,
  ifOutBroadcastPkts: 2003,
  ifOutDiscards: 2004,
  ifOutErrors: 0xfffffffe,
  ifPromiscuousMode: 1,
};
const ETH = [11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 4294967295];

// ---------------------------------------------------------------------------------------------

test('IPv4 agent, flow sample, raw Ethernet/802.1Q/IPv4/TCP header', () => {
  const frame = tcpFrame({
    srcAddr: '10.1.2.3',
    dstAddr: '10.4.5.6',
    srcPort: 43210,
    dstPort: 443,
    flags: 'SA',
    vlan: 42,
    ttl: 61,
    tos: 0xb8,
    ipId: 0x1234,
    dontFragment: true,
    srcMac: '00:11:22:33:44:55',
    dstMac: '66:77:88:99:aa:bb',
  });
  const dg = B.datagram(
    [B.flowSample([B.rawHeader(frame, { frameLength: 1518 })], { sequence: 77, sourceIdIndex: 5, samplingRate: 2048, input: { value: 5 }, output: { value: 9 } })],
    { agent: '192.0.2.1', subAgentId: 3, sequence: 1000 },
  );
  const { c, counters } = decodeAll(dg);
  assert.deepEqual(counters.snapshot(), {});
  assert.equal(c.flows.length, 1);
  const f = c.flows[0]!;
  assert.equal(f.type, FlowType.SFLOW_5);
  assert.equal(f.exportVersion, 5);
  assert.equal(f.timeReceivedSec, RECV_SEC);
  assert.equal(f.timeReceivedNsec, RECV_NSEC);
  assert.equal(f.timeFlowStartSec, RECV_SEC);
  assert.equal(f.timeFlowEndSec, RECV_SEC);
  assert.equal(f.samplerAddress, '192.0.2.1');
  assert.equal(f.sequenceNum, 77);
  assert.equal(f.observationDomainId, 3);
  assert.equal(f.observationPointId, 5);
  assert.equal(f.samplingRate, 2048);
  assert.equal(f.inIf, 5);
  assert.equal(f.outIf, 9);
  assert.equal(f.bytes, 1518);
  assert.equal(f.packets, 1);
  assert.equal(f.etype, 0x0800);
  assert.equal(f.srcMac, '00:11:22:33:44:55');
  assert.equal(f.dstMac, '66:77:88:99:aa:bb');
  assert.equal(f.vlanId, 42);
  assert.equal(f.srcAddr, '10.1.2.3');
  assert.equal(f.dstAddr, '10.4.5.6');
  assert.equal(f.proto, 6);
  assert.equal(f.protocolName, 'TCP');
  assert.equal(f.srcPort, 43210);
  assert.equal(f.dstPort, 443);
  assert.equal(f.tcpFlags, 0x12);
  assert.equal(f.ipTos, 0xb8);
  assert.equal(f.ipTtl, 61);
  assert.equal(f.ipFlags, 2); // DF
  assert.equal(f.fragmentId, 0x1234);
  assert.equal(f.fragmentOffset, 0);
  assert.deepEqual(f.layerStack, [LayerStack.Ethernet, LayerStack.Dot1Q, LayerStack.IPv4, LayerStack.TCP]);
  assert.deepEqual(f.layerSize, [14, 4, 20, 20]);
});

test('IPv6 agent, expanded flow sample, interface formats', () => {
  const frame = udpFrame({ srcAddr: '10.0.0.1', dstAddr: '10.0.0.2', srcPort: 5000, dstPort: 53 });
  const dg = B.datagram(
    [
      B.flowSample([B.rawHeader(frame)], { expanded: true, sequence: 9, sourceIdType: 0, sourceIdIndex: 70000, samplingRate: 4000, input: { value: 70000 }, output: { value: 80000 } }),
      B.flowSample([B.rawHeader(frame)], { expanded: true, input: { value: 1 }, output: { format: 1, value: 258 } }),
      B.flowSample([B.rawHeader(frame)], { expanded: true, input: { value: 1 }, output: { format: 2, value: 7 } }),
      B.flowSample([B.rawHeader(frame)], { input: { value: 0x3fffffff }, output: { format: 2, value: 0 } }),
      B.flowSample([B.rawHeader(frame)], { input: { value: 12 }, output: { format: 1, value: 3 } }),
    ],
    { agent: '2001:db8::10', subAgentId: 1 },
  );
  const { c } = decodeAll(dg);
  assert.equal(c.flows.length, 5);
  const [a, b, m, internal, drop] = c.flows as [typeof c.flows[0], typeof c.flows[0], typeof c.flows[0], typeof c.flows[0], typeof c.flows[0]];
  assert.equal(a.samplerAddress, '2001:db8::10');
  assert.equal(a.sequenceNum, 9);
  assert.equal(a.samplingRate, 4000);
  assert.equal(a.inIf, 70000);
  assert.equal(a.outIf, 80000);
  assert.equal(a.observationPointId, 70000);
  assert.equal(a.srcAddr, '10.0.0.1');
  assert.equal(a.dstPort, 53);
  assert.equal(a.protocolName, 'UDP');
  // discarded: no output interface, forwarding status "dropped"
  assert.equal(b.outIf, 0);
  assert.equal(b.forwardingStatus, 128);
  // multiple outputs: raw word like goflow2's compact form
  assert.equal(m.outIf, 0x80000007);
  assert.equal(m.forwardingStatus, 0);
  assert.equal(internal.inIf, 0x3fffffff);
  assert.equal(internal.outIf, 0x80000000);
  assert.equal(drop.inIf, 12);
  assert.equal(drop.outIf, 0);
  assert.equal(drop.forwardingStatus, 128);
});

test('unknown agent address type 0 falls back to the exporter address', () => {
  const frame = udpFrame({ srcAddr: '10.0.0.1', dstAddr: '10.0.0.2', srcPort: 1, dstPort: 2 });
  const dg = B.datagram([B.flowSample([B.rawHeader(frame)])]);
  // rewrite: agent type 0, drop the 4 address bytes
  const d0 = new Uint8Array(dg.length - 4);
  d0.set(dg.subarray(0, 4), 0);
  d0.set(dg.subarray(12), 8);
  const { c } = decodeAll(d0);
  assert.equal(c.flows.length, 1);
  assert.equal(c.flows[0]!.samplerAddress, '198.51.100.7');
  assert.equal(c.flows[0]!.dstPort, 2);
});

test('QinQ: two tags, inner VLAN reported, both layers in the stack', () => {
  const frame = tcpFrame({ srcAddr: '10.0.0.1', dstAddr: '10.0.0.2', srcPort: 1, dstPort: 2, vlan: [100, 200] });
  const { c } = decodeAll(B.datagram([B.flowSample([B.rawHeader(frame)])]));
  const f = c.flows[0]!;
  assert.equal(f.vlanId, 200);
  assert.equal(f.etype, 0x0800);
  assert.deepEqual(f.layerStack, [LayerStack.Ethernet, LayerStack.Dot1Q, LayerStack.Dot1Q, LayerStack.IPv4, LayerStack.TCP]);
  assert.equal(f.srcAddr, '10.0.0.1');
});

test('MPLS stack of 3 labels, then IPv4/UDP', () => {
  const ip = udpFrame({ srcAddr: '172.16.0.1', dstAddr: '172.16.0.2', srcPort: 4789, dstPort: 4790, link: 'raw' });
  const frame = B.mplsFrame(
    [
      { label: 16, ttl: 255 },
      { label: 1048575, ttl: 7, exp: 5 },
      { label: 299776, ttl: 64 },
    ],
    ip,
  );
  const { c } = decodeAll(B.datagram([B.flowSample([B.rawHeader(frame)])]));
  const f = c.flows[0]!;
  assert.deepEqual(f.mplsLabel, [16, 1048575, 299776]);
  assert.deepEqual(f.mplsTtl, [255, 7, 64]);
  assert.equal(f.etype, 0x0800);
  assert.equal(f.srcAddr, '172.16.0.1');
  assert.equal(f.dstAddr, '172.16.0.2');
  assert.equal(f.srcPort, 4789);
  assert.equal(f.dstPort, 4790);
  assert.deepEqual(f.layerStack, [LayerStack.Ethernet, LayerStack.MPLS, LayerStack.IPv4, LayerStack.UDP]);
  assert.deepEqual(f.layerSize, [14, 12, 20, 8]);
});

/** Ethernet over MPLS (RFC 4448) with a control word (RFC 4385), and an MPLS payload that is neither. */
function pseudowireFrames(): { eompls: Uint8Array; unknown: Uint8Array } {
  const inner = udpFrame({ srcAddr: '10.20.30.40', dstAddr: '10.20.30.41', srcPort: 1111, dstPort: 2222, vlan: 300, ttl: 33, srcMac: '00:12:34:56:78:9a', dstMac: '00:12:34:56:78:9b' });
  const eompls = B.mplsFrame([{ label: 500, ttl: 60 }, { label: 501, ttl: 59 }], B.concat([Uint8Array.from([0, 0, 0, 7]), inner]));
  // First nibble 0xa: Ethernet without a control word cannot be told from other payloads.
  const unknown = B.mplsFrame([{ label: 502, ttl: 58 }], Uint8Array.from([0xa0, ...inner.subarray(1)]));
  return { eompls, unknown };
}

test('MPLS payload: control word (first nibble 0) then the inner Ethernet frame; other nibbles stop after the labels', () => {
  const { eompls, unknown } = pseudowireFrames();
  const { c, counters } = decodeAll(B.datagram([B.flowSample([B.rawHeader(eompls, { frameLength: 1234 })]), B.flowSample([B.rawHeader(unknown)])]));
  const [f, u] = c.flows as [NonNullable<(typeof c.flows)[0]>, NonNullable<(typeof c.flows)[0]>];
  assert.deepEqual(f.mplsLabel, [500, 501]);
  assert.deepEqual(f.mplsTtl, [60, 59]);
  assert.equal(f.srcMac, '00:12:34:56:78:9a', 'the inner frame\'s MACs');
  assert.equal(f.dstMac, '00:12:34:56:78:9b');
  assert.equal(f.vlanId, 300);
  assert.equal(f.etype, 0x0800);
  assert.equal(f.srcAddr, '10.20.30.40');
  assert.equal(f.dstAddr, '10.20.30.41');
  assert.equal(f.proto, 17);
  assert.equal(f.srcPort, 1111);
  assert.equal(f.dstPort, 2222);
  assert.equal(f.ipTtl, 33);
  assert.equal(f.bytes, 1234, 'frame_length, not the inner IP length');
  assert.deepEqual(f.layerStack, [LayerStack.Ethernet, LayerStack.MPLS, LayerStack.Ethernet, LayerStack.Dot1Q, LayerStack.IPv4, LayerStack.UDP]);
  assert.deepEqual(f.layerSize, [14, 12, 14, 4, 20, 8]);
  assert.deepEqual(u.mplsLabel, [502]);
  assert.equal(u.etype, 0x8847);
  assert.equal(u.srcAddr, '');
  assert.equal(u.srcMac, '02:00:00:00:00:01', 'the outer frame\'s');
  assert.deepEqual(u.layerStack, [LayerStack.Ethernet, LayerStack.MPLS]);
  assert.equal(counters.get('sflow.header.truncated'), 0);
});

test('Ethernet over MPLS with a control word agrees with tshark', { skip: tsharkSkipReason() }, async () => {
  const { eompls } = pseudowireFrames();
  const dg = B.datagram([B.flowSample([B.rawHeader(eompls)])]);
  const f = decodeAll(dg).c.flows[0]!;
  const [t] = await decodeSflowWithTshark([dg]);
  const raw = t!.samples[0]!.records[0]!.fields;
  assert.ok(raw.has('pweth.cw.sequence_number'), 'tshark took the control word too');
  assert.deepEqual(raw.get('mpls.label')!.map(Number), f.mplsLabel);
  assert.deepEqual(raw.get('mpls.ttl')!.map(Number), f.mplsTtl);
  const lastOf = (k: string) => raw.get(k)![raw.get(k)!.length - 1];
  assert.equal(raw.get('eth.src')!.length, 2, 'outer and inner Ethernet headers');
  assert.equal(lastOf('eth.src'), f.srcMac);
  assert.equal(lastOf('eth.dst'), f.dstMac);
  assert.equal(Number(lastOf('vlan.id')), f.vlanId);
  assert.equal(field(raw, 'ip.src'), f.srcAddr);
  assert.equal(field(raw, 'ip.dst'), f.dstAddr);
  assert.equal(numField(raw, 'ip.ttl'), f.ipTtl);
  assert.equal(numField(raw, 'udp.srcport'), f.srcPort);
  assert.equal(numField(raw, 'udp.dstport'), f.dstPort);
});

test('header_protocol IPv4 (11), IPv6 (12) and MPLS (13) start the walk at the right layer', () => {
  const ip4 = tcpFrame({ srcAddr: '10.9.9.9', dstAddr: '10.8.8.8', srcPort: 22, dstPort: 50000, link: 'raw' });
  const ip6 = udpFrame({ srcAddr: '2001:db8::a', dstAddr: '2001:db8::b', srcPort: 123, dstPort: 123, link: 'raw' });
  const mpls = B.mplsFrame([{ label: 100, ttl: 9 }], ip4).subarray(14);
  const { c } = decodeAll(
    B.datagram([
      B.flowSample([B.rawHeader(ip4, { protocol: 11 })]),
      B.flowSample([B.rawHeader(ip6, { protocol: 12 })]),
      B.flowSample([B.rawHeader(mpls, { protocol: 13 })]),
    ]),
  );
  assert.equal(c.flows[0]!.etype, 0x0800);
  assert.equal(c.flows[0]!.srcPort, 22);
  assert.deepEqual(c.flows[0]!.layerStack, [LayerStack.IPv4, LayerStack.TCP]);
  assert.equal(c.flows[1]!.etype, 0x86dd);
  assert.equal(c.flows[1]!.srcAddr, '2001:db8::a');
  assert.equal(c.flows[1]!.dstPort, 123);
  assert.deepEqual(c.flows[2]!.mplsLabel, [100]);
  assert.equal(c.flows[2]!.dstAddr, '10.8.8.8');
});

test('IPv4 UDP and ICMP, IPv4 options, non-first fragment', () => {
  const udp = udpFrame({ srcAddr: '10.0.0.1', dstAddr: '10.0.0.2', srcPort: 5353, dstPort: 5353, ipv4Options: Uint8Array.from([1, 1, 1, 1]) });
  const icmp = icmpFrame({ srcAddr: '10.0.0.3', dstAddr: '10.0.0.4', type: 3, code: 13 });
  const frag = udpFrame({ srcAddr: '10.0.0.5', dstAddr: '10.0.0.6', srcPort: 7, dstPort: 9, fragmentOffset: 185, moreFragments: true, ipId: 777 });
  const { c } = decodeAll(B.datagram([B.flowSample([B.rawHeader(udp)]), B.flowSample([B.rawHeader(icmp)]), B.flowSample([B.rawHeader(frag)])]));
  const [u, i, fr] = c.flows;
  assert.equal(u!.proto, 17);
  assert.equal(u!.srcPort, 5353);
  assert.deepEqual(u!.layerSize, [14, 24, 8]);
  assert.equal(i!.proto, 1);
  assert.equal(i!.protocolName, 'ICMP');
  assert.equal(i!.icmpType, 3);
  assert.equal(i!.icmpCode, 13);
  assert.equal(i!.srcPort, 0);
  assert.deepEqual(i!.layerStack, [LayerStack.Ethernet, LayerStack.IPv4, LayerStack.ICMP]);
  assert.equal(fr!.fragmentOffset, 185);
  assert.equal(fr!.ipFlags, 1); // MF
  assert.equal(fr!.fragmentId, 777);
  assert.equal(fr!.srcPort, 0, 'no transport header in a non-first fragment');
  assert.equal(fr!.dstPort, 0);
  assert.deepEqual(fr!.layerStack, [LayerStack.Ethernet, LayerStack.IPv4]);
});

test('IPv6 with hop-by-hop, routing (SRv6) and fragment headers, then UDP; ICMPv6', () => {
  const seg1 = Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11]);
  const seg2 = Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x22]);
  // routing header data after next-header/length: type 4, segments left 1, last entry 1, flags, tag(2), then 2 segments
  const srh = new Uint8Array(6 + 32);
  srh.set([4, 1, 1, 0, 0, 0], 0);
  srh.set(seg1, 6);
  srh.set(seg2, 22);
  const frame = udpFrame({
    srcAddr: '2001:db8::1',
    dstAddr: '2001:db8::2',
    srcPort: 40000,
    dstPort: 4500,
    tos: 0x2e,
    flowLabel: 0xabcde,
    ttl: 33,
    ipv6ExtensionHeaders: [
      { type: 0, data: new Uint8Array(4) },
      { type: 43, data: srh },
      { type: 44, data: Uint8Array.from([0, 1, 0xde, 0xad, 0xbe, 0xef]) }, // offset 0, M=1
      { type: 60, data: new Uint8Array(12) },
    ],
  });
  const icmp6 = icmpFrame({ srcAddr: 'fe80::1', dstAddr: 'ff02::1', type: 135, code: 0 });
  const { c } = decodeAll(B.datagram([B.flowSample([B.rawHeader(frame)]), B.flowSample([B.rawHeader(icmp6)])]));
  const f = c.flows[0]!;
  assert.equal(f.etype, 0x86dd);
  assert.equal(f.srcAddr, '2001:db8::1');
  assert.equal(f.dstAddr, '2001:db8::2');
  assert.equal(f.ipTos, 0x2e);
  assert.equal(f.ipv6FlowLabel, 0xabcde);
  assert.equal(f.ipTtl, 33);
  assert.equal(f.proto, 17);
  assert.equal(f.protocolName, 'UDP');
  assert.equal(f.srcPort, 40000);
  assert.equal(f.dstPort, 4500);
  assert.equal(f.fragmentId, 0xdeadbeef);
  assert.equal(f.fragmentOffset, 0);
  assert.equal(f.ipFlags, 1);
  assert.equal(f.ipv6RoutingHeaderSegLeft, 1);
  assert.deepEqual(f.ipv6RoutingHeaderAddresses, ['2001:db8::11', '2001:db8::22']);
  assert.deepEqual(f.layerStack, [LayerStack.Ethernet, LayerStack.IPv6, LayerStack.IPv6HeaderRouting, LayerStack.IPv6HeaderFragment, LayerStack.UDP]);
  // hop-by-hop (8) is counted in the IPv6 layer, destination options (16) in the fragment layer
  assert.deepEqual(f.layerSize, [14, 48, 40, 24, 8]);
  const i = c.flows[1]!;
  assert.equal(i.proto, 58);
  assert.equal(i.protocolName, 'IPv6-ICMP');
  assert.equal(i.icmpType, 135);
  assert.equal(i.icmpCode, 0);
  assert.deepEqual(i.layerStack, [LayerStack.Ethernet, LayerStack.IPv6, LayerStack.ICMPv6]);
});

test('IPv6 non-first fragment and AH: transport not parsed / found behind AH', () => {
  const frag = udpFrame({
    srcAddr: '2001:db8::1',
    dstAddr: '2001:db8::2',
    srcPort: 1,
    dstPort: 2,
    ipv6ExtensionHeaders: [{ type: 44, data: Uint8Array.from([0x05, 0xc8, 0, 0, 0, 9]) }], // offset 185
  });
  const ah = tcpFrame({ srcAddr: '2001:db8::3', dstAddr: '2001:db8::4', srcPort: 179, dstPort: 33000, ipv6ExtensionHeaders: [{ type: 51, data: new Uint8Array(10) }] });
  const { c } = decodeAll(B.datagram([B.flowSample([B.rawHeader(frag)]), B.flowSample([B.rawHeader(ah)])]));
  assert.equal(c.flows[0]!.fragmentOffset, 185);
  assert.equal(c.flows[0]!.fragmentId, 9);
  assert.equal(c.flows[0]!.proto, 17);
  assert.equal(c.flows[0]!.srcPort, 0);
  assert.equal(c.flows[1]!.proto, 6);
  assert.equal(c.flows[1]!.srcPort, 179);
  assert.equal(c.flows[1]!.dstPort, 33000);
});

test('truncated headers: decode what is there and count', () => {
  const frame = tcpFrame({ srcAddr: '10.0.0.1', dstAddr: '10.0.0.2', srcPort: 1111, dstPort: 2222, flags: 'S', vlan: 5 });
  const cuts = [
    { n: 10, check: (f: Collect['flows'][0]) => assert.equal(f.srcMac, '00:00:00:00:00:00') },
    { n: 16, check: (f: Collect['flows'][0]) => (assert.equal(f.srcMac, '02:00:00:00:00:01'), assert.equal(f.etype, 0x8100)) },
    { n: 30, check: (f: Collect['flows'][0]) => (assert.equal(f.vlanId, 5), assert.equal(f.etype, 0x0800), assert.equal(f.srcAddr, '')) },
    { n: 18 + 20 + 2, check: (f: Collect['flows'][0]) => (assert.equal(f.dstAddr, '10.0.0.2'), assert.equal(f.srcPort, 0)) },
    { n: 18 + 20 + 4, check: (f: Collect['flows'][0]) => (assert.equal(f.srcPort, 1111), assert.equal(f.dstPort, 2222), assert.equal(f.tcpFlags, 0)) },
    { n: 18 + 20 + 14, check: (f: Collect['flows'][0]) => assert.equal(f.tcpFlags, 0x02) },
  ];
  for (const cut of cuts) {
    const { c, counters } = decodeAll(B.datagram([B.flowSample([B.rawHeader(frame.subarray(0, cut.n), { frameLength: frame.length })])]));
    assert.equal(c.flows.length, 1, `cut ${cut.n}`);
    assert.equal(c.flows[0]!.bytes, frame.length);
    cut.check(c.flows[0]!);
    assert.equal(counters.get('sflow.header.truncated'), 1, `cut ${cut.n}`);
  }
  // IPv6 cut inside the extension headers
  const v6 = udpFrame({ srcAddr: '2001:db8::1', dstAddr: '2001:db8::2', srcPort: 1, dstPort: 2, ipv6ExtensionHeaders: [{ type: 0, data: new Uint8Array(20) }] });
  const { c, counters } = decodeAll(B.datagram([B.flowSample([B.rawHeader(v6.subarray(0, 14 + 40 + 10))])]));
  assert.equal(c.flows[0]!.dstAddr, '2001:db8::2');
  assert.equal(c.flows[0]!.srcPort, 0);
  assert.equal(counters.get('sflow.header.truncated'), 1);
});

test('sampled Ethernet, IPv4 and IPv6 records', () => {
  const dg = B.datagram([
    B.flowSample([B.sampledEthernet({ length: 1514, srcMac: '00:0a:0b:0c:0d:0e', dstMac: 'f0:f1:f2:f3:f4:f5', type: 0x86dd })]),
    B.flowSample([B.sampledIPv4({ length: 1400, protocol: 6, src: '203.0.113.5', dst: '198.51.100.9', srcPort: 8080, dstPort: 51000, tcpFlags: 0x18, tos: 0x10 })]),
    B.flowSample([B.sampledIPv6({ length: 900, protocol: 17, src: '2001:db8:1::5', dst: '2001:db8:2::9', srcPort: 443, dstPort: 60000, tos: 0x20 })]),
  ]);
  const { c, counters } = decodeAll(dg);
  assert.deepEqual(counters.snapshot(), {});
  const [e, v4, v6] = c.flows;
  assert.equal(e!.bytes, 1514);
  assert.equal(e!.srcMac, '00:0a:0b:0c:0d:0e');
  assert.equal(e!.dstMac, 'f0:f1:f2:f3:f4:f5');
  assert.equal(e!.etype, 0x86dd);
  assert.equal(v4!.bytes, 1400);
  assert.equal(v4!.etype, 0x0800);
  assert.equal(v4!.srcAddr, '203.0.113.5');
  assert.equal(v4!.dstAddr, '198.51.100.9');
  assert.equal(v4!.proto, 6);
  assert.equal(v4!.srcPort, 8080);
  assert.equal(v4!.dstPort, 51000);
  assert.equal(v4!.tcpFlags, 0x18);
  assert.equal(v4!.ipTos, 0x10);
  assert.equal(v6!.bytes, 900);
  assert.equal(v6!.etype, 0x86dd);
  assert.equal(v6!.srcAddr, '2001:db8:1::5');
  assert.equal(v6!.dstAddr, '2001:db8:2::9');
  assert.equal(v6!.proto, 17);
  assert.equal(v6!.srcPort, 443);
  assert.equal(v6!.ipTos, 0x20);
  // a raw header in the same sample wins over sampled records, whatever the order
  const frame = udpFrame({ srcAddr: '10.0.0.1', dstAddr: '10.0.0.2', srcPort: 1, dstPort: 2 });
  const both = decodeAll(
    B.datagram([
      B.flowSample([B.rawHeader(frame, { frameLength: 60 }), B.sampledIPv4({ length: 46, protocol: 6, src: '1.1.1.1', dst: '2.2.2.2', srcPort: 3, dstPort: 4 })]),
    ]),
  ).c.flows[0]!;
  assert.equal(both.srcAddr, '10.0.0.1');
  assert.equal(both.bytes, 60);
  assert.equal(both.proto, 17);
});

test('extended switch, router and gateway records (IPv4 and IPv6 next hops)', () => {
  const frame = udpFrame({ srcAddr: '10.0.0.1', dstAddr: '10.0.0.2', srcPort: 1, dstPort: 2 });
  const gw = (nextHop: string) =>
    B.extendedGateway({
      nextHop,
      as: 64500,
      srcAs: 64501,
      srcPeerAs: 64502,
      segments: [
        { type: 2, path: [64510, 64511, 4200000000] },
        { type: 1, path: [65001, 65002] },
        { type: 2, path: [65100] },
      ],
      communities: [((64500 << 16) | 100) >>> 0, 0xffffff01],
      localPref: 200,
    });
  const dg = B.datagram([
    B.flowSample([B.rawHeader(frame), B.extendedSwitch({ srcVlan: 10, srcPriority: 3, dstVlan: 20, dstPriority: 5 }), B.extendedRouter({ nextHop: '192.0.2.254', srcMaskLen: 24, dstMaskLen: 16 }), gw('192.0.2.253')]),
    B.flowSample([B.rawHeader(frame), B.extendedRouter({ nextHop: '2001:db8::fe', srcMaskLen: 48, dstMaskLen: 64 }), gw('2001:db8::fd')]),
    B.flowSample([B.extendedGateway({ nextHop: '10.0.0.9', as: 64999, srcAs: 0, srcPeerAs: 0, segments: [], communities: [], localPref: 0 })]),
  ]);
  const { c, counters } = decodeAll(dg);
  assert.deepEqual(counters.snapshot(), {});
  const [a, b, empty] = c.flows;
  assert.equal(a!.srcVlan, 10);
  assert.equal(a!.dstVlan, 20);
  assert.deepEqual(a!.extras, [{ name: 'dot1qPriority', bytes: [3] }]);
  assert.equal(a!.nextHop, '192.0.2.254');
  assert.equal(a!.srcNet, 24);
  assert.equal(a!.dstNet, 16);
  assert.equal(a!.bgpNextHop, '192.0.2.253');
  assert.deepEqual(a!.asPath, [64510, 64511, 4200000000, 65001, 65002, 65100]);
  assert.equal(a!.srcAs, 64501);
  assert.equal(a!.dstAs, 65100);
  assert.equal(a!.nextHopAs, 64510);
  assert.deepEqual(a!.bgpCommunities, [((64500 << 16) | 100) >>> 0, 0xffffff01]);
  assert.equal(b!.nextHop, '2001:db8::fe');
  assert.equal(b!.srcNet, 48);
  assert.equal(b!.dstNet, 64);
  assert.equal(b!.bgpNextHop, '2001:db8::fd');
  assert.equal(b!.asPath.length, 6);
  // empty path: dst AS is the router's own AS, src AS falls back to it too
  assert.equal(empty!.dstAs, 64999);
  assert.equal(empty!.srcAs, 64999);
  assert.deepEqual(empty!.asPath, []);
  assert.equal(empty!.bgpNextHop, '10.0.0.9');
});

test('counter sample and expanded counter sample: generic + Ethernet counters, exact 64-bit', () => {
  const dg = B.datagram(
    [
      B.counterSample([B.genericCounters(GENERIC), B.ethernetCounters(ETH)], { sequence: 55, sourceIdIndex: 3 }),
      B.counterSample([B.genericCounters({ ...GENERIC, ifIndex: 70001 })], { expanded: true, sequence: 56, sourceIdType: 0, sourceIdIndex: 70001 }),
      B.counterSample([B.ethernetCounters(ETH)], { sequence: 57, sourceIdIndex: 8 }),
      B.counterSample([B.tlv(1001, new Uint8Array(12))], { sequence: 58 }), // processor only: no record
    ],
    { agent: '2001:db8::77', subAgentId: 2, sequence: 900, uptimeMs: 123456 },
  );
  const { c, counters } = decodeAll(dg);
  assert.equal(c.counters.length, 3);
  assert.equal(counters.get('sflow.counter_record.unknown_type'), 1);
  const g = c.counters[0]!;
  assert.equal(g['agentAddress'], '2001:db8::77');
  assert.equal(g['subAgentId'], 2);
  assert.equal(g['datagramSequenceNum'], 900);
  assert.equal(g['uptimeMs'], 123456);
  assert.equal(g['sampleSequenceNum'], 55);
  assert.equal(g['sourceIdIndex'], 3);
  assert.equal(g['timeReceivedSec'], RECV_SEC);
  assert.equal(g['hasGeneric'], true);
  assert.equal(g['hasEthernet'], true);
  assert.equal(g['ifIndex'], 3);
  assert.equal(g['ifType'], 6);
  assert.equal(u64ToBigInt(g['ifSpeedHi'] as number, g['ifSpeedLo'] as number), GENERIC.ifSpeed);
  assert.equal(u64ToBigInt(g['ifInOctetsHi'] as number, g['ifInOctetsLo'] as number), GENERIC.ifInOctets);
  assert.equal(u64ToBigInt(g['ifOutOctetsHi'] as number, g['ifOutOctetsLo'] as number), GENERIC.ifOutOctets);
  for (const k of ['ifDirection', 'ifStatus', 'ifInUcastPkts', 'ifInMulticastPkts', 'ifInBroadcastPkts', 'ifInDiscards', 'ifInErrors', 'ifInUnknownProtos', 'ifOutUcastPkts', 'ifOutMulticastPkts', 'ifOutBroadcastPkts', 'ifOutDiscards', 'ifOutErrors', 'ifPromiscuousMode'] as const) {
    assert.equal(g[k], GENERIC[k], k);
  }
  const ethNames = ['AlignmentErrors', 'FCSErrors', 'SingleCollisionFrames', 'MultipleCollisionFrames', 'SQETestErrors', 'DeferredTransmissions', 'LateCollisions', 'ExcessiveCollisions', 'InternalMacTransmitErrors', 'CarrierSenseErrors', 'FrameTooLongs', 'InternalMacReceiveErrors', 'SymbolErrors'];
  ethNames.forEach((n, i) => assert.equal(g[`dot3Stats${n}`], ETH[i], n));
  const x = c.counters[1]!;
  assert.equal(x['sampleSequenceNum'], 56);
  assert.equal(x['ifIndex'], 70001);
  assert.equal(x['sourceIdIndex'], 70001);
  assert.equal(x['hasEthernet'], false);
  const e = c.counters[2]!;
  assert.equal(e['hasGeneric'], false);
  assert.equal(e['ifIndex'], 8, 'ifIndex from the data source when there is no generic record');
  assert.equal(e['dot3StatsSymbolErrors'], 4294967295);
  // without a counter sink, counter samples are skipped without counting
  const noSink = decodeAll(dg, false);
  assert.equal(noSink.c.counters.length, 0);
  assert.deepEqual(noSink.counters.snapshot(), {});
});

test('counter encoders: protobuf matches proto/counters.proto, NDJSON is exact', async () => {
  const dg = B.datagram([B.counterSample([B.genericCounters(GENERIC), B.ethernetCounters(ETH)], { sequence: 55, sourceIdType: 0, sourceIdIndex: 3 })], {
    agent: '2001:db8::77',
    subAgentId: 2,
    sequence: 900,
    uptimeMs: 123456,
  });
  const counters = new Counters();
  let captured: CounterRecord | undefined;
  const enc = new CounterEncoder();
  let proto: Uint8Array = new Uint8Array(0);
  let delimited: Uint8Array = new Uint8Array(0);
  let json = '';
  const dec = new SflowDecoder({
    counters,
    flows: { onFlow: () => assert.fail('no flows expected') },
    counterSink: {
      onCounters(r) {
        captured = r;
        proto = Uint8Array.from(enc.encodeProto(r));
        delimited = Uint8Array.from(enc.encodeProtoDelimited(r));
        json = Buffer.from(enc.encodeJson(r)).toString('utf8');
      },
    },
  });
  dec.decode(dg, 0, dg.length, EXPORTER, RECV_SEC, RECV_NSEC);
  assert.ok(captured);
  const schema = readFileSync(new URL('../../proto/counters.proto', import.meta.url), 'utf8');
  const root = protobuf.parse(schema, { keepCase: true }).root;
  const T = root.lookupType('flowcollector.InterfaceCounters');
  const m = T.toObject(T.decode(proto), { longs: String, bytes: Array, defaults: true }) as Record<string, unknown>;
  assert.equal(m['time_received_ns'], `${RECV_SEC}${String(RECV_NSEC).padStart(9, '0')}`);
  assert.deepEqual(m['sampler_address'], [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x77]);
  assert.equal(m['sub_agent_id'], 2);
  assert.equal(m['sequence_num'], 900);
  assert.equal(m['sample_sequence_num'], 55);
  assert.equal(m['source_id_index'], 3);
  assert.equal(m['uptime_ms'], 123456);
  assert.equal(m['has_generic'], true);
  assert.equal(m['has_ethernet'], true);
  assert.equal(m['if_index'], 3);
  assert.equal(m['if_speed'], GENERIC.ifSpeed.toString());
  assert.equal(m['if_in_octets'], GENERIC.ifInOctets.toString());
  assert.equal(m['if_out_octets'], GENERIC.ifOutOctets.toString());
  assert.equal(m['if_out_errors'], 0xfffffffe);
  assert.equal(m['if_promiscuous_mode'], 1);
  assert.equal(m['dot3_stats_alignment_errors'], 11);
  assert.equal(m['dot3_stats_symbol_errors'], 4294967295);
  // delimited = varint length + the same body
  const r = protobuf.Reader.create(delimited);
  const len = r.uint32();
  assert.equal(len, proto.length);
  assert.deepEqual(delimited.subarray(r.pos), proto);

  assert.ok(json.endsWith('}\n'));
  const j = JSON.parse(json) as Record<string, unknown>;
  assert.equal(j['sampler_address'], '2001:db8::77');
  assert.equal(j['sequence_num'], 900);
  assert.equal(j['if_index'], 3);
  assert.equal(j['if_speed'], 100_000_000_000);
  assert.equal(j['dot3_stats_symbol_errors'], 4294967295);
  assert.equal(j['if_out_errors'], 0xfffffffe);
  // 64-bit values are printed exactly (JSON.parse would round them)
  assert.match(json, new RegExp(`"if_in_octets":${GENERIC.ifInOctets}[,}]`));
  assert.match(json, new RegExp(`"time_received_ns":${RECV_SEC}${RECV_NSEC}[,}]`));
  assert.match(json, new RegExp(`"if_out_octets":${GENERIC.ifOutOctets}[,}]`));
  // every proto field has its JSON twin (snake_case names are shared)
  for (const f of T.fieldsArray) assert.ok(f.name in j, `JSON lacks ${f.name}`);
  // IPv4 agent, zero fields omitted in protobuf
  const c2 = new CounterRecord();
  c2.agentAddress.set([192, 0, 2, 1]);
  c2.agentAddressLen = 4;
  c2.timeReceivedSec = 0;
  c2.timeReceivedNsec = 5;
  const j2 = JSON.parse(Buffer.from(enc.encodeJson(c2)).toString()) as Record<string, unknown>;
  assert.equal(j2['sampler_address'], '192.0.2.1');
  assert.equal(j2['time_received_ns'], 5);
  const p2 = T.toObject(T.decode(enc.encodeProto(c2)), { longs: String }) as Record<string, unknown>;
  assert.deepEqual(Object.keys(p2).sort(), ['sampler_address', 'time_received_ns']);
});

test('unknown sample and record types are skipped by length and counted', () => {
  const frame = udpFrame({ srcAddr: '10.0.0.1', dstAddr: '10.0.0.2', srcPort: 1, dstPort: 2 });
  const dg = B.datagram([
    B.tlv(5, new Uint8Array(20)), // unknown standard sample type
    B.tlv(1, new Uint8Array(13), 4413), // enterprise sample (not ours)
    B.flowSample([B.tlv(1010, new Uint8Array(8)), B.tlv(7, new Uint8Array(9), 8800), B.rawHeader(frame), B.tlv(2100, new Uint8Array(0))]),
    B.counterSample([B.tlv(2001, new Uint8Array(40)), B.genericCounters(GENERIC)]),
  ]);
  const { c, counters } = decodeAll(dg);
  assert.equal(counters.get('sflow.sample.unknown_type'), 2);
  assert.equal(counters.get('sflow.flow_record.unknown_type'), 3);
  assert.equal(counters.get('sflow.counter_record.unknown_type'), 1);
  assert.equal(c.flows.length, 1);
  assert.equal(c.flows[0]!.dstAddr, '10.0.0.2');
  assert.equal(c.counters.length, 1);
  assert.equal(c.counters[0]!['ifIndex'], 3);
});

test('bad version, bad agent type, truncated and garbled datagrams: counted, never thrown', () => {
  const frame = tcpFrame({ srcAddr: '10.0.0.1', dstAddr: '10.0.0.2', srcPort: 1, dstPort: 2, vlan: [1, 2] });
  const good = B.datagram(
    [
      B.flowSample([B.rawHeader(frame), B.extendedGateway({ nextHop: '2001:db8::1', as: 1, srcAs: 2, srcPeerAs: 3, segments: [{ type: 2, path: [1, 2, 3] }], communities: [5], localPref: 1 })]),
      B.counterSample([B.genericCounters(GENERIC), B.ethernetCounters(ETH)]),
      B.flowSample([B.sampledIPv6({ length: 1, protocol: 6, src: '::1', dst: '::2', srcPort: 1, dstPort: 2 }), B.extendedRouter({ nextHop: '10.0.0.1', srcMaskLen: 1, dstMaskLen: 2 })], { expanded: true }),
    ],
    { agent: '2001:db8::1' },
  );
  assert.equal(decodeAll(good).counters.snapshot()['sflow.truncated'], undefined);

  const v4 = B.datagram([], { version: 4 });
  assert.equal(decodeAll(v4).counters.get('sflow.bad_version'), 1);
  const badAgent = Uint8Array.from(good);
  badAgent[7] = 9;
  assert.equal(decodeAll(badAgent).counters.get('sflow.bad_agent_address'), 1);
  const more = B.datagram([B.counterSample([B.genericCounters(GENERIC)])], { numSamples: 5 });
  const r = decodeAll(more);
  assert.equal(r.c.counters.length, 1);
  assert.equal(r.counters.get('sflow.truncated'), 1);

  // every prefix: no throw, truncation counted for all but the complete datagram
  const c = new Collect();
  const counters = new Counters();
  const dec = new SflowDecoder({ counters, flows: c, counterSink: c });
  for (let n = 0; n < good.length; n++) {
    const before = counters.get('sflow.truncated');
    dec.decode(good, 0, n, EXPORTER, 0, 0);
    assert.equal(counters.get('sflow.truncated'), before + 1, `prefix ${n}`);
  }
  // out-of-range offsets/lengths
  dec.decode(good, good.length - 4, 100, EXPORTER, 0, 0);
  dec.decode(good, -3, 10, EXPORTER, 0, 0);

  // random corruption (deterministic PRNG): never throws, always returns
  let seed = 0x12345678;
  const rnd = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 4294967296;
  };
  for (let i = 0; i < 5000; i++) {
    const d = Uint8Array.from(good);
    const flips = 1 + Math.floor(rnd() * 8);
    for (let k = 0; k < flips; k++) {
      const at = Math.floor(rnd() * d.length);
      d[at] = rnd() < 0.3 ? 0xff : Math.floor(rnd() * 256);
    }
    if (rnd() < 0.5) d.set([0, 0, 0, 5], 0);
    dec.decode(d, 0, Math.floor(rnd() * (d.length + 1)), EXPORTER, 0, 0);
  }
  // huge counts inside records must not loop: 0xffffffff samples, segments, communities
  const huge = Uint8Array.from(good);
  huge.set([0xff, 0xff, 0xff, 0xff], 36);
  dec.decode(huge, 0, huge.length, EXPORTER, 0, 0);
  assert.ok(counters.get('sflow.truncated') > good.length);
});

test('isSflowDatagram tells sFlow from NetFlow v5', () => {
  const s = B.datagram([B.counterSample([B.genericCounters(GENERIC)])]);
  assert.equal(isSflowDatagram(s, 0, s.length), true);
  const nf5 = new Uint8Array(24 + 48);
  nf5.set([0, 5, 0, 1], 0);
  assert.equal(isSflowDatagram(nf5, 0, nf5.length), false);
  const ipfix = new Uint8Array(40);
  ipfix.set([0, 10, 0, 40], 0);
  assert.equal(isSflowDatagram(ipfix, 0, ipfix.length), false);
});

// ---------------------------------------------------------------------------------------------
// tshark cross-check: one datagram with every sample and record type we decode

test('field values agree with tshark for every sample and record type', { skip: tsharkSkipReason() }, async () => {
  const tcp = tcpFrame({ srcAddr: '10.1.2.3', dstAddr: '10.4.5.6', srcPort: 43210, dstPort: 443, flags: 'PA', vlan: 42, ttl: 61, tos: 0x28, ipId: 0x4321, srcMac: '00:11:22:33:44:55', dstMac: '66:77:88:99:aa:bb' });
  const v6 = udpFrame({ srcAddr: '2001:db8::1', dstAddr: '2001:db8::2', srcPort: 40000, dstPort: 4500, ttl: 9, flowLabel: 0x12345 });
  const icmp = icmpFrame({ srcAddr: '10.0.0.3', dstAddr: '10.0.0.4', type: 0, code: 0 });
  const gwOpts = { as: 64500, srcAs: 64501, srcPeerAs: 64502, segments: [{ type: 2, path: [64510, 64511] }, { type: 1, path: [65001] }], communities: [0x10002, 0x30004], localPref: 150 };
  const dgs = [
    B.datagram(
      [
        B.flowSample([B.rawHeader(tcp, { frameLength: 1000 }), B.extendedSwitch({ srcVlan: 42, srcPriority: 2, dstVlan: 43, dstPriority: 6 }), B.extendedRouter({ nextHop: '192.0.2.254', srcMaskLen: 22, dstMaskLen: 23 }), B.extendedGateway({ nextHop: '192.0.2.253', ...gwOpts })], { sequence: 11, sourceIdIndex: 4, samplingRate: 1024, samplePool: 99999, input: { value: 4 }, output: { value: 6 } }),
        B.flowSample([B.rawHeader(v6), B.extendedRouter({ nextHop: '2001:db8::fe', srcMaskLen: 48, dstMaskLen: 56 }), B.extendedGateway({ nextHop: '2001:db8::fd', ...gwOpts })], { expanded: true, sequence: 12, sourceIdIndex: 70000, samplingRate: 333, input: { value: 70000 }, output: { value: 70001 } }),
        B.flowSample([B.rawHeader(icmp)], { sequence: 13, output: { format: 2, value: 3 } }),
      ],
      { agent: '192.0.2.1', subAgentId: 7, sequence: 501 },
    ),
    B.datagram(
      [
        B.flowSample([B.sampledEthernet({ length: 1514, srcMac: '00:0a:0b:0c:0d:0e', dstMac: 'f0:f1:f2:f3:f4:f5', type: 0x0800 })], { sequence: 21 }),
        B.flowSample([B.sampledIPv4({ length: 1400, protocol: 6, src: '203.0.113.5', dst: '198.51.100.9', srcPort: 8080, dstPort: 51000, tcpFlags: 0x18, tos: 0x10 })], { sequence: 22 }),
        B.flowSample([B.sampledIPv6({ length: 900, protocol: 17, src: '2001:db8:1::5', dst: '2001:db8:2::9', srcPort: 443, dstPort: 60000, tos: 3 })], { sequence: 23 }),
        B.counterSample([B.genericCounters(GENERIC), B.ethernetCounters(ETH)], { sequence: 24, sourceIdIndex: 3 }),
        B.counterSample([B.genericCounters({ ...GENERIC, ifIndex: 9, ifInOctets: 5n })], { expanded: true, sequence: 25, sourceIdIndex: 9 }),
      ],
      { agent: '2001:db8::5', subAgentId: 8, sequence: 502 },
    ),
  ];
  const ours = dgs.map((d) => decodeAll(d));
  const ts: SflowDatagram[] = await decodeSflowWithTshark(dgs);
  assert.equal(ts.length, 2);
  for (const t of ts) assert.equal(t.malformed, false);

  // datagram headers
  assert.equal(field(ts[0]!.header, 'sflow_245.agent'), ours[0]!.c.flows[0]!.samplerAddress);
  assert.equal(field(ts[1]!.header, 'sflow_245.agent.v6'), ours[1]!.c.flows[0]!.samplerAddress);
  assert.equal(numField(ts[0]!.header, 'sflow_245.sub_agent_id'), ours[0]!.c.flows[0]!.observationDomainId);
  assert.equal(numField(ts[1]!.header, 'sflow_245.sequence_number'), ours[1]!.c.counters[0]!['datagramSequenceNum']);

  // flow samples, datagram 1
  const tflows = ts[0]!.samples.filter((s) => s.kind === 'flow');
  const oflows = ours[0]!.c.flows;
  assert.equal(tflows.length, oflows.length);
  tflows.forEach((s, i) => {
    const o = oflows[i]!;
    assert.equal(numField(s.fields, 'sflow.flow_sample.sequence_number'), o.sequenceNum);
    assert.equal(numField(s.fields, 'sflow.flow_sample.sampling_rate'), o.samplingRate);
    const raw = s.records.find((r) => r.fields.has('sflow_245.header_protocol'))!.fields;
    assert.equal(numField(raw, 'sflow_245.header.frame_length'), o.bytes);
    assert.equal(field(raw, 'eth.src'), o.srcMac);
    assert.equal(field(raw, 'eth.dst'), o.dstMac);
    const ipSrc = field(raw, 'ip.src') ?? field(raw, 'ipv6.src');
    const ipDst = field(raw, 'ip.dst') ?? field(raw, 'ipv6.dst');
    assert.equal(ipSrc, o.srcAddr);
    assert.equal(ipDst, o.dstAddr);
    assert.equal(numField(raw, 'ip.proto') || numField(raw, 'ipv6.nxt'), o.proto);
    assert.equal(numField(raw, 'ip.ttl') || numField(raw, 'ipv6.hlim'), o.ipTtl);
  });
  const [t0, t1, t2] = tflows as [typeof tflows[0], typeof tflows[0], typeof tflows[0]];
  const [o0, o1, o2] = oflows as [typeof oflows[0], typeof oflows[0], typeof oflows[0]];
  assert.equal(numField(t0.fields, 'sflow.flow_sample.input_interface'), o0.inIf);
  assert.equal(numField(t0.fields, 'sflow.flow_sample.output_interface'), o0.outIf);
  assert.equal(numField(t0.fields, 'sflow.flow_sample.index'), o0.observationPointId);
  const raw0 = t0.records[0]!.fields;
  assert.equal(numField(raw0, 'tcp.srcport'), o0.srcPort);
  assert.equal(numField(raw0, 'tcp.dstport'), o0.dstPort);
  assert.equal(numField(raw0, 'tcp.flags'), o0.tcpFlags);
  assert.equal(numField(raw0, 'vlan.id'), o0.vlanId);
  assert.equal(numField(raw0, 'ip.dsfield'), o0.ipTos);
  assert.equal(numField(raw0, 'ip.id'), o0.fragmentId);
  const sw = t0.records.find((r) => r.label.startsWith('Extended switch'))!.fields;
  assert.equal(numField(sw, 'sflow_245.vlan.in'), o0.srcVlan);
  assert.equal(numField(sw, 'sflow_245.vlan.out'), o0.dstVlan);
  assert.deepEqual(o0.extras, [{ name: 'dot1qPriority', bytes: [numField(sw, 'sflow_245.pri.in')] }]);
  const rt0 = t0.records.find((r) => r.label.startsWith('Extended router'))!.fields;
  assert.equal(field(rt0, 'sflow_245.nexthop'), o0.nextHop);
  assert.equal(numField(rt0, 'sflow_245.nexthop.src_mask'), o0.srcNet);
  assert.equal(numField(rt0, 'sflow_245.nexthop.dst_mask'), o0.dstNet);
  for (const [t, o, nhField] of [[t0, o0, 'sflow_245.nexthop'], [t1, o1, 'sflow_245.nexthop.v6']] as const) {
    const gw = t.records.find((r) => r.label.startsWith('Extended gateway'))!.fields;
    assert.equal(field(gw, nhField), o.bgpNextHop);
    assert.equal(numField(gw, 'sflow_245.srcAS'), o.srcAs);
    // tshark 4.0 lists the AS path entries and then the communities under sflow_245.dstAS
    assert.deepEqual(gw.get('sflow_245.dstAS')!.map(Number), [...o.asPath, ...o.bgpCommunities]);
    assert.equal(numField(gw, 'sflow_245.communityEntries'), o.bgpCommunities.length);
  }
  // expanded flow sample
  assert.equal(numField(t1.fields, 'sflow.flow_sample.input_interface_value'), o1.inIf);
  assert.equal(numField(t1.fields, 'sflow.flow_sample.output_interface_value'), o1.outIf);
  assert.equal(numField(t1.fields, 'sflow.flow_sample.source_id_index'), o1.observationPointId);
  const raw1 = t1.records[0]!.fields;
  assert.equal(numField(raw1, 'udp.srcport'), o1.srcPort);
  assert.equal(numField(raw1, 'udp.dstport'), o1.dstPort);
  assert.equal(numField(raw1, 'ipv6.flow'), o1.ipv6FlowLabel);
  const rt1 = t1.records.find((r) => r.label.startsWith('Extended router'))!.fields;
  assert.equal(field(rt1, 'sflow_245.nexthop.v6'), o1.nextHop);
  // ICMP + multiple outputs
  const raw2 = t2.records[0]!.fields;
  assert.equal(numField(raw2, 'icmp.type'), o2.icmpType);
  assert.equal(numField(raw2, 'icmp.code'), o2.icmpCode);
  assert.equal(numField(t2.fields, 'sflow.flow_sample.output_interface'), o2.outIf);

  // datagram 2: sampled records and counters
  const s2 = ts[1]!.samples;
  const f2 = ours[1]!.c.flows;
  const eth = s2[0]!.records[0]!.fields;
  assert.equal(numField(eth, 'sflow_245.ethernet.length'), f2[0]!.bytes);
  assert.equal(field(eth, 'sflow_245.ethernet.source_mac_address'), f2[0]!.srcMac);
  assert.equal(field(eth, 'sflow_245.ethernet.destination_mac_address'), f2[0]!.dstMac);
  assert.equal(numField(eth, 'sflow_245.ethernet.packet_type'), f2[0]!.etype);
  for (const [i, src, dst, prio] of [[1, 'sflow_245.ipv4_src', 'sflow_245.ipv4_dst', 'sflow_245.ipv4_precedence_type'], [2, 'sflow_245.ipv6_src', 'sflow_245.ipv6_dst', 'sflow_245.ipv6_priority']] as const) {
    const r = s2[i]!.records[0]!.fields;
    const o = f2[i]!;
    assert.equal(numField(r, 'sflow_245.ip.length'), o.bytes);
    assert.equal(numField(r, 'sflow.ip_protocol'), o.proto);
    assert.equal(field(r, src), o.srcAddr);
    assert.equal(field(r, dst), o.dstAddr);
    assert.equal(numField(r, 'sflow_245.ip.source_port'), o.srcPort);
    assert.equal(numField(r, 'sflow.ip.destination_port'), o.dstPort);
    // tshark 4.0 reads sampled IPv4 tcp_flags and tos from the first (high) byte of their 32-bit
    // words, where the spec puts the value in the low byte; only IPv6 priority is comparable.
    if (i === 2) assert.equal(numField(r, prio), o.ipTos);
  }

  const tc = s2.filter((s) => s.kind === 'counters');
  const oc = ours[1]!.c.counters;
  assert.equal(tc.length, 2);
  assert.equal(oc.length, 2);
  tc.forEach((s, i) => {
    const o = oc[i]!;
    assert.equal(numField(s.fields, 'sflow.counters_sample.sequence_number'), o['sampleSequenceNum']);
    assert.equal(numField(s.fields, 'sflow.counters_sample.source_id_index'), o['sourceIdIndex']);
    const g = s.records.find((r) => r.label.startsWith('Generic'))!.fields;
    const pairs: Array<[string, string]> = [
      ['sflow_245.ifindex', 'ifIndex'],
      ['sflow_245.iftype', 'ifType'],
      ['sflow_245.ifdirection', 'ifDirection'],
      ['sflow_245.ifinpkt', 'ifInUcastPkts'],
      ['sflow_245.ifinmcast', 'ifInMulticastPkts'],
      ['sflow_245.ifinbcast', 'ifInBroadcastPkts'],
      ['sflow_245.ifindisc', 'ifInDiscards'],
      ['sflow_245.ifinerr', 'ifInErrors'],
      ['sflow_245.ifinunk', 'ifInUnknownProtos'],
      ['sflow_245.ifoutpkt', 'ifOutUcastPkts'],
      ['sflow_245.ifoutmcast', 'ifOutMulticastPkts'],
      ['sflow_245.ifoutbcast', 'ifOutBroadcastPkts'],
      ['sflow_245.ifoutdisc', 'ifOutDiscards'],
      ['sflow_245.ifouterr', 'ifOutErrors'],
      ['sflow_245.ifpromisc', 'ifPromiscuousMode'],
    ];
    for (const [tf, of] of pairs) assert.equal(numField(g, tf), o[of], tf);
    assert.equal(BigInt(field(g, 'sflow_245.ifspeed')!), u64ToBigInt(o['ifSpeedHi'] as number, o['ifSpeedLo'] as number));
    assert.equal(BigInt(field(g, 'sflow_245.ifinoct')!), u64ToBigInt(o['ifInOctetsHi'] as number, o['ifInOctetsLo'] as number));
    assert.equal(BigInt(field(g, 'sflow_245.ifoutoct')!), u64ToBigInt(o['ifOutOctetsHi'] as number, o['ifOutOctetsLo'] as number));
    assert.equal(numField(g, 'sflow_245.ifadmin_status') | (numField(g, 'sflow_245.ifoper_status') << 1), o['ifStatus']);
  });
  const te = tc[0]!.records.find((r) => r.label.startsWith('Ethernet'))!.fields;
  for (const n of ['AlignmentErrors', 'FCSErrors', 'SingleCollisionFrames', 'MultipleCollisionFrames', 'SQETestErrors', 'DeferredTransmissions', 'LateCollisions', 'ExcessiveCollisions', 'InternalMacTransmitErrors', 'CarrierSenseErrors', 'FrameTooLongs', 'InternalMacReceiveErrors', 'SymbolErrors']) {
    assert.equal(numField(te, `sflow_245.dot3Stats${n}`), oc[0]![`dot3Stats${n}`], n);
  }
});

test('FlowDecoder recognises sFlow from the payload and returns its first error reason', async () => {
  const { FlowDecoder, Exporter } = await import('../src/decode/mod.js');
  const d = new FlowDecoder({ sink: { onFlow() {} } });
  const ex = new Exporter('192.0.2.1', 6343);
  const truncated = Buffer.from([0, 0, 0, 5, 0, 0, 0, 1, 10, 0, 0, 1]);
  assert.equal(d.decode(truncated, 0, truncated.length, ex, 0, 0), 'sflow.truncated');
  assert.equal(d.lastProtocol, 'sflow_v5');
  const bad = Buffer.from([0, 0, 0, 5, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(d.decode(bad, 0, bad.length, ex, 0, 0), 'sflow.bad_agent_address');
  assert.equal(d.counters.get('decode.exception'), 0);
});
