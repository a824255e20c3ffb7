// The library wired by hand: the baseline the serve benchmark compares
// `flow-collector serve` against (collector "hand" in bench/serve.ts), and a
// stand-in with serve's interface for testing the harness.
//
//   node dist/bench/serve-hand.js --listen 127.0.0.1:PORT --output file:PATH [--rcvbuf BYTES] [--batch N]
//
// One thread: the addon's recvmmsg source → FlowDecoder → flowpb
// length-delimited batch (DelimitedBatchWriter) → one write(2) per received
// batch to a file opened O_APPEND. Serve's outward interface as far as the
// bench uses it: a JSON log line "flow-collector started" with `metrics` on
// stderr, GET /readyz and /metrics (flow_collector_datagrams_received_total,
// flow_collector_kernel_drops_total), SIGTERM → drain what is queued, close,
// log "flow-collector stopped" with totals.

import { createServer } from 'node:http';
import { closeSync, openSync, writeSync } from 'node:fs';
import { ExporterTable, FlowDecoder, type Exporter, type FlowRecord, type FrameSink } from '../src/decode/mod.js';
import { DelimitedBatchWriter } from '../src/encode/mod.js';
import { openSource, type Batch } from '../src/ingest/mod.js';

function arg(name: string, dflt?: string): string {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? process.argv[i + 1] : dflt;
  if (v === undefined) throw new Error(`${name} is required`);
  return v;
}

function log(msg: string, extra: Record<string, unknown> = {}): void {
  process.stderr.write(JSON.stringify({ level: 30, time: Date.now(), msg, ...extra }) + '\n');
}

async function main(): Promise<void> {
  const listen = arg('--listen');
  const output = arg('--output');
  if (!output.startsWith('file:')) throw new Error('--output must be file:PATH');
  const colon = listen.lastIndexOf(':');
  const host = listen.slice(0, colon);
  const port = Number(listen.slice(colon + 1));
  const outPath = output.slice(5);
  let fd = openSync(outPath, 'a');
  // SIGHUP reopens the file, as serve does (the bench's rotating sink renames it first).
  process.on('SIGHUP', () => {
    const next = openSync(outPath, 'a');
    closeSync(fd);
    fd = next;
  });
  const writer = new DelimitedBatchWriter(1 << 20);
  const exporters = new ExporterTable();
  let flows = 0;
  let decodeErrors = 0;
  // The fast path as serve takes it (FLOW_COLLECTOR_TRANSCODE=0 turns it off in both).
  const frames: FrameSink = {
    writer: writer.writer,
    framesAdded(_type: number, n: number) {
      writer.added(n);
      flows += n;
    },
  };
  const dec = new FlowDecoder({
    sink: {
      onFlow: (r: FlowRecord) => {
        writer.append(r);
        flows++;
      },
    },
    ...(process.env['FLOW_COLLECTOR_TRANSCODE'] !== '0' ? { frames } : {}),
    // As serve's default, and its variable: interface names from options data only when asked.
    sampling: { interface_names: process.env['FLOW_COLLECTOR_SAMPLING__INTERFACE_NAMES'] === 'true' },
  });
  let datagrams = 0;
  // Exporters by IPv4 address and port as one number (the bench sends from 127.0.2.x).
  const byKey = new Map<number, Exporter>();
  const onBatch = (b: Batch) => {
    const a = b.addrs;
    for (let i = 0; i < b.count; i++) {
      const o = 16 * i;
      const key = (a[o]! * 16777216 + a[o + 1]! * 65536 + a[o + 2]! * 256 + a[o + 3]!) * 65536 + b.ports[i]!;
      let ex = byKey.get(key);
      if (ex === undefined) {
        ex = exporters.get(`${a[o]}.${a[o + 1]}.${a[o + 2]}.${a[o + 3]}`, b.ports[i]!);
        byKey.set(key, ex);
      }
      if (dec.decode(b.data, i * b.slotSize, b.lengths[i]!, ex, b.tsSec[i]!, b.tsNsec[i]!) !== undefined) decodeErrors++;
    }
    datagrams += b.count;
    if (writer.count > 0) writeSync(fd, writer.finish());
  };
  const src = await openSource({
    host,
    port,
    rcvbuf: Number(arg('--rcvbuf', String(64 << 20))),
    batchSize: Number(arg('--batch', '256')),
    slotSize: 9216,
    onBatch,
    logger: (m) => log(m),
  });
  const http = createServer((req, res) => {
    if (req.url === '/readyz' || req.url === '/healthz') {
      res.end('ok\n');
    } else if (req.url === '/metrics') {
      const st = src.stats();
      res.setHeader('content-type', 'text/plain; version=0.0.4');
      res.end(
        [
          '# TYPE flow_collector_datagrams_received_total counter',
          `flow_collector_datagrams_received_total ${st.datagrams}`,
          '# TYPE flow_collector_kernel_drops_total counter',
          `flow_collector_kernel_drops_total ${st.kernelDrops ?? 0}`,
          '# TYPE flow_collector_flows_total counter',
          `flow_collector_flows_total ${flows}`,
          '',
        ].join('\n'),
      );
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', () => resolve()));
  const ma = http.address() as { port: number };
  log('flow-collector started', { listen: `${host}:${src.port}`, path: src.path, metrics: `http://127.0.0.1:${ma.port}` });
  process.once('SIGTERM', () => {
    // Let the source drain what is queued (a quiet 100 ms), then stop.
    let last = -1;
    const t = setInterval(() => {
      if (datagrams !== last) {
        last = datagrams;
        return;
      }
      clearInterval(t);
      void src.close().then(() => {
        if (writer.count > 0) writeSync(fd, writer.finish());
        closeSync(fd);
        http.close();
        log('flow-collector stopped', { datagrams, flows, decodeErrors, kernelDrops: src.stats().kernelDrops });
      });
    }, 100);
  });
}

main().catch((err) => {
  log('flow-collector failed', { err: String(err) });
  process.exitCode = 1;
});
