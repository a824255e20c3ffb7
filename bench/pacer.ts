// Rate pacer for the load generators of the benches (bench/ingest.ts,
// bench/serve.ts): offers `rate` units per second for `duration` seconds by
// topping up what is due every few hundred microseconds (a synchronous
// Atomics.wait sleep, so the sender is a busy process of its own and its
// timing does not depend on the event loop).
//
// A unit is whatever the caller counts (datagrams); `quantum` units go
// together (e.g. the datagrams of one UDP GSO message): `send(max)` is asked
// for at most `max` quanta and returns how many it sent (0 when the send
// buffer is full; the pacer then sleeps briefly and tries again).

export interface PaceOptions {
  /** Units per second. */
  rate: number;
  /** Seconds to run for. */
  duration: number;
  /** Units per quantum (default 1). */
  quantum?: number;
  /** Most quanta handed to one send call (default 64). */
  maxBurst?: number;
  /** Sends up to `max` quanta, returns how many were sent. */
  send(max: number): number;
}

export interface PaceResult {
  /** Units sent (quanta sent × quantum). */
  sent: number;
  /** Wall-clock seconds from the first send to the end. */
  seconds: number;
  /** Send calls that sent nothing (send buffer full). */
  stalls: number;
  /** Send calls made. */
  calls: number;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Sleeps the thread for about `ms` milliseconds (fractions allowed). */
export function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

export function pace(o: PaceOptions): PaceResult {
  const quantum = Math.max(1, o.quantum ?? 1);
  const maxBurst = Math.max(1, o.maxBurst ?? 64);
  const total = Math.round(o.rate * o.duration);
  const t0 = process.hrtime.bigint();
  let sent = 0;
  let stalls = 0;
  let calls = 0;
  for (;;) {
    const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
    if (elapsed >= o.duration || sent >= total) break;
    const due = Math.floor((Math.min(total, Math.floor(o.rate * elapsed)) - sent) / quantum);
    if (due > 0) {
      const got = o.send(Math.min(due, maxBurst));
      calls++;
      sent += got * quantum;
      if (got === 0) {
        stalls++;
        sleepSync(0.05);
      }
    } else {
      sleepSync(0.2); // ~200 us
    }
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { sent, seconds, stalls, calls };
}
