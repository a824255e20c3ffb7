/**
 * A long run of `flow-collector serve` as production runs it (publishing to NATS JetStream, the
 * templates shared through the NATS KV bucket), under the churn a real network brings: exporters
 * of every protocol come and go (every phase, each protocol's exporters move to fresh source
 * addresses, so old template scopes must be evicted), templates are resent, and nats-server goes
 * away for a while now and then. Every sample (`--sample` s) reads serve's resident memory and what
 * makes it up or bounds it (the workers' heaps, sources, pending bytes, queues, the KV store's
 * cache and outbox), and the report says how memory moved over the second half, where a leak
 * would show as a slope.
 *
 *   npm run bench:soak -- [options]      (= npm run build && node dist/bench/soak.js)
 *
 *   --minutes 15            how long to send
 *   --rate 20000            datagrams/s in all, split over the protocols
 *   --protocols v9,ipfix,sflow,v5
 *   --exporters 200         exporters per protocol in each phase
 *   --phase 60              seconds per phase; the next phase's exporters have new addresses
 *   --max-sources 2000      serve's templates.max_sources (above one phase's scopes, below two: evictions)
 *   --outage-every 300      seconds between nats-server outages (0: none)
 *   --outage 20             seconds each outage lasts (the server is killed, then restarted)
 *   --queue-bytes N         serve's queue.max_bytes (per worker; default serve's own, 64 MiB)
 *   --workers 2
 *   --sample 10             seconds between samples
 *   --serve-env K=V,...     environment of serve (e.g. MALLOC_ARENA_MAX=2)
 *   --json FILE             the samples and the summary as JSON
 *
 * Not a test: what it measures takes minutes and depends on the machine (docs/benchmarks.md has
 * ours). The sender (`flow-collector blast`, one process per protocol) shares the cores.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { metric, runCli, scrape, startServe, type ServeProcess } from '../test/support/serve.js';
import { procMemory } from '../test/support/kv-fill.js';
import { startNatsServer, type NatsServer } from '../test/support/nats.js';
import { eachOption, keyValues } from './args.js';
import { processCpu } from './proc.js';

interface Args {
  minutes: number;
  rate: number;
  protocols: string[];
  exporters: number;
  phase: number;
  maxSources: number;
  outageEvery: number;
  outage: number;
  queueBytes: number;
  workers: number;
  sample: number;
  serveEnv: Record<string, string>;
  json: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { minutes: 15, rate: 20000, protocols: ['v9', 'ipfix', 'sflow', 'v5'], exporters: 200, phase: 60, maxSources: 2000, outageEvery: 300, outage: 20, queueBytes: 0, workers: 2, sample: 10, serveEnv: {}, json: '' };
  const num = (name: string, v: string, min: number): number => {
    const n = Number(v);
    if (!(n >= min)) throw new Error(`${name} wants a number >= ${min}, got ${v}`);
    return n;
  };
  eachOption(argv, (name, value) => {
    if (name === '--minutes') a.minutes = num(name, value(), 0.1);
    else if (name === '--rate') a.rate = num(name, value(), 1);
    else if (name === '--protocols') a.protocols = value().split(',').filter(Boolean);
    else if (name === '--exporters') a.exporters = num(name, value(), 1);
    else if (name === '--phase') a.phase = num(name, value(), 5);
    else if (name === '--max-sources') a.maxSources = num(name, value(), 1);
    else if (name === '--outage-every') a.outageEvery = num(name, value(), 0);
    else if (name === '--outage') a.outage = num(name, value(), 1);
    else if (name === '--queue-bytes') a.queueBytes = num(name, value(), 1);
    else if (name === '--workers') a.workers = num(name, value(), 1);
    else if (name === '--sample') a.sample = num(name, value(), 1);
    else if (name === '--serve-env') a.serveEnv = keyValues(value());
    else if (name === '--json') a.json = value();
    else throw new Error(`unknown option ${name}`);
  });
  for (const p of a.protocols) if (!['v5', 'v9', 'ipfix', 'sflow'].includes(p)) throw new Error(`--protocols: unknown ${p} (v5, v9, ipfix, sflow)`);
  if (a.exporters * a.protocols.length > 16000) throw new Error('--exporters: at most 16,000 in all per phase');
  return a;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resident set of a process, bytes (VmRSS), or NaN once it is gone (nats-server in an outage). */
