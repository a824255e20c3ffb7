/**
 * `flow-collector serve` publishing to a local nats-server (started here, ephemeral port, its
 * own store) while this process sends a NetFlow v9 stream at fixed datagram rates. Reports,
 * per rate: flows decoded, flows acknowledged by JetStream, flows in the stream, drops, and the
 * collector's CPU time per flow (utime + stime of the serve process over the run).
 *
 *   node dist/bench/nats.js [--rates 20000,50000,100000] [--seconds 5] [--workers 2]
 *        [--format flowpb-batch] [--window 32] [--batch 100] [--records 24] [--exporters 4]
 *        [--profile DIR]   (writes --cpu-prof profiles of serve's threads to DIR)
 *
 * Not a test: figures depend on the machine (docs/nats.md has ours).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BatchSender, loadAddon } from '../src/ingest/mod.js';
import { Bytes, set, v9Message, v9TemplateSet, V9_CISCO } from './datagrams.js';
import { makeTempDir } from '../test/support/tools.js';
import { metric, scrape, startServe, type ServeProcess } from '../test/support/serve.js';
import { client, startNatsServer } from '../test/support/nats.js';
import { jetstreamManager } from '@nats-io/jetstream';

interface Args {
  rates: number[];
  seconds: number;
  workers: number;
  format: string;
  window: number;
  batch: number;
  records: number;
  exporters: number;
  /** Directory for --cpu-prof profiles of the serve process (main thread and workers). */
  profile: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { rates: [20_000, 50_000, 100_000], seconds: 5, workers: 2, format: 'flowpb-batch', window: 32, batch: 100, records: 24, exporters: 4, profile: '' };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i]!.replace(/^--/, '');
    const v = argv[i + 1] ?? '';
    if (k === 'rates') a.rates = v.split(',').map(Number);
    else if (k === 'format') a.format = v;
    else if (k === 'profile') a.profile = v;
    else if (k in a) (a as unknown as Record<string, number>)[k] = Number(v);
    else throw new Error(`unknown option --${k}`);
  }
  return a;
}

/** One data record of the V9_CISCO template (55 bytes). */
function record(b: Bytes, k: number): void {
  b.bytes([10, 1, (k >>> 8) & 255, k & 255]).bytes([192, 168, (k >>> 4) & 255, k & 255]).bytes([10, 0, 0, 1]);
  b.u16(1024 + (k % 50_000)).u16([80, 443, 53, 22][k & 3]!).u8([6, 6, 17, 1][k & 3]!).u8(0).u8(0x1b);
  b.u32(1 + (k % 8)).u32(2 + (k % 5));
  b.u32(64 + ((k * 1499) % 1_000_000)).u32(1 + (k % 900));
  b.u32(3_500_000).u32(3_599_000);
  b.u32(64_512).u32(15_169).u8(24).u8(16).u8(0).u8(64);
}

/** Per exporter: a template datagram and `pool` data datagrams of `records` records. */
function makeStream(records: number, pool: number, sourceId: number) {
  const template = v9Message({ sourceId, sequence: 0 }, [v9TemplateSet([V9_CISCO])], 1);
  const data: Uint8Array[] = [];
  for (let d = 0; d < pool; d++) {
    const b = new Bytes();
    for (let r = 0; r < records; r++) record(b, d * records + r);
    data.push(v9Message({ sourceId, sequence: d + 1 }, [set(V9_CISCO.id, b.done())], records));
  }
  return { template, data };
}

function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 (1-based), in clock ticks (100 Hz on Linux).
  return (Number(rest[11]) + Number(rest[12])) / 100;
}

interface Row {
  rate: number;
  sentDatagrams: number;
  decoded: number;
  acked: number;
  stored: number;
  dropped: number;
  kernelDrops: number;
  cpuUsPerFlow: number;
  flowsPerS: number;
  why: string;
}

