import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CaptureFormatError,
  LINKTYPE_ETHERNET,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_NULL,
  LINKTYPE_RAW,
  TCP_ACK,
  TCP_SYN,
  formatIPv6,
  icmpFrame,
  internetChecksum,
  loadCaptureBuffer,
  parseAddress,
  readCapture,
  splitConcatenatedExports,
  tcpFlagMask,
  tcpFrame,
  udpFrame,
  wrapPayloadsAsPcap,
  writePcap,
  type CaptureReadResult,
  type SkipReason,
} from '../src/capture/mod.js';
import { collectUdp, makeTempDir, runChecked, skipUnlessCommands } from './support/tools.js';
import { decodeCflowWithTshark, decodeSflowWithTshark, field, numField, tsharkJsonFile, tsharkSkipReason } from './support/tshark.js';

const A4 = { srcAddr: '192.0.2.1', dstAddr: '198.51.100.7' };
const A6 = { srcAddr: '2001:db8::1', dstAddr: '2001:db8:0:1::2' };

function onlySkipped(r: CaptureReadResult): Partial<Record<SkipReason, number>> {
  const out: Partial<Record<SkipReason, number>> = {};
  for (const [k, v] of Object.entries(r.skipped)) if (v !== 0) out[k as SkipReason] = v;
  return out;
}

function bytes(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7) & 0xff;
  return b;
}

// ---------------------------------------------------------------------------------------------
// A tiny pcapng builder for the cases no installed tool writes (big-endian sections, if_tsresol
// in powers of two, simple packet blocks, several sections).

interface NgWriter {
  le: boolean;
  parts: Buffer[];
}

function ngBlock(w: NgWriter, type: number, body: Buffer): void {
  const padded = Buffer.alloc((body.length + 3) & ~3);
  body.copy(padded);
  const total = 12 + padded.length;
  const head = Buffer.alloc(8);
  const tail = Buffer.alloc(4);
  if (w.le) {
    head.writeUInt32LE(type, 0);
    head.writeUInt32LE(total, 4);
    tail.writeUInt32LE(total, 0);
  } else {
    head.writeUInt32BE(type, 0);
    head.writeUInt32BE(total, 4);
    tail.writeUInt32BE(total, 0);
  }
  w.parts.push(head, padded, tail);
}

function u16(w: NgWriter, v: number): Buffer {
  const b = Buffer.alloc(2);
  if (w.le) b.writeUInt16LE(v);
  else b.writeUInt16BE(v);
  return b;
}
function u32(w: NgWriter, v: number): Buffer {
  const b = Buffer.alloc(4);
  if (w.le) b.writeUInt32LE(v >>> 0);
  else b.writeUInt32BE(v >>> 0);
  return b;
}
function ngOption(w: NgWriter, code: number, value: Buffer): Buffer {
  const pad = Buffer.alloc((4 - (value.length % 4)) % 4);
  return Buffer.concat([u16(w, code), u16(w, value.length), value, pad]);
}
function ngSection(w: NgWriter): void {
  ngBlock(w, 0x0a0d0d0a, Buffer.concat([u32(w, 0x1a2b3c4d), u16(w, 1), u16(w, 0), Buffer.alloc(8, 0xff)]));
}
function ngInterface(w: NgWriter, linkType: number, tsresol?: number): void {
  const opts = tsresol === undefined ? [] : [ngOption(w, 9, Buffer.from([tsresol])), ngOption(w, 0, Buffer.alloc(0))];
  ngBlock(w, 1, Buffer.concat([u16(w, linkType), u16(w, 0), u32(w, 262144), ...opts]));
}
function ngEpb(w: NgWriter, ifId: number, ticks: bigint, data: Buffer): void {
  const hi = Number(ticks >> 32n);
  const lo = Number(ticks & 0xffffffffn);
  ngBlock(w, 6, Buffer.concat([u32(w, ifId), u32(w, hi), u32(w, lo), u32(w, data.length), u32(w, data.length), data]));
}
function ngSpb(w: NgWriter, data: Buffer): void {
  ngBlock(w, 3, Buffer.concat([u32(w, data.length), data]));
}

// ---------------------------------------------------------------------------------------------

