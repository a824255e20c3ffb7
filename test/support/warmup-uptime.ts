/**
 * Child program of test/warmup-uptime.test.ts, run with --trace-deopt. A decoder built before
 * serve's warm-up (as a worker's own are), the warm-up run on two throwaway ones, then, after
 * "REAL", exporters the warm-up's rounds do not copy: a router whose sysUptime is past 2^31 ms
 * (up more than 24.8 days) with its own v9 template layout, and an IPFIX exporter shaped like
 * softflowd's (templates, options with its boot time and data in one message, then many small
 * data sets per message, times relative to the boot time). Both were exporting before the
 * collector started: their first data datagrams come before their templates and wait in the
 * pending buffer. Prints "DONE" and the counts as JSON.
 */
import { V9_TEMPLATES, warmUpSettled } from '../../src/service/warmup.js';
import { ExporterTable } from '../../src/decode/exporter.js';
import { beginMessage, beginSet, ByteWriter, endMessage, endSet, makeFlow, optionsRecord, optionsTemplateRecord, Rng, templateRecord, templateSetId, writeRecord, type Field } from '../../src/synth/mod.js';
import { framesDecoder } from '../../bench/first-datagrams.js';

const real = framesDecoder(128 * 1024);
const warm = [framesDecoder(1024), framesDecoder(1024)].map((w) => ({ decode: w.dec.decode.bind(w.dec), flush: w.flush }));
await warmUpSettled(warm, 2000);

const now = Date.now();
const w = new ByteWriter(1 << 16);
const rng = new Rng(11);
const datagrams: Buffer[] = [];

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
    datagrams.push(endMessage(w, 9, n + 20));
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
    datagrams.push(endMessage(w, 10, n));
    seq += n;
  }
}

const table = new ExporterTable();
const router = table.get('198.51.100.1', 2055);
const softflowd = table.get('198.51.100.2', 4739);
console.log('REAL');
const sec = Math.floor(Date.now() / 1000);
const errors: Record<string, number> = {};
for (let i = 0; i < datagrams.length; i++) {
  // The two exporters' datagrams interleaved, as they arrive.
  const j = i % 2 === 0 ? i >> 1 : 600 + (i >> 1);
  const dg = datagrams[j]!;
  const e = real.dec.decode(dg, 0, dg.length, j < 600 ? router : softflowd, sec, i * 997);
  if (e !== undefined) errors[e] = (errors[e] ?? 0) + 1;
  if (i % 64 === 63) real.flush();
}
real.flush();
console.log('DONE');
console.log(JSON.stringify({ datagrams: datagrams.length, flows: real.flows(), errors }));
