/**
 * NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) message structure: headers, sets, template and
 * options template records, options data records. Data records: records.ts.
 */
import type { ByteWriter } from './writer.js';

/** A field specifier: element id and length (VARLEN: IPFIX variable length). */
export type Field = readonly [id: number, len: number];
export const VARLEN = 0xffff;
export type NetflowVersion = 9 | 10;

export interface MessageHeader {
  /** v9 only (IPFIX has no uptime). */
  uptimeMs: number;
  exportSec: number;
  seq: number;
  /** v9 source id / IPFIX observation domain. */
  domain: number;
}

/** Starts a message in an empty writer; the count (v9) or length (IPFIX) is set by endMessage. */
export function beginMessage(w: ByteWriter, version: NetflowVersion, h: MessageHeader): void {
  w.u16(version).u16(0);
  if (version === 9) w.u32(h.uptimeMs);
  w.u32(h.exportSec).u32(h.seq).u32(h.domain);
}

/** The message's bytes; `records` is v9's header count (template, options and data records). */
export function endMessage(w: ByteWriter, version: NetflowVersion, records: number): Buffer {
  w.setU16(2, version === 9 ? records : w.p);
  return w.take();
}

/** Starts a set (v9 flowset); returns its start for endSet. */
export function beginSet(w: ByteWriter, id: number): number {
  const start = w.p;
  w.u16(id).u16(0);
  return start;
}

/** Ends a set: v9 pads it to a multiple of 4 bytes (RFC 3954); IPFIX sets stay unpadded (padding is optional there). */
export function endSet(w: ByteWriter, start: number, version: NetflowVersion): void {
  if (version === 9) w.pad4(start);
  w.setU16(start + 2, w.p - start);
}

/** Template set id: 0 in v9, 2 in IPFIX; options template set: 1 and 3. */
export function templateSetId(version: NetflowVersion, options: boolean): number {
  return (version === 9 ? 0 : 2) + (options ? 1 : 0);
}

function specs(w: ByteWriter, fields: readonly Field[]): void {
  for (const [id, len] of fields) w.u16(id).u16(len);
}

export function templateRecord(w: ByteWriter, id: number, fields: readonly Field[]): void {
  w.u16(id).u16(fields.length);
  specs(w, fields);
}

/** Options template record: v9 gives scope and option lengths in bytes, IPFIX field and scope counts. */
export function optionsTemplateRecord(w: ByteWriter, version: NetflowVersion, id: number, scope: readonly Field[], fields: readonly Field[]): void {
  if (version === 9) w.u16(id).u16(scope.length * 4).u16(fields.length * 4);
  else w.u16(id).u16(scope.length + fields.length).u16(scope.length);
  specs(w, scope);
  specs(w, fields);
}

/**
 * An options data record: one value per scope field, then one per option field; a number is
 * written unsigned, a string (an interface name) as its ASCII bytes, NUL-padded to the field.
 */
export function optionsRecord(w: ByteWriter, scope: readonly Field[], fields: readonly Field[], values: readonly (number | string)[]): void {
  const put = (len: number, v: number | string) => {
    if (typeof v === 'number') w.uint(len, v);
    else for (let i = 0; i < len; i++) w.u8(i < v.length ? v.charCodeAt(i) & 0x7f : 0);
  };
  for (let i = 0; i < scope.length; i++) put(scope[i]![1], values[i]!);
  for (let i = 0; i < fields.length; i++) put(fields[i]![1], values[scope.length + i]!);
}
