/** sFlow v5 decoding: the package's public surface. */
export { SflowDecoder, SflowReason, isSflowDatagram, type SflowDecoderOptions } from './decoder.js';
export { CounterRecord, u64ToNumber, u64ToBigInt, type CounterSink } from './counters.js';