async function runOnce(args: Args, rate: number, dir: string): Promise<Row> {
  const n = await startNatsServer(join(dir, `nats-${rate}`));
  let s: ServeProcess | undefined;
  try {
    const cfg = join(dir, `serve-${rate}.yaml`);
    writeFileSync(
      cfg,
      [
        'listeners:',
        '  - { name: netflow, address: 127.0.0.1, port: 0, protocol: netflow, subject: flows.raw.netflow, receive_buffer_bytes: 33554432 }',
        `workers: ${args.workers}`,
        'metrics: { address: 127.0.0.1:0 }',
        'logging: { level: info, summary_interval_s: 0 }',
        'shutdown: { drain_timeout_ms: 20000 }',
        'nats:',
        `  servers: [${n.url}]`,
        `  ack_window: ${args.window}`,
        '  stream: { name: FLOWS, subjects: ["flows.>"], max_bytes: 2147483648 }',
        'outputs:',
        `  - { type: nats, format: ${args.format}, batch_size: ${args.batch} }`,
        '',
      ].join('\n'),
    );
    s = await startServe(['--config', cfg], {}, args.profile ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${args.profile}`] } : {});
    const m0 = await (async () => {
      for (let i = 0; i < 100; i++) {
        const m = await scrape(s!.metricsUrl);
        if (metric(m, 'flow_collector_ready') === 1) return m;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error('serve not ready');
    })();
    void m0;
    const port = s.listeners[0]!.port;
    const streams = Array.from({ length: args.exporters }, (_, k) => makeStream(args.records, 256, k + 1));
    const senders = streams.map((_, k) => new BatchSender({ source: `127.0.2.${k + 1}`, sndbuf: 4 << 20, destinations: [{ host: '127.0.0.1', port }] }));
    const pack = (list: Uint8Array[]) => {
      const total = list.reduce((a, d) => a + d.length, 0);
      const data = new Uint8Array(total);
      const offsets = new Uint32Array(list.length);
      const lengths = new Uint32Array(list.length);
      let o = 0;
      list.forEach((d, i) => {
        data.set(d, o);
        offsets[i] = o;
        lengths[i] = d.length;
        o += d.length;
      });
      return { data, offsets, lengths, n: list.length };
    };
    const loads = streams.map((st) => pack(st.data));
    for (let k = 0; k < senders.length; k++) {
      const t = pack([streams[k]!.template]);
      senders[k]!.send(t.data, t.offsets, t.lengths, 1);
    }
    await new Promise((r) => setTimeout(r, 300));
    const cpu0 = cpuSeconds(s.proc.pid!);
    const t0 = Date.now();
    const total = rate * args.seconds;
    let sent = 0;
    const cursors = loads.map(() => 0);
    const sliceMs = 10;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((Date.now() - t0) / 1000) * rate));
      while (sent < due) {
        const k = sent % senders.length;
        const l = loads[k]!;
        const c = cursors[k]!;
        const want = Math.min(64, due - sent, l.n - c);
        const got = senders[k]!.send(l.data, l.offsets.subarray(c), l.lengths.subarray(c), want);
        if (got === 0) break;
        sent += got;
        cursors[k] = (c + got) % l.n;
      }
      await new Promise((r) => setTimeout(r, sliceMs));
    }
    for (const x of senders) x.close();
    const sendSeconds = (Date.now() - t0) / 1000;
    // Wait until everything decoded is acknowledged or dropped (or nothing moves for 3 s).
    let last = -1;
    let still = 0;
    let m = await scrape(s.metricsUrl);
    for (;;) {
      m = await scrape(s.metricsUrl);
      const decoded = metric(m, 'flow_collector_flows_decoded_total');
      const done = metric(m, 'flow_collector_flows_delivered_total') + metric(m, 'flow_collector_flows_dropped_total');
      if (done >= decoded && decoded > 0) break;
      if (done === last && ++still > 30) break;
      if (done !== last) still = 0;
      last = done;
      await new Promise((r) => setTimeout(r, 100));
    }
    const cpu1 = cpuSeconds(s.proc.pid!);
    const elapsed = (Date.now() - t0) / 1000;
    const decoded = metric(m, 'flow_collector_flows_decoded_total');
    const acked = metric(m, 'flow_collector_flows_delivered_total');
    await s.stop('SIGTERM');
    s = undefined;
    const nc = await client(n.url);
    const info = await (await jetstreamManager(nc)).streams.info('FLOWS');
    await nc.close();
    // Stored flows: messages x flows per message is not fixed; count from acknowledged messages
    // matching the stream's message count.
    const ackedMsgs = metric(m, 'flow_collector_nats_messages_acked_total');
    return {
      rate,
      sentDatagrams: sent,
      decoded,
      acked,
      stored: info.state.messages === ackedMsgs ? acked : -info.state.messages,
      dropped: metric(m, 'flow_collector_flows_dropped_total'),
      kernelDrops: metric(m, 'flow_collector_kernel_drops_total'),
      cpuUsPerFlow: decoded > 0 ? ((cpu1 - cpu0) * 1e6) / decoded : 0,
      flowsPerS: acked / Math.max(sendSeconds, elapsed),
      why: [...m]
        .filter(([k, v]) => v > 0 && (k.startsWith('flow_collector_flows_dropped_total') || k.startsWith('flow_collector_nats_publish_failures_total') || k.startsWith('flow_collector_nats_retries_total')))
        .map(([k, v]) => `${k.replace(/^flow_collector_|output="nats",?/g, '')}=${v}`)
        .join(' '),
    };
  } finally {
    await s?.stop('SIGKILL');
    await n.stop();
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (!loadAddon().addon) throw new Error('the native addon is needed to send at these rates');
  const tmp = makeTempDir('fc-bench-nats-');
  try {
    console.log(`format ${args.format}, batch ${args.batch}, window ${args.window}, workers ${args.workers}, ${args.exporters} exporters, ${args.records} records/datagram, ${args.seconds} s per rate`);
    console.log('rate dgram/s | sent | flows decoded | acked | in stream | dropped | kernel drops | collector CPU us/flow | acked flows/s');
    for (const rate of args.rates) {
      const r = await runOnce(args, rate, tmp.dir);
      const pct = r.decoded > 0 ? ((100 * r.acked) / (r.sentDatagrams * args.records)).toFixed(1) : '0';
      console.log(
        `${r.rate} | ${r.sentDatagrams} | ${r.decoded} | ${r.acked} (${pct}% of sent) | ${r.stored >= 0 ? r.stored : `messages ${-r.stored} != acked`} | ${r.dropped} | ${r.kernelDrops} | ${r.cpuUsPerFlow.toFixed(2)} | ${Math.round(r.flowsPerS)}${r.why ? ` | ${r.why}` : ''}`,
      );
    }
  } finally {
    tmp.cleanup();
  }
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
