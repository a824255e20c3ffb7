/**
 * Sampled-packet sections in NetFlow v9 / IPFIX records: dataLinkFrameSection (315) and
 * layer2packetSection (104) walked from the Ethernet header, ipHeaderPacketSection (313) from the
 * IP header, with the packet header walker the sFlow decoder uses (src/decode/packet.ts).
 *
 * Datagrams are built here; the decoded records are checked against fixed expectations and
 * against tshark: tshark 4.0 dissects a 315 section inside the IPFIX record itself, while 104
 * and 313 are only shown as hex, so those bytes (taken from tshark's own output) are written to
 * a pcap (Ethernet / raw IP link type) and dissected directly.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { collectingDecoder, type Flow } from './support/collect.js';
import { ipfixMessage, v9Message, set, ipfixTemplateRecord, v9TemplateRecord, u8, u16, u32, u64, ip4, ip6, varlen } from './support/export-builder.js';
import { concat, mplsFrame } from './support/sflow-builder.js';
import { icmpFrame, tcpFrame, udpFrame, writePcap, LINKTYPE_ETHERNET, LINKTYPE_RAW } from '../src/capture/mod.js';
import { compileTemplate } from '../src/decode/compile.js';
import { decodeCflowWithTshark, field, flattenFields, tsharkJsonFile, tsharkSkipReason, type FieldMap } from './support/tshark.js';
import { makeTempDir } from './support/tools.js';

// --- frames ---------------------------------------------------------------------------------

/** 802.1Q VLAN 42, IPv4 (DF, TOS 0x28, TTL 61), TCP SYN+ACK. */
const F_VLAN_TCP = tcpFrame({
  srcAddr: '10.1.2.3', dstAddr: '10.4.5.6', srcPort: 43210, dstPort: 443, flags: 'SA', vlan: 42, ttl: 61, tos: 0x28,
  ipId: 0x4321, dontFragment: true, srcMac: '00:11:22:33:44:55', dstMac: '66:77:88:99:aa:bb',
});
/** QinQ 100/200, IPv6 with hop-by-hop and destination options headers, UDP. */
const F_QINQ_V6_UDP = udpFrame({
  srcAddr: '2001:db8::1', dstAddr: '2001:db8:0:1::2', srcPort: 40000, dstPort: 4500, vlan: [100, 200], ttl: 9, tos: 0xb8,
  flowLabel: 0x12345, ipv6ExtensionHeaders: [{ type: 0 }, { type: 60 }], srcMac: '02:00:00:00:00:0a', dstMac: '02:00:00:00:00:0b',
  payload: new Uint8Array(100),
});
/** RFC 4385 control word: first nibble 0, flags 0, length 0, sequence 0x1234. */
const CW = Uint8Array.from([0, 0, 0x12, 0x34]);
/** Ethernet over MPLS (two labels) with a control word; inside: VLAN 20, IPv4, TCP. */
const F_MPLS_CW_ETH = mplsFrame(
  [{ label: 1000, ttl: 64 }, { label: 2000, ttl: 63, exp: 3 }],
  concat([CW, tcpFrame({ srcAddr: '192.168.7.1', dstAddr: '192.168.7.2', srcPort: 1025, dstPort: 22, flags: 'PA', vlan: 20, ttl: 30, srcMac: '00:de:ad:be:ef:01', dstMac: '00:de:ad:be:ef:02' })]),
);
/** Ethernet over MPLS with a control word; inside: IPv6 ICMPv6 echo request. */
const F_MPLS_CW_V6 = mplsFrame(
  [{ label: 77, ttl: 250 }],
  concat([CW, icmpFrame({ srcAddr: 'fd00::1', dstAddr: 'fd00::2', type: 128, code: 0, srcMac: '00:00:5e:00:53:01', dstMac: '00:00:5e:00:53:02' })]),
);
/** IPv4 over MPLS, no control word: three labels, then IPv4/UDP with 200 bytes of payload. */
const F_MPLS_IP = mplsFrame(
  [{ label: 16, ttl: 255 }, { label: 1048575, ttl: 7, exp: 5 }, { label: 299776, ttl: 64 }],
  udpFrame({ srcAddr: '172.16.0.1', dstAddr: '172.16.0.2', srcPort: 4789, dstPort: 4790, ttl: 12, payload: new Uint8Array(200), link: 'raw' }),
);
const P_V4_ICMP = icmpFrame({ srcAddr: '198.51.100.1', dstAddr: '198.51.100.2', type: 3, code: 13, tos: 0x10, ipId: 999, link: 'raw' });
const P_V6_TCP = tcpFrame({ srcAddr: '2001:db8:aa::1', dstAddr: '2001:db8:bb::2', srcPort: 8443, dstPort: 51515, flags: 'FA', ttl: 55, flowLabel: 0xabcde, link: 'raw' });

