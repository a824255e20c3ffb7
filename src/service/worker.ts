/**
 * Worker thread entry: runs one Pipeline and talks to the main thread in messages.ts terms.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Pipeline } from './pipeline.js';
import type { ToMain, ToWorker, WorkerInit } from './messages.js';

const init = workerData as WorkerInit;
const port = parentPort!;
const send = (m: ToMain) => port.postMessage(m);

async function run(): Promise<void> {
  let pipeline: Pipeline;
  try {
    pipeline = new Pipeline(init, {
      log: (level, key, msg, fields) => send({ type: 'log', level, key, msg, ...(fields ? { fields } : {}) }),
    });
    // Compiled code before the first datagram is read (see warmup.ts).
    const warm = await pipeline.warmUp();
    const listeners = await pipeline.open();
    send({ type: 'ready', index: init.index, listeners, warmupMs: warm.ms });
    // At once, not after the first period: readiness (a NATS output still connecting) is
    // known from the start.
    send({ type: 'snapshot', snapshot: pipeline.snapshot() });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    send({ type: 'failed', index: init.index, message: e.message, code: e.code ?? null });
    return;
  }
  const snap = setInterval(() => {
    pipeline.sweep(Date.now());
    send({ type: 'snapshot', snapshot: pipeline.snapshot() });
  }, init.snapshotMs);
  port.on('message', (m: ToWorker) => {
    switch (m.type) {
      case 'spread':
        try {
          pipeline.spread(m.listener, m.mode, m.groupSize);
        } catch (err) {
          send({ type: 'log', level: 'warn', key: 'spread', msg: `spread ${m.mode} not applied; the kernel's hash spreads instead`, fields: { error: (err as Error).message } });
        }
        break;
      case 'reopen':
        pipeline.reopen();
        break;
      case 'stop':
        clearInterval(snap);
        void pipeline.stop(m.deadline).then(async ({ delivered, dropped }) => {
          const snapshot = pipeline.snapshot();
          await pipeline.close();
          send({ type: 'stopped', index: init.index, snapshot, delivered, dropped });
        });
        break;
    }
  });
}

void run();
