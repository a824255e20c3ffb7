/**
 * Child program of test/warmup-uptime.test.ts, run with --trace-deopt. A decoder built before
 * serve's warm-up (as a worker's own are), the warm-up run on two throwaway ones, then, after
 * "REAL", exporters the warm-up's rounds do not copy: a router whose sysUptime is past 2^31 ms
 * (up more than 24.8 days) with its own v9 template layout, and an IPFIX exporter shaped like
 * softflowd's (templates, options with its boot time and data in one message, then many small
 * data sets per message, times relative to the boot time). Both were exporting before the
 * collector started: their first data datagrams come before their templates and wait in the
 * pending buffer. And a NetFlow v5 router and an sFlow agent whose sequence numbers are past
 * 2^31. Prints "DONE" and the counts as JSON.
 */
import { V9_TEMPLATES, warmUpSettled } from '../../src/service/warmup.js';
import { ExporterTable } from '../../src/decode/exporter.js';
import {
  beginMessage, beginSet, ByteWriter, countersSample, endMessage, endSet, flowSample, makeFlow, optionsRecord, optionsTemplateRecord, Rng, sampledFrame, sflowHeader, templateRecord,
  templateSetId, v5Header, v5Record, writeRecord, type Field,
} from '../../src/synth/mod.js';
import { framesDecoder } from '../../bench/first-datagrams.js';

const real = framesDecoder(128 * 1024);
const warm = [framesDecoder(1024), framesDecoder(1024)].map((w) => ({ decode: w.dec.decode.bind(w.dec), flush: w.flush }));
await warmUpSettled(warm, 2000);

const now = Date.now();
const w = new ByteWriter(1 << 16);
const rng = new Rng(11);
/** Each exporter's datagrams, in the order it sends them. */
const sent: Buffer[][] = [[], [], [], []];

// A router: 39 days up, a layout of its own (next hop, AS numbers, masks, 8-byte counters).
const ROUTER: Field[] = [[8, 4], [12, 4], [15, 4], [10, 4], [14, 4], [1, 8], [2, 8], [22, 4], [21, 4], [7, 2], [11, 2], [6, 1], [4, 1], [5, 1], [16, 4], [17, 4], [9, 1], [13, 1]];
{
  const clock = { uptimeMs: 3_400_000_000, exportMs: now, samplerId: 1 };
  for (let seq = 0; seq < 600; seq++) {
    clock.uptimeMs += 1;
    beginMessage(w, 9, { uptimeMs: clock.uptimeMs, exportSec: Math.floor(now / 1000), seq: 2 ** 31 + seq, domain: 0 });
    let n = 0;
    if (seq % 50 === 5) {
      const s = beginSet(w, templateSetId(9, false));
      templateRecord(w, 263, ROUTER);
      endSet(w, s, 9);
      n++;
    }
    const s = beginSet(w, 263);
    for (let k = 0; k < 20; k++) writeRecord(w, ROUTER, makeFlow(rng, 1, seq * 20 + k, false), clock);
    endSet(w, s, 9);
    sent[0]!.push(endMessage(w, 9, n + 20));
  }
}
// softflowd's IPFIX: its v9 layouts (IPv4, IPv4 ICMP) as IPFIX templates, options with the boot time.
const SF4 = V9_TEMPLATES[0]!.fields;
const SF4ICMP = V9_TEMPLATES[1]!.fields;
const OPT_SCOPE: Field[] = [[149, 4]];
const OPT_FIELDS: Field[] = [[160, 8], [305, 4], [306, 4], [304, 2], [82, 16]];
{
  const clock = { uptimeMs: 90_000, exportMs: now, samplerId: 1 };
  let seq = 0;
  for (let d = 0; d < 600; d++) {
    beginMessage(w, 10, { uptimeMs: 0, exportSec: Math.floor(now / 1000), seq, domain: 0 });
    let n = 0;
    if (d % 100 === 3) {
      let s = beginSet(w, templateSetId(10, false));
      templateRecord(w, 1024, SF4);
      templateRecord(w, 1025, SF4ICMP);
      endSet(w, s, 10);
      s = beginSet(w, templateSetId(10, true));
      optionsTemplateRecord(w, 10, 256, OPT_SCOPE, OPT_FIELDS);
      endSet(w, s, 10);
      s = beginSet(w, 256);
      optionsRecord(w, OPT_SCOPE, OPT_FIELDS, [4242, now - clock.uptimeMs, 1, 0, 1, '/tmp/x.pcap']);
      endSet(w, s, 10);
      n++;
    }
    for (let k = 0; k < 12; k++) {
      const icmp = rng.int(2) === 0;
      const s = beginSet(w, icmp ? 1025 : 1024);
      writeRecord(w, icmp ? SF4ICMP : SF4, makeFlow(rng, 2, d * 12 + k, false), clock);
      endSet(w, s, 10);
      n++;
    }
    sent[1]!.push(endMessage(w, 10, n));
    seq += n;
  }
}

// Sequence numbers past 2^31 (exporters that have sent for long): a NetFlow v5 router and an
// sFlow agent (datagram, sample and sample pool counters).
const BASE = 2 ** 31 + 12_345;
for (let i = 0; i < 300; i++) {
  v5Header(w, { count: 20, uptimeMs: 200_000 + i, exportSec: Math.floor(now / 1000), exportNsec: 0, seq: BASE + i * 20, engineType: 0, engineId: 0, sampling: 0 });
  for (let k = 0; k < 20; k++) v5Record(w, makeFlow(rng, 3, i * 20 + k, false), 200_000 + i);
  sent[2]!.push(w.take());
}
for (let i = 0; i < 300; i++) {
  sflowHeader(w, { agent: new Uint8Array([198, 51, 100, 4]), subAgent: 0, seq: BASE + i, uptimeMs: 200_000 + i, samples: 5 });
  for (let k = 0; k < 4; k++) {
    const f = makeFlow(rng, 4, i * 4 + k, k === 3);
    flowSample(w, { seq: BASE + i * 4 + k, sourceId: 3, rate: 1024, pool: BASE + i * 4096 }, f, sampledFrame(f, rng));
  }
  countersSample(w, BASE + i, 3, i);
  sent[3]!.push(w.take());
}

const table = new ExporterTable();
const exporters = [table.get('198.51.100.1', 2055), table.get('198.51.100.2', 4739), table.get('198.51.100.3', 2056), table.get('198.51.100.4', 6343)];
console.log('REAL');
const sec = Math.floor(Date.now() / 1000);
const errors: Record<string, number> = {};
let n = 0;
// The exporters' datagrams interleaved, as they arrive.
for (let k = 0; k < 600; k++) {
  for (let x = 0; x < sent.length; x++) {
    const dg = sent[x]![k];
    if (dg === undefined) continue;
    const e = real.dec.decode(dg, 0, dg.length, exporters[x]!, sec, n * 997);
    if (e !== undefined) errors[e] = (errors[e] ?? 0) + 1;
    if (++n % 64 === 0) real.flush();
  }
}
real.flush();
console.log('DONE');
console.log(JSON.stringify({ datagrams: n, flows: real.flows(), errors }));
