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
 * 5. A watch consumer lost on the server (deleted, as a node loss does) while the connection
 *    stays: the store restarts the watch within seconds (the client alone takes a minute).
 *    Every value expired (a TTL): a collector on the empty bucket does not take it for a stalled watch.
 * 6. mTLS with an openssl CA, and an operator-mode .creds file, each with exactly the
 *    permissions docs/deploy.md lists.
 * 7. A 3-node cluster with an R3 bucket, one node killed: sharing carries on.
 * 8. Scale-out: three collectors on one shared port spread at random, softflowd (NetFlow v9) and
 *    pmacctd (IPFIX) exporting to it: every flow decoded, none twice.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kvm } from '@nats-io/kv';
import { credsAuthenticator } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { udpFrame, writePcap } from '../src/capture/mod.js';
import { ExporterTable, FlowDecoder, type FlowRecord } from '../src/decode/mod.js';
import { JsonEncoder } from '../src/encode/mod.js';
import { makeTempDir, skipUnlessCommands } from './support/tools.js';
import { metric, scrape, sendUdp, startServe, until, type ServeProcess } from './support/serve.js';
import { client, haveNatsServer, makePki, mtlsClientOpts, mtlsServerConf, operatorMaterial, startNatsCluster, startNatsServer, type NatsServer } from './support/nats.js';
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
async function collector(name: string, urls: string[], bucket: string, o: { port?: number; shared?: boolean; spread?: string; replicas?: number; workers?: number; ttlS?: number; extra?: string[] } = {}): Promise<ServeProcess> {
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
      ...(o.ttlS !== undefined ? [`  kv_ttl_s: ${o.ttlS}`] : []),
      `  servers: [${urls.map((u) => JSON.stringify(u)).join(', ')}]`,
      ...(o.extra ?? []),
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

/** Waits until both collectors' template stores are connected to NATS. */
function kvConnected(a: ServeProcess, b: ServeProcess, timeoutMs?: number): Promise<void> {
  const connected = async (s: ServeProcess) => (await m(s, 'flow_collector_template_kv_connected')) === 1;
  return until(async () => (await connected(a)) && (await connected(b)), 'both connected', timeoutMs);
}

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

// Each test starts its own nats-server(s) and collectors and spends most of its time waiting
// (watches, expiry, outages): three run at once (the file took ~80 s one at a time).
describe('the nats_kv template store between collectors', { concurrency: 3 }, () => {
  test('template and sampler table to A only, data to B only: B decodes every record with the sampling rate; keys in the documented format', { skip }, async () => {
    const n = await startNatsServer(join(tmp.dir, 'n1'));
    servers.push(n);
    const a = await collector('a', [n.url], 'kv1');
    const b = await collector('b', [n.url], 'kv1');
    await kvConnected(a, b);
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

  test('NATS stopped: both keep decoding what they know; a template learned meanwhile reaches the other when NATS is back', { skip }, async () => {
    const n = await startNatsServer(join(tmp.dir, 'n2'));
    servers.push(n);
    const a = await collector('a2', [n.url], 'kv2');
    const b = await collector('b2', [n.url], 'kv2');
    await kvConnected(a, b);
    const host = '127.0.0.4';
    await sendUdp(port(a), [v9Message([OPT_TPL, OPT_DATA, TPL], { seq: 0 })], { host });
    await until(async () => (await m(b, 'flow_collector_template_kv_applied_total')) >= 3, 'B has the templates and the sampler table');

    await n.kill();
    await until(async () => (await m(a, 'flow_collector_template_kv_connected')) === 0 && (await m(b, 'flow_collector_template_kv_connected')) === 0, 'both see NATS gone');
    // What they know keeps decoding; readiness does not depend on the store.
    await sendUdp(port(b), [data256(1, 4)], { host });
    await until(() => flows(b).length === 4, 'B decodes with what it knows');
    for (const s of [a, b]) {
      const r = await fetch(`${s.metricsUrl}/readyz`);
      assert.equal(r.status, 200);
      const body = (await r.json()) as { checks: Record<string, { ok: boolean; detail: string }> };
      assert.equal(body.checks['template_store']!.ok, false);
      assert.match(body.checks['template_store']!.detail, /not required for readiness/);
    }
    // A learns template 257 while NATS is down; B gets its data first (pending).
    const TPL257 = set(0, v9TemplateRecord(257, [{ id: 8, len: 4 }, { id: 1, len: 4 }]));
    await sendUdp(port(a), [v9Message([TPL257], { seq: 2 })], { host });
    await sendUdp(port(b), [v9Message([set(257, [...ip4('10.57.0.1'), ...u32(5700)], true)], { seq: 3 })], { host });
    await until(async () => (await m(a, 'flow_collector_template_kv_outbox')) >= 1, 'A holds the write');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(flows(b).length, 4, 'not decodable yet');

    await n.restart();
    await until(() => flows(b).length === 5, 'B decodes the waiting data once NATS is back', 30_000);
    const f = flows(b).at(-1)!;
    assert.equal(f.src_addr, '10.57.0.1');
    assert.equal(f.bytes, 5700);
    assert.ok((await m(a, 'flow_collector_template_kv_reconnects_total')) >= 1);
    assert.ok((await m(a, 'flow_collector_template_kv_backend_errors_total')) + (await m(a, 'flow_collector_template_kv_writes_total', 'op="put"')) >= 4);
    await Promise.all([a.stop(), b.stop()]);
  });

  test('a watch consumer lost on the server: the store notices the bucket is ahead and starts the watch again', { skip }, async () => {
    const n = await startNatsServer(join(tmp.dir, 'n5'));
    servers.push(n);
    const a = await collector('a5', [n.url], 'kv5', { workers: 1 });
    const b = await collector('b5', [n.url], 'kv5', { workers: 1 });
    await kvConnected(a, b);
    const host = '127.0.0.6';
    await sendUdp(port(a), [v9Message([TPL], { seq: 0 })], { host });
    await until(async () => (await m(b, 'flow_collector_template_kv_applied_total')) >= 1, 'B has template 256 through its watch');
    // What a node loss does to a watch whose consumer lived there, while the connection stays.
    const nc = await client(n.url);
    const jsm = await jetstreamManager(nc);
    let deleted = 0;
    for await (const ci of jsm.consumers.list('KV_kv5')) deleted += (await jsm.consumers.delete('KV_kv5', ci.name)) ? 1 : 0;
    await nc.close();
    assert.equal(deleted, 2, 'the two watch consumers');
    const TPL259 = set(0, v9TemplateRecord(259, [{ id: 8, len: 4 }, { id: 1, len: 4 }]));
    await sendUdp(port(a), [v9Message([TPL259], { seq: 1 })], { host });
    await until(async () => (await m(a, 'flow_collector_template_kv_writes_total', 'op="put"')) >= 2, 'A wrote template 259');
    // The client alone would notice after two missed 30 s heartbeats; B asks for nothing (no data).
    await until(async () => (await m(b, 'flow_collector_template_kv_applied_total')) >= 2, "B's watch brings template 259", 25_000);
    assert.ok((await m(b, 'flow_collector_template_kv_watch_restarts_total')) >= 1);
    assert.equal(await m(b, 'flow_collector_template_kv_gets_total'), 0);
    await sendUdp(port(b), [v9Message([set(259, [...ip4('10.59.0.1'), ...u32(5900)], true)], { seq: 2 })], { host });
    await until(() => flows(b).some((f) => f.src_addr === '10.59.0.1' && f.bytes === 5900), 'B decodes data of template 259');
    await Promise.all([a.stop(), b.stop()]);
  });

  test('every value expired (kv_ttl_s): a collector started on the empty bucket sees nothing to restart its watch for', { skip }, async () => {
    const n = await startNatsServer(join(tmp.dir, 'n8'));
    servers.push(n);
    const a = await collector('a8', [n.url], 'kv8', { workers: 1, ttlS: 2 });
    await until(async () => (await m(a, 'flow_collector_template_kv_connected')) === 1, 'A connected');
    await sendUdp(port(a), [v9Message([TPL], { seq: 0 })], { host: '127.0.0.8' });
    await until(async () => (await m(a, 'flow_collector_template_kv_writes_total', 'op="put"')) >= 1, 'A wrote template 256');
    await a.stop();
    // The stream keeps its last sequence number with no message left.
    const nc = await client(n.url);
    const jsm = await jetstreamManager(nc);
    await until(async () => (await jsm.streams.info('KV_kv8')).state.messages === 0, 'the value expired', 15_000);
    assert.ok((await jsm.streams.info('KV_kv8')).state.last_seq >= 1);
    await nc.close();
    const c = await collector('c8', [n.url], 'kv8', { workers: 1, ttlS: 2 });
    await until(async () => (await m(c, 'flow_collector_template_kv_loaded')) === 1, 'C loaded the empty bucket');
    // Two checks 5 s apart would restart a watch the store thought behind.
    await new Promise((r) => setTimeout(r, 12_000));
    assert.equal(await m(c, 'flow_collector_template_kv_watch_restarts_total'), 0);
    await c.stop();
  });

  test('mTLS, the user holding exactly the permissions deploy.md lists: the bucket is made, written, watched and read', { skip: skip || skipUnlessCommands('openssl') }, async () => {
    const pki = makePki(join(tmp.dir, 'pki'));
    // docs/deploy.md's authorization block, for bucket kv7.
    const conf = mtlsServerConf(pki, ['flows.raw.>', 'flows.raw', '$JS.API.>', '$KV.kv7.>', '$JS.FC.>']);
    const n = await startNatsServer(join(tmp.dir, 'n7'), { conf }, mtlsClientOpts(pki));
    servers.push(n);
    // The nats section's TLS (and servers) serve the store too, as in a deployment.
    const extra = ['nats:', `  servers: [${JSON.stringify(n.url)}]`, `  tls: { ca_file: "${pki.ca}", cert_file: "${pki.clientCert}", key_file: "${pki.clientKey}" }`];
    await shareThroughBucket(n.url, 'kv7', '127.0.0.7', extra);
  });

  test('operator-mode .creds file, the user holding exactly the permissions deploy.md lists: the bucket is made, written, watched and read', { skip }, async () => {
    const op = await operatorMaterial();
    // docs/deploy.md's permissions, for bucket kv9 (a store directory, bucket and exporter address
    // of its own: the TTL test's server, still running, has n8 / kv8 / 127.0.0.8).
    const user = await op.user('flow-collector', { pub: ['flows.raw.>', 'flows.raw', '$JS.API.>', '$KV.kv9.>', '$JS.FC.>'], sub: ['_INBOX.>'] });
    const creds = join(tmp.dir, 'kv9.creds');
    writeFileSync(creds, user.creds);
    const n = await startNatsServer(join(tmp.dir, 'n9'), { conf: await op.conf() }, { authenticator: credsAuthenticator(new TextEncoder().encode(user.creds)) });
    servers.push(n);
    // The nats section's credentials serve the store too, as in a deployment.
    const extra = ['nats:', `  servers: [${JSON.stringify(n.url)}]`, `  creds_file: ${JSON.stringify(creds)}`];
    await shareThroughBucket(n.url, 'kv9', '127.0.0.9', extra);
  });

  /**
   * Two collectors with the settings `extra` (the nats section's servers and credentials) share
   * through `bucket`: A's template and sampler table reach B by the watch; a third collector started
   * later reads them by its preload; nobody's bucket operation is refused.
   */
  async function shareThroughBucket(url: string, bucket: string, host: string, extra: string[]): Promise<void> {
    const a = await collector(`a-${bucket}`, [url], bucket, { workers: 1, extra });
    const b = await collector(`b-${bucket}`, [url], bucket, { workers: 1, extra });
    await kvConnected(a, b);
    // Through the watch: template and sampler table to A; B applies them.
    await sendUdp(port(a), [v9Message([OPT_TPL, OPT_DATA, TPL], { seq: 0 })], { host });
    await until(async () => (await m(b, 'flow_collector_template_kv_applied_total')) >= 3, 'B applied the template and the sampler table');
    await sendUdp(port(b), [data256(1, 3)], { host });
    await until(() => flows(b).length === 3, "B decodes with A's template");
    assert.equal(flows(b)[0]!.sampling_rate, 100);
    // Through a look-up: a collector started after the write reads the bucket (its preload).
    const c = await collector(`c-${bucket}`, [url], bucket, { workers: 1, extra });
    await until(async () => (await m(c, 'flow_collector_template_kv_loaded')) === 1, 'C loaded the bucket');
    await sendUdp(port(c), [data256(2, 2)], { host });
    await until(() => flows(c).length === 2, 'C decodes without the exporter sending the template again');
    for (const s of [a, b, c]) assert.equal(await m(s, 'flow_collector_template_kv_backend_errors_total'), 0, 'nothing refused');
    await Promise.all([a.stop(), b.stop(), c.stop()]);
  }

  test('3-node cluster, R3 bucket, one node killed: sharing carries on', { skip }, async () => {
    const cluster = await startNatsCluster(join(tmp.dir, 'cluster'), 3);
    servers.push(...cluster);
    const urls = cluster.map((c) => c.url);
    const a = await collector('a3', urls, 'kv3', { replicas: 3 });
    const b = await collector('b3', urls, 'kv3', { replicas: 3 });
    await kvConnected(a, b, 30_000);
    const nc = await client(cluster[1]!.url);
    const st = await (await new Kvm(nc).open('kv3')).status();
    await nc.close();
    assert.equal(st.replicas, 3);
    const host = '127.0.0.5';
    await sendUdp(port(a), [v9Message([TPL], { seq: 0 })], { host });
    await until(async () => (await m(b, 'flow_collector_template_kv_applied_total')) >= 1, 'B has template 256', 20_000);

    await cluster[0]!.kill();
    const TPL258 = set(0, v9TemplateRecord(258, [{ id: 8, len: 4 }, { id: 1, len: 4 }]));
    await sendUdp(port(a), [v9Message([TPL258], { seq: 1 })], { host });
    await sendUdp(port(b), [v9Message([set(258, [...ip4('10.58.0.1'), ...u32(5800)], true)], { seq: 2 })], { host });
    try {
      await until(() => flows(b).some((f) => f.src_addr === '10.58.0.1' && f.bytes === 5800), 'B decodes data of the template A learned after the kill', 45_000);
    } catch (err) {
      const logs = (s: ServeProcess) => s.logs.filter((l) => String(l['msg']).startsWith('template store')).map((l) => JSON.stringify(l)).join('\n');
      throw new Error(`${(err as Error).message}\nA:\n${logs(a)}\nB:\n${logs(b)}\nA metrics: puts ${await m(a, 'flow_collector_template_kv_writes_total')} errors ${await m(a, 'flow_collector_template_kv_backend_errors_total')}; B applied ${await m(b, 'flow_collector_template_kv_applied_total')} gets ${await m(b, 'flow_collector_template_kv_gets_total')}`);
    }
    await sendUdp(port(b), [data256(3, 2)], { host });
    await until(() => flows(b).length === 3, 'and what it knew before');
    await Promise.all([a.stop(), b.stop()]);
  });

  test('scale-out: three collectors on one shared port spread at random, softflowd v9 and pmacctd IPFIX: every flow once', { skip: skip || skipUnlessCommands('softflowd') || pm.skipPmacct }, async () => {
    const n = await startNatsServer(join(tmp.dir, 'n4'));
    servers.push(n);
    const a = await collector('s1', [n.url], 'kv4', { shared: true, spread: 'random', workers: 1 });
    const p = port(a);
    const b = await collector('s2', [n.url], 'kv4', { port: p, shared: true, spread: 'random', workers: 1 });
    const c = await collector('s3', [n.url], 'kv4', { port: p, shared: true, spread: 'random', workers: 1 });
    const all = [a, b, c];
    for (const s of all) await until(async () => (await m(s, 'flow_collector_template_kv_connected')) === 1, 'connected');
    // Each process re-attaches the spread program for the whole group within 2 s of it changing.
    await new Promise((r) => setTimeout(r, 2500));

    // 1000 UDP flows of one packet each: enough flows for tens of export datagrams per exporter.
    const frames = Array.from({ length: 1000 }, (_, i) => ({
      data: udpFrame({ srcAddr: `10.9.${i >> 8}.${i & 255}`, dstAddr: '192.0.2.9', srcPort: 10_000 + i, dstPort: 53, payload: new Uint8Array(20 + (i % 50)) }),
      tsSec: sf.T0 + Math.floor(i / 500),
      tsFrac: (i % 500) * 2000,
    }));
    const pcap = join(tmp.dir, 'flows.pcap');
    writeFileSync(pcap, writePcap(frames));
    const [sfRun, pmRun] = await Promise.all([
      sf.exportWithSoftflowd(tmp.dir, pcap, ['-v', '9', '-A', 'milli'], p),
      pm.runPmacctd(tmp.dir, pm.nfprobeConf(pcap, 10, 1), { plugin: 'nfprobe', forwardTo: p }),
    ]);
    // The reference: the library decoder over every datagram the two exporters sent.
    const ref = new Map<string, number>();
    const json = new JsonEncoder();
    let total = 0;
    const keyOf = (f: Record<string, any>) => `${f.type} ${f.src_addr}:${f.src_port} > ${f.dst_addr}:${f.dst_port} ${f.proto} ${f.packets} ${f.bytes}`;
    const dec = new FlowDecoder({ sink: { onFlow: (r: FlowRecord) => {
      const k = keyOf(JSON.parse(json.encodeToString(r)));
      ref.set(k, (ref.get(k) ?? 0) + 1);
      total++;
    } } });
    const ex = new ExporterTable();
    for (const d of [...sfRun.datagrams, ...pmRun.datagrams]) dec.decode(d.data, 0, d.data.length, ex.get(d.address, d.port), 0, 0);
    assert.ok(total >= 1000 && sfRun.datagrams.length >= 10 && pmRun.datagrams.length >= 10, `reference: ${total} flows in ${sfRun.datagrams.length} + ${pmRun.datagrams.length} datagrams`);
    await until(() => all.reduce((s, x) => s + flows(x).length, 0) >= total, `the three collectors decode ${total} flows`, 60_000);
    await new Promise((r) => setTimeout(r, 500));
    const got = new Map<string, number>();
    for (const s of all) for (const f of flows(s)) got.set(keyOf(f), (got.get(keyOf(f)) ?? 0) + 1);
    assert.deepEqual(got, ref, 'every flow once');
    const datagrams = sfRun.datagrams.length + pmRun.datagrams.length;
    let received: number[] = [];
    // Counters come in the workers' once-a-second snapshots.
    await until(async () => {
      received = await Promise.all(all.map((s) => m(s, 'flow_collector_datagrams_received_total')));
      return received.reduce((x, y) => x + y, 0) >= datagrams;
    }, 'the datagram counters');
    assert.equal(received.reduce((x, y) => x + y, 0), datagrams, 'each datagram received once');
    assert.ok(received.filter((x) => x > 0).length >= 2, `spread over the processes: ${received.join(', ')} datagrams`);
    const restored = await Promise.all(all.map((s) => m(s, 'flow_collector_template_store_restored_flows_total')));
    console.log(`# scale-out: ${datagrams} datagrams, ${total} flows; datagrams per collector ${received.join('/')}; flows per collector ${all.map((s) => flows(s).length).join('/')}; restored through the store ${restored.join('/')}`);
    await Promise.all(all.map((s) => s.stop()));
  });
});
