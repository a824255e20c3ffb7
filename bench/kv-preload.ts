/**
 * The nats_kv template store with a large bucket: fills a bucket on a local nats-server (started
 * here, ephemeral port) with E exporters x T templates in the collector's key format, starts
 * `flow-collector serve` on it, and reports how long the preload took (the store's own gauge,
 * and until every worker held every template), the serve process's memory (VmRSS, VmHWM) against
 * the same collector with the local store, what the caches hold, and that an exporter's first
 * data datagram then decodes without a miss.
 *
 *   node dist/bench/kv-preload.js [--exporters 10000] [--templates 10] [--fields 20]
 *        [--workers 2] [--max-sources 10000]
 *
 * Not a test: figures depend on the machine (docs/scaling.md has ours).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kvm } from '@nats-io/kv';
import { makeTempDir } from '../test/support/tools.js';
import { metric, scrape, sendUdp, startServe, until, type ServeProcess } from '../test/support/serve.js';
import { client, startNatsServer } from '../test/support/nats.js';
import { fillBucket, fillData, MiB, procMemory as rss } from '../test/support/kv-fill.js';

interface Args {
  exporters: number;
  templates: number;
  fields: number;
  workers: number;
  'max-sources': number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { exporters: 10_000, templates: 10, fields: 20, workers: 2, 'max-sources': 10_000 };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i]!.replace(/^--/, '') as keyof Args;
    if (!(k in a)) throw new Error(`unknown option --${k}`);
    a[k] = Number(argv[i + 1]);
  }
  return a;
}

async function serve(dir: string, name: string, a: Args, url: string | undefined): Promise<ServeProcess> {
  const cfg = join(dir, `${name}.yaml`);
  writeFileSync(
    cfg,
    [
      'listeners: [{ name: nf, address: 127.0.0.1, port: 0 }]',
      `workers: ${a.workers}`,
      `templates: { max_sources: ${a['max-sources']} }`,
      'outputs: [{ type: file, path: /dev/null }]',
      'metrics: { address: "127.0.0.1:0" }',
      'logging: { summary_interval_s: 0 }',
      ...(url !== undefined ? ['template_store:', '  backend: nats_kv', '  kv_bucket: bench', `  servers: ["${url}"]`] : []),
    ].join('\n') + '\n',
  );
  return startServe(['--config', cfg], {}, { timeoutMs: 60_000 });
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const tmp = makeTempDir('fc-kv-bench-');
  const n = await startNatsServer(join(tmp.dir, 'nats'));
  const procs: ServeProcess[] = [];
  try {
    const nc = await client(n.url);
    const kv = await new Kvm(nc).create('bench', { history: 1, storage: 'file' });
    const t0 = Date.now();
    // The last exporter is 127.0.0.1, the address this bench sends its data datagram from.
    const total = await fillBucket(kv, { listener: 'nf', exporters: a.exporters, templates: a.templates, fields: a.fields, local: a.exporters - 1, origin: 'bench' });
    const fillS = (Date.now() - t0) / 1000;
    const st = await kv.status();
    console.log(`bucket: ${st.values} values, ${MiB(st.size)}, filled in ${fillS.toFixed(1)} s (${Math.round(total / fillS)} puts/s)`);
    await nc.close();

    const base = await serve(tmp.dir, 'local', a, undefined);
    procs.push(base);
    await new Promise((r) => setTimeout(r, 2000));
    const baseMem = rss(base.proc.pid!);
    await base.stop();

    const s0 = Date.now();
    const s = await serve(tmp.dir, 'kv', a, n.url);
    procs.push(s);
    const started = Date.now() - s0;
    await until(async () => (await metric(await scrape(s.metricsUrl), 'flow_collector_template_kv_loaded')) === 1, 'the store loaded the bucket', 300_000);
    const loaded = Date.now() - s0;
    const expectWorkers = Math.min(a.exporters, a['max-sources']) * a.templates * a.workers;
    await until(async () => (await metric(await scrape(s.metricsUrl), 'flow_collector_template_store_total', 'event="received"')) >= expectWorkers, 'every worker holds the templates', 300_000);
    const inWorkers = Date.now() - s0;
    const m = await scrape(s.metricsUrl);
    const mem = rss(s.proc.pid!);
    // The last exporter's (127.0.0.1) first data datagram: its templates are in every worker.
    await sendUdp(s.listeners[0]!.port, [fillData(256, a.fields, '10.99.0.1')], { host: '127.0.0.1' });
    await until(async () => (await metric(await scrape(s.metricsUrl), 'flow_collector_flows_decoded_total')) >= 1, 'the data datagram decoded');
    const m2 = await scrape(s.metricsUrl);
    console.log(
      JSON.stringify(
        {
          exporters: a.exporters,
          templates_per_exporter: a.templates,
          fields: a.fields,
          workers: a.workers,
          max_sources: a['max-sources'],
          serve_start_ms: started,
          preload_store_s: metric(m, 'flow_collector_template_kv_preload_seconds'),
          preload_until_loaded_ms: loaded,
          preload_until_workers_hold_ms: inWorkers,
          preloaded: metric(m, 'flow_collector_template_kv_preloaded_total'),
          store_cached_keys: metric(m, 'flow_collector_template_kv_cached_keys'),
          store_cached_scopes: metric(m, 'flow_collector_template_kv_cached_scopes'),
          worker_scopes_sum: metric(m, 'flow_collector_sources'),
          rss_local: MiB(baseMem.rss),
          rss_kv: MiB(mem.rss),
          hwm_kv: MiB(mem.hwm),
          first_datagram_missing: metric(m2, 'flow_collector_templates_total', 'event="missing"'),
        },
        null,
        1,
      ),
    );
  } finally {
    for (const p of procs) await p.stop('SIGKILL').catch(() => 0);
    await n.stop();
    tmp.cleanup();
  }
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
