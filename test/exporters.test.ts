import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExporterIntern, sourceHash6, sourceSlot4 } from '../src/service/exporters.js';
import { allocBatch, formatIPv6, type Batch } from '../src/ingest/mod.js';

interface Src {
  bytes: number[];
  port: number;
}

function put(b: Batch, i: number, s: Src): void {
  b.addrs.fill(0, i * 16, i * 16 + 16);
  b.addrs.set(s.bytes, i * 16);
  b.families[i] = s.bytes.length === 4 ? 4 : 6;
  b.ports[i] = s.port;
}

function text(s: Src): string {
  return s.bytes.length === 4 ? s.bytes.join('.') : formatIPv6(Uint8Array.from(s.bytes));
}

const v6 = (...words: number[]): number[] => words.flatMap((w) => [w >> 8, w & 255]);

test('exporter interning: one Exporter per address and port, keyed by the address text, in runs and interleaved', () => {
  const intern = new ExporterIntern();
  const b = allocBatch(8, 16);
  const sources: Src[] = [
    { bytes: [192, 0, 2, 1], port: 2055 },
    { bytes: [192, 0, 2, 1], port: 2056 },
    { bytes: [192, 0, 2, 2], port: 2055 },
    { bytes: v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), port: 2055 },
    { bytes: v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), port: 2056 },
    // Differs from the one above only in its first byte, then only in its last.
    { bytes: v6(0x3001, 0xdb8, 0, 0, 0, 0, 0, 1), port: 2055 },
    { bytes: v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2), port: 2055 },
    { bytes: v6(0xfe80, 0, 0, 0, 0xffff, 0xd800, 0xdfff, 0xffff), port: 65535 },
  ];
  const seen = new Map<string, unknown>();
  // Runs of one source (the last-exporter path), then every source in turn (the maps).
  const order = [0, 0, 3, 3, 3, 4, 3, 5, 6, 7, 7, 1, 2, 0, 6, 5, 4, 3, 2, 1, 0, 7];
  for (let n = 0; n < order.length; n++) {
    const s = sources[order[n]!]!;
    put(b, n % 8, s);
    const e = intern.of(b, n % 8);
    assert.equal(e.key, text(s));
    assert.equal(e.port, s.port);
    assert.deepEqual([...e.addr], s.bytes);
    const id = `${text(s)}|${s.port}`;
    if (seen.has(id)) assert.equal(e, seen.get(id), `${id}: the same object every time`);
    seen.set(id, e);
  }
  assert.equal(new Set(seen.values()).size, sources.length);
  assert.equal(intern.size, sources.length);
});

test('exporter interning: random sources of both families agree with the address text; a flood starts the maps over', () => {
  let seed = 7;
  const rnd = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const pool: Src[] = Array.from({ length: 40 }, (_, k) =>
    k % 2 === 0
      ? { bytes: [10, rnd(3), rnd(3), rnd(256)], port: 2055 + rnd(2) }
      : { bytes: v6(0x2001, 0xdb8, rnd(2), 0, 0, rnd(2) * 0xffff, 0, rnd(4)), port: 4739 + rnd(2) },
  );
  const intern = new ExporterIntern(8);
  const b = allocBatch(64, 16);
  for (let n = 0; n < 5_000; n++) {
    const s = pool[rnd(pool.length)]!;
    const i = n % 64;
    put(b, i, s);
    const e = intern.of(b, i);
    assert.equal(e.key, text(s));
    assert.equal(e.port, s.port);
    // A run of one source returns the same object.
    assert.equal(intern.of(b, i), e);
    assert.ok(intern.size <= 16, `at most 8 exporters per family, ${intern.size} kept`);
  }
});

test('exporter interning: IPv4 sources that share a slot of the look-up cache stay apart, interleaved and after a flood', () => {
  // Sources 10.1.x.y:2055 whose slot (a multiplicative hash of x, y and the port) is that of the first.
  const same: Src[] = [];
  for (let n = 0; same.length < 3 && n < 65_536; n++) {
    if (same.length === 0 || sourceSlot4(n >> 8, n & 255, 2055) === sourceSlot4(same[0]!.bytes[2]!, same[0]!.bytes[3]!, 2055)) same.push({ bytes: [10, 1, n >> 8, n & 255], port: 2055 });
  }
  assert.equal(same.length, 3);
  for (const max of [65_536, 2]) {
    const intern = new ExporterIntern(max);
    const b = allocBatch(8, 16);
    const got = new Map<string, unknown>();
    for (let n = 0; n < 30; n++) {
      const s = same[(n * 7) % 3]!;
      put(b, n % 8, s);
      const e = intern.of(b, n % 8);
      assert.equal(e.key, text(s), `max ${max}, datagram ${n}`);
      assert.equal(e.port, 2055);
      if (max > 2) {
        if (got.has(e.key)) assert.equal(e, got.get(e.key), 'the same object every time');
        got.set(e.key, e);
      }
    }
  }
});

test('exporter interning: two IPv6 sources whose hashes collide stay two exporters, interleaved and after a flood', () => {
  // Find a collision: distinct sources (n in bytes 4-7) whose last eight bytes are pseudo-random, same port.
  const byHash = new Map<number, number>();
  const word = (n: number, k: number): number => Math.imul(n * 4 + k, 0x9e3779b1) >>> 16;
  const src = (n: number): Src => ({ bytes: v6(0x2001, 0xdb8, n >>> 16, n & 0xffff, word(n, 0), word(n, 1), word(n, 2), word(n, 3)), port: 2055 });
  let pair: [number, number] | undefined;
  for (let n = 0; pair === undefined && n < 1_000_000; n++) {
    const dv = new DataView(Uint8Array.from(src(n).bytes).buffer);
    const h = sourceHash6(dv.getInt32(0), dv.getInt32(4), dv.getInt32(8), dv.getInt32(12), 2055);
    assert.ok(Number.isInteger(h) && h >= 0 && h < 2 ** 30);
    const m = byHash.get(h);
    if (m !== undefined) pair = [m, n];
    else byHash.set(h, n);
  }
  assert.ok(pair !== undefined, 'a collision among a million 30-bit hashes');
  const [x, y] = [src(pair[0]), src(pair[1])];
  assert.notDeepEqual(x.bytes, y.bytes);
  for (const max of [65_536, 1]) {
    const intern = new ExporterIntern(max);
    const b = allocBatch(4, 16);
    const got = new Map<string, unknown>();
    for (let n = 0; n < 12; n++) {
      const s = n % 3 === 2 ? x : n % 2 === 0 ? x : y;
      put(b, n % 4, s);
      const e = intern.of(b, n % 4);
      assert.equal(e.key, text(s), `max ${max}, datagram ${n}`);
      if (max > 1) {
        if (got.has(e.key)) assert.equal(e, got.get(e.key), 'the same object every time');
        got.set(e.key, e);
      }
    }
  }
});
