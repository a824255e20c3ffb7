/**
 * A worker's start-up (src/service/worker.ts): it warms up, says so, and binds its sockets only
 * when the main thread says every worker is warm. A socket bound early joins the port's
 * SO_REUSEPORT group alone and takes all of the port's traffic while the other workers still
 * compile on the same cores (bench/restart --workers 2 at 200k datagrams/s lost 15-107k
 * datagrams in the first second that way).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { mkdirSync, rmSync } from 'node:fs';
import { loadConfig, parseServeArgs } from '../src/config/mod.js';
import { Collector, createLogger, StartupError } from '../src/service/mod.js';
import type { ToMain, ToWorker, WorkerInit } from '../src/service/messages.js';
import { makeTempDir } from './support/tools.js';
import { freeUdpPort } from '../bench/proc.js';

const WORKER = new URL('../src/service/worker.js', import.meta.url);

/** Binds 127.0.0.1:port alone (no SO_REUSEPORT): the error code, or 'free'. */
function tryBind(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', (err: NodeJS.ErrnoException) => {
      s.close();
      resolve(err.code ?? err.message);
    });
    s.bind({ address: '127.0.0.1', port, exclusive: true }, () => s.close(() => resolve('free')));
  });
}

test('a worker binds its sockets only after the main thread\'s open, which comes once every worker is warm', async () => {
  const tmp = makeTempDir('worker-start-');
  const port = await freeUdpPort();
  const { flags } = parseServeArgs(['--listen', `127.0.0.1:${port}`, '--output', `file:${join(tmp.dir, 'flows.ndjson')}`, '--format', 'json', '--workers', '2']);
  const config = loadConfig({ env: {}, flags }).config;
  const init: WorkerInit = { index: 0, config, ports: [port], storeChannel: `worker-start-${randomUUID()}`, stdoutPort: null, snapshotMs: 1000, forceDgram: false };
  const worker = new Worker(WORKER, { workerData: init });
  const seen: ToMain['type'][] = [];
  const next = (type: ToMain['type']) =>
    new Promise<ToMain>((resolve, reject) => {
      const onMessage = (m: ToMain) => {
        if (m.type === 'failed') reject(new Error(`worker failed: ${m.message}`));
        if (m.type !== type) return;
        worker.off('message', onMessage);
        resolve(m);
      };
      worker.on('message', onMessage);
    });
  worker.on('message', (m: ToMain) => {
    if (m.type !== 'log' && m.type !== 'snapshot') seen.push(m.type);
  });
  const post = (m: ToWorker) => worker.postMessage(m);
  try {
    const warm = await next('warm');
    assert.ok(warm.type === 'warm' && warm.warmupMs > 0, 'the warm-up took some time and says how long');
    // Long enough for a worker that binds on its own to have done so.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await tryBind(port), 'free', 'warm, but not told to open: the port is not bound');
    assert.deepEqual(seen, ['warm']);

    const ready = next('ready');
    post({ type: 'open' });
    const r = await ready;
    assert.ok(r.type === 'ready' && r.listeners.length === 1 && r.listeners[0]!.port === port);
    assert.equal(await tryBind(port), 'EADDRINUSE', 'after open the worker holds the port');
    assert.deepEqual(seen, ['warm', 'ready']);

    const stopped = next('stopped');
    post({ type: 'stop', deadline: Date.now() + 2000 });
    await stopped;
  } finally {
    await worker.terminate();
    tmp.cleanup();
  }
});

test('a worker that fails before it is warm ends the start-up with its reason; the others, waiting for open, are stopped and the port stays free', { timeout: 30_000 }, async () => {
  const tmp = makeTempDir('worker-start-');
  const port = await freeUdpPort();
  const dir = join(tmp.dir, 'out');
  mkdirSync(dir);
  const { flags } = parseServeArgs(['--listen', `127.0.0.1:${port}`, '--output', `file:${join(dir, 'flows.pb')}`, '--format', 'flowpb', '--workers', '2', '--metrics-addr', '127.0.0.1:0']);
  const config = loadConfig({ env: {}, flags }).config;
  // Valid when checked; gone when the workers open their output (as a volume unmounted at start).
  rmSync(dir, { recursive: true });
  try {
    const started = Collector.start({ config, logger: createLogger('silent'), version: 'test' });
    await assert.rejects(started, (err: Error) => {
      assert.ok(err instanceof StartupError, `a StartupError, not ${err.constructor.name}`);
      assert.match(err.message, /^worker [01]: .*ENOENT/);
      return true;
    });
    assert.equal(await tryBind(port), 'free', 'no worker was left holding the port');
  } finally {
    tmp.cleanup();
  }
});
