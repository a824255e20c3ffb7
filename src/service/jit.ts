/**
 * V8 settings for a long-running decoding process.
 *
 * On-stack replacement (OSR) off. The decoders' hot functions (a template's transcoder, the
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
 * Process-wide (worker threads included), so it must run before the workers start. Only the
 * `serve` command sets it: a library user's process may have long single-call loops that need
 * OSR.
 */
import { setFlagsFromString } from 'node:v8';

export function steadyJit(): void {
  setFlagsFromString('--no-use-osr');
}
