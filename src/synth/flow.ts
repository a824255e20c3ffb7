/**
 * Synthetic flows: deterministic (seeded) and varied like an edge router's export:
 * a mix of TCP/UDP/ICMP on common ports, IPv4 or IPv6 addresses from documentation-like
 * private ranges, heavy-tailed byte counts, interfaces, AS numbers, VLANs and application names.
 */
import type { Rng } from './rng.js';

export interface Flow {
  v6: boolean;
  src: Buffer;
  dst: Buffer;
  nextHop: Buffer;
  srcPort: number;
  dstPort: number;
  proto: number;
  tos: number;
  tcpFlags: number;
  inIf: number;
  outIf: number;
  srcAs: number;
  dstAs: number;
  srcMask: number;
  dstMask: number;
  bytes: number;
  packets: number;
  /** Milliseconds before the export time that the flow started / ended. */
  startAgoMs: number;
  endAgoMs: number;
  vlan: number;
  direction: number;
  endReason: number;
  ttl: number;
  flowLabel: number;
  srcMac: Buffer;
  dstMac: Buffer;
  app: string;
}

const SERVICES: readonly { port: number; proto: number; app: string }[] = [
  { port: 443, proto: 6, app: 'https' },
  { port: 443, proto: 6, app: 'https' },
  { port: 80, proto: 6, app: 'http' },
  { port: 53, proto: 17, app: 'dns' },
  { port: 443, proto: 17, app: 'quic' },
  { port: 22, proto: 6, app: 'ssh' },
  { port: 123, proto: 17, app: 'ntp' },
  { port: 25, proto: 6, app: 'smtp' },
  { port: 3306, proto: 6, app: 'mysql' },
  { port: 8080, proto: 6, app: 'http-alt' },
  { port: 0, proto: 1, app: 'icmp' },
];

const AS_NUMBERS = [64_512, 64_513, 65_001, 15_169, 13_335, 16_509, 8075, 32_934, 4_200_000_001];

/** One flow; `exporter` and `k` make addresses distinct per exporter and record. */
export function makeFlow(rng: Rng, exporter: number, k: number, v6: boolean): Flow {
  const svc = rng.pick(SERVICES);
  const inbound = rng.int(2) === 0;
  const client = v6 ? addr6(0x20010db8, exporter, k) : addr4(10, exporter, k);
  const server = v6 ? addr6(0x2001_0db8 + 1 + rng.int(4), rng.int(4096), rng.int(65_536)) : addr4(172, 16 + rng.int(16), rng.int(65_536));
  const ephemeral = 32_768 + rng.int(28_000);
  const packets = svc.proto === 1 ? 1 + rng.int(4) : 1 + Math.floor(2 ** (rng.int(1400) / 100));
  const avg = svc.proto === 1 ? 84 : 60 + rng.int(1400);
  const duration = packets === 1 ? 0 : rng.int(59_000);
  const end = rng.int(1000);
  const flags = svc.proto === 6 ? [0x1b, 0x18, 0x12, 0x02, 0x11, 0x1f][rng.int(6)]! : 0;
  // ICMP over IPv6 is ICMPv6 (protocol 58; echo request is type 128), as exporters report it.
  const proto = svc.proto === 1 && v6 ? 58 : svc.proto;
  return {
    v6,
    src: inbound ? server : client,
    dst: inbound ? client : server,
    nextHop: v6 ? addr6(0xfe800000, 0, 1 + rng.int(4)) : addr4(192, 168, 1 + rng.int(4)),
    srcPort: svc.proto === 1 ? 0 : inbound ? svc.port : ephemeral,
    dstPort: svc.proto === 1 ? ((v6 ? 128 : 8) << 8) | 0 : inbound ? ephemeral : svc.port,
    proto,
    tos: [0, 0, 0, 0x28, 0xb8][rng.int(5)]!,
    tcpFlags: flags,
    inIf: 1 + rng.int(48),
    outIf: 1 + rng.int(48),
    srcAs: rng.pick(AS_NUMBERS),
    dstAs: rng.pick(AS_NUMBERS),
    srcMask: v6 ? 48 + rng.int(17) : 16 + rng.int(9),
    dstMask: v6 ? 48 + rng.int(17) : 16 + rng.int(9),
    bytes: packets * avg,
    packets,
    startAgoMs: end + duration,
    endAgoMs: end,
    vlan: 100 + rng.int(8),
    direction: inbound ? 0 : 1,
    endReason: [1, 2, 3, 3][rng.int(4)]!,
    ttl: [64, 128, 255, 57][rng.int(4)]!,
    flowLabel: v6 ? rng.int(1 << 20) : 0,
    srcMac: mac(exporter, 1 + rng.int(200)),
    dstMac: mac(exporter, 201 + rng.int(50)),
    app: svc.app,
  };
}

function addr4(a: number, b: number, k: number): Buffer {
  return Buffer.from([a, b & 255, (k >>> 8) & 255, k & 255]);
}

function addr6(prefix: number, site: number, k: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32BE(prefix >>> 0, 0);
  b.writeUInt16BE(site & 0xffff, 4);
  b.writeUInt32BE(k >>> 0, 12);
  return b;
}

function mac(exporter: number, host: number): Buffer {
  return Buffer.from([0x02, 0x42, (exporter >>> 8) & 255, exporter & 255, 0, host & 255]);
}
