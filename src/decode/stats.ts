import { COUNTER_ZERO, counted } from '../counting.js';

/**
 * Counters by reason. Every error, limit hit and template event is counted here under a
 * stable reason string (documented in docs/errors.md); metrics export them as labels.
 * Incrementing does not allocate once a reason has been seen; hot paths hold a reason's cell
 * (`cell`) and add to it without a look-up.
 */
export class Counter {
  /** A double from the start: see src/counting.ts. */
  v = COUNTER_ZERO;
}

export class Counters {
  private readonly map = new Map<string, Counter>();

  /** The reason's cell, for hot paths: `cell.v += n` counts without a look-up. */
  cell(reason: string): Counter {
    let c = this.map.get(reason);
    if (c === undefined) {
      c = new Counter();
      this.map.set(reason, c);
    }
    return c;
  }

  inc(reason: string, n = 1): void {
    this.cell(reason).v += n;
  }

  get(reason: string): number {
    return counted(this.map.get(reason)?.v ?? 0);
  }

  /** A snapshot, sorted by reason, for --summary output and metrics (reasons never counted left out). */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const k of [...this.map.keys()].sort()) {
      const v = this.map.get(k)!.v;
      if (v !== 0) out[k] = v;
    }
    return out;
  }

  forEach(fn: (reason: string, value: number) => void): void {
    this.map.forEach((c, k) => {
      if (c.v !== 0) fn(k, c.v);
    });
  }
}