const bytes = (b: Uint8Array): number[] => [...b];

// --- datagrams --------------------------------------------------------------------------------

/** IPFIX, template 256 = dataLinkFrameSize (312) + dataLinkFrameSection (315, variable), nothing else. */
const T315 = ipfixTemplateRecord(256, [{ id: 312, len: 2 }, { id: 315, len: 0xffff }]);
const L2_FRAMES = [F_VLAN_TCP, F_QINQ_V6_UDP, F_MPLS_CW_ETH, F_MPLS_CW_V6];
const FRAME_SIZES = [1518, 1400, 9000, 118];
const DG_315 = ipfixMessage([set(2, T315), set(256, L2_FRAMES.flatMap((f, i) => [...u16(FRAME_SIZES[i]!), ...varlen(bytes(f))]))]);

/** NetFlow v9, template 300 = ingress interface + layer2packetSection (104) of 64 bytes, a cut of the MPLS frame. */
const T104 = v9TemplateRecord(300, [{ id: 10, len: 4 }, { id: 104, len: 64 }]);
const DG_104 = v9Message([set(0, T104), set(300, [...u32(7), ...F_MPLS_IP.subarray(0, 64)], true)], { count: 2 });

/** IPFIX, ipHeaderPacketSection (313): fixed length (IPv4/ICMP, what tshark accepts) and variable (IPv6/TCP). */
const T313 = ipfixTemplateRecord(310, [{ id: 313, len: P_V4_ICMP.length }]);
const T313V = ipfixTemplateRecord(311, [{ id: 313, len: 0xffff }]);
const DG_313 = ipfixMessage([set(2, T313), set(310, bytes(P_V4_ICMP))]);
const DG_313V = ipfixMessage([set(2, T313V), set(311, varlen(bytes(P_V6_TCP)))]);

function decode(...dgs: Uint8Array[]): { flows: Flow[]; counters: Record<string, number> } {
  const { flows, feed, dec } = collectingDecoder();
  for (const d of dgs) assert.equal(feed(d), undefined);
  assert.equal(dec.counters.get('decode.exception'), 0);
  return { flows, counters: dec.counters.snapshot() };
}

// --- expectations -----------------------------------------------------------------------------

