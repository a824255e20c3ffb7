/**
 * Child program of test/counters-past-2-31.test.ts, run with --trace-deopt (V8 prints every
 * deoptimisation on stdout). A worker's pipeline, built and warmed up as serve's worker does,
 * receives synthetic NetFlow v9 on a real socket (`flow-collector blast`) and writes flowpb to a
 * file (and, given a NATS server's URL as its argument, publishes to JetStream too); once its code
 * is optimised, its long-running counters (the receive path's, the decoder's, the template
 * cache's, the outputs') are set just below 2^31 and the same traffic sent again, so that every one
 * of them passes 2^31 while the optimised code runs. Prints "PASSING 2^31" before
 * the second sending and "PASSED" once it is decoded, then (after stopping the pipeline) the
 * counters' values as JSON.
 */
import { join } from 'node:path';
import { loadConfig, parseServeArgs } from '../../src/config/mod.js';
import { Pipeline } from '../../src/service/pipeline.js';
import type { WorkerInit } from '../../src/service/messages.js';
import { makeTempDir } from './tools.js';
import { runCli, until } from './serve.js';

const NEAR = 2 ** 31 - 3;

async function blast(port: number, count: number): Promise<void> {
  const r = await runCli(['blast', '--target', `127.0.0.1:${port}`, '--synth', 'v9', '--count', String(count), '--rate', '50000', '--exporters', '4', '--preamble-wait', '0'], {}, 30_000);
  if (r.code !== 0) throw new Error(`blast exited with ${r.code}: ${r.stderr}`);
}

/** The counters this program moves to 2^31, by name, with a setter and a getter each. */
function counters(p: Pipeline): Map<string, { get(): number; set(v: number): void }> {
  const out = new Map<string, { get(): number; set(v: number): void }>();
  const field = (name: string, o: Record<string, number>, k: string) => out.set(name, { get: () => o[k]!, set: (v) => (o[k] = v) });
  const anyP = p as any;
  anyP.listeners.forEach((l: any, i: number) => {
    l.source.counters.forEach((c: Record<string, number>, k: number) => {
      for (const f of ['datagrams', 'batches', 'bytes']) field(`listener ${i} socket ${k} ${f}`, c, f);
    });
    for (const f of ['fused']) field(`listener ${i} transcoded ${f}`, l.decoder.export.transcoded, f);
    field(`listener ${i} template look-ups`, l.decoder.templates, 'uses');
  });
  (anyP.counters.map as Map<string, { v: number }>).forEach((c, reason) => {
    if (c.v > 0) field(`counter ${reason}`, c as unknown as Record<string, number>, 'v');
  });
  // The file output's counters, and the NATS publisher's (message sequence and reply tokens too).
  const outputFields = ['flows', 'flowsIn', 'delivered', 'bytes', 'messagesPublished', 'flowsPublished', 'bytesPublished', 'messagesAcked', 'seq', 'token'];
  p.outputs.forEach((o, i) => {
    const r = o as unknown as Record<string, number>;
    for (const f of outputFields) if (typeof r[f] === 'number') field(`output ${i} ${f}`, r, f);
  });
  return out;
}

async function main(): Promise<void> {
  const tmp = makeTempDir('counters-');
  // With a NATS server's URL: a JetStream output besides the file.
  const natsUrl = process.argv[2];
  const outputs: object[] = [{ type: 'file', path: join(tmp.dir, 'flows.pb'), format: 'flowpb' }];
  const env: NodeJS.ProcessEnv = {};
  if (natsUrl !== undefined) {
    outputs.push({ type: 'nats', format: 'flowpb-batch', subject: 'flows.raw' });
    env['FLOW_COLLECTOR_NATS__SERVERS'] = natsUrl;
  }
  env['FLOW_COLLECTOR_OUTPUTS'] = JSON.stringify(outputs);
  const { flags } = parseServeArgs(['--listen', '127.0.0.1:0', '--workers', '1']);
  const config = loadConfig({ env, flags }).config;
  // Small receive batches: the per-batch code (the receive callback) is then called as often as
  // at a high rate, often enough for V8 to optimise it in the rounds below.
  config.listeners[0]!.batch_size = 4;
  config.listeners[0]!.max_read_delay_us = 0;
  const init: WorkerInit = { index: 0, config, ports: [0], storeChannel: 'counters-past-2-31', stdoutPort: null, snapshotMs: 1000, forceDgram: false };
  const p = new Pipeline(init, { log: () => {} });
  await p.warmUp();
  const [l] = await p.open();
  if (l === undefined) throw new Error('no listener');
  // Read, or lost in the kernel (a receive buffer capped by rmem_max can overflow at this rate).
  const received = () => {
    const l = p.snapshot().listeners[0]!;
    return l.datagrams + l.kernelDrops.reduce((a: number, d) => a + (d ?? 0), 0);
  };
  // Enough rounds for V8 to optimise the whole path on this traffic.
  const ROUND = 5000;
  let sent = 0;
  const seen = new Map<string, number>();
  for (let k = 0; k < 3; k++) {
    if (k === 2) for (const [name, c] of counters(p)) seen.set(name, c.get());
    await blast(l.port, ROUND);
    sent += ROUND;
    await until(() => received() >= sent, `${sent} datagrams`, 30_000);
  }
  // The counters this traffic moves (the last round added to them); the rest (templates learned,
  // scopes created) stay where they are.
  const cs = new Map([...counters(p)].filter(([name, c]) => c.get() > (seen.get(name) ?? 0)));
  const before = new Map<string, number>();
  for (const [name, c] of cs) {
    before.set(name, c.get());
    c.set(NEAR);
  }
  console.log('PASSING 2^31');
  await blast(l.port, ROUND);
  // Until every counter has passed 2^31 (NATS acknowledgements come last).
  await until(() => [...cs.values()].every((c) => c.get() > 2 ** 31), 'every counter to pass 2^31', 30_000);
  console.log('PASSED');
  const after: Record<string, { before: number; after: number }> = {};
  for (const [name, c] of cs) after[name] = { before: before.get(name)!, after: c.get() };
  await p.stop(Date.now() + 5000);
  await p.close();
  tmp.cleanup();
  console.log(JSON.stringify(after));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
