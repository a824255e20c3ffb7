/**
 * sFlow v5 flow-sample decode rate on one core.
 *
 *   node dist/bench/sflow.js [--seconds 5] [--samples 8] [--header 128]
 *
 * Decodes realistic datagrams (default: 8 compact flow samples each, a 128-byte raw header of an
 * Ethernet/802.1Q/IPv4-or-IPv6/TCP-or-UDP frame plus an extended switch record per sample, one
 * counter sample in every fourth datagram) in a loop into a sink that reads a few fields, and
 * reports flow samples per second and nanoseconds per sample.
 */
import { tcpFrame, udpFrame } from '../src/capture/mod.js';
import { Counters } from '../src/decode/stats.js';
import { Exporter } from '../src/decode/exporter.js';
import type { FlowRecord } from '../src/decode/record.js';
import { SflowDecoder, type CounterRecord } from '../src/decode/sflow/mod.js';
import * as B from '../test/support/sflow-builder.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

const seconds = arg('seconds', 5);
const perDatagram = arg('samples', 8);
const headerLen = arg('header', 128);

function frame(i: number): Uint8Array {
  const v6 = i % 3 === 2;
  const payload = new Uint8Array(1400);
  const o = {
    srcAddr: v6 ? `2001:db8::${(i % 200) + 1}` : `10.0.${i % 250}.${(i * 7) % 250}`,
    dstAddr: v6 ? '2001:db8:1::1' : '192.0.2.10',
    srcPort: 1024 + i,
    dstPort: i % 2 === 0 ? 443 : 53,
    vlan: 100 + (i % 10),
    payload,
  };
  const f = i % 2 === 0 ? tcpFrame({ ...o, flags: 'PA' }) : udpFrame(o);
  return f.subarray(0, headerLen);
}

const datagrams: Uint8Array[] = [];
for (let d = 0; d < 64; d++) {
  const samples: Uint8Array[] = [];
  for (let s = 0; s < perDatagram; s++) {
    const i = d * perDatagram + s;
    samples.push(
      B.flowSample([B.rawHeader(frame(i), { frameLength: 1518 }), B.extendedSwitch({ srcVlan: 100, srcPriority: 0, dstVlan: 200, dstPriority: 0 })], {
        sequence: i + 1,
        samplingRate: 1000,
        input: { value: 3 },
        output: { value: 7 },
      }),
    );
  }
  if (d % 4 === 0) {
    samples.push(
      B.counterSample([
        B.genericCounters({ ifIndex: 3, ifType: 6, ifSpeed: 10_000_000_000n, ifDirection: 1, ifStatus: 3, ifInOctets: 123456789n, ifInUcastPkts: 1, ifInMulticastPkts: 0, ifInBroadcastPkts: 0, ifInDiscards: 0, ifInErrors: 0, ifInUnknownProtos: 0, ifOutOctets: 1n, ifOutUcastPkts: 1, ifOutMulticastPkts: 0, ifOutBroadcastPkts: 0, ifOutDiscards: 0, ifOutErrors: 0, ifPromiscuousMode: 0 }),
        B.ethernetCounters(new Array<number>(13).fill(0)),
      ]),
    );
  }
  datagrams.push(B.datagram(samples, { agent: '192.0.2.1', sequence: d + 1 }));
}

let flows = 0;
let checksum = 0;
let counterRecs = 0;
const sink = {
  onFlow(r: FlowRecord): void {
    flows++;
    checksum = (checksum + r.srcPort + r.bytes + r.layerCount) | 0;
  },
};
const counterSink = {
  onCounters(r: CounterRecord): void {
    counterRecs++;
    checksum = (checksum + r.ifIndex) | 0;
  },
};
const counters = new Counters();
const dec = new SflowDecoder({ counters, flows: sink, counterSink });
const exp = new Exporter('192.0.2.1', 6343);
const avgSize = datagrams.reduce((n, d) => n + d.length, 0) / datagrams.length;

// warm-up
for (let i = 0; i < 20000; i++) {
  const d = datagrams[i & 63]!;
  dec.decode(d, 0, d.length, exp, 1_700_000_000, 0);
}
flows = 0;
counterRecs = 0;
const t0 = process.hrtime.bigint();
const deadline = t0 + BigInt(Math.round(seconds * 1e9));
let n = 0;
let now = t0;
while (now < deadline) {
  for (let k = 0; k < 1024; k++) {
    const d = datagrams[n & 63]!;
    dec.decode(d, 0, d.length, exp, 1_700_000_000, 0);
    n++;
  }
  now = process.hrtime.bigint();
}
const secs = Number(now - t0) / 1e9;
const rate = flows / secs;
const bad = Object.keys(counters.snapshot()).length;
console.log(
  JSON.stringify({
    bench: 'sflow-decode',
    node: process.version,
    seconds: Number(secs.toFixed(2)),
    flowSamplesPerDatagram: perDatagram,
    headerBytes: headerLen,
    avgDatagramBytes: Math.round(avgSize),
    datagrams: n,
    flowSamples: flows,
    counterSamples: counterRecs,
    flowSamplesPerSec: Math.round(rate),
    nsPerFlowSample: Number((1e9 / rate).toFixed(1)),
    datagramsPerSec: Math.round(n / secs),
    errorsCounted: bad,
    checksum,
  }),
);
