import type { Counters } from '../decode/stats.js';
import { COUNTER_ZERO } from '../counting.js';

/** Header values a buffered data set needs to be decoded later exactly as if on time. */
export interface PendingHeader {
  exportSec: number;
  /** NetFlow v9 sysUptime in ms (0 for IPFIX). */
  sysUptime: number;
  sequence: number;
  recvSec: number;
  recvNsec: number;
}

/**
 * A header to fill in. Every one has the same shape and field representations (sysUptime and
 * sequence are 32-bit unsigned, doubles from the start: src/counting.ts), so code that reads the
 * decoder's header and the pending buffer's copies sees one kind of object.
 */
export function newPendingHeader(): PendingHeader {
  return { exportSec: 0, sysUptime: COUNTER_ZERO, sequence: COUNTER_ZERO, recvSec: 0, recvNsec: 0 };
}

export function copyPendingHeader(to: PendingHeader, from: PendingHeader): void {
  to.exportSec = from.exportSec;
  to.sysUptime = from.sysUptime;
  to.sequence = from.sequence;
  to.recvSec = from.recvSec;
  to.recvNsec = from.recvNsec;
}

/** A data set waiting for its template. */
export class PendingEntry {
  /** Its message's header, copied. */
  readonly hdr = newPendingHeader();

  constructor(
    readonly templateId: number,
    /**
     * A private copy of the data set's records (set header excluded): a Buffer, as datagrams are,
     * so the template's reader meets one kind of array whether the data came on time or waited.
     */
    readonly data: Buffer,
    /** When it was buffered, in ms (the datagram's receive time). */
    readonly at: number,
    h: PendingHeader,
  ) {
    copyPendingHeader(this.hdr, h);
  }
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
    // Not from Buffer's shared pool: a kept entry would keep a whole pool slab alive.
    const data = Buffer.allocUnsafeSlow(len);
    data.set(buf.subarray(off, off + len));
    this.entries.push(new PendingEntry(templateId, data, nowMs, h));
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
