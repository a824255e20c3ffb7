/**
 * The nats_kv template store between collectors running as separate `serve` processes, against
 * real nats-server 2.9.10 processes started here on ephemeral ports:
 *
 * 1. Template and sampler table to A only, data to B only (sent at once, so B's first datagrams
 *    wait in its pending buffer): B decodes every record, with A's sampling rate; the time from
 *    B's first data datagram to its first decoded flow is printed. The bucket's keys have the
 *    documented format.
 * 2. A collector started later preloads the bucket and decodes an exporter's first data datagram
 *    without a miss.
 * 3. A changed template on A reaches B; an IPFIX withdrawal on A withdraws it on B.
 * 4. NATS stopped: both keep decoding what they know; a template learned meanwhile reaches the
 *    other once NATS is back (B's data for it waited in the pending buffer).
 * 5. A 3-node cluster with an R3 bucket, one node killed: sharing carries on.
 * 6. Scale-out: three collectors on one shared port spread at random, softflowd (NetFlow v9) and
 *    pmacctd (IPFIX) exporting to it: every flow decoded, none twice.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kvm } from '@nats-io/kv';
import { writePcap } from '../src/capture/mod.js';
import { ExporterTable, FlowDecoder, type FlowRecord } from '../src/decode/mod.js';
import { JsonEncoder } from '../src/encode/mod.js';
import { makeTempDir, skipUnlessCommands } from './support/tools.js';
import { metric, scrape, sendUdp, startServe, until, type ServeProcess } from './support/serve.js';
import { client, haveNatsServer, startNatsCluster, startNatsServer, type NatsServer } from './support/nats.js';
import { ip4, ipfixMessage, ipfixTemplateRecord, set, u32, u8, v9Message, v9OptionsTemplateRecord, v9TemplateRecord } from './support/export-builder.js';
import * as sf from './support/softflowd.js';
import * as pm from './support/pmacct.js';

const skip = haveNatsServer ? false : 'nats-server is not installed';
const tmp = makeTempDir('fc-kv-');
const servers: NatsServer[] = [];
const running: ServeProcess[] = [];
after(async () => {
  for (const s of running) await s.stop('SIGKILL');
  for (const n of servers) await n.stop().catch(() => {});
  sf.killSoftflowd();
  pm.killPmacctd();
  tmp.cleanup();
});

let seq = 0;
/** A collector with the nats_kv store: listener "nf" on 127.0.0.1 (port 0 unless given), NDJSON on stdout. */
async function collector(name: string, urls: string[], bucket: string, o: { port?: number; shared?: boolean; spread?: string; replicas?: number; workers?: number } = {}): Promise<ServeProcess> {
  const cfg = join(tmp.dir, `${name}-${seq++}.yaml`);
  writeFileSync(
    cfg,
    [
      'listeners:',
      '  - name: nf',
      '    address: 127.0.0.1',
      `    port: ${o.port ?? 0}`,
      ...(o.shared ? ['    shared: true'] : []),
      ...(o.spread ? [`    spread: ${o.spread}`] : []),
      `workers: ${o.workers ?? 2}`,
      'outputs: [{ type: stdout, format: json }]',
      'metrics: { address: "127.0.0.1:0" }',
      'logging: { summary_interval_s: 0 }',
      'template_store:',
      '  backend: nats_kv',
      `  kv_bucket: ${bucket}`,
      `  kv_replicas: ${o.replicas ?? 1}`,
      `  servers: [${urls.map((u) => JSON.stringify(u)).join(', ')}]`,
    ].join('\n') + '\n',
  );
  const s = await startServe(['--config', cfg]);
  running.push(s);
  return s;
}

function flows(s: ServeProcess): Record<string, any>[] {
  const text = s.stdout().toString('utf8');
  const out: Record<string, any>[] = [];
  // Whole lines only: the last one may still be on its way.
  for (const line of text.slice(0, text.lastIndexOf('\n') + 1).split('\n')) if (line !== '') out.push(JSON.parse(line));
  return out;
}

async function m(s: ServeProcess, name: string, ...match: string[]): Promise<number> {
  return metric(await scrape(s.metricsUrl), name, ...match);
}

