/**
 * Text formatting primitives written straight into a Buffer: decimal integers (exact, including
 * nanosecond timestamps beyond 2^53), IP addresses (dotted IPv4, RFC 5952 IPv6), MAC addresses
 * and lowercase hex. All take (buffer, position, ...) and return the new position; the caller
 * has ensured capacity (see the per-function maxima).
 */
import { ByteWriter } from './writer.js';

const TWO32 = 4294967296;
const HEX = '0123456789abcdef';
/** ASCII codes of the hex digits. */
const HEXC = new Uint8Array(16);
for (let i = 0; i < 16; i++) HEXC[i] = HEX.charCodeAt(i);

/** Writes an ASCII/Latin-1 string (at most s.length bytes). */
export function wAscii(b: Buffer, p: number, s: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) b[p + i] = s.charCodeAt(i);
  return p + n;
}

/** "00", "01", ... "99" as ASCII pairs. */
const DIGITS2 = new Uint8Array(200);
for (let i = 0; i < 100; i++) {
  DIGITS2[2 * i] = 48 + ((i / 10) | 0);
  DIGITS2[2 * i + 1] = 48 + (i % 10);
}

/** Decimal digits of an unsigned 32-bit integer (<= 10 bytes), two digits per step. */
export function wU32(b: Buffer, p: number, v: number): number {
  if (v < 10) {
    b[p] = 48 + v;
    return p + 1;
  }
  if (v < 100) {
    b[p] = DIGITS2[2 * v]!;
    b[p + 1] = DIGITS2[2 * v + 1]!;
    return p + 2;
  }
  const n =
    v < 1000 ? 3 : v < 10000 ? 4 : v < 100000 ? 5 : v < 1000000 ? 6
      : v < 10000000 ? 7 : v < 100000000 ? 8 : v < 1000000000 ? 9 : 10;
  let q = p + n;
  while (v >= 100) {
    const d = (v / 100) >>> 0;
    const r = 2 * (v - d * 100);
    b[--q] = DIGITS2[r + 1]!;
    b[--q] = DIGITS2[r]!;
    v = d;
  }
  if (v >= 10) {
    b[--q] = DIGITS2[2 * v + 1]!;
    b[--q] = DIGITS2[2 * v]!;
  } else {
    b[--q] = 48 + v;
  }
  return p + n;
}

/** Exactly 9 digits, zero-padded (0 <= v < 1e9). */
function wPad9(b: Buffer, p: number, v: number): number {
  for (let q = p + 7; q > p; q -= 2) {
    const d = (v / 100) >>> 0;
    const r = 2 * (v - d * 100);
    b[q] = DIGITS2[r]!;
    b[q + 1] = DIGITS2[r + 1]!;
    v = d;
  }
  b[p] = 48 + v;
  return p + 9;
}

/**
 * Decimal form of a number that should be a non-negative integer (<= 26 bytes). Integers up to
 * 2^53 are written exactly; anything else falls back to String(), non-finite values to 0.
 */
export function wUint(b: Buffer, p: number, v: number): number {
  if (v >= 0 && v <= 0xffffffff && v === Math.floor(v)) return wU32(b, p, v);
  if (v > 0 && v <= Number.MAX_SAFE_INTEGER && v === Math.floor(v)) {
    const hi = Math.floor(v / 1e9);
    p = wU32(b, p, hi);
    return wPad9(b, p, v - hi * 1e9);
  }
  return wAscii(b, p, Number.isFinite(v) ? String(v) : '0');
}

/** Exact decimal of sec * 1e9 + nsec (<= 30 bytes). */
export function wNs(b: Buffer, p: number, sec: number, nsec: number): number {
  if (nsec >= 1e9 || nsec < 0) {
    const carry = Math.floor(nsec / 1e9);
    sec += carry;
    nsec -= carry * 1e9;
  }
  if (sec === 0) return wUint(b, p, nsec);
  p = wUint(b, p, sec);
  return wPad9(b, p, nsec);
}

/** Exact decimal of the unsigned 64-bit value hi * 2^32 + lo (<= 20 bytes). */
export function wU64HiLo(b: Buffer, p: number, hi: number, lo: number): number {
  if (hi < 0x200000) return wUint(b, p, hi * TWO32 + lo);
  return wAscii(b, p, ((BigInt(hi) << 32n) | BigInt(lo)).toString());
}

/** Lowercase hex of `len` bytes (2 * len bytes). */
export function wHex(b: Buffer, p: number, src: Uint8Array, off: number, len: number): number {
  for (let i = 0; i < len; i++) {
    const c = src[off + i]!;
    b[p++] = HEXC[c >>> 4]!;
    b[p++] = HEXC[c & 15]!;
  }
  return p;
}

function wHexByte(b: Buffer, p: number, c: number): number {
  b[p] = HEXC[c >>> 4]!;
  b[p + 1] = HEXC[c & 15]!;
  return p + 2;
}

