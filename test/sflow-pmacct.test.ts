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
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writePcap } from '../src/capture/mod.js';
import { Counters } from '../src/decode/stats.js';
import { Exporter } from '../src/decode/exporter.js';
import { FlowType } from '../src/decode/record.js';
import { SflowDecoder } from '../src/decode/sflow/mod.js';
import { Collect, type FlowSnapshot } from './support/sflow-collect.js';
import { FILLER_SRC, killPmacctd, runPmacctd, sfprobeConf as baseConf, sfprobeTraffic as traffic, skipPmacct, type SampledFrame as Expected } from './support/pmacct.js';
import { makeTempDir } from './support/tools.js';
import { decodeSflowWithTshark } from './support/tshark.js';

after(killPmacctd);

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

test('pmacctd sfprobe, sampling rate 1: one record per frame, matching the pcap', { skip: skipPmacct }, async () => {
  const tmp = makeTempDir('sflow-pmacct-');
  try {
    const { frames, expected } = traffic(36);
    const pcap = join(tmp.dir, 'traffic.pcap');
    writeFileSync(pcap, writePcap(frames.map((data, i) => ({ data, tsSec: 1_700_000_000 + i }))));
    const run = await runPmacctd(tmp.dir, baseConf(pcap, 'sampling_rate: 1\nsfprobe_agentip: 192.0.2.77\nsfprobe_agentsubid: 1402'), { plugin: 'sfprobe' });
    assert.ok(run.datagrams.length > 0, `no datagrams from pmacctd:\n${run.log}`);
    const { c, counters } = decode(run.datagrams.map((d) => d.data));
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
    const run = await runPmacctd(tmp.dir, baseConf(pcap, 'sampling_rate: 4\nsfprobe_agentip: 2001:db8::77'), { plugin: 'sfprobe', family: 6 });
    // pmacctd 1.7.7 writes a broken first sample (sample length 4) into its first datagram when the
    // agent address is IPv6. Whatever we count as malformed, tshark must call malformed too.
    const bad = run.datagrams.map((d) => d.data).filter((d) => Object.keys(decode([d]).counters.snapshot()).length > 0);
    if (bad.length > 0) {
      const t = await decodeSflowWithTshark(bad);
      t.forEach((d, i) => assert.equal(d.malformed, true, `datagram ${i} we reject is fine for tshark`));
    }
    const { c } = decode(run.datagrams.map((d) => d.data));
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
