/**
 * `flow-collector serve` publishing to real nats-server 2.9.10 processes started here on
 * ephemeral ports: every flow in the stream exactly once and field by field as sent, a server
 * killed mid-stream and restarted, mTLS with an openssl CA, operator-mode .creds, a refused
 * subject reported, and batches under max_payload.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { credsAuthenticator } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { encodeAccount, encodeOperator, encodeUser, fmtCreds } from '@nats-io/jwt';
import { createAccount, createOperator, createUser } from '@nats-io/nkeys';
import { decodeFlowBatch, decodeFlowMessage } from '../src/mod.js';
import { makeTempDir, skipUnlessCommands } from './support/tools.js';
import { httpGet, metric, scrape, sendUdp, startServe, until, type ServeProcess } from './support/serve.js';
import { client, haveNatsServer, makePki, mtlsClientOpts, mtlsServerConf, operatorMaterial, readStream, startNatsCluster, startNatsServer, type NatsServer, type OperatorUser } from './support/nats.js';
import { v5Message } from './support/export-builder.js';

const skip = haveNatsServer ? false : 'nats-server is not installed';
const tmp = makeTempDir('fc-nats-');
const servers: NatsServer[] = [];
const running: ServeProcess[] = [];
after(async () => {
  for (const s of running) await s.stop('SIGKILL');
  for (const n of servers) await n.stop().catch(() => {});
  tmp.cleanup();
});

const root = new protobuf.Root().loadSync(fileURLToPath(new URL('../../proto/flow.proto', import.meta.url)), { keepCase: true });
const FlowMessage = root.lookupType('flowpb.FlowMessage');

async function nats(name: string, conf?: string, clientOpts = {}): Promise<NatsServer> {
  const n = await startNatsServer(join(tmp.dir, name), { conf }, clientOpts);
  servers.push(n);
  return n;
}

async function serve(name: string, lines: string[]): Promise<ServeProcess> {
  const cfg = join(tmp.dir, `${name}.yaml`);
  writeFileSync(cfg, lines.join('\n') + '\n');
  const s = await startServe(['--config', cfg]);
  running.push(s);
  return s;
}

/**
 * NetFlow v5 datagram `seq` with `n` records. Record k: 10.<seq / 256>.<seq % 256>.<k> ->
 * 172.16.<k>.1, ports 1000+k -> 2000+seq%1000, proto 6 or 17, packets k+1, bytes 1000*seq+k.
 */
function v5(seq: number, n: number): Buffer {
  const recs = Array.from({ length: n }, (_, k) => ({
    src: [10, (seq >> 8) & 255, seq & 255, k],
    dst: [172, 16, k, 1],
    input: 3 + k,
    output: 7,
    packets: k + 1,
    bytes: 1000 * seq + k,
    srcPort: 1000 + k,
    dstPort: 2000 + (seq % 1000),
    proto: k % 2 === 0 ? 6 : 17,
  }));
  return v5Message(recs, seq * n);
}

/** Datagrams from..from+count-1 of v5(), n records each. */
function v5Range(from: number, count: number, n: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => v5(from + i, n));
}

/** Sends `msgs` to `port` (10 at a time, 5 ms apart) while `action` happens 100 ms into the sending. */
async function sendWhile(port: number, msgs: Buffer[], action: () => Promise<unknown>): Promise<void> {
  await Promise.all([
    sendUdp(port, msgs, { every: 10, pauseMs: 5 }),
    (async () => {
      await new Promise((r) => setTimeout(r, 100));
      await action();
    })(),
  ]);
}

/** Waits until every one of `total` flows is delivered (acknowledged) or counted dropped. */
async function settled(s: ServeProcess, total: number, ms: number): Promise<void> {
  await until(
    async () => {
      const m = await scrape(s.metricsUrl);
      return metric(m, 'flow_collector_flows_delivered_total') + metric(m, 'flow_collector_flows_dropped_total') === total;
    },
    'every flow acknowledged or counted dropped',
    ms,
  ).catch((e) => explain(s, e));
}

/** The key of a flow sent by v5(): "seq/k". */
const keyOf = (src: number[]) => `${src[1]! * 256 + src[2]!}/${src[3]!}`;

