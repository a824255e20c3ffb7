import { FlowDecoder, Exporter, type FlowDecoderOptions } from '../../src/decode/mod.js';
import { JsonEncoder } from '../../src/encode/mod.js';

/** A decoded flow as its NDJSON object (snake_case FlowMessage fields + `fields`). */
export type Flow = Record<string, any>;

/** A FlowDecoder whose flows are snapshotted as parsed NDJSON objects. */
export function collectingDecoder(opts: Partial<FlowDecoderOptions> = {}): { dec: FlowDecoder; flows: Flow[]; feed: (b: Uint8Array, ex?: Exporter, recvSec?: number) => string | undefined } {
  const flows: Flow[] = [];
  const enc = new JsonEncoder();
  const dec = new FlowDecoder({ ...opts, sink: { onFlow: (r) => flows.push(JSON.parse(enc.encodeToString(r))) } });
  const defaultEx = new Exporter('192.0.2.1', 2055);
  const feed = (b: Uint8Array, ex: Exporter = defaultEx, recvSec = 1_700_000_000) => dec.decode(b, 0, b.length, ex, recvSec, 0);
  return { dec, flows, feed };
}
