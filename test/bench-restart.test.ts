/**
 * bench/restart end to end at a low rate: blast's synthetic v9 exporters send before serve
 * starts, so serve's first data from each exporter comes before its template and waits in the
 * pending buffer until the template comes. Asserted: the run and verdict lines, data sets buffered
 * and every one of them taken for replay (none expired or dropped), flows decoded, and no kernel
 * drop at 2,000 datagrams/s (the rate's headroom is vast: a drop there is a fault, not the
 * machine). That replayed data decodes to the right flows is test/templates' and
 * test/decode-export's (the pending counters count sets taken, not flows written).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCH = fileURLToPath(new URL('../bench/restart.js', import.meta.url));

test('bench/restart: serve started against v9 exporters already sending buffers their data until the templates come, then replays it, losing nothing', { timeout: 120_000 }, async () => {
  const out = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [BENCH, '--rate', '2000', '--runs', '1', '--lead', '1', '--at', '1,3', '--out-dir', '/tmp'], { encoding: 'utf8', timeout: 110_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stdout}\n${stderr}`)) : resolve(stdout),
    ),
  );
  const re =
    /\+3 s: kernel drops ([\d,]+) \(\/proc ([\d,]+)\), datagrams ([\d,]+), flows ([\d,]+), pending sets buffered ([\d,]+) replayed ([\d,]+) expired ([\d,]+) dropped ([\d,]+)$/m;
  const m = re.exec(out);
  assert.ok(m, `a run line with a +3 s reading:\n${out}`);
  const [drops, procDrops, datagrams, flows, buffered, replayed, expired, dropped] = m.slice(1).map((x) => Number(x.replace(/,/g, ''))) as number[];
  assert.ok(buffered! > 0, `data arrived before its templates and waited:\n${out}`);
  assert.equal(replayed, buffered, `every waiting data set was taken for replay when its template came:\n${out}`);
  assert.equal(expired, 0, out);
  assert.equal(dropped, 0, out);
  // ~4 s of 2,000 datagrams/s reach serve by +3 s (workers publish counters once a second).
  assert.ok(datagrams! > 2_000, out);
  assert.ok(flows! > datagrams!, `synthetic v9 datagrams carry several flows each:\n${out}`);
  assert.equal(drops, 0, out);
  assert.equal(procDrops, 0, out);
  assert.match(out, /^run 1: ready [\d.]+ s after start \(warm-up [\d,]+ ms\); \+1 s: /m);
  assert.match(out, /^v9 2,000\/s: kernel drops at \+3 s in 1 run\(s\): 0; no datagram lost at start-up: yes$/m);
});
