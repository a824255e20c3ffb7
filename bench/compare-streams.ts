// Export streams of the public benchmark (bench/compare.ts), each a pcap that
// `flow-collector blast` replays. All come from real exporters reading the
// same generated pcap of 30,000 distinct flows (bench/serve-streams.ts):
//
//   v9               softflowd -v 9               (serve-streams' v9 stream)
//   softflowd-ipfix  softflowd -v 10
//   ipfix            pmacctd nfprobe, version 10  (serve-streams' ipfix stream)
//   sflow            pmacctd sfprobe, rate 1      (one flow sample per packet)
//
// Streams are cached under bench/.cache/ as pcaps with a JSON description:
// the exporter's version, datagrams, and the flows the project's FlowDecoder
// finds in them (a check that the capture is whole, not the benchmark's count:
// blast counts what it sends).

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { wrapPayloadsAsPcap } from '../src/capture/mod.js';
import { Exporter, FlowDecoder } from '../src/decode/mod.js';
import { capture, defaultCacheDir, FLOWS, loadStream, writeTrafficPcap } from './serve-streams.js';

export type CompareStream = 'v9' | 'softflowd-ipfix' | 'ipfix' | 'sflow';
export const COMPARE_STREAMS: readonly CompareStream[] = ['v9', 'softflowd-ipfix', 'ipfix', 'sflow'];

export interface CompareStreamInfo {
  name: CompareStream;
  protocol: 'netflow_v9' | 'ipfix' | 'sflow';
  exporter: string;
  datagrams: number;
  bytes: number;
  /** Flows the FlowDecoder finds in one pass over the stream. */
  flows: number;
  /** Problems found while checking the capture (empty when clean). */
  problems: string[];
  pcap: string;
}

/** Bump when the capture or its description changes. */
const VERSION = 1;

function version(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  const m = /(softflowd|pmacctd)\D*(\d+\.\d+(?:\.\d+)?(?:-\w+)?)/.exec(`${r.stdout ?? ''}${r.stderr ?? ''}`);
  return m ? `${m[1]} ${m[2]}` : `${cmd} (version unknown)`;
}

function describe(name: CompareStream, exporter: string, datagrams: Buffer[], pcap: string): CompareStreamInfo {
  let flows = 0;
  const dec = new FlowDecoder({ sink: { onFlow: () => void flows++ } });
  const ex = new Exporter('192.0.2.1', 9995);
  const errors = new Map<string, number>();
  for (const d of datagrams) {
    const err = dec.decode(d, 0, d.length, ex, 1_700_000_100, 0);
    if (err !== undefined) errors.set(err, (errors.get(err) ?? 0) + 1);
  }
  const problems: string[] = [];
  for (const [reason, n] of errors) {
    // softflowd's v9 header count leaves out its template records (see serve-streams.ts).
    if (reason.endsWith('count_mismatch') && name !== 'sflow') continue;
    problems.push(`${n} datagrams decoded with ${reason}`);
  }
  // Every pcap flow once (NetFlow/IPFIX); one sample per packet (sFlow, rate 1).
  if (name !== 'sflow' && flows !== FLOWS) problems.push(`${flows} flows decoded, the pcap has ${FLOWS}`);
  const protocol = name === 'v9' ? 'netflow_v9' : name === 'sflow' ? 'sflow' : 'ipfix';
  return { name, protocol, exporter, datagrams: datagrams.length, bytes: datagrams.reduce((s, d) => s + d.length, 0), flows, problems, pcap };
}

function pmacctConf(dir: string, lines: string[]): string[] {
  const conf = join(dir, 'pmacctd.conf');
  writeFileSync(conf, ['daemonize: false', ...lines].join('\n') + '\n');
  return ['-f', conf];
}

/** The stream's pcap and description, building and caching it when missing. */
export async function loadCompareStream(name: CompareStream, cacheDir = defaultCacheDir(), log: (m: string) => void = () => {}): Promise<CompareStreamInfo> {
  const exporter = name === 'v9' || name === 'softflowd-ipfix' ? version('softflowd', ['-h']) : version('pmacctd', ['-V']);
  const key = createHash('sha256').update(JSON.stringify({ VERSION, FLOWS, name, exporter })).digest('hex').slice(0, 16);
  const base = join(cacheDir, `compare-${name}-${key}`);
  if (existsSync(`${base}.json`) && existsSync(`${base}.pcap`)) return JSON.parse(readFileSync(`${base}.json`, 'utf8')) as CompareStreamInfo;
  mkdirSync(cacheDir, { recursive: true });
  let datagrams: Buffer[];
  if (name === 'v9' || name === 'ipfix') {
    const s = await loadStream(name, cacheDir, log);
    datagrams = Array.from({ length: s.meta.datagrams }, (_, i) => s.data.subarray(s.offsets[i]!, s.offsets[i]! + s.lengths[i]!));
  } else {
    log(`building the ${name} stream (${exporter})...`);
    const dir = mkdtempSync(join(tmpdir(), 'compare-stream-'));
    try {
      const pcap = join(dir, 'traffic.pcap');
      writeTrafficPcap(pcap);
      const cap =
        name === 'softflowd-ipfix'
          ? await capture('softflowd', (port) => ['-d', '-r', pcap, '-n', `127.0.0.1:${port}`, '-v', '10', '-m', String(FLOWS * 2), '-p', join(dir, 'softflowd.pid'), '-c', 'none'], 120_000)
          : await capture(
              'pmacctd',
              (port) =>
                pmacctConf(dir, [
                  `pcap_savefile: ${pcap}`,
                  'plugins: sfprobe',
                  'sampling_rate: 1',
                  'sfprobe_agentip: 192.0.2.1',
                  'plugin_pipe_size: 268435456',
                  'plugin_buffer_size: 65536',
                  `sfprobe_receiver: 127.0.0.1:${port}`,
                ]),
              180_000,
            );
      if (cap.kernelDrops !== 0) throw new Error(`${cap.kernelDrops} kernel drops while capturing the ${name} stream`);
      datagrams = cap.datagrams;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  if (datagrams.length === 0) throw new Error(`no datagrams in the ${name} stream`);
  const port = name === 'sflow' ? 6343 : 2055;
  writeFileSync(`${base}.pcap`, wrapPayloadsAsPcap(datagrams, { srcAddr: '192.0.2.1', dstAddr: '192.0.2.100', srcPort: 9995, dstPort: port }));
  const info = describe(name, exporter, datagrams, `${base}.pcap`);
  writeFileSync(`${base}.json`, JSON.stringify(info, null, 1));
  return info;
}
