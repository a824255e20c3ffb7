/**
 * `flow-collector blast` run as a child process against real receivers:
 *
 * 1. A plain UDP socket on loopback (captureUdp): for every synthetic protocol, exactly --count
 *    datagrams arrive, from --exporters distinct source addresses; sequence numbers are
 *    continuous per exporter and domain as each protocol defines them (v5 flows, v9 packets,
 *    IPFIX data records, sFlow datagrams); every datagram decodes cleanly with the project's
 *    FlowDecoder (flows = what blast reports, sampling rate from the header, the sampler table
 *    or the samples) and with tshark (no malformed datagram, the same record counts).
 * 2. `serve` (real collector, file output): its metrics and output account for every datagram
 *    and flow blast reports; the flows come from many exporters and carry the sampling rate.
 * 3. Replay of a pcap with two original exporters, cycled past its end from four addresses:
 *    sequence numbers continue across the loop; a .dat of concatenated v5 exports is split.
 * 4. Template refresh (--template-every), the dgram fallback, the rate (generous bounds only),
 *    bad arguments (exit 2 naming the flag), an unrecoverable send error (exit 1).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writePcap, udpFrame } from '../src/capture/mod.js';
import { ExporterTable, FlowDecoder } from '../src/decode/mod.js';
import type { BlastResult } from '../src/blast/mod.js';
import { makeFlow, Rng } from '../src/synth/mod.js';
import { metric, runCli, scrape, startServe, until, type ServeProcess } from './support/serve.js';
import { captureUdp, makeTempDir, type CapturedDatagram } from './support/tools.js';
import { decodeCflowWithTshark, decodeSflowWithTshark, tsharkSkipReason } from './support/tshark.js';

const tmp = makeTempDir('fc-blast-');
after(() => tmp.cleanup());

/** What `blast --json` prints: the target, the rate asked for and the run's BlastResult. */
type BlastJson = BlastResult & { target: string; rate: number | 'max' };

