/**
 * When a worker's outputs tick (FlowOutput.tick: hand a partial chunk over, cut a NATS batch
 * that reached its delay): from the work that wakes the thread anyway, with a timer only for
 * when no work comes.
 *
 * A plain 100 ms interval woke the worker ten times a second whether flows came or not. On a
 * VM whose vCPU halts between wake-ups each such wake-up cost ~300 µs of CPU (an idle collector
 * spent ~3 of its ~5 ms of CPU a second on them), and under traffic they were wake-ups besides
 * the socket reads, paid per second, so per flow most at low rates (docs/benchmarks.md).
 *
 * Now every ingest batch ends with `after()`, which runs the tick once `periodMs` have passed
 * since the last one. The timer is pushed back to `periodMs + slackMs` after each tick, the
 * slack being at least the longest read delay, so under steady traffic a batch always comes
 * before it fires. When the batches stop, it fires and ticks; it is armed again only while an
 * output says it still holds flows, so an idle worker sleeps until a datagram (or another timer
 * of its own, such as the counters snapshot) wakes it.
 */
export class TickSchedule {
  private last: number;
  private armed: boolean;
  private closed = false;
  private readonly timer: NodeJS.Timeout;

  /** `tick` runs the outputs' ticks and returns whether any still holds flows. */
  constructor(
    private readonly tick: () => boolean,
    private readonly periodMs: number,
    slackMs: number,
  ) {
    this.last = performance.now();
    this.timer = setTimeout(() => this.fire(), periodMs + slackMs);
    this.armed = true;
  }

  /** After work that may have left flows for the tick (an ingest batch, a template restored). */
  after(): void {
    if (this.closed) return;
    const now = performance.now();
    if (now - this.last >= this.periodMs) {
      this.last = now;
      this.tick();
      // More work is likely to follow: the timer stays as the fallback, a full period away.
      this.arm();
    } else if (!this.armed) this.arm();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private arm(): void {
    this.timer.refresh();
    this.armed = true;
  }

  private fire(): void {
    this.armed = false;
    if (this.closed) return;
    this.last = performance.now();
    if (this.tick()) this.arm();
  }
}