describe('sampled packet sections: decoded fields', () => {
  test('IPFIX dataLinkFrameSection + dataLinkFrameSize only: VLAN/IPv4/TCP, QinQ/IPv6/UDP, MPLS + control word + Ethernet', () => {
    const { flows, counters } = decode(DG_315);
    assert.equal(flows.length, 4);
    for (const [i, f] of flows.entries()) {
      assert.equal(f.bytes, FRAME_SIZES[i], 'bytes from dataLinkFrameSize');
      assert.equal(f.packets, 1, 'one sampled packet');
      assert.equal(f.fields.dataLinkFrameSection, Buffer.from(L2_FRAMES[i]!).toString('hex'), 'the section stays in fields');
      assert.equal(f.fields.dataLinkFrameSize, undefined, 'dataLinkFrameSize became bytes');
    }
    const [a, b, c, d] = flows as [Flow, Flow, Flow, Flow];
    assert.equal(a.src_mac, '00:11:22:33:44:55');
    assert.equal(a.dst_mac, '66:77:88:99:aa:bb');
    assert.equal(a.vlan_id, 42);
    assert.equal(a.etype, 0x0800);
    assert.equal(a.src_addr, '10.1.2.3');
    assert.equal(a.dst_addr, '10.4.5.6');
    assert.equal(a.proto, 6);
    assert.equal(a.protocol_name, 'TCP');
    assert.equal(a.src_port, 43210);
    assert.equal(a.dst_port, 443);
    assert.equal(a.tcp_flags, 0x12);
    assert.equal(a.ip_tos, 0x28);
    assert.equal(a.ip_ttl, 61);
    assert.equal(a.ip_flags, 2, 'DF');
    assert.equal(a.fragment_id, 0x4321);
    assert.deepEqual(a.layer_stack, ['Ethernet', 'Dot1Q', 'IPv4', 'TCP']);
    assert.deepEqual(a.layer_size, [14, 4, 20, 20]);

    assert.equal(b.vlan_id, 200, 'innermost tag');
    assert.equal(b.etype, 0x86dd);
    assert.equal(b.src_addr, '2001:db8::1');
    assert.equal(b.dst_addr, '2001:db8:0:1::2');
    assert.equal(b.proto, 17, 'transport after the extension headers');
    assert.equal(b.src_port, 40000);
    assert.equal(b.dst_port, 4500);
    assert.equal(b.ip_tos, 0xb8);
    assert.equal(b.ip_ttl, 9);
    assert.equal(b.ipv6_flow_label, 0x12345);
    assert.deepEqual(b.layer_stack, ['Ethernet', 'Dot1Q', 'Dot1Q', 'IPv6', 'UDP']);
    assert.deepEqual(b.layer_size, [14, 4, 4, 56, 8]);

    // Ethernet over MPLS: labels of the outer frame, then the customer's frame (its MACs, VLAN, IP).
    assert.deepEqual(c.mpls_label, [1000, 2000]);
    assert.deepEqual(c.mpls_ttl, [64, 63]);
    assert.equal(c.src_mac, '00:de:ad:be:ef:01');
    assert.equal(c.dst_mac, '00:de:ad:be:ef:02');
    assert.equal(c.vlan_id, 20);
    assert.equal(c.etype, 0x0800);
    assert.equal(c.src_addr, '192.168.7.1');
    assert.equal(c.dst_port, 22);
    assert.equal(c.tcp_flags, 0x18);
    assert.equal(c.ip_ttl, 30);
    assert.deepEqual(c.layer_stack, ['Ethernet', 'MPLS', 'Ethernet', 'Dot1Q', 'IPv4', 'TCP']);
    assert.deepEqual(c.layer_size, [14, 12, 14, 4, 20, 20], 'the control word counts with the MPLS layer');

    assert.deepEqual(d.mpls_label, [77]);
    assert.equal(d.etype, 0x86dd);
    assert.equal(d.src_addr, 'fd00::1');
    assert.equal(d.proto, 58);
    assert.equal(d.icmp_type, 128);
    assert.equal(d.icmp_code, 0);
    assert.deepEqual(d.layer_stack, ['Ethernet', 'MPLS', 'Ethernet', 'IPv6', 'ICMPv6']);
    assert.equal(counters['section.truncated'] ?? 0, 0);
    assert.equal(counters['section.not_walked'] ?? 0, 0);
  });

  test('NetFlow v9 layer2packetSection of 64 bytes: IPv4 over MPLS without a control word; bytes from the IP header', () => {
    const { flows, counters } = decode(DG_104);
    const f = flows[0]!;
    assert.equal(f.in_if, 7);
    assert.deepEqual(f.mpls_label, [16, 1048575, 299776]);
    assert.deepEqual(f.mpls_ttl, [255, 7, 64]);
    assert.equal(f.etype, 0x0800);
    assert.equal(f.src_addr, '172.16.0.1');
    assert.equal(f.dst_addr, '172.16.0.2');
    assert.equal(f.proto, 17);
    assert.equal(f.src_port, 4789);
    assert.equal(f.dst_port, 4790);
    assert.equal(f.ip_ttl, 12);
    assert.equal(f.bytes, 20 + 8 + 200, 'no byte count or frame size in the record: the IPv4 total length');
    assert.equal(f.packets, 1);
    assert.deepEqual(f.layer_stack, ['Ethernet', 'MPLS', 'IPv4', 'UDP']);
    assert.equal(f.fields.layer2packetSectionData, Buffer.from(F_MPLS_IP.subarray(0, 64)).toString('hex'));
    assert.equal(counters['section.truncated'] ?? 0, 0, '64 bytes reach past the UDP header');
  });

  test('IPFIX ipHeaderPacketSection: IPv4/ICMP (fixed length) and IPv6/TCP (variable length)', () => {
    const { flows } = decode(DG_313, DG_313V);
    const [a, b] = flows as [Flow, Flow];
    assert.equal(a.etype, 0x0800);
    assert.equal(a.src_addr, '198.51.100.1');
    assert.equal(a.proto, 1);
    assert.equal(a.icmp_type, 3);
    assert.equal(a.icmp_code, 13);
    assert.equal(a.ip_tos, 0x10);
    assert.equal(a.fragment_id, 999);
    assert.equal(a.bytes, P_V4_ICMP.length);
    assert.equal(a.packets, 1);
    assert.equal(a.src_mac, '00:00:00:00:00:00');
    assert.deepEqual(a.layer_stack, ['IPv4', 'ICMP']);
    assert.equal(b.etype, 0x86dd);
    assert.equal(b.src_addr, '2001:db8:aa::1');
    assert.equal(b.dst_addr, '2001:db8:bb::2');
    assert.equal(b.src_port, 8443);
    assert.equal(b.dst_port, 51515);
    assert.equal(b.tcp_flags, 0x11);
    assert.equal(b.ip_ttl, 55);
    assert.equal(b.ipv6_flow_label, 0xabcde);
    assert.equal(b.bytes, P_V6_TCP.length, 'IPv6: 40 + payload length');
    assert.deepEqual(b.layer_stack, ['IPv6', 'TCP']);
  });

  test('elements of the template win over the walked header; absent (zero) addresses are filled', () => {
    const { flows } = decode(
      ipfixMessage([
        set(2, ipfixTemplateRecord(400, [
          { id: 8, len: 4 }, { id: 27, len: 16 }, { id: 4, len: 1 }, { id: 11, len: 2 }, { id: 56, len: 6 }, { id: 58, len: 2 },
          { id: 1, len: 8 }, { id: 2, len: 8 }, { id: 5, len: 1 }, { id: 70, len: 3 }, { id: 315, len: 0xffff },
        ])),
        set(400, [
          // IPv4 source given; IPv6 source zero; the frame is IPv4 10.1.2.3 -> 10.4.5.6.
          ...ip4('203.0.113.9'), ...ip6('::'), ...u8(17), ...u16(8080), 0x02, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, ...u16(7), ...u64(5000), ...u64(5),
          ...u8(0), 0x00, 0x01, 0x41, ...varlen(bytes(F_VLAN_TCP)),
          // IPv4 source all zero, no IPv6 source: taken from the frame (MPLS frame, EoMPLS).
          ...ip4('0.0.0.0'), ...ip6('::'), ...u8(6), ...u16(2222), 0x02, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, ...u16(9), ...u64(100), ...u64(1),
          ...u8(4), 0x00, 0x00, 0x00, ...varlen(bytes(F_MPLS_CW_ETH)),
        ]),
      ]),
    );
    const [a, b] = flows as [Flow, Flow];
    assert.equal(a.src_addr, '203.0.113.9', 'explicit source address');
    assert.equal(a.dst_addr, '10.4.5.6', 'no destination element: from the frame');
    assert.equal(a.proto, 17, 'explicit protocol, though the frame is TCP');
    assert.equal(a.protocol_name, 'UDP');
    assert.equal(a.dst_port, 8080, 'explicit');
    assert.equal(a.src_port, 43210, 'from the frame');
    assert.equal(a.src_mac, '02:aa:aa:aa:aa:aa', 'explicit');
    assert.equal(a.dst_mac, '66:77:88:99:aa:bb', 'from the frame');
    assert.equal(a.vlan_id, 7, 'vlanId (58) element, though the frame is tagged 42');
    assert.equal(a.src_vlan, 7);
    assert.equal(a.bytes, 5000, 'counters as sent');
    assert.equal(a.packets, 5);
    assert.equal(a.ip_tos, 0, 'explicit 0 stays 0 (frame: 0x28)');
    assert.equal(a.ip_ttl, 61, 'from the frame');
    assert.equal(a.tcp_flags, 0x12, 'from the frame');
    assert.deepEqual(a.mpls_label, [20], 'mplsTopLabelStackSection');
    assert.deepEqual(a.layer_stack, ['Ethernet', 'Dot1Q', 'IPv4', 'TCP']);
    assert.equal(b.src_addr, '192.168.7.1', 'zero address element: from the frame');
    assert.equal(b.dst_addr, '192.168.7.2');
    assert.equal(b.proto, 6);
    assert.equal(b.dst_port, 2222);
    assert.equal(b.src_port, 1025);
    assert.deepEqual(b.mpls_label, [], 'a zero label stack section is no label, and the frame does not add any');
    assert.equal(b.src_mac, '02:bb:bb:bb:bb:bb');
    assert.equal(b.dst_mac, '00:de:ad:be:ef:02');
    assert.equal(b.ip_tos, 4);
  });

  test('sectionOffset / layer2packetSectionOffset not 0 and a non-Ethernet dataLinkFrameType: not walked, counted', () => {
    const t1 = ipfixTemplateRecord(500, [{ id: 409, len: 2 }, { id: 315, len: 0xffff }]);
    const t2 = ipfixTemplateRecord(501, [{ id: 408, len: 2 }, { id: 315, len: 0xffff }]);
    const t3 = v9TemplateRecord(502, [{ id: 102, len: 2 }, { id: 104, len: F_VLAN_TCP.length }]);
    const { flows, counters } = decode(
      ipfixMessage([set(2, [...t1, ...t2]), set(500, [...u16(14), ...varlen(bytes(F_VLAN_TCP)), ...u16(0), ...varlen(bytes(F_VLAN_TCP))]), set(501, [...u16(2), ...varlen(bytes(F_VLAN_TCP)), ...u16(1), ...varlen(bytes(F_VLAN_TCP))])]),
      v9Message([set(0, t3), set(502, [...u16(14), ...bytes(F_VLAN_TCP), ...u16(0), ...bytes(F_VLAN_TCP)])], { count: 3 }),
    );
    assert.equal(flows.length, 6);
    const walked = flows.map((f) => f.src_addr);
    assert.deepEqual(walked, ['', '10.1.2.3', '', '10.1.2.3', '', '10.1.2.3']);
    for (const f of flows) assert.equal(f.packets, 1);
    assert.equal(flows[0]!.fields.sectionOffset, 14, 'kept in fields');
    assert.equal(flows[2]!.fields.dataLinkFrameType, 2);
    assert.equal(flows[4]!.fields.layer2packetSectionOffset, 14);
    assert.equal(counters['section.not_walked'], 3);
  });

  test('a section cut inside the headers is decoded up to the cut and counted; 313 with IP version 5 is not walked', () => {
    const cut = F_QINQ_V6_UDP.subarray(0, 14 + 8 + 40 + 4); // fixed IPv6 header, half the hop-by-hop header
    const { flows, counters } = decode(
      ipfixMessage([
        set(2, [...ipfixTemplateRecord(600, [{ id: 315, len: 0xffff }]), ...ipfixTemplateRecord(601, [{ id: 313, len: 0xffff }])]),
        set(600, [...varlen(bytes(cut)), ...varlen(bytes(F_VLAN_TCP.subarray(0, 10))), ...varlen([])]),
        set(601, varlen([0x50, ...new Array<number>(19).fill(0)])),
      ]),
    );
    const [a, b, c, d] = flows as [Flow, Flow, Flow, Flow];
    assert.equal(a.src_addr, '2001:db8::1');
    assert.equal(a.vlan_id, 200);
    assert.equal(a.proto, 60, 'the last next header read (hop-by-hop -> destination options) is where the walk stopped');
    assert.equal(a.src_port, 0);
    assert.equal(b.src_mac, '00:00:00:00:00:00', 'fewer bytes than an Ethernet header');
    assert.equal(c.etype, 0, 'empty section: nothing walked, nothing counted');
    assert.equal(d.src_addr, '');
    assert.equal(counters['section.truncated'], 2);
    assert.equal(counters['section.not_walked'], 1);
  });

  test('ipPayloadPacketSection (314) alone: one packet, nothing to walk', () => {
    const { flows, counters } = decode(ipfixMessage([set(2, ipfixTemplateRecord(700, [{ id: 314, len: 0xffff }])), set(700, varlen(bytes(P_V4_ICMP)))]));
    const f = flows[0]!;
    assert.equal(f.packets, 1);
    assert.equal(f.bytes, 0);
    assert.equal(f.src_addr, '');
    assert.deepEqual(f.layer_stack, []);
    assert.equal(f.fields.ipPayloadPacketSection, Buffer.from(P_V4_ICMP).toString('hex'));
    assert.equal(counters['section.not_walked'] ?? 0, 0);
  });

  test('only templates with a section carry walk code', () => {
    const plain = compileTemplate({ protocol: 10, id: 256, options: false, scopeCount: 0, fields: [{ id: 8, pen: 0, length: 4 }, { id: 1, pen: 0, length: 8 }, { id: 314, pen: 0, length: 0xffff }] });
    const walking = compileTemplate({ protocol: 10, id: 257, options: false, scopeCount: 0, fields: [{ id: 8, pen: 0, length: 4 }, { id: 315, pen: 0, length: 0xffff }] });
    assert.doesNotMatch(plain.decode.toString(), /walk/);
    assert.match(walking.decode.toString(), /H\.walkHeader/);
  });
});

