/**
 * The warm-up's synthetic datagrams (src/service/warmup.ts) must take the code paths real
 * exporters' data takes, or the first real datagrams deoptimise what the warm-up optimised:
 * softflowd's interface-name options (flows carrying names, frames of 128 bytes or more) and
 * flows that ended seconds to minutes before the export (uptime arithmetic beyond small
 * integers).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExporterTable, FlowDecoder, type FlowRecord } from '../src/decode/mod.js';
import { DelimitedBatchWriter } from '../src/encode/mod.js';
import { exportSeconds, warmUp, warmupDatagrams } from '../src/service/warmup.js';

test('warm-up datagrams: v9 flows carry softflowd-style interface names and old flow times; frames reach two-byte length prefixes', () => {
  const nowMs = Date.UTC(2026, 10, 29, 12);
  const sec = Math.floor(nowMs / 1000);
  const names = new Set<string>();
  let oldEnds = 0;
  let v9 = 0;
  const ref = new FlowDecoder({
    sink: {
      onFlow: (r: FlowRecord) => {
        if (r.exportVersion !== 9) return;
        v9++;
        if (r.inIfName !== '') names.add(r.inIfName);
        if (r.outIfName !== '') names.add(r.outIfName);
        if (r.timeFlowEndSec > 0 && sec - r.timeFlowEndSec > 3) oldEnds++;
      },
    },
  });
  const enc = new DelimitedBatchWriter(1 << 16);
  const fast = new FlowDecoder({ sink: { onFlow: (r) => enc.append(r) }, frames: { writer: enc.writer, framesAdded: (_t, n) => enc.added(n) }, transcodeAfter: 0 });
  const table = new ExporterTable();
  const ex = table.get('192.0.2.1', 2055);
  let miscounted = 0;
  let waiting = 0;
  for (let k = 0; k < 8; k++) {
    for (const d of warmupDatagrams(k, nowMs)) {
      const e = ref.decode(d, 0, d.length, ex, sec, 0);
      assert.equal(fast.decode(d, 0, d.length, ex, sec, 0), e);
      // softflowd's options datagrams count flow records only (0): reported, decoded anyway.
      if (e === 'netflow_v9.count_mismatch') miscounted++;
      // Data before its templates (IPFIX withdraws them first): it waits and is replayed.
      else if (e === 'template.missing') waiting++;
      else assert.equal(e, undefined);
    }
  }
  assert.equal(miscounted, 8, 'one softflowd-counted options datagram per round');
  assert.equal(waiting, 8, 'one IPFIX datagram per round whose data waits for its templates');
  // An options and a data set in each, replayed when the templates come back.
  for (const d of [ref, fast]) {
    assert.equal(d.counters.get('pending.buffered'), 16);
    assert.equal(d.counters.get('pending.replayed'), 16);
  }
  assert.ok(v9 > 100, `${v9} v9 flows`);
  assert.deepEqual([...names], ['GigabitEthernet0']);
  assert.ok(oldEnds > v9 / 10, `${oldEnds} of ${v9} v9 flows ended more than 3 s before the export`);
  // Frames with a two-byte length prefix (a body of 128 bytes or more): the first byte has the
  // continuation bit.
  const bytes = enc.writer.buf.subarray(0, enc.writer.pos);
  let p = 0;
  let long = 0;
  while (p < bytes.length) {
    let len = bytes[p]! & 127;
    if (bytes[p]! & 128) {
      len |= bytes[p + 1]! << 7;
      long++;
      p += 2;
    } else p += 1;
    p += len;
  }
  assert.equal(p, bytes.length);
  assert.ok(long > 0, 'some frames of 128 bytes or more');
});

test('warm-up: every datagram of a full run decodes, from a dozen exporters', () => {
  const seen = new Set<string>();
  const dec = new FlowDecoder({ sink: { onFlow: () => {} } });
  const r = warmUp([{
    decode: (buf, off, len, exporter, s, ns) => {
      seen.add(`${exporter.key}:${exporter.port}`);
      return dec.decode(buf, off, len, exporter, s, ns);
    },
    flush: () => {},
  }], 48);
  assert.equal(r.errors, 0);
  assert.equal(seen.size, 12);
});

test('warm-up export seconds: both halves of the 32-bit nanosecond arithmetic, consecutive where possible', () => {
  const high = (s: number) => Math.imul(s, 1_000_000_000) >>> 0 >= 2 ** 31;
  for (let now = 1_764_000_000; now < 1_764_000_000 + 2000; now += 7) {
    const secs = exportSeconds(now, 8);
    assert.equal(secs.length, 8);
    assert.equal(secs[7], now);
    assert.ok(secs.some(high) && !secs.every(high), `${now}: ${secs}`);
    for (let k = 2; k < 8; k++) assert.equal(secs[k]! - secs[k - 1]!, 1);
  }
});

test('warm-up: rounds go to the targets in turn', () => {
  const calls = [0, 0];
  const flushes = [0, 0];
  const targets = [0, 1].map((i) => {
    const dec = new FlowDecoder({ sink: { onFlow: () => {} } });
    return {
      decode: (buf: Uint8Array, off: number, len: number, exporter: Parameters<FlowDecoder['decode']>[3], s: number, ns: number) => {
        calls[i]!++;
        return dec.decode(buf, off, len, exporter, s, ns);
      },
      flush: () => {
        flushes[i]!++;
      },
    };
  });
  const r = warmUp(targets, 10);
  assert.equal(r.errors, 0);
  assert.deepEqual(flushes, [5, 5]);
  assert.equal(calls[0]! + calls[1]!, r.datagrams);
  assert.ok(calls[0]! > 0 && calls[1]! > 0);
});

test('warm-up: some data datagrams repeat the sequence number before them, IPFIX ones in the same nanosecond too', () => {
  // What a datagram's head (startSet) compares: a sequence number that did not move, and a
  // receive time that did not either (a batch stamped once), each a path real traffic takes.
  const seen: { version: number; seq: number; nsec: number; data: boolean }[] = [];
  warmUp([{
    decode: (bytes, off, _len, _exporter, _s, ns) => {
      const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const version = buf.readUInt16BE(off);
      if (version === 9 || version === 10) {
        const hlen = version === 9 ? 20 : 16;
        // A data set: set id 256 or more.
        const data = buf.readUInt16BE(off + hlen) >= 256;
        seen.push({ version, seq: buf.readUInt32BE(off + (version === 9 ? 12 : 8)), nsec: ns, data });
      } else seen.push({ version, seq: -1, nsec: ns, data: false });
      return undefined;
    },
    flush: () => {},
  }], 8);
  let v9Moved = 0;
  let ipfixSame = 0;
  for (let i = 1; i < seen.length; i++) {
    const a = seen[i - 1]!;
    const b = seen[i]!;
    if (!a.data || !b.data || a.version !== b.version || a.seq !== b.seq) continue;
    if (b.version === 9 && b.nsec !== a.nsec) v9Moved++;
    if (b.version === 10 && b.nsec === a.nsec) ipfixSame++;
  }
  assert.ok(v9Moved >= 8, `${v9Moved} v9 data datagrams with the sequence number before them, received later`);
  assert.ok(ipfixSame >= 8, `${ipfixSame} IPFIX data datagrams with the sequence number and receive time before them`);
});
