/** Data records of v9 / IPFIX templates: each element's value taken from a synthetic flow. */
import type { Flow } from './flow.js';
import { VARLEN, type Field } from './netflow.js';
import type { ByteWriter } from './writer.js';

/** What a record's times are relative to, and the sampler it names. */
export interface RecordClock {
  /** Exporter uptime at export (v9 first/last switched are uptime-relative). */
  uptimeMs: number;
  /** Export time, Unix milliseconds. */
  exportMs: number;
  samplerId: number;
}

/** Longest a record of `fields` can be (a variable-length application name: 1 + 16 bytes). */
export function maxRecordLen(fields: readonly Field[]): number {
  let n = 0;
  for (const [, len] of fields) n += len === VARLEN ? 1 + 16 : len;
  return n;
}

/** One data record of `fields` for flow `f`. Numbers wider than a field keep their low bytes. */
export function writeRecord(w: ByteWriter, fields: readonly Field[], f: Flow, c: RecordClock): void {
  for (const [id, len] of fields) {
    if (len === VARLEN) writeVarlen(w, id, f);
    else {
      const a = address(id, f);
      if (a !== undefined) w.bytes(a);
      else w.uint(len, value(id, f, c));
    }
  }
}

/** IPv4/IPv6 addresses and MACs: their bytes as they are. */
function address(id: number, f: Flow): Buffer | undefined {
  switch (id) {
    case 8: case 27: return f.src;
    case 12: case 28: return f.dst;
    case 15: case 62: return f.nextHop;
    case 56: return f.srcMac;
    case 80: return f.dstMac;
    default: return undefined;
  }
}

function value(id: number, f: Flow, c: RecordClock): number {
  switch (id) {
    case 1: return f.bytes;
    case 2: return f.packets;
    case 4: return f.proto;
    case 5: return f.tos;
    case 6: return f.tcpFlags;
    case 7: return f.srcPort;
    case 11: return f.dstPort;
    case 32: case 139: return f.dstPort; // ICMP type and code (in the destination port, as v5 has them)
    case 9: case 29: return f.srcMask;
    case 13: case 30: return f.dstMask;
    case 10: return f.inIf;
    case 14: return f.outIf;
    case 16: return f.srcAs;
    case 17: return f.dstAs;
    case 31: return f.flowLabel;
    case 48: return c.samplerId;
    case 58: return f.vlan;
    case 60: return f.v6 ? 6 : 4;
    case 61: return f.direction;
    case 89: return 0x40; // forwarded, unknown reason
    case 136: return f.endReason;
    case 192: return f.ttl;
    case 22: return c.uptimeMs - f.startAgoMs;
    case 21: return c.uptimeMs - f.endAgoMs;
    case 150: return Math.floor((c.exportMs - f.startAgoMs) / 1000);
    case 151: return Math.floor((c.exportMs - f.endAgoMs) / 1000);
    case 152: return c.exportMs - f.startAgoMs;
    case 153: return c.exportMs - f.endAgoMs;
    default:
      throw new Error(`synth: no value for element ${id}`);
  }
}

function writeVarlen(w: ByteWriter, id: number, f: Flow): void {
  if (id !== 96) throw new Error(`synth: no variable-length value for element ${id}`);
  const n = w.b.write(f.app, w.p + 1, 'latin1');
  w.u8(n);
  w.p += n;
}
