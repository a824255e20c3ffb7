// Public surface of the ingest package: batch UDP sources (native recvmmsg
// addon or Node dgram) and the sendmmsg batch sender.

export {
  allocBatch,
  datagramOffset,
  datagramView,
  formatIPv6,
  parseAddress,
  sourceAddress,
  timestampMs,
  type Batch,
} from './batch.js';
export {
  openSource,
  type BatchSource,
  type SocketStats,
  type SourceOptions,
  type SourceStats,
  type SpreadMode,
} from './source.js';
export { BatchSender, type Destination, type SenderOptions } from './sender.js';
export { choosePath, INGEST_ENV, loadAddon, type IngestPath, type PathChoice } from './native.js';
