import type { Counters } from '../decode/stats.js';

/** Header values a buffered data set needs to be decoded later exactly as if on time. */
export interface PendingHeader {
  exportSec: number;
  /** NetFlow v9 sysUptime in ms (0 for IPFIX). */
  sysUptime: number;
  sequence: number;
  recvSec: number;
  recvNsec: number;
}

export interface PendingEntry extends PendingHeader {
  readonly templateId: number;
  /** A private copy of the data set's records (set header excluded). */
  readonly data: Uint8Array;
  /** When it was buffered, in ms (the datagram's receive time). */
  readonly at: number;
}

/** Byte budget shared by all scopes' pending queues. */
export class PendingBudget {
  used = 0;
  constructor(readonly max: number) {}
}

/**
 * Data sets that arrived before their template, for one scope. Bounded per scope, in total
 * bytes (shared budget) and by age. Counted: buffered, replayed, expired, dropped (by reason).
 */
export class PendingQueue {
  private entries: PendingEntry[] = [];
  private bytes = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly maxAgeMs: number,
    private readonly budget: PendingBudget,
    private readonly counters: Counters,
  ) {}

  get size(): number {
    return this.entries.length;
  }

  get byteSize(): number {
    return this.bytes;
  }

  /** Copies and keeps a data set. Returns false (and counts why) when a limit refuses it. */
  add(templateId: number, buf: Uint8Array, off: number, len: number, h: PendingHeader, nowMs: number): boolean {
    this.expire(nowMs);
    if (len > this.maxBytes) {
      this.counters.inc('pending.dropped.too_large');
      return false;
    }
    // Make room in this scope by dropping its oldest entries first.
    while (this.bytes + len > this.maxBytes && this.entries.length > 0) {
      this.dropOldest('pending.dropped.scope_full');
    }
    if (this.budget.used + len > this.budget.max) {
      this.counters.inc('pending.dropped.total_full');
      return false;
    }
    const data = new Uint8Array(len);
    data.set(buf.subarray(off, off + len));
    this.entries.push({
      templateId,
      data,
      at: nowMs,
      exportSec: h.exportSec,
      sysUptime: h.sysUptime,
      sequence: h.sequence,
      recvSec: h.recvSec,
      recvNsec: h.recvNsec,
    });
    this.bytes += len;
    this.budget.used += len;
    this.counters.inc('pending.buffered');
    return true;
  }

  /** Removes and returns, oldest first, every entry waiting for `templateId`. */
  take(templateId: number): PendingEntry[] {
    if (this.entries.length === 0) return [];
    const out: PendingEntry[] = [];
    const keep: PendingEntry[] = [];
    for (const e of this.entries) (e.templateId === templateId ? out : keep).push(e);
    if (out.length === 0) return out;
    this.entries = keep;
    for (const e of out) {
      this.bytes -= e.data.length;
      this.budget.used -= e.data.length;
    }
    this.counters.inc('pending.replayed', out.length);
    return out;
  }

  /** Drops entries older than the age limit. */
  expire(nowMs: number): void {
    const limit = nowMs - this.maxAgeMs;
    while (this.entries.length > 0 && this.entries[0]!.at < limit) this.dropOldest('pending.expired');
  }

  /** Drops everything (scope evicted); each entry counted under `reason`. */
  clear(reason: string): void {
    while (this.entries.length > 0) this.dropOldest(reason);
  }

  private dropOldest(reason: string): void {
    const e = this.entries.shift()!;
    this.bytes -= e.data.length;
    this.budget.used -= e.data.length;
    this.counters.inc(reason);
  }
}
