/**
 * softflowd (the Debian package) as a live exporter for tests: known traffic written to a pcap
 * here, softflowd replaying it (`-r`) and exporting NetFlow v5, v9 or IPFIX to a UDP socket of
 * ours. The expected flows are exact: per flow (per direction, as softflowd exports them)
 * packets, bytes (softflowd counts IP bytes: IPv4 total length, IPv6 40 + payload length),
 * the union of TCP flags, and the first and last packet times.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { icmpFrame, tcpFrame, udpFrame, writePcap, type PcapFrame } from '../../src/capture/mod.js';
import { captureUdp, type CapturedDatagram } from './tools.js';

// ---------------------------------------------------------------------------------------------
// The traffic

/** First packet of the generated traffic, exactly on a second. */
export const T0 = 1_700_000_000;

export interface Pkt {
  /** Milliseconds after T0. */
  atMs: number;
  frame: Buffer;
  key: string;
  ipLen: number;
  tcpFlags: number;
  v6: boolean;
}

export interface Expected {
  key: string;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  proto: number;
  v6: boolean;
  icmpType: number;
  icmpCode: number;
  packets: number;
  bytes: number;
  tcpFlags: number;
  firstMs: number;
  lastMs: number;
  /** First and last packet of the conversation (both directions). */
  convFirstMs: number;
  convLastMs: number;
}

const FLAG = { F: 1, S: 2, R: 4, P: 8, A: 16 } as const;
function flagMask(s: string): number {
  let m = 0;
  for (const c of s) m |= FLAG[c as keyof typeof FLAG];
  return m;
}

/** The flow key as the tests write it: `proto src:port > dst:port`. */
export function keyOf(src: string, dst: string, sp: number, dp: number, proto: number): string {
  return `${proto} ${src}:${sp} > ${dst}:${dp}`;
}

/**
 * Builds the packets of every flow, with distinct counts, sizes and times per direction: 13
 * flows, IPv4 and IPv6, TCP (handshakes, data, FIN, RST, unanswered SYNs), UDP both ways and
 * one way, ICMP and ICMPv6 echo.
 */
