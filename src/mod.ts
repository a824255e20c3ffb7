/**
 * The package surface for programs that consume what the collector publishes: split a NATS
 * message into FlowMessages and decode them (docs/nats.md, "Consuming").
 */
export { decodeFlowBatch, decodeFlowMessage, HEADER_COUNT, HEADER_FORMAT } from './output/nats/mod.js';
export type { DecodedFlow, FlowBatchMessage } from './output/nats/mod.js';
export { splitDelimited } from './encode/mod.js';
