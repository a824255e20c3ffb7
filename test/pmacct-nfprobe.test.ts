/**
 * NetFlow v9 and IPFIX from a real exporter: pmacctd (Debian package pmacct) with its nfprobe
 * plugin reads a pcap this test generates and exports to a UDP socket here. The decoded records
 * must match the traffic in the pcap (addresses, ports, protocols, TCP flags, packet and byte
 * counts, first/last timestamps) and carry the configured sampling rate.
 *
 * What pmacctd 1.7.7 sends (observed, and asserted below through tshark):
 * - Data templates 1024/1025 (IPv4) and 2048/2049 (IPv6) with 153/152 (flow end/start ms), 1 and
 *   2 (octets, packets; 8 bytes each), 60, 10, 14, 61, 8/12 or 27/28, 7, 11, 5 (with `tos` in
 *   the aggregate), 6, 4, and 48 FLOW_SAMPLER_ID (1 byte) in every record. ICMP type/code go in
 *   L4_DST_PORT (type * 256 + code); there is no element 32/139.
 * - One options template 4096: scope system (v9 scope type 1, 4 bytes) or, in IPFIX, element 144
 *   (4 bytes); fields 48 samplerId (1 byte), 49 samplerMode (1 byte, 2 = random) and
 *   50 samplerRandomInterval (4 bytes, = sampling_rate). Its one data record (sampler id 1)
 *   comes in the first datagram, before the flows; the decoder resolves each record's rate
 *   through its sampler id 1. pmacctd sends this even at sampling_rate 1 (interval 1).
 * - Octets are IP lengths (IPv4 total length; IPv6 40-byte header + payload length), not frame
 *   lengths; counts are of sampled packets, not renormalised.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { icmpFrame, tcpFrame, udpFrame, writePcap, type PcapFrame } from '../src/capture/mod.js';
import { Exporter } from '../src/decode/mod.js';
import { collectingDecoder, type Flow } from './support/collect.js';
import { hasCommand, makeTempDir } from './support/tools.js';
import { decodeCflowWithTshark, hasTshark, numField } from './support/tshark.js';

const skipPmacct = hasCommand('pmacctd') ? false : 'pmacctd is not installed (Debian package "pmacct")';

/** Process groups of pmacctd runs not yet known to be gone; `after` kills whatever is left. */
const liveGroups = new Set<number>();
after(() => {
  for (const pgid of liveGroups) killGroup(pgid, 'SIGKILL');
});

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

// ---------------------------------------------------------------------------------------------
// Traffic

