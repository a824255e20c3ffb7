// Export streams for the serve benchmark (bench/serve.ts): real exporters
// turn a generated pcap of many distinct flows into export datagrams, which
// are captured on a loopback socket and kept (templates included) as the
// replay stream.
//
//   v9     softflowd -v 9 (NetFlow v9)
//   ipfix  pmacctd with the nfprobe plugin, nfprobe_version 10 (IPFIX)
//
// Streams are cached under bench/.cache/ (git-ignored), keyed by the
// generator version, the traffic parameters and the exporter's version.
// Every captured datagram is decoded with the project's FlowDecoder: flows
// per datagram are what the benchmark counts as "flows sent"; data records
// per datagram (flows + options records) drive the IPFIX sequence numbers.
// The capture is checked: no kernel drops on the capture socket, sequence
// numbers without gaps, every flow of the pcap exported exactly once.

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { icmpFrame, tcpFrame, udpFrame, writePcap, type PcapFrame } from '../src/capture/mod.js';
import { Exporter, FlowDecoder, type FlowRecord } from '../src/decode/mod.js';
import { BatchSender, openSource, type Batch } from '../src/ingest/mod.js';
import { hasTemplates as hasTemplateSet } from '../src/blast/mod.js';

export type StreamName = 'v9' | 'ipfix';
export const STREAM_NAMES: readonly StreamName[] = ['v9', 'ipfix'];

/** Bump when the traffic, the capture or the stored format changes. */
const GEN_VERSION = 2;
/** Builds of a stream before one with problems (lost flows, gaps) is kept. */
const BUILD_ATTEMPTS = 3;
/** Distinct flows in the generated pcap. */
export const FLOWS = 30_000;
const T0 = 1_700_000_000;

export interface StreamMeta {
  name: StreamName;
  /** NetFlow version in the headers: 9 or 10. */
  version: 9 | 10;
  /** The exporter and its version string. */
  exporter: string;
  /** Distinct flows in the pcap the exporter read. */
  pcapFlows: number;
  datagrams: number;
  bytes: number;
  /** Flows the FlowDecoder produced from datagram i. */
  flows: number[];
  /** Data records (flows + options data records) in datagram i: the IPFIX sequence step. */
  records: number[];
  /** Datagram i carries a (options) template set. */
  hasTemplates: boolean[];
  totalFlows: number;
  flowsPerDatagram: number;
  /** Distinct flow keys decoded (= pcapFlows when the export is complete). */
  distinctKeys: number;
  /** Decoder counters over the whole stream. */
  counters: Record<string, number>;
  /** Problems found while checking the capture (empty when clean). */
  problems: string[];
  cacheKey: string;
}

export interface Stream {
  meta: StreamMeta;
  /** The datagrams, back to back. */
  data: Buffer;
  offsets: Uint32Array;
  lengths: Uint32Array;
}

// ---------------------------------------------------------------------------------------------
// Traffic

const DST_PORTS = [80, 443, 53, 123, 22, 25, 8080, 3306, 5432, 993];

/**
 * FLOWS IPv4 flows with distinct 5-tuples, 1-3 packets each, started 2 ms apart (60 s of pcap
 * time): 6 in 10 TCP (SYN, ACK+data, FIN), 3 in 10 UDP, 1 in 10 ICMP echo.
 */
function traffic(): PcapFrame[] {
  const timed: { t: number; frame: Buffer }[] = [];
  for (let i = 0; i < FLOWS; i++) {
    const src = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    const j = (i * 7919) % 65_521;
    const dst = `172.16.${(j >> 8) & 255}.${j & 255}`;
    const sport = 1024 + ((i * 13) % 60_000);
    const dport = DST_PORTS[i % DST_PORTS.length]!;
    const packets = 1 + (i % 3);
    const startUs = i * 2000;
    const kind = i % 10;
    for (let p = 0; p < packets; p++) {
      const t = startUs + p * 10_000;
      const size = 40 + ((i * 31 + p * 97) % 1200);
      const payload = new Uint8Array(size).fill(i & 255);
      const base = { srcAddr: src, dstAddr: dst, tos: (i % 4) * 8, ipId: p };
      let frame: Buffer;
      if (kind < 6) {
        const flags = p === 0 ? 'S' : p === packets - 1 ? 'FA' : 'PA';
        frame = tcpFrame({ ...base, srcPort: sport, dstPort: dport, flags, seq: 1000 + p, payload: p === 0 ? undefined : payload });
      } else if (kind < 9) {
        frame = udpFrame({ ...base, srcPort: sport, dstPort: dport, payload });
      } else {
        frame = icmpFrame({ ...base, type: 8, code: 0, id: i & 0xffff, seq: p, payload: payload.subarray(0, 56) });
      }
      timed.push({ t, frame });
    }
  }
  timed.sort((a, b) => a.t - b.t);
  return timed.map(({ t, frame }) => ({ data: frame, tsSec: T0 + Math.floor(t / 1e6), tsFrac: t % 1e6 }));
}

