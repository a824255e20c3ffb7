/**
 * Worker thread entry: runs one Pipeline and talks to the main thread in messages.ts terms.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Pipeline } from './pipeline.js';
import type { ToMain, ToWorker, WorkerInit } from './messages.js';

const init = workerData as WorkerInit;
const port = parentPort!;
const send = (m: ToMain) => port.postMessage(m);

/** Resolves at the main thread's 'open': once every worker is warm. */
function openSignal(): Promise<void> {
  return new Promise((resolve) => {
    const onMessage = (m: ToWorker) => {
      if (m.type !== 'open') return;
      port.off('message', onMessage);
      resolve();
    };
    port.on('message', onMessage);
  });
}

async function run(): Promise<void> {
  let pipeline: Pipeline;
  try {
    const open = openSignal();
    pipeline = new Pipeline(init, {
      log: (level, key, msg, fields) => send({ type: 'log', level, key, msg, ...(fields ? { fields } : {}) }),
    });
    // Compiled code before the first datagram is read (see warmup.ts). The sockets wait for
    // every worker's warm-up: a worker whose socket joined the port's SO_REUSEPORT group first
    // would take all of its traffic while the others still compile on the same cores.
    const warm = await pipeline.warmUp();
    send({ type: 'warm', index: init.index, warmupMs: warm.ms });
    await open;
    const listeners = await pipeline.open();
    send({ type: 'ready', index: init.index, listeners });
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
