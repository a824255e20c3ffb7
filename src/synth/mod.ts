/**
 * Synthetic flow export datagrams: the only public surface of src/synth. Used by the worker
 * warm-up (src/service/warmup.ts) and by blast's synthetic exporters (src/blast/synth-*.ts).
 *
 * One seeded PRNG (rng.ts) drives one flow generator (flow.ts); writers put NetFlow v5 (v5.ts),
 * v9 / IPFIX (netflow.ts: headers, sets, templates, options; records.ts: data records) and
 * sFlow v5 (sflow.ts) datagrams into a reusable ByteWriter (writer.ts).
 */
export { Rng } from './rng.js';
export { ByteWriter } from './writer.js';
export { makeFlow, type Flow } from './flow.js';
export {
  beginMessage, endMessage, beginSet, endSet, templateSetId, templateRecord, optionsTemplateRecord, optionsRecord, VARLEN,
  type Field, type NetflowVersion, type MessageHeader,
} from './netflow.js';
export { writeRecord, maxRecordLen, type RecordClock } from './records.js';
export { v5Header, v5Record, V5_HEADER_LEN, V5_RECORD_LEN, type V5Header } from './v5.js';
export { sflowHeader, flowSample, countersSample, sampledFrame, SFLOW_HEADER_BYTES, type SflowHeader, type FlowSampleHeader } from './sflow.js';
