/**
 * The NATS JetStream KV template store (between collector instances): keys, values and the
 * store. See docs/scaling.md.
 */
export { NatsKvTemplateStore, MISS_BUCKETS_S } from './store.js';
export type { KvStoreOptions, KvStats, KvState, KvLog } from './store.js';
export { keyToken, exporterToken, exporterFromToken, templateKey, optionsKey, parseKey, scopePrefix } from './key.js';
export type { ParsedKey } from './key.js';
export { encodeTemplateEnvelope, encodeOptionsEnvelope, decodeEnvelope, ENVELOPE_VERSION } from './envelope.js';
export type { Envelope } from './envelope.js';
