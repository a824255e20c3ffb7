/**
 * bench/drop-timeline.ts: drops in consecutive samples form one burst with the steal over it; a
 * real UDP socket flooded while nothing reads it shows its drops in one burst.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { dropBursts, formatBursts, startDropTimeline } from '../bench/drop-timeline.js';

test('drop timeline: consecutive samples with drops are one burst, with the steal over it per core', () => {
  const s = (at: number, drops: number, steal: number) => ({ at, drops, steal });
  const bursts = dropBursts([s(0, 0, 0), s(0.25, 0, 0), s(0.5, 100, 0.1), s(0.75, 300, 0.2), s(1, 300, 0.2), s(1.25, 310, 0.2)], 2);
  assert.equal(bursts.length, 2);
  assert.deepEqual({ ...bursts[0]!, stealShare: Number(bursts[0]!.stealShare.toFixed(3)) }, { from: 0.25, to: 0.75, drops: 300, stealShare: 0.2 });
  assert.deepEqual(bursts[1], { from: 1, to: 1.25, drops: 10, stealShare: 0 });
  assert.equal(formatBursts(bursts), "drops at +0.25-0.75 s: 300 (steal on the collector's cores 20 %); +1.00-1.25 s: 10 (steal on the collector's cores 0 %)");
  assert.deepEqual(dropBursts([s(0, 5, 0), s(1, 5, 0)], 1), [], 'drops from before the first sample are not a burst');
});

test('drop timeline: a socket nobody reads, flooded past its receive buffer, shows its drops', async () => {
  const rx = createSocket('udp4');
  rx.on('message', () => {});
  await new Promise<void>((r) => rx.bind(0, '127.0.0.1', r));
  rx.setRecvBufferSize(65536);
  const port = rx.address().port;
  const tl = startDropTimeline(port, [0], 50);
  await new Promise((r) => setTimeout(r, 120));
  // The flood comes from a child while this thread waits for it, so nothing reads the socket.
  const flood = `const s=require('node:dgram').createSocket('udp4');const b=Buffer.alloc(1200);let n=0;const go=()=>{if(n++<400)s.send(b,${port},'127.0.0.1',go);else s.close();};go();`;
  execFileSync(process.execPath, ['-e', flood]);
  await new Promise((r) => setTimeout(r, 120));
  const bursts = tl.stop();
  rx.close();
  const total = bursts.reduce((n, b) => n + b.drops, 0);
  assert.ok(bursts.length === 1 && total > 100, `drops seen: ${JSON.stringify(bursts)}`);
  assert.ok(bursts[0]!.from >= 0.05, `the burst starts after the flood began (${bursts[0]!.from})`);
});
