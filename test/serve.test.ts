/**
 * `flow-collector serve` as a user runs it: a child process on ephemeral ports, fed datagrams
 * over real UDP sockets on 127.0.0.1, checked through its output, its metrics, its logs and its
 * exit codes. (Real exporters feeding serve: serve-exporters.test.ts.)
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { splitDelimited } from '../src/encode/mod.js';
import { AS_NOBODY, makeTempDir, nobodyCannotRead, skipUnlessAsNobody } from './support/tools.js';
import { CLI, httpGet, metric, runCli, scrape, sendBurst, sendUdp, startServe, until, type ServeProcess } from './support/serve.js';
import { lopsidedListener } from '../src/service/collector.js';
import { ip4, ipfixMessage, ipfixTemplateRecord, set, u16, u32, u8, v5Message, v9Message, v9TemplateRecord } from './support/export-builder.js';
import { datagram, flowSample, sampledIPv4 } from './support/sflow-builder.js';

const tmp = makeTempDir('fc-serve-');
after(() => tmp.cleanup());

const running: ServeProcess[] = [];
after(async () => {
  for (const s of running) await s.stop('SIGKILL');
});
async function serve(args: string[], env: NodeJS.ProcessEnv = {}, opts: Parameters<typeof startServe>[2] = {}): Promise<ServeProcess> {
  const s = await startServe(args, env, opts);
  running.push(s);
  return s;
}

// ---- datagrams ----

/** NetFlow v5 with `n` records; record k: 10.5.<seq>.<k> -> 10.6.0.1, bytes 100+k. */
function v5(n: number, seq = 0): Buffer {
  const recs = Array.from({ length: n }, (_, k) => ({ src: [10, 5, seq & 255, k], dst: [10, 6, 0, 1], packets: 1, bytes: 100 + k, srcPort: 40000 + k, dstPort: 443, proto: 6 }));
  return v5Message(recs, seq * n);
}

const IPFIX_FIELDS = [
  { id: 8, len: 4 },
  { id: 12, len: 4 },
  { id: 7, len: 2 },
  { id: 11, len: 2 },
  { id: 4, len: 1 },
  { id: 1, len: 8 },
  { id: 2, len: 8 },
];
function ipfixRecord(k: number): number[] {
  return [...ip4(`10.7.${(k >> 8) & 255}.${k & 255}`), ...ip4('10.8.0.1'), ...u16(1000 + (k % 1000)), ...u16(53), ...u8(17), ...u32(0), ...u32(500 + k), ...u32(0), ...u32(2)];
}
const ipfixTemplate = (domain = 1) => ipfixMessage([set(2, ipfixTemplateRecord(256, IPFIX_FIELDS))], { domain });
/** IPFIX data: `per` records numbered from `first`. */
const ipfixData = (first: number, per: number, domain = 1, seq = 0) =>
  ipfixMessage([set(256, Array.from({ length: per }, (_, j) => ipfixRecord(first + j)).flat())], { domain, seq });

const V9_FIELDS = [
  { id: 8, len: 4 },
  { id: 12, len: 4 },
  { id: 1, len: 4 },
  { id: 2, len: 4 },
  { id: 4, len: 1 },
];
const v9Template = () => v9Message([set(0, v9TemplateRecord(300, V9_FIELDS))], { sourceId: 7, count: 1 });
const v9Data = (first: number, per: number, seq = 0) =>
  v9Message([set(300, Array.from({ length: per }, (_, j) => [...ip4(`10.9.0.${(first + j) & 255}`), ...ip4('10.9.1.1'), ...u32(64 * (first + j + 1)), ...u32(1), ...u8(6)]).flat(), true)], { sourceId: 7, seq, count: per });

const sflow = () =>
  datagram([flowSample([sampledIPv4({ length: 1400, protocol: 6, src: '10.10.0.1', dst: '10.10.0.2', srcPort: 5000, dstPort: 80 })], { samplingRate: 512 })], { agent: '192.0.2.50' });

const lines = (b: Buffer) =>
  b
    .toString()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, any>);

// ---- tests ----