describe('pcap writer and reader round trip', () => {
  test('UDP over IPv4 and IPv6: payloads, addresses, ports, timestamps, frame index', () => {
    const p1 = bytes(100, 1);
    const p2 = bytes(33, 2);
    const file = writePcap([
      { data: udpFrame({ ...A4, srcPort: 5000, dstPort: 2055, payload: p1 }), tsSec: 1700000000, tsFrac: 123456 },
      { data: tcpFrame({ ...A4, srcPort: 1, dstPort: 2, flags: 'S' }), tsSec: 1700000001 },
      { data: udpFrame({ ...A6, srcPort: 6343, dstPort: 6343, payload: p2 }), tsSec: 1700000002, tsFrac: 999999 },
    ]);
    const r = readCapture(file);
    assert.equal(r.format, 'pcap');
    assert.equal(r.frames, 3);
    assert.deepEqual(onlySkipped(r), { nonUdp: 1 });
    assert.equal(r.datagrams.length, 2);
    const [d1, d2] = r.datagrams;
    assert.deepEqual(d1!.payload, p1);
    assert.equal(d1!.srcAddr, '192.0.2.1');
    assert.equal(d1!.dstAddr, '198.51.100.7');
    assert.equal(d1!.srcPort, 5000);
    assert.equal(d1!.dstPort, 2055);
    assert.equal(d1!.tsSec, 1700000000);
    assert.equal(d1!.tsNsec, 123456000);
    assert.equal(d1!.index, 0);
    assert.deepEqual(d2!.payload, p2);
    assert.equal(d2!.srcAddr, '2001:db8::1');
    assert.equal(d2!.dstAddr, '2001:db8:0:1::2');
    assert.equal(d2!.tsNsec, 999999000);
    assert.equal(d2!.index, 2);
    // Views into the file buffer, not copies.
    assert.equal(d1!.payload.buffer, file.buffer);
    file[d1!.payload.byteOffset - file.byteOffset] = 0xee;
    assert.equal(d1!.payload[0], 0xee);
  });

  test('big-endian and nanosecond pcap headers', () => {
    const payload = bytes(10);
    for (const bigEndian of [false, true]) {
      for (const nanosecond of [false, true]) {
        const file = writePcap(
          [{ data: udpFrame({ ...A4, srcPort: 1, dstPort: 2, payload }), tsSec: 42, tsFrac: nanosecond ? 987654321 : 987654 }],
          { bigEndian, nanosecond },
        );
        const r = readCapture(file);
        assert.equal(r.datagrams.length, 1, `be=${bigEndian} ns=${nanosecond}`);
        assert.equal(r.datagrams[0]!.tsSec, 42);
        assert.equal(r.datagrams[0]!.tsNsec, nanosecond ? 987654321 : 987654000);
        assert.deepEqual(r.datagrams[0]!.payload, payload);
      }
    }
  });

  test('IP header checksum is right and lengths add up', () => {
    const f = udpFrame({ ...A4, srcPort: 1, dstPort: 2, payload: bytes(7), ipv4Options: Buffer.from([1, 1, 1]) });
    const ip = f.subarray(14);
    const ihl = (ip[0]! & 15) * 4;
    assert.equal(ihl, 24);
    assert.equal(internetChecksum(ip, 0, ihl), 0, 'header sums to 0xffff including its checksum');
    assert.equal(ip.readUInt16BE(2), ip.length);
    assert.equal(ip.readUInt16BE(ihl + 4), 8 + 7);
  });

  test('TCP flag letters', () => {
    assert.equal(tcpFlagMask('SA'), TCP_SYN | TCP_ACK);
    assert.equal(tcpFlagMask('FSRPAUEC'), 0xff);
    assert.throws(() => tcpFlagMask('X'));
  });

  test('address parsing and RFC 5952 formatting', () => {
    for (const [text, canon] of [
      ['2001:db8::1', '2001:db8::1'],
      ['2001:0DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['::', '::'],
      ['::1', '::1'],
      ['fe80::', 'fe80::'],
      ['1:0:2:0:3:0:4:0', '1:0:2:0:3:0:4:0'],
      ['::ffff:192.0.2.1', '::ffff:c000:201'],
    ] as const) {
      assert.equal(formatIPv6(parseAddress(text), 0), canon, text);
    }
    assert.throws(() => parseAddress('1.2.3.256'));
    assert.throws(() => parseAddress('1::2::3'));
  });
});

describe('link layers', () => {
  const payload = bytes(21);
  const rawV4 = udpFrame({ ...A4, link: 'raw', srcPort: 7, dstPort: 2055, payload });
  const rawV6 = udpFrame({ ...A6, link: 'raw', srcPort: 7, dstPort: 2055, payload });

  function one(linkType: number, frame: Buffer): CaptureReadResult {
    return readCapture(writePcap([frame], { linkType }));
  }
  function assertOne(r: CaptureReadResult, src: string): void {
    assert.deepEqual(onlySkipped(r), {});
    assert.equal(r.datagrams.length, 1);
    assert.deepEqual(r.datagrams[0]!.payload, payload);
    assert.equal(r.datagrams[0]!.srcAddr, src);
    assert.equal(r.datagrams[0]!.dstPort, 2055);
  }

  test('raw IP under link types 101, 12, 14, 228/229', () => {
    for (const lt of [LINKTYPE_RAW, 12, 14]) {
      assertOne(one(lt, rawV4), A4.srcAddr);
      assertOne(one(lt, rawV6), A6.srcAddr);
    }
    assertOne(one(228, rawV4), A4.srcAddr);
    assertOne(one(229, rawV6), A6.srcAddr);
  });

  test('NULL/loopback with either byte order and BSD AF_INET6 values', () => {
    const le = (af: number) => {
      const h = Buffer.alloc(4);
      h.writeUInt32LE(af);
      return h;
    };
    const be = (af: number) => {
      const h = Buffer.alloc(4);
      h.writeUInt32BE(af);
      return h;
    };
    assertOne(one(LINKTYPE_NULL, Buffer.concat([le(2), rawV4])), A4.srcAddr);
    assertOne(one(LINKTYPE_NULL, Buffer.concat([be(2), rawV4])), A4.srcAddr);
    for (const af of [24, 28, 30]) assertOne(one(LINKTYPE_NULL, Buffer.concat([le(af), rawV6])), A6.srcAddr);
    assertOne(one(108, Buffer.concat([be(30), rawV6])), A6.srcAddr);
    assert.deepEqual(onlySkipped(one(LINKTYPE_NULL, Buffer.concat([le(7), rawV4]))), { nonIp: 1 });
  });

  test('Linux cooked SLL and SLL2', () => {
    const sll = (proto: number) => {
      const h = Buffer.alloc(16);
      h.writeUInt16BE(0, 0); // to us
      h.writeUInt16BE(1, 2); // ARPHRD_ETHER
      h.writeUInt16BE(6, 4);
      h.set([2, 0, 0, 0, 0, 9], 6);
      h.writeUInt16BE(proto, 14);
      return h;
    };
    const sll2 = (proto: number) => {
      const h = Buffer.alloc(20);
      h.writeUInt16BE(proto, 0);
      h.writeUInt32BE(3, 4); // ifindex
      h.writeUInt16BE(1, 8);
      h[10] = 0;
      h[11] = 6;
      return h;
    };
    assertOne(one(LINKTYPE_LINUX_SLL, Buffer.concat([sll(0x0800), rawV4])), A4.srcAddr);
    assertOne(one(LINKTYPE_LINUX_SLL, Buffer.concat([sll(0x86dd), rawV6])), A6.srcAddr);
    assertOne(one(LINKTYPE_LINUX_SLL2, Buffer.concat([sll2(0x0800), rawV4])), A4.srcAddr);
    assertOne(one(LINKTYPE_LINUX_SLL2, Buffer.concat([sll2(0x86dd), rawV6])), A6.srcAddr);
    // The link layer says IPv4 but the packet is IPv6.
    assert.deepEqual(onlySkipped(one(LINKTYPE_LINUX_SLL, Buffer.concat([sll(0x0800), rawV6]))), { malformed: 1 });
  });

  test('802.1Q and QinQ tags, ARP, unsupported link type', () => {
    assertOne(one(LINKTYPE_ETHERNET, udpFrame({ ...A4, vlan: 100, srcPort: 7, dstPort: 2055, payload })), A4.srcAddr);
    assertOne(one(LINKTYPE_ETHERNET, udpFrame({ ...A6, vlan: [10, 20], srcPort: 7, dstPort: 2055, payload })), A6.srcAddr);
    const tagged = udpFrame({ ...A4, vlan: [10, 20], srcPort: 7, dstPort: 2055, payload });
    assert.equal(tagged.readUInt16BE(12), 0x88a8);
    assert.equal(tagged.readUInt16BE(16), 0x8100);
    const arp = Buffer.alloc(42);
    arp.writeUInt16BE(0x0806, 12);
    assert.deepEqual(onlySkipped(one(LINKTYPE_ETHERNET, arp)), { nonIp: 1 });
    assert.deepEqual(onlySkipped(one(105, rawV4)), { unsupportedLinkType: 1 });
  });

  test('Ethernet padding after a short IP packet is not payload', () => {
    const short = udpFrame({ ...A4, srcPort: 7, dstPort: 2055, payload: Buffer.from([1, 2]) });
    const padded = Buffer.concat([short, Buffer.alloc(60 - short.length + 4, 0xaa)]); // + FCS-like trailer
    const r = one(LINKTYPE_ETHERNET, padded);
    assert.deepEqual(r.datagrams[0]!.payload, Buffer.from([1, 2]));
  });
});

describe('IP layer', () => {
  const payload = bytes(40);

  test('IPv4 options (IHL > 5) are skipped over', () => {
    const f = udpFrame({ ...A4, srcPort: 9, dstPort: 2055, payload, ipv4Options: Buffer.alloc(12, 1) });
    const r = readCapture(writePcap([f]));
    assert.deepEqual(r.datagrams[0]!.payload, payload);
  });

  test('IPv4 fragments: first (MF) and later ones are counted, not decoded', () => {
    const first = udpFrame({ ...A4, srcPort: 9, dstPort: 2055, payload, moreFragments: true });
    const later = udpFrame({ ...A4, srcPort: 9, dstPort: 2055, payload, fragmentOffset: 185 });
    const df = udpFrame({ ...A4, srcPort: 9, dstPort: 2055, payload, dontFragment: true });
    const r = readCapture(writePcap([first, later, df]));
    assert.deepEqual(onlySkipped(r), { fragment: 2 });
    assert.equal(r.datagrams.length, 1);
    assert.equal(r.datagrams[0]!.index, 2);
  });

  test('IPv6 extension headers are walked to UDP', () => {
    const frag = (offset: number, more: boolean) => {
      const d = Buffer.alloc(6);
      d.writeUInt16BE((offset << 3) | (more ? 1 : 0), 0);
      d.writeUInt32BE(0xabcdef, 2);
      return d;
    };
    const cases: Array<[string, Parameters<typeof udpFrame>[0]['ipv6ExtensionHeaders'], SkipReason | null]> = [
      ['hop-by-hop', [{ type: 0 }], null],
      ['hop-by-hop, routing, destination', [{ type: 0 }, { type: 43, data: Buffer.alloc(22) }, { type: 60, data: Buffer.alloc(30) }], null],
      ['atomic fragment', [{ type: 44, data: frag(0, false) }], null],
      ['authentication header', [{ type: 51, data: Buffer.alloc(14) }], null],
      ['destination + first fragment', [{ type: 60 }, { type: 44, data: frag(0, true) }], 'fragment'],
      ['later fragment', [{ type: 44, data: frag(100, false) }], 'fragment'],
    ];
    for (const [name, ext, skip] of cases) {
      const f = udpFrame({ ...A6, srcPort: 9, dstPort: 2055, payload, ipv6ExtensionHeaders: ext! });
      const r = readCapture(writePcap([f]));
      if (skip === null) {
        assert.equal(r.datagrams.length, 1, name);
        assert.deepEqual(r.datagrams[0]!.payload, payload, name);
        assert.equal(r.datagrams[0]!.srcPort, 9, name);
      } else {
        assert.deepEqual(onlySkipped(r), { [skip]: 1 }, name);
      }
    }
    // ESP hides the transport: not UDP as far as we can tell.
    const esp = udpFrame({ ...A6, srcPort: 9, dstPort: 2055, payload });
    esp[14 + 6] = 50;
    assert.deepEqual(onlySkipped(readCapture(writePcap([esp]))), { nonUdp: 1 });
  });

  test('ICMP, ICMPv6 and TCP are non-UDP', () => {
    const r = readCapture(
      writePcap([
        icmpFrame({ ...A4 }),
        icmpFrame({ ...A6, type: 129 }),
        tcpFrame({ ...A6, srcPort: 1, dstPort: 2, flags: TCP_SYN }),
      ]),
    );
    assert.deepEqual(onlySkipped(r), { nonUdp: 3 });
  });

  test('snaplen-cut frames are truncated, lying UDP lengths malformed', () => {
    const full = udpFrame({ ...A4, srcPort: 9, dstPort: 2055, payload });
    const cut = { data: full.subarray(0, full.length - 10), origLen: full.length };
    const cutHeader = { data: full.subarray(0, 20), origLen: full.length };
    const v6cut = udpFrame({ ...A6, srcPort: 9, dstPort: 2055, payload }).subarray(0, 60);
    const lying = Buffer.from(full);
    lying.writeUInt16BE(200, 14 + 20 + 4); // UDP length beyond the IP packet
    const tiny = Buffer.from(full);
    tiny.writeUInt16BE(4, 14 + 20 + 4);
    const r = readCapture(writePcap([cut, cutHeader, v6cut, lying, tiny]));
    assert.deepEqual(onlySkipped(r), { truncated: 3, malformed: 2 });
  });
});

describe('pcapng', () => {
  const pA = bytes(30, 3);
  const pB = bytes(31, 4);
  const ethA = udpFrame({ ...A4, srcPort: 1, dstPort: 2055, payload: pA });
  const rawB = udpFrame({ ...A6, link: 'raw', srcPort: 2, dstPort: 6343, payload: pB });

  for (const le of [true, false]) {
    test(`${le ? 'little' : 'big'}-endian section: interfaces, if_tsresol, EPB, SPB, other blocks`, () => {
      const w: NgWriter = { le, parts: [] };
      ngSection(w);
      ngInterface(w, LINKTYPE_ETHERNET); // default microseconds
      ngBlock(w, 4, Buffer.alloc(8)); // name resolution block: skipped
      ngInterface(w, LINKTYPE_RAW, 9); // nanoseconds
      ngInterface(w, LINKTYPE_RAW, 0x80 | 20); // 2^-20 s
      ngEpb(w, 0, 1700000000n * 1000000n + 250000n, ethA);
      ngEpb(w, 1, 1700000001n * 1000000000n + 123456789n, rawB);
      ngBlock(w, 5, Buffer.alloc(16)); // interface statistics: skipped
      ngEpb(w, 2, (1700000002n << 20n) + (1n << 19n), rawB);
      ngBlock(w, 0x40000bad, Buffer.alloc(4)); // custom block: skipped
      ngSpb(w, ethA);
      const r = readCapture(Buffer.concat(w.parts));
      assert.equal(r.format, 'pcapng');
      assert.equal(r.frames, 4);
      assert.deepEqual(onlySkipped(r), {});
      assert.deepEqual(
        r.datagrams.map((d) => [d.index, d.tsSec, d.tsNsec, d.srcAddr, d.dstPort, d.payload.length]),
        [
          [0, 1700000000, 250000000, A4.srcAddr, 2055, 30],
          [1, 1700000001, 123456789, A6.srcAddr, 6343, 31],
          [2, 1700000002, 500000000, A6.srcAddr, 6343, 31],
          [3, 0, 0, A4.srcAddr, 2055, 30],
        ],
      );
    });
  }

  test('a second section resets the interfaces and may switch byte order', () => {
    const w1: NgWriter = { le: true, parts: [] };
    ngSection(w1);
    ngInterface(w1, LINKTYPE_ETHERNET);
    ngEpb(w1, 0, 0n, ethA);
    const w2: NgWriter = { le: false, parts: [] };
    ngSection(w2);
    ngInterface(w2, LINKTYPE_RAW);
    ngEpb(w2, 0, 0n, rawB);
    const file = Buffer.concat([...w1.parts, ...w2.parts]);
    const r = readCapture(file);
    assert.deepEqual(r.datagrams.map((d) => d.payload.length), [30, 31]);

    // Interface 1 of the first section does not exist in the second.
    const w3: NgWriter = { le: false, parts: [] };
    ngSection(w3);
    ngInterface(w3, LINKTYPE_RAW);
    ngEpb(w3, 1, 0n, rawB);
    const bad = Buffer.concat([...w1.parts, ...w3.parts]);
    assert.throws(() => readCapture(bad), (e: unknown) => e instanceof CaptureFormatError && /undefined interface 1/.test(e.message));
  });
});

describe('malformed and truncated files', () => {
  const good = writePcap([
    udpFrame({ ...A4, srcPort: 1, dstPort: 2055, payload: bytes(50) }),
    udpFrame({ ...A4, srcPort: 1, dstPort: 2055, payload: bytes(60) }),
  ]);
  const ngw: NgWriter = { le: true, parts: [] };
  ngSection(ngw);
  ngInterface(ngw, LINKTYPE_ETHERNET, 9);
  ngEpb(ngw, 0, 5n, udpFrame({ ...A4, srcPort: 1, dstPort: 2055, payload: bytes(50) }));
  ngEpb(ngw, 0, 6n, udpFrame({ ...A4, srcPort: 1, dstPort: 2055, payload: bytes(60) }));
  const goodNg = Buffer.concat(ngw.parts);

  function formatError(fn: () => unknown, offset: number, reason: RegExp): void {
    assert.throws(fn, (e: unknown) => {
      assert.ok(e instanceof CaptureFormatError, String(e));
      assert.equal(e.offset, offset);
      assert.match(e.reason, reason);
      assert.match(e.message, new RegExp(`x\\.pcap: at offset ${offset}: `));
      return true;
    });
  }

  test('unknown magic, short files, bad versions', () => {
    formatError(() => readCapture(Buffer.from('hello world, not a capture'), { fileName: 'x.pcap' }), 0, /unknown magic/);
    formatError(() => readCapture(Buffer.alloc(2), { fileName: 'x.pcap' }), 0, /too short/);
    formatError(() => readCapture(good.subarray(0, 20), { fileName: 'x.pcap' }), 0, /global header truncated/);
    const v3 = Buffer.from(good);
    v3.writeUInt16LE(3, 4);
    formatError(() => readCapture(v3, { fileName: 'x.pcap' }), 4, /major version 3/);
  });

  test('pcap: truncated last record is counted and earlier datagrams kept', () => {
    for (const cutAt of [good.length - 1, good.length - 30, good.length - 70, 24 + 16 + 92 + 5]) {
      const r = readCapture(good.subarray(0, cutAt));
      assert.equal(r.datagrams.length, 1, `cut at ${cutAt}`);
      assert.equal(r.skipped.truncatedRecord, 1);
    }
    const huge = Buffer.from(good);
    huge.writeUInt32LE(0x7fffffff, 24 + 8);
    formatError(() => readCapture(huge, { fileName: 'x.pcap' }), 32, /implausible/);
  });

  test('pcapng: bad block lengths and trailers raise errors naming the offset', () => {
    const secLen = goodNg.readUInt32LE(4);
    const idbLen = goodNg.readUInt32LE(secLen + 4);
    const epbAt = secLen + idbLen;

    const odd = Buffer.from(goodNg);
    odd.writeUInt32LE(30, epbAt + 4);
    formatError(() => readCapture(odd, { fileName: 'x.pcap' }), epbAt + 4, /block length 30 is invalid/);

    const tiny = Buffer.from(goodNg);
    tiny.writeUInt32LE(8, epbAt + 4);
    formatError(() => readCapture(tiny, { fileName: 'x.pcap' }), epbAt + 4, /invalid/);

    const trailer = Buffer.from(goodNg);
    const epbLen = goodNg.readUInt32LE(epbAt + 4);
    trailer.writeUInt32LE(epbLen + 4, epbAt + epbLen - 4);
    formatError(() => readCapture(trailer, { fileName: 'x.pcap' }), epbAt + epbLen - 4, /trailing length/);

    const capLen = Buffer.from(goodNg);
    capLen.writeUInt32LE(10000, epbAt + 20);
    formatError(() => readCapture(capLen, { fileName: 'x.pcap' }), epbAt + 20, /exceeds the block/);

    const bom = Buffer.from(goodNg);
    bom.writeUInt32LE(0x12345678, 8);
    formatError(() => readCapture(bom, { fileName: 'x.pcap' }), 8, /byte-order magic/);

    const noShb = Buffer.concat([goodNg.subarray(0, 4), goodNg.subarray(secLen + 4)]);
    assert.throws(() => readCapture(noShb), CaptureFormatError);
  });

  test('pcapng: truncated last block is counted', () => {
    const r = readCapture(goodNg.subarray(0, goodNg.length - 3));
    assert.equal(r.datagrams.length, 1);
    assert.equal(r.skipped.truncatedRecord, 1);
  });

  test('every prefix and seeded corruptions either read or raise CaptureFormatError', () => {
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    for (const file of [good, goodNg]) {
      for (let n = 0; n <= file.length; n++) {
        try {
          const r = readCapture(file.subarray(0, n));
          assert.ok(r.frames <= 2);
        } catch (e) {
          assert.ok(e instanceof CaptureFormatError, `prefix ${n}: ${String(e)}`);
        }
      }
      for (let i = 0; i < 3000; i++) {
        const copy = Buffer.from(file);
        const flips = 1 + (rand() % 4);
        for (let k = 0; k < flips; k++) copy[rand() % copy.length] = rand() & 0xff;
        try {
          const r = readCapture(copy);
          for (const d of r.datagrams) assert.ok(d.payload.byteOffset + d.payload.length <= copy.byteOffset + copy.length);
        } catch (e) {
          assert.ok(e instanceof CaptureFormatError, `corruption ${i}: ${String(e)}`);
        }
      }
    }
  });
});

describe('.dat files and loading by magic', () => {
  function v5(count: number, seq: number): Buffer {
    const b = Buffer.alloc(24 + 48 * count);
    b.writeUInt16BE(5, 0);
    b.writeUInt16BE(count, 2);
    b.writeUInt32BE(seq, 16);
    return b;
  }

  test('concatenated NetFlow v5 and IPFIX messages are split only when they tile exactly', () => {
    const cat = Buffer.concat([v5(2, 0), v5(30, 2), v5(1, 32)]);
    assert.deepEqual(splitConcatenatedExports(cat).map((p) => p.readUInt32BE(16)), [0, 2, 32]);
    assert.equal(splitConcatenatedExports(v5(3, 0)).length, 1);
    const extra = Buffer.concat([cat, Buffer.alloc(1)]);
    assert.deepEqual(splitConcatenatedExports(extra), [extra]);
    const ipfix = (len: number) => {
      const b = Buffer.alloc(len);
      b.writeUInt16BE(10, 0);
      b.writeUInt16BE(len, 2);
      return b;
    };
    assert.deepEqual(splitConcatenatedExports(Buffer.concat([ipfix(16), ipfix(40)])).map((p) => p.length), [16, 40]);
    const v9 = Buffer.alloc(40);
    v9.writeUInt16BE(9, 0);
    v9.writeUInt16BE(1, 2);
    assert.equal(splitConcatenatedExports(v9).length, 1);
  });

  test('loadCaptureBuffer: captures by magic, raw payload otherwise, capture names need a magic', () => {
    const pcap = wrapPayloadsAsPcap([bytes(5)], { ...A4, srcPort: 1, dstPort: 2 });
    const asPcap = loadCaptureBuffer(pcap, 'whatever.dat');
    assert.equal(asPcap.format, 'pcap');
    assert.deepEqual(asPcap.datagrams[0]!.payload, bytes(5));
    const raw = loadCaptureBuffer(bytes(9), 'x.dat', { srcAddr: '10.0.0.1', srcPort: 99 });
    assert.equal(raw.format, 'dat');
    assert.deepEqual(raw.datagrams[0]!.payload, bytes(9));
    assert.equal(raw.datagrams[0]!.srcAddr, '10.0.0.1');
    assert.throws(() => loadCaptureBuffer(bytes(9), 'x.pcapng'), CaptureFormatError);
  });
});

// ---------------------------------------------------------------------------------------------
// Independent writers: Wireshark's text2pcap / editcap / mergecap, and tshark as a checker.

function hexDump(payloads: Buffer[]): string {
  return payloads
    .map((p) => {
      const lines: string[] = [];
      for (let o = 0; o < p.length; o += 16) {
        const hex = [...p.subarray(o, o + 16)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
        lines.push(`${o.toString(16).padStart(6, '0')}  ${hex}`);
      }
      return lines.join('\n') + '\n';
    })
    .join('');
}

describe('captures written by Wireshark tools', { skip: skipUnlessCommands('text2pcap', 'editcap', 'mergecap') }, () => {
  const payloads = [bytes(64, 1), bytes(200, 2), bytes(1, 3)];

  test('text2pcap pcapng: Ethernet/IPv4, Ethernet/IPv6 and raw-IP with its own headers', async () => {
    const { dir, cleanup } = makeTempDir();
    try {
      writeFileSync(join(dir, 'in.txt'), hexDump(payloads));
      const runs: Array<[string[], string, string]> = [
        [['-4', '10.1.2.3,10.4.5.6', '-u', '3000,2055'], '10.1.2.3', '10.4.5.6'],
        [['-6', '2001:db8::a,2001:db8::b', '-u', '3000,2055'], '2001:db8::a', '2001:db8::b'],
        [['-l', '101', '-4', '10.1.2.3,10.4.5.6', '-u', '3000,2055'], '10.1.2.3', '10.4.5.6'],
      ];
      for (const [args, src, dst] of runs) {
        const out = join(dir, 'out.pcapng');
        await runChecked('text2pcap', ['-q', ...args, join(dir, 'in.txt'), out]);
        const r = readCapture(readFileSync(out));
        assert.equal(r.format, 'pcapng', args.join(' '));
        assert.deepEqual(onlySkipped(r), {});
        assert.deepEqual(r.datagrams.map((d) => d.payload), payloads);
        for (const d of r.datagrams) {
          assert.equal(d.srcAddr, src);
          assert.equal(d.dstAddr, dst);
          assert.equal(d.srcPort, 3000);
          assert.equal(d.dstPort, 2055);
        }
      }
    } finally {
      cleanup();
    }
  });

  test('text2pcap with Linux cooked (SLL) encapsulation', async () => {
    const { dir, cleanup } = makeTempDir();
    try {
      const frames = payloads.map((p) => {
        const sll = Buffer.alloc(16);
        sll.writeUInt16BE(4, 0); // outgoing
        sll.writeUInt16BE(1, 2);
        sll.writeUInt16BE(6, 4);
        sll.writeUInt16BE(0x0800, 14);
        return Buffer.concat([sll, udpFrame({ ...A4, link: 'raw', srcPort: 5, dstPort: 2055, payload: p })]);
      });
      writeFileSync(join(dir, 'in.txt'), hexDump(frames));
      const out = join(dir, 'sll.pcap');
      await runChecked('text2pcap', ['-q', '-F', 'pcap', '-l', String(LINKTYPE_LINUX_SLL), join(dir, 'in.txt'), out]);
      const r = readCapture(readFileSync(out));
      assert.equal(r.format, 'pcap');
      assert.deepEqual(r.datagrams.map((d) => d.payload), payloads);
    } finally {
      cleanup();
    }
  });

  test('editcap to pcapng and nanosecond pcap, mergecap of two link types', async () => {
    const { dir, cleanup } = makeTempDir();
    try {
      const eth = join(dir, 'eth.pcap');
      const raw = join(dir, 'raw.pcap');
      writeFileSync(
        eth,
        writePcap(
          payloads.map((p, i) => ({
            data: udpFrame({ ...A4, vlan: 42, srcPort: 1, dstPort: 2055, payload: p }),
            tsSec: 1700000000 + i,
            tsFrac: 250000,
          })),
        ),
      );
      writeFileSync(
        raw,
        writePcap(
          payloads.map((p, i) => ({
            data: udpFrame({ ...A6, link: 'raw', srcPort: 2, dstPort: 6343, payload: p }),
            tsSec: 1700000000 + i,
            tsFrac: 500000,
          })),
          { linkType: LINKTYPE_RAW },
        ),
      );
      await runChecked('editcap', ['-F', 'pcapng', eth, join(dir, 'eth.pcapng')]);
      const ng = readCapture(readFileSync(join(dir, 'eth.pcapng')));
      assert.equal(ng.format, 'pcapng');
      assert.deepEqual(ng.datagrams.map((d) => [d.payload, d.tsSec, d.tsNsec]), payloads.map((p, i) => [p, 1700000000 + i, 250000000]));

      await runChecked('editcap', ['-F', 'nsecpcap', eth, join(dir, 'eth.ns.pcap')]);
      const nsFile = readFileSync(join(dir, 'eth.ns.pcap'));
      assert.equal(nsFile.readUInt32LE(0), 0xa1b23c4d);
      const ns = readCapture(nsFile);
      assert.deepEqual(ns.datagrams.map((d) => d.tsNsec), [250000000, 250000000, 250000000]);

      await runChecked('mergecap', ['-F', 'pcapng', '-w', join(dir, 'merged.pcapng'), eth, raw]);
      const merged = readCapture(readFileSync(join(dir, 'merged.pcapng')));
      assert.equal(merged.frames, 6);
      assert.deepEqual(onlySkipped(merged), {});
      // Merged in time order: Ethernet frame (.25 s) before the raw one (.5 s) of each second.
      assert.deepEqual(
        merged.datagrams.map((d) => [d.srcAddr, d.dstPort]),
        [0, 1, 2].flatMap(() => [
          [A4.srcAddr, 2055],
          [A6.srcAddr, 6343],
        ]),
      );
    } finally {
      cleanup();
    }
  });
});

describe('tshark agrees with the frames we write', { skip: tsharkSkipReason() }, () => {
  test('IPv4/IPv6 header and UDP/TCP/ICMP checksums are valid', async () => {
    const { dir, cleanup } = makeTempDir();
    try {
      const path = join(dir, 'frames.pcap');
      writeFileSync(
        path,
        writePcap([
          udpFrame({ ...A4, srcPort: 1, dstPort: 2, payload: bytes(33), ipv4Options: Buffer.alloc(4, 1) }),
          udpFrame({ ...A6, srcPort: 1, dstPort: 2, payload: bytes(33), ipv6ExtensionHeaders: [{ type: 0 }, { type: 60, data: Buffer.alloc(10) }] }),
          tcpFrame({ ...A4, srcPort: 1000, dstPort: 80, flags: 'SA', payload: bytes(11), vlan: [1, 2] }),
          tcpFrame({ ...A6, srcPort: 1000, dstPort: 80, flags: 'FPA', payload: bytes(11) }),
          icmpFrame({ ...A4, payload: bytes(9) }),
          icmpFrame({ ...A6, payload: bytes(9) }),
        ]),
      );
      const packets = await tsharkJsonFile(path, [
        '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE',
      ]);
      assert.equal(packets.length, 6);
      const statuses: string[][] = packets.map((p) => {
        const s = JSON.stringify(p.layers);
        // "checksum.status": "1" is Good; 0 Bad, 2 Unverified.
        return [...s.matchAll(/"(\w+)\.checksum\.status":"(\d)"/g)].map((m) => `${m[1]}=${m[2]}`);
      });
      assert.deepEqual(statuses, [
        ['ip=1', 'udp=1'],
        ['udp=1'],
        ['ip=1', 'tcp=1'],
        ['tcp=1'],
        ['ip=1', 'icmp=1'],
        ['icmpv6=1'],
      ]);
      const tcpFlags = packets.map((p) => JSON.stringify(p.layers).match(/"tcp\.flags":"(0x[0-9a-f]+)"/)?.[1]);
      assert.deepEqual(tcpFlags, [undefined, undefined, '0x0012', '0x0019', undefined, undefined]);
      assert.ok(!packets.some((p) => '_ws.malformed' in p.layers));
    } finally {
      cleanup();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// test/support/tshark.ts against real exporter datagrams.

const VENDOR = '/work/shared/conformance/vendor';
const corpusSkip = existsSync(VENDOR) ? tsharkSkipReason() : `${VENDOR} is absent`;

/** Independent minimal NetFlow v5 record reader, for comparing with tshark. */
function v5Records(dgram: Buffer): Array<Record<string, string | number>> {
  const count = dgram.readUInt16BE(2);
  const out: Array<Record<string, string | number>> = [];
  for (let i = 0; i < count; i++) {
    const o = 24 + 48 * i;
    out.push({
      src: [...dgram.subarray(o, o + 4)].join('.'),
      dst: [...dgram.subarray(o + 4, o + 8)].join('.'),
      packets: dgram.readUInt32BE(o + 16),
      octets: dgram.readUInt32BE(o + 20),
      srcPort: dgram.readUInt16BE(o + 32),
      dstPort: dgram.readUInt16BE(o + 34),
      proto: dgram[o + 38]!,
    });
  }
  return out;
}

describe('tshark helper on the conformance corpus', { skip: corpusSkip }, () => {
  test('netflow5.dat: 12 back-to-back v5 datagrams, 30 records, fields as tshark names them', async () => {
    const file = readFileSync(join(VENDOR, 'netflow5.dat'));
    const dgrams = splitConcatenatedExports(file);
    assert.equal(dgrams.length, 12);
    const decoded = await decodeCflowWithTshark(dgrams);
    assert.equal(decoded.length, 12);
    const records = decoded.flatMap((d) => d.records);
    assert.equal(records.length, 30);
    decoded.forEach((d, i) => {
      assert.equal(d.frame, i + 1);
      assert.equal(d.malformed, false);
      assert.equal(field(d.header, 'cflow.version'), '5');
      assert.equal(numField(d.header, 'cflow.count'), d.records.length);
    });
    const mine = dgrams.flatMap((d) => v5Records(d));
    assert.deepEqual(
      records.map((r) => ({
        src: field(r, 'cflow.srcaddr'),
        dst: field(r, 'cflow.dstaddr'),
        packets: numField(r, 'cflow.packets'),
        octets: numField(r, 'cflow.octets'),
        srcPort: numField(r, 'cflow.srcport'),
        dstPort: numField(r, 'cflow.dstport'),
        proto: numField(r, 'cflow.protocol'),
      })),
      mine,
    );
    assert.deepEqual(mine[0], { src: '10.0.2.2', dst: '10.0.2.15', packets: 5, octets: 230, srcPort: 54435, dstPort: 22, proto: 6 });
    assert.equal(field(decoded[0]!.header, 'cflow.unix_secs'), '1430591888');
    assert.equal(field(decoded[0]!.header, 'cflow.samplerate'), '0');
  });

  test('NetFlow v9 templates and data records (softflowd)', async () => {
    const dgram = readFileSync(join(VENDOR, 'netflow9_test_softflowd_tpl_data.dat'));
    const [d] = await decodeCflowWithTshark([dgram]);
    assert.equal(field(d!.header, 'cflow.version'), '9');
    assert.deepEqual(d!.templates.map((t) => [t.templateId, t.options, t.fields.length]), [
      [1024, false, 14],
      [2048, false, 14],
    ]);
    assert.deepEqual(d!.templates[0]!.fields.slice(0, 2).map((f) => [f.type, f.length]), [
      [8, 4],
      [12, 4],
    ]);
    assert.deepEqual(d!.flowsets.map((f) => [f.flowsetId, f.records.length]), [
      [0, 0],
      [0, 0],
      [1024, 6],
      [2048, 1],
    ]);
    const v6 = d!.flowsets[3]!.records[0]!;
    assert.equal(field(v6, 'cflow.srcaddrv6'), 'fe80::20c:29ff:fe83:3b6e');
    assert.equal(numField(v6, 'cflow.octets'), 672);
    assert.equal(numField(v6, 'cflow.packets'), 7);
    assert.equal(numField(v6, 'cflow.protocol'), 58);
  });

  test('IPFIX options template and enterprise fields across datagrams (templates first)', async () => {
    const tpl = readFileSync(join(VENDOR, 'ipfix_test_barracuda_extended_uniflow_tpl256.dat'));
    const data = readFileSync(join(VENDOR, 'ipfix_test_barracuda_extended_uniflow_data256.dat'));
    const [t, d] = await decodeCflowWithTshark([tpl, data]);
    assert.equal(field(t!.header, 'cflow.version'), '10');
    const ent = t!.templates.flatMap((x) => x.fields).filter((f) => f.pen !== undefined);
    assert.ok(ent.length > 0);
    assert.ok(ent.every((f) => f.pen === 10704 && Number.isInteger(f.type)));
    assert.ok(d!.records.length > 0);
    assert.ok(d!.records.every((r) => r.has('cflow.srcaddr') || r.has('cflow.srcaddrv6')));
    // Enterprise data fields are named cflow.pie.<vendor>.<element>.
    assert.equal(field(d!.records[0]!, 'cflow.pie.barracuda.fwrule'), 'MTH:MTH-MC-to-Inet');
  });
});

/** A minimal sFlow v5 datagram: one flow sample with a raw packet header record. */
function sflowDatagram(agent: string, samplingRate: number, header: Buffer): Buffer {
  const padded = Buffer.alloc((header.length + 3) & ~3);
  header.copy(padded);
  const rec = Buffer.alloc(16 + padded.length);
  rec.writeUInt32BE(1, 0); // header_protocol: Ethernet
  rec.writeUInt32BE(header.length + 4, 4); // frame_length (with FCS)
  rec.writeUInt32BE(4, 8); // stripped
  rec.writeUInt32BE(header.length, 12);
  padded.copy(rec, 16);
  const sample = Buffer.alloc(32 + 8 + rec.length);
  sample.writeUInt32BE(7, 0); // sequence
  sample.writeUInt32BE(3, 4); // source id: ifIndex 3
  sample.writeUInt32BE(samplingRate, 8);
  sample.writeUInt32BE(samplingRate * 10, 12); // sample pool
  sample.writeUInt32BE(0, 16); // drops
  sample.writeUInt32BE(3, 20); // input
  sample.writeUInt32BE(5, 24); // output
  sample.writeUInt32BE(1, 28); // one record
  sample.writeUInt32BE(1, 32); // record format: raw packet header
  sample.writeUInt32BE(rec.length, 36);
  rec.copy(sample, 40);
  const head = Buffer.alloc(28);
  head.writeUInt32BE(5, 0);
  head.writeUInt32BE(1, 4); // agent IPv4
  parseAddress(agent).copy(head, 8);
  head.writeUInt32BE(0, 12); // sub agent
  head.writeUInt32BE(99, 16); // sequence
  head.writeUInt32BE(1000, 20); // uptime
  head.writeUInt32BE(1, 24); // one sample
  const sh = Buffer.alloc(8);
  sh.writeUInt32BE(1, 0); // flow sample
  sh.writeUInt32BE(sample.length, 4);
  return Buffer.concat([head, sh, sample]);
}

describe('tshark helper on sFlow', { skip: tsharkSkipReason() }, () => {
  test('flow sample fields and the sampled header dissection', async () => {
    const sampled = tcpFrame({ srcAddr: '10.9.8.7', dstAddr: '10.1.1.1', srcPort: 4444, dstPort: 443, flags: 'S' });
    const [d] = await decodeSflowWithTshark([sflowDatagram('192.0.2.55', 512, sampled)]);
    assert.equal(d!.malformed, false);
    assert.equal(field(d!.header, 'sflow_245.version'), '5');
    assert.equal(field(d!.header, 'sflow_245.agent'), '192.0.2.55');
    assert.equal(numField(d!.header, 'sflow_245.sequence_number'), 99);
    assert.equal(d!.samples.length, 1);
    const s = d!.samples[0]!;
    assert.equal(s.kind, 'flow');
    assert.equal(numField(s.fields, 'sflow.flow_sample.sampling_rate'), 512);
    assert.equal(numField(s.fields, 'sflow.flow_sample.sample_pool'), 5120);
    assert.equal(numField(s.fields, 'sflow.flow_sample.input_interface'), 3);
    assert.equal(s.records.length, 1);
    const rec = s.records[0]!;
    assert.equal(rec.label, 'Raw packet header');
    assert.equal(numField(rec.fields, 'sflow_245.header.frame_length'), sampled.length + 4);
    assert.equal(field(rec.fields, 'ip.src'), '10.9.8.7');
    assert.equal(numField(rec.fields, 'tcp.dstport'), 443);
  });
});

describe('real exporters read the traffic we write', { skip: skipUnlessCommands('softflowd') || tsharkSkipReason() }, () => {
  test('softflowd -r on a generated pcap exports its flows as IPFIX (checked by tshark)', async () => {
    const { dir, cleanup } = makeTempDir();
    try {
      const frames = [];
      // 50 TCP packets of 140 IP bytes over 5 flows, 20 UDP/IPv6 packets of 98 IP bytes in 1 flow.
      for (let i = 0; i < 50; i++) {
        frames.push({
          data: tcpFrame({ ...A4, srcPort: 1000 + (i % 5), dstPort: 80, flags: 'A', payload: Buffer.alloc(100) }),
          tsSec: 1700000000 + i,
        });
      }
      for (let i = 0; i < 20; i++) {
        frames.push({ data: udpFrame({ ...A6, srcPort: 53, dstPort: 5353, payload: Buffer.alloc(50) }), tsSec: 1700000050 + i });
      }
      const path = join(dir, 'traffic.pcap');
      writeFileSync(path, writePcap(frames));
      // IPFIX rather than v9: softflowd's v9 header count covers only the flow records, and tshark
      // stops a v9 datagram after that many records, i.e. inside the templates.
      const collector = await collectUdp();
      await runChecked('softflowd', ['-d', '-r', path, '-n', `127.0.0.1:${collector.port}`, '-v', '10']);
      const exported = await collector.finish();
      assert.ok(exported.length >= 1);
      const decoded = await decodeCflowWithTshark(exported);
      const records = decoded.flatMap((d) => d.records);
      const byProto = new Map<number, { flows: number; octets: number; packets: number }>();
      for (const r of records) {
        const p = numField(r, 'cflow.protocol');
        const acc = byProto.get(p) ?? { flows: 0, octets: 0, packets: 0 };
        acc.flows++;
        acc.octets += numField(r, 'cflow.octets');
        acc.packets += numField(r, 'cflow.packets');
        byProto.set(p, acc);
      }
      assert.deepEqual(byProto.get(6), { flows: 5, octets: 7000, packets: 50 });
      assert.deepEqual(byProto.get(17), { flows: 1, octets: 1960, packets: 20 });
      const v6 = records.find((r) => numField(r, 'cflow.protocol') === 17)!;
      assert.equal(field(v6, 'cflow.srcaddrv6'), A6.srcAddr);
      assert.equal(numField(v6, 'cflow.dstport'), 5353);
    } finally {
      cleanup();
    }
  });
});
