/**
 * sFlow from a real exporter: pmacctd (Debian package pmacct) with its sfprobe plugin reads a
 * pcap this test generates and exports sFlow v5 to a UDP socket here. The decoded flow records
 * must match the frames in the pcap (addresses, ports, protocol, ICMP type, TCP flags, VLAN,
 * frame size) and carry the configured sampling rate, agent address and sub-agent id.
 *
 * Counter samples are not tested here: pmacctd 1.7.7's sfprobe polls counters from its agent
 * tick and did not send them reliably in this setting (neither from a savefile nor live on lo);
 * hand-built counter samples are cross-checked against tshark in sflow.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { icmpFrame, tcpFrame, udpFrame, writePcap } from '../src/capture/mod.js';
import { Counters } from '../src/decode/stats.js';
import { Exporter } from '../src/decode/exporter.js';
import { FlowType } from '../src/decode/record.js';
import { SflowDecoder } from '../src/decode/sflow/mod.js';
import { Collect, type FlowSnapshot } from './support/sflow-collect.js';
import { hasCommand, makeTempDir } from './support/tools.js';
import { decodeSflowWithTshark } from './support/tshark.js';

const skipPmacct = hasCommand('pmacctd') ? false : 'pmacctd is not installed (Debian package "pmacct")';

interface Expected {
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

/** Known traffic: IPv4/IPv6 TCP (several flag sets), UDP, ICMP/ICMPv6, one 802.1Q frame, sizes from 42 to 1514 bytes. */
function traffic(n: number): { frames: Buffer[]; expected: Expected[] } {
  const frames: Buffer[] = [];
  const expected: Expected[] = [];
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
    const e: Expected = { src, dst, proto: 0, srcPort: 0, dstPort: 0, icmpType: 0, tcpFlags: 0, vlan, wireLen: 0 };
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
  // pmacctd's core hands packets to the sfprobe plugin in buffers and may keep the last few of a
  // savefile; trailing filler frames (not asserted on) push every frame under test through.
  for (let i = 0; i < FILLERS; i++) frames.push(udpFrame({ srcAddr: FILLER_SRC, dstAddr: '192.0.2.201', srcPort: 9, dstPort: 9 }));
  return { frames, expected };
}

const FILLERS = 64;
const FILLER_SRC = '192.0.2.200';

interface PmacctRun {
  datagrams: Buffer[];
  log: string;
}

/**
 * Runs pmacctd with `conf` (sfprobe_receiver filled in) and collects what it sends to a UDP
 * socket on the loopback address of `family`. Without `stopWhen`, waits for pmacctd to exit on
 * its own (it does once the savefile is read); with it, stops pmacctd (by its pid) as soon as
 * `stopWhen` accepts the datagrams received so far.
 */
