/** Big-endian readers shared by decoders (plain functions: V8 inlines them). */

export function u16(b: Uint8Array, p: number): number {
  return (b[p]! << 8) | b[p + 1]!;
}

export function u32(b: Uint8Array, p: number): number {
  return b[p]! * 16777216 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
}

/** Unsigned 64-bit as a double: exact below 2^53. */
export function u64(b: Uint8Array, p: number): number {
  return u32(b, p) * 4294967296 + u32(b, p + 4);
}

/** Unsigned big-endian integer of 1..8 bytes (reduced-size encoding). */
export function uN(b: Uint8Array, p: number, len: number): number {
  let v = 0;
  for (let i = 0; i < len; i++) v = v * 256 + b[p + i]!;
  return v;
}

/** Exact decimal digits of an unsigned big-endian integer of 1..8 bytes. */
export function uNString(b: Uint8Array, p: number, len: number): string {
  let v = 0n;
  for (let i = 0; i < len; i++) v = (v << 8n) | BigInt(b[p + i]!);
  return v.toString();
}
