/**
 * bench/soak end to end, shortened: serve publishing to a real nats-server with the templates in
 * its KV bucket, four protocols from exporters that move to new addresses every phase (more
 * scopes than `max_sources`), and nats-server killed and restarted twice with a queue too small
 * to hold an outage's flows. Memory figures are not asserted (they depend on the machine); the
 * accounting is: every datagram sent was read, every flow decoded was acknowledged or dropped
 * with a reason, and what was dropped was the outages' full queue.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { haveNatsServer } from './support/nats.js';
import { makeTempDir } from './support/tools.js';

const BENCH = fileURLToPath(new URL('../bench/soak.js', import.meta.url));
const tmp = makeTempDir('fc-bench-soak-');
after(() => tmp.cleanup());

interface Sample {
  t: number;
  delivered: number;
  dropped: number;
  natsConnected: number;
  sources: number;
}

test('bench/soak: through source churn and two NATS outages every flow is acknowledged or dropped as queue_full', { skip: haveNatsServer ? false : 'nats-server is not installed', timeout: 180_000 }, async () => {
  const json = join(tmp.dir, 'soak.json');
  const args = ['--minutes', '0.6', '--rate', '2000', '--exporters', '20', '--phase', '8', '--max-sources', '100'];
  args.push('--outage-every', '12', '--outage', '4', '--queue-bytes', '262144', '--sample', '1', '--json', json);
  const out = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [BENCH, ...args], { encoding: 'utf8', timeout: 170_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stdout}\n${stderr}`)) : resolve(stdout))),
  );
  const r = JSON.parse(readFileSync(json, 'utf8')) as { samples: Sample[]; summary: Record<string, any> };
  const s = r.summary;
  assert.ok(s['sentDatagrams'] > 50_000, out);
  assert.equal(s['received'] + s['kernelDrops'], s['sentDatagrams'], `every datagram sent was read or counted as a kernel drop\n${out}`);
  assert.ok(s['decoded'] > s['sentDatagrams'], out);
  assert.equal(s['unaccounted'], 0, `decoded = delivered + dropped\n${out}`);
  assert.ok(s['dropped'] > 0, `the outages filled the queue\n${out}`);
  assert.equal(s['reasons']['flows_dropped_total{queue_full}'], s['dropped'], `every drop counted as queue_full\n${out}`);
  assert.ok(s['reasons']['scopes_total{evicted}'] > 0, `the churn evicted scopes\n${out}`);
  assert.equal(s['exitCode'], 0, out);
  // Both outages seen, and flows acknowledged again after each.
  // Two spells without a connection (counted from the samples, not by when the clock says they
  // should have come: a slow machine shifts them).
  const down = r.samples.filter((x) => x.natsConnected === 0).map((x) => x.t);
  const spells = r.samples.filter((x, i) => x.natsConnected === 0 && (i === 0 || r.samples[i - 1]!.natsConnected > 0)).length;
  assert.equal(spells, 2, `samples with no connection: ${down.join(', ')}\n${out}`);
  const last = r.samples[r.samples.length - 1]!;
  const lastDown = r.samples.filter((x) => x.natsConnected === 0).at(-1)!;
  assert.ok(last.delivered > lastDown.delivered, `delivered after the last outage\n${out}`);
  assert.ok(r.samples.every((x) => x.sources <= 100), 'sources bounded by max_sources');
  assert.match(out, /^RSS: first sample [\d.]+ MiB, max [\d.]+, last [\d.]+; second half [+-][\d.]+ MiB\/min/m);
});