/** aa:bb:cc:dd:ee:ff from a 48-bit value held in a number (17 bytes). */
export function wMac(b: Buffer, p: number, n: number): number {
  const hi = Math.floor(n / TWO32) & 0xffff;
  const lo = n >>> 0;
  p = wHexByte(b, p, hi >>> 8);
  b[p++] = 58;
  p = wHexByte(b, p, hi & 255);
  b[p++] = 58;
  p = wHexByte(b, p, lo >>> 24);
  b[p++] = 58;
  p = wHexByte(b, p, (lo >>> 16) & 255);
  b[p++] = 58;
  p = wHexByte(b, p, (lo >>> 8) & 255);
  b[p++] = 58;
  return wHexByte(b, p, lo & 255);
}

/** aa:bb:cc:dd:ee:ff from 6 bytes (17 bytes). */
export function wMacBytes(b: Buffer, p: number, src: Uint8Array, off: number): number {
  for (let i = 0; i < 6; i++) {
    if (i > 0) b[p++] = 58;
    p = wHexByte(b, p, src[off + i]!);
  }
  return p;
}

/** Decimal digits of one byte value (<= 3 bytes). */
function wByteDec(b: Buffer, p: number, c: number): number {
  if (c >= 100) {
    const h = (c / 100) | 0;
    const r = c - h * 100;
    const t = (r / 10) | 0;
    b[p] = 48 + h;
    b[p + 1] = 48 + t;
    b[p + 2] = 48 + r - t * 10;
    return p + 3;
  }
  if (c >= 10) {
    const t = (c / 10) | 0;
    b[p] = 48 + t;
    b[p + 1] = 48 + c - t * 10;
    return p + 2;
  }
  b[p] = 48 + c;
  return p + 1;
}

/** Dotted quad of 4 bytes (<= 15 bytes). */
export function wIpv4(b: Buffer, p: number, src: Uint8Array, off: number): number {
  p = wByteDec(b, p, src[off]!);
  b[p++] = 46;
  p = wByteDec(b, p, src[off + 1]!);
  b[p++] = 46;
  p = wByteDec(b, p, src[off + 2]!);
  b[p++] = 46;
  return wByteDec(b, p, src[off + 3]!);
}

function wHexGroup(b: Buffer, p: number, g: number): number {
  if (g >= 0x1000) b[p++] = HEXC[g >>> 12]!;
  if (g >= 0x100) b[p++] = HEXC[(g >>> 8) & 15]!;
  if (g >= 0x10) b[p++] = HEXC[(g >>> 4) & 15]!;
  b[p++] = HEXC[g & 15]!;
  return p;
}

/**
 * RFC 5952 canonical text of 16 bytes (<= 45 bytes): lowercase, no leading zeros, the longest
 * run (first on ties) of two or more zero groups shortened to "::", and IPv4-mapped addresses
 * as ::ffff:a.b.c.d (section 5).
 */
export function wIpv6(b: Buffer, p: number, src: Uint8Array, off: number): number {
  let bestStart = -1;
  let bestLen = 1; // runs must be >= 2 groups
  let runStart = -1;
  for (let i = 0; i < 8; i++) {
    const g = (src[off + 2 * i]! << 8) | src[off + 2 * i + 1]!;
    if (g === 0) {
      if (runStart < 0) runStart = i;
      const runLen = i - runStart + 1;
      if (runLen > bestLen) {
        bestLen = runLen;
        bestStart = runStart;
      }
    } else {
      runStart = -1;
    }
  }
  // IPv4-mapped ::ffff:a.b.c.d
  if (bestStart === 0 && bestLen === 5 && src[off + 10] === 0xff && src[off + 11] === 0xff) {
    p = wAscii(b, p, '::ffff:');
    return wIpv4(b, p, src, off + 12);
  }
  let i = 0;
  while (i < 8) {
    if (i === bestStart) {
      b[p++] = 58;
      b[p++] = 58;
      i += bestLen;
      continue;
    }
    if (i > 0 && i !== bestStart + bestLen) b[p++] = 58;
    p = wHexGroup(b, p, (src[off + 2 * i]! << 8) | src[off + 2 * i + 1]!);
    i++;
  }
  return p;
}

/**
 * An address of `len` bytes: 4 = IPv4, 16 = IPv6, 0 = nothing, anything else = hex
 * (<= max(45, 2 * len) bytes).
 */
export function wIp(b: Buffer, p: number, src: Uint8Array, off: number, len: number): number {
  if (len === 4) return wIpv4(b, p, src, off);
  if (len === 16) return wIpv6(b, p, src, off);
  return wHex(b, p, src, off, len);
}

// --- string-returning helpers (not for the hot path: each call allocates its result) --------

const scratch = new ByteWriter(256);

/**
 * Printable form of an address held in `bytes` (the first `len` bytes; `len` defaults to the
 * array length): dotted IPv4 for 4, RFC 5952 IPv6 for 16, "" for 0, lowercase hex otherwise.
 */
export function formatIp(bytes: Uint8Array, len: number = bytes.length): string {
  if (len <= 0) return '';
  len = Math.min(len, bytes.length);
  scratch.pos = 0;
  scratch.ensure(Math.max(48, 2 * len));
  const end = wIp(scratch.buf, 0, bytes, 0, len);
  return scratch.buf.toString('latin1', 0, end);
}

/** aa:bb:cc:dd:ee:ff of a 48-bit MAC held in a number (FlowRecord.srcMac / dstMac). */
export function formatMac(n: number): string {
  scratch.pos = 0;
  const end = wMac(scratch.buf, 0, n);
  return scratch.buf.toString('latin1', 0, end);
}
