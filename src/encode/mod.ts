/**
 * Public surface of the encoders: flowpb protobuf (single message and length-delimited stream
 * form), NDJSON, and small formatting helpers. Formats are described in docs/encoding.md.
 */
export { ByteWriter } from './writer.js';
export {
  FlowPbEncoder,
  DelimitedBatchWriter,
  writeFlowMessage,
  writeFlowMessageDelimited,
  splitDelimited,
  delimitedFrameEnd,
  delimitedMessageStart,
} from './flowpb.js';
export { JsonEncoder, NdjsonBatchWriter, writeFlowJson } from './json.js';
export { formatIp, formatMac } from './format.js';
export { CounterEncoder } from './counters.js';
