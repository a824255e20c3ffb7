/**
 * The NATS JetStream publisher (one per worker and nats output) and the consumer-side decoder.
 * See docs/nats.md.
 */
export { NatsPublisher, HEADER_COUNT, HEADER_FORMAT, exporterToken } from './publisher.js';
export type { NatsPublisherOptions, PublisherLog } from './publisher.js';
export { decodeFlowBatch, decodeFlowMessage } from './decode.js';
export type { DecodedFlow, FlowBatchMessage } from './decode.js';
export { ensureStream, describeNatsError, streamApiSubjects, NatsPermissionError } from './stream.js';
export type { NatsFailure, DescribedError, EnsureResult } from './stream.js';
export { connectionOptions, backoffMs } from './connect.js';
