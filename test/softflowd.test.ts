/**
 * Live exports: softflowd (the Debian package) reads a pcap generated here and exports its flows
 * as NetFlow v5, NetFlow v9 and IPFIX to a UDP socket in this test. Every datagram goes through
 * FlowDecoder with its real source address and port, and the decoded flows must be exactly the
 * traffic in the pcap: the flow keys, and per flow (per direction, as softflowd exports them)
 * packets, bytes (softflowd counts IP bytes: IPv4 total length, IPv6 40 + payload length),
 * the union of TCP flags, and, where the export carries absolute times, start and end times.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExporterTable, FlowDecoder, type FlowRecord } from '../src/decode/mod.js';
import { buildTraffic, exportWithSoftflowd, keyOf, killSoftflowd, pcapOf, T0, type Expected } from './support/softflowd.js';
import { makeTempDir, skipUnlessCommands, type CapturedDatagram } from './support/tools.js';

// ---------------------------------------------------------------------------------------------
// Decoding what softflowd sends

interface Got {
  key: string;
  v6: boolean;
  packets: number;
  bytes: number;
  tcpFlags: number;
  icmpType: number;
  icmpCode: number;
  srcPort: number;
  dstPort: number;
  startMs: number;
  endMs: number;
  etype: number;
  exportVersion: number;
  samplerAddress: string;
}

function ipText(a: Uint8Array, len: number): string {
  if (len === 4) return `${a[0]}.${a[1]}.${a[2]}.${a[3]}`;
  if (len !== 16) return `?len${len}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((a[i]! << 8) | a[i + 1]!).toString(16));
  // RFC 5952 compression of the longest run of zero groups (length >= 2).
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

function snapshot(r: FlowRecord): Got {
  return {
    key: keyOf(ipText(r.srcAddr, r.srcAddrLen), ipText(r.dstAddr, r.dstAddrLen), r.srcPort, r.dstPort, r.proto),
    v6: r.srcAddrLen === 16,
    packets: r.packets,
    bytes: r.bytes,
    tcpFlags: r.tcpFlags,
    icmpType: r.icmpType,
    icmpCode: r.icmpCode,
    srcPort: r.srcPort,
    dstPort: r.dstPort,
    startMs: r.timeFlowStartSec * 1000 + Math.round(r.timeFlowStartNsec / 1e6),
    endMs: r.timeFlowEndSec * 1000 + Math.round(r.timeFlowEndNsec / 1e6),
    etype: r.etype,
    exportVersion: r.exportVersion,
    samplerAddress: ipText(r.samplerAddress, r.samplerAddressLen),
  };
}

interface DecodeResult {
  flows: Got[];
  errors: string[];
  counters: Record<string, number>;
}

/**
 * Decodes every datagram with one decoder, `passes` times over (a later pass sees the options
 * data of earlier ones, as a collector does on an exporter's next messages); returns the flows
 * of the last pass and the errors of all.
 */
function decodeAll(datagrams: CapturedDatagram[], passes = 1): DecodeResult {
  let flows: Got[] = [];
  const decoder = new FlowDecoder({ sink: { onFlow: (r) => flows.push(snapshot(r)) } });
  const exporters = new ExporterTable();
  const errors: string[] = [];
  for (let pass = 0; pass < passes; pass++) {
    flows = [];
    for (const { data, address, port } of datagrams) {
      const exp = exporters.get(address, port);
      const err = decoder.decode(data, 0, data.length, exp, T0 + 3600, 0);
      if (err !== undefined) errors.push(err);
    }
  }
  return { flows, errors, counters: decoder.counters.snapshot() };
}

function byKey(flows: Got[]): Map<string, Got> {
  const m = new Map<string, Got>();
  for (const f of flows) {
    assert.ok(!m.has(f.key), `flow ${f.key} exported twice`);
    m.set(f.key, f);
  }
  return m;
}

// ---------------------------------------------------------------------------------------------

