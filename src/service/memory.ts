/**
 * Giving freed memory back to the system, for a long-running collector on glibc.
 *
 * Node allocates the memory of every Buffer/ArrayBuffer of 4 KiB or more with malloc. glibc
 * serves a block of 128 KiB or more with its own mmap, returned to the system when freed, but
 * the first time such a block is freed it raises that threshold to the block's size (up to
 * 32 MiB), and from then on blocks that size come from its arenas, where freed memory stays
 * resident whenever anything still in use lies above it. The collector's large blocks are its
 * output batches (1 MiB and more), the messages an output queue holds and what nats.js packs
 * them into. After a NATS outage had filled the 2 x 64 MiB queues, serve's resident memory stayed
 * at ~600 MiB once the queue was delivered (the workers' heaps and external memory back at ~100
 * and ~130 MiB), and rose with each further outage (bench/soak.ts).
 *
 * Two ways out were measured (docs/benchmarks.md, "A fourteenth machine"):
 * - A fixed mmap threshold (mallopt, or MALLOC_MMAP_THRESHOLD_=131072): every large block is
 *   mmapped and unmapped. Resident memory followed what was in use (~240 MiB after three
 *   outages), but every batch nats.js packs was then new pages: serve -> NATS at 1.5M flows/s
 *   spent twice the system time (1.29-1.32 s against 0.53-0.75 per 5.8 s run), ~+10 % CPU per flow.
 * - malloc_trim(0) now and then (taken): glibc hands back the free pages of every arena, also
 *   those between blocks in use, and allocation stays as it was. 200 MiB of freed 1 MiB Buffers
 *   among live small ones: 16 ms, resident memory back to where it started.
 *
 * The main thread calls it every MALLOC_TRIM_INTERVAL_MS (a timer that does not keep the process
 * alive). It is process-wide (every worker's arenas) and locks each arena in turn while it walks
 * it. It needs the native addon, so it follows the collector's own choice of ingest path: on the
 * dgram path nothing is trimmed. Only the `serve` command runs it: a library user's process has
 * its own allocation pattern.
 */
import { loadAddon, type PathChoice } from '../ingest/mod.js';

/** How often serve's main thread asks glibc to give back free memory. */
export const MALLOC_TRIM_INTERVAL_MS = 30_000;

export interface MemoryTrim {
  /** "every 30 s", or why there is no trimming. */
  readonly state: string;
  /** Trims done so far. */
  readonly trims: number;
  /** Trims at once (besides the timer's); false when there is nothing to call. */
  trimNow(): boolean;
  stop(): void;
}

/**
 * Starts trimming every `intervalMs` (the first trim at once, which also tells whether there is
 * glibc); on the dgram path (`ingest`: the collector's choice), without glibc or without
 * mallocTrim in the addon, a MemoryTrim that does nothing.
 */
export function trimFreedMemory(ingest: PathChoice, intervalMs = MALLOC_TRIM_INTERVAL_MS): MemoryTrim {
  const off = (state: string): MemoryTrim => ({ state, trims: 0, trimNow: () => false, stop: () => undefined });
  if (ingest.path !== 'addon') return off(`off (${ingest.reason})`);
  const { addon, error } = loadAddon();
  if (addon === null) return off(`off (no native addon: ${error})`);
  const trim = addon.mallocTrim;
  if (typeof trim !== 'function') return off('off (the native addon predates mallocTrim)');
  if (trim() === undefined) return off('off (not glibc)');
  let trims = 1;
  const timer = setInterval(() => {
    trim();
    trims++;
  }, intervalMs);
  timer.unref();
  return {
    state: `every ${intervalMs / 1000} s`,
    get trims() {
      return trims;
    },
    trimNow() {
      trim();
      trims++;
      return true;
    },
    stop: () => clearInterval(timer),
  };
}
