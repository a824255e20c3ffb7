/**
 * The service's per-worker flow path (src/service/pipeline.ts) with two pipelines in one thread,
 * as two workers of serve: sockets of their own, one template store between them. Deterministic
 * orderings that serve's workers only hit by timing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { loadConfig, parseServeArgs, type CollectorConfig } from '../src/config/mod.js';
import { Pipeline } from '../src/service/pipeline.js';
import { LocalTemplateStore, type StoreChange } from '../src/templates/mod.js';
import type { WorkerInit } from '../src/service/messages.js';
import { ip4, ipfixMessage, ipfixTemplateRecord, set, str, u32, u8, varlen } from './support/export-builder.js';
import { splitDelimited } from '../src/encode/mod.js';
import { makeTempDir } from './support/tools.js';
import { until } from './support/wait.js';

/** serve's configuration for a test worker: one listener on an ephemeral port, a file output. */
function serveConfig(out: string, format: 'json' | 'flowpb' = 'json', env: Record<string, string> = {}): CollectorConfig {
  const { flags } = parseServeArgs(['--listen', '127.0.0.1:0', '--output', `file:${out}`, '--format', format, '--workers', '2']);
  return loadConfig({ env, flags }).config;
}

function pipeline(index: number, out: string, storeChannel: string, forceDgram = false, config = serveConfig(out)): Pipeline {
  const init: WorkerInit = { index, config, ports: [0], storeChannel, stdoutPort: null, snapshotMs: 1000, forceDgram };
  return new Pipeline(init, { log: () => {} });
}

/** Two worker pipelines sharing one template store channel, writing into a temporary directory, and a sending socket. */
function twoWorkers() {
  const tmp = makeTempDir('pipeline-');
  const channel = `pipeline-test-${randomUUID()}`;
  const a = pipeline(0, join(tmp.dir, 'a.ndjson'), channel);
  const b = pipeline(1, join(tmp.dir, 'b.ndjson'), channel);
  const tx = createSocket('udp4');
  const close = async (): Promise<void> => {
    tx.close();
    await a.close();
    await b.close();
    tmp.cleanup();
  };
  return { tmp, a, b, tx, close, channel };
}