function rssBytes(pid: number): number {
  try {
    return procMemory(pid).rss;
  } catch {
    return NaN;
  }
}

/** Phase `p`, protocol `i`: the first source address; phases cycle through 127.16-255.x.x. */
function phaseSource(p: number, i: number): string {
  return `127.${16 + (p % 240)}.${i * 64}.1`;
}

/** One protocol's exporters for one phase: `flow-collector blast`, run to its end. */
async function blast(port: number, protocol: string, rate: number, seconds: number, exporters: number, source: string, seed: number): Promise<{ datagrams: number; flows: number }> {
  const argv = ['blast', '--target', `127.0.0.1:${port}`, '--synth', protocol, '--rate', String(rate), '--duration', String(seconds)];
  argv.push('--exporters', String(exporters), '--source', source, '--template-interval', '30', '--preamble-wait', '0', '--seed', String(seed), '--json');
  const r = await runCli(argv, {}, (seconds + 60) * 1000);
  if (r.code !== 0) throw new Error(`blast ${protocol} exited ${r.code}: ${r.stderr}`);
  const j = JSON.parse(r.stdout) as { datagrams: number; flows: number };
  return { datagrams: j.datagrams, flows: j.flows };
}

interface Sample {
  t: number;
  rssMiB: number;
  /** Summed over the workers (flow_collector_worker_heap_bytes). */
  heapUsedMiB: number;
  heapTotalMiB: number;
  externalMiB: number;
  natsRssMiB: number;
  received: number;
  decoded: number;
  delivered: number;
  dropped: number;
  kernelDrops: number;
  sources: number;
  scopesEvicted: number;
  pendingBytes: number;
  queueBytes: number;
  kvCachedKeys: number;
  kvOutbox: number;
  natsConnected: number;
  note: string;
}

