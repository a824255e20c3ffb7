/**
 * For consumers of the stream: split a NATS message published by the collector into its
 * FlowMessages, and decode one FlowMessage into a plain object (field names as in
 * proto/flow.proto). No dependency on a protobuf library.
 */
import { splitDelimited } from '../../encode/mod.js';
import { HEADER_COUNT, HEADER_FORMAT } from './publisher.js';

/** What decodeFlowBatch needs of a NATS message (a nats.js Msg or JsMsg fits). */
export interface FlowBatchMessage {
  data: Uint8Array;
  headers?: { get(k: string): string } | undefined;
}

/**
 * The FlowMessages of one NATS message, as views into `msg.data` (no copies): the
 * length-delimited frames of 'flowpb-batch', or the one message of 'flowpb' (also what a
 * publisher without the Flow-Format header, such as ServiceRadar's, sends). Throws on a 'json'
 * message (use JSON.parse) and on a batch whose frame count differs from its Flow-Count header.
 */
export function decodeFlowBatch(msg: FlowBatchMessage): Uint8Array[] {
  const format = msg.headers?.get(HEADER_FORMAT) || 'flowpb';
  if (format === 'json') throw new Error('a json message holds one JSON flow: use JSON.parse on its data');
  if (format === 'flowpb') return [msg.data];
  if (format !== 'flowpb-batch') throw new Error(`unknown ${HEADER_FORMAT} "${format}"`);
  const frames = splitDelimited(msg.data);
  const count = msg.headers?.get(HEADER_COUNT);
  if (count && Number(count) !== frames.length) throw new Error(`${HEADER_COUNT} says ${count} flows, the message holds ${frames.length}`);
  return frames;
}

type Kind = 'u32' | 'u64' | 'ns' | 'bytes' | 'string' | 'ru32' | 'rbytes';
const FIELDS: Record<number, [string, Kind]> = {
  1: ['type', 'u32'],
  110: ['time_received_ns', 'ns'],
  4: ['sequence_num', 'u32'],
  3: ['sampling_rate', 'u64'],
  11: ['sampler_address', 'bytes'],
  111: ['time_flow_start_ns', 'ns'],
  112: ['time_flow_end_ns', 'ns'],
  9: ['bytes', 'u64'],
  10: ['packets', 'u64'],
  6: ['src_addr', 'bytes'],
  7: ['dst_addr', 'bytes'],
  30: ['etype', 'u32'],
  20: ['proto', 'u32'],
  21: ['src_port', 'u32'],
  22: ['dst_port', 'u32'],
  18: ['in_if', 'u32'],
  19: ['out_if', 'u32'],
  27: ['src_mac', 'u64'],
  28: ['dst_mac', 'u64'],
  33: ['src_vlan', 'u32'],
  34: ['dst_vlan', 'u32'],
  29: ['vlan_id', 'u32'],
  23: ['ip_tos', 'u32'],
  24: ['forwarding_status', 'u32'],
  25: ['ip_ttl', 'u32'],
  38: ['ip_flags', 'u32'],
  26: ['tcp_flags', 'u32'],
  31: ['icmp_type', 'u32'],
  32: ['icmp_code', 'u32'],
  37: ['ipv6_flow_label', 'u32'],
  35: ['fragment_id', 'u32'],
  36: ['fragment_offset', 'u32'],
  14: ['src_as', 'u32'],
  15: ['dst_as', 'u32'],
  12: ['next_hop', 'bytes'],
  13: ['next_hop_as', 'u32'],
  16: ['src_net', 'u32'],
  17: ['dst_net', 'u32'],
  100: ['bgp_next_hop', 'bytes'],
  101: ['bgp_communities', 'ru32'],
  102: ['as_path', 'ru32'],
  80: ['mpls_ttl', 'ru32'],
  81: ['mpls_label', 'ru32'],
  82: ['mpls_ip', 'rbytes'],
  70: ['observation_domain_id', 'u32'],
  71: ['observation_point_id', 'u32'],
  103: ['layer_stack', 'ru32'],
  104: ['layer_size', 'ru32'],
  105: ['ipv6_routing_header_addresses', 'rbytes'],
  106: ['ipv6_routing_header_seg_left', 'u32'],
  107: ['protocol_name', 'string'],
  113: ['bytes_in', 'u64'],
  114: ['bytes_out', 'u64'],
  115: ['packets_in', 'u64'],
  116: ['packets_out', 'u64'],
  1000: ['export_version', 'u32'],
  1001: ['in_if_name', 'string'],
  1002: ['out_if_name', 'string'],
  1003: ['in_if_desc', 'string'],
  1004: ['out_if_desc', 'string'],
  1005: ['template_id', 'u32'],
  1006: ['raw_bytes', 'u64'],
  1007: ['raw_packets', 'u64'],
  1008: ['vrf_name', 'string'],
};

/**
 * A decoded FlowMessage: scalar fields as numbers (uint64 counters lose precision past 2^53),
 * *_ns times as bigint, addresses and bytes as Uint8Array, repeated fields as arrays. Fields at
 * their proto3 default are absent. Fields this table does not know are kept by number in
 * `unknown` (as raw varint bigints or bytes).
 */
export type DecodedFlow = Record<string, number | bigint | string | Uint8Array | number[] | Uint8Array[] | Record<number, unknown[]>>;

const utf8 = new TextDecoder();

export function decodeFlowMessage(buf: Uint8Array): DecodedFlow {
  const out: DecodedFlow = {};
  let p = 0;
  const varint = (): bigint => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      if (p >= buf.length || shift > 63n) throw new Error('malformed varint');
      const c = buf[p++]!;
      v |= BigInt(c & 127) << shift;
      if (c < 128) return v;
      shift += 7n;
    }
  };
  while (p < buf.length) {
    const key = Number(varint());
    const field = key >>> 3;
    const wire = key & 7;
    const def = FIELDS[field];
    if (wire === 0) {
      const v = varint();
      if (def === undefined) addUnknown(out, field, v);
      else if (def[1] === 'ns') out[def[0]] = v;
      else if (def[1] === 'ru32') ((out[def[0]] ??= []) as number[]).push(Number(v));
      else out[def[0]] = Number(v);
    } else if (wire === 2) {
      const len = Number(varint());
      if (p + len > buf.length) throw new Error('truncated field');
      const b = buf.subarray(p, p + len);
      p += len;
      if (def === undefined) addUnknown(out, field, b);
      else if (def[1] === 'string') out[def[0]] = utf8.decode(b);
      else if (def[1] === 'rbytes') ((out[def[0]] ??= []) as Uint8Array[]).push(b);
      else if (def[1] === 'ru32') {
        // Packed repeated varints.
        const arr = (out[def[0]] ??= []) as number[];
        const end = p;
        p -= len;
        while (p < end) arr.push(Number(varint()));
      } else out[def[0]] = b;
    } else if (wire === 1) {
      addUnknown(out, field, buf.subarray(p, p + 8));
      p += 8;
    } else if (wire === 5) {
      addUnknown(out, field, buf.subarray(p, p + 4));
      p += 4;
    } else throw new Error(`unsupported wire type ${wire} (field ${field})`);
  }
  return out;
}

function addUnknown(out: DecodedFlow, field: number, v: unknown): void {
  const u = (out['unknown'] ??= {}) as Record<number, unknown[]>;
  (u[field] ??= []).push(v);
}
