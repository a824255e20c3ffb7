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
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kvm } from '@nats-io/kv';
import { encodeTemplateEnvelope, templateKey } from '../src/templates/kv/mod.js';
import type { TemplateDef } from '../src/templates/mod.js';
import { makeTempDir } from '../test/support/tools.js';
import { metric, scrape, sendUdp, startServe, until, type ServeProcess } from '../test/support/serve.js';
import { client, startNatsServer } from '../test/support/nats.js';
import { ip4, set, u32, v9Message } from '../test/support/export-builder.js';

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

/** Exporter i; the last one is 127.0.0.1, the address this bench sends its data datagram from. */
const exporterOf = (i: number, n: number) => (i === n - 1 ? '127.0.0.1' : `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);

function def(id: number, fields: number): TemplateDef {
  // Source address first (the data datagram below fills it), then counters of 4 bytes.
  const f = [{ id: 8, pen: 0, length: 4 }];
  for (let k = 1; k < fields; k++) f.push({ id: k === 1 ? 1 : k === 2 ? 2 : 100 + k, pen: 0, length: 4 });
  return { protocol: 9, id, options: false, scopeCount: 0, fields: f };
}

function rss(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

const MiB = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;

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
    const total = a.exporters * a.templates;
    const t0 = Date.now();
    const window: Promise<number>[] = [];
    for (let i = 0; i < a.exporters; i++) {
      const scope = { listener: 'nf', protocol: 9 as const, exporter: exporterOf(i, a.exporters), port: 0, domain: 0 };
      for (let t = 0; t < a.templates; t++) {
        window.push(kv.put(templateKey(scope, false, 256 + t), encodeTemplateEnvelope(def(256 + t, a.fields), Date.now(), 'bench')));
        if (window.length >= 512) await Promise.all(window.splice(0));
      }
    }
    await Promise.all(window);
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
    const body: number[] = [...ip4('10.99.0.1')];
    for (let k = 1; k < a.fields; k++) body.push(...u32(k));
    await sendUdp(s.listeners[0]!.port, [v9Message([set(256, body, true)], { seq: 1 })], { host: '127.0.0.1' });
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