/** Counters by reason, from every series of the metrics whose names are given. */
function byReason(m: Map<string, number>, names: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of m) {
    const base = k.includes('{') ? k.slice(0, k.indexOf('{')) : k;
    if (!names.includes(base) || v === 0) continue;
    const r = /(?:reason|event|op|result)="([^"]*)"/.exec(k);
    const key = `${base.replace('flow_collector_', '')}${r ? `{${r[1]}}` : ''}`;
    out[key] = (out[key] ?? 0) + v;
  }
  return out;
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = ys.reduce((s, y) => s + y, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), 'fc-soak-'));
  let nats: NatsServer | undefined;
  let s: ServeProcess | undefined;
  try {
    nats = await startNatsServer(join(dir, 'nats'));
    const cfg = join(dir, 'serve.yaml');
    writeFileSync(
      cfg,
      [
        'listeners:',
        '  - { name: flows, address: 127.0.0.1, port: 0, protocol: auto, subject: flows.raw }',
        `workers: ${a.workers}`,
        `templates: { max_sources: ${a.maxSources} }`,
        ...(a.queueBytes > 0 ? [`queue: { max_bytes: ${a.queueBytes} }`] : []),
        'metrics: { address: 127.0.0.1:0 }',
        'logging: { level: info, summary_interval_s: 0 }',
        'nats:',
        `  servers: [${nats.url}]`,
        '  stream: { name: FLOWS, subjects: ["flows.>"], max_bytes: 2000000000 }',
        'outputs:',
        '  - { type: nats, format: flowpb-batch }',
        'template_store: { backend: nats_kv, kv_ttl_s: 600 }',
        '',
      ].join('\n'),
    );
    s = await startServe(['--config', cfg], a.serveEnv, { timeoutMs: 60_000 });
    const port = s.listeners[0]!.port;
    const pid = s.proc.pid!;
    console.log(`serve pid ${pid} on 127.0.0.1:${port}, ${a.workers} worker(s), nats-server ${nats.url}; ${a.minutes} min at ${a.rate} datagrams/s of ${a.protocols.join(', ')}, ${a.exporters} exporters each per ${a.phase} s phase, max_sources ${a.maxSources}, outage ${a.outage} s every ${a.outageEvery || '-'} s`);

    const total = a.minutes * 60;
    const cpu0 = processCpu(pid)!.seconds;
    const t0 = Date.now();
    const elapsed = () => (Date.now() - t0) / 1000;
    const samples: Sample[] = [];
    const sent = { datagrams: 0, flows: 0 };
    const blasts: Promise<void>[] = [];
    let outageNote = '';

    // Senders: one phase after another, every protocol at once.
    const senders = (async () => {
      for (let p = 0; elapsed() < total - 1; p++) {
        const secs = Math.min(a.phase, total - elapsed());
        const rate = Math.max(1, Math.round(a.rate / a.protocols.length));
        const phase = a.protocols.map((proto, i) =>
          blast(port, proto, rate, secs, a.exporters, phaseSource(p, i), p * 10 + i + 1).then((r) => {
            sent.datagrams += r.datagrams;
            sent.flows += r.flows;
          }),
        );
        blasts.push(...phase);
        await Promise.all(phase);
      }
    })();

    // Outages: nats-server killed, then started again on the same port and store.
    const outages = (async () => {
      if (a.outageEvery <= 0) return;
      for (let k = 1; k * a.outageEvery + a.outage < total; k++) {
        await sleep(Math.max(0, t0 + k * a.outageEvery * 1000 - Date.now()));
        await nats!.kill();
        outageNote = 'nats down';
        await sleep(a.outage * 1000);
        await nats!.restart();
        outageNote = 'nats back';
      }
    })();
    // Awaited after the samples; until then a failure must not end the process before the cleanup.
    senders.catch(() => undefined);
    outages.catch(() => undefined);

    const header = '| t s | RSS MiB | workers: heap used | heap total | external | nats RSS | received | decoded | delivered | dropped | kernel drops | sources | scopes evicted | pending B | queue B | KV keys | KV outbox | connected | |';
    console.log(header);
    console.log(header.replace(/[^|]+/g, '---'));
    while (elapsed() < total + 5) {
      await sleep(a.sample * 1000);
      const m = await scrape(s.metricsUrl);
      const x: Sample = {
        t: Math.round(elapsed()),
        rssMiB: rssBytes(pid) / 2 ** 20,
        heapUsedMiB: metric(m, 'flow_collector_worker_heap_bytes', 'kind="used"') / 2 ** 20,
        heapTotalMiB: metric(m, 'flow_collector_worker_heap_bytes', 'kind="total"') / 2 ** 20,
        externalMiB: metric(m, 'flow_collector_worker_heap_bytes', 'kind="external"') / 2 ** 20,
        natsRssMiB: rssBytes(nats.proc.pid!) / 2 ** 20,
        received: metric(m, 'flow_collector_datagrams_received_total'),
        decoded: metric(m, 'flow_collector_flows_decoded_total'),
        delivered: metric(m, 'flow_collector_flows_delivered_total'),
        dropped: metric(m, 'flow_collector_flows_dropped_total'),
        kernelDrops: metric(m, 'flow_collector_kernel_drops_total'),
        sources: metric(m, 'flow_collector_sources'),
        scopesEvicted: metric(m, 'flow_collector_scopes_total', 'event="evicted"'),
        pendingBytes: metric(m, 'flow_collector_pending_bytes'),
        queueBytes: metric(m, 'flow_collector_queue_bytes'),
        kvCachedKeys: metric(m, 'flow_collector_template_kv_cached_keys'),
        kvOutbox: metric(m, 'flow_collector_template_kv_outbox'),
        natsConnected: metric(m, 'flow_collector_nats_connected'),
        note: outageNote,
      };
      outageNote = '';
      samples.push(x);
      const f = (n: number) => Math.round(n).toLocaleString('en-US');
      console.log(
        `| ${x.t} | ${x.rssMiB.toFixed(1)} | ${x.heapUsedMiB.toFixed(1)} | ${x.heapTotalMiB.toFixed(1)} | ${x.externalMiB.toFixed(1)} | ${x.natsRssMiB.toFixed(1)} | ${f(x.received)} | ${f(x.decoded)} | ${f(x.delivered)} | ${f(x.dropped)} | ${f(x.kernelDrops)} | ${f(x.sources)} | ${f(x.scopesEvicted)} | ${f(x.pendingBytes)} | ${f(x.queueBytes)} | ${f(x.kvCachedKeys)} | ${f(x.kvOutbox)} | ${x.natsConnected} | ${x.note} |`,
      );
    }
    await senders;
    await outages;
    await Promise.all(blasts);
    // Until every decoded flow is delivered or dropped (or nothing moves for 10 s).
    let m = await scrape(s.metricsUrl);
    let last = -1;
    let since = Date.now();
    for (;;) {
      m = await scrape(s.metricsUrl);
      const done = metric(m, 'flow_collector_flows_delivered_total') + metric(m, 'flow_collector_flows_dropped_total');
      if (done >= metric(m, 'flow_collector_flows_decoded_total')) break;
      if (done !== last) {
        last = done;
        since = Date.now();
      }
      if (Date.now() - since > 10_000) break;
      await sleep(500);
    }
    const reasons = byReason(m, [
      'flow_collector_flows_dropped_total',
      'flow_collector_datagrams_dropped_total',
      'flow_collector_decode_errors_total',
      'flow_collector_pending_dropped_total',
      'flow_collector_templates_rejected_total',
      'flow_collector_nats_publish_failures_total',
      'flow_collector_template_kv_backend_errors_total',
      'flow_collector_template_kv_outbox_dropped_total',
      'flow_collector_scopes_total',
    ]);
    const second = samples.filter((x) => x.t >= total / 2 && x.t <= total);
    const rssSlope = second.length >= 3 ? slope(second.map((x) => x.t / 60), second.map((x) => x.rssMiB)) : NaN;
    const rss = samples.map((x) => x.rssMiB);
    const cpuSeconds = processCpu(pid)!.seconds - cpu0;
    const decoded = metric(m, 'flow_collector_flows_decoded_total');
    const delivered = metric(m, 'flow_collector_flows_delivered_total');
    const dropped = metric(m, 'flow_collector_flows_dropped_total');
    const exitCode = await s.stop('SIGTERM', 60_000);
    s = undefined;
    const summary = {
      sentDatagrams: sent.datagrams,
      sentFlows: sent.flows,
      received: metric(m, 'flow_collector_datagrams_received_total'),
      kernelDrops: metric(m, 'flow_collector_kernel_drops_total'),
      decoded,
      delivered,
      dropped,
      unaccounted: decoded - delivered - dropped,
      rssFirstMiB: rss[0],
      rssMaxMiB: Math.max(...rss),
      rssLastMiB: rss[rss.length - 1],
      rssSlopeSecondHalfMiBPerMin: rssSlope,
      cpuSeconds,
      cpuUsPerFlow: (cpuSeconds * 1e6) / decoded,
      reasons,
      exitCode,
    };
    console.log('');
    console.log(`sent ${summary.sentDatagrams.toLocaleString('en-US')} datagrams (${summary.sentFlows.toLocaleString('en-US')} flows); received ${summary.received.toLocaleString('en-US')}, kernel drops ${summary.kernelDrops.toLocaleString('en-US')}`);
    console.log(`flows decoded ${decoded.toLocaleString('en-US')}, delivered (acknowledged) ${delivered.toLocaleString('en-US')}, dropped ${dropped.toLocaleString('en-US')}, unaccounted ${summary.unaccounted.toLocaleString('en-US')}`);
    console.log(`RSS: first sample ${summary.rssFirstMiB?.toFixed(1)} MiB, max ${summary.rssMaxMiB.toFixed(1)}, last ${summary.rssLastMiB?.toFixed(1)}; second half ${rssSlope >= 0 ? '+' : ''}${rssSlope.toFixed(2)} MiB/min (least squares over ${second.length} samples)`);
    console.log(`counted by reason: ${Object.entries(reasons).map(([k, v]) => `${k} ${v.toLocaleString('en-US')}`).join(', ') || 'nothing'}`);
    console.log(`serve CPU ${cpuSeconds.toFixed(1)} s, ${summary.cpuUsPerFlow.toFixed(3)} µs per flow decoded (all threads; the sender and nats-server share the cores)`);
    console.log(`serve exited ${exitCode} after SIGTERM`);
    if (a.json !== '') writeFileSync(a.json, JSON.stringify({ args: a, samples, summary }, null, 1));
  } finally {
    if (s) await s.stop('SIGKILL').catch(() => undefined);
    if (nats) await nats.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
