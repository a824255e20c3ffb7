/** Hand-filled FlowRecords shared by the encoder tests. */
import { DataType, FlowRecord, FlowType, LayerStack, type ElementInfo } from '../src/decode/record.js';

export function bytes(...b: number[]): Uint8Array {
  return Uint8Array.from(b);
}

function setAddr(dst: Uint8Array, src: number[]): number {
  dst.fill(0);
  dst.set(src);
  return src.length;
}

/** 2026-03-14T12:00:00Z */
export const T2026 = 1773489600;

/** An IPv4 IPFIX record with every FlowMessage field set, big counters and non-ASCII names. */
export function ipv4Record(rec = new FlowRecord()): FlowRecord {
  rec.reset();
  rec.type = FlowType.IPFIX;
  rec.timeReceivedSec = T2026;
  rec.timeReceivedNsec = 123456789;
  rec.sequenceNum = 0xffffffff;
  rec.samplingRate = 2 ** 32; // needs the 64-bit varint path
  rec.samplerAddressLen = setAddr(rec.samplerAddress, [192, 0, 2, 1]);
  rec.timeFlowStartSec = T2026 - 60;
  rec.timeFlowStartNsec = 5; // leading zeros in the 9-digit part
  rec.timeFlowEndSec = T2026 - 1;
  rec.timeFlowEndNsec = 999999999;
  rec.bytes = Number.MAX_SAFE_INTEGER; // 2^53 - 1
  rec.packets = 2 ** 53;
  rec.srcAddrLen = setAddr(rec.srcAddr, [10, 1, 2, 3]);
  rec.dstAddrLen = setAddr(rec.dstAddr, [198, 51, 100, 200]);
  rec.etype = 0x0800;
  rec.proto = 6;
  rec.srcPort = 51514;
  rec.dstPort = 443;
  rec.inIf = 10;
  rec.outIf = 4000000000;
  rec.srcMac = 0x001122aabbcc;
  rec.dstMac = 0xfeffffffff0e;
  rec.srcVlan = 100;
  rec.dstVlan = 200;
  rec.vlanId = 300;
  rec.ipTos = 0xb8;
  rec.forwardingStatus = 64;
  rec.ipTtl = 63;
  rec.ipFlags = 2;
  rec.tcpFlags = 0x1b;
  rec.icmpType = 8;
  rec.icmpCode = 1;
  rec.ipv6FlowLabel = 0xfffff;
  rec.fragmentId = 54321;
  rec.fragmentOffset = 185;
  rec.srcAs = 65001;
  rec.dstAs = 4200000000;
  rec.nextHopLen = setAddr(rec.nextHop, [203, 0, 113, 254]);
  rec.nextHopAs = 3356;
  rec.srcNet = 24;
  rec.dstNet = 32;
  rec.bgpNextHopLen = setAddr(rec.bgpNextHop, [203, 0, 113, 1]);
  [0xfde80064, 0xffffff01, 1].forEach((v, i) => (rec.bgpCommunities[i] = v));
  rec.bgpCommunitiesCount = 3;
  [65001, 4200000000, 3356, 127].forEach((v, i) => (rec.asPath[i] = v));
  rec.asPathCount = 4;
  [[16, 64], [1048575, 255], [300, 1]].forEach(([label, ttl], i) => {
    rec.mplsLabel[i] = label!;
    rec.mplsTtl[i] = ttl!;
  });
  rec.mplsCount = 3;
  rec.mplsIpLen = setAddr(rec.mplsIp, [192, 0, 2, 77]);
  rec.observationDomainId = 0x01020304;
  rec.observationPointId = 7;
  const layers = [LayerStack.Ethernet, LayerStack.Dot1Q, LayerStack.IPv4, LayerStack.TCP, LayerStack.Custom];
  layers.forEach((l, i) => {
    rec.layerStack[i] = l;
    rec.layerSize[i] = [14, 4, 20, 32, 1400][i]!;
  });
  rec.layerCount = layers.length;
  rec.ipv6RoutingHeaderAddresses = [
    bytes(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a),
    bytes(0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0b),
  ];
  rec.ipv6RoutingHeaderAddressesCount = 2;
  rec.ipv6RoutingHeaderSegLeft = 1;
  rec.protocolName = 'TCP';
  rec.bytesIn = 2 ** 53 - 2;
  rec.bytesOut = 4294967296 + 17;
  rec.packetsIn = 127;
  rec.packetsOut = 128;
  rec.exportVersion = 10;
  rec.inIfName = 'Gi0/0/0';
  rec.outIfName = 'Überlink – 東京 😀';
  rec.inIfDesc = 'say "hi"\\ \n\ttab';
  rec.outIfDesc = 'core';
  rec.templateId = 256;
  rec.rawBytes = 1500;
  rec.rawPackets = 1;
  rec.vrfName = 'VRF-Ä';
  return rec;
}

