// The batch: preallocated typed arrays owned by JavaScript, filled by either
// ingest path and handed to the consumer once per batch. Nothing here is
// allocated per datagram; the helpers that return strings or Buffers are
// conveniences for tests and slow paths.

/** One batch of received datagrams. Valid only during the onBatch call. */
export interface Batch {
  /** Number of datagrams in this batch (slots 0..count-1 are valid). */
  count: number;
  /** Number of slots. */
  readonly capacity: number;
  /** Bytes per slot; datagram i starts at i * slotSize in data. */
  readonly slotSize: number;
  /** capacity * slotSize bytes. */
  readonly data: Buffer;
  /** Bytes stored in slot i (at most slotSize). */
  readonly lengths: Uint32Array;
  /** Source address of datagram i at [16*i, 16*i+16): IPv4 uses the first 4 bytes. */
  readonly addrs: Uint8Array;
  /** A DataView over addrs, for reading an IPv6 source as four 32-bit words. */
  readonly addrsView: DataView;
  /** 4 or 6: family of addrs for slot i (IPv4-mapped IPv6 is reported as 4). */
  readonly families: Uint8Array;
  /** Source UDP port of datagram i. */
  readonly ports: Uint16Array;
  /** Receive time, seconds since the epoch (kernel SO_TIMESTAMPNS on the addon path). */
  readonly tsSec: Uint32Array;
  /** Receive time, nanoseconds within the second. */
  readonly tsNsec: Uint32Array;
  /** 1 when datagram i was larger than its slot and got cut to slotSize. */
  readonly truncated: Uint8Array;
  /** Index of the receiving socket within its source. */
  readonly socket: number;
}

export function allocBatch(capacity: number, slotSize: number, socket = 0): Batch {
  if (!Number.isInteger(capacity) || capacity < 1 || capacity > 4096) {
    throw new RangeError(`batchSize must be an integer in 1..4096, got ${capacity}`);
  }
  if (!Number.isInteger(slotSize) || slotSize < 1 || slotSize > 65536) {
    throw new RangeError(`slotSize must be an integer in 1..65536, got ${slotSize}`);
  }
  const addrs = new Uint8Array(capacity * 16);
  return {
    count: 0,
    capacity,
    slotSize,
    // Not from Buffer's shared pool: the addon keeps a pointer to this memory.
    data: Buffer.allocUnsafeSlow(capacity * slotSize),
    lengths: new Uint32Array(capacity),
    addrs,
    addrsView: new DataView(addrs.buffer),
    families: new Uint8Array(capacity),
    ports: new Uint16Array(capacity),
    tsSec: new Uint32Array(capacity),
    tsNsec: new Uint32Array(capacity),
    truncated: new Uint8Array(capacity),
    socket,
  };
}

/** Offset of datagram i in batch.data. */
export function datagramOffset(batch: Batch, i: number): number {
  return i * batch.slotSize;
}

/** A view (no copy) of datagram i; valid only during onBatch. */
export function datagramView(batch: Batch, i: number): Buffer {
  const off = i * batch.slotSize;
  return batch.data.subarray(off, off + batch.lengths[i]!);
}

/** Source address of datagram i as text ('192.0.2.1' or '2001:db8::1'). */
export function sourceAddress(batch: Batch, i: number): string {
  const a = batch.addrs;
  const o = i * 16;
  if (batch.families[i] === 4) return `${a[o]}.${a[o + 1]}.${a[o + 2]}.${a[o + 3]}`;
  return formatIPv6(a.subarray(o, o + 16));
}

/** Receive time of datagram i in milliseconds since the epoch. */
export function timestampMs(batch: Batch, i: number): number {
  return batch.tsSec[i]! * 1000 + batch.tsNsec[i]! / 1e6;
}

/** RFC 5952 text form of a 16-byte IPv6 address. */
export function formatIPv6(b: Uint8Array): string {
  const words: number[] = [];
  for (let k = 0; k < 8; k++) words.push((b[2 * k]! << 8) | b[2 * k + 1]!);
  // Longest run (length >= 2) of zero words becomes '::'.
  let bestStart = -1;
  let bestLen = 0;
  for (let k = 0; k < 8; ) {
    if (words[k] !== 0) {
      k++;
      continue;
    }
    let e = k;
    while (e < 8 && words[e] === 0) e++;
    if (e - k > bestLen) {
      bestStart = k;
      bestLen = e - k;
    }
    k = e;
  }
  if (bestLen < 2) bestStart = -1;
  const hex = (w: number) => w.toString(16);
  if (bestStart < 0) return words.map(hex).join(':');
  const head = words.slice(0, bestStart).map(hex).join(':');
  const tail = words.slice(bestStart + bestLen).map(hex).join(':');
  return `${head}::${tail}`;
}

/**
 * Parse a textual IPv4 or IPv6 address into out[off..off+16).
 * Returns 4 or 6 (IPv4-mapped IPv6 returns 4 with the IPv4 bytes first),
 * or 0 when the text is not an address. Zone suffixes ('%eth0') are ignored.
 */
export function parseAddress(text: string, out: Uint8Array, off: number): 0 | 4 | 6 {
  const pct = text.indexOf('%');
  const s = pct >= 0 ? text.slice(0, pct) : text;
  if (s.indexOf(':') < 0) {
    return parseIPv4(s, out, off) ? 4 : 0;
  }
  const tmp = new Uint8Array(16);
  if (!parseIPv6(s, tmp)) return 0;
  let mapped = true;
  for (let k = 0; k < 10; k++) if (tmp[k] !== 0) mapped = false;
  if (tmp[10] !== 0xff || tmp[11] !== 0xff) mapped = false;
  if (mapped) {
    out.set(tmp.subarray(12, 16), off);
    out.fill(0, off + 4, off + 16);
    return 4;
  }
  out.set(tmp, off);
  return 6;
}

function parseIPv4(s: string, out: Uint8Array, off: number): boolean {
  const parts = s.split('.');
  if (parts.length !== 4) return false;
  for (let k = 0; k < 4; k++) {
    const p = parts[k]!;
    if (!/^\d{1,3}$/.test(p)) return false;
    const v = Number(p);
    if (v > 255) return false;
    out[off + k] = v;
  }
  out.fill(0, off + 4, off + 16);
  return true;
}

function parseIPv6(s: string, out: Uint8Array): boolean {
  const dbl = s.indexOf('::');
  if (dbl >= 0 && s.indexOf('::', dbl + 1) >= 0) return false;
  const parseGroups = (part: string, allowV4: boolean): number[] | null => {
    if (part === '') return [];
    const groups = part.split(':');
    const words: number[] = [];
    for (let k = 0; k < groups.length; k++) {
      const g = groups[k]!;
      if (allowV4 && k === groups.length - 1 && g.indexOf('.') >= 0) {
        const v4 = new Uint8Array(16);
        if (!parseIPv4(g, v4, 0)) return null;
        words.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      words.push(parseInt(g, 16));
    }
    return words;
  };
  let words: number[];
  if (dbl >= 0) {
    const head = parseGroups(s.slice(0, dbl), false);
    const tail = parseGroups(s.slice(dbl + 2), true);
    if (!head || !tail || head.length + tail.length > 7) return false;
    words = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    const all = parseGroups(s, true);
    if (!all || all.length !== 8) return false;
    words = all;
  }
  for (let k = 0; k < 8; k++) {
    out[2 * k] = words[k]! >> 8;
    out[2 * k + 1] = words[k]! & 0xff;
  }
  return true;
}
