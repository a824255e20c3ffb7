/**
 * The collector service: the main thread (Collector), worker pipelines, metrics, health and
 * logging. `flow-collector serve` is its command line.
 */
export { Collector, StartupError } from './collector.js';
export type { CollectorOptions, StopReport } from './collector.js';
export { createLogger, RateLimitedLog } from './log.js';
export type { LogLevel } from './log.js';
export { classify } from './metrics.js';
export type { WorkerSnapshot, ListenerBound } from './messages.js';
export { steadyJit } from './jit.js';
export { trimFreedMemory, MALLOC_TRIM_INTERVAL_MS, type MemoryTrim } from './memory.js';