test('decodes NetFlow v5, v9, IPFIX and sFlow on one auto-detecting port; NDJSON on stdout; metrics agree; SIGTERM exits 0', async () => {
  const s = await serve(['--listen', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0', '--workers', '1']);
  assert.equal(s.listeners.length, 1);
  const port = s.listeners[0]!.port;
  assert.ok(port > 0);
  // Freed memory given back every 30 s (src/service/memory.ts; test/memory.test.ts).
  if (s.started['ingest_path'] === 'addon') assert.equal(s.started['malloc_trim'], 'every 30 s');
  await sendUdp(port, [v5(3), v9Template(), v9Data(0, 4), ipfixTemplate(), ipfixData(0, 2), sflow()]);
  await until(async () => metric(await scrape(s.metricsUrl), 'flow_collector_flows_decoded_total') === 10, '10 flows decoded');
  const m = await scrape(s.metricsUrl);
  assert.equal(metric(m, 'flow_collector_datagrams_received_total'), 6);
  assert.equal(metric(m, 'flow_collector_flows_decoded_total', 'protocol="netflow_v5"'), 3);
  assert.equal(metric(m, 'flow_collector_flows_decoded_total', 'protocol="netflow_v9"'), 4);
  assert.equal(metric(m, 'flow_collector_flows_decoded_total', 'protocol="ipfix"'), 2);
  assert.equal(metric(m, 'flow_collector_flows_decoded_total', 'protocol="sflow"'), 1);
  assert.equal(metric(m, 'flow_collector_templates_total', 'event="learned"'), 2);
  assert.equal(metric(m, 'flow_collector_decode_errors_total'), 0);
  assert.equal(metric(m, 'flow_collector_workers'), 1);
  assert.equal(metric(m, 'flow_collector_ready'), 1);
  assert.equal((await httpGet(`${s.metricsUrl}/healthz`)).status, 200);
  assert.equal((await httpGet(`${s.metricsUrl}/readyz`)).status, 200);
  assert.equal((await httpGet(`${s.metricsUrl}/nothing`)).status, 404);
  assert.equal(await s.stop('SIGTERM'), 0);
  const flows = lines(s.stdout());
  assert.equal(flows.length, 10);
  const by = (t: string) => flows.filter((f) => f['type'] === t);
  assert.deepEqual(by('NETFLOW_V5').map((f) => [f['src_addr'], f['bytes']]), [['10.5.0.0', 100], ['10.5.0.1', 101], ['10.5.0.2', 102]]);
  assert.deepEqual(by('NETFLOW_V9').map((f) => f['bytes']), [64, 128, 192, 256]);
  assert.deepEqual(by('IPFIX').map((f) => [f['src_addr'], f['dst_port'], f['packets']]), [['10.7.0.0', 53, 2], ['10.7.0.1', 53, 2]]);
  assert.deepEqual(by('SFLOW_5').map((f) => [f['src_addr'], f['dst_port'], f['sampling_rate'], f['sampler_address']]), [['10.10.0.1', 80, 512, '192.0.2.50']]);
  assert.ok(flows.every((f) => f['type'] === 'SFLOW_5' || f['sampler_address'] === '127.0.0.1'));
  const stopped = s.logs.find((l) => l['msg'] === 'flow-collector stopped')!;
  assert.equal(stopped['datagrams'], 6);
  assert.equal(stopped['flows'], 10);
  assert.equal(stopped['delivered'], 10);
  assert.equal(stopped['dropped'], 0);
});

test('spread: random over 2 workers decodes 100%: templates learned by one worker reach the other', async (t) => {
  const cfg = join(tmp.dir, 'spread.yaml');
  writeFileSync(
    cfg,
    ['listeners:', '  - address: 127.0.0.1', '    port: 0', '    spread: random', 'workers: 2', 'metrics:', '  address: 127.0.0.1:0', 'outputs:', `  - type: file`, `    path: ${join(tmp.dir, 'spread.ndjson')}`, '    format: json', ''].join('\n'),
  );
  const s = await serve(['--config', cfg]);
  if (s.started['ingest_path'] !== 'addon') {
    t.skip(`spread needs the native addon (ingest path: ${s.started['ingest_path']})`);
    return;
  }
  const port = s.listeners[0]!.port;
  const per = 5;
  const data: Buffer[] = [ipfixTemplate(), v9Template()];
  for (let i = 0; i < 400; i++) data.push(ipfixData(i * per, per, 1, i * per), v9Data(i * per, per, i));
  await sendUdp(port, data, { every: 32, pauseMs: 3 });
  const want = 400 * per * 2;
  await until(async () => metric(await scrape(s.metricsUrl), 'flow_collector_flows_decoded_total') === want, `${want} flows decoded`, 15_000);
  const m = await scrape(s.metricsUrl);
  assert.equal(metric(m, 'flow_collector_datagrams_received_total'), data.length);
  assert.equal(metric(m, 'flow_collector_kernel_drops_total'), 0);
  // Both workers decoded: each learned the templates either from the wire or from the other.
  assert.ok(metric(m, 'flow_collector_template_store_total', 'event="received"') >= 2, 'templates shared between workers');
  // One exporter, two scopes (its v9 source and its IPFIX domain), held by both workers: the gauge
  // counts each scope once.
  await until(async () => metric(await scrape(s.metricsUrl), 'flow_collector_scopes_total', 'event="created"') === 4, 'both workers hold both scopes');
  assert.equal(metric(await scrape(s.metricsUrl), 'flow_collector_sources'), 2);
  // Each worker's own heap, three kinds each (the main thread's is prom-client's nodejs_heap_*).
  const heap = [...m.keys()].filter((k) => k.startsWith('flow_collector_worker_heap_bytes{'));
  assert.equal(heap.length, 6, heap.join('\n'));
  for (const w of ['0', '1']) {
    const used = metric(m, 'flow_collector_worker_heap_bytes', `worker="${w}"`, 'kind="used"');
    const total = metric(m, 'flow_collector_worker_heap_bytes', `worker="${w}"`, 'kind="total"');
    const external = metric(m, 'flow_collector_worker_heap_bytes', `worker="${w}"`, 'kind="external"');
    assert.ok(used > 1 << 20 && used <= total && total < 2 ** 31 && external > 0, `worker ${w}: used ${used}, total ${total}, external ${external}`);
  }
  assert.equal(metric(m, 'flow_collector_pending_dropped_total'), 0);
  assert.equal(metric(m, 'flow_collector_pending_sets_total', 'event="expired"'), 0);
  assert.ok(!s.logs.some((l) => /spread .* not applied/.test(String(l['msg']))), 'the random spread program is attached');
  assert.equal(await s.stop(), 0);
  const flows = lines(readFileSync(join(tmp.dir, 'spread.ndjson')));
  assert.equal(flows.length, want);
  const ipfixSrc = new Set(flows.filter((f) => f['type'] === 'IPFIX').map((f) => `${f['src_addr']}/${f['bytes']}`));
  assert.equal(ipfixSrc.size, 400 * per, 'every IPFIX record exactly once');
});

test('a receive buffer the kernel caps below the request is reported at start with rmem_max and the fix (run without privileges)', { skip: skipUnlessAsNobody }, async (t) => {
  // nobody, no capabilities: SO_RCVBUFFORCE is refused and the kernel caps SO_RCVBUF at rmem_max.
  const unreadable = nobodyCannotRead(CLI);
  if (unreadable !== undefined) {
    t.skip(unreadable);
    return;
  }
  const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
  if (rmemMax > 256 * 1024 * 1024) {
    t.skip(`net.core.rmem_max is ${rmemMax}: no receive buffer request here is over it`);
    return;
  }
  const big = 2 * rmemMax + 1024 * 1024;
  const small = Math.min(65536, rmemMax);
  const dir = join(tmp.dir, 'unprivileged');
  chmodSync(tmp.dir, 0o755);
  mkdirSync(dir, { mode: 0o755 });
  const cfg = join(dir, 'rcvbuf.json');
  writeFileSync(
    cfg,
    JSON.stringify({
      listeners: [
        { name: 'capped', address: '127.0.0.1', port: 0, receive_buffer_bytes: big },
        { name: 'fits', address: '127.0.0.1', port: 0, receive_buffer_bytes: small },
      ],
      workers: 1,
      metrics: { address: '127.0.0.1:0' },
    }),
  );
  chmodSync(cfg, 0o644);
  const s = await serve(['--config', cfg], {}, { prefix: [...AS_NOBODY] });
  const warned = s.logs.filter((l) => l['level'] === 'warn' && typeof l['granted_bytes'] === 'number');
  assert.equal(warned.length, 1, 'one warning: the listener that asked for more than rmem_max');
  const w = warned[0]!;
  assert.equal(w['listener'], 'capped');
  assert.equal(w['receive_buffer_bytes'], big);
  assert.equal(w['rmem_max'], rmemMax);
  assert.ok((w['granted_bytes'] as number) <= rmemMax, `granted ${w['granted_bytes']}`);
  assert.match(String(w['msg']), /net\.core\.rmem_max is \d+.*at least \d+.*CAP_NET_ADMIN/);
  const started = s.logs.find((l) => l['msg'] === 'flow-collector started')!;
  const granted = (started['listeners'] as { name: string; receive_buffer_bytes_per_socket: number }[]).map((l) => [l.name, l.receive_buffer_bytes_per_socket]);
  assert.deepEqual(granted, [['capped', 2 * rmemMax], ['fits', 2 * small]]);
  assert.equal(await s.stop(), 0);
});

test('drop_policy block: a stuck stdout reader stops the socket reads (kernel drops counted), nothing is dropped in the collector, and delivery resumes', async () => {
  const cfg = join(tmp.dir, 'block.json');
  writeFileSync(
    cfg,
    JSON.stringify({
      listeners: [{ address: '127.0.0.1', port: 0, receive_buffer_bytes: 262144 }],
      workers: 1,
      queue: { max_bytes: 65536, drop_policy: 'block' },
      metrics: { address: '127.0.0.1:0' },
    }),
  );
  const s = await serve(['--config', cfg], {}, { holdStdout: true });
  const port = s.listeners[0]!.port;
  await sendUdp(port, [ipfixTemplate()]);
  const batch: Buffer[] = [];
  for (let i = 0; i < 4000; i++) batch.push(ipfixData(i * 20, 20, 1, i));
  await sendUdp(port, batch, { every: 200, pauseMs: 1 });
  await until(async () => metric(await scrape(s.metricsUrl), 'flow_collector_listener_paused') === 1, 'the listener paused');
  const m1 = await scrape(s.metricsUrl);
  assert.equal(metric(m1, 'flow_collector_flows_dropped_total'), 0, 'block never drops in the collector');
  s.releaseStdout();
  await until(async () => metric(await scrape(s.metricsUrl), 'flow_collector_listener_paused') === 0, 'reading resumed');
  await until(async () => {
    const m = await scrape(s.metricsUrl);
    return metric(m, 'flow_collector_queue_flows') === 0 && metric(m, 'flow_collector_flows_decoded_total') === metric(m, 'flow_collector_flows_delivered_total');
  }, 'the queue drained');
  const m = await scrape(s.metricsUrl);
  const received = metric(m, 'flow_collector_datagrams_received_total');
  const kernel = metric(m, 'flow_collector_kernel_drops_total');
  assert.equal(received + kernel, 4001, 'every datagram sent was received or counted as a kernel drop');
  assert.ok(kernel > 0, 'the kernel dropped while the collector was blocked');
  assert.equal(metric(m, 'flow_collector_flows_decoded_total'), (received - 1) * 20);
  assert.equal(await s.stop(), 0);
  assert.equal(lines(s.stdout()).length, (received - 1) * 20);
});

test('kernel drops on one worker\'s socket while the other worker idles: the warning names the listener, the worker and the fix (spread: random)', async (t) => {
  // One exporter (one source address and port): the kernel's hash gives all of it to one of the
  // two workers' sockets; a small buffer and a burst make that socket drop.
  const cfg = join(tmp.dir, 'lopsided.json');
  writeFileSync(
    cfg,
    JSON.stringify({
      listeners: [{ name: 'edge', address: '127.0.0.1', port: 0, receive_buffer_bytes: 16384 }],
      workers: 2,
      outputs: [{ type: 'file', path: join(tmp.dir, 'lopsided.pb'), format: 'flowpb' }],
      metrics: { address: '127.0.0.1:0' },
    }),
  );
  const s = await serve(['--config', cfg]);
  if (s.started['ingest_path'] !== 'addon') {
    t.skip('the dgram path runs one worker');
    return;
  }
  const port = s.listeners[0]!.port;
  await sendUdp(port, [ipfixTemplate()]);
  const burst: Buffer[] = [];
  for (let i = 0; i < 20_000; i++) burst.push(ipfixData(i * 5, 5, 1, i));
  await sendBurst(port, burst);
  await until(() => s.logs.some((l) => l['msg']?.startsWith('the kernel dropped datagrams')), 'the kernel_drops warning', 15_000);
  const w = s.logs.find((l) => l['msg']?.startsWith('the kernel dropped datagrams'))!;
  assert.match(w['msg'], /on listener edge, worker [01]'s sockets took \d+ % of the datagrams/);
  assert.match(w['msg'], /listeners\[0\]\.spread: random/);
  assert.equal(w['listener'], 'edge');
  assert.ok(w['share_of_datagrams'] >= 0.99 && w['share_of_drops'] === 1, JSON.stringify(w));
  assert.equal(await s.stop(), 0);
});

test('the uneven-hash hint: only for a listener on the hash, with two or more workers, most of the arrivals and nearly all of the drops on one', () => {
  const edge = { name: 'edge', spread: 'none', shared: false };
  const at = (...w: [number, number][]) => [w.map(([read, drops]) => ({ read, drops }))];
  const none = at([0, 0], [0, 0]);
  // 90 % of the arrivals and all of the drops on worker 1.
  assert.deepEqual(lopsidedListener([edge], at([1000, 0], [8000, 1000]), none), { index: 0, name: 'edge', worker: 1, share: 0.9, dropShare: 1 });
  // Counted from the last warning: the same totals later, with what came since balanced, are not lopsided.
  assert.equal(lopsidedListener([edge], at([6000, 500], [13000, 1500]), at([1000, 0], [8000, 1000])), undefined);
  // Even arrivals with drops on both: buffers or CPU, not the hash.
  assert.equal(lopsidedListener([edge], at([5000, 500], [5000, 400]), none), undefined);
  // Lopsided arrivals but the drops on the quiet worker: not the hash either.
  assert.equal(lopsidedListener([edge], at([900, 0], [100, 50]), none), undefined);
  // No drops; one worker; a spread program; a port shared with other processes.
  assert.equal(lopsidedListener([edge], at([9000, 0], [1000, 0]), none), undefined);
  assert.equal(lopsidedListener([edge], at([9000, 100]), none), undefined);
  assert.equal(lopsidedListener([{ ...edge, spread: 'random' }], at([9000, 100], [0, 0]), none), undefined);
  assert.equal(lopsidedListener([{ ...edge, shared: true }], at([9000, 100], [0, 0]), none), undefined);
  // Three exporters hashed 2:1 over two workers, the drops on the two.
  assert.equal(lopsidedListener([edge], at([1000, 0], [1800, 200]), none)?.worker, 1);
  // Four workers: one and a half fair shares (37.5 %) with the drops is lopsided; a third is not.
  assert.equal(lopsidedListener([edge], at([350, 100], [250, 0], [150, 0], [150, 0]), none)?.worker, 0);
  assert.equal(lopsidedListener([edge], at([300, 100], [300, 0], [250, 0], [250, 0]), none), undefined);
});

test('file output: flowpb records, reopened on SIGHUP after rotation', async () => {
  const path = join(tmp.dir, 'rot.pb');
  const s = await serve(['--listen', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0', '--workers', '1', '--output', `file:${path}`, '--format', 'flowpb']);
  const port = s.listeners[0]!.port;
  await sendUdp(port, [v5(7)]);
  await until(async () => metric(await scrape(s.metricsUrl), 'flow_collector_flows_delivered_total') === 7, '7 flows written');
  renameSync(path, `${path}.1`);
  s.proc.kill('SIGHUP');
  await until(() => existsSync(path), 'the file reopened');
  await sendUdp(port, [v5(5, 1)]);
  await until(async () => metric(await scrape(s.metricsUrl), 'flow_collector_flows_delivered_total') === 12, '12 flows written');
  assert.equal(await s.stop(), 0);
  assert.equal(splitDelimited(readFileSync(`${path}.1`)).length, 7);
  assert.equal(splitDelimited(readFileSync(path)).length, 5);
});

test('the dgram path (no addon) runs one worker, says why, and decodes', async () => {
  const s = await serve(['--listen', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0', '--workers', '2'], { FLOW_COLLECTOR_INGEST: 'dgram' });
  assert.equal(s.started['ingest_path'], 'dgram');
  assert.equal(s.started['workers'], 1);
  assert.match(String(s.started['malloc_trim']), /^off \(FLOW_COLLECTOR_INGEST=dgram/);
  assert.ok(s.logs.some((l) => l['level'] === 'warn' && /one worker/.test(l['msg'])));
  await sendUdp(s.listeners[0]!.port, [v5(2)]);
  await until(async () => metric(await scrape(s.metricsUrl), 'flow_collector_flows_delivered_total') === 2, '2 flows');
  const m = await scrape(s.metricsUrl);
  assert.equal(metric(m, 'flow_collector_ingest_info', 'path="dgram"'), 1);
  assert.equal(await s.stop(), 0);
  assert.equal(lines(s.stdout()).length, 2);
});

test('an idle serve\'s main thread wakes a few times a second, not 100 (event-loop delay sampled once a second); the event-loop metrics remain', async () => {
  const s = await startServe(['--listen', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0']);
  try {
    // The main thread's voluntary context switches (its tid is the pid): each is a wake-up.
    const switches = () => Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(readFileSync(`/proc/${s.proc.pid}/task/${s.proc.pid}/status`, 'utf8'))![1]);
    await new Promise((r) => setTimeout(r, 1000));
    const a = switches();
    await new Promise((r) => setTimeout(r, 3000));
    const perSecond = (switches() - a) / 3;
    // prom-client's default 10 ms sampling timer alone made it ~100 a second.
    assert.ok(perSecond < 30, `${perSecond} wake-ups per second`);
    const m = await scrape(s.metricsUrl);
    assert.ok([...m.keys()].some((k) => k.startsWith('nodejs_eventloop_lag_seconds')), 'nodejs_eventloop_lag_seconds is exported');
  } finally {
    assert.equal(await s.stop(), 0);
  }
});

test('health.address: probes answer with metrics off (no /metrics there), and share the metrics server when it is the same address', async () => {
  const cfg = join(tmp.dir, 'health.yaml');
  writeFileSync(cfg, ['listeners: [{ address: 127.0.0.1, port: 0 }]', 'workers: 1', 'metrics: { enabled: false }', 'health: { address: "127.0.0.1:0" }', ''].join('\n'));
  const s = await serve(['--config', cfg]);
  assert.equal(s.metricsUrl, 'off');
  const health = s.started['health'] as string;
  assert.match(health, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal((await httpGet(`${health}/healthz`)).status, 200);
  await until(async () => (await httpGet(`${health}/readyz`)).status === 200, 'ready');
  assert.equal((await httpGet(`${health}/metrics`)).status, 404);
  await sendUdp(s.listeners[0]!.port, [v5(3)]);
  await until(async () => lines(s.stdout()).length === 3, '3 flows');
  assert.equal(await s.stop(), 0);

  // One address for both: one server answers metrics and health.
  const port = await new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
  const both = join(tmp.dir, 'health-both.yaml');
  writeFileSync(both, ['listeners: [{ address: 127.0.0.1, port: 0 }]', 'workers: 1', `metrics: { address: "127.0.0.1:${port}" }`, `health: { address: "127.0.0.1:${port}" }`, ''].join('\n'));
  const b = await serve(['--config', both]);
  assert.equal(b.metricsUrl, `http://127.0.0.1:${port}`);
  assert.equal(b.started['health'], b.metricsUrl);
  assert.equal((await httpGet(`${b.metricsUrl}/healthz`)).status, 200);
  assert.equal((await httpGet(`${b.metricsUrl}/metrics`)).status, 200);
  assert.equal(await b.stop(), 0);
});

test('a listener fixed to sflow counts and skips other protocols', async () => {
  const cfg = join(tmp.dir, 'proto.yaml');
  writeFileSync(cfg, ['listeners:', '  - { address: 127.0.0.1, port: 0, protocol: sflow }', 'workers: 1', 'metrics: { address: "127.0.0.1:0" }', ''].join('\n'));
  const s = await serve(['--config', cfg]);
  await sendUdp(s.listeners[0]!.port, [v5(2), sflow()]);
  await until(async () => metric(await scrape(s.metricsUrl), 'flow_collector_datagrams_received_total') === 2, '2 datagrams');
  await until(async () => metric(await scrape(s.metricsUrl), 'flow_collector_flows_delivered_total') === 1, '1 flow');
  const m = await scrape(s.metricsUrl);
  assert.equal(metric(m, 'flow_collector_datagrams_dropped_total', 'reason="wrong_protocol"'), 1);
  assert.equal(await s.stop(), 0);
});

test('malformed datagrams are counted by reason and warned about at most once per interval, never crash', async () => {
  const s = await serve(['--listen', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0', '--workers', '1']);
  const junk = [Buffer.from([0, 9, 0]), Buffer.from([0, 5, 0, 99, 1, 2, 3, 4]), Buffer.from([0x12, 0x34, 0, 0, 0, 0]), Buffer.alloc(0)];
  await sendUdp(s.listeners[0]!.port, [...junk, ...junk, ...junk, v5(1)]);
  await until(async () => metric(await scrape(s.metricsUrl), 'flow_collector_flows_delivered_total') === 1, 'the good datagram');
  const m = await scrape(s.metricsUrl);
  assert.equal(metric(m, 'flow_collector_datagrams_received_total'), 13);
  assert.equal(metric(m, 'flow_collector_decode_errors_total', 'reason="datagram.too_short"'), 6);
  assert.equal(metric(m, 'flow_collector_decode_errors_total', 'reason="netflow_v5.truncated_header"'), 3);
  assert.equal(metric(m, 'flow_collector_decode_errors_total', 'reason="datagram.unknown_version"'), 3);
  await until(() => s.logs.some((l) => l['reason'] === 'netflow_v5.truncated_header'), 'a warning');
  const w = s.logs.filter((l) => l['reason'] === 'netflow_v5.truncated_header');
  assert.equal(w.length, 1, 'one warning per reason per interval');
  assert.equal(w[0]!['level'], 'warn');
  assert.equal(w[0]!['exporter'], '127.0.0.1');
  assert.equal(await s.stop(), 0);
});

test('--check-config prints the effective configuration; a bad configuration exits 2 naming each field', async () => {
  const ok = await runCli(['serve', '--check-config']);
  assert.equal(ok.code, 0, ok.stderr);
  const eff = JSON.parse(ok.stdout);
  assert.deepEqual(eff.listeners.map((l: any) => l.port), [2055, 4739, 6343]);
  assert.deepEqual(eff.outputs, [{ type: 'stdout', format: 'json' }]);

  const bad = join(tmp.dir, 'bad.yaml');
  writeFileSync(bad, ['listeners:', '  - port: 2055', '    protocl: netflow', 'queue:', '  drop_policy: sometimes', ''].join('\n'));
  const r = await runCli(['serve', '--config', bad]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /listeners\[0\]\.protocl/);
  assert.match(r.stderr, /did you mean "protocol"/);
  assert.match(r.stderr, /queue\.drop_policy/);
  const flag = await runCli(['serve', '--workers', 'many']);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /--workers/);
});

test('start-up failures exit 1 with one clear line: UDP port in use, metrics port in use', async () => {
  const u = createSocket('udp4');
  await new Promise<void>((r) => u.bind(0, '127.0.0.1', () => r()));
  const busy = u.address().port;
  const r = await runCli(['serve', '--listen', `127.0.0.1:${busy}`, '--metrics-addr', '127.0.0.1:0']);
  u.close();
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`cannot bind UDP 127\\.0\\.0\\.1:${busy}: the port is in use .*EADDRINUSE`));

  const tcp = createServer();
  await new Promise<void>((res) => tcp.listen(0, '127.0.0.1', () => res()));
  const mport = (tcp.address() as { port: number }).port;
  const r2 = await runCli(['serve', '--listen', '127.0.0.1:0', '--metrics-addr', `127.0.0.1:${mport}`]);
  tcp.close();
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /metrics\.address .*EADDRINUSE/);

  const r3 = await runCli(['serve', '--listen', '127.0.0.1:0', '--output', `file:${join(tmp.dir, 'no', 'such', 'dir', 'x')}`]);
  assert.notEqual(r3.code, 0);
  assert.match(r3.stderr, /no.such.dir/);
});

test('SIGTERM with a stuck consumer: undelivered flows are counted as shutdown drops at the deadline; every flow is accounted for', async () => {
  const s = await serve(['--listen', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0', '--workers', '1'], { FLOW_COLLECTOR_SHUTDOWN__DRAIN_TIMEOUT_MS: '500', FLOW_COLLECTOR_LOGGING__SUMMARY_INTERVAL_S: '1' }, { holdStdout: true });
  const port = s.listeners[0]!.port;
  const data = [ipfixTemplate()];
  for (let i = 0; i < 300; i++) data.push(ipfixData(i * 20, 20, 1, i));
  await sendUdp(port, data, { every: 50, pauseMs: 2 });
  await until(async () => metric(await scrape(s.metricsUrl), 'flow_collector_flows_decoded_total') === 6000, '6000 flows decoded');
  await until(() => s.logs.some((l) => l['msg'] === 'summary' && l['flows'] === 6000), 'a summary line with the counts');
  const summary = s.logs.find((l) => l['msg'] === 'summary' && l['flows'] === 6000)!;
  assert.equal(summary['datagrams'], 301);
  s.proc.kill('SIGTERM');
  const code = await s.exited;
  assert.equal(code, 0);
  s.releaseStdout();
  // Everything the process wrote before it exited (the pipe holds it; a loaded machine may take
  // a while to hand it over).
  await s.outputEnded;
  const stopped = s.logs.find((l) => l['msg'] === 'flow-collector stopped')!;
  assert.equal(stopped['flows'], 6000);
  assert.ok(stopped['dropped'] > 0, 'the stuck consumer left flows undelivered at the deadline');
  assert.equal(stopped['delivered'] + stopped['dropped'], 6000, 'every decoded flow delivered or counted');
  // The chunk in flight at the deadline may be cut off mid-line when the process exits.
  const text = s.stdout().toString();
  const written = text.split('\n').length - 1;
  assert.ok(written >= stopped['delivered'] && written <= 6000, `${written} written, ${stopped['delivered']} acknowledged`);
});

test('a second signal exits at once', async () => {
  const s = await serve(['--listen', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0', '--workers', '1'], { FLOW_COLLECTOR_SHUTDOWN__DRAIN_TIMEOUT_MS: '60000' }, { holdStdout: true });
  const port = s.listeners[0]!.port;
  const data = [ipfixTemplate()];
  for (let i = 0; i < 300; i++) data.push(ipfixData(i * 20, 20, 1, i));
  await sendUdp(port, data, { every: 50, pauseMs: 2 });
  await until(async () => metric(await scrape(s.metricsUrl), 'flow_collector_flows_decoded_total') === 6000, '6000 flows decoded');
  s.proc.kill('SIGTERM');
  await until(() => s.logs.some((l) => /^stopping/.test(String(l['msg']))), 'stopping');
  s.proc.kill('SIGINT');
  assert.equal(await s.exited, 1);
  assert.ok(s.logs.some((l) => /second signal/.test(String(l['msg']))));
  s.releaseStdout();
});
