/**
 * pmacctd (Debian package pmacct) as a live exporter for tests: it reads a pcap generated here
 * (`pcap_savefile`) and exports what it sees with its nfprobe plugin (NetFlow v9 / IPFIX) or its
 * sfprobe plugin (sFlow v5) to a UDP socket of ours. This module has the traffic builders, the
 * configurations and the runner; what pmacctd 1.7.7 sends is described in the tests that use
 * them (pmacct-nfprobe.test.ts, sflow-pmacct.test.ts).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { icmpFrame, tcpFrame, udpFrame, type PcapFrame } from '../../src/capture/mod.js';
import { captureUdp, hasCommand, type CapturedDatagram } from './tools.js';
import { until } from './wait.js';

/** For `test(name, { skip: skipPmacct }, ...)`. */
export const skipPmacct = hasCommand('pmacctd') ? false : 'pmacctd is not installed (Debian package "pmacct")';

/**
 * pmacctd's core hands packets to its plugins in buffers of a shared ring, and the end of a
 * savefile is handled loosely: with `pcap_savefile_wait` (see runPmacctd) the core hands over its
 * last, partly filled buffer, but the plugin then also replays the records of the buffer before
 * it (sfprobe, 36 frames under test and 0 to 256 fillers: 33 to 54 samples more than the pcap
 * had frames; nfprobe, 168 packets under test: 19 packets more on the flows under test without
 * fillers, 4 more on the filler flow with 256). And should the plugin miss the core's last
 * wake-up, it never reads that partial buffer. FILLERS trailing frames from FILLER_SRC (not
 * asserted on, beyond the sampling rate) keep both effects off the frames under test: the last
 * two buffers hold only fillers. With 256, every replayed sample was a filler in 100 of 100 runs
 * with three busy loops on the two cores; with 64, replays carried frames under test.
 */
export const FILLERS = 256;
export const FILLER_SRC = '192.0.2.200';
export const FILLER_DST = '192.0.2.201';

function fillerFrame(): Buffer {
  return udpFrame({ srcAddr: FILLER_SRC, dstAddr: FILLER_DST, srcPort: 9, dstPort: 9 });
}

// ---------------------------------------------------------------------------------------------
// nfprobe traffic: seven flows with known counts and times

export interface FlowSpec {
  src: string;
  dst: string;
  proto: number;
  srcPort: number;
  dstPort: number;
  /**
   * ICMP type/code for ICMP flows. pmacctd exports these (like NetFlow v5 and softflowd) as
   * L4_DST_PORT = type * 256 + code, with L4_SRC_PORT 0, so the specs' ports say so.
   */
  icmpType: number;
  icmpCode: number;
  tos: number;
}

export interface ExpectedFlow extends FlowSpec {
  packets: number;
  /** Sum of IP lengths (what pmacct counts as octets). */
  bytes: number;
  /** Smallest and largest IP length of one packet (bounds for sampled byte counts). */
  minLen: number;
  maxLen: number;
  tcpFlags: number;
  /** First and last packet time, ms since the epoch. */
  firstMs: number;
  lastMs: number;
}

/** First packet of the nfprobe traffic, on a second. */
export const NFPROBE_T0 = 1_700_000_000;

/** Payload size of packet `i` of flow `f`: constant per flow except flow 6, which varies. */
function payloadSize(f: number, i: number): number {
  return f === 6 ? (i * 37) % 1400 : [100, 300, 56, 48, 1000, 32][f]!;
}

const TCP_FLAG_CYCLE = ['S', 'A', 'PA', 'PA', 'A', 'PA'];

/**
 * Seven flows of `perFlow` packets each, interleaved, one round per second and flow `f` f ms
 * into the second: IPv4 UDP/TCP/ICMP, IPv6 UDP/TCP/ICMPv6, and an IPv4 UDP flow whose packet
 * sizes vary from 28 to 1427 bytes. Filler frames (not asserted on, beyond the rate) follow.
 */