describe('softflowd live exports decode to the generated traffic', { skip: skipUnlessCommands('softflowd') }, () => {
  let tmp: { dir: string; cleanup: () => void };
  let pcap = '';
  let expected: Map<string, Expected>;
  let expected4: Map<string, Expected>;

  before(() => {
    tmp = makeTempDir('flow-collector-softflowd-');
    const { pkts, flows } = buildTraffic();
    expected = flows;
    expected4 = new Map([...flows].filter(([, f]) => !f.v6));
    pcap = join(tmp.dir, 'traffic.pcap');
    writeFileSync(pcap, pcapOf(pkts));
  });

  after(() => {
    killSoftflowd();
    tmp?.cleanup();
  });

  test('the generated traffic has the intended shape', () => {
    // Guards the expectations below: several TCP/UDP/ICMP flows, both address families, and
    // per-flow packet and byte counts that differ from one another.
    const kinds = new Set([...expected.values()].map((f) => `${f.proto}/${f.v6 ? 6 : 4}`));
    assert.deepEqual([...kinds].sort(), ['1/4', '17/4', '17/6', '58/6', '6/4', '6/6']);
    assert.equal(expected.size, 13);
    const counts = [...expected.values()].map((f) => `${f.packets}/${f.bytes}`);
    assert.equal(new Set(counts).size, counts.length, 'packet/byte counts are distinct per flow');
  });

  /** The checks common to every version. */
  function checkFlows(res: DecodeResult, want: Map<string, Expected>, version: number, opts: { times: boolean; icmpInPort: boolean; timeSlackMs?: number }): void {
    assert.equal(res.counters['decode.exception'] ?? 0, 0);
    assert.equal(res.counters['template.missing'] ?? 0, 0, 'no data set waited for a template');
    assert.equal(res.counters['pending.buffered'] ?? 0, 0);
    const got = byKey(res.flows);
    assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), 'the set of exported flows is the set generated');
    for (const [k, e] of want) {
      const g = got.get(k)!;
      assert.equal(g.exportVersion, version, k);
      assert.equal(g.samplerAddress, '127.0.0.1', `${k}: sampler address is the datagram source`);
      assert.equal(g.v6, e.v6, k);
      assert.equal(g.etype, e.v6 ? 0x86dd : 0x0800, `${k} etype`);
      assert.equal(g.packets, e.packets, `${k} packets`);
      assert.equal(g.bytes, e.bytes, `${k} bytes (IP length)`);
      assert.equal(g.tcpFlags, e.tcpFlags, `${k} TCP flags union`);
      if (e.proto === 1 || e.proto === 58) {
        if (opts.icmpInPort) {
          // NetFlow v5 has no ICMP fields: type and code travel in the destination port.
          assert.equal(g.dstPort, (e.icmpType << 8) | e.icmpCode, `${k} ICMP type/code in dst port`);
        } else {
          assert.equal(g.icmpType, e.icmpType, `${k} ICMP type`);
          assert.equal(g.icmpCode, e.icmpCode, `${k} ICMP code`);
        }
      }
      if (opts.times) {
        // Exact, or (header time in whole seconds) up to `timeSlackMs` early.
        const start = T0 * 1000 + e.convFirstMs;
        const end = T0 * 1000 + e.convLastMs;
        const slack = opts.timeSlackMs ?? 0;
        assert.ok(g.startMs <= start && g.startMs >= start - slack, `${k} start time ${g.startMs}, expected ${start} (slack ${slack} ms)`);
        assert.ok(g.endMs <= end && g.endMs >= end - slack, `${k} end time ${g.endMs}, expected ${end} (slack ${slack} ms)`);
        assert.equal(g.endMs - g.startMs, end - start, `${k} duration`);
      }
    }
    const sent = [...want.values()].reduce((n, f) => n + f.packets, 0);
    assert.equal(res.flows.reduce((n, f) => n + f.packets, 0), sent, 'every packet is accounted for once');
  }

  /**
   * The ICMP flow key: softflowd keys (and v5 exports) ICMP flows with type/code in the
   * destination port; for v9/IPFIX the decoder gives ports 0 and the ICMP fields.
   */
  function withIcmpPorts(want: Map<string, Expected>): Map<string, Expected> {
    const out = new Map<string, Expected>();
    for (const e of want.values()) {
      if (e.proto === 1 || e.proto === 58) {
        const dp = (e.icmpType << 8) | e.icmpCode;
        const key = keyOf(e.src, e.dst, 0, dp, e.proto);
        out.set(key, { ...e, key, dstPort: dp });
      } else {
        out.set(e.key, e);
      }
    }
    return out;
  }

  test('NetFlow v5 (IPv4 flows only; ICMP type/code in the destination port)', async () => {
    const { datagrams, stderr } = await exportWithSoftflowd(tmp.dir, pcap, ['-v', '5', '-a']);
    assert.ok(datagrams.length >= 1, stderr);
    for (const d of datagrams) assert.equal(d.data.readUInt16BE(0), 5);
    const res = decodeAll(datagrams);
    assert.deepEqual(res.errors, []);
    // -a: softflowd's clock follows the pcap; v5 times are sysUptime-relative, and the header
    // carries the export time to the nanosecond, so they come out exact.
    checkFlows(res, withIcmpPorts(expected4), 5, { times: true, icmpInPort: true });
    assert.equal(res.counters['records.netflow_v5'], expected4.size);
  });

  test('NetFlow v9 with absolute millisecond times (-A milli), IPv4 and IPv6', async () => {
    const { datagrams, stderr } = await exportWithSoftflowd(tmp.dir, pcap, ['-v', '9', '-A', 'milli']);
    assert.ok(datagrams.length >= 1, stderr);
    for (const d of datagrams) assert.equal(d.data.readUInt16BE(0), 9);
    const res = decodeAll(datagrams);
    // softflowd's v9 header count is the number of flow records only (RFC 3954 says all records,
    // templates included); the decoder counts that as netflow_v9.count_mismatch. Nothing else.
    assert.deepEqual(res.errors.filter((e) => e !== 'netflow_v9.count_mismatch'), []);
    checkFlows(res, expected, 9, { times: true, icmpInPort: false });
    assert.equal(res.counters['records.netflow_v9'], expected.size);
  });

  test('IPFIX with absolute millisecond times (-A milli), IPv4 and IPv6', async () => {
    const { datagrams, stderr } = await exportWithSoftflowd(tmp.dir, pcap, ['-v', '10', '-A', 'milli']);
    assert.ok(datagrams.length >= 1, stderr);
    for (const d of datagrams) assert.equal(d.data.readUInt16BE(0), 10);
    const res = decodeAll(datagrams);
    assert.deepEqual(res.errors, []);
    checkFlows(res, expected, 10, { times: true, icmpInPort: false });
    assert.equal(res.counters['records.ipfix'], expected.size);
  });

  test('NetFlow v9 default export (sysUptime-relative times)', async () => {
    const { datagrams, stderr } = await exportWithSoftflowd(tmp.dir, pcap, ['-v', '9', '-a']);
    assert.ok(datagrams.length >= 1, stderr);
    const res = decodeAll(datagrams);
    assert.deepEqual(res.errors.filter((e) => e !== 'netflow_v9.count_mismatch'), []);
    // The v9 header has the export time in whole seconds only: times may be up to 1 s early.
    checkFlows(res, expected, 9, { times: true, icmpInPort: false, timeSlackMs: 999 });
  });

  test('IPFIX default export: flowStart/EndSysUpTime resolved once systemInitTimeMilliseconds is known', async () => {
    // Control for the next test: the same messages decoded a second time (the decoder has kept
    // systemInitTimeMilliseconds from the first pass) give exact times.
    const { datagrams, stderr } = await exportWithSoftflowd(tmp.dir, pcap, ['-v', '10', '-a']);
    assert.ok(datagrams.length >= 1, stderr);
    const res = decodeAll(datagrams, 2);
    assert.deepEqual(res.errors, []);
    checkFlows(res, expected, 10, { times: true, icmpInPort: false });
  });

  test('IPFIX default export: flowStart/EndSysUpTime resolved with systemInitTimeMilliseconds from the same message', async () => {
    // softflowd sends its options record (systemInitTimeMilliseconds) in the same message as the
    // first flows; the decoder applies options data before flow data of a message, so those
    // flows must get absolute times too.
    const { datagrams, stderr } = await exportWithSoftflowd(tmp.dir, pcap, ['-v', '10', '-a']);
    assert.ok(datagrams.length >= 1, stderr);
    const res = decodeAll(datagrams);
    assert.deepEqual(res.errors, []);
    checkFlows(res, expected, 10, { times: true, icmpInPort: false });
  });
});