test('flows replayed on one worker get the sampler table another worker decoded from the same datagram', async () => {
  // As pmacctd sends IPFIX: one datagram with the data template, the options template (scope
  // 144, samplerId 48, samplerMode 49, samplerRandomInterval 50) and the sampler row, in that
  // order; flows naming sampler 1 in the next datagram. Here the flows reach worker B first
  // (they wait for their template), the templates and options worker A; A shares them, B replays.
  const tpl = set(2, ipfixTemplateRecord(1024, [{ id: 8, len: 4 }, { id: 12, len: 4 }, { id: 1, len: 4 }, { id: 2, len: 4 }, { id: 48, len: 1 }]));
  const optTpl = set(3, ipfixTemplateRecord(4096, [{ id: 144, len: 4 }, { id: 48, len: 1 }, { id: 49, len: 1 }, { id: 50, len: 4 }], 1));
  const optData = set(4096, [...u32(0), ...u8(1), ...u8(2), ...u32(4)]);
  const flows = 5;
  const rec = (i: number) => [...ip4(`10.0.0.${i + 1}`), ...ip4('10.9.9.9'), ...u32(1000 + i), ...u32(2 + i), ...u8(1)];
  const data = set(1024, Array.from({ length: flows }, (_, i) => rec(i)).flat());
  const first = ipfixMessage([tpl, optTpl, optData], { seq: 0 });
  const second = ipfixMessage([data], { seq: 1 });

  const { tmp, a, b, tx, close } = twoWorkers();
  try {
    const [la] = await a.open();
    const [lb] = await b.open();
    await new Promise<void>((r) => tx.bind(0, '127.0.0.1', () => r()));
    const send = (msg: Buffer, port: number) => new Promise<void>((res, rej) => tx.send(msg, port, '127.0.0.1', (e) => (e ? rej(e) : res())));
    // One exporter (one source address and port) for both datagrams.
    await send(second, lb!.port);
    await until(() => b.snapshot().counters['pending.buffered'] === 1, 'worker B to buffer the flows');
    await send(first, la!.port);
    await until(() => (b.snapshot().flows['ipfix'] ?? 0) === flows, 'worker B to replay the flows');
    assert.equal(a.snapshot().counters['options.records'], 1, 'worker A decoded the sampler row');
    assert.equal(a.snapshot().flows['ipfix'] ?? 0, 0);
    await a.stop(Date.now() + 5000);
    await b.stop(Date.now() + 5000);
    const out = readFileSync(join(tmp.dir, 'b.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
    assert.equal(out.length, flows);
    out.forEach((f, i) => {
      assert.equal(f['src_addr'], `10.0.0.${i + 1}`);
      assert.equal(f['bytes'], 1000 + i);
      assert.equal(f['fields']['samplerId'], 1);
      assert.equal(f['sampling_rate'], 4, `flow ${i}: the rate from A's sampler table`);
    });
  } finally {
    await close();
  }
});

test('warm-up decodes every protocol and leaves no trace in templates, counters, the store or the outputs', async () => {
  const { tmp, a, b, tx, close, channel } = twoWorkers();
  // Everything published on the workers' store channel.
  const spy = new LocalTemplateStore(channel, 'spy');
  const heard: StoreChange[] = [];
  spy.subscribe((c) => heard.push(c), () => undefined);
  try {
    const warm = await a.warmUp(20);
    assert.equal(warm.errors, 0, 'every synthetic datagram decodes');
    for (const t of ['sflow', 'netflow_v5', 'netflow_v9', 'ipfix']) assert.ok((warm.byType[t] ?? 0) > 0, `${t} flows`);
    // Nothing reached the real decoders, counters, outputs or the other worker.
    const snap = a.snapshot();
    assert.deepEqual(snap.counters, {});
    assert.deepEqual(snap.flows, {});
    assert.equal(snap.scopes, 0);
    assert.equal(snap.pendingBytes, 0);
    assert.equal(snap.outputs[0]!.flows, 0);
    await new Promise((r) => setTimeout(r, 100)); // a broadcast would have arrived by now
    assert.equal(b.snapshot().scopes, 0, 'no template or options row shared');
    assert.deepEqual(Object.values(a.snapshot().store).filter((v) => v !== 0), []);
    // Data for the warm-up's template id 1024 from a real exporter waits for its own template.
    const [la] = await a.open();
    await new Promise<void>((r) => tx.bind(0, '127.0.0.1', () => r()));
    const data = set(1024, [...ip4('10.0.0.1'), ...ip4('10.0.0.2'), ...u32(100), ...u32(1)]);
    await new Promise<void>((res, rej) => tx.send(ipfixMessage([data], { seq: 0 }), la!.port, '127.0.0.1', (e) => (e ? rej(e) : res())));
    await until(() => a.snapshot().counters['pending.buffered'] === 1, 'the data to wait for its template');
    assert.deepEqual(a.snapshot().flows, {});
    // Each batch ends with the worker publishing what it learned. A template of another id (no
    // data waits for it) makes the next batch publish something real; once it is heard, whatever
    // the first batches published has arrived, and nothing the warm-up's decoders learned was
    // among it (their store observers stay idle while warming).
    const other = set(2, ipfixTemplateRecord(2000, [{ id: 8, len: 4 }]));
    await new Promise<void>((res, rej) => tx.send(ipfixMessage([other], { seq: 1 }), la!.port, '127.0.0.1', (e) => (e ? rej(e) : res())));
    await until(() => heard.some((c) => c.kind === 'template' && c.def.id === 2000), 'the real template published');
    assert.deepEqual(heard.filter((c) => c.scope.listener === 'warm-up'), [], 'no warm-up template or options row published after the first real batch');
    await a.stop(Date.now() + 5000);
    await b.stop(Date.now() + 5000);
    assert.equal(readFileSync(join(tmp.dir, 'a.ndjson'), 'utf8'), '', 'no warm-up flow in the output');
  } finally {
    await spy.close();
    await close();
  }
});

for (const forceDgram of [false, true]) {
  test(`flows of a datagram that came too soon after a tick are written without more traffic (${forceDgram ? 'dgram path: the tick timer' : "addon path: the source's idle signal"})`, async () => {
    const tmp = makeTempDir('pipeline-idle-');
    const out = join(tmp.dir, 'flows.ndjson');
    const p = pipeline(0, out, `pipeline-test-${randomUUID()}`, forceDgram);
    const tx = createSocket('udp4');
    try {
      const [l] = await p.open();
      assert.equal(l!.path, forceDgram ? 'dgram' : 'addon');
      await new Promise<void>((r) => tx.bind(0, '127.0.0.1', () => r()));
      const send = (msg: Buffer) => new Promise<void>((res, rej) => tx.send(msg, l!.port, '127.0.0.1', (e) => (e ? rej(e) : res())));
      const tpl = set(2, ipfixTemplateRecord(1024, [{ id: 8, len: 4 }, { id: 12, len: 4 }, { id: 1, len: 4 }, { id: 2, len: 4 }]));
      const data = (first: number) => set(1024, Array.from({ length: 5 }, (_, i) => [...ip4(`10.0.0.${first + i}`), ...ip4('10.9.9.9'), ...u32(100), ...u32(1)]).flat());
      const lines = () => {
        try {
          return readFileSync(out, 'utf8').split('\n').filter(Boolean).length;
        } catch {
          return 0;
        }
      };
      await send(ipfixMessage([tpl, data(1)], { seq: 0 }));
      await until(() => lines() === 5, 'the first datagram written', 5000);
      // A tick has just written those: this datagram's flows are not due for one (100 ms), and
      // no datagram follows. Nothing but the idle signal or the timer can hand them over.
      await send(ipfixMessage([data(6)], { seq: 5 }));
      await until(() => lines() === 10, 'the second datagram written without more traffic', 3000);
    } finally {
      tx.close();
      await p.close();
      tmp.cleanup();
    }
  });
}

const FlowMessage = new protobuf.Root().loadSync(fileURLToPath(new URL('../../proto/flow.proto', import.meta.url)), { keepCase: true }).lookupType('flowpb.FlowMessage');

for (const format of ['json', 'flowpb'] as const) {
  test(`${format}: serve's default leaves interface names out of the flows; sampling.interface_names: true puts them in`, async () => {
    // An interface table as options data (scope ingressInterface, interfaceName), then flows on
    // interfaces 7 and 9 in six data sets: with frames (flowpb) the first three take the
    // record path and the rest the layout's transcoder, so both paths are checked.
    const optTpl = set(3, ipfixTemplateRecord(4000, [{ id: 10, len: 4 }, { id: 82, len: 0xffff }], 1));
    const row = (ifx: number) => [...u32(ifx), ...varlen(str(`Gi0/0/${ifx}`))];
    const opts = set(4000, [...row(7), ...row(9)]);
    const tpl = set(2, ipfixTemplateRecord(1030, [{ id: 8, len: 4 }, { id: 12, len: 4 }, { id: 10, len: 4 }, { id: 14, len: 4 }, { id: 1, len: 4 }]));
    const data = (i: number) => set(1030, [...ip4(`10.0.0.${i + 1}`), ...ip4('10.9.9.9'), ...u32(7), ...u32(9), ...u32(100 + i)]);
    for (const names of [undefined, 'true'] as const) {
      const tmp = makeTempDir('pipeline-names-');
      const out = join(tmp.dir, `flows.${format}`);
      const config = serveConfig(out, format, names === undefined ? {} : { FLOW_COLLECTOR_SAMPLING__INTERFACE_NAMES: names });
      assert.equal(config.sampling.interface_names, names === 'true');
      const p = pipeline(0, out, `pipeline-test-${randomUUID()}`, false, config);
      const tx = createSocket('udp4');
      try {
        const [l] = await p.open();
        await new Promise<void>((r) => tx.bind(0, '127.0.0.1', () => r()));
        const send = (msg: Buffer) => new Promise<void>((res, rej) => tx.send(msg, l!.port, '127.0.0.1', (e) => (e ? rej(e) : res())));
        await send(ipfixMessage([optTpl, opts, tpl], { seq: 0 }));
        for (let i = 0; i < 6; i++) await send(ipfixMessage([data(i)], { seq: i }));
        await until(() => (p.snapshot().flows['ipfix'] ?? 0) === 6, 'six flows decoded');
        await p.stop(Date.now() + 5000);
        const file = readFileSync(out);
        const flows: Record<string, unknown>[] =
          format === 'json'
            ? file.toString('utf8').trim().split('\n').map((x) => JSON.parse(x) as Record<string, unknown>)
            : splitDelimited(file).map((m) => FlowMessage.toObject(FlowMessage.decode(m), { longs: Number, defaults: false }));
        assert.equal(flows.length, 6);
        flows.forEach((f, i) => {
          assert.equal(f['bytes'], 100 + i);
          assert.equal(f['in_if'], 7);
          assert.equal(f['out_if'], 9);
          if (names === 'true') {
            assert.equal(f['in_if_name'], 'Gi0/0/7', `flow ${i}`);
            assert.equal(f['out_if_name'], 'Gi0/0/9', `flow ${i}`);
          } else {
            // JSON writes every field (empty when unset); protobuf leaves empty strings out.
            assert.ok(f['in_if_name'] === undefined || f['in_if_name'] === '', `flow ${i}: ${String(f['in_if_name'])}`);
            assert.ok(f['out_if_name'] === undefined || f['out_if_name'] === '', `flow ${i}: ${String(f['out_if_name'])}`);
          }
        });
        const t = p.transcoded();
        assert.deepEqual(t, format === 'flowpb' ? { fused: 3, reference: 3 } : { fused: 0, reference: 0 }, 'flowpb: both paths taken');
      } finally {
        tx.close();
        await p.close();
        tmp.cleanup();
      }
    }
  });
}