export function nfprobeTraffic(perFlow: number): { frames: PcapFrame[]; expected: ExpectedFlow[] } {
  const T0 = NFPROBE_T0;
  const specs: FlowSpec[] = [
    { src: '10.1.0.1', dst: '10.2.0.1', proto: 17, srcPort: 30001, dstPort: 53, icmpType: 0, icmpCode: 0, tos: 0 },
    { src: '10.1.0.2', dst: '10.2.0.2', proto: 6, srcPort: 20001, dstPort: 443, icmpType: 0, icmpCode: 0, tos: 0x28 },
    { src: '10.1.0.3', dst: '10.2.0.3', proto: 1, srcPort: 0, dstPort: 8 << 8, icmpType: 8, icmpCode: 0, tos: 0 },
    { src: '2001:db8:1::1', dst: '2001:db8:2::1', proto: 17, srcPort: 40001, dstPort: 123, icmpType: 0, icmpCode: 0, tos: 0xb8 },
    { src: '2001:db8:1::2', dst: '2001:db8:2::2', proto: 6, srcPort: 50001, dstPort: 22, icmpType: 0, icmpCode: 0, tos: 0 },
    { src: '2001:db8:1::3', dst: '2001:db8:2::3', proto: 58, srcPort: 0, dstPort: 128 << 8, icmpType: 128, icmpCode: 0, tos: 0 },
    { src: '10.1.0.7', dst: '10.2.0.7', proto: 17, srcPort: 30007, dstPort: 5353, icmpType: 0, icmpCode: 0, tos: 0 },
  ];
  const expected: ExpectedFlow[] = specs.map((s) => ({
    ...s,
    packets: 0,
    bytes: 0,
    minLen: Infinity,
    maxLen: 0,
    tcpFlags: 0,
    firstMs: Infinity,
    lastMs: 0,
  }));
  const frames: PcapFrame[] = [];
  for (let i = 0; i < perFlow; i++) {
    specs.forEach((s, f) => {
      const v6 = s.src.includes(':');
      const payload = new Uint8Array(payloadSize(f, i)).fill(f + 1);
      const base = { srcAddr: s.src, dstAddr: s.dst, tos: s.tos, ipId: i };
      let data: Buffer;
      let flags = 0;
      if (s.proto === 6) {
        const letters = TCP_FLAG_CYCLE[i % TCP_FLAG_CYCLE.length]!;
        data = tcpFrame({ ...base, srcPort: s.srcPort, dstPort: s.dstPort, flags: letters, payload, seq: 1000 + i });
        flags = data[14 + (v6 ? 40 : 20) + 13]!;
      } else if (s.proto === 17) {
        data = udpFrame({ ...base, srcPort: s.srcPort, dstPort: s.dstPort, payload });
      } else {
        data = icmpFrame({ ...base, type: s.icmpType, code: s.icmpCode, id: 7, seq: i, payload });
      }
      const ipLen = data.length - 14; // Ethernet header, no VLAN tag
      const e = expected[f]!;
      e.packets++;
      e.bytes += ipLen;
      e.minLen = Math.min(e.minLen, ipLen);
      e.maxLen = Math.max(e.maxLen, ipLen);
      e.tcpFlags |= flags;
      const ms = (T0 + i) * 1000 + f;
      e.firstMs = Math.min(e.firstMs, ms);
      e.lastMs = Math.max(e.lastMs, ms);
      frames.push({ data, tsSec: T0 + i, tsFrac: f * 1000 });
    });
  }
  for (let i = 0; i < FILLERS; i++) frames.push({ data: fillerFrame(), tsSec: T0 + perFlow + 1 });
  return { frames, expected };
}