interface FlowSpec {
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

interface ExpectedFlow extends FlowSpec {
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

const T0 = 1_700_000_000;
const FILLERS = 64;
const FILLER_SRC = '192.0.2.200';

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
function traffic(perFlow: number): { frames: PcapFrame[]; expected: ExpectedFlow[] } {
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
  // pmacctd's core hands packets to its plugins in buffers and may hold back the last frames of
  // a savefile; trailing fillers push every frame under test through.
  for (let i = 0; i < FILLERS; i++) {
    frames.push({ data: udpFrame({ srcAddr: FILLER_SRC, dstAddr: '192.0.2.201', srcPort: 9, dstPort: 9 }), tsSec: T0 + perFlow + 1 });
  }
  return { frames, expected };
}

// ---------------------------------------------------------------------------------------------
// Running pmacctd

interface Datagram {
  data: Buffer;
  address: string;
  port: number;
}

interface PmacctRun {
  datagrams: Datagram[];
  log: string;
}

/**
 * Runs pmacctd with `conf` (nfprobe_receiver added) in its own process group and collects
 * everything it sends to a UDP socket on 127.0.0.1. pmacctd exits by itself once the savefile is
 * replayed; the nfprobe plugin expires and exports every cached flow as it shuts down.
 */
async function runPmacct(dir: string, conf: string): Promise<PmacctRun> {
  const sock: Socket = createSocket('udp4');
  const got: Datagram[] = [];
  const sentinel = randomBytes(16);
  let sentinelSeen: (() => void) | undefined;
  sock.on('message', (m: Buffer, rinfo) => {
    if (m.equals(sentinel)) sentinelSeen?.();
    else got.push({ data: m, address: rinfo.address, port: rinfo.port });
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, '127.0.0.1', () => resolve());
  });
  const port = sock.address().port;
  const confPath = join(dir, `pmacctd-${Math.random().toString(36).slice(2)}.conf`);
  writeFileSync(confPath, `${conf}\nnfprobe_receiver: 127.0.0.1:${port}\n`);
  // Own process group: pmacctd forks its plugins, and stopping it must stop them too.
  const child = spawn('pmacctd', ['-f', confPath], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const pgid = child.pid;
  let log = '';
  child.stdout.on('data', (b: Buffer) => (log += b.toString()));
  child.stderr.on('data', (b: Buffer) => (log += b.toString()));
  const exited = new Promise<void>((resolve) => {
    child.on('exit', () => resolve());
    child.on('error', (e) => {
      log += `spawn error: ${e.message}\n`;
      resolve();
    });
  });
  if (pgid === undefined) {
    await exited;
    sock.close();
    throw new Error(`pmacctd did not start:\n${log}`);
  }
  liveGroups.add(pgid);
  // Safety net only, against a hang: pmacctd exits by itself in ~3 s (2 s savefile start delay).
  const guard = setTimeout(() => killGroup(pgid, 'SIGKILL'), 30_000);
  try {
    await exited;
    // The plugin exports its cache as the core exits; let the whole group end.
    for (let i = 0; i < 50 && groupAlive(pgid); i++) await new Promise((r) => setTimeout(r, 100));
  } finally {
    clearTimeout(guard);
    killGroup(pgid, 'SIGKILL');
    liveGroups.delete(pgid);
    child.stdout.destroy();
    child.stderr.destroy();
  }
  // Everything pmacctd sent is queued on the loopback socket before a datagram we send now.
  await new Promise<void>((resolve, reject) => {
    sentinelSeen = resolve;
    const tx = createSocket('udp4');
    tx.send(sentinel, port, '127.0.0.1', (err) => {
      tx.close();
      if (err) reject(err);
    });
  });
  sock.close();
  return { datagrams: got, log };
}

function conf(pcap: string, version: 9 | 10, rate: number): string {
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
// Decoding and matching

/** Counter keys a clean decode of pmacctd's exports may produce; anything else is a problem. */
const CLEAN_COUNTERS = new Set([
  'datagrams',
  'options.records',
  'records.netflow_v9',
  'records.ipfix',
  'scope.created',
  'template.learned',
  'template.refreshed',
  'template.unchanged',
]);

interface Decoded {
  flows: Flow[];
  /** Flows decoded from each datagram (same order as the datagrams). */
  perDatagram: number[];
  counters: Record<string, number>;
}

function decodeAll(datagrams: Datagram[]): Decoded {
  const { dec, flows } = collectingDecoder();
  const perDatagram: number[] = [];
  datagrams.forEach((d, i) => {
    const before = flows.length;
    const err = dec.decode(d.data, 0, d.data.length, new Exporter(d.address, d.port), T0 + 100, 0);
    assert.equal(err, undefined, `datagram ${i}: ${err}`);
    perDatagram.push(flows.length - before);
  });
  return { flows, perDatagram, counters: dec.counters.snapshot() as Record<string, number> };
}

function assertCleanDecode(d: Decoded, version: 9 | 10): void {
  for (const [k, v] of Object.entries(d.counters)) assert.ok(CLEAN_COUNTERS.has(k), `unexpected counter ${k}=${v}`);
  assert.ok((d.counters['options.records'] ?? 0) >= 1, 'the sampler options record was decoded');
  assert.equal(d.counters[version === 9 ? 'records.netflow_v9' : 'records.ipfix'], d.flows.length);
}

const key = (src: string, dst: string, proto: number, sp: number, dp: number) => `${src} ${dst} ${proto} ${sp} ${dp}`;

/** The generated flow a decoded record belongs to; fails when it matches nothing in the pcap. */
function matchFlow(f: Flow, expected: ExpectedFlow[]): ExpectedFlow | undefined {
  if (f['src_addr'] === FILLER_SRC) {
    assert.equal(f['dst_addr'], '192.0.2.201');
    assert.equal(f['proto'], 17);
    assert.equal(f['src_port'], 9);
    assert.equal(f['dst_port'], 9);
    return undefined;
  }
  const k = key(f['src_addr'], f['dst_addr'], f['proto'], f['src_port'], f['dst_port']);
  const e = expected.find((x) => key(x.src, x.dst, x.proto, x.srcPort, x.dstPort) === k);
  assert.ok(e, `decoded flow ${k} is not in the pcap`);
  return e;
}

function assertFlowFields(f: Flow, e: ExpectedFlow, version: 9 | 10, what: string): void {
  assert.equal(f['type'], version === 9 ? 'NETFLOW_V9' : 'IPFIX', `${what} type`);
  assert.equal(f['export_version'], version, `${what} export_version`);
  assert.equal(f['etype'], e.src.includes(':') ? 0x86dd : 0x0800, `${what} etype`);
  // pmacctd 1.7.7 exports the IPv4 TOS but TOS 0 for IPv6 whatever the traffic class (0xb8 in the
  // pcap, tshark confirms the exported 0); the tshark check compares ip_tos with cflow.tos.
  assert.equal(f['ip_tos'], e.src.includes(':') ? 0 : e.tos, `${what} tos`);
  // The ICMP type/code travel only in L4_DST_PORT (no element 32/139/176-179): matched through
  // dst_port above; icmp_type/icmp_code are only filled from their own elements (docs/fields.md).
  if (e.proto !== 1 && e.proto !== 58) assert.equal(f['icmp_type'], 0, `${what} icmp_type`);
  assert.equal(f['sampler_address'], '127.0.0.1', `${what} sampler_address`);
  assert.equal(f['fields']?.['samplerId'], 1, `${what} samplerId`);
  if (e.proto !== 6) assert.equal(f['tcp_flags'], 0, `${what} tcp_flags`);
  else assert.equal(f['tcp_flags'] & ~e.tcpFlags, 0, `${what} tcp_flags ${f['tcp_flags']} has flags the flow never set`);
}

/** ns since the epoch (as a JSON number, ~256 ns of float error) to whole ms. */
const nsToMs = (ns: number) => Math.round(ns / 1e6);

// ---------------------------------------------------------------------------------------------
// The sampler options data as tshark sees it

async function tsharkSamplerCheck(datagrams: Datagram[], decoded: Decoded, version: 9 | 10, rate: number): Promise<void> {
  if (!hasTshark()) return;
  const t = await decodeCflowWithTshark(datagrams.map((d) => d.data));
  assert.equal(t.length, datagrams.length);
  t.forEach((d, i) => assert.equal(d.malformed, false, `tshark calls datagram ${i} malformed`));
  const first = t[0]!;
  assert.equal(numField(first.header, 'cflow.version'), version);
  // The options template: a 4-byte scope (v9 system / IPFIX 144), then 48, 49, 50.
  const opt = first.templates.filter((x) => x.options);
  assert.equal(opt.length, 1, 'one options template');
  assert.deepEqual(
    opt[0]!.fields.map((f) => [f.type, f.length, f.scope]),
    [
      [version === 9 ? 1 : 144, 4, true],
      [48, 1, false],
      [49, 1, false],
      [50, 4, false],
    ],
  );
  // Its data record: sampler 1, random mode, interval = the configured rate.
  const optSet = first.flowsets.find((fs) => fs.flowsetId === opt[0]!.templateId);
  assert.ok(optSet, 'options data in the first datagram');
  assert.equal(optSet.records.length, 1);
  const o = optSet.records[0]!;
  assert.equal(numField(o, 'cflow.sampler_id'), 1);
  assert.equal(numField(o, 'cflow.sampler_mode'), 2);
  assert.equal(numField(o, 'cflow.sampler_random_interval'), rate);
  // The data records: as many as we decoded from each datagram, each naming sampler 1, same
  // addresses in the same order.
  let at = 0;
  t.forEach((d, i) => {
    const recs = d.records.filter((r) => r.has('cflow.octets'));
    assert.equal(recs.length, decoded.perDatagram[i], `datagram ${i}: record count`);
    for (const r of recs) {
      const f = decoded.flows[at++]!;
      assert.equal(numField(r, 'cflow.sampler_id'), 1);
      assert.equal(r.get('cflow.srcaddr')?.[0] ?? r.get('cflow.srcaddrv6')?.[0], f['src_addr']);
      assert.equal(numField(r, 'cflow.packets'), f['packets']);
      assert.equal(numField(r, 'cflow.octets'), f['bytes']);
      assert.equal(numField(r, 'cflow.tos'), f['ip_tos']);
      assert.equal(numField(r, 'cflow.protocol'), f['proto']);
      assert.equal(numField(r, 'cflow.dstport'), f['dst_port']);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Tests

for (const version of [9, 10] as const) {
  const name = version === 9 ? 'NetFlow v9' : 'IPFIX';

  test(`pmacctd nfprobe ${name}, sampling rate 1: one record per flow with exact counts`, { skip: skipPmacct }, async () => {
    const tmp = makeTempDir('pmacct-nfprobe-');
    try {
      const { frames, expected } = traffic(24);
      const pcap = join(tmp.dir, 'traffic.pcap');
      writeFileSync(pcap, writePcap(frames));
      const run = await runPmacct(tmp.dir, conf(pcap, version, 1));
      assert.ok(run.datagrams.length > 0, `no datagrams from pmacctd:\n${run.log}`);
      const d = decodeAll(run.datagrams);
      assertCleanDecode(d, version);
      const seen = new Set<ExpectedFlow>();
      for (const f of d.flows) {
        assert.equal(f['sampling_rate'], 1, 'rate 1 from the sampler options');
        const e = matchFlow(f, expected);
        if (!e) continue;
        const what = `${e.src} proto ${e.proto}`;
        assert.ok(!seen.has(e), `${what}: exported twice`);
        seen.add(e);
        assertFlowFields(f, e, version, what);
        assert.equal(f['packets'], e.packets, `${what} packets`);
        assert.equal(f['bytes'], e.bytes, `${what} bytes (sum of IP lengths)`);
        if (e.proto === 6) assert.equal(f['tcp_flags'], e.tcpFlags, `${what} tcp_flags`);
        assert.equal(nsToMs(f['time_flow_start_ns']), e.firstMs, `${what} flow start`);
        assert.equal(nsToMs(f['time_flow_end_ns']), e.lastMs, `${what} flow end`);
      }
      assert.equal(seen.size, expected.length, 'every generated flow was exported');
      await tsharkSamplerCheck(run.datagrams, d, version, 1);
    } finally {
      tmp.cleanup();
    }
  });

  test(`pmacctd nfprobe ${name}, sampling rate 4: every record carries rate 4 and matches the pcap`, { skip: skipPmacct }, async () => {
    const tmp = makeTempDir('pmacct-nfprobe-');
    try {
      const perFlow = 60;
      const { frames, expected } = traffic(perFlow);
      const pcap = join(tmp.dir, 'traffic.pcap');
      writeFileSync(pcap, writePcap(frames));
      const run = await runPmacct(tmp.dir, conf(pcap, version, 4));
      assert.ok(run.datagrams.length > 0, `no datagrams from pmacctd:\n${run.log}`);
      const d = decodeAll(run.datagrams);
      assertCleanDecode(d, version);
      const sampledPackets = new Map<ExpectedFlow, number>();
      for (const f of d.flows) {
        assert.equal(f['sampling_rate'], 4, `${f['src_addr']}: rate from the sampler options`);
        assert.equal(f['raw_packets'], 0, 'not renormalised by default');
        const e = matchFlow(f, expected);
        if (!e) continue;
        const what = `${e.src} proto ${e.proto}`;
        assertFlowFields(f, e, version, what);
        assert.ok(f['packets'] >= 1, `${what} packets`);
        assert.ok(f['bytes'] >= f['packets'] * e.minLen && f['bytes'] <= f['packets'] * e.maxLen, `${what} bytes ${f['bytes']} for ${f['packets']} packets`);
        if (e.minLen === e.maxLen) assert.equal(f['bytes'], f['packets'] * e.minLen, `${what} bytes`);
        const start = nsToMs(f['time_flow_start_ns']);
        const end = nsToMs(f['time_flow_end_ns']);
        assert.ok(e.firstMs <= start && start <= end && end <= e.lastMs, `${what} times ${start}..${end}`);
        assert.equal((start - e.firstMs) % 1000, 0, `${what} starts on one of its packets`);
        assert.equal((end - e.firstMs) % 1000, 0, `${what} ends on one of its packets`);
        sampledPackets.set(e, (sampledPackets.get(e) ?? 0) + f['packets']);
      }
      // Random 1-in-4 sampling of 7 x 60 packets: about 105 sampled; none at all, or more than
      // half, is beyond 8 standard deviations.
      let total = 0;
      for (const [e, n] of sampledPackets) {
        assert.ok(n <= e.packets, `${e.src}: ${n} sampled of ${e.packets}`);
        total += n;
      }
      assert.ok(total > 0 && total < (expected.length * perFlow) / 2, `${total} packets sampled of ${expected.length * perFlow}`);
      await tsharkSamplerCheck(run.datagrams, d, version, 4);
    } finally {
      tmp.cleanup();
    }
  });
}
