/**
 * Rate pacer of the load generator (`flow-collector blast`) and of the benches: offers `rate`
 * units per second by topping up what is due since the start every few hundred microseconds,
 * with a synchronous Atomics.wait sleep in between, so the sender is a busy process of its own
 * and its timing does not depend on the event loop. What is due is computed from the start time,
 * not from the last send, so late slices catch up and the long-run rate is exact.
 *
 * A unit is whatever the caller counts (datagrams); `quantum` units go together (e.g. the
 * datagrams of one UDP GSO message): `send(max)` is asked for at most `max` quanta and returns
 * how many it sent (0 when the send buffer is full: the pacer sleeps briefly and tries again).
 *
 * `Pacer.run(sliceMs)` paces for at most one slice and returns, so a caller can give the event
 * loop a turn (signals, a progress line) between slices; `pace()` runs to the end in one go.
 */

export interface PaceOptions {
  /** Units per second; Infinity (or 0) sends as fast as the kernel takes them. */
  rate: number;
  /** Seconds to run for (Infinity: until `total`). */
  duration: number;
  /** Units to send at most (default rate × duration). */
  total?: number;
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

export class Pacer {
  private readonly rate: number;
  private readonly duration: number;
  private readonly total: number;
  private readonly quantum: number;
  private readonly maxBurst: number;
  private readonly send: (max: number) => number;
  private t0 = -1n;
  private tEnd = -1n;
  sent = 0;
  stalls = 0;
  calls = 0;
  /** True once the duration is over or the total is sent (or stop() was called). */
  done = false;

  constructor(o: PaceOptions) {
    this.rate = o.rate > 0 && Number.isFinite(o.rate) ? o.rate : Infinity;
    this.duration = o.duration > 0 ? o.duration : Infinity;
    const total = o.total ?? this.rate * this.duration;
    if (!Number.isFinite(total) && !Number.isFinite(this.duration)) throw new RangeError('pace: give a duration or a total');
    this.total = Number.isFinite(total) ? Math.round(total) : Infinity;
    this.quantum = Math.max(1, o.quantum ?? 1);
    this.maxBurst = Math.max(1, o.maxBurst ?? 64);
    this.send = o.send;
  }

  /** Seconds since the first slice started (0 before). */
  elapsed(): number {
    if (this.t0 < 0n) return 0;
    const end = this.tEnd >= 0n ? this.tEnd : process.hrtime.bigint();
    return Number(end - this.t0) / 1e9;
  }

  /** Ends the run now (the next run() returns at once). */
  stop(): void {
    if (!this.done) {
      this.done = true;
      this.tEnd = process.hrtime.bigint();
    }
  }

  /** Paces for up to `sliceMs` milliseconds; returns true when the run is over. */
  run(sliceMs = Infinity): boolean {
    if (this.done) return true;
    if (this.t0 < 0n) this.t0 = process.hrtime.bigint();
    const sliceEnd = process.hrtime.bigint() + BigInt(Math.round(Math.min(sliceMs, 1e9) * 1e6));
    for (;;) {
      const now = process.hrtime.bigint();
      const elapsed = Number(now - this.t0) / 1e9;
      if (elapsed >= this.duration || this.sent >= this.total) {
        this.done = true;
        this.tEnd = now;
        return true;
      }
      if (now >= sliceEnd) return false;
      const allowed = this.rate === Infinity ? this.total : Math.min(this.total, Math.floor(this.rate * elapsed));
      const due = Math.floor((allowed - this.sent) / this.quantum);
      if (due > 0) {
        const got = this.send(Math.min(due, this.maxBurst));
        this.calls++;
        this.sent += got * this.quantum;
        if (got === 0) {
          this.stalls++;
          sleepSync(0.05);
        }
      } else {
        sleepSync(0.2); // ~200 us
      }
    }
  }

  result(): PaceResult {
    return { sent: this.sent, seconds: this.elapsed(), stalls: this.stalls, calls: this.calls };
  }
}

/** Paces to the end in one synchronous run. */
export function pace(o: PaceOptions): PaceResult {
  const p = new Pacer(o);
  p.run();
  return p.result();
}