/** Decodes every flow of a stream with protobufjs and checks each against what v5() sent. */
function checkFlows(flows: Record<string, any>[], datagrams: number, per: number): Map<string, number> {
  const seen = new Map<string, number>();
  for (const f of flows) {
    const src = Array.from(f['src_addr'] as Uint8Array);
    const key = keyOf(src);
    seen.set(key, (seen.get(key) ?? 0) + 1);
    const seq = src[1]! * 256 + src[2]!;
    const k = src[3]!;
    assert.ok(seq < datagrams && k < per, `unexpected flow ${key}`);
    assert.equal(f['type'], 2, 'NETFLOW_V5');
    assert.deepEqual(Array.from(f['dst_addr'] as Uint8Array), [172, 16, k, 1]);
    assert.deepEqual(Array.from(f['sampler_address'] as Uint8Array), [127, 0, 0, 1]);
    assert.equal(Number(f['bytes']), 1000 * seq + k);
    assert.equal(Number(f['packets']), k + 1);
    assert.equal(f['src_port'], 1000 + k);
    assert.equal(f['dst_port'], 2000 + (seq % 1000));
    assert.equal(f['proto'], k % 2 === 0 ? 6 : 17);
    assert.equal(f['in_if'], 3 + k);
    assert.equal(f['out_if'], 7);
    assert.equal(f['etype'], 0x800);
    assert.equal(f['sequence_num'], seq * per);
    // Flow start: boot = 1_700_000_000 - 3600 s; start = boot + 3500 s.
    assert.equal(BigInt(f['time_flow_start_ns'].toString()), (1_700_000_000n - 100n) * 1_000_000_000n);
  }
  return seen;
}

/** Every flow in the stream's messages (as readStream returns them: flowpb batches or single frames). */
function decodeAll(msgs: { data: Uint8Array; header?: any }[]): Record<string, any>[] {
  const out: Record<string, any>[] = [];
  for (const m of msgs) for (const f of decodeFlowBatch({ data: m.data, headers: m.header })) out.push(FlowMessage.toObject(FlowMessage.decode(f), { longs: String, bytes: Uint8Array as any, defaults: true }));
  return out;
}

/** On a failed wait: the collector's log and NATS/flow metrics, for the test output. */
async function explain(s: ServeProcess, err: unknown): Promise<never> {
  const m = await scrape(s.metricsUrl).catch(() => new Map<string, number>());
  console.log(JSON.stringify({ logs: s.logs.filter((l) => l['level'] !== 'info' || /nats/.test(l['msg'])), metrics: [...m].filter(([k, v]) => v !== 0 && /nats|flows_|queue/.test(k)) }, null, 1));
  throw err;
}

/** serve's configuration against `url` (servers, comma-separated), its stream with `replicas`; `extra` lines go under nats. */
const base = (url: string, extra: string[] = [], replicas = 1) => [
  'listeners:',
  '  - { name: netflow, address: 127.0.0.1, port: 0, protocol: netflow, subject: flows.raw.netflow }',
  'workers: 2',
  'metrics: { address: 127.0.0.1:0 }',
  'logging: { warn_interval_s: 1 }',
  'shutdown: { drain_timeout_ms: 10000 }',
  'nats:',
  `  servers: [${url}]`,
  `  stream: { name: FLOWS, subjects: ["flows.>"]${replicas > 1 ? `, replicas: ${replicas}` : ''} }`,
  ...extra,
];

