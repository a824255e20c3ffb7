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
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writePcap } from '../src/capture/mod.js';
import { Exporter } from '../src/decode/mod.js';
import { collectingDecoder, type Flow } from './support/collect.js';
import { FILLER_DST, FILLER_SRC, killPmacctd, NFPROBE_T0 as T0, nfprobeConf as conf, nfprobeTraffic as traffic, runPmacctd, skipPmacct, type ExpectedFlow } from './support/pmacct.js';
import { makeTempDir, type CapturedDatagram as Datagram } from './support/tools.js';
import { decodeCflowWithTshark, hasTshark, numField } from './support/tshark.js';

after(killPmacctd);

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
    assert.equal(f['dst_addr'], FILLER_DST);
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
      const run = await runPmacctd(tmp.dir, conf(pcap, version, 1), { plugin: 'nfprobe' });
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
      const run = await runPmacctd(tmp.dir, conf(pcap, version, 4), { plugin: 'nfprobe' });
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