export function buildTraffic(): { pkts: Pkt[]; flows: Map<string, Expected> } {
  const pkts: Pkt[] = [];
  const flows = new Map<string, Expected>();
  const add = (e: Omit<Expected, 'packets' | 'bytes' | 'tcpFlags' | 'firstMs' | 'lastMs' | 'convFirstMs' | 'convLastMs' | 'key'>, atMs: number, frame: Buffer, tcpFlags: number): void => {
    const key = keyOf(e.src, e.dst, e.srcPort, e.dstPort, e.proto);
    // Ethernet without VLAN: the IP packet is everything after the 14-byte header.
    const ipLen = frame.length - 14;
    pkts.push({ atMs, frame, key, ipLen, tcpFlags, v6: e.v6 });
    let f = flows.get(key);
    if (f === undefined) {
      f = { ...e, key, packets: 0, bytes: 0, tcpFlags: 0, firstMs: atMs, lastMs: atMs, convFirstMs: 0, convLastMs: 0 };
      flows.set(key, f);
    }
    f.packets++;
    f.bytes += ipLen;
    f.tcpFlags |= tcpFlags;
    f.firstMs = Math.min(f.firstMs, atMs);
    f.lastMs = Math.max(f.lastMs, atMs);
  };

  /** A TCP conversation: [fromClient, flags, payload bytes, ms after start] per packet. */
  const tcp = (c: string, s: string, cp: number, sp: number, startMs: number, steps: [boolean, string, number, number][]): void => {
    const v6 = c.includes(':');
    for (const [fromClient, flags, size, dt] of steps) {
      const o = fromClient ? { srcAddr: c, dstAddr: s, srcPort: cp, dstPort: sp } : { srcAddr: s, dstAddr: c, srcPort: sp, dstPort: cp };
      const frame = tcpFrame({ ...o, flags, payload: Buffer.alloc(size, 0x61) });
      add({ src: o.srcAddr, dst: o.dstAddr, srcPort: o.srcPort, dstPort: o.dstPort, proto: 6, v6, icmpType: 0, icmpCode: 0 }, startMs + dt, frame, flagMask(flags));
    }
  };
  const udp = (src: string, dst: string, sp: number, dp: number, sizes: number[], startMs: number, stepMs: number): void => {
    const v6 = src.includes(':');
    sizes.forEach((size, i) => {
      const frame = udpFrame({ srcAddr: src, dstAddr: dst, srcPort: sp, dstPort: dp, payload: Buffer.alloc(size, 0x75) });
      add({ src, dst, srcPort: sp, dstPort: dp, proto: 17, v6, icmpType: 0, icmpCode: 0 }, startMs + i * stepMs, frame, 0);
    });
  };
  const icmp = (src: string, dst: string, n: number, size: number, startMs: number, stepMs: number): void => {
    const v6 = src.includes(':');
    const type = v6 ? 128 : 8;
    for (let i = 0; i < n; i++) {
      const frame = icmpFrame({ srcAddr: src, dstAddr: dst, type, code: 0, id: 77, seq: i + 1, payload: Buffer.alloc(size, 0x69) });
      add({ src, dst, srcPort: 0, dstPort: 0, proto: v6 ? 58 : 1, v6, icmpType: type, icmpCode: 0 }, startMs + i * stepMs, frame, 0);
    }
  };

  // IPv4 TCP: a full connection (handshake, data both ways, FIN both ways).
  tcp('10.1.0.1', '10.2.0.1', 40001, 80, 0, [
    [true, 'S', 0, 0],
    [false, 'SA', 0, 15],
    [true, 'A', 0, 31],
    [true, 'PA', 180, 40],
    [false, 'A', 1400, 95],
    [false, 'PA', 1000, 96],
    [true, 'A', 0, 130],
    [true, 'FA', 0, 2200],
    [false, 'FA', 0, 2215],
    [true, 'A', 0, 2230],
  ]);
  // IPv4 TCP: another connection, different sizes, server resets.
  tcp('10.1.0.2', '10.2.0.2', 40002, 443, 1_003, [
    [true, 'S', 0, 0],
    [false, 'SA', 0, 21],
    [true, 'A', 0, 42],
    [true, 'PA', 517, 60],
    [false, 'PA', 1380, 120],
    [false, 'PA', 1380, 121],
    [false, 'PA', 312, 122],
    [true, 'A', 0, 160],
    [false, 'RA', 0, 5_000],
  ]);
  // IPv4 TCP: SYNs to a closed/filtered port, no answer (one direction only).
  tcp('10.1.0.3', '10.2.0.3', 51515, 22, 2_007, [
    [true, 'S', 0, 0],
    [true, 'S', 0, 1_000],
    [true, 'S', 0, 3_000],
  ]);
  // IPv4 UDP: DNS-like query/answer pairs (both directions), and one-way NTP.
  for (let i = 0; i < 3; i++) {
    udp('10.1.0.4', '10.2.0.4', 53000, 53, [33 + i], 510 + i * 1_700, 1);
    udp('10.2.0.4', '10.1.0.4', 53, 53000, [120 + i * 16], 519 + i * 1_700, 1);
  }
  udp('10.1.0.5', '10.2.0.5', 123, 123, [48, 48, 48, 48, 48, 48, 48], 300, 1_000);
  // IPv4 ICMP echo requests.
  icmp('10.1.0.6', '10.2.0.6', 4, 56, 700, 1_000);
  // IPv6 UDP and TCP, ICMPv6 echo.
  udp('2001:db8::10', '2001:db8::20', 1234, 5353, [80, 81, 82, 83, 84], 150, 900);
  tcp('2001:db8::11', '2001:db8::21', 40100, 443, 2_500, [
    [true, 'S', 0, 0],
    [false, 'SA', 0, 33],
    [true, 'A', 0, 66],
    [true, 'PA', 250, 70],
    [false, 'PA', 2000, 140],
    [true, 'FA', 0, 300],
    [false, 'FA', 0, 333],
    [true, 'A', 0, 366],
  ]);
  icmp('2001:db8::12', '2001:db8::22', 2, 32, 1_250, 2_000);

  // softflowd keeps one start and one last-seen time per conversation (both directions) and
  // exports them in the record of each direction.
  const conv = (f: Expected): string => {
    const a = `${f.src}|${f.srcPort}`;
    const b = `${f.dst}|${f.dstPort}`;
    return `${f.proto} ${a < b ? `${a} ${b}` : `${b} ${a}`}`;
  };
  const span = new Map<string, [number, number]>();
  for (const f of flows.values()) {
    const s = span.get(conv(f));
    span.set(conv(f), s === undefined ? [f.firstMs, f.lastMs] : [Math.min(s[0], f.firstMs), Math.max(s[1], f.lastMs)]);
  }
  for (const f of flows.values()) [f.convFirstMs, f.convLastMs] = span.get(conv(f))!;

  // One pcap, in time order; all timestamps distinct so the order is unambiguous.
  pkts.sort((a, b) => a.atMs - b.atMs);
  for (let i = 1; i < pkts.length; i++) {
    assert.ok(pkts[i]!.atMs > pkts[i - 1]!.atMs, `generated timestamps must be distinct: ${pkts[i - 1]!.key} and ${pkts[i]!.key} at ${pkts[i]!.atMs} ms`);
  }
  assert.equal(pkts[0]!.atMs, 0);
  return { pkts, flows };
}