/** An IPv6 NetFlow v9 record: only a subset of fields, IPv6 addresses everywhere. */
export function ipv6Record(rec = new FlowRecord()): FlowRecord {
  rec.reset();
  rec.type = FlowType.NETFLOW_V9;
  rec.timeReceivedSec = T2026 + 86400 * 200;
  rec.timeReceivedNsec = 1;
  rec.sequenceNum = 1;
  rec.samplingRate = 1;
  rec.samplerAddressLen = setAddr(rec.samplerAddress, [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  rec.timeFlowStartSec = 0xffffffff; // year 2106: largest ns value we can be handed
  rec.timeFlowStartNsec = 999999999;
  rec.bytes = 1;
  rec.packets = 1;
  rec.srcAddrLen = setAddr(rec.srcAddr, [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 0, 3, 0, 4]);
  rec.dstAddrLen = setAddr(rec.dstAddr, [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
  rec.etype = 0x86dd;
  rec.proto = 17;
  rec.srcPort = 53;
  rec.dstPort = 65535;
  rec.nextHopLen = setAddr(rec.nextHop, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1]);
  rec.bgpNextHopLen = setAddr(rec.bgpNextHop, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  rec.protocolName = 'UDP';
  rec.exportVersion = 9;
  return rec;
}

export function info(name: string, type: number, id = 0, pen = 0): ElementInfo {
  return { pen, id, name, type: type as ElementInfo['type'], known: pen === 0 };
}

/** Expected JSON of one extra: either a parsed value, or `raw` (exact number text). */
export interface ExtraCase {
  key: string;
  value?: unknown;
  raw?: string;
}

/**
 * Adds extras of every data type (incl. reduced-size, mismatched lengths, duplicates and an
 * RFC 6313 list value) to `rec`, backed by one "datagram" buffer at odd offsets. Returns the
 * expected JSON entries.
 */
export function addExtras(rec: FlowRecord): ExtraCase[] {
  const cases: ExtraCase[] = [];
  const chunks: { inf: ElementInfo; data: number[]; value?: unknown }[] = [];
  const add = (inf: ElementInfo, data: number[], c: Omit<ExtraCase, 'key'>, key = inf.name) => {
    chunks.push({ inf, data });
    cases.push({ key, ...c });
  };
  const f32 = (x: number) => [...new Uint8Array(new Float32Array([x]).buffer)].reverse();
  const f64 = (x: number) => [...new Uint8Array(new Float64Array([x]).buffer)].reverse();
  const ntp = (sec: number, frac: number) => [
    (sec >>> 24) & 255, (sec >>> 16) & 255, (sec >>> 8) & 255, sec & 255,
    (frac >>> 24) & 255, (frac >>> 16) & 255, (frac >>> 8) & 255, frac & 255,
  ];

  add(info('postOctetDeltaCount', DataType.unsigned64, 23), [255, 255, 255, 255, 255, 255, 255, 255], {
    raw: '18446744073709551615',
  });
  add(info('postPacketDeltaCount', DataType.unsigned64, 24), [0xb2, 0xd0, 0x5e, 0x00], { value: 3000000000 });
  add(info('octetTotalCount', DataType.unsigned64, 85), [0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], {
    value: Number.MAX_SAFE_INTEGER,
  });
  add(info('packetTotalCount', DataType.unsigned64, 86), [0x00, 0x20, 0, 0, 0, 0, 0, 1], {
    raw: '9007199254740993',
  });
  add(info('ingressPhysicalInterface', DataType.unsigned32, 252), [0, 0, 1, 0, 0, 0], { value: '000001000000' });
  add(info('flowEndReason', DataType.unsigned8, 136), [3], { value: 3 });
  add(info('bgpNextAdjacentAsNumber', DataType.unsigned32, 128), [0, 0, 0x03, 0x05], { value: 773 });
  add(info('mibObjectValueInteger', DataType.signed32, 434), [255, 255, 255, 251], { value: -5 });
  add(info('signedSmall', DataType.signed64, 9000, 9), [0xff, 0xfe], { value: -2 });
  add(info('signedMin', DataType.signed64, 9001, 9), [0x80, 0, 0, 0, 0, 0, 0, 0], {
    raw: '-9223372036854775808',
  });
  add(info('signedBigNeg', DataType.signed64, 9002, 9), [0xff, 0xe0, 0, 0, 0, 0, 0, 0], {
    raw: '-9007199254740992',
  });
  add(info('signedPos', DataType.signed16, 9003, 9), [0x7f, 0xff], { value: 32767 });
  add(info('signedTooLong', DataType.signed16, 9004, 9), [0, 0, 1], { value: '000001' });
  add(info('samplingProbability', DataType.float64, 311), f64(0.125), { value: 0.125 });
  add(info('floatSingle', DataType.float32, 9005, 9), f32(0.1), { value: 0.1 });
  add(info('floatReduced', DataType.float64, 9006, 9), f32(3.14159), { value: 3.14159 });
  add(info('floatPi', DataType.float64, 9007, 9), f64(Math.PI), { value: Math.PI });
  add(info('floatNaN', DataType.float32, 9008, 9), [0x7f, 0xc0, 0, 0], { value: 'NaN' });
  add(info('floatNegInf', DataType.float64, 9009, 9), f64(-Infinity), { value: '-Infinity' });
  add(info('floatBadLen', DataType.float32, 9010, 9), [1, 2], { value: '0102' });
  add(info('isMulticast', DataType.boolean, 206), [1], { value: true });
  add(info('dataRecordsReliability', DataType.boolean, 276), [2], { value: false });
  add(info('boolBad', DataType.boolean, 9011, 9), [3], { value: '03' });
  add(info('postSourceMacAddress', DataType.macAddress, 81), [0x00, 0x1b, 0x21, 0xab, 0xcd, 0xef], {
    value: '00:1b:21:ab:cd:ef',
  });
  add(info('postDestinationMacAddress', DataType.macAddress, 57), [0xaa, 0xbb, 0xcc, 0xdd], { value: 'aabbccdd' });
  add(info('interfaceName', DataType.string, 82), [...Buffer.from('eth0'), 0, 0, 0, 0], { value: 'eth0' });
  add(info('interfaceDescription', DataType.string, 83), [...Buffer.from('Zürich "core"\\')], {
    value: 'Zürich "core"\\',
  });
  add(info('applicationName', DataType.string, 96), [0x41, 0xff, 0x42, 0x0a], { value: 'A\ufffdB\n' });
  add(info('VRFname', DataType.string, 236), [0, 0, 0], { value: '' });
  add(info('flowStartSeconds', DataType.dateTimeSeconds, 150), [0x69, 0xb5, 0x4e, 0x40], { value: 0x69b54e40 });
  const ms = T2026 * 1000 + 123;
  add(info('flowStartMilliseconds', DataType.dateTimeMilliseconds, 152), [0, 0, ...bytesBE(ms, 6)], { value: ms });
  // NTP: 2026-03-14T12:00:00Z + fraction
  const ntpSec = T2026 + 2208988800;
  const fracUs = 0x80000000; // exactly .5 s
  add(info('flowStartMicroseconds', DataType.dateTimeMicroseconds, 154), ntp(ntpSec, fracUs), {
    raw: `${T2026}500000000`,
  });
  const fracNs = 0x1f7ced91; // 0.123 s -> 122999999.9 ns -> rounds to 123000000
  add(info('flowStartNanoseconds', DataType.dateTimeNanoseconds, 156), ntp(ntpSec, fracNs), {
    raw: ntpExpectNs(ntpSec, fracNs),
  });
  // Era 1 (after 2036-02-07): top bit clear
  add(info('flowEndNanoseconds', DataType.dateTimeNanoseconds, 157), ntp(0x10, 0), {
    raw: `${2 ** 32 + 16 - 2208988800}000000000`,
  });
  add(info('flowEndMicroseconds', DataType.dateTimeMicroseconds, 155), [1, 2, 3], { value: '010203' });
  add(info('exporterIPv4Address', DataType.ipv4Address, 130), [192, 0, 2, 9], { value: '192.0.2.9' });
  add(info('postNATSourceIPv4Address', DataType.ipv4Address, 225), new Array(16).fill(0xab), {
    value: 'ab'.repeat(16),
  });
  add(info('exporterIPv6Address', DataType.ipv6Address, 131), [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0x42], {
    value: '2001:db8::ff00:42',
  });
  add(info('postNATSourceIPv6Address', DataType.ipv6Address, 281), [10, 0, 0, 1], { value: '0a000001' });
  add(info('ipHeaderPacketSection', DataType.octetArray, 313), [0x45, 0x00, 0xde, 0xad], { value: '4500dead' });
  add(info('9.1234', DataType.octetArray, 1234, 9), [0xca, 0xfe], { value: 'cafe' });
  add(info('paddingOctets', DataType.octetArray, 210), [], { value: '' });
  add(info('tcpOptions', DataType.unsigned64, 209), [], { value: '' });
  add(info('weirdType', 77, 9012, 9), [1, 0xff], { value: '01ff' });
  // The same element three times (a template may repeat it).
  const dupInfo = info('mplsLabelStackSection', DataType.octetArray, 70);
  add(dupInfo, [0x00, 0x01, 0x01], { value: '000101' });
  add(dupInfo, [0x00, 0x02, 0x01], { value: '000201' }, 'mplsLabelStackSection#2');
  add(dupInfo, [0x00, 0x03, 0x01], { value: '000301' }, 'mplsLabelStackSection#3');

  // Lay the data out in one buffer at odd offsets, like fields inside a datagram.
  const total = chunks.reduce((n, c) => n + c.data.length + 3, 1);
  const buf = new Uint8Array(total).fill(0xee);
  let off = 1;
  for (const c of chunks) {
    buf.set(c.data, off);
    rec.addExtra(c.inf, buf, off, c.data.length);
    off += c.data.length + 3;
  }
  // An RFC 6313 list, decoded by the decoder into plain values.
  const list = [
    { ingressInterface: 1, interfaceName: 'ge-0/0/1 ✓' },
    [1, 2, 3],
    'x"y',
    true,
    null,
    -7,
    1.5,
  ];
  rec.addExtraValue(info('subTemplateList', DataType.subTemplateList, 292), list);
  cases.push({ key: 'subTemplateList', value: list });
  return cases;
}

function bytesBE(v: number, n: number): number[] {
  const out: number[] = [];
  for (let i = n - 1; i >= 0; i--) out.push(Math.floor(v / 2 ** (8 * i)) % 256);
  return out;
}

function ntpExpectNs(sec: number, frac: number): string {
  const ns = (BigInt(frac) * 1000000000n + 2n ** 31n) / 2n ** 32n;
  return ((BigInt(sec) - 2208988800n) * 1000000000n + ns).toString();
}
