/**
 * The decode loop of bench/transcode.ts and bench/instructions.ts with and without interface
 * names (`--interface-names`, serve's `sampling.interface_names: true`; off by default, as in
 * serve): the same flows, and with the names softflowd sends (two of them on every flow, 19 bytes
 * each with their keys) that much more written.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { decodeLoop } from '../bench/decode-loop.js';
import { makeTempDir, skipUnlessCommands } from './support/tools.js';

const tmp = makeTempDir('fc-decode-loop-');
after(() => tmp.cleanup());

test('bench decode loop: without --interface-names (its default) the same flows as with it, and the names off every one', { skip: skipUnlessCommands('softflowd'), timeout: 120_000 }, async () => {
  const cache = join(tmp.dir, 'cache');
  const on = await decodeLoop('v9', cache, true);
  const off = await decodeLoop('v9', cache);
  // Eight passes first, as bench/transcode.ts warms up: pass k sends datagram i from exporter
  // (i + k) mod 8, so only by then has every exporter received softflowd's interface table.
  for (let k = 0; k < 8; k++) {
    on.pass(k);
    off.pass(k);
  }
  const at = (l: typeof on) => ({ frames: l.frames(), bytes: l.bytes(), reference: l.decoder.transcoded.reference });
  const on0 = at(on);
  const off0 = at(off);
  on.pass(8);
  off.pass(8);
  const flows = on.frames() - on0.frames;
  assert.ok(flows > 25_000, `a pass writes the stream's flows (${flows})`);
  assert.equal(off.frames() - off0.frames, flows);
  assert.equal(on.decoder.transcoded.reference, on0.reference, 'every flow of the pass took the fused path');
  assert.equal(off.decoder.transcoded.reference, off0.reference);
  const perFlow = (on.bytes() - on0.bytes - (off.bytes() - off0.bytes)) / flows;
  // 38 bytes of names, plus a length prefix one byte longer where the frame passes 127 bytes.
  assert.ok(perFlow >= 38 && perFlow <= 39, `names add 38-39 bytes per flow, not ${perFlow.toFixed(2)}`);
});

test('bench decode loop: range() in chunks of 16 datagrams writes what one pass writes', { skip: skipUnlessCommands('softflowd'), timeout: 120_000 }, async () => {
  const l = await decodeLoop('v9', join(tmp.dir, 'cache'));
  for (let k = 0; k < 9; k++) l.pass(k);
  const f0 = l.frames();
  const b0 = l.bytes();
  l.pass(9);
  const f1 = l.frames();
  const b1 = l.bytes();
  // The last chunk runs past the stream's end and is clipped there.
  for (let at = 0; at < l.datagrams; at += 16) l.range(at, 16, 9);
  assert.ok(f1 - f0 > 25_000, `a pass writes the stream's flows (${f1 - f0})`);
  assert.equal(l.frames() - f1, f1 - f0);
  assert.equal(l.bytes() - b1, b1 - b0);
});
