/**
 * Counters by reason. Every error, limit hit and template event is counted here under a
 * stable reason string (documented in docs/errors.md); metrics export them as labels.
 * Incrementing does not allocate once a reason has been seen.
 */
export class Counters {
  private readonly map = new Map<string, number>();

  inc(reason: string, n = 1): void {
    this.map.set(reason, (this.map.get(reason) ?? 0) + n);
  }

  get(reason: string): number {
    return this.map.get(reason) ?? 0;
  }

  /** A snapshot, sorted by reason, for --summary output and metrics. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const k of [...this.map.keys()].sort()) out[k] = this.map.get(k)!;
    return out;
  }

  forEach(fn: (reason: string, value: number) => void): void {
    this.map.forEach((v, k) => fn(k, v));
  }
}