/** Writes the generated traffic (FLOWS flows) as a pcap, for other exporters (bench/compare-streams.ts). */
export function writeTrafficPcap(path: string): void {
  writeFileSync(path, writePcap(traffic()));
}

// ---------------------------------------------------------------------------------------------
// Capture

export interface Captured {
  datagrams: Buffer[];
  kernelDrops: number;
  log: string;
}

function toolVersion(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (b: Buffer) => (out += b.toString()));
    c.stderr.on('data', (b: Buffer) => (out += b.toString()));
    c.on('error', () => resolve(`${cmd}: not found`));
    c.on('close', () => {
      const m = /(softflowd|pmacctd)\D*(\d+\.\d+(?:\.\d+)?(?:-\w+)?)/.exec(out);
      resolve(m ? `${m[1]} ${m[2]}` : `${cmd} (version unknown)`);
    });
  });
}

/**
 * Runs `cmd args(port)` in its own process group until it exits, capturing every datagram sent
 * to a loopback socket with a 64 MiB receive buffer; a sentinel datagram sent after the exit
 * marks the end of the queue.
 */
export async function capture(cmd: string, args: (port: number) => string[], timeoutMs: number): Promise<Captured> {
  const got: Buffer[] = [];
  const sentinel = randomBytes(16);
  let sentinelSeen: (() => void) | undefined;
  const onBatch = (b: Batch) => {
    for (let i = 0; i < b.count; i++) {
      const len = b.lengths[i]!;
      const d = Buffer.from(b.data.subarray(i * b.slotSize, i * b.slotSize + len));
      if (d.equals(sentinel)) sentinelSeen?.();
      else got.push(d);
    }
  };
  const src = await openSource({ host: '127.0.0.1', port: 0, rcvbuf: 64 << 20, batchSize: 256, slotSize: 65536, onBatch, logger: () => {} });
  let log = '';
  try {
    const child = spawn(cmd, args(src.port), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child.stdout.on('data', (b: Buffer) => (log += b.toString()));
    child.stderr.on('data', (b: Buffer) => (log += b.toString()));
    const pgid = child.pid;
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (pgid !== undefined) process.kill(-pgid, 'SIGKILL');
        reject(new Error(`${cmd} did not exit within ${timeoutMs / 1000} s:\n${log}`));
      }, timeoutMs);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on('close', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    // Plugins (pmacctd) may outlive the parent briefly: wait for the whole group.
    if (pgid !== undefined) {
      for (let i = 0; i < 100; i++) {
        try {
          process.kill(-pgid, 0);
        } catch {
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    if (code !== 0) throw new Error(`${cmd} exited ${code}:\n${log}`);
    const seen = new Promise<void>((resolve) => (sentinelSeen = resolve));
    const tx = new BatchSender({ destinations: [{ host: '127.0.0.1', port: src.port }] });
    tx.send(sentinel, Uint32Array.of(0), Uint32Array.of(sentinel.length), 1);
    tx.close();
    await Promise.race([seen, new Promise((_, rej) => setTimeout(() => rej(new Error('capture sentinel lost')), 5000))]);
    return { datagrams: got, kernelDrops: src.stats().kernelDrops ?? 0, log };
  } finally {
    await src.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Analysis


function analyse(name: StreamName, version: 9 | 10, exporter: string, datagrams: Buffer[], kernelDrops: number, cacheKey: string): StreamMeta {
  const problems: string[] = [];
  if (kernelDrops !== 0) problems.push(`${kernelDrops} kernel drops on the capture socket`);
  let current = 0;
  const keys = new Set<string>();
  const dec = new FlowDecoder({
    sink: {
      onFlow: (r: FlowRecord) => {
        current++;
        keys.add(`${r.proto} ${Buffer.from(r.srcAddr.subarray(0, r.srcAddrLen)).toString('hex')}:${r.srcPort} ${Buffer.from(r.dstAddr.subarray(0, r.dstAddrLen)).toString('hex')}:${r.dstPort}`);
      },
    },
  });
  const ex = new Exporter('127.0.0.1', 9995);
  const flows: number[] = [];
  const records: number[] = [];
  const hasTemplates: boolean[] = [];
  const errors = new Map<string, number>();
  let options = 0;
  datagrams.forEach((d, i) => {
    if (d.readUInt16BE(0) !== version) problems.push(`datagram ${i}: version ${d.readUInt16BE(0)}`);
    current = 0;
    const before = (dec.counters.snapshot() as Record<string, number>)['options.records'] ?? 0;
    const err = dec.decode(d, 0, d.length, ex, T0 + 100, 0);
    if (err !== undefined) errors.set(err, (errors.get(err) ?? 0) + 1);
    const opt = ((dec.counters.snapshot() as Record<string, number>)['options.records'] ?? 0) - before;
    options += opt;
    flows.push(current);
    records.push(current + opt);
    hasTemplates.push(hasTemplateSet(d, version));
  });
  // Sequence numbers as the exporter wrote them: v9 counts packets, IPFIX counts data records.
  for (let i = 1; i < datagrams.length; i++) {
    const a = datagrams[i - 1]!;
    const b = datagrams[i]!;
    if (version === 9) {
      const step = (b.readUInt32BE(12) - a.readUInt32BE(12)) >>> 0;
      if (step !== 1) problems.push(`v9 sequence ${a.readUInt32BE(12)} -> ${b.readUInt32BE(12)} at datagram ${i}`);
    } else {
      const step = (b.readUInt32BE(8) - a.readUInt32BE(8)) >>> 0;
      if (step !== records[i - 1]) problems.push(`IPFIX sequence step ${step} after datagram ${i - 1} of ${records[i - 1]} data records`);
    }
  }
  for (const [reason, n] of errors) {
    // softflowd's v9 header count is the number of flow records only (RFC 3954 says all records,
    // templates included): its template datagrams decode fully but are counted as a mismatch.
    if (reason === 'netflow_v9.count_mismatch' && name === 'v9') continue;
    problems.push(`${n} datagrams decoded with ${reason}`);
  }
  const totalFlows = flows.reduce((s, n) => s + n, 0);
  if (keys.size !== FLOWS) problems.push(`${keys.size} distinct flow keys decoded, the pcap has ${FLOWS}`);
  if (totalFlows !== FLOWS) problems.push(`${totalFlows} flows decoded, the pcap has ${FLOWS} (flows split or lost)`);
  void options;
  return {
    name,
    version,
    exporter,
    pcapFlows: FLOWS,
    datagrams: datagrams.length,
    bytes: datagrams.reduce((s, d) => s + d.length, 0),
    flows,
    records,
    hasTemplates,
    totalFlows,
    flowsPerDatagram: totalFlows / datagrams.length,
    distinctKeys: keys.size,
    counters: dec.counters.snapshot() as Record<string, number>,
    problems,
    cacheKey,
  };
}

// ---------------------------------------------------------------------------------------------
// Exporters

async function softflowdV9(dir: string, pcap: string): Promise<Captured> {
  return capture(
    'softflowd',
    (port) => ['-d', '-r', pcap, '-n', `127.0.0.1:${port}`, '-v', '9', '-m', String(FLOWS * 2), '-p', join(dir, 'softflowd.pid'), '-c', 'none'],
    120_000,
  );
}

async function pmacctIpfix(dir: string, pcap: string): Promise<Captured> {
  return capture(
    'pmacctd',
    (port) => {
      const conf = join(dir, 'pmacctd.conf');
      writeFileSync(
        conf,
        [
          'daemonize: false',
          `pcap_savefile: ${pcap}`,
          'plugins: nfprobe',
          'nfprobe_version: 10',
          `nfprobe_maxflows: ${FLOWS * 2}`,
          // The core must not outrun the plugin while it replays the savefile.
          'plugin_pipe_size: 268435456',
          'plugin_buffer_size: 65536',
          'aggregate: src_host, dst_host, src_port, dst_port, proto, tos',
          `nfprobe_receiver: 127.0.0.1:${port}`,
        ].join('\n') + '\n',
      );
      return ['-f', conf];
    },
    180_000,
  );
}

// ---------------------------------------------------------------------------------------------
// Cache

export function defaultCacheDir(): string {
  return new URL('../../bench/.cache/', import.meta.url).pathname;
}

function writeStream(path: string, datagrams: Buffer[]): void {
  const total = datagrams.reduce((s, d) => s + 4 + d.length, 0);
  const out = Buffer.alloc(total);
  let p = 0;
  for (const d of datagrams) {
    out.writeUInt32BE(d.length, p);
    d.copy(out, p + 4);
    p += 4 + d.length;
  }
  writeFileSync(path, out);
}

function readStream(path: string, meta: StreamMeta): Stream {
  const raw = readFileSync(path);
  const offsets = new Uint32Array(meta.datagrams);
  const lengths = new Uint32Array(meta.datagrams);
  const data = Buffer.alloc(meta.bytes);
  let p = 0;
  let q = 0;
  for (let i = 0; i < meta.datagrams; i++) {
    const len = raw.readUInt32BE(p);
    raw.copy(data, q, p + 4, p + 4 + len);
    offsets[i] = q;
    lengths[i] = len;
    p += 4 + len;
    q += len;
  }
  if (p !== raw.length || q !== meta.bytes) throw new Error(`${path}: does not match its metadata`);
  return { meta, data, offsets, lengths };
}

/**
 * The named stream from the cache, built (and cached) when missing. A cached stream with problems
 * is built again unless `keepProblems` (a caller that must read the very stream another process
 * just built and used).
 */
export async function loadStream(name: StreamName, cacheDir = defaultCacheDir(), log: (m: string) => void = () => {}, keepProblems = false): Promise<Stream> {
  const exporter = name === 'v9' ? await toolVersion('softflowd', ['-h']) : await toolVersion('pmacctd', ['-V']);
  const cacheKey = createHash('sha256').update(JSON.stringify({ GEN_VERSION, FLOWS, T0, name, exporter })).digest('hex').slice(0, 16);
  const base = join(cacheDir, `serve-${name}-${cacheKey}`);
  if (existsSync(`${base}.json`) && existsSync(`${base}.bin`)) {
    const meta = JSON.parse(readFileSync(`${base}.json`, 'utf8')) as StreamMeta;
    // A stream cached with problems is built again (each time: the exporter may do better).
    if (meta.problems.length === 0 || keepProblems) return readStream(`${base}.bin`, meta);
  }
  mkdirSync(cacheDir, { recursive: true });
  // An exporter reading a pcap as fast as it can may lose flows on its way (pmacctd's core
  // process to its nfprobe plugin: 29,751 of 30,000 once): build again, up to BUILD_ATTEMPTS
  // times, and keep a stream with problems only when no attempt was clean.
  let meta: StreamMeta | undefined;
  let datagrams: Buffer[] = [];
  for (let attempt = 1; attempt <= BUILD_ATTEMPTS && (meta === undefined || meta.problems.length > 0); attempt++) {
    if (meta) log(`the ${name} stream had problems (${meta.problems.join('; ')}): building it again (attempt ${attempt})`);
    else log(`building the ${name} stream (${exporter}) from a pcap of ${FLOWS} flows...`);
    const dir = mkdtempSync(join(tmpdir(), 'serve-bench-stream-'));
    try {
      const pcap = join(dir, 'traffic.pcap');
      writeFileSync(pcap, writePcap(traffic()));
      const cap = name === 'v9' ? await softflowdV9(dir, pcap) : await pmacctIpfix(dir, pcap);
      if (cap.datagrams.length === 0) throw new Error(`no datagrams from the ${name} exporter:\n${cap.log}`);
      meta = analyse(name, name === 'v9' ? 9 : 10, exporter, cap.datagrams, cap.kernelDrops, cacheKey);
      datagrams = cap.datagrams;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  writeStream(`${base}.bin`, datagrams);
  writeFileSync(`${base}.json`, JSON.stringify(meta));
  return readStream(`${base}.bin`, meta!);
}
