/**
 * Smoke test of the public benchmark (bench/compare.ts), so it cannot rot: one short cell (serve
 * to a file, the softflowd v9 stream, 20k datagrams/s for 2 s) through the whole harness, and
 * its outputs (the rotated output's pieces adding up to serve's own count): the JSON results, the Markdown table, the SVG plot (and the PNG when
 * @resvg/resvg-js is installed). No figure is asserted beyond what every run must satisfy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAddon } from '../src/ingest/mod.js';
import { makeTempDir, runCommand, skipUnlessCommands } from './support/tools.js';

const COMPARE = fileURLToPath(new URL('../bench/compare.js', import.meta.url));
const skip = skipUnlessCommands('taskset', 'softflowd', 'ss') || (loadAddon().addon ? false : 'the native addon is not built');

test('bench:compare runs one cell end to end and writes JSON, Markdown and the plot', { skip, timeout: 300_000 }, async () => {
  const tmp = makeTempDir('fc-compare-');
  try {
    const r = await runCommand(process.execPath, [COMPARE, '--streams', 'v9', '--collectors', 'serve-file', '--rates', '20000', '--duration', '2', '--settle', '1', '--out', tmp.dir, '--quiet'], { timeoutMs: 280_000 });
    assert.equal(r.code, 0, r.stderr.toString());
    const res = JSON.parse(readFileSync(join(tmp.dir, 'compare.json'), 'utf8')) as { cells: Record<string, any>[]; machine: { cores: number }; streams: { name: string; flows: number }[] };
    assert.equal(res.cells.length, 1);
    const c = res.cells[0]!;
    assert.equal(c['stream'], 'v9');
    assert.equal(c['collector'], 'serve-file');
    assert.equal(c['rate'], 20000);
    assert.ok(c['sentDatagrams'] > 0 && c['sentFlows'] > c['sentDatagrams'], `sent ${c['sentDatagrams']} datagrams, ${c['sentFlows']} flows`);
    assert.ok(c['decodedFlows'] > 0 && c['decodedFlows'] <= c['sentFlows'], `decoded ${c['decodedFlows']} of ${c['sentFlows']}`);
    assert.ok(c['cpuSeconds'] > 0 && Number.isFinite(c['cpuUsPerFlow']), 'CPU measured');
    assert.ok(c['memMaxMiB'] > 10, `memory ${c['memMaxMiB']} MiB`);
    assert.ok(Number.isInteger(c['kernelDrops']) && c['kernelDrops'] >= 0);
    // The output is rotated while the load runs (--sink rotate): the pieces counted and deleted
    // must add up to what serve says it delivered, and none may end in a truncated record.
    assert.deepEqual(c['notes'], [], `notes: ${JSON.stringify(c['notes'])}`);
    assert.ok(c['countCpuSeconds'] > 0, 'the harness counted rotated pieces');
    assert.equal(res.streams[0]!.flows, 30_000, 'the softflowd stream holds every flow of the generated pcap');
    const md = readFileSync(join(tmp.dir, 'compare.md'), 'utf8');
    assert.match(md, /^\| stream \| offered dg\/s \| collector/);
    assert.match(md, /\| v9 \| 20,000 \| serve-file \|/);
    const svg = readFileSync(join(tmp.dir, 'compare.svg'), 'utf8');
    assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /<polyline|<circle/);
    if (existsSync(join(tmp.dir, 'compare.png'))) {
      const png = readFileSync(join(tmp.dir, 'compare.png'));
      assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG');
    }
  } finally {
    tmp.cleanup();
  }
});
