/**
 * V8 settings for a long-running decoding process.
 *
 * 1. On-stack replacement (OSR) off. The decoders' hot functions (a template's transcoder, the
 * export decoder) each run a loop per call, over the records of a data set, and are called
 * hundreds of thousands of times a second. With OSR on, one run in three or so went slow for
 * seconds (serve at 0.37-0.53 µs CPU per v9 flow instead of 0.22-0.24, the same in a decode
 * loop with no I/O at all): an early deoptimisation (a new map) landed while V8 was compiling
 * OSR code for the same function; afterwards each call started in baseline (Sparkplug) code
 * and jumped into the OSR code at the loop, and the function was not marked for a full
 * optimisation again until seconds later. Without OSR a deoptimised function is re-optimised
 * after a few calls, which is all these functions need (no hot path here spends long in one
 * call). Measured in docs/benchmarks.md ("Slow mode").
 *
 * 2. The workers' initial old-generation size: 128 MiB (V8's default starts near 10 MiB and
 * grows with what survives). ArrayBuffer backing stores count towards it, and a NATS output
 * allocates one per message flushed: nats.js packs each flush into a new buffer, about 200 MB/s
 * at 1.5 M flows/s. With the default the worker ran a full mark-compact every 15 MB of them,
 * ~14 a second, marking costing the worker and V8's helper threads ~0.15 µs per flow
 * (serve -> NATS, v9 50k datagrams/s: 0.63 µs CPU/flow, 90 mark-compacts in a run; with 128 MiB:
 * 0.47, 8, every flow stored; docs/benchmarks.md). Those buffers die young and go with the
 * scavenges, so resident memory rose ~20 MB, not 128; the setting is when a full collection
 * starts, not memory held. Only isolates created after it see it: the workers, not the main
 * thread (which allocates little).
 *
 * Both are process-wide (worker threads included), so they must be set before the workers
 * start. Only the `serve` command sets them: a library user's process may have long single-call
 * loops that need OSR, and its own view of its heap.
 */
import { setFlagsFromString } from 'node:v8';

/** Initial old-generation size of each worker's heap, MiB. */
const WORKER_INITIAL_OLD_SPACE_MB = 128;

export function steadyJit(): void {
  setFlagsFromString('--no-use-osr');
  setFlagsFromString(`--initial-old-space-size=${WORKER_INITIAL_OLD_SPACE_MB}`);
}
