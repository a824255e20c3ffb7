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
 * Now every ingest batch ends with `afterBatch()`, which runs the tick once `periodMs` have
 * passed since the last one. When no batch comes the timer does, `periodMs + slackMs` after it
 * was armed; it is armed again only while an output says it still holds flows, so an idle worker
 * sleeps until a datagram (or another timer of its own, such as the counters snapshot) wakes it.
 *
 * Sources that signal idle (the addon: BatchSource.signalsIdle, after `useIdleSignals()`) say
 * when their batches stop: `idle()` then ticks if due and arms the timer (one period), and
 * batches leave it alone. Other sources (dgram) do not: each tick pushes the timer back
 * (`refresh()`), the slack being at least the longest read delay, so under steady traffic a
 * batch comes before it fires. Pushing a Node timer back does not move the event loop's own
 * timer: it still expires at the old time and finds nothing due, one wake-up in vain per
 * period, five a second under traffic (worker wake-ups 16 -> 11 a second at 200-2,000
 * datagrams/s without them).
 */
export class TickSchedule {
  private last: number;
  private armed: boolean;
  private closed = false;
  private timer: NodeJS.Timeout;
  /** The sources signal idle (useIdleSignals): batches do not keep the timer armed. */
  private signalled = false;
  /** With signalling sources: no batch since they went idle (or paused), so the timer ticks. */
  private quiet = true;

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

  /**
   * From now on every source calls idle() after its last batch before a pause in its traffic.
   * The timer then runs only while the sources are quiet, so it needs no slack: a period.
   */
  useIdleSignals(): void {
    if (this.closed || this.signalled) return;
    this.signalled = true;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.fire(), this.periodMs);
    this.armed = true;
  }

  /** After an ingest batch. */
  afterBatch(): void {
    if (!this.signalled) {
      this.after();
      return;
    }
    if (this.closed) return;
    this.quiet = false;
    this.tickIfDue();
  }

  /** A source's batches stopped (its idle signal, a receive error): the timer takes over. */
  idle(): void {
    if (this.closed) return;
    this.quiet = true;
    // Armed unless a tick just ran and left nothing held.
    if (this.tickIfDue() !== false && !this.armed) this.arm();
  }

  /**
   * The sources stopped without an idle signal (paused by back-pressure): the timer takes over.
   * No tick here: back-pressure is reported from inside an output's flush or tick.
   */
  hold(): void {
    if (this.closed) return;
    this.quiet = true;
    if (!this.armed) this.arm();
  }

  /** After work other than a batch that may have left flows for the tick (a template restored). */
  after(): void {
    if (this.closed) return;
    // After a tick more work is likely to follow: the timer stays as the fallback, a full
    // period away.
    if (this.tickIfDue() !== undefined || !this.armed) this.arm();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  /** Runs the tick when a period has passed since the last: whether flows are held; undefined when not due. */
  private tickIfDue(): boolean | undefined {
    const now = performance.now();
    if (now - this.last < this.periodMs) return undefined;
    this.last = now;
    return this.tick();
  }

  private arm(): void {
    this.timer.refresh();
    this.armed = true;
  }

  private fire(): void {
    this.armed = false;
    if (this.closed) return;
    this.last = performance.now();
    // Signalling sources that are not quiet will call idle() after their last batch.
    if (this.tick() && (!this.signalled || this.quiet)) this.arm();
  }
}