// --- tshark -----------------------------------------------------------------------------------

function last(m: FieldMap, name: string): string | undefined {
  const v = m.get(name);
  return v === undefined ? undefined : v[v.length - 1];
}
function lastNum(m: FieldMap, name: string): number {
  const v = last(m, name);
  if (v === undefined) return NaN;
  return /^0x[0-9a-f]+$/i.test(v) ? parseInt(v, 16) : Number(v);
}

/**
 * Our record against tshark's dissection of the same headers. Innermost values where a field
 * repeats (Ethernet over MPLS has two Ethernet headers).
 */
function assertAgrees(f: Flow, m: FieldMap, what: string): void {
  const msg = (x: string) => `${what}: ${x}`;
  if (m.has('eth.src')) {
    assert.equal(f.src_mac, last(m, 'eth.src'), msg('eth.src'));
    assert.equal(f.dst_mac, last(m, 'eth.dst'), msg('eth.dst'));
  }
  assert.equal(f.vlan_id, m.has('vlan.id') ? lastNum(m, 'vlan.id') : 0, msg('vlan.id'));
  assert.deepEqual(f.mpls_label, (m.get('mpls.label') ?? []).map(Number), msg('mpls.label'));
  assert.deepEqual(f.mpls_ttl, (m.get('mpls.ttl') ?? []).map(Number), msg('mpls.ttl'));
  if (m.has('ip.src')) {
    assert.equal(f.etype, 0x0800, msg('etype'));
    assert.equal(f.src_addr, last(m, 'ip.src'), msg('ip.src'));
    assert.equal(f.dst_addr, last(m, 'ip.dst'), msg('ip.dst'));
    assert.equal(f.proto, lastNum(m, 'ip.proto'), msg('ip.proto'));
    assert.equal(f.ip_ttl, lastNum(m, 'ip.ttl'), msg('ip.ttl'));
    assert.equal(f.ip_tos, lastNum(m, 'ip.dsfield'), msg('ip.dsfield'));
    assert.equal(f.fragment_id, lastNum(m, 'ip.id'), msg('ip.id'));
    assert.equal(f.ip_flags, lastNum(m, 'ip.flags'), msg('ip.flags'));
    assert.equal(f.fragment_offset, lastNum(m, 'ip.frag_offset'), msg('ip.frag_offset'));
    if (!m.has('ip.len')) throw new Error('no ip.len');
  } else {
    assert.ok(m.has('ipv6.src'), msg('an IPv4 or IPv6 header'));
    assert.equal(f.etype, 0x86dd, msg('etype'));
    assert.equal(f.src_addr, last(m, 'ipv6.src'), msg('ipv6.src'));
    assert.equal(f.dst_addr, last(m, 'ipv6.dst'), msg('ipv6.dst'));
    assert.equal(f.ip_ttl, lastNum(m, 'ipv6.hlim'), msg('ipv6.hlim'));
    assert.equal(f.ip_tos, lastNum(m, 'ipv6.tclass'), msg('ipv6.tclass'));
    assert.equal(f.ipv6_flow_label, lastNum(m, 'ipv6.flow'), msg('ipv6.flow'));
  }
  if (m.has('tcp.srcport')) {
    assert.equal(f.proto, 6, msg('TCP'));
    assert.equal(f.src_port, lastNum(m, 'tcp.srcport'), msg('tcp.srcport'));
    assert.equal(f.dst_port, lastNum(m, 'tcp.dstport'), msg('tcp.dstport'));
    assert.equal(f.tcp_flags, lastNum(m, 'tcp.flags'), msg('tcp.flags'));
  } else if (m.has('udp.srcport')) {
    assert.equal(f.proto, 17, msg('UDP'));
    assert.equal(f.src_port, lastNum(m, 'udp.srcport'), msg('udp.srcport'));
    assert.equal(f.dst_port, lastNum(m, 'udp.dstport'), msg('udp.dstport'));
  } else if (m.has('icmp.type')) {
    assert.equal(f.proto, 1, msg('ICMP'));
    assert.equal(f.icmp_type, lastNum(m, 'icmp.type'), msg('icmp.type'));
    assert.equal(f.icmp_code, lastNum(m, 'icmp.code'), msg('icmp.code'));
  } else {
    assert.ok(m.has('icmpv6.type'), msg('a transport header'));
    assert.equal(f.proto, 58, msg('ICMPv6'));
    assert.equal(f.icmp_type, lastNum(m, 'icmpv6.type'), msg('icmpv6.type'));
    assert.equal(f.icmp_code, lastNum(m, 'icmpv6.code'), msg('icmpv6.code'));
  }
}

