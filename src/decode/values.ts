/**
 * Slow-path value decoding: options records, RFC 6313 structured lists and anything else that
 * is decoded into plain JavaScript values rather than into a FlowRecord slot.
 */
import { DataType, type ElementInfo } from './record.js';
import { u16, u32, uN, uNString } from './read.js';
import { NTP_UNIX_OFFSET } from './time.js';

const HEX: string[] = [];
for (let i = 0; i < 256; i++) HEX.push(i.toString(16).padStart(2, '0'));

export function hex(b: Uint8Array, p: number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) s += HEX[b[p + i]!];
  return s;
}

export function ipv4String(b: Uint8Array, p: number): string {
  return `${b[p]}.${b[p + 1]}.${b[p + 2]}.${b[p + 3]}`;
}

/** RFC 5952 text form of an IPv6 address. */
export function ipv6String(b: Uint8Array, p: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(u16(b, p + i * 2));
  // Longest run of zero groups (length >= 2) becomes "::".
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestStart === 0 && bestLen === 5 && g[5] === 0xffff) {
    return `::ffff:${b[p + 12]}.${b[p + 13]}.${b[p + 14]}.${b[p + 15]}`;
  }
  const part = (a: number, z: number) => g.slice(a, z).map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return part(0, 8);
  return `${part(0, bestStart)}::${part(bestStart + bestLen, 8)}`;
}

export function macString(b: Uint8Array, p: number): string {
  return `${HEX[b[p]!]}:${HEX[b[p + 1]!]}:${HEX[b[p + 2]!]}:${HEX[b[p + 3]!]}:${HEX[b[p + 4]!]}:${HEX[b[p + 5]!]}`;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** UTF-8 string ending at the first NUL (vendors zero-pad fixed-length strings, some leave garbage after the NUL). */
export function stringValue(b: Uint8Array, p: number, len: number): string {
  let end = p;
  const lim = p + len;
  while (end < lim && b[end] !== 0) end++;
  return utf8.decode(b.subarray(p, end));
}

/** Unsigned value as a number when exact, else as a decimal string. */
export function unsignedValue(b: Uint8Array, p: number, len: number): number | string {
  if (len <= 6) return uN(b, p, len);
  const v = uN(b, p, len);
  return Number.isSafeInteger(v) ? v : uNString(b, p, len);
}

function signedValue(b: Uint8Array, p: number, len: number): number | string {
  let v = 0n;
  for (let i = 0; i < len; i++) v = (v << 8n) | BigInt(b[p + i]!);
  const bits = BigInt(len * 8);
  if (v >> (bits - 1n)) v -= 1n << bits;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v.toString();
}

/**
 * A plain value for one field, by the element's abstract data type. Lengths that do not fit
 * the type fall back to a hex string rather than failing.
 */
export function plainValue(info: ElementInfo, b: Uint8Array, p: number, len: number): unknown {
  switch (info.type) {
    case DataType.unsigned8:
    case DataType.unsigned16:
    case DataType.unsigned32:
    case DataType.unsigned64:
    case DataType.dateTimeSeconds:
    case DataType.dateTimeMilliseconds:
      return len >= 1 && len <= 8 ? unsignedValue(b, p, len) : hex(b, p, len);
    case DataType.signed8:
    case DataType.signed16:
    case DataType.signed32:
    case DataType.signed64:
      return len >= 1 && len <= 8 ? signedValue(b, p, len) : hex(b, p, len);
    case DataType.float32:
      if (len === 4) return new DataView(b.buffer, b.byteOffset + p, 4).getFloat32(0);
      if (len === 8) return new DataView(b.buffer, b.byteOffset + p, 8).getFloat64(0);
      return hex(b, p, len);
    case DataType.float64:
      if (len === 8) return new DataView(b.buffer, b.byteOffset + p, 8).getFloat64(0);
      if (len === 4) return new DataView(b.buffer, b.byteOffset + p, 4).getFloat32(0);
      return hex(b, p, len);
    case DataType.boolean:
      return len === 1 ? b[p] === 1 : hex(b, p, len);
    case DataType.macAddress:
      return len === 6 ? macString(b, p) : hex(b, p, len);
    case DataType.string:
      return stringValue(b, p, len);
    case DataType.ipv4Address:
      return len === 4 ? ipv4String(b, p) : hex(b, p, len);
    case DataType.ipv6Address:
      return len === 16 ? ipv6String(b, p) : hex(b, p, len);
    case DataType.dateTimeMicroseconds:
    case DataType.dateTimeNanoseconds:
      if (len !== 8) return hex(b, p, len);
      return ntpToNanosString(u32(b, p), u32(b, p + 4));
    default:
      return hex(b, p, len);
  }
}

/** NTP timestamp as exact Unix nanoseconds in decimal. */
export function ntpToNanosString(sec: number, frac: number): string {
  const ns = (BigInt(sec - NTP_UNIX_OFFSET) * 1_000_000_000n) + ((BigInt(frac) * 1_000_000_000n) >> 32n);
  return ns.toString();
}