async function blast(args: string[], env: NodeJS.ProcessEnv = {}): Promise<BlastJson> {
  const r = await runCli(['blast', '--json', ...args], env, 60_000);
  assert.equal(r.code, 0, `blast ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as BlastJson;
}

/** Blasts at a plain capture socket and returns what arrived (all of it, in order). */
async function blastToCapture(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ res: BlastJson; got: CapturedDatagram[] }> {
  // 4 MiB (rmem_max here): room for every datagram of a test even if this process stalls.
  const cap = await captureUdp({ recvBufferSize: 4 << 20 });
  const res = await blast(['--target', `127.0.0.1:${cap.port}`, ...args], env);
  const got = await cap.finish();
  return { res, got };
}

interface Check {
  /** Data records per datagram (flows + options data), by the project's decoder. */
  records: number[];
  flows: number;
  rates: Map<number, number>;
  errors: Map<string, number>;
}

/** Decodes every datagram with one FlowDecoder per exporter address. */
function decodeAll(got: CapturedDatagram[]): Check {
  const rates = new Map<number, number>();
  const errors = new Map<string, number>();
  let flows = 0;
  const decoders = new Map<string, FlowDecoder>();
  const exporters = new ExporterTable();
  const records: number[] = [];
  for (const d of got) {
    let dec = decoders.get(d.address);
    if (dec === undefined) {
      dec = new FlowDecoder({
        sink: {
          onFlow: (r) => {
            flows++;
            rates.set(r.samplingRate, (rates.get(r.samplingRate) ?? 0) + 1);
          },
        },
      });
      decoders.set(d.address, dec);
    }
    const f0 = flows;
    const o0 = (dec.counters.snapshot() as Record<string, number>)['options.records'] ?? 0;
    const err = dec.decode(d.data, 0, d.data.length, exporters.get(d.address, d.port), Math.floor(Date.now() / 1000), 0);
    if (err !== undefined) errors.set(err, (errors.get(err) ?? 0) + 1);
    records.push(flows - f0 + (((dec.counters.snapshot() as Record<string, number>)['options.records'] ?? 0) - o0));
  }
  return { records, flows, rates, errors };
}

/**
 * Checks sequence numbers per exporter and domain: the first is 0 and each next one is the
 * previous plus the protocol's step. Returns the number of (exporter, domain) sequences.
 */
function checkSequences(got: CapturedDatagram[], records: number[]): number {
  const next = new Map<string, number>();
  got.forEach((g, i) => {
    const d = g.data;
    let key: string;
    let seq: number;
    let step: number;
    const v = d.readUInt16BE(0);
    if (v === 5) {
      key = `${g.address} e${d[20]}/${d[21]}`;
      seq = d.readUInt32BE(16);
      step = d.readUInt16BE(2);
    } else if (v === 9) {
      key = `${g.address} s${d.readUInt32BE(16)}`;
      seq = d.readUInt32BE(12);
      step = 1;
    } else if (v === 10) {
      key = `${g.address} d${d.readUInt32BE(12)}`;
      seq = d.readUInt32BE(8);
      step = records[i]!;
    } else {
      assert.equal(d.readUInt32BE(0), 5, 'sFlow version');
      key = `${g.address} a${d.readUInt32BE(12)}`;
      seq = d.readUInt32BE(16);
      step = 1;
    }
    const want = next.get(key) ?? 0;
    assert.equal(seq, want, `datagram ${i} (${key}): sequence ${seq}, expected ${want}`);
    next.set(key, (seq + step) >>> 0);
  });
  return next.size;
}

describe('blast: synthetic protocols to a plain UDP socket', () => {
  const EXPORTERS = 6;
  const DOMAINS = 2;
  const COUNT = 400;
  for (const protocol of ['v5', 'v9', 'ipfix', 'sflow'] as const) {
    test(`${protocol}: exact counts, many sources, continuous sequences, clean decode by the project and by tshark`, { timeout: 180_000 }, async (t) => {
      const { res, got } = await blastToCapture([
        '--synth', protocol, '--exporters', String(EXPORTERS), '--domains', String(DOMAINS),
        '--count', String(COUNT), '--rate', '2000', '--sampling-rate', '64', '--preamble-wait', '50',
      ]);
      assert.equal(res.datagrams, COUNT);
      assert.equal(got.length, COUNT, 'every datagram arrived');
      assert.equal(res.bytes, got.reduce((s, d) => s + d.data.length, 0));
      const sources = new Set(got.map((d) => d.address));
      assert.equal(sources.size, EXPORTERS, `source addresses: ${[...sources].join(' ')}`);
      for (const s of sources) assert.match(s, /^127\.0\.\d+\.\d+$/);
      assert.deepEqual(
        res.exporters.map((e) => e.address).sort(),
        [...sources].sort(),
      );
      // Templates first: the first datagram of every exporter carries templates (v9/IPFIX).
      const template = protocol === 'v9' || protocol === 'ipfix';
      assert.equal(res.templateDatagrams, template ? EXPORTERS * DOMAINS : 0);

      const c = decodeAll(got);
      assert.deepEqual([...c.errors], [], 'no decode errors');
      assert.equal(c.flows, res.flows, 'flows decoded = flows blast reports');
      assert.ok(c.flows > COUNT, `${c.flows} flows`);
      assert.deepEqual([...c.rates], [[64, c.flows]], 'every flow carries the sampling rate');
      const seqs = checkSequences(got, c.records);
      assert.equal(seqs, EXPORTERS * DOMAINS, 'one sequence per exporter and domain');

      const skip = tsharkSkipReason();
      if (skip) return t.skip(skip);
      const payloads = got.map((d) => d.data);
      if (protocol === 'sflow') {
        const ts = await decodeSflowWithTshark(payloads);
        assert.equal(ts.length, COUNT);
        assert.deepEqual(ts.filter((d) => d.malformed).map((d) => d.frame), [], 'tshark: no malformed datagram');
        const samples = ts.flatMap((d) => d.samples.filter((s) => s.kind === 'flow'));
        assert.equal(samples.length, c.flows, 'tshark: flow samples = flows');
        const withIp = samples.filter((s) => s.records.some((r) => r.fields.has('ip.src') || r.fields.has('ipv6.src')));
        assert.equal(withIp.length, samples.length, 'tshark dissects every sampled header down to IP');
        assert.ok(ts.some((d) => d.samples.some((s) => s.kind === 'counters')), 'counters samples present');
      } else {
        const ts = await decodeCflowWithTshark(payloads);
        assert.equal(ts.length, COUNT);
        assert.deepEqual(ts.filter((d) => d.malformed).map((d) => d.frame), [], 'tshark: no malformed datagram');
        const tsRecords = ts.map((d) => d.records.length);
        assert.deepEqual(tsRecords, c.records, 'tshark: the same records per datagram as the project decoder');
        if (template) {
          const tpl = ts.flatMap((d) => d.templates);
          assert.equal(tpl.filter((x) => !x.options).length, 2 * EXPORTERS * DOMAINS);
          const fields = tpl.filter((x) => !x.options).map((x) => x.fields.length);
          assert.ok(fields.every((n) => n >= 20 && n <= 30), `template field counts ${fields}`);
          assert.ok(tpl.some((x) => x.options), 'an options template');
          // 64-bit counters in every data template; a variable-length field in IPFIX.
          for (const x of tpl.filter((y) => !y.options)) {
            assert.equal(x.fields.find((f) => f.type === 1)?.length, 8, 'octets are 64-bit');
            if (protocol === 'ipfix') assert.ok(x.fields.some((f) => f.length === 65535), 'a variable-length field');
          }
        }
      }
    });
  }
});

describe('blast: against serve', () => {
  let s: ServeProcess | undefined;
  after(async () => {
    await s?.stop('SIGKILL');
  });
  for (const protocol of ['ipfix', 'sflow'] as const) {
    test(`${protocol}: serve receives and decodes everything blast sends`, { timeout: 120_000 }, async () => {
      const out = join(tmp.dir, `serve-${protocol}.ndjson`);
      s = await startServe(['--listen', '127.0.0.1:0', '--output', `file:${out}`, '--workers', '1', '--metrics-addr', '127.0.0.1:0']);
      const port = s.listeners[0]!.port;
      const res = await blast(['--target', `127.0.0.1:${port}`, '--synth', protocol, '--exporters', '12', '--count', '1500', '--rate', '3000', '--sampling-rate', '512']);
      assert.equal(res.datagrams, 1500);
      await until(async () => metric(await scrape(s!.metricsUrl), 'flow_collector_flows_delivered_total') >= res.flows, 'serve delivered every flow', 30_000);
      const m = await scrape(s.metricsUrl);
      assert.equal(metric(m, 'flow_collector_datagrams_received_total'), res.datagrams);
      assert.equal(metric(m, 'flow_collector_received_bytes_total'), res.bytes);
      assert.equal(metric(m, 'flow_collector_flows_decoded_total'), res.flows);
      assert.equal(metric(m, 'flow_collector_decode_errors_total'), 0);
      assert.equal(metric(m, 'flow_collector_kernel_drops_total'), 0);
      await s.stop('SIGTERM');
      s = undefined;
      const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      const flows = lines.filter((l) => l['record_type'] !== 'interface_counters');
      assert.equal(flows.length, res.flows);
      const exporters = new Set(flows.map((l) => l['sampler_address']));
      assert.equal(exporters.size, 12, `exporters seen: ${[...exporters].join(' ')}`);
      assert.ok(flows.every((l) => l['sampling_rate'] === 512), 'sampling rate applied to every flow');
    });
  }
});

describe('blast: replay', () => {
  test('a pcap of two exporters replayed from four addresses, past its end: sequences continue', { timeout: 120_000 }, async () => {
    // The capture: blast's own v9 output from two exporters, wrapped in a pcap with their addresses.
    const { got } = await blastToCapture(['--synth', 'v9', '--exporters', '2', '--domains', '1', '--count', '40', '--preamble-wait', '0']);
    const frames = got.map((d) => udpFrame({ srcAddr: d.address === got[0]!.address ? '192.0.2.1' : '192.0.2.2', dstAddr: '192.0.2.100', srcPort: 5000, dstPort: 2055, payload: d.data }));
    const pcap = join(tmp.dir, 'two.pcap');
    writeFileSync(pcap, writePcap(frames));
    const fileFlows = decodeAll(got).flows;
    const { res, got: replayed } = await blastToCapture(['--exporters', '4', '--count', '200', '--rate', '2000', pcap]);
    assert.equal(replayed.length, 200);
    assert.equal(new Set(replayed.map((d) => d.address)).size, 4);
    const c = decodeAll(replayed);
    assert.deepEqual([...c.errors], []);
    assert.equal(c.flows, res.flows);
    assert.ok(res.flows > fileFlows, 'the replay went past the end of the capture');
    assert.equal(checkSequences(replayed, c.records), 4);
  });

  test('a .dat file of concatenated v5 exports is split and replayed', { timeout: 60_000 }, async () => {
    const { got } = await blastToCapture(['--synth', 'v5', '--exporters', '1', '--domains', '1', '--count', '3']);
    const dat = join(tmp.dir, 'three.dat');
    writeFileSync(dat, Buffer.concat(got.map((d) => d.data)));
    const { res, got: replayed } = await blastToCapture(['--count', '7', dat]);
    assert.equal(replayed.length, 7);
    assert.equal(res.flows, 7 * 30);
    assert.equal(checkSequences(replayed, decodeAll(replayed).records), 1);
  });
});

describe('blast: options', () => {
  test('--template-every repeats the templates; the receiver counts them', { timeout: 60_000 }, async () => {
    const { res, got } = await blastToCapture(['--synth', 'ipfix', '--exporters', '2', '--domains', '2', '--count', '300', '--rate', '3000', '--template-every', '20']);
    const withTemplates = got.filter((d) => d.data.readUInt16BE(16) === 2).length;
    assert.equal(withTemplates, res.templateDatagrams);
    assert.ok(res.templateDatagrams >= 4 * 5, `${res.templateDatagrams} template datagrams`);
    const c = decodeAll(got);
    assert.deepEqual([...c.errors], []);
    checkSequences(got, c.records);
  });

  test('the dgram fallback sends the same', { timeout: 60_000 }, async () => {
    const { res, got } = await blastToCapture(['--synth', 'v9', '--exporters', '3', '--count', '300', '--rate', '2000'], { FLOW_COLLECTOR_INGEST: 'dgram' });
    assert.equal(res.path, 'dgram');
    assert.equal(got.length, 300);
    const c = decodeAll(got);
    assert.deepEqual([...c.errors], []);
    assert.equal(c.flows, res.flows);
    checkSequences(got, c.records);
  });

  test('the rate is roughly honoured (generous bounds)', { timeout: 60_000 }, async () => {
    const { res, got } = await blastToCapture(['--synth', 'v5', '--exporters', '2', '--rate', '1000', '--duration', '2']);
    assert.ok(got.length > 0);
    assert.ok(res.datagrams >= 1000 && res.datagrams <= 2100, `${res.datagrams} datagrams in 2 s at 1000/s`);
    assert.ok(res.achievedRate >= 500 && res.achievedRate <= 1500, `achieved ${res.achievedRate}/s`);
  });

  test('bad arguments exit 2 with a message naming the flag', async () => {
    const cases: [string[], RegExp][] = [
      [['--synth', 'v9'], /--target: required/],
      [['--target', 'localhost', '--synth', 'v9'], /--target: "localhost" is not ADDR:PORT/],
      [['--target', '127.0.0.1:70000', '--synth', 'v9'], /--target: port 70000/],
      [['--target', '127.0.0.1:2055', '--synth', 'v8'], /--synth: unknown protocol "v8"/],
      [['--target', '127.0.0.1:2055', '--synth', 'v9', '--rate', 'fast'], /--rate: "fast"/],
      [['--target', '127.0.0.1:2055', '--synth', 'v9', '--exporters', '0'], /--exporters: "0"/],
      [['--target', '127.0.0.1:2055', '--synth', 'v9', '--count', '5', '--duration', '1'], /--count: cannot be combined with --duration/],
      [['--target', '127.0.0.1:2055'], /--synth: give --synth/],
      [['--target', '127.0.0.1:2055', '--synth', 'v9', '--frobnicate'], /--frobnicate: unknown option/],
      [['--target', '127.0.0.1:2055', '--synth', 'v9', '--source', 'here'], /--source: "here" is not an IP address/],
    ];
    for (const [args, re] of cases) {
      const r = await runCli(['blast', ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}`);
      assert.match(r.stderr, re, args.join(' '));
    }
  });

  test('an unrecoverable send error exits 1 naming the addresses', async () => {
    // Broadcast without SO_BROADCAST: sendmmsg fails with EACCES on every try.
    const r = await runCli(['blast', '--target', '255.255.255.255:2055', '--synth', 'v5', '--count', '10']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /255\.255\.255\.255:2055 failed: .*EACCES/);
    const b = await runCli(['blast', '--target', '127.0.0.1:2055', '--synth', 'v5', '--count', '10', '--source', '192.0.2.55']);
    assert.equal(b.code, 1);
    assert.match(b.stderr, /cannot bind an exporter socket to 192\.0\.2\.55/);
  });
});

test('synthetic ICMP flows: protocol 1 with echo request type 8 over IPv4, ICMPv6 (58) with type 128 over IPv6', () => {
  const rng = new Rng(7);
  const seen = { 4: 0, 6: 0 };
  for (let k = 0; k < 2000; k++) {
    for (const v6 of [false, true]) {
      const f = makeFlow(rng, 1, k, v6);
      if (f.proto !== 1 && f.proto !== 58) continue;
      assert.equal(f.proto, v6 ? 58 : 1);
      assert.equal(f.dstPort >> 8, v6 ? 128 : 8);
      assert.equal(f.srcPort, 0);
      seen[v6 ? 6 : 4]++;
    }
  }
  assert.ok(seen[4] > 0 && seen[6] > 0, `ICMP flows made: ${JSON.stringify(seen)}`);
});
