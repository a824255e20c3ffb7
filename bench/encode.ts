/**
 * Encoder microbenchmark: records/s on one core for flowpb (single message and delimited batch)
 * and NDJSON, with a realistic IPFIX record (IPv4 5-tuple, counters, times, MACs, AS numbers,
 * next hop, protocol name, interface name, and a few extra elements).
 *
 *   npm run build; node dist/bench/encode.js [--seconds 2]
 */
import { DataType, FlowRecord, FlowType, type ElementInfo } from '../src/decode/record.js';
import {
  DelimitedBatchWriter,
  FlowPbEncoder,
  JsonEncoder,
  NdjsonBatchWriter,
} from '../src/encode/mod.js';

const argSeconds = process.argv.indexOf('--seconds');
const SECONDS = argSeconds > 0 ? Number(process.argv[argSeconds + 1]) : 2;

function el(name: string, id: number, type: number): ElementInfo {
  return { pen: 0, id, name, type: type as ElementInfo['type'], known: true };
}

/** One "datagram" holding the extra fields' bytes. */
const dgram = Uint8Array.from([
  3, // flowEndReason
  0, 0, 0, 7, // ingressVRFID
  ...Buffer.from('https\0\0\0'), // applicationName (NUL padded)
  100, 64, 1, 9, // postNATSourceIPv4Address
  0xc3, 0x5a, // postNAPTSourceTransportPort
]);
const EXTRAS: [ElementInfo, number, number][] = [
  [el('flowEndReason', 136, DataType.unsigned8), 0, 1],
  [el('ingressVRFID', 234, DataType.unsigned32), 1, 4],
  [el('applicationName', 96, DataType.string), 5, 8],
  [el('postNATSourceIPv4Address', 225, DataType.ipv4Address), 13, 4],
  [el('postNAPTSourceTransportPort', 227, DataType.unsigned16), 17, 2],
];

function fill(r: FlowRecord, i: number): void {
  r.reset();
  r.type = FlowType.IPFIX;
  r.timeReceivedSec = 1773489600 + (i & 1023);
  r.timeReceivedNsec = (i * 7919) % 1e9;
  r.sequenceNum = i >>> 0;
  r.samplingRate = 1000;
  r.samplerAddress.set([192, 0, 2, 1]);
  r.samplerAddressLen = 4;
  r.timeFlowStartSec = 1773489540;
  r.timeFlowStartNsec = 250000000;
  r.timeFlowEndSec = 1773489599;
  r.timeFlowEndNsec = 750000000;
  r.bytes = 1234567 + i;
  r.packets = 987 + (i & 255);
  r.srcAddr.set([10, (i >>> 16) & 255, (i >>> 8) & 255, i & 255]);
  r.srcAddrLen = 4;
  r.dstAddr.set([198, 51, 100, 7]);
  r.dstAddrLen = 4;
  r.etype = 0x0800;
  r.proto = 6;
  r.srcPort = 40000 + (i & 8191);
  r.dstPort = 443;
  r.inIf = 3;
  r.outIf = 7;
  r.srcMac = 0x001122334455;
  r.dstMac = 0x66778899aabb;
  r.ipTos = 0;
  r.tcpFlags = 0x1b;
  r.srcAs = 64512;
  r.dstAs = 15169;
  r.nextHop.set([203, 0, 113, 1]);
  r.nextHopLen = 4;
  r.srcNet = 24;
  r.dstNet = 16;
  r.forwardingStatus = 64;
  r.observationDomainId = 1;
  r.protocolName = 'TCP';
  r.exportVersion = 10;
  r.templateId = 256;
  r.inIfName = 'Gi0/0/3';
  for (const [inf, off, len] of EXTRAS) r.addExtra(inf, dgram, off, len);
}

const POOL = 1024;
const recs = Array.from({ length: POOL }, (_, i) => {
  const r = new FlowRecord();
  fill(r, i);
  return r;
});

function run(name: string, encodeOne: (r: FlowRecord) => number): void {
  // Warm-up.
  let sink = 0;
  for (let i = 0; i < 200000; i++) sink += encodeOne(recs[i & (POOL - 1)]!);
  let n = 0;
  let bytes = 0;
  const start = process.hrtime.bigint();
  const limit = BigInt(Math.round(SECONDS * 1e9));
  let elapsed = 0n;
  while (elapsed < limit) {
    for (let i = 0; i < 10000; i++) bytes += encodeOne(recs[(n + i) & (POOL - 1)]!);
    n += 10000;
    elapsed = process.hrtime.bigint() - start;
  }
  const secs = Number(elapsed) / 1e9;
  const rate = n / secs;
  console.log(
    `${name.padEnd(28)} ${(rate / 1e6).toFixed(2).padStart(6)} M records/s  ` +
      `${((secs * 1e9) / n).toFixed(0).padStart(5)} ns/record  ` +
      `${(bytes / n).toFixed(0).padStart(5)} B/record  ${((bytes / secs) / 1e6).toFixed(0)} MB/s` +
      (sink < 0 ? ' ' : ''),
  );
}

const pb = new FlowPbEncoder();
const pbBatch = new DelimitedBatchWriter();
const json = new JsonEncoder();
const ndjson = new NdjsonBatchWriter();
let batched = 0;

console.log(`encode benchmark: node ${process.version}, one core, ${SECONDS}s per case`);
run('flowpb encode', (r) => pb.encode(r).length);
run('flowpb delimited batch (256)', (r) => {
  const before = pbBatch.byteLength;
  pbBatch.append(r);
  const len = pbBatch.byteLength - before;
  if (++batched % 256 === 0) pbBatch.finish();
  return len;
});
run('ndjson encode', (r) => json.encode(r).length);
run('ndjson batch (256)', (r) => {
  const before = ndjson.byteLength;
  ndjson.append(r);
  const len = ndjson.byteLength - before;
  if (++batched % 256 === 0) ndjson.finish();
  return len;
});
