/** Text forms of IP addresses read straight from packet bytes (no intermediate objects). */

/** Dotted-quad IPv4 from 4 bytes at `off`. */
export function formatIPv4(b: Uint8Array, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** RFC 5952 text form of the IPv6 address in 16 bytes at `off` (lower case, longest zero run as ::). */
export function formatIPv6(b: Uint8Array, off: number): string {
  const words: number[] = new Array(8);
  for (let i = 0; i < 8; i++) words[i] = (b[off + 2 * i]! << 8) | b[off + 2 * i + 1]!;
  // Longest run of two or more zero words; the first one wins a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) => words.slice(from, to).map((w) => w.toString(16)).join(':');
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

/** Parses an IPv4 or IPv6 address string into 4 or 16 bytes. Throws on anything else. */
export function parseAddress(text: string): Buffer {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const out = Buffer.alloc(4);
    for (let i = 0; i < 4; i++) {
      const n = Number(v4[i + 1]);
      if (n > 255) throw new Error(`invalid IPv4 address: ${text}`);
      out[i] = n;
    }
    return out;
  }
  if (!text.includes(':')) throw new Error(`invalid IP address: ${text}`);
  let s = text.toLowerCase();
  // Embedded IPv4 tail (::ffff:1.2.3.4).
  const tail = /(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/.exec(s);
  let tailWords: number[] = [];
  if (tail) {
    const t = parseAddress(tail[1]!);
    tailWords = [(t[0]! << 8) | t[1]!, (t[2]! << 8) | t[3]!];
    s = s.slice(0, s.length - tail[1]!.length);
    if (s.endsWith(':') && !s.endsWith('::')) s = s.slice(0, -1);
  }
  const parts = s.split('::');
  if (parts.length > 2) throw new Error(`invalid IPv6 address: ${text}`);
  const parseWords = (p: string): number[] =>
    p === ''
      ? []
      : p.split(':').map((w) => {
          if (!/^[0-9a-f]{1,4}$/.test(w)) throw new Error(`invalid IPv6 address: ${text}`);
          return parseInt(w, 16);
        });
  const head = parseWords(parts[0]!);
  let words: number[];
  if (parts.length === 2) {
    const rest = [...parseWords(parts[1]!), ...tailWords];
    const fill = 8 - head.length - rest.length;
    if (fill < 1) throw new Error(`invalid IPv6 address: ${text}`);
    words = [...head, ...new Array<number>(fill).fill(0), ...rest];
  } else {
    words = [...head, ...tailWords];
  }
  if (words.length !== 8) throw new Error(`invalid IPv6 address: ${text}`);
  const out = Buffer.alloc(16);
  words.forEach((w, i) => out.writeUInt16BE(w, 2 * i));
  return out;
}