export function pcapOf(pkts: Pkt[]): Buffer {
  const frames: PcapFrame[] = pkts.map((p) => ({ data: p.frame, tsSec: T0 + Math.floor(p.atMs / 1000), tsFrac: (p.atMs % 1000) * 1000 }));
  return writePcap(frames);
}

// ---------------------------------------------------------------------------------------------
// Running softflowd

const running = new Set<ChildProcess>();

/** Kills any softflowd still running (for `after` hooks; each run normally ends by itself). */
export function killSoftflowd(): void {
  for (const c of running) c.kill('SIGKILL');
  running.clear();
}

/**
 * Runs softflowd over the pcap until it exits (it does at the end of the savefile, after
 * exporting every flow), exporting to 127.0.0.1:`port`. Returns its output.
 */
export async function runSoftflowd(dir: string, pcap: string, port: number, args: string[]): Promise<string> {
  const tag = randomBytes(4).toString('hex');
  // Own pid file, no control socket (softflowd 1.1 does not exit at pcap EOF with a custom
  // control socket path; "none" also keeps parallel runs from sharing /var/run/softflowd.ctl).
  const child = spawn('softflowd', ['-d', '-r', pcap, '-n', `127.0.0.1:${port}`, '-p', join(dir, `sf-${tag}.pid`), '-c', 'none', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let stderr = '';
  child.stdout!.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`softflowd ${args.join(' ')} did not exit within 30 s: ${stderr}`));
      }, 30_000);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on('close', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    assert.equal(code, 0, `softflowd ${args.join(' ')} exited ${code}: ${stderr}`);
  } finally {
    running.delete(child);
  }
  return stderr;
}

/**
 * Runs softflowd over the pcap, exporting to a socket of ours; returns every datagram with its
 * sender. With `forwardTo`, each datagram is also relayed, as it arrives, to that local port.
 */
export async function exportWithSoftflowd(dir: string, pcap: string, args: string[], forwardTo?: number): Promise<{ datagrams: CapturedDatagram[]; stderr: string }> {
  const cap = await captureUdp(forwardTo === undefined ? {} : { forwardTo });
  let stderr: string;
  try {
    stderr = await runSoftflowd(dir, pcap, cap.port, args);
  } catch (err) {
    await cap.finish();
    throw err;
  }
  return { datagrams: await cap.finish(), stderr };
}
