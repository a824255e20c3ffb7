/**
 * bench/startup end to end, once per stream: it builds the softflowd v9 and pmacctd IPFIX streams
 * (real exporters) in a temporary cache, warms up as a serve worker does, and times the first 10,240 datagrams through
 * a decoder made before the warm-up. The timings are not asserted (they depend on the machine);
 * that the warmed-up decoder writes exactly the bytes a decoder that never saw a warm-up writes
 * is (nothing of the warm-up's exporters, templates or interface names leaks into real output).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadStream, type StreamName } from '../bench/serve-streams.js';
import { framesDecoder, replayFirst } from '../bench/first-datagrams.js';
import { makeTempDir, skipUnlessCommands } from './support/tools.js';

const BENCH = fileURLToPath(new URL('../bench/startup.js', import.meta.url));
const tmp = makeTempDir('fc-bench-startup-');
after(() => tmp.cleanup());

const cases: { name: StreamName; exporter: string; minFlows: number }[] = [
  { name: 'v9', exporter: 'softflowd', minFlows: 250_000 },
  { name: 'ipfix', exporter: 'pmacctd', minFlows: 50_000 },
];

for (const c of cases) {
  test(`bench/startup ${c.name}: the decoder made before the warm-up writes exactly what a fresh one writes for the ${c.exporter} stream`, { skip: skipUnlessCommands(c.exporter), timeout: 240_000 }, () => run(c.name, c.minFlows));
}

async function run(name: StreamName, minFlows: number): Promise<void> {
  const cache = join(tmp.dir, 'cache');
  const out = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [BENCH, name, '1', '--cache', cache, '--digest'], { encoding: 'utf8', timeout: 230_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))),
  );
  const m = /^run 1: first 1,024 datagrams ([\d.]+) ms, 2,560 ([\d.]+), 10,240 ([\d.]+) \(steady ([\d.]+) ms per 1,000\); (\d+) flows, (\d+) datagrams with errors; receive second (\d+), output sha256 ([0-9a-f]{64})$/m.exec(out);
  assert.ok(m, `a run line:\n${out}`);
  const [first, mid, all, steady] = [m[1], m[2], m[3], m[4]].map(Number) as [number, number, number, number];
  assert.ok(first > 0 && first <= mid && mid <= all && steady > 0, out);
  assert.match(out, new RegExp(`^${name} median of 1: first 1,024 [\\d.]+ ms`, 'm'));

  // The same datagrams, exporters and receive times, through a decoder that saw no warm-up,
  // written out as the bench's real decoder is. The stream is the one the bench built and used,
  // even if the exporter lost flows building it.
  const st = await loadStream(name, cache, undefined, true);
  const hash = createHash('sha256');
  const fresh = framesDecoder(128 * 1024, hash);
  const errors = replayFirst(st, fresh, Number(m[7]));
  fresh.flush();
  const flows = fresh.flows();
  assert.ok(flows > minFlows, `${flows} flows`);
  assert.equal(Number(m[5]), flows, 'flows of the warmed-up decoder');
  assert.equal(Number(m[6]), errors, 'datagrams with errors (softflowd miscounts its template datagrams)');
  assert.equal(m[8], hash.digest('hex'), 'the warmed-up decoder wrote the same bytes');
}