/** tshark's hex ("aa:bb:..") of a field as bytes. */
function hexField(m: FieldMap, name: string): Buffer {
  const v = field(m, name);
  assert.ok(v !== undefined, `tshark printed ${name}`);
  return Buffer.from(v.replace(/:/g, ''), 'hex');
}

/** Dissects frames written to a pcap of the given link type; one FieldMap per frame. */
async function dissectFrames(frames: Uint8Array[], linkType: number): Promise<FieldMap[]> {
  const tmp = makeTempDir('sections-');
  try {
    const path = join(tmp.dir, 'frames.pcap');
    writeFileSync(path, writePcap(frames, { linkType }));
    const packets = await tsharkJsonFile(path);
    return packets.map((p) => flattenFields(p.layers));
  } finally {
    tmp.cleanup();
  }
}

describe('sampled packet sections: agreement with tshark', { skip: tsharkSkipReason() }, () => {
  test('IPFIX dataLinkFrameSection: tshark dissects the section inside the record', async () => {
    const { flows } = decode(DG_315);
    const [ts] = await decodeCflowWithTshark([DG_315]);
    assert.equal(ts!.malformed, false);
    assert.equal(ts!.records.length, flows.length);
    ts!.records.forEach((r, i) => {
      assert.equal(Number(field(r, 'cflow.data_link_frame_size')), flows[i]!.bytes);
      assert.ok(r.has('eth.src'), 'tshark dissected the section');
      assertAgrees(flows[i]!, r, `record ${i}`);
    });
    // The control word: tshark saw one where we skipped one.
    assert.ok(ts!.records[2]!.has('pweth.cw.sequence_number'));
  });

  test('NetFlow v9 layer2packetSection: the section bytes as tshark shows them, dissected as an Ethernet frame', async () => {
    const { flows } = decode(DG_104);
    const [ts] = await decodeCflowWithTshark([DG_104]);
    assert.equal(ts!.records.length, 1);
    const section = hexField(ts!.records[0]!, 'cflow.unknown_field_type');
    assert.deepEqual(section, Buffer.from(F_MPLS_IP.subarray(0, 64)));
    const [m] = await dissectFrames([section], LINKTYPE_ETHERNET);
    assertAgrees(flows[0]!, m!, 'v9 104');
    assert.equal(flows[0]!.bytes, lastNum(m!, 'ip.len'));
  });

  test('IPFIX ipHeaderPacketSection: the section bytes as tshark shows them, dissected as a raw IP packet', async () => {
    const { flows } = decode(DG_313, DG_313V);
    const [ts] = await decodeCflowWithTshark([DG_313]);
    const section = hexField(ts!.records[0]!, 'cflow.section_header');
    assert.deepEqual(section, Buffer.from(P_V4_ICMP));
    // tshark 4.0 does not take a variable-length 313 ("no template found"); the IPv6 packet goes
    // to the pcap as built.
    const [m4, m6] = await dissectFrames([section, P_V6_TCP], LINKTYPE_RAW);
    assertAgrees(flows[0]!, m4!, '313 IPv4');
    assertAgrees(flows[1]!, m6!, '313 IPv6');
    assert.equal(flows[0]!.bytes, lastNum(m4!, 'ip.len'));
    assert.equal(flows[1]!.bytes, 40 + lastNum(m6!, 'ipv6.plen'));
  });
});