// Each test starts its own nats-server(s) and collectors and spends most of its time waiting
// (outages, reconnects, acknowledgements): three run at once (the file took ~85 s one at a time).
describe('serve publishing to NATS', { concurrency: 3 }, () => {
  test('serve -> NATS: every flow sent over UDP is in the stream exactly once, field by field', { skip }, async () => {
    const n = await nats('once');
    const s = await serve('once', [...base(n.url), 'outputs:', '  - { type: nats, format: flowpb-batch, batch_size: 25 }']);
    await until(async () => (await httpGet(`${s.metricsUrl}/readyz`)).status === 200, 'ready', 10_000);
    const D = 200;
    const P = 10;
    await sendUdp(s.listeners[0]!.port, Array.from({ length: D }, (_, i) => v5(i, P)), { every: 32 });
    await until(async () => metric(await scrape(s.metricsUrl), 'flow_collector_flows_delivered_total') === D * P, `${D * P} flows acknowledged`, 15_000).catch(async (e) => {
      console.log(s.logs, [...(await scrape(s.metricsUrl))].filter(([k]) => /nats|flows|queue/.test(k)));
      throw e;
    });
    const m = await scrape(s.metricsUrl);
    assert.equal(metric(m, 'flow_collector_flows_dropped_total'), 0);
    assert.equal(metric(m, 'flow_collector_nats_connected'), 2, 'both workers connected');
    assert.equal(await s.stop('SIGTERM'), 0);
    const stopped = s.logs.find((l) => l['msg'] === 'flow-collector stopped')!;
    assert.equal(stopped['delivered'], D * P);
    assert.equal(stopped['dropped'], 0);

    const nc = await client(n.url);
    const msgs = await readStream(nc, 'FLOWS');
    await nc.close();
    for (const msg of msgs) {
      assert.equal(msg.subject, 'flows.raw.netflow');
      assert.equal(msg.header.get('Flow-Format'), 'flowpb-batch');
      const count = Number(msg.header.get('Flow-Count'));
      assert.ok(count >= 1 && count <= 25);
      assert.match(msg.header.get('Nats-Msg-Id'), /^[0-9a-f]{8}-[0-9a-z]+-w[01]-\d+$/);
    }
    const flows = decodeAll(msgs);
    assert.equal(flows.length, D * P);
    const seen = checkFlows(flows, D, P);
    assert.equal(seen.size, D * P);
    assert.ok([...seen.values()].every((c) => c === 1), 'no flow twice');
    // The package's own decoder agrees with protobufjs on every flow.
    let i = 0;
    for (const msg of msgs) {
      for (const frame of decodeFlowBatch({ data: msg.data, headers: msg.header })) {
        const mine = decodeFlowMessage(frame);
        const ref = flows[i++]!;
        assert.equal(mine['bytes'] ?? 0, Number(ref['bytes']));
        assert.equal(mine['packets'], Number(ref['packets']));
        assert.deepEqual(mine['src_addr'], ref['src_addr']);
        assert.equal(mine['dst_port'], ref['dst_port']);
        assert.equal(mine['time_flow_start_ns'], BigInt(ref['time_flow_start_ns']));
      }
    }
  });

  /** How long the server stays down in the outage test (the issue asks for 20 s). */
  const OUTAGE_MS = 20_000;
  /** How long the killed stream leader stays down in the cluster test. */
  const CLUSTER_OUTAGE_MS = 3000;

  test(`server SIGKILLed mid-stream for ${OUTAGE_MS / 1000} s and restarted on its store: serve keeps receiving, is not ready meanwhile, publishes again; every flow stored once or counted dropped`, { skip }, async () => {
    const n = await nats('outage');
    const s = await serve('outage', [...base(n.url, ['  publish_timeout_ms: 2000']), 'outputs:', '  - { type: nats, batch_size: 20 }']);
    await until(async () => (await httpGet(`${s.metricsUrl}/readyz`)).status === 200, 'ready', 10_000);
    const port = s.listeners[0]!.port;
    const P = 10;
    const part = (from: number, count: number) => v5Range(from, count, P);
    // Part 1 is being sent when the server dies.
    await sendWhile(port, part(0, 300), () => n.kill());
    await until(async () => (await httpGet(`${s.metricsUrl}/readyz`)).status === 503, 'not ready while NATS is down', 5000);
    // Still receiving and decoding while NATS is down.
    await sendUdp(port, part(300, 100), { every: 20 });
    await until(async () => metric(await scrape(s.metricsUrl), 'flow_collector_flows_decoded_total') === 400 * P, 'decoded while NATS is down', 5000);
    const down = await scrape(s.metricsUrl);
    assert.equal(metric(down, 'flow_collector_nats_connected'), 0);
    assert.ok(metric(down, 'flow_collector_queue_bytes') > 0, 'flows wait in the queue');
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    await n.restart();
    await sendUdp(port, part(400, 100), { every: 20 });
    const total = 500 * P;
    await settled(s, total, 40_000);
    // A worker with nothing to publish reconnects on its own schedule (reconnect wait + jitter), so
    // it may come back after the busy worker's flows are all acknowledged: wait for it.
    await until(async () => metric(await scrape(s.metricsUrl), 'flow_collector_nats_reconnects_total') >= 2, 'each worker reconnected', 15_000);
    await until(async () => metric(await scrape(s.metricsUrl), 'flow_collector_nats_connected') === 2, 'both workers connected again', 10_000);
    const m = await scrape(s.metricsUrl);
    assert.equal((await httpGet(`${s.metricsUrl}/readyz`)).status, 200);
    const delivered = metric(m, 'flow_collector_flows_delivered_total');
    const dropped = metric(m, 'flow_collector_flows_dropped_total');
    assert.equal(await s.stop('SIGTERM'), 0);
    assert.equal(s.proc.exitCode, 0);

    const nc = await client(n.url);
    const msgs = await readStream(nc, 'FLOWS');
    await nc.close();
    const flows = decodeAll(msgs);
    const seen = checkFlows(flows, 500, P);
    assert.ok([...seen.values()].every((c) => c === 1), 'no flow stored twice');
    assert.equal(flows.length, delivered, 'the stream holds exactly the acknowledged flows');
    assert.equal(flows.length + dropped, total);
    // Nothing had to be dropped: the queue held the outage.
    if (dropped !== 0) await explain(s, new Error(`${dropped} flows dropped`));
  });

  test('mTLS with an openssl CA (the certificate is the user); a subject the user may not publish to is reported by name and its flows counted rejected', { skip: skip || skipUnlessCommands('openssl') }, async () => {
    const pki = makePki(join(tmp.dir, 'pki'));
    const conf = mtlsServerConf(pki, ['flows.raw.>', '$JS.API.>']);
    const tlsOpts = mtlsClientOpts(pki);
    const n = await nats('mtls', conf, tlsOpts);
    // Without a client certificate the server refuses the connection.
    await assert.rejects(client(n.url, { ...mtlsClientOpts(pki, false), reconnect: false }));
    const s = await serve('mtls', [
      'listeners:',
      '  - { name: allowed, address: 127.0.0.1, port: 0, protocol: netflow, subject: flows.raw.netflow }',
      '  - { name: denied, address: 127.0.0.1, port: 0, protocol: netflow, subject: secret.raw }',
      'workers: 1',
      'metrics: { address: 127.0.0.1:0 }',
      'logging: { warn_interval_s: 1 }',
      'nats:',
      `  servers: [${n.url}]`,
      `  tls: { ca_file: "${pki.ca}", cert_file: "${pki.clientCert}", key_file: "${pki.clientKey}" }`,
      '  stream: { name: FLOWS, subjects: ["flows.>", "secret.>"] }',
      'outputs:',
      '  - { type: nats, batch_size: 10 }',
    ]);
    await until(async () => (await httpGet(`${s.metricsUrl}/readyz`)).status === 200, 'ready over mTLS', 10_000);
    await sendUdp(s.listeners[0]!.port, Array.from({ length: 20 }, (_, i) => v5(i, 5)));
    await sendUdp(s.listeners[1]!.port, Array.from({ length: 4 }, (_, i) => v5(100 + i, 5)));
    await until(
      async () => {
        const m = await scrape(s.metricsUrl);
        return metric(m, 'flow_collector_flows_delivered_total') === 100 && metric(m, 'flow_collector_flows_dropped_total', 'reason="rejected"') === 20;
      },
      '100 flows stored, 20 rejected',
      15_000,
    );
    const m = await scrape(s.metricsUrl);
    assert.ok(metric(m, 'flow_collector_nats_publish_failures_total', 'reason="permission"') >= 2);
    await until(async () => s.logs.some((l) => l['subject'] === 'secret.raw' && /publish permission/.test(l['msg'])), 'the refused subject in the log', 5000);
    const log = s.logs.find((l) => l['subject'] === 'secret.raw')!;
    assert.equal(log['level'], 'error');
    assert.match(log['msg'], /secret\.raw/);
    assert.equal(await s.stop('SIGTERM'), 0);
    const nc = await client(n.url, tlsOpts);
    const msgs = await readStream(nc, 'FLOWS');
    await nc.close();
    assert.ok(msgs.every((x) => x.subject === 'flows.raw.netflow'));
    assert.equal(decodeAll(msgs).length, 100);
  });

  test('operator-mode .creds file (signed with @nats-io/jwt); an existing stream gets the missing subject and keeps its settings; batches stay under max_payload', { skip }, async () => {
    const op = createOperator();
    const sys = createAccount();
    const acct = createAccount();
    const user = createUser();
    const opJwt = await encodeOperator('test-op', op, { system_account: sys.getPublicKey() });
    const sysJwt = await encodeAccount('SYS', sys, {}, { signer: op });
    const acctJwt = await encodeAccount('FLOWS', acct, { limits: { disk_storage: -1, mem_storage: -1, streams: -1, consumer: -1, conn: -1, subs: -1, data: -1, payload: -1, imports: -1, exports: -1, leaf: -1, wildcards: true } as any }, { signer: op });
    const userJwt = await encodeUser('flow-collector', user, acct, { pub: { allow: ['flows.>', '$JS.API.>'] }, sub: { allow: ['_INBOX.>'] } } as any);
    const creds = join(tmp.dir, 'fc.creds');
    writeFileSync(creds, fmtCreds(userJwt, user));
    const MAX_PAYLOAD = 4096;
    const conf = [
      `operator: ${opJwt}`,
      `system_account: ${sys.getPublicKey()}`,
      'resolver: MEMORY',
      `resolver_preload: { ${sys.getPublicKey()}: ${sysJwt}, ${acct.getPublicKey()}: ${acctJwt} }`,
      `max_payload: ${MAX_PAYLOAD}`,
    ].join('\n');
    const auth = { authenticator: credsAuthenticator(readFileSync(creds)) };
    const n = await nats('creds', conf, auth);
    // Without credentials the server refuses.
    await assert.rejects(client(n.url, { reconnect: false }));
    // The operator made the stream already, with other settings and another subject.
    const nc0 = await client(n.url, auth);
    const jsm = await jetstreamManager(nc0);
    await jsm.streams.add({ name: 'FLOWS', subjects: ['other.>'], max_bytes: 50 * 1024 * 1024, storage: 'file' as any });
    await nc0.close();

    const s = await serve('creds', [
      ...base(n.url, [`  creds_file: ${creds}`]),
      'outputs:',
      // Asks for 1 MiB batches of 1000 flows: the server's max_payload must win.
      '  - { type: nats, batch_size: 1000, max_batch_bytes: 1048576 }',
    ]);
    await until(async () => (await httpGet(`${s.metricsUrl}/readyz`)).status === 200, 'ready with .creds', 10_000);
    const D = 100;
    const P = 30;
    await sendUdp(s.listeners[0]!.port, Array.from({ length: D }, (_, i) => v5(i, P)));
    await until(async () => metric(await scrape(s.metricsUrl), 'flow_collector_flows_delivered_total') === D * P, 'all flows stored', 15_000);
    assert.equal(await s.stop('SIGTERM'), 0);
    assert.ok(s.logs.some((l) => l['msg'] === 'nats: added subjects to stream FLOWS' && l['added']?.includes('flows.>')));
    assert.ok(s.logs.some((l) => /exists with other settings/.test(l['msg']) && l['differences']?.['max_bytes']?.['stream'] === 50 * 1024 * 1024));

    const nc = await client(n.url, auth);
    const info = await (await jetstreamManager(nc)).streams.info('FLOWS');
    assert.deepEqual(info.config.subjects, ['other.>', 'flows.>']);
    assert.equal(info.config.max_bytes, 50 * 1024 * 1024, "the operator's setting is kept");
    const msgs = await readStream(nc, 'FLOWS');
    await nc.close();
    assert.ok(msgs.length > 1);
    for (const x of msgs) assert.ok(x.data.length <= MAX_PAYLOAD - 512, `a ${x.data.length}-byte message under max_payload ${MAX_PAYLOAD}`);
    const flows = decodeAll(msgs);
    assert.equal(flows.length, D * P);
    const seen = checkFlows(flows, D, P);
    assert.equal(seen.size, D * P);
  });

  test('starts while NATS is down: not ready, keeps decoding, drops past the queue bound by policy (counted), publishes once the server comes up', { skip }, async () => {
    const n = await nats('late');
    await n.kill();
    const s = await serve('late', [...base(n.url), 'queue: { max_bytes: 65536, drop_policy: drop_newest }', 'outputs:', '  - { type: nats, batch_size: 50 }']);
    assert.equal((await httpGet(`${s.metricsUrl}/readyz`)).status, 503);
    const D = 400;
    const P = 10;
    await sendUdp(s.listeners[0]!.port, Array.from({ length: D }, (_, i) => v5(i, P)), { every: 32 });
    await until(async () => metric(await scrape(s.metricsUrl), 'flow_collector_flows_decoded_total') === D * P, 'decoded while NATS is down', 10_000);
    // Open batches are cut every 100 ms; then the bound is reached.
    await until(async () => metric(await scrape(s.metricsUrl), 'flow_collector_flows_dropped_total', 'reason="queue_full"') > 0, 'drops past the bound', 5000);
    const m0 = await scrape(s.metricsUrl);
    assert.ok(metric(m0, 'flow_collector_queue_bytes') <= 2 * 65536);
    assert.equal(metric(m0, 'flow_collector_flows_delivered_total'), 0);
    await n.restart();
    await until(
      async () => {
        const m = await scrape(s.metricsUrl);
        return metric(m, 'flow_collector_flows_delivered_total') + metric(m, 'flow_collector_flows_dropped_total') === D * P;
      },
      'every flow stored or counted dropped',
      20_000,
    );
    // A worker that had no flows may still be waiting out its connect backoff (at most 5 s).
    await until(async () => (await httpGet(`${s.metricsUrl}/readyz`)).status === 200, 'ready once every worker is connected', 15_000);
    const m = await scrape(s.metricsUrl);
    const delivered = metric(m, 'flow_collector_flows_delivered_total');
    assert.ok(delivered > 0);
    assert.equal(metric(m, 'flow_collector_flows_dropped_total'), metric(m, 'flow_collector_flows_dropped_total', 'reason="queue_full"'));
    assert.equal(await s.stop('SIGTERM'), 0);
    const nc = await client(n.url);
    const flows = decodeAll(await readStream(nc, 'FLOWS'));
    await nc.close();
    assert.equal(flows.length, delivered);
    assert.ok([...checkFlows(flows, D, P).values()].every((c) => c === 1));
  });

  test('formats flowpb (one FlowMessage per message) and json, on subjects with {protocol} and {exporter}', { skip }, async () => {
    const n = await nats('formats');
    const s = await serve('formats', [
      'listeners:',
      '  - { name: nf, address: 127.0.0.1, port: 0, protocol: netflow, subject: "flows.{protocol}.{exporter}" }',
      'workers: 1',
      'metrics: { address: 127.0.0.1:0 }',
      'nats:',
      `  servers: [${n.url}]`,
      '  stream: { name: FLOWS, subjects: ["flows.>"] }',
      'outputs:',
      '  - { type: nats, format: flowpb }',
      '  - { type: nats, format: json }',
    ]);
    await until(async () => (await httpGet(`${s.metricsUrl}/readyz`)).status === 200, 'ready', 10_000);
    await sendUdp(s.listeners[0]!.port, Array.from({ length: 10 }, (_, i) => v5(i, 3)));
    await until(async () => metric(await scrape(s.metricsUrl), 'flow_collector_flows_delivered_total') === 60, '30 flows in each format', 10_000);
    const m = await scrape(s.metricsUrl);
    assert.equal(metric(m, 'flow_collector_nats_messages_acked_total'), 60, 'one message per flow');
    assert.equal(metric(m, 'flow_collector_nats_publish_latency_seconds_count'), 60);
    assert.equal(await s.stop('SIGTERM'), 0);
    const nc = await client(n.url);
    const msgs = await readStream(nc, 'FLOWS');
    await nc.close();
    assert.ok(msgs.every((x) => x.subject === 'flows.netflow_v5.127_0_0_1'));
    const pb = msgs.filter((x) => x.header.get('Flow-Format') === 'flowpb');
    const json = msgs.filter((x) => x.header.get('Flow-Format') === 'json');
    assert.equal(pb.length, 30);
    assert.equal(json.length, 30);
    assert.ok(msgs.every((x) => x.header.get('Flow-Count') === '1'));
    const seen = checkFlows(decodeAll(pb), 10, 3);
    assert.equal(seen.size, 30);
    const objs = json.map((x) => JSON.parse(Buffer.from(x.data).toString()) as Record<string, unknown>);
    assert.deepEqual(objs.map((o) => `${o['src_addr']}>${o['bytes']}`).sort(), Array.from({ length: 30 }, (_, i) => `10.0.${Math.floor(i / 3)}.${i % 3}>${1000 * Math.floor(i / 3) + (i % 3)}`).sort());
    assert.throws(() => decodeFlowBatch({ data: json[0]!.data, headers: json[0]!.header }), /JSON\.parse/);
  });

  test('traffic stops with a batch younger than max_batch_delay_ms: the ticks go on without datagrams until it is published', { skip }, async () => {
    const n = await nats('quiet');
    // 700 ms: several ticks (100 ms apart) find the batch too young and must be followed by more.
    const s = await serve('quiet', [...base(n.url), 'outputs:', '  - { type: nats, batch_size: 10000, max_batch_delay_ms: 700 }']);
    await until(async () => (await httpGet(`${s.metricsUrl}/readyz`)).status === 200, 'ready', 10_000);
    const port = s.listeners[0]!.port;
    await sendUdp(port, Array.from({ length: 5 }, (_, i) => v5(i, 10)));
    // A second group a moment later: every tick its datagrams' batches run (or the source's idle
    // signal after them) finds the open batch younger than 700 ms, and no more datagrams come.
    await new Promise((r) => setTimeout(r, 50));
    await sendUdp(port, Array.from({ length: 5 }, (_, i) => v5(5 + i, 10)));
    await until(async () => metric(await scrape(s.metricsUrl), 'flow_collector_flows_decoded_total') === 100, 'decoded', 5000);
    // Only the worker's timer can cut it once it is 700 ms old.
    await until(async () => metric(await scrape(s.metricsUrl), 'flow_collector_flows_delivered_total') === 100, 'published without more traffic', 5000);
    const nc = await client(n.url);
    const flows = decodeAll(await readStream(nc, 'FLOWS'));
    await nc.close();
    assert.equal(flows.length, 100);
  });

  test('SIGTERM: flows still in open batches are published and acknowledged before exit; the final log says so', { skip }, async () => {
    const n = await nats('drain');
    // Batches would wait 30 s: only the drain publishes them.
    const s = await serve('drain', [...base(n.url), 'outputs:', '  - { type: nats, batch_size: 10000, max_batch_delay_ms: 30000 }']);
    await until(async () => (await httpGet(`${s.metricsUrl}/readyz`)).status === 200, 'ready', 10_000);
    await sendUdp(s.listeners[0]!.port, Array.from({ length: 50 }, (_, i) => v5(i, 10)));
    await until(async () => metric(await scrape(s.metricsUrl), 'flow_collector_flows_decoded_total') === 500, 'decoded', 5000);
    assert.equal(metric(await scrape(s.metricsUrl), 'flow_collector_flows_delivered_total'), 0);
    assert.equal(await s.stop('SIGTERM'), 0);
    const stopped = s.logs.find((l) => l['msg'] === 'flow-collector stopped')!;
    assert.equal(stopped['delivered'], 500);
    assert.equal(stopped['dropped'], 0);
    const nc = await client(n.url);
    const flows = decodeAll(await readStream(nc, 'FLOWS'));
    await nc.close();
    assert.equal(flows.length, 500);
  });

  test('3-node JetStream cluster, R3 stream, its leader SIGKILLed mid-stream and restarted: every flow stored once or counted dropped', { skip }, async () => {
    const nodes = await startNatsCluster(join(tmp.dir, 'cluster'));
    servers.push(...nodes);
    const urls = nodes.map((x) => x.url);
    const s = await serve('cluster', [...base(urls.join(', '), ['  publish_timeout_ms: 2000'], 3), 'outputs:', '  - { type: nats, batch_size: 20 }']);
    await until(async () => (await httpGet(`${s.metricsUrl}/readyz`)).status === 200, 'ready (R3 stream created)', 20_000);
    const nc0 = await client(urls[0]!);
    const leaderName = (await (await jetstreamManager(nc0)).streams.info('FLOWS')).cluster?.leader;
    await nc0.close();
    const leader = nodes.find((_, i) => `n${i}` === leaderName)!;
    assert.ok(leader !== undefined, `stream leader ${leaderName} is one of ours`);
    const port = s.listeners[0]!.port;
    const P = 10;
    const part = (from: number, count: number) => v5Range(from, count, P);
    await sendWhile(port, part(0, 300), () => leader.kill());
    await sendUdp(port, part(300, 100), { every: 20 });
    await new Promise((r) => setTimeout(r, CLUSTER_OUTAGE_MS));
    await leader.restart();
    const total = 400 * P;
    await settled(s, total, 60_000);
    const m = await scrape(s.metricsUrl);
    const delivered = metric(m, 'flow_collector_flows_delivered_total');
    const dropped = metric(m, 'flow_collector_flows_dropped_total');
    assert.equal(await s.stop('SIGTERM'), 0);
    const alive = nodes.find((x) => x !== leader)!;
    const nc = await client(alive.url);
    const msgs = await readStream(nc, 'FLOWS');
    await nc.close();
    const flows = decodeAll(msgs);
    const seen = checkFlows(flows, 400, P);
    assert.ok([...seen.values()].every((c) => c === 1), 'no flow stored twice');
    assert.equal(flows.length, delivered);
    assert.equal(flows.length + dropped, total);
    if (dropped !== 0) await explain(s, new Error(`${dropped} flows dropped: retries should outlast the election`));
  });

  test('user + password and nkey seed file authenticate; a wrong password keeps the output not ready', { skip }, async () => {
    const nk = createUser();
    const seedFile = join(tmp.dir, 'fc.nk');
    writeFileSync(seedFile, `${new TextDecoder().decode(nk.getSeed())}\n`);
    const conf = `authorization { users = [ { user: fc, password: s3cret }, { nkey: ${nk.getPublicKey()} } ] }`;
    const n = await nats('auth', conf, { user: 'fc', pass: 's3cret' });
    const run = async (name: string, auth: string[], flows: number) => {
      const s = await serve(name, [...base(n.url, auth), 'outputs:', '  - { type: nats }']);
      await until(async () => (await httpGet(`${s.metricsUrl}/readyz`)).status === 200, `${name}: ready`, 10_000);
      await sendUdp(s.listeners[0]!.port, Array.from({ length: flows / 5 }, (_, i) => v5(i, 5)));
      await until(async () => metric(await scrape(s.metricsUrl), 'flow_collector_flows_delivered_total') === flows, `${name}: stored`, 10_000);
      assert.equal(await s.stop('SIGTERM'), 0);
    };
    await run('auth-user', ['  user: fc', '  password: s3cret'], 50);
    await run('auth-nkey', [`  nkey_seed_file: ${seedFile}`], 50);
    const bad = await serve('auth-bad', [...base(n.url, ['  user: fc', '  password: wrong']), 'outputs:', '  - { type: nats }']);
    await until(async () => bad.logs.some((l) => /cannot connect to NATS/.test(l['msg']) && /authoriz/i.test(String(l['error']))), 'the refusal logged', 10_000);
    assert.equal((await httpGet(`${bad.metricsUrl}/readyz`)).status, 503);
    assert.equal(await bad.stop('SIGTERM'), 0);
    const nc = await client(n.url, { user: 'fc', pass: 's3cret' });
    assert.equal((await readStream(nc, 'FLOWS')).length > 0, true);
    await nc.close();
  });

  test('the .creds file is read again on reconnect: rotated while the server is down, or after the server already refuses the old user; the collector comes back with the new user and every flow is stored once', { skip }, async () => {
    const op = await operatorMaterial();
    const [u1, u2, u3] = [await op.user('fc-1'), await op.user('fc-2'), await op.user('fc-3')];
    const creds = join(tmp.dir, 'rotate.creds');
    writeFileSync(creds, u1.creds);
    const opts = { conf: await op.conf() };
    // The test's own client (also the readiness check of a restart) uses the newest user.
    let newest = u1;
    const auth = { authenticator: credsAuthenticator(() => new TextEncoder().encode(newest.creds)) };
    const n = await startNatsServer(join(tmp.dir, 'rotate'), opts, auth);
    servers.push(n);
    const s = await serve('rotate', [...base(n.url, [`  creds_file: ${creds}`, '  publish_timeout_ms: 2000']), 'outputs:', '  - { type: nats, batch_size: 20 }']);
    await until(async () => (await httpGet(`${s.metricsUrl}/readyz`)).status === 200, 'ready with the first user', 10_000);
    const port = s.listeners[0]!.port;
    const P = 10;
    const part = (from: number, count: number) => v5Range(from, count, P);
    const delivered = async (flows: number, what: string) =>
      until(async () => metric(await scrape(s.metricsUrl), 'flow_collector_flows_delivered_total') === flows, what, 40_000).catch((e) => explain(s, e));
    const refused = (u: OperatorUser) => assert.rejects(client(n.url, { reconnect: false, authenticator: credsAuthenticator(new TextEncoder().encode(u.creds)) }), /authoriz/i);

    await sendUdp(port, part(0, 100), { every: 20 });
    await delivered(100 * P, 'part 1 stored with fc-1');

    // 1. While the server is down the file gets fc-2 and the server comes back refusing fc-1.
    await n.kill();
    writeFileSync(creds, u2.creds);
    newest = u2;
    opts.conf = await op.conf([u1.pub]);
    await n.restart();
    await refused(u1);
    await sendUdp(port, part(100, 100), { every: 20 });
    await delivered(200 * P, 'part 2 stored after the reconnect with fc-2');
    // Both workers came back through the client's own reconnect (which reads the file each
    // time), not by closing and connecting anew.
    await until(async () => metric(await scrape(s.metricsUrl), 'flow_collector_nats_reconnects_total') >= 2, 'each worker reconnected', 20_000).catch((e) => explain(s, e));
    assert.ok(!s.logs.some((l) => /connection closed/.test(String(l['msg']))), 'no connection was closed and made anew');

    // 2. The server comes back refusing fc-2 before the file changes: reconnects fail (logged),
    //    flows wait in the queue; once the file has fc-3 the collector gets in again.
    const logsBefore = s.logs.length;
    await n.kill();
    newest = u3;
    opts.conf = await op.conf([u1.pub, u2.pub]);
    await n.restart();
    await refused(u2);
    await sendUdp(port, part(200, 100), { every: 20 });
    await until(async () => metric(await scrape(s.metricsUrl), 'flow_collector_flows_decoded_total') === 300 * P, 'part 3 decoded while refused', 10_000);
    await until(async () => s.logs.slice(logsBefore).some((l) => l['level'] !== 'info' && /authoriz/i.test(JSON.stringify(l))), 'the refusal of fc-2 logged', 20_000).catch((e) => explain(s, e));
    assert.ok(metric(await scrape(s.metricsUrl), 'flow_collector_flows_delivered_total') < 300 * P, 'nothing of part 3 stored with a revoked user');
    writeFileSync(creds, u3.creds);
    await delivered(300 * P, 'part 3 stored after the file got fc-3');
    await until(async () => metric(await scrape(s.metricsUrl), 'flow_collector_nats_connected') === 2, 'both workers connected with fc-3', 20_000).catch((e) => explain(s, e));
    const m = await scrape(s.metricsUrl);
    assert.equal(metric(m, 'flow_collector_flows_dropped_total'), 0);
    assert.equal(await s.stop('SIGTERM'), 0);

    const nc = await client(n.url, auth);
    const msgs = await readStream(nc, 'FLOWS');
    await nc.close();
    const flows = decodeAll(msgs);
    const seen = checkFlows(flows, 300, P);
    assert.equal(seen.size, 300 * P);
    assert.ok([...seen.values()].every((c) => c === 1), 'no flow stored twice');
  });
});