async function runPmacct(
  dir: string,
  conf: string,
  family: 4 | 6,
  stopWhen?: (got: Buffer[]) => boolean,
): Promise<PmacctRun> {
  const host = family === 4 ? '127.0.0.1' : '::1';
  const sock: Socket = createSocket(family === 4 ? 'udp4' : 'udp6');
  const got: Buffer[] = [];
  const sentinel = randomBytes(16);
  let sentinelSeen: (() => void) | undefined;
  let onData: (() => void) | undefined;
  sock.on('message', (m: Buffer) => {
    if (m.equals(sentinel)) sentinelSeen?.();
    else {
      got.push(m);
      onData?.();
    }
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, host, () => resolve());
  });
  const port = sock.address().port;
  const confPath = join(dir, `pmacctd-${family}-${Math.random().toString(36).slice(2)}.conf`);
  writeFileSync(confPath, `${conf}\nsfprobe_receiver: ${family === 4 ? host : `[${host}]`}:${port}\n`);
  // Own process group: pmacctd forks its plugins, and stopping it must stop them too.
  const child = spawn('pmacctd', ['-f', confPath], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const pgid = child.pid!;
  const killGroup = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pgid, sig);
    } catch {
      // already gone
    }
  };
  let log = '';
  child.stdout.on('data', (b: Buffer) => (log += b.toString()));
  child.stderr.on('data', (b: Buffer) => (log += b.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  // Safety net only: pmacctd exits by itself in ~3 s (2 s savefile start delay + replay).
  const guard = setTimeout(() => killGroup('SIGKILL'), 30_000);
  try {
    if (stopWhen) {
      await Promise.race([
        exited,
        new Promise<void>((resolve) => {
          onData = () => {
            if (stopWhen(got)) resolve();
          };
        }),
      ]);
      killGroup('SIGTERM');
    }
    await exited;
    // The sfprobe plugin flushes its last datagram as the core exits; give it a moment to end.
    for (let i = 0; i < 50 && groupAlive(pgid); i++) await new Promise((r) => setTimeout(r, 100));
  } finally {
    clearTimeout(guard);
    killGroup('SIGKILL');
    child.stdout.destroy();
    child.stderr.destroy();
  }
  // Everything pmacctd sent is queued before a datagram we send now (same loopback socket queue).
  await new Promise<void>((resolve, reject) => {
    sentinelSeen = resolve;
    const tx = createSocket(family === 4 ? 'udp4' : 'udp6');
    tx.send(sentinel, port, host, (err) => {
      tx.close();
      if (err) reject(err);
    });
  });
  sock.close();
  return { datagrams: got, log };
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function decode(datagrams: Buffer[]): { c: Collect; counters: Counters } {
  const c = new Collect();
  const counters = new Counters();
  const dec = new SflowDecoder({ counters, flows: c, counterSink: c });
  const exp = new Exporter('127.0.0.1', 0);
  for (const d of datagrams) dec.decode(d, 0, d.length, exp, 1_700_000_000, 0);
  return { c, counters };
}

function assertMatches(f: FlowSnapshot, e: Expected, what: string): void {
  assert.equal(f.srcAddr, e.src, `${what} src`);
  assert.equal(f.dstAddr, e.dst, `${what} dst`);
  assert.equal(f.proto, e.proto, `${what} proto`);
  assert.equal(f.srcPort, e.srcPort, `${what} srcPort`);
  assert.equal(f.dstPort, e.dstPort, `${what} dstPort`);
  assert.equal(f.icmpType, e.icmpType, `${what} icmpType`);
  assert.equal(f.tcpFlags, e.tcpFlags, `${what} tcpFlags`);
  assert.equal(f.vlanId, e.vlan, `${what} vlan`);
  assert.equal(f.etype, e.src.includes(':') ? 0x86dd : 0x0800, `${what} etype`);
  // sfprobe reports the frame length including the 4-byte FCS the capture does not carry
  assert.equal(f.bytes, e.wireLen + 4, `${what} bytes`);
  assert.equal(f.packets, 1);
  assert.equal(f.type, FlowType.SFLOW_5);
}

function baseConf(pcap: string, extra: string): string {
  return ['daemonize: false', `pcap_savefile: ${pcap}`, 'plugins: sfprobe', extra].join('\n');
}

test('pmacctd sfprobe, sampling rate 1: one record per frame, matching the pcap', { skip: skipPmacct }, async () => {
  const tmp = makeTempDir('sflow-pmacct-');
  try {
    const { frames, expected } = traffic(36);
    const pcap = join(tmp.dir, 'traffic.pcap');
    writeFileSync(pcap, writePcap(frames.map((data, i) => ({ data, tsSec: 1_700_000_000 + i }))));
    const run = await runPmacct(tmp.dir, baseConf(pcap, 'sampling_rate: 1\nsfprobe_agentip: 192.0.2.77\nsfprobe_agentsubid: 1402'), 4);
    assert.ok(run.datagrams.length > 0, `no datagrams from pmacctd:\n${run.log}`);
    const { c, counters } = decode(run.datagrams);
    assert.deepEqual(counters.snapshot(), {}, 'nothing skipped or malformed');
    const real = c.flows.filter((f) => f.srcAddr !== FILLER_SRC);
    assert.equal(real.length, expected.length);
    assert.deepEqual(real, c.flows.slice(0, expected.length), 'fillers come last');
    real.forEach((f, i) => {
      assertMatches(f, expected[i]!, `frame ${i}`);
      assert.equal(f.samplingRate, 1);
      assert.equal(f.samplerAddress, '192.0.2.77');
      assert.equal(f.observationDomainId, 1402);
      assert.equal(f.sequenceNum, i + 1, 'sample sequence numbers count up from 1');
      assert.equal(f.srcMac, '02:00:00:00:00:01');
      assert.equal(f.dstMac, '02:00:00:00:00:02');
    });
  } finally {
    tmp.cleanup();
  }
});

test('pmacctd sfprobe, sampling rate 4 and an IPv6 agent: records carry the rate and match frames', { skip: skipPmacct }, async () => {
  const tmp = makeTempDir('sflow-pmacct-');
  try {
    const { frames, expected } = traffic(400);
    const pcap = join(tmp.dir, 'traffic.pcap');
    writeFileSync(pcap, writePcap(frames.map((data, i) => ({ data, tsSec: 1_700_000_000 + Math.floor(i / 100), tsFrac: (i % 100) * 1000 }))));
    const run = await runPmacct(tmp.dir, baseConf(pcap, 'sampling_rate: 4\nsfprobe_agentip: 2001:db8::77'), 6);
    // pmacctd 1.7.7 writes a broken first sample (sample length 4) into its first datagram when the
    // agent address is IPv6. Whatever we count as malformed, tshark must call malformed too.
    const bad = run.datagrams.filter((d) => Object.keys(decode([d]).counters.snapshot()).length > 0);
    if (bad.length > 0) {
      const t = await decodeSflowWithTshark(bad);
      t.forEach((d, i) => assert.equal(d.malformed, true, `datagram ${i} we reject is fine for tshark`));
    }
    const { c } = decode(run.datagrams);
    const sampled = c.flows.filter((f) => f.srcAddr !== FILLER_SRC);
    // random 1-in-4 sampling of 400 frames: zero samples has probability (3/4)^400
    assert.ok(sampled.length > 0 && sampled.length < expected.length, `${sampled.length} samples`);
    const byPort = new Map<string, Expected>();
    for (const e of expected) byPort.set(`${e.proto}/${e.srcPort}/${e.src}`, e);
    for (const f of c.flows) {
      assert.equal(f.samplingRate, 4);
      assert.equal(f.samplerAddress, '2001:db8::77');
      if (f.srcAddr === FILLER_SRC) continue;
      const e = byPort.get(`${f.proto}/${f.srcPort}/${f.srcAddr}`);
      assert.ok(e, `sampled ${f.srcAddr}:${f.srcPort} is not in the pcap`);
      assertMatches(f, e, `${f.srcAddr}:${f.srcPort}`);
    }
  } finally {
    tmp.cleanup();
  }
});