const port = (s: ServeProcess) => s.listeners[0]!.port;

// ---- NetFlow v9 from one exporter: a sampler table (options) and a data template ----

const OPT_TPL = set(1, v9OptionsTemplateRecord(400, [{ id: 1, len: 4 }], [{ id: 48, len: 1 }, { id: 50, len: 4 }]), true);
const OPT_DATA = set(400, [...u32(0), ...u8(1), ...u32(100)], true);
/** Template 256: src addr, bytes, packets, sampler id. */
const TPL = set(0, v9TemplateRecord(256, [{ id: 8, len: 4 }, { id: 1, len: 4 }, { id: 2, len: 4 }, { id: 48, len: 1 }]));
/** Data of template 256: `n` records, record k of datagram d from 10.<d>.<k>.1, bytes 1000*d+k. */
function data256(d: number, n: number): Buffer {
  const body: number[] = [];
  for (let k = 0; k < n; k++) body.push(...ip4(`10.${d & 255}.${k}.1`), ...u32(1000 * d + k), ...u32(1), ...u8(1));
  return v9Message([set(256, body, true)], { seq: d });
}

test('template and sampler table to A only, data to B only: B decodes every record with the sampling rate; keys in the documented format', { skip }, async () => {
  const n = await startNatsServer(join(tmp.dir, 'n1'));
  servers.push(n);
  const a = await collector('a', [n.url], 'kv1');
  const b = await collector('b', [n.url], 'kv1');
  await until(async () => (await m(a, 'flow_collector_template_kv_connected')) === 1 && (await m(b, 'flow_collector_template_kv_connected')) === 1, 'both connected');
  const DATAGRAMS = 50;
  const PER = 5;
  const t0 = Date.now();
  // The exporter (127.0.0.2): its template and options to A, every data datagram to B, at once.
  await Promise.all([
    sendUdp(port(a), [v9Message([OPT_TPL, OPT_DATA, TPL], { seq: 0 })], { host: '127.0.0.2' }),
    sendUdp(port(b), Array.from({ length: DATAGRAMS }, (_, d) => data256(d + 1, PER)), { host: '127.0.0.2' }),
  ]);
  let firstAt = 0;
  await until(() => {
    if (firstAt === 0 && flows(b).length > 0) firstAt = Date.now();
    return flows(b).length >= DATAGRAMS * PER;
  }, 'B decodes every record', 20_000);
  const got = flows(b);
  assert.equal(got.length, DATAGRAMS * PER, 'each record once');
  const keys = new Set(got.map((f) => `${f.src_addr}/${f.bytes}`));
  for (let d = 1; d <= DATAGRAMS; d++) for (let k = 0; k < PER; k++) assert.ok(keys.has(`10.${d}.${k}.1/${1000 * d + k}`), `record ${d}/${k}`);
  assert.ok(got.every((f) => f.sampling_rate === 100), 'the sampler table learned by A applies on B');
  assert.ok(got.every((f) => f.sampler_address === '127.0.0.2'));
  assert.equal(flows(a).length, 0);
  let restored = 0;
  await until(async () => (restored = await m(b, 'flow_collector_template_store_restored_flows_total')) > 0, 'B counts the flows replayed thanks to the store');
  console.log(`# B: first data datagram sent -> first decoded flow: ~${firstAt - t0} ms (poll 50 ms); restored flows ${restored}; miss wait histogram count ${await m(b, 'flow_collector_template_kv_miss_wait_seconds_count')}`);
  assert.ok((await m(a, 'flow_collector_template_kv_writes_total', 'op="put"')) >= 2, 'A wrote the template and the options row');

  const nc = await client(n.url);
  const kv = await new Kvm(nc).open('kv1');
  const listed: string[] = [];
  for await (const k of await kv.keys()) listed.push(k);
  await nc.close();
  assert.ok(listed.includes('nf.v9.127_0_0_2.0.t.256'), listed.join(' '));
  assert.ok(listed.includes('nf.v9.127_0_0_2.0.t.400'), listed.join(' '));
  assert.ok(listed.some((k) => /^nf\.v9\.127_0_0_2\.0\.o\.400_[0-9a-f]{16}$/.test(k)), listed.join(' '));

  // 2. A collector started later loads the bucket first: the exporter's first data datagram decodes without a miss.
  const c = await collector('c', [n.url], 'kv1');
  await until(async () => (await m(c, 'flow_collector_template_kv_loaded')) === 1, 'C loaded the bucket');
  await until(async () => (await m(c, 'flow_collector_template_store_total', 'event="received"')) >= 2 * 3, 'the workers of C hold what was loaded');
  assert.equal(await m(c, 'flow_collector_template_kv_preloaded_total'), 3, 'two templates and one options row preloaded');
  await sendUdp(port(c), [data256(99, 3)], { host: '127.0.0.2' });
  await until(() => flows(c).length === 3, 'C decodes the first datagram');
  assert.equal(await m(c, 'flow_collector_templates_total', 'event="missing"'), 0, 'no miss');
  assert.ok(flows(c).every((f) => f.sampling_rate === 100));

  // 3a. A changed template on A reaches B: template 256 now also carries the destination port.
  const applied = await m(b, 'flow_collector_template_kv_applied_total');
  const TPL2 = set(0, v9TemplateRecord(256, [{ id: 8, len: 4 }, { id: 1, len: 4 }, { id: 2, len: 4 }, { id: 48, len: 1 }, { id: 11, len: 2 }]));
  await sendUdp(port(a), [v9Message([TPL2], { seq: 100 })], { host: '127.0.0.2' });
  await until(async () => (await m(b, 'flow_collector_template_kv_applied_total')) > applied, 'B applied the change');
  await until(async () => (await m(b, 'flow_collector_templates_total', 'event="changed"')) >= 2, 'both workers of B changed it');
  const before = flows(b).length;
  await sendUdp(port(b), [v9Message([set(256, [...ip4('10.200.0.1'), ...u32(7), ...u32(1), ...u8(1), 0x1f, 0x90], true)], { seq: 101 })], { host: '127.0.0.2' });
  await until(() => flows(b).length === before + 1, 'B decodes data in the new layout');
  const f = flows(b).at(-1)!;
  assert.equal(f.src_addr, '10.200.0.1');
  assert.equal(f.dst_port, 8080);
  assert.equal(f.bytes, 7);

  // 3b. IPFIX: a template learned by A, then withdrawn by A, is withdrawn on B.
  const ipfixTpl = set(2, ipfixTemplateRecord(300, [{ id: 8, len: 4 }, { id: 1, len: 8 }]));
  const ipfixData = (v: number) => ipfixMessage([set(300, [...ip4('10.30.0.1'), ...u32(0), ...u32(v)])], { seq: v, domain: 7 });
  await sendUdp(port(a), [ipfixMessage([ipfixTpl], { domain: 7 })], { host: '127.0.0.3' });
  await until(async () => (await m(b, 'flow_collector_templates_total', 'event="learned"')) >= 2 * 3, 'B learned the IPFIX template (after 256 and 400)');
  const nb = flows(b).length;
  await sendUdp(port(b), [ipfixData(1)], { host: '127.0.0.3' });
  await until(() => flows(b).length === nb + 1, 'B decodes the IPFIX data');
  await sendUdp(port(a), [ipfixMessage([set(2, [...u32(300 << 16)])], { domain: 7, seq: 2 })], { host: '127.0.0.3' });
  await until(async () => (await m(b, 'flow_collector_templates_total', 'event="withdrawn"')) >= 2, 'B withdrew it in both workers');
  const missing = await m(b, 'flow_collector_templates_total', 'event="missing"');
  await sendUdp(port(b), [ipfixData(2)], { host: '127.0.0.3' });
  await until(async () => (await m(b, 'flow_collector_templates_total', 'event="missing"')) > missing, 'data for the withdrawn template is missing on B');
  assert.equal(flows(b).length, nb + 1);
  const nc2 = await client(n.url);
  const e = await (await new Kvm(nc2).open('kv1')).get('nf.ipfix.127_0_0_3.7.t.300');
  await nc2.close();
  assert.ok(e === null || e.operation !== 'PUT', 'the key is deleted');
  await c.stop();
});