/** pmacctd configuration for nfprobe (the runner adds the receiver). */
export function nfprobeConf(pcap: string, version: 9 | 10, rate: number): string {
  return [
    'daemonize: false',
    `pcap_savefile: ${pcap}`,
    'plugins: nfprobe',
    `nfprobe_version: ${version}`,
    `sampling_rate: ${rate}`,
    'aggregate: src_host, dst_host, src_port, dst_port, proto, tos',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// sfprobe traffic: one sample per frame at rate 1

export interface SampledFrame {
  src: string;
  dst: string;
  proto: number;
  srcPort: number;
  dstPort: number;
  icmpType: number;
  tcpFlags: number;
  vlan: number;
  /** Frame length on the wire, without FCS. */
  wireLen: number;
}

/**
 * Known frames: IPv4/IPv6 TCP (several flag sets), UDP, ICMP/ICMPv6, some 802.1Q frames, sizes
 * from 42 to 1514 bytes, every frame its own flow (distinct source port or address). Filler
 * frames follow.
 */
export function sfprobeTraffic(n: number): { frames: Buffer[]; expected: SampledFrame[] } {
  const frames: Buffer[] = [];
  const expected: SampledFrame[] = [];
  const flagSets = ['S', 'SA', 'A', 'PA', 'FA', 'R'];
  for (let i = 0; i < n; i++) {
    const kind = i % 6;
    const v6 = kind >= 3;
    const src = v6 ? `2001:db8:1::${(i % 250) + 1}` : `10.1.${Math.floor(i / 250)}.${(i % 250) + 1}`;
    const dst = v6 ? `2001:db8:2::${(i % 200) + 1}` : `10.2.${Math.floor(i / 200)}.${(i % 200) + 1}`;
    const payload = new Uint8Array([0, 10, 100, 300, 700, 1400][i % 6]! - (v6 ? 20 : 0) > 0 ? [0, 10, 100, 300, 700, 1400][i % 6]! - (v6 ? 20 : 0) : 0);
    const vlan = i % 7 === 3 ? 100 + (i % 50) : 0;
    const base = { srcAddr: src, dstAddr: dst, ...(vlan ? { vlan } : {}) };
    let f: Buffer;
    const e: SampledFrame = { src, dst, proto: 0, srcPort: 0, dstPort: 0, icmpType: 0, tcpFlags: 0, vlan, wireLen: 0 };
    if (kind === 0 || kind === 3) {
      const flags = flagSets[i % flagSets.length]!;
      f = tcpFrame({ ...base, srcPort: 20000 + i, dstPort: 443, flags, payload });
      Object.assign(e, { proto: 6, srcPort: 20000 + i, dstPort: 443, tcpFlags: f[(vlan ? 18 : 14) + (v6 ? 40 : 20) + 13]! });
    } else if (kind === 1 || kind === 4) {
      f = udpFrame({ ...base, srcPort: 30000 + i, dstPort: 53, payload });
      Object.assign(e, { proto: 17, srcPort: 30000 + i, dstPort: 53 });
    } else {
      const type = v6 ? 128 : 8;
      f = icmpFrame({ ...base, type, id: i, payload });
      Object.assign(e, { proto: v6 ? 58 : 1, icmpType: type });
    }
    e.wireLen = f.length;
    frames.push(f);
    expected.push(e);
  }
  for (let i = 0; i < FILLERS; i++) frames.push(fillerFrame());
  return { frames, expected };
}

/** pmacctd configuration for sfprobe, plus `extra` lines (the runner adds the receiver). */
export function sfprobeConf(pcap: string, extra: string): string {
  return ['daemonize: false', `pcap_savefile: ${pcap}`, 'plugins: sfprobe', extra].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Running pmacctd

/** Process groups of pmacctd runs not yet known to be gone; killPmacctd kills whatever is left. */
const liveGroups = new Set<number>();

/** Kills every pmacctd process group still running (for `after` hooks). */
export function killPmacctd(): void {
  for (const pgid of liveGroups) killGroup(pgid, 'SIGKILL');
  liveGroups.clear();
}

function killGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    // already gone
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface PmacctRun {
  datagrams: CapturedDatagram[];
  log: string;
}

export interface PmacctOptions {
  /** The plugin whose receiver this run sets: nfprobe or sfprobe. */
  plugin: 'nfprobe' | 'sfprobe';
  /** The loopback address the receiver socket is on (default 4: 127.0.0.1). */
  family?: 4 | 6;
  /** Relay every datagram, as it arrives, to this port on 127.0.0.1 (a collector under test). */
  forwardTo?: number;
}

/** How long the capture must stay quiet, once the savefile is read, before pmacctd is stopped. */
const QUIET_MS = 1000;

/**
 * Runs pmacctd with `conf` (the plugin's receiver added) in its own process group and collects
 * everything it sends to a UDP socket on loopback.
 *
 * Left to exit by itself at the savefile's end, pmacctd loses data two ways: its core drops the
 * packets of its last, partly filled buffer, and it stops the plugins (2 s later) without waking
 * them once more, so a plugin that missed a wake-up while both cores were busy never reads the
 * buffers queued after it. The sfprobe tests then got the first 33 of 292 frames: 2 of 40 runs
 * with three busy loops on the two cores, about one CI run in ten. So the run sets
 * `pcap_savefile_wait`: at the end of the file the core hands over its partial buffer, wakes the
 * plugin and waits. The runner waits for "finished reading" in the log and then until the
 * capture has been quiet for QUIET_MS, and sends SIGINT to the core, which stops the plugins;
 * they export what they hold (nfprobe its whole flow cache) on the way out. A run that is not
 * through all of that within 30 s is killed and throws, naming the wait and with pmacctd's log.
 */
export async function runPmacctd(dir: string, conf: string, o: PmacctOptions): Promise<PmacctRun> {
  const family = o.family ?? 4;
  const cap = await captureUdp({ family, ...(o.forwardTo !== undefined ? { forwardTo: o.forwardTo } : {}) });
  const receiver = family === 4 ? `${cap.host}:${cap.port}` : `[${cap.host}]:${cap.port}`;
  const confPath = join(dir, `pmacctd-${o.plugin}-${family}-${Math.random().toString(36).slice(2)}.conf`);
  writeFileSync(confPath, `${conf}\npcap_savefile_wait: true\n${o.plugin}_receiver: ${receiver}\n`);
  // Own process group: pmacctd forks its plugins, and a run that hangs must take them down too.
  const child = spawn('pmacctd', ['-f', confPath], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const pgid = child.pid;
  let log = '';
  child.stdout.on('data', (b: Buffer) => (log += b.toString()));
  child.stderr.on('data', (b: Buffer) => (log += b.toString()));
  let gone = false;
  const exited = new Promise<void>((resolve) => {
    child.on('exit', () => {
      gone = true;
      resolve();
    });
    child.on('error', (e) => {
      log += `spawn error: ${e.message}\n`;
      gone = true;
      resolve();
    });
  });
  if (pgid === undefined) {
    await exited;
    await cap.finish();
    throw new Error(`pmacctd did not start:\n${log}`);
  }
  liveGroups.add(pgid);
  // One budget for the three waits, against a hang only.
  const deadline = Date.now() + 30_000;
  const left = () => Math.max(0, deadline - Date.now());
  try {
    await until(() => gone || log.includes('finished reading PCAP capture file'), "pmacctd's 'finished reading PCAP capture file'", left(), 50);
    let seen = -1;
    let quietSince = 0;
    const quiet = () => {
      if (cap.datagrams.length !== seen) {
        seen = cap.datagrams.length;
        quietSince = Date.now();
      }
      return Date.now() - quietSince >= QUIET_MS;
    };
    await until(() => gone || quiet(), `${QUIET_MS} ms without a datagram from pmacctd`, left(), 50);
    if (!gone) child.kill('SIGINT');
    await until(() => gone, 'pmacctd to exit after SIGINT', left(), 50);
    // The core waits for its plugins before it exits; give stragglers a moment all the same (any
    // still there after 5 s are killed with the group below).
    await until(() => !groupAlive(pgid), "pmacctd's plugins to exit", 5000, 100).catch(() => undefined);
  } catch (err) {
    await cap.finish();
    throw new Error(`${(err as Error).message}; pmacctd's log:\n${log}`);
  } finally {
    killGroup(pgid, 'SIGKILL');
    liveGroups.delete(pgid);
    child.stdout.destroy();
    child.stderr.destroy();
  }
  // Everything pmacctd sent is queued on the loopback socket before a datagram we send now.
  return { datagrams: await cap.finish(), log };
}
