/**
 * Outputs: the sink seam (`FlowOutput`) and the stream outputs (stdout, file) with their
 * bounded queues and drop policies.
 */
export { emptyDropped, LATENCY_BUCKETS_S } from './output.js';
export type { DrainResult, DropPolicy, DropReason, FlowOutput, NatsStats, OutputStats } from './output.js';
export { NatsPublisher, connectionOptions } from './nats/mod.js';
export { StreamOutput } from './stream.js';
export type { ChunkWriter, StreamFormat, StreamOutputOptions } from './stream.js';
export { FileChunkWriter } from './file.js';
export { PortChunkWriter, StdoutPump } from './stdout.js';
