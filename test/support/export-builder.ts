/**
 * Builds NetFlow v9 and IPFIX messages for tests: template sets, options template sets and data
 * sets from plain descriptions, with correct lengths (or deliberately wrong ones).
 */
export interface F {
  id: number;
  len: number;
  pen?: number;
}

function be16(n: number): number[] {
  return [(n >>> 8) & 255, n & 255];
}
function be32(n: number): number[] {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
}

export type SetBytes = number[];

/** IPFIX template record (set id 2 or 3 wraps it). */
export function ipfixTemplateRecord(id: number, fields: F[], scopeCount?: number): number[] {
  const out = [...be16(id), ...be16(fields.length)];
  if (scopeCount !== undefined) out.push(...be16(scopeCount));
  for (const f of fields) {
    out.push(...be16(f.pen ? f.id | 0x8000 : f.id), ...be16(f.len));
    if (f.pen) out.push(...be32(f.pen));
  }
  return out;
}

/** v9 template record. */
export function v9TemplateRecord(id: number, fields: F[]): number[] {
  const out = [...be16(id), ...be16(fields.length)];
  for (const f of fields) out.push(...be16(f.id), ...be16(f.len));
  return out;
}

/** v9 options template record: scope fields then option fields. */
export function v9OptionsTemplateRecord(id: number, scope: F[], opts: F[]): number[] {
  const out = [...be16(id), ...be16(scope.length * 4), ...be16(opts.length * 4)];
  for (const f of [...scope, ...opts]) out.push(...be16(f.id), ...be16(f.len));
  return out;
}

/** A set with header; padded to 4 bytes when `pad`. */
export function set(id: number, body: number[], pad = false): SetBytes {
  const b = [...body];
  if (pad) while ((b.length + 4) % 4 !== 0) b.push(0);
  return [...be16(id), ...be16(b.length + 4), ...b];
}

export function ipfixMessage(sets: SetBytes[], o: { exportTime?: number; seq?: number; domain?: number } = {}): Buffer {
  const body = sets.flat();
  return Buffer.from([...be16(10), ...be16(16 + body.length), ...be32(o.exportTime ?? 1_700_000_000), ...be32(o.seq ?? 1), ...be32(o.domain ?? 0), ...body]);
}

export function v9Message(sets: SetBytes[], o: { count?: number; uptime?: number; unixSecs?: number; seq?: number; sourceId?: number } = {}): Buffer {
  const body = sets.flat();
  return Buffer.from([...be16(9), ...be16(o.count ?? 0), ...be32(o.uptime ?? 100_000), ...be32(o.unixSecs ?? 1_700_000_000), ...be32(o.seq ?? 1), ...be32(o.sourceId ?? 0), ...body]);
}

/** Bytes helpers for data records. */
export const u8 = (n: number) => [n & 255];
export const u16 = be16;
export const u32 = be32;
export function u64(n: number): number[] {
  const hi = Math.floor(n / 4294967296);
  return [...be32(hi), ...be32(n >>> 0)];
}
export function ip4(s: string): number[] {
  return s.split('.').map(Number);
}
export function ip6(s: string): number[] {
  const [h, t] = s.includes('::') ? s.split('::') : [s, undefined];
  const hp = h ? h.split(':') : [];
  const tp = t ? t.split(':') : [];
  const g = t === undefined ? hp : [...hp, ...Array(8 - hp.length - tp.length).fill('0'), ...tp];
  return g.flatMap((x) => be16(parseInt(x, 16)));
}
export function str(s: string): number[] {
  return [...Buffer.from(s, 'utf8')];
}
/** IPFIX variable-length encoding of a byte string. */
export function varlen(b: number[]): number[] {
  return b.length < 255 ? [b.length, ...b] : [255, ...be16(b.length), ...b];
}

/** One NetFlow v5 record (48 bytes); times are sysUptime milliseconds. */
export interface V5Record {
  src: number[];
  dst: number[];
  input?: number;
  output?: number;
  packets: number;
  bytes: number;
  first?: number;
  last?: number;
  srcPort: number;
  dstPort: number;
  proto: number;
}

/** A NetFlow v5 datagram: uptime 3,600,000 ms, export time 1,700,000,000, flow sequence `flowSeq`. */
export function v5Message(records: readonly V5Record[], flowSeq = 0): Buffer {
  const b = Buffer.alloc(24 + 48 * records.length);
  b.writeUInt16BE(5, 0);
  b.writeUInt16BE(records.length, 2);
  b.writeUInt32BE(3_600_000, 4);
  b.writeUInt32BE(1_700_000_000, 8);
  b.writeUInt32BE(flowSeq >>> 0, 16);
  records.forEach((r, k) => {
    const o = 24 + 48 * k;
    Buffer.from(r.src).copy(b, o);
    Buffer.from(r.dst).copy(b, o + 4);
    b.writeUInt16BE(r.input ?? 0, o + 12);
    b.writeUInt16BE(r.output ?? 0, o + 14);
    b.writeUInt32BE(r.packets, o + 16);
    b.writeUInt32BE(r.bytes, o + 20);
    b.writeUInt32BE(r.first ?? 3_500_000, o + 24);
    b.writeUInt32BE(r.last ?? 3_599_000, o + 28);
    b.writeUInt16BE(r.srcPort, o + 32);
    b.writeUInt16BE(r.dstPort, o + 34);
    b[o + 38] = r.proto;
  });
  return b;
}
